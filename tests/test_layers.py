"""The package's layers, as each subpackage's docstring declares them ("May import: ..."), hold
for every import in the source, including those inside functions."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src/sharpminima"
LAYERS = ["core", "data", "nets", "training", "measures", "analysis", "figures", "cli"]


def declared(layer: str) -> set[str]:
    """The layers (or `layer.module`s) a layer's docstring says it may import, and itself."""
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text())) or ""
    match = re.search(r"May import: ([^.]*(?:\.\w+[^.]*)*)\.\s*(?:\(|$)", doc, re.S)
    allowed = {layer}
    if match and match.group(1).strip() != "nothing":
        allowed |= {item.strip() for item in re.split(r",|\band\b", match.group(1)) if item.strip()}
    return allowed


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import of sharpminima in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names
                      if node.module.startswith("sharpminima")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.startswith("sharpminima.")]
    return found


def allowed_edge(allowed: set[str], target: str) -> bool:
    parts = target.split(".")[1:]  # drop "sharpminima"
    if parts == ["__version__"]:  # from sharpminima import __version__
        return True
    return parts[0] in allowed or ".".join(parts[:2]) in allowed


def test_every_layer_declares_what_it_may_import():
    for layer in LAYERS:
        assert (PACKAGE / layer / "__init__.py").exists(), layer
        assert {item.split(".")[0] for item in declared(layer)} <= set(LAYERS), layer
    # the order is a chain: no layer may import one above it
    for i, layer in enumerate(LAYERS):
        above = set(LAYERS[i + 1:])
        assert not {d.split(".")[0] for d in declared(layer)} & above, layer


def test_no_module_sits_outside_a_layer():
    loose = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "__main__.py"}
    assert not loose


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_follow_the_declared_order(layer):
    allowed = declared(layer)
    bad = [f"{p.relative_to(PACKAGE)}:{line} imports {target}"
           for p in sorted((PACKAGE / layer).rglob("*.py")) for line, target in imports(p)
           if not allowed_edge(allowed, target)]
    assert not bad, f"{layer} may import only {sorted(allowed)}:\n" + "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path):
    """A planted upward import is caught (the test can fail)."""
    planted = tmp_path / "bad.py"
    planted.write_text("def f():\n    from sharpminima.figures import style\n")
    assert not all(allowed_edge(declared("measures"), t) for _, t in imports(planted))
