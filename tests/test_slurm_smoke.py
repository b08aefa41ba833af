"""Smoke test: Snakemake's slurm executor against a real single-node SLURM cluster.

Two rules, one CPU and one `resources: gpu=1`; checks that both ran as SLURM jobs and that SLURM
(not Snakemake) set CUDA_VISIBLE_DEVICES for the GPU job from the fake gres. About 20 s.
Needs root on Debian (see tests/slurm/README.md); skipped otherwise with the reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slurm_cluster import slurm_cluster, slurm_unavailable_reason  # noqa: E402

SNAKEFILE = textwrap.dedent(
    r'''
    rule all:
        input: "cpu.txt", "gpu.txt"

    rule cpu:
        output: "cpu.txt"
        shell: "echo SLURM_JOB_ID=${{SLURM_JOB_ID:-unset}} > {output}"

    rule gpu:
        output: "gpu.txt"
        resources: gpu=1
        shell:
            "echo CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-unset}}"
            " SLURM_JOB_ID=${{SLURM_JOB_ID:-unset}}"
            " SLURM_GPUS_ON_NODE=${{SLURM_GPUS_ON_NODE:-unset}} > {output}"
    '''
)


def _parse(path: Path) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in path.read_text().split())


@pytest.mark.slurm
def test_snakemake_slurm_executor_runs_cpu_and_gpu_jobs(tmp_path):
    reason = slurm_unavailable_reason()
    if reason:
        pytest.skip(reason)
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    with slurm_cluster(n_fake_gpus=2) as cluster:
        cmd = cluster.snakemake_command(["--jobs", "2", "--workflow-profile", "none"], limit_s=300)
        t0 = time.monotonic()
        r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=420)
        run_s = time.monotonic() - t0
        squeue = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i %j %T %b"],
                                capture_output=True, text=True).stdout
        diag = (f"rc={r.returncode} ({run_s:.1f}s)\n--- stderr ---\n{r.stderr[-4000:]}\n"
                f"--- squeue ---\n{squeue}\n{cluster.logs()}")
    assert r.returncode == 0, diag
    print(f"cluster up {cluster.up_seconds:.1f}s, snakemake run {run_s:.1f}s")

    cpu = _parse(tmp_path / "cpu.txt")
    gpu = _parse(tmp_path / "gpu.txt")
    assert re.fullmatch(r"\d+", cpu["SLURM_JOB_ID"]), diag
    assert re.fullmatch(r"\d+", gpu["SLURM_JOB_ID"]), diag
    assert cpu["SLURM_JOB_ID"] != gpu["SLURM_JOB_ID"]
    # SLURM allocated one of the two fake GPUs and exported it
    assert gpu["CUDA_VISIBLE_DEVICES"] in {"0", "1"}, diag
    assert gpu["SLURM_GPUS_ON_NODE"] == "1", diag
    # both were submitted by this run (jobs listed by squeue thanks to MinJobAge=600)
    assert "COMPLETED" in squeue, diag
    # teardown removed the config (else every later snakemake call is ~9 s slower)
    assert not Path("/etc/slurm/slurm.conf").exists()
