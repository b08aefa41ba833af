"""The DAG of the real configs, planned by the real Snakemake (dry runs: nothing executes)."""

import copy

import pytest
import yaml

from conftest import ROOT
from workflow_helpers import planned_jobs, write_config


@pytest.fixture(scope="module")
def full_config():
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_full_config_plans_the_paper_grid(tmp_path):
    jobs = planned_jobs(tmp_path, ROOT / "config/config.yaml")
    # 5 nets with public data (F2 needs TIMIT) x 2 regimes x 5 seeds
    assert jobs["train"] == 5 * 2 * 5
    assert jobs["fetch"] == jobs["prepare"] == 3  # mnist, cifar10, cifar100
    assert jobs["table2"] == 1


def test_timit_configured_adds_f2(tmp_path, full_config):
    cfg = copy.deepcopy(full_config)
    cfg["datasets"]["timit"]["path"] = str(tmp_path / "timit.npz")
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "c.yaml", cfg))
    assert jobs["train"] == 6 * 2 * 5
    assert jobs["fetch"] == 4


def test_demo_config_plans_f1_and_c1_on_fashion_mnist(tmp_path):
    jobs = planned_jobs(tmp_path, ROOT / "config/demo.yaml")
    assert jobs["train"] == 2 * 2 * 2 and jobs["fetch"] == 1


def test_invalid_config_is_rejected_with_the_key(tmp_path, full_config):
    from workflow_helpers import snakemake
    cfg = copy.deepcopy(full_config)
    cfg["regimes"]["LB"] = {"batch_fraction": 1.5}
    proc = snakemake(tmp_path, write_config(tmp_path / "bad.yaml", cfg), "-n", check=False)
    assert proc.returncode != 0
    assert "batch_fraction" in proc.stderr + proc.stdout


def test_demo_from_repo_root_does_not_inherit_the_paper_nets():
    """Run where config/config.yaml exists: a --configfile must replace it, not merge into it."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--forceall", "--quiet", "rules",
                           "--configfile", "config/demo.yaml", "--workflow-profile", "none"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (proc.stdout + proc.stderr).split("Job stats:")[1]
    train = next(int(l.split()[1]) for l in table.splitlines() if l.startswith("train "))
    assert train == 2 * 2 * 2
