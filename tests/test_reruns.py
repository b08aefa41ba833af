"""Partial reruns: after a complete tiny run, changing one thing plans only what depends on it.

Every case is a dry run of the real Snakefile on a modified copy of the tiny config (or of the
package source), so the completed run itself is never altered.
"""

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from workflow_helpers import planned_outputs, write_config

pytestmark = pytest.mark.integration


def changed_config(tiny_run, tmp_path, edit) -> "Path":
    _, config, _ = tiny_run
    cfg = yaml.safe_load(config.read_text())
    edit(cfg)
    return write_config(tmp_path / "changed.yaml", cfg)


def test_nothing_changed_plans_nothing(tiny_run):
    work, config, _ = tiny_run
    assert planned_outputs(work, config) == {}


def test_lb_batch_fraction_reruns_only_lb_and_downstream(tiny_run, tmp_path):
    work, _, _ = tiny_run
    config = changed_config(tiny_run, tmp_path,
                            lambda c: c["regimes"]["LB"].update(batch_fraction=0.5))
    plan = planned_outputs(work, config)
    trained = [o for o in plan["train"] if o.endswith("metrics.json")]
    assert trained and all("/LB/" in o for o in trained)
    assert len(trained) == len(yaml.safe_load(config.read_text())["nets"]) * 2  # nets x seeds
    assert "fetch" not in plan and "prepare" not in plan
    for rule in ("sharpness", "hessian", "slice2d"):
        assert all("/LB/" in o for o in plan.get(rule, [])), rule
    assert not any("/SB/" in o for outs in plan.values() for o in outs)


def test_new_eps_reruns_only_its_sharpness_and_the_tables(tiny_run, tmp_path):
    work, _, _ = tiny_run

    def add_eps(c):
        c.setdefault("sharpness", {})["eps"] = c.get("sharpness", {}).get("eps", [1e-3]) + [2e-4]

    plan = planned_outputs(work, changed_config(tiny_run, tmp_path, add_eps))
    assert plan["sharpness"] and all("_eps0.0002.json" in o for o in plan["sharpness"])
    assert "train" not in plan and "hessian" not in plan and "landscape" not in plan
    assert {"sharpness_table"} <= set(plan)
    assert not any(r.startswith("fig") or r.startswith("slice") for r in plan)


def test_editing_one_figures_code_reruns_only_that_figure(tiny_run, tmp_path):
    work, config, _ = tiny_run
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src/sharpminima", src / "sharpminima")
    figures = src / "sharpminima/figures/paths.py"
    text = figures.read_text()
    marker = 'def fig3(df: pd.DataFrame, scale: str, **kwargs) -> Figure:\n'
    assert marker in text
    figures.write_text(text.replace(marker,
                                    marker + '    kwargs.setdefault("loss_scale", "log")\n'))
    plan = planned_outputs(work, config, env={"PYTHONPATH": str(src)})
    assert set(plan) == {"fig3", "report"}  # the report links every figure
