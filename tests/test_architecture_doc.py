"""docs/architecture.md stays true: every module is in its map, and every rule, module and
function its "where does this number come from" table names exists."""

import ast
import re

from conftest import ROOT

DOC = (ROOT / "docs/architecture.md").read_text()
PACKAGE = ROOT / "src/sharpminima"


def test_every_module_is_on_the_map():
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
               if p.name != "__init__.py" and p.parent != PACKAGE and "remedies" not in p.parts}
    missing = sorted(m for m in modules if f"`{m}`" not in DOC)
    assert not missing


def test_every_named_function_exists():
    named = re.findall(r"`((?:analysis|figures|measures|training|nets|data|core|cli)/\w+\.py): "
                       r"(\w+)`", DOC)
    assert len(named) > 20
    for module, function in named:
        tree = ast.parse((PACKAGE / module).read_text())
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        assert function in defined, f"{module} defines no {function}"
    # the ", other" names after a first one (e.g. `figures/paths.py: fig3`, `fig7`)
    for module, rest in re.findall(r"`(\w+/\w+\.py): \w+`((?:, `\w+`)+)", DOC):
        tree = ast.parse((PACKAGE / module).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        for function in re.findall(r"`(\w+)`", rest):
            assert function in defined, f"{module} defines no {function}"


def test_every_named_rule_exists():
    rules = set(re.findall(r"^rule (\w+):", "".join(
        p.read_text() for p in (ROOT / "workflow/rules").glob("*.smk")), re.M))
    named = set(re.findall(r"`rule (\w+)`", DOC))
    where = DOC.split("## Where does this number come from")[1]
    table = set(re.findall(r"^\| [^|]+ \| `(\w+)`", where, re.M))
    assert named and table and (named | table) <= rules, (named | table) - rules
