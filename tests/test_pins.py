"""pyproject, requirements.lock and environment.yml must pin the same versions."""

import re
import tomllib

import yaml

from conftest import ROOT


def _pins(lines):
    out = {}
    for line in lines:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)\s*", line)
        if m:
            out[m.group(1).lower().split("[")[0]] = m.group(2)
    return out


def test_pyproject_pins_are_exact():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert deps and all("==" in d for d in deps), deps


def _project_pins() -> dict:
    """The runtime pins plus the test extra's (the environments a user creates hold both)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _pins(project["dependencies"] + project["optional-dependencies"]["test"])


def test_pytest_is_not_a_runtime_dependency():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.startswith("pytest")]


def test_environment_yml_matches_pyproject():
    project = _project_pins()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == project
    assert "python=3.11" in env["dependencies"]


def test_lock_contains_every_top_level_pin():
    project = _project_pins()
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    for name, version in project.items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"
    assert lock["torch"] == "2.13.0"
