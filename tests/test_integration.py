"""The real Snakefile, end to end, on a tiny config: generated data in the upstream formats served
from 127.0.0.1 (so the real download-verify-prepare path runs), two nets, two regimes, two seeds."""

import json

import pandas as pd
import pytest

import fakedata
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.integration


def tiny_config(url: str, checksums: dict) -> dict:
    return {
        "scale": "tiny",
        "threads": 1,
        "nets": {
            "F1": {"dataset": "fashion_mnist", "train": {"max_epochs": 2}},
            "C1": {"dataset": "fashion_mnist", "train_size": 160, "test_size": 80,
                   "train": {"max_epochs": 1}},
        },
        "regimes": {"SB": {"batch_size": 32}, "LB": {"batch_fraction": 0.25}},
        "seeds": [0, 1],
        "train": {"eval_chunk": 100, "patience": None},
        "datasets": {"fashion_mnist": {"sources": [url], "checksums": checksums}},
    }


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Run the whole tiny DAG once; tests below inspect its outputs."""
    root = tmp_path_factory.mktemp("tiny")
    served = root / "served"
    sums = fakedata.write_idx_dataset(served, n_train=320, n_test=80, seed=1)
    work = root / "work"
    work.mkdir()
    with fakedata.serve_directory(served) as url:
        config = write_config(root / "tiny.yaml", tiny_config(url, sums))
        proc = snakemake(work, config, "--cores", "2", "--workflow-profile", "none")
    return work, config, proc


def test_dag_completes_with_every_run(tiny_run):
    work, _, _ = tiny_run
    for net in ("F1", "C1"):
        for regime in ("SB", "LB"):
            for seed in (0, 1):
                d = work / f"results/runs/{net}/{regime}/seed{seed}"
                assert {"model.pt", "history.csv", "metrics.json"} <= {p.name for p in d.iterdir()}
    assert (work / "data/prepared/fashion_mnist.npz").exists()
    manifest = json.loads((work / "data/raw/fashion_mnist/MANIFEST.json").read_text())
    assert "127.0.0.1" in json.dumps(manifest)  # it really came over HTTP


def test_table2_has_every_net_and_regime(tiny_run):
    work, _, _ = tiny_run
    t2 = pd.read_csv(work / "results/tables/table2.csv")
    assert set(zip(t2.net, t2.regime)) == {("F1", "SB"), ("F1", "LB"), ("C1", "SB"), ("C1", "LB")}
    assert (t2.n == 2).all() and (t2.scale == "tiny").all()
    lb = t2.set_index(["net", "regime"]).loc[("F1", "LB")]
    assert lb.batch_size == 80  # 25% of 320
    assert lb.paper_test_acc_mean == pytest.approx(97.81)
    md = (work / "results/tables/table2.md").read_text()
    assert "TINY TEST SCALE" in md and "97.81 ± 0.07" in md


def test_training_logs_show_progress(tiny_run):
    work, _, _ = tiny_run
    log = (work / "results/logs/train/F1/SB/seed0.log").read_text()
    assert "epoch    1/2" in log and "epoch    2/2" in log


def test_nothing_left_to_do_after_a_complete_run(tiny_run):
    work, config, _ = tiny_run
    assert planned_jobs(work, config, "--workflow-profile", "none") == {}
