"""Hash the code of one function and every definition it uses, without importing its module.

Snakemake's "code" rerun trigger sees only a rule's shell command, not the Python behind it. Figure
rules pass `code_hash("sharpminima.figures.paths", "fig3")` as a param instead, so that editing fig3
(or a helper it calls, or the shared style) reruns exactly the figures that depend on it. The hash
is of `ast.unparse`, so comments and formatting do not count; docstrings do.

A definition's dependencies are the module-level names it uses, followed transitively, and across
modules of the same top-level package: a name imported with `from pkg.x import name` leads to
`name`'s definition in pkg.x, and a module imported with `from pkg import x` leads to the `x.attr`
definitions used. Imports at the top of a module and inside the definition both count; modules
outside the package (numpy, matplotlib, ...) are not followed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def _parsed(module: str) -> tuple[dict[str, ast.AST], dict[str, tuple[str, str | None]]]:
    """A module's top-level definitions by name, and its top-level imports: alias -> (module,
    name), name None for an imported module."""
    origin = _origin(module)
    if origin is None:
        raise ModuleNotFoundError(module)
    tree = ast.parse(origin.read_text(encoding="utf-8"))
    defs, imports = {}, {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = node
        elif isinstance(node, ast.ImportFrom):
            imports.update(_imports(node, module))
    return defs, imports


def _definitions(module: str) -> dict[str, ast.AST]:
    """Top-level functions, classes and assignments of a module's source, by name."""
    return _parsed(module)[0]


def _clear() -> None:
    _parsed.cache_clear()
    _origin.cache_clear()


_definitions.cache_clear = _clear  # the caches of the source: clear them with either name


@lru_cache(maxsize=None)
def _origin(module: str) -> Path | None:
    """The source file of a module, found on disk: only the top-level package is looked up by
    the import system (no module of the package is executed)."""
    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None:
        return None
    if not parts:
        return Path(spec.origin) if spec.origin else None
    dirs = [Path(d) for d in (spec.submodule_search_locations or [])]
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found = None
        for d in dirs:
            if (d / part / "__init__.py").is_file():
                found = d / part
                break
            if last and (d / f"{part}.py").is_file():
                return d / f"{part}.py"
        if found is None:
            return None
        if last:
            return found / "__init__.py"
        dirs = [found]
    return None


def _is_module(name: str) -> bool:
    return _origin(name) is not None


def _imports(node: ast.ImportFrom, module: str) -> dict[str, tuple[str, str | None]]:
    """alias -> (module, name or None) of one `from ... import ...` inside `module`'s package."""
    if node.level:  # relative: resolve against the importing module's package
        base = module.rsplit(".", node.level)[0]
        source = f"{base}.{node.module}" if node.module else base
    else:
        source = node.module or ""
    if source.split(".")[0] != module.split(".")[0]:
        return {}
    out = {}
    for a in node.names:
        if a.name == "*":
            continue
        sub = f"{source}.{a.name}"
        out[a.asname or a.name] = (sub, None) if _is_module(sub) else (source, a.name)
    return out


def _resolve(module: str, name: str, seen: frozenset = frozenset()) -> tuple[str, str] | None:
    """Where `name` of `module` is defined: (module, name), following re-exports; None if
    nowhere."""
    defs, imports = _parsed(module)
    if name in defs:
        return module, name
    target = imports.get(name)
    if target is None or target[1] is None or (module, name) in seen:
        return None
    return _resolve(target[0], target[1], seen | {(module, name)})


def _uses(module: str, node: ast.AST) -> set[tuple[str, str]]:
    """The (module, name) definitions one definition uses directly."""
    defs, imports = _parsed(module)
    local = {}
    for n in ast.walk(node):
        if isinstance(n, ast.ImportFrom):
            local.update(_imports(n, module))
    imports = {**imports, **local}
    used = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            target = imports.get(n.id) if n.id not in defs or n.id in local else None
            if n.id in defs and n.id not in local:
                used.add((module, n.id))
            elif target is not None and target[1] is not None:
                used.add(_resolve(*target) or target)
        elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
            target = imports.get(n.value.id)
            if target is not None and target[1] is None:
                found = _resolve(target[0], n.attr)
                if found:
                    used.add(found)
    return {u for u in used if u[1] in _parsed(u[0])[0]}


def _closure(module: str, name: str) -> list[tuple[str, str]]:
    """(module, name) of `name` and of every definition it reaches, sorted; cycles are safe."""
    if name not in _definitions(module):
        raise KeyError(f"{module} defines no {name!r}")
    seen, todo = set(), [(module, name)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += sorted(_uses(current[0], _parsed(current[0])[0][current[1]]) - seen)
    return sorted(seen)


def dependencies(module: str, name: str) -> list[str]:
    """`name` and every definition it reaches through the names it uses: plain names for those of
    `module`, "other.module:name" for those of other modules, sorted."""
    return sorted(n if m == module else f"{m}:{n}" for m, n in _closure(module, name))


def code_hash(module: str, name: str) -> str:
    digest = hashlib.sha256()
    for m, n in _closure(module, name):
        digest.update(ast.unparse(_parsed(m)[0][n]).encode())
    return digest.hexdigest()[:16]
