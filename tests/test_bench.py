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

from sharpminima.models import build  # noqa: E402


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


def test_report_and_projection(tiny_results, tmp_path):
    res = json.loads(tiny_results.read_text())
    md = report.render(res)
    for title in ("## Training", "## Measurement passes", "## Speed options",
                  "## Several seeds", "Projected cost", res["device"]):
        assert title in md, title
    cfg = projection.load_config(ROOT / "config/config.yaml")
    p = projection.project(res, cfg, epochs=10)
    assert p["missing_nets"] == [n for n in cfg["nets"] if n != "F1"]
    train = [j for j in p["jobs"] if j["stage"] == "train"]
    regimes_f1 = cfg["nets"]["F1"].get("regimes") or list(cfg["regimes"])
    assert len(train) == len(regimes_f1) * len(cfg["seeds"])
    # SB epoch = floor(60000/256) * 256 / rate + evaluation of train + test
    r = res["nets"]["F1"]
    sb = next(j for j in train if j["regime"] == "SB")
    epoch = 234 * 256 / r["train"]["SB"]["samples_per_s"] + 70000 / r["eval"]["samples_per_s"]
    assert sb["seconds"] == pytest.approx(10 * epoch)
    # proximal (3 inner steps) costs more than plain LB
    lb = next(j for j in train if j["regime"] == "LB")
    prox = next(j for j in train if j["regime"] == "LB_proximal")
    assert prox["seconds"] > lb["seconds"]
    assert p["device_hours_planned"] > 0 and "CPU-hours" in projection.markdown(p)
