"""DVC round trip: snapshot a project holding a complete tiny run, clone it afresh elsewhere,
`dvc pull`, and check that Snakemake plans nothing, then only the jobs a config change affects."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from workflow_helpers import planned_outputs, write_config

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC": str(BIN / "dvc"), "PY": sys.executable,
       "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t"}


def sh(*cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def project_copy(dest: Path) -> Path:
    """The project's own files (what a clone of it holds), as a fresh git repository."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    sh("git", "init", "-q", cwd=dest)
    sh("git", "add", "-A", cwd=dest)
    sh("git", "commit", "-qm", "project", cwd=dest)
    return dest


def transient_files(proj: Path) -> list[Path]:
    """Paths (relative to the project) of the transient files of a job interrupted in one run
    directory: its resume checkpoint, a staged iterate, an atomic-write temp file and a lock."""
    run = sorted((proj / "results").glob("**/history.csv"))[0].parent.relative_to(proj)
    return [run / "resume.pt", run / ".iterates-partial/epoch1.pt",
            run / ".metrics.json.k3j9x2ab.tmp", Path("results/gpu0.lock")]


@pytest.fixture(scope="module")
def snapshot_and_clone(tiny_run, tmp_path_factory):
    work, config, _ = tiny_run
    root = tmp_path_factory.mktemp("dvc")
    proj = project_copy(root / "proj")
    proj.mkdir(exist_ok=True)
    for d in ("data", "results"):
        shutil.copytree(work / d, proj / d)
    shutil.copytree(work / ".snakemake/metadata", proj / ".snakemake/metadata")
    for rel in transient_files(proj):  # what an interrupted job leaves: never to be shipped
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        (proj / rel).write_text("transient")
    sh("bash", "workflow/scripts/snapshot.sh", "tiny snapshot", cwd=proj)
    assert (root / "sharpminima-dvc-storage").is_dir()  # the default local remote
    clone = root / "clone"
    sh("git", "clone", "-q", str(proj), str(clone), cwd=root)
    assert not (clone / "results").exists()
    sh("bash", "workflow/scripts/pull.sh", str(config), cwd=clone)
    return proj, clone, config


def test_snapshot_is_versioned_by_dvc_not_git(snapshot_and_clone):
    proj, _, _ = snapshot_and_clone
    tracked = sh("git", "ls-files", cwd=proj).split()
    assert "results.dvc" in tracked and "data.dvc" in tracked
    assert not any(f.startswith(("results/", "data/")) for f in tracked)


def test_snapshot_ships_no_transient_files(snapshot_and_clone):
    proj, clone, _ = snapshot_and_clone
    transient = transient_files(proj)
    assert all((proj / rel).exists() for rel in transient)  # planted, and left alone
    assert (clone / transient[0]).parent.is_dir()  # the run directory itself was pulled ...
    assert [rel for rel in transient if (clone / rel).exists()] == []  # ... but none of these
    assert not (clone / transient[1]).parent.exists()


def test_pulled_clone_plans_nothing(snapshot_and_clone):
    _, clone, config = snapshot_and_clone
    assert (clone / "results/tables/table2.csv").exists()
    assert planned_outputs(clone, config, snakefile=clone / "Snakefile") == {}


def test_config_change_in_clone_reruns_only_affected_jobs(snapshot_and_clone, tmp_path):
    _, clone, config = snapshot_and_clone
    cfg = yaml.safe_load(config.read_text())
    cfg["regimes"]["LB"]["batch_fraction"] = 0.5
    plan = planned_outputs(clone, write_config(tmp_path / "c.yaml", cfg),
                           snakefile=clone / "Snakefile")
    trained = [o for o in plan["train"] if o.endswith("metrics.json")]
    assert trained and all("/LB/" in o for o in trained)
    assert "fetch" not in plan and "prepare" not in plan


def test_dvc_metrics_show_and_diff(snapshot_and_clone):
    _, clone, _ = snapshot_and_clone
    shown = sh(str(BIN / "dvc"), "metrics", "show", "--json", cwd=clone)
    assert "test_acc" in shown
    metrics = json.loads((clone / "results/metrics.json").read_text())
    net = next(iter(metrics["accuracy"]))
    metrics["accuracy"][net]["SB"]["test_acc"] += 0.25
    (clone / "results/metrics.json").write_text(json.dumps(metrics))
    diff = sh(str(BIN / "dvc"), "metrics", "diff", "--json", cwd=clone)
    assert f"accuracy.{net}.SB.test_acc" in diff
    plots = sh(str(BIN / "dvc"), "plots", "show", "--json", cwd=clone)
    assert "test_acc" in plots
