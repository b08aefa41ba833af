"""Hash the code of one function and the module-level names it uses, without importing the module.

Snakemake's "code" rerun trigger sees only a rule's shell command, not the Python behind it. Figure
rules pass `code_hash("sharpminima.figures.paper_figures", "fig3")` as a param instead, so that editing fig3 (or a
helper it calls, or the shared style) reruns exactly the figures that depend on it. The hash is of
`ast.unparse`, so comments and formatting do not count; docstrings do.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache


@lru_cache(maxsize=None)
def _definitions(module: str) -> dict[str, ast.AST]:
    """Top-level functions, classes and assignments of a module's source, by name."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(module)
    tree = ast.parse(open(spec.origin, encoding="utf-8").read())
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = node
    return defs


def dependencies(module: str, name: str) -> list[str]:
    """`name` and every module-level definition it reaches through the names it uses."""
    defs = _definitions(module)
    if name not in defs:
        raise KeyError(f"{module} defines no {name!r}")
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        used = {n.id for n in ast.walk(defs[current]) if isinstance(n, ast.Name)}
        todo += sorted(used & defs.keys() - seen)
    return sorted(seen)


def code_hash(module: str, name: str) -> str:
    defs = _definitions(module)
    digest = hashlib.sha256()
    for dep in dependencies(module, name):
        digest.update(ast.unparse(defs[dep]).encode())
    return digest.hexdigest()[:16]
