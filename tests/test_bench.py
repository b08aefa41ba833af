"""The benchmark's pieces: analytic FLOP counts (cross-checked with torch's FlopCounterMode), a tiny
end-to-end run of bench/run.py, its Markdown report and the reproduction-cost projection."""

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import flops  # noqa: E402
import projection  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
from sharpminima.nets.models import build  # noqa: E402


@pytest.mark.parametrize("net", list(flops.PAPER_DATA))
def test_analytic_flops_equal_flop_counter(net):
    d = flops.PAPER_DATA[net]
    c = flops.count(net, d["input_shape"], d["num_classes"])
    model = build(net, d["input_shape"], d["num_classes"])
    x = torch.rand(3, *d["input_shape"])
    y = torch.randint(0, d["num_classes"], (3,))
    with FlopCounterMode(display=False) as fwd, torch.no_grad():
        model(x)
    assert fwd.get_total_flops() == 3 * c.forward
    with FlopCounterMode(display=False) as both:
        F.cross_entropy(model(x), y).backward()
    assert both.get_total_flops() == 3 * c.train  # backward skips the first layer's input grad
    assert c.train < c.train_rule_of_3 and c.backward == c.train - c.forward


def test_flops_follow_the_input_shape():
    small = flops.count("C1", (1, 28, 28), 10)
    big = flops.count("C1", (3, 32, 32), 10)
    assert small.forward < big.forward
    assert flops.human(1.88e9) == "1.88 G"


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "cpu.json"
    run.main(["--device", "cpu", "--nets", "F1", "--quick", "--repeats", "1", "--warmup", "1",
              "--target", "0.005", "--max-step", "0.001", "--seeds", "2", "--threads", "1",
              "--out", str(out)])
    return out


def test_run_writes_every_stage(tiny_results):
    res = json.loads(tiny_results.read_text())
    r = res["nets"]["F1"]
    assert res["device_type"] == "cpu" and res["matmul"]["fp32"]["flop_per_s"] > 0
    assert {"SB", "LB"} <= set(r["train"]) and r["train"]["LB"]["batch_capped"]
    assert r["train"]["LB"]["batch_nominal"] == 6000
    for key in ("naive", "pass", "eval", "sharpness", "speed", "multiseed"):
        assert r[key], key
    assert r["naive"]["SB"]["ratio_ours_over_naive"] > 0
    assert 0 < r["train"]["SB"]["fraction_of_matmul_peak"]
    assert r["sharpness"]["passes"] >= 2 and not r["sharpness"]["measured_on_full_set"]
    assert r["multiseed"]["seeds"] == 2 and "compile" in r["speed"]


def test_report_and_projection(tiny_results):
    res = json.loads(tiny_results.read_text())
    md = report.render(res)
    for title in ("## Training", "## Measurement passes", "## Speed options",
                  "## Several seeds", "Projected cost", res["device"], "CPU-hours"):
        assert title in md, title


def fake_results(tiny_results) -> dict:
    """The tiny F1 measurement copied to every net (the projection's arithmetic, not its inputs,
    is under test)."""
    res = json.loads(tiny_results.read_text())
    f1 = res["nets"]["F1"]
    for net, d in flops.PAPER_DATA.items():
        res["nets"][net] = {**f1, "n_train": d["n_train"], "n_test": d["n_test"]}
    return res


def test_projection_costs_every_gpu_job_of_the_dry_run(tiny_results, tmp_path):
    from workflow_helpers import planned_jobs

    res = fake_results(tiny_results)
    config = ROOT / "config/config.yaml"
    p = projection.project(res, config, epochs=10)
    counts = planned_jobs(tmp_path, config)
    got = p["as_configured"]
    assert got["uncosted"] == []  # a new GPU rule needs a cost model in bench/projection.py
    for rule, v in got["by_rule"].items():
        assert v["jobs"] == counts[rule], rule
    assert got["jobs_total"] == sum(counts.values())
    assert p["with_timit"]["by_net"]["F2"]["jobs"] > 0 and "F2" not in got["by_net"]
    assert p["with_timit"]["device_hours"] > got["device_hours"] > 0
    # R18 is declared but off (its one switch, nets.R18.enabled): costed with the switch on
    on = p["switched_on"]
    assert "R18" not in got["by_net"] and on["by_net"]["R18"]["jobs"] > 0 and on["uncosted"] == []
    assert on["device_hours"] > got["device_hours"]
    assert "R18 adds" in projection.markdown(p)


