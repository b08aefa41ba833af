"""The pipeline on a real single-node SLURM cluster (127.0.0.1, fake GPU gres) through
`--workflow-profile workflow/profiles/slurm`, to the end. Skipped, with the reason, where SLURM
cannot be started (not root, not Debian)."""

import json
import re
import subprocess
import time
from collections import Counter

import pytest

import fakedata
from conftest import ROOT
from slurm_cluster import declared_rules, slurm_cluster, slurm_unavailable_reason
from workflow_helpers import planned_jobs, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.integration]


def slurm_config(data_dir, checksums) -> dict:
    """The smallest config that still runs every GPU-tagged rule kind once per regime."""
    return {
        "scale": "tiny", "threads": 1,
        "nets": {"F1": {"dataset": "fashion_mnist", "train": {"max_epochs": 1}}},
        "regimes": {"SB": {"batch_size": 32}, "LB": {"batch_fraction": 0.25}},
        "seeds": [0],
        "train": {"eval_chunk": 100, "patience": None},
        "sharpness": {"eps": [1e-3], "spaces": ["full"]},
        "hessian": {"top_k": 1, "trace_samples": 2},
        "landscape": {"points": 4, "slice_grid": 3},
        "datasets": {"fashion_mnist": {"sources": [str(data_dir)], "checksums": checksums}},
    }


def test_tiny_pipeline_on_slurm(tmp_path):
    reason = slurm_unavailable_reason()
    if reason:
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    sums = fakedata.write_idx_dataset(tmp_path / "raw", n_train=160, n_test=40, seed=2)
    config = write_config(tmp_path / "slurm.yaml", slurm_config(tmp_path / "raw", sums))
    work = tmp_path / "work"
    work.mkdir()
    with slurm_cluster(n_fake_gpus=2) as cluster:
        t0 = time.monotonic()
        cmd = cluster.snakemake_command(
            ["-s", str(ROOT / "Snakefile"), "--directory", str(work), "--configfile", str(config),
             "--jobs", "2"], profile=ROOT / "workflow/profiles/slurm", limit_s=1200)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print(f"SLURM pipeline run: {time.monotonic() - t0:.0f} s "
              f"(cluster up {cluster.up_seconds:.1f} s)")
        assert proc.returncode == 0, (proc.stdout[-3000:] + proc.stderr[-6000:] + cluster.logs())
        # every job SLURM saw (MinJobAge=600 keeps finished ones): the plugin's comment names
        # its rule, rule_<name>[_wildcards_...]
        squeue = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%k"], capture_output=True,
                                text=True, check=True).stdout.split()
    seen = Counter(re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", c).group(1) for c in squeue)
    # ... are exactly the GPU-tagged jobs of the plan: every other rule ran on the submitting host
    gpu = {name for name, rule in declared_rules(ROOT).items() if rule["gpu"]}
    (tmp_path / "plan").mkdir()
    plan = planned_jobs(tmp_path / "plan", config, "--workflow-profile", "none")
    expected = Counter({rule: n for rule, n in plan.items() if rule in gpu})
    print(f"SLURM jobs: {sum(seen.values())} ({dict(seen)}); plan: {sum(plan.values())} jobs")
    assert seen == expected, (seen, expected)
    for regime in ("SB", "LB"):
        metrics = json.loads((work / f"results/runs/F1/{regime}/seed0/metrics.json").read_text())
        scheduler = metrics["provenance"]["scheduler"]
        assert scheduler.get("SLURM_JOB_ID"), scheduler  # trained as a SLURM job ...
        assert scheduler.get("CUDA_VISIBLE_DEVICES") not in (None, ""), scheduler  # ... with a GPU
        assert scheduler.get("SLURM_GPUS_ON_NODE") == "1", scheduler
    for table in ("table2", "table3", "hessian"):
        assert (work / f"results/tables/{table}.md").exists()
    assert (work / "results/metrics.json").exists()
