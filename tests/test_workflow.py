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
    # 5 nets with public data (F2 needs TIMIT) x (SB, LB + 6 remedy regimes + dynamic) x 5 seeds
    assert jobs["train"] == 5 * (2 + 6 + 1) * 5
    assert jobs["fetch"] == jobs["prepare"] == 3  # mnist, cifar10, cifar100
    assert jobs["table2"] == 1


def test_timit_configured_adds_f2(tmp_path, full_config):
    cfg = copy.deepcopy(full_config)
    cfg["datasets"]["timit"]["path"] = str(tmp_path / "timit.npz")
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "c.yaml", cfg))
    assert jobs["train"] == 5 * (2 + 6 + 1) * 5 + (2 + 5 + 1) * 5  # F2: no image augmentation
    assert jobs["fetch"] == 4


def demo_trainings() -> int:
    """Runs the demo declares: every net x its regimes (default: all) x seeds."""
    demo = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    per_net = [len(spec.get("regimes") or demo["regimes"]) for spec in demo["nets"].values()]
    return sum(per_net) * len(demo["seeds"])


def test_demo_config_plans_f1_and_c1_on_fashion_mnist(tmp_path):
    jobs = planned_jobs(tmp_path, ROOT / "config/demo.yaml")
    assert jobs["train"] == demo_trainings() and jobs["fetch"] == 1
    assert jobs["remedies_table"] == 1


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
    assert train == demo_trainings()  # F1 and C1 only, with the regimes the demo lists


def test_demo_plans_every_section4_experiment_on_f1(tmp_path):
    jobs = planned_jobs(tmp_path, ROOT / "config/demo.yaml")
    demo = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    sizes = len(demo["batch_sweep"]["batch_sizes"]["F1"])
    sweep_seeds = len(demo["batch_sweep"]["seeds"])
    warm = len(demo["warm_start"]["sb_epochs"])
    along = len(demo["sharpness_along_training"]["epochs"])
    assert jobs["sweep_batch_train"] == sizes * sweep_seeds
    assert jobs["trajectory_train"] == 2  # SB and LB, seed 0
    assert jobs["warmstart_train"] == warm  # one LB run per kept SB iterate
    assert jobs["sweep_sharpness"] == sizes * sweep_seeds + warm + 2 * along  # Figs. 4, 5, 6
    assert jobs["grad_noise"] == 2 * len(demo["gradient_noise"]["epochs"])  # SB, LB x checkpoints
    for rule in ("fig4", "fig5", "fig6", "noise_spread", "noise_scale"):
        assert jobs[f"{rule}_frame"] == jobs[f"{rule}_figure"] == 1, rule
    assert jobs["dynamic_table"] == 1


def test_full_config_plans_section4_for_c1_and_f2_with_timit(tmp_path, full_config):
    jobs = planned_jobs(tmp_path, ROOT / "config/config.yaml")
    assert jobs["sweep_batch_train"] == 7 * 3 and jobs["warmstart_train"] == 12  # C1 only
    cfg = copy.deepcopy(full_config)
    cfg["datasets"]["timit"]["path"] = str(tmp_path / "timit.npz")
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "c.yaml", cfg))
    assert jobs["sweep_batch_train"] == (7 + 10) * 3 and jobs["warmstart_train"] == 2 * 12
    assert jobs["trajectory_train"] == 2 * 2 and jobs["fig6_figure"] == 2
