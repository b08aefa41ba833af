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
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--forceall",
                           "--quiet", "rules",
                           "--configfile", "config/demo.yaml", "--workflow-profile", "none"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (proc.stdout + proc.stderr).split("Job stats:")[1]
    train = next(int(row.split()[1]) for row in table.splitlines() if row.startswith("train "))
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


def planned_shell_commands(workdir, configfile) -> dict[str, list[str]]:
    """Per rule, the shell commands of a forced dry run (-p)."""
    import re

    from workflow_helpers import snakemake
    proc = snakemake(workdir, configfile, "-n", "-p", "--forceall", "--workflow-profile", "none")
    commands: dict[str, list[str]] = {}
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
        elif rule and line.startswith("Shell command: "):
            commands.setdefault(rule, []).append(line[len("Shell command: "):])
    return commands


def test_a_regimes_eval_chunk_reaches_every_measurement(tmp_path):
    """One eval-chunk rule (common.smk eval_chunk): a regime's train.eval_chunk is the chunk of
    every measurement of its runs: sharpness, Hessian, the 2-D slices, the sweeps' sharpness, the
    measures and the reparametrization test, and
    (SB and LB agreeing) the SB-LB landscape; the sharpness tables' caption says so."""
    import re
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    cfg["generalization_measures"]["enabled"] = True  # the study's jobs too
    for regime in ("SB", "LB"):
        cfg["regimes"][regime]["train"] = {"eval_chunk": 333}
    plan = planned_shell_commands(tmp_path, write_config(tmp_path / "c.yaml", cfg))
    flag = {"sharpness": "--chunk", "hessian": "--chunk", "sweep_sharpness": "--chunk",
            "slice2d": "--eval-chunk", "landscape": "--eval-chunk", "measures": "--chunk",
            "sweep_measures": "--chunk", "reparam": "--chunk"}
    for rule, option in flag.items():
        assert plan[rule], rule
        for cmd in plan[rule]:
            chunk = int(re.search(rf"{option} (\d+)", cmd).group(1))
            plain = (re.search(r"/(SB|LB)/|/(batch|warmstart|trajectory)/", cmd)
                     or rule == "landscape")
            assert chunk == (333 if plain else 5000), (rule, cmd)
    assert all("evaluated in chunks of 333" in c for c in plan["sharpness_table"])


def test_landscape_of_runs_with_different_eval_chunks_asks_for_one(tmp_path):
    from workflow_helpers import snakemake
    cfg = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    cfg["regimes"]["LB"]["train"] = {"eval_chunk": 333}
    proc = snakemake(tmp_path, write_config(tmp_path / "c.yaml", cfg), "-n", check=False)
    assert proc.returncode != 0 and "set landscape.eval_chunk" in proc.stdout + proc.stderr
    cfg["landscape"]["eval_chunk"] = 444
    plan = planned_shell_commands(tmp_path, write_config(tmp_path / "c.yaml", cfg))
    assert all("--eval-chunk 444 " in c for c in plan["landscape"] + plan["slice2d"])


def test_rules_are_written_out_and_paths_built_in_common(tmp_path):
    """Every rule is found by `grep "rule NAME:"`; every path f-string lives in common.smk; shell
    commands read the interpreter and lock folder from params, not from globals (the linter)."""
    import re

    from workflow_helpers import snakemake
    files = {p.name: p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")}
    files["Snakefile"] = (ROOT / "Snakefile").read_text()
    text = "\n".join(files.values())
    assert not re.search(r"^\s+name:\s*$", text, re.M)  # no rule named at run time (a loop)
    declared = re.findall(r"^rule (\w+):", text, re.M)
    assert len(declared) == len(set(declared))
    for figure in ("fig2", "fig3", "fig7", "slice2d_figure", "fig4_figure", "fig5_figure",
                   "fig6_figure", "noise_spread_figure", "noise_scale_figure"):
        assert figure in declared, figure
    for name, source in files.items():
        if name != "common.smk":
            assert not re.findall(r'f"[^"\n]*/', source), name
    lint = snakemake(tmp_path, ROOT / "config/demo.yaml", "--lint", check=False)
    assert "good condition" in lint.stdout + lint.stderr  # the linter ran: no findings (test_lint)
    assert "directly uses variable" not in lint.stdout + lint.stderr
    assert "is a prefix of input or output file but hardcoded" not in lint.stdout + lint.stderr


def test_demo_plans_the_study_beyond_the_paper(tmp_path):
    """measures for every trained model with a Metric 2.1 record (main runs, the batch sweep's and
    warm starts' final models; not Fig. 6's iterates),
    the reparametrization test of the listed nets' SB and LB (first seed), the two tables, the
    figure; generalization_measures.enabled: false plans none of it."""
    demo = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    assert demo["generalization_measures"]["enabled"] is True
    jobs = planned_jobs(tmp_path, ROOT / "config/demo.yaml")
    assert jobs["measures"] == demo_trainings()
    along = demo["sharpness_along_training"]
    iterates = 2 * len(along["nets"]) * len(along["epochs"])  # SB and LB trajectories, seed 0
    assert jobs["sweep_measures"] == jobs["sweep_sharpness"] - iterates  # one eps each
    assert jobs["reparam"] == 2 * len(demo["reparametrization"]["nets"])
    for rule in ("reparam_table", "correlation_table", "correlation_figure"):
        assert jobs[rule] == 1, rule
    demo["generalization_measures"]["enabled"] = False
    off = planned_jobs(tmp_path, write_config(tmp_path / "off.yaml", demo))
    assert not {"measures", "sweep_measures", "reparam", "reparam_table", "correlation_table",
                "correlation_figure"} & set(off)
    assert off["collect"] == off["report"] == 1