def test_projection_train_cost_arithmetic(tiny_results):
    res = fake_results(tiny_results)
    r = res["nets"]["F1"]
    coster = projection.Coster(res, epochs=10, lanczos_matvecs=60)
    spec = {"net": "F1", "seed": 0, "batch_size": 256, "max_epochs": 100, "patience": 5,
            "regime": "SB"}
    job = {"rule": "train", "wildcards": {"net": "F1"},
           "shell": f"python -m sharpminima train --data data/prepared/mnist.npz "
                    f"--spec '{json.dumps(spec)}' --out-dir x"}
    seconds, _ = coster.cost(job)
    epoch = 234 * 256 / r["train"]["SB"]["samples_per_s"] + 70000 / r["eval"]["samples_per_s"]
    assert seconds == pytest.approx(10 * epoch)  # --epochs applies: the stopping rule is on
    exact = {**spec, "patience": None}
    job["shell"] = job["shell"].replace(json.dumps(spec), json.dumps(exact))
    assert coster.cost(job)[0] == pytest.approx(100 * epoch)  # no stopping rule: max_epochs
    prox = {**spec, "remedy": {"proximal": {"inner_steps": 3, "lam": 1.0}}}
    job["shell"] = job["shell"].replace(json.dumps(exact), json.dumps(prox))
    assert coster.cost(job)[0] > 2.5 * 10 * 234 * 256 / r["train"]["SB"]["samples_per_s"]
    verb, opts = projection.cli_args("python -m sharpminima slice2d --grid 21 --train-size 500 "
                                     "2> log")
    assert verb == "slice2d" and opts == {"grid": ["21"], "train-size": ["500"]}


def test_adam_step_bench_writes_its_table(tmp_path):
    import adam_step
    out = tmp_path / "adam.md"
    adam_step.main(["--nets", "F1", "--steps", "1", "--repeats", "1", "--out", str(out)])
    text = out.read_text()
    assert "python bench/adam_step.py --nets F1 --steps 1" in text
    row = next(line for line in text.splitlines() if line.startswith("| F1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1,462,794" and float(cells[2]) > 0 and float(cells[3]) > 0
    ratio = float(cells[2]) / float(cells[3])  # of the rounded cells: within their rounding
    assert cells[4].endswith("x") and float(cells[4][:-1]) == pytest.approx(ratio, rel=0.05,
                                                                          abs=0.06)


def test_job_times_sums_each_rule_from_a_snakemake_log():
    import job_times
    log = """[Wed Dec  2 07:11:32 2026]
localrule train:
    output: results/runs/F1/SB/seed0/model.pt
    jobid: 5
    wildcards: net=F1, regime=SB, seed=0
    resources: tmpdir=/tmp, gpu=1

[Wed Dec  2 07:11:33 2026]
rule sharpness:
    jobid: 7

[Wed Dec  2 07:12:10 2026]
Finished jobid: 7 (Rule: sharpness)
[Wed Dec  2 07:13:02 2026]
Finished jobid: 5 (Rule: train)
[Wed Dec  2 07:13:03 2026]
localrule train:
    jobid: 6

[Wed Dec  2 07:13:33 2026]
Finished jobid: 6 (Rule: train)
[Wed Dec  2 07:13:40 2026]
localrule report:
    jobid: 9
"""
    walls = job_times.job_times(log.splitlines())
    assert walls == {"train": [90.0, 30.0], "sharpness": [37.0]}  # report never finished
    text = job_times.table(walls)
    assert "| train | 2 | 120 | 76% |" in text and "| all | 3 | 157 | 100% |" in text
    # each job of a rule, slowest first, named by its wildcards (job 6 has none)
    assert job_times.job_table(log.splitlines(), "train").splitlines()[2:] == [
        "| net=F1, regime=SB, seed=0 | 90 |", "| - | 30 |"]
