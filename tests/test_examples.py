"""The example (examples/: a network of the user's own and a tiny config) runs the whole DAG to the
report; a generated .npz dataset reaches Table 2 with a registry net and a user's net beside it,
and editing the user's builder replans that net only.

The example fetches Fashion-MNIST; here the real fetch path gets generated files in the upstream
format over 127.0.0.1 (datasets.fashion_mnist.sources/checksums), as in test_integration."""

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import yaml

import fakedata
from conftest import ROOT
from workflow_helpers import planned_jobs, planned_outputs, snakemake, write_config

pytestmark = pytest.mark.integration
NONE = ("--workflow-profile", "none")


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    """The example config as shipped, run from a work dir holding a copy of examples/ (its
    builder path is relative to the working directory, as from the repository root)."""
    root = tmp_path_factory.mktemp("example")
    sums = fakedata.write_idx_dataset(root / "served", n_train=400, n_test=200, seed=3)
    work = root / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    cfg = yaml.safe_load((ROOT / "examples/config.yaml").read_text())
    with fakedata.serve_directory(root / "served") as url:
        cfg["datasets"] = {"fashion_mnist": {"sources": [url], "checksums": sums}}
        config = write_config(root / "example.yaml", cfg)
        start = time.monotonic()
        proc = snakemake(work, config, "--cores", "2", "--resources", "gpu=2", *NONE,
                         timeout=1800)
        print(f"example DAG: {time.monotonic() - start:.0f} s wall on --cores 2")
    return work, config, proc


def test_the_example_runs_the_whole_dag_to_the_report(example_run):
    work, _, _ = example_run
    results = work / "results"
    t2 = pd.read_csv(results / "tables/table2.csv")
    assert {("MyNet", "SB"), ("MyNet", "LB")} == set(zip(t2.net, t2.regime))  # remedies: own table
    assert t2[t2.net == "MyNet"].paper_test_acc_mean.isna().all()  # the paper never saw it
    for table in ("table3", "table4", "hessian", "remedies", "reparam"):
        assert "MyNet" in (results / f"tables/{table}.md").read_text(), table
    frame = pd.read_csv(results / "correlation/correlation.csv", dtype={"remedy": str})
    models = frame[["net", "regime", "seed"]].drop_duplicates()
    assert set(models.net) == {"MyNet"}
    assert sorted(models.regime) == ["LB", "LB_sam", "SB", "b50"]  # + the batch sweep's model
    for fig in ("fig2_MyNet", "fig3_MyNet", "fig7_MyNet", "slice2d_MyNet", "fig4_MyNet",
                "correlation_all"):
        assert (results / f"figures/{fig}.png").stat().st_size > 0, fig
    md = (results / "report/REPORT.md").read_text()
    assert "MyNet" in md and "## Verdicts" in md and "**Scale: tiny.**" in md
    m = json.loads((results / "runs/MyNet/SB/seed0/metrics.json").read_text())
    assert m["spec"]["builder"]["ref"] == "examples/mynet.py:build"
    assert len(m["spec"]["builder"]["code"]) == 16 and m["spec"]["builder"]["init"] == "glorot"
    assert planned_jobs(work, example_run[1], *NONE) == {}


def test_a_generated_npz_dataset_reaches_table2(tmp_path):
    rng = np.random.default_rng(0)
    prototypes = rng.integers(0, 256, (3, 1, 8, 8))
    arrays = {}
    for split, n in (("train", 120), ("test", 30)):
        y = np.arange(n) % 3
        noisy = prototypes[y] + rng.normal(0, 30, (n, 1, 8, 8))
        arrays[f"x_{split}"] = np.clip(noisy, 0, 255).astype(np.uint8)
        arrays[f"y_{split}"] = y
    np.savez(tmp_path / "patches.npz", **arrays)
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    config = write_config(tmp_path / "npz.yaml", {
        "scale": "tiny", "threads": 1,
        "nets": {"F1": {"dataset": "patches", "train": {"max_epochs": 2}},
                 "MyNet": {"dataset": "patches", "builder": "examples/mynet.py:build",
                           "train": {"max_epochs": 2}}},
        "regimes": {"SB": {"batch_size": 12}, "LB": {"batch_fraction": 0.25}},
        "seeds": [0], "train": {"eval_chunk": 60},
        "datasets": {"patches": {"path": str(tmp_path / "patches.npz"), "kind": "images"}}})
    target = "results/tables/table2.csv"
    snakemake(work, config, "--cores", "2", *NONE, target, timeout=900)
    t2 = pd.read_csv(work / target)
    assert set(zip(t2.net, t2.regime)) == {(n, r) for n in ("F1", "MyNet") for r in ("SB", "LB")}
    f1 = json.loads((work / "results/runs/F1/SB/seed0/metrics.json").read_text())
    assert f1["spec"].get("builder") is None
    # editing the user's builder replans that net's trainings and what follows, nothing of F1's
    net = work / "examples/mynet.py"
    net.write_text(net.read_text().replace("nn.Linear(64, num_classes)",
                                           "nn.Dropout(0.0), nn.Linear(64, num_classes)"))
    plan = planned_outputs(work, config, target)
    assert sorted(plan) == ["table2", "train"]
    assert sorted(plan["train"]) == [f"results/runs/MyNet/{r}/seed0/{f}" for r in ("LB", "SB")
                                     for f in ("history.csv", "metrics.json", "model.pt")]
    snakemake(work, config, "--cores", "2", *NONE, target, timeout=900)
    meta = json.loads(str(np.load(work / "data/prepared/patches.npz")["meta"]))
    assert meta["num_classes"] == 3 and meta["input_shape"] == [1, 8, 8]
    manifest = json.loads((work / "data/raw/patches/MANIFEST.json").read_text())
    assert manifest["files"][0]["source"] == "datasets.patches.path"
    # rewriting the file reruns fetch, prepare and the trainings (change tracking, as TIMIT's)
    import os
    earlier = (work / "data/raw/patches/MANIFEST.json").stat().st_mtime - 100
    for made in list((work / "data").rglob("*")) + list((work / "results").rglob("*")):
        os.utime(made, (earlier, earlier))
    np.savez(tmp_path / "patches.npz", **{**arrays, "y_test": arrays["y_test"][::-1].copy()})
    counts = planned_jobs(work, config, *NONE, target)
    assert counts["fetch"] == 1 and counts["prepare"] == 1 and counts["train"] == 4
