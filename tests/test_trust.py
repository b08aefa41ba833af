"""The report speaks only for the current configuration, and divergence is a result.

One small real DAG (F1 on generated Fashion-MNIST-format data served from 127.0.0.1): SB and LB
train normally; two more plain regimes diverge on purpose: `NAN` (lr 1e30: non-finite loss) and
`ABSURD` (lr 1000: finite, absurd losses). Then records of other configurations are planted in
results/ and the report is rebuilt: nothing of them may show.
"""

import json
import re
import shutil

import pandas as pd
import pytest

import fakedata
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration

DIVERGING = {"NAN": 1e30, "ABSURD": 1000.0}


def trust_config(url: str, checksums: dict, seeds=(0, 1)) -> dict:
    return {
        "scale": "tiny",
        "threads": 1,
        "nets": {"F1": {"dataset": "fashion_mnist", "train": {"max_epochs": 2}}},
        "regimes": {"SB": {"batch_size": 32}, "LB": {"batch_fraction": 0.25},
                    **{r: {"batch_size": 32, "train": {"lr": lr}} for r, lr in DIVERGING.items()}},
        "seeds": list(seeds),
        "train": {"eval_chunk": 100, "patience": None},
        "sharpness": {"eps": [1.0e-3], "spaces": ["full"]},
        "hessian": {"top_k": 1, "trace_samples": 2},
        "landscape": {"points": 5, "slice_grid": 3},
        "datasets": {"fashion_mnist": {"sources": [url], "checksums": checksums}},
    }


@pytest.fixture(scope="module")
def trust_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    served = root / "served"
    sums = fakedata.write_idx_dataset(served, n_train=320, n_test=80, seed=3)
    work = root / "work"
    work.mkdir()
    with fakedata.serve_directory(served) as url:
        config = write_config(root / "trust.yaml", trust_config(url, sums))
        snakemake(work, config, "--cores", "2", "--workflow-profile", "none", timeout=1800)
        one_seed = write_config(root / "one_seed.yaml", trust_config(url, sums, seeds=(0,)))
    return work, config, one_seed


def report_of(work) -> str:
    return (work / "results/report/REPORT.md").read_text()


def section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_diverged_runs_are_results_through_to_the_report(trust_run):
    work, _, _ = trust_run
    t2 = pd.read_csv(work / "results/tables/table2.csv").set_index("regime")
    for regime in DIVERGING:
        assert t2.loc[regime, "diverged"] == 2 and t2.loc[regime, "n"] == 0, regime
    assert t2.loc["SB", "diverged"] == 0 and t2.loc["SB", "n"] == 2
    md_t2 = (work / "results/tables/table2.md").read_text()
    assert "| diverged" in md_t2 or "diverged |" in md_t2
    nan_run = json.loads((work / "results/runs/F1/NAN/seed0/metrics.json").read_text())
    assert nan_run["status"] == "diverged"
    for regime in DIVERGING:
        rec = json.loads((work / f"results/sharpness/F1/{regime}/seed0/full_eps0.001.json")
                         .read_text())
        assert rec["status"] == "not measured" and rec["sharpness"] is None
        assert "diverged" in rec["reason"]
        hess = json.loads((work / f"results/hessian/F1/{regime}/seed1.json").read_text())
        assert hess["status"] == "not measured" and hess["top_eigenvalues"] is None
    t3 = pd.read_csv(work / "results/tables/table3.csv").set_index("regime")
    assert t3.loc["NAN", "n"] == 0 and t3.loc["NAN", "not_measured"] == 2
    assert t3.loc["SB", "n"] == 2
    diverged = section(report_of(work), "Diverged runs")
    for regime in DIVERGING:
        assert f"| F1    | {regime}" in diverged or f"F1 | {regime}" in diverged.replace("  ", " ")
    assert "non-finite" in diverged and "ln(10)" in diverged


def _plant_stale_records(results):
    """Records another configuration would have left: an extra seed, net, eps and remedy."""
    shutil.copytree(results / "runs/F1/SB/seed1", results / "runs/F1/SB/seed7")
    shutil.copytree(results / "runs/F1", results / "runs/C9")
    shutil.copytree(results / "runs/F1/LB", results / "runs/F1/LB_oldremedy")
    for d in ("sharpness", "hessian"):
        shutil.copytree(results / d / "F1", results / d / "C9")
    old_eps = results / "sharpness/F1/SB/seed0/full_eps0.01.json"
    rec = json.loads((results / "sharpness/F1/SB/seed0/full_eps0.001.json").read_text())
    old_eps.write_text(json.dumps({**rec, "eps": 0.01, "sharpness": 12345.0}))
    seed7 = results / "runs/F1/SB/seed7/metrics.json"
    m = json.loads(seed7.read_text())
    seed7.write_text(json.dumps({**m, "seed": 7, "test_acc": 0.0001, "wall_s": 99999.0}))


def test_records_of_other_configurations_never_reach_the_report(trust_run):
    work, config, _ = trust_run
    before = report_of(work)
    _plant_stale_records(work / "results")
    snakemake(work, config, "--cores", "1", "--workflow-profile", "none",
              "--forcerun", "collect")
    after = report_of(work)
    assert after == before  # same n, verdicts, findings, provenance and compute table
    assert "C9" not in after and "LB_oldremedy" not in after and "99999" not in after
    assert "12345" not in after
    runs = pd.read_csv(work / "results/summary/runs.csv")
    assert sorted(zip(runs.regime, runs.seed)) == sorted(
        (r, s) for r in ("SB", "LB", *DIVERGING) for s in (0, 1))
    assert set(runs.net) == {"F1"}


def test_a_smaller_plan_reports_only_its_own_records(trust_run):
    """The issue's case: seeds [0] after [0, 1]: Table 2, verdicts, provenance and compute table
    count one seed, though seed 1's records are still in results/."""
    work, _, one_seed = trust_run
    snakemake(work, one_seed, "--cores", "2", "--workflow-profile", "none")
    md = report_of(work)
    verdict = next(line for line in section(md, "Verdicts").splitlines() if "(Table 2)" in line)
    assert "n=1/1" in verdict and "n=2/2" not in verdict
    t2 = pd.read_csv(work / "results/tables/table2.csv").set_index("regime")
    assert t2.loc["SB", "n"] == 1
    prov = section(md, "Provenance")
    # runs, sharpness (1 eps, full), hessian, landscape + slices, measures, reparam (F1 SB and LB)
    planned = 4 + 4 + 4 + 1 + 4 + 4 + 2
    assert f"Records read: {planned}," in prov
    compute = dict(re.findall(r"^\| (\w+)\s*\|\s*(\d+) \|", prov, re.M))
    assert compute == {"train": "4", "sharpness": "4", "hessian": "4", "landscape": "5"}
    assert (work / "results/runs/F1/SB/seed1/metrics.json").exists()  # still there, unread
    assert planned_jobs(work, one_seed, "--workflow-profile", "none") == {}
