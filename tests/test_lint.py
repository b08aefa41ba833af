"""The workflow is lint-clean and formatted (`make lint` runs the same two checks), every rule has
the conda environment, that environment pins what environment.yml pins, and the cluster profiles
submit only the GPU-tagged rules, with threads = CPUs and only valid commented examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from slurm_cluster import declared_rules
from test_pins import _pins

CONFIGS = ["config/config.yaml", "config/demo.yaml", "config/cpu.yaml"]
PROFILES = ROOT / "workflow/profiles"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.mark.parametrize("configfile", CONFIGS)
def test_snakemake_lint_reports_nothing(configfile):
    proc = subprocess.run([*SNAKEMAKE, "--lint", "--nolock", "--configfile", configfile,
                           "--workflow-profile", "none"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Lints for" not in out, out[-4000:]


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).with_name("snakefmt")
    proc = subprocess.run([str(snakefmt), "--check", "Snakefile", "workflow"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_line_length_is_configured():
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["snakefmt"]
    assert cfg["line_length"] == 100


def test_every_rule_has_the_conda_env():
    for name, rule in declared_rules(ROOT).items():
        if name == "all":  # no job of its own
            continue
        assert re.search(r"^    conda:\n        CONDA_ENV\n", rule["text"], re.M), name
    common = (ROOT / "workflow/rules/common.smk").read_text()
    path = re.search(r'^CONDA_ENV = "(.+)"$', common, re.M).group(1)
    assert (ROOT / "workflow/rules" / path).resolve() == ROOT / "workflow/envs/sharpminima.yaml"


def _env(path):
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    return [d for d in deps if isinstance(d, str)], pip


def test_conda_env_pins_equal_environment_yml():
    conda, pip = _env(ROOT / "workflow/envs/sharpminima.yaml")
    ref_conda, ref_pip = _env(ROOT / "environment.yml")
    assert _pins(pip) == _pins(ref_pip) and _pins(pip)
    assert set(ref_conda) <= set(conda)
    # no `-e .`: Snakemake creates the env from a copy under .snakemake/conda/; the post-deploy
    # script installs the project instead
    assert not [p for p in pip if p.startswith("-e")]
    deploy = (ROOT / "workflow/envs/sharpminima.post-deploy.sh").read_text()
    assert "pip install" in deploy and "SHARPMINIMA_SOURCE" in deploy


def test_only_gpu_rules_are_cluster_jobs():
    """Every rule without `gpu` is a localrule (runs on the submitting host under every cluster
    profile); every GPU-tagged rule is submitted, with its resources and threads in each profile."""
    rules = declared_rules(ROOT)
    gpu = {n for n, r in rules.items() if r["gpu"]}
    assert gpu and not [n for n in gpu if rules[n]["local"]]
    assert {n for n, r in rules.items() if not r["gpu"] and not r["local"]} == {"all"}  # norun
    for profile in ("slurm", "generic-cluster"):
        cfg = yaml.safe_load((PROFILES / profile / "config.yaml").read_text())
        assert set(cfg["set-resources"]) == gpu, profile  # none for local rules (dead entries)
        assert set(cfg["set-threads"]) == gpu, profile
        assert all(cfg["set-resources"][n]["gpu"] == 1 for n in gpu)
        for res in [cfg["default-resources"], *cfg["set-resources"].values()]:
            # threads are the one source of CPUs: no cpus_per_task to disagree with them
            assert "cpus_per_task" not in res and "cpus_per_gpu" not in res, profile


def _uncommented(profile: Path) -> dict:
    """The profile with every commented `key: value` example switched on."""
    lines = []
    for line in profile.read_text().splitlines():
        m = re.fullmatch(r"(\s*)# ?([a-z][a-z_-]*: \S.*)", line)
        lines.append(m.group(1) + m.group(2) if m else line)
    return yaml.safe_load("\n".join(lines))


def test_slurm_profile_examples_are_valid_for_the_plugin():
    """Each commented example names a flag or resource slurm plugin 2.8.0 knows, and slurm_extra
    holds no option the plugin refuses there (e.g. --qos: it has its own resource)."""
    import dataclasses

    import snakemake_executor_plugin_slurm as plugin
    from snakemake_executor_plugin_slurm import ExecutorSettings
    from snakemake_executor_plugin_slurm.validation import validate_slurm_extra
    cfg = _uncommented(PROFILES / "slurm/config.yaml")
    flags = {"slurm-" + f.name.replace("_", "-") for f in dataclasses.fields(ExecutorSettings)}
    for key in cfg:
        if key.startswith("slurm-"):
            assert key in flags, key
    source = "\n".join(p.read_text() for p in Path(plugin.__file__).parent.glob("*.py"))
    known = set(re.findall(r'resources\.get\("(\w+)"', source)) | {"runtime", "mem_mb", "gpu"}
    for res in [cfg["default-resources"], *cfg["set-resources"].values()]:
        assert set(res) <= known, set(res) - known

    class Job:
        class resources:
            slurm_extra = cfg["default-resources"]["slurm_extra"]
    validate_slurm_extra(Job)
    Job.resources.slurm_extra = "'--qos=normal'"
    with pytest.raises(Exception):  # what the old example said: refused
        validate_slurm_extra(Job)


@pytest.mark.parametrize("profile", ["slurm", "generic-cluster"])
def test_cluster_profiles_with_examples_load(tmp_path, profile):
    """`snakemake -n` accepts the profile with its commented examples switched on (keys known)."""
    if profile == "generic-cluster":
        pytest.importorskip("snakemake_executor_plugin_cluster_generic")
    cfg = _uncommented(PROFILES / profile / "config.yaml")
    (tmp_path / "p").mkdir()
    (tmp_path / "p/config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([*SNAKEMAKE, "-n", "--nolock", "--quiet", "rules", "--configfile",
                           "config/demo.yaml", "--workflow-profile", str(tmp_path / "p")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
