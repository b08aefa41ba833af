"""config/README.md documents every key of the schema, with the schema's default and its source.

Convention (config/README.md, paragraph "Reading the tables"): a key table is a Markdown table
whose header is `| key | default | unit | ... | source |` (further columns such as `meaning` are
free). Each row's first cell is one key's dotted path in backticks, with `<name>` for the entries
of a mapping (`nets.<name>.dataset`, `regimes.<name>.remedy.sam.rho`) and `<file>` for file names
(`datasets.<name>.checksums.<file>.md5`). The default cell holds the schema's default as YAML
(`0.0`, `null`, `true`, `border`, `[1e-3, 5e-4]`, `{}`; backticks allowed), or, for a key the schema
gives no default, a parenthesized phrase: `(required)` for a required key, else e.g.
`(unset: every example)`. The source cell names where the value comes from: `paper Sec. 2.2` (or
`paper Table 1`, `paper Fig. 4`, `paper App. E`, `paper Metric 2.1`), `ASSUMPTION` (the paper is
silent; we chose), or `beyond the paper`.

Which keys: every leaf of the schema, walked through `properties`, `allOf`, `$ref` and mappings
(`additionalProperties` / `patternProperties` whose values are objects). A bare `$ref` to a
definition that declares no defaults (`nets.<name>.train`, `regimes.<name>.train`,
`nets.<name>.remedy`) is an override block of keys documented where they get their defaults, so it
is one row. Object keys (`speed`, `regimes.<name>.remedy.augment`) may have a row too; any row must
name a key of the schema.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"

PLACEHOLDER = {"checksums": "<file>"}  # the entries of these mappings are files; others: <name>
SOURCE = re.compile(r"\bpaper (Secs?\.|Tables?|Figs?\.|App\.|Metric)|\bASSUMPTION\b|"
                    r"\bbeyond the paper\b", re.IGNORECASE)
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


# ---- the schema's keys --------------------------------------------------------------------------

def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        if k in out and isinstance(out[k], dict) and isinstance(v, dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _definition(root: dict, ref: str) -> dict:
    assert ref.startswith("#/"), ref
    node = root
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _has_defaults(root: dict, node, seen: frozenset = frozenset()) -> bool:
    """Whether a default appears in the node or in a definition it refers to."""
    if isinstance(node, dict):
        if "default" in node:
            return True
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen and _has_defaults(
                root, _definition(root, ref), seen | {ref}):
            return True
        return any(_has_defaults(root, v, seen) for k, v in node.items() if k != "$ref")
    if isinstance(node, list):
        return any(_has_defaults(root, v, seen) for v in node)
    return False


def _resolve(root: dict, node: dict) -> dict:
    """The node with its `$ref` and `allOf` parts merged in (the node's own keys win)."""
    out: dict = {}
    if "$ref" in node:
        out = _merge(out, _resolve(root, _definition(root, node["$ref"])))
    for part in node.get("allOf", []):
        out = _merge(out, _resolve(root, part))
    own = {k: v for k, v in node.items() if k not in ("$ref", "allOf")}
    return _merge(out, own)


def _mapping_values(node: dict) -> list[dict]:
    vals = []
    if isinstance(node.get("additionalProperties"), dict):
        vals.append(node["additionalProperties"])
    vals.extend(v for v in node.get("patternProperties", {}).values() if isinstance(v, dict))
    return vals


def schema_keys(root: dict) -> dict[str, dict]:
    """Dotted path -> {"leaf", "required", "has_default", "default"} for every key of the schema."""
    keys: dict[str, dict] = {}

    def walk(node: dict, prefix: str, required: bool) -> None:
        if prefix:
            bare_override = ("$ref" in node and "allOf" not in node
                             and not _has_defaults(root, _definition(root, node["$ref"])))
        else:
            bare_override = False
        res = _resolve(root, node)
        info = {"required": required, "has_default": "default" in res,
                "default": res.get("default"), "leaf": True}
        if prefix:
            keys[prefix] = info
        if bare_override:
            return
        props = res.get("properties", {})
        req = set(res.get("required", []))
        for name, sub in props.items():
            info["leaf"] = False
            walk(sub, f"{prefix}.{name}" if prefix else name, name in req)
        last = prefix.rsplit(".", 1)[-1]
        for sub in _mapping_values(res):
            if _resolve(root, sub).get("properties"):
                info["leaf"] = False
                ph = PLACEHOLDER.get(last, "<name>")
                walk(sub, f"{prefix}.{ph}" if prefix else ph, False)

    walk(root, "", False)
    return keys


# ---- the README's tables ------------------------------------------------------------------------

def _cells(line: str) -> list[str]:
    line = line.strip()
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in _CELL_SPLIT.split(line[1:-1])]


def doc_rows(text: str) -> tuple[list[dict], list[str]]:
    """Rows of the key tables ({"key", "default", "source", "line"}) and format problems."""
    rows, problems = [], []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not (line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", nxt)):
            i += 1
            continue
        header = [c.lower() for c in _cells(line)]
        i += 2
        body = []
        while i < len(lines) and lines[i].strip().startswith("|"):
            body.append((i + 1, lines[i]))
            i += 1
        if header[0] != "key":
            continue  # another kind of table (e.g. the TIMIT arrays)
        missing_cols = [c for c in ("default", "unit", "source") if c not in header]
        if missing_cols:
            problems.append(f"README line {body[0][0] - 2 if body else '?'}: key table without "
                            f"column(s) {missing_cols}")
            continue
        for lineno, raw in body:
            cells = _cells(raw)
            if len(cells) != len(header):
                problems.append(f"README line {lineno}: {len(cells)} cells, header has "
                                f"{len(header)}")
                continue
            m = re.fullmatch(r"`([^`]+)`", cells[0])
            if not m:
                problems.append(f"README line {lineno}: first cell {cells[0]!r} is not one "
                                f"backticked key path")
                continue
            rows.append({"key": m.group(1), "default": cells[header.index("default")],
                         "source": cells[header.index("source")], "line": lineno})
    return rows, problems


def _numbers(value):
    if isinstance(value, str) and _FLOAT.match(value):
        return float(value)  # YAML 1.1 reads 1e-3 as a string
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    return value


def parse_default(cell: str):
    """The value of a default cell (YAML, backticks dropped); raises ValueError."""
    text = cell.replace("`", "").strip()
    if not text:
        raise ValueError("empty default cell")
    try:
        return _numbers(yaml.safe_load(text))
    except yaml.YAMLError as e:
        raise ValueError(f"default {cell!r} is not YAML: {e}") from None


def same(a, b) -> bool:
    """Equal as configuration values: numbers by value (10 == 10.0), but a bool is not a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def check(schema: dict, text: str) -> list[str]:
    """Every problem of the documentation `text` against `schema` (empty: all documented)."""
    keys = schema_keys(schema)
    rows, problems = doc_rows(text)
    seen: dict[str, int] = {}
    for row in rows:
        key, where = row["key"], f"README line {row['line']} `{row['key']}`"
        if key in seen:
            problems.append(f"{where}: documented twice (first at line {seen[key]})")
            continue
        seen[key] = row["line"]
        if key not in keys:
            problems.append(f"{where}: not a key of the schema")
            continue
        info, cell = keys[key], row["default"]
        if info["has_default"]:
            try:
                value = parse_default(cell)
            except ValueError as e:
                problems.append(f"{where}: {e}")
            else:
                if not same(value, info["default"]):
                    problems.append(f"{where}: documented default {cell!r} but the schema's is "
                                    f"{info['default']!r}")
        else:
            bare = cell.replace("`", "").strip()
            if info["required"] and bare != "(required)":
                problems.append(f"{where}: required by the schema, so the default cell must "
                                f"be (required), not {cell!r}")
            elif not info["required"] and not re.fullmatch(r"\((?!required\)).+\)", bare):
                problems.append(f"{where}: the schema has no default, so the cell must be a "
                                f"parenthesized phrase such as (unset: ...), not {cell!r}")
        if not SOURCE.search(row["source"]):
            problems.append(f"{where}: source {row['source']!r} names no paper section, "
                            f"ASSUMPTION or 'beyond the paper'")
    for key, info in keys.items():
        if info["leaf"] and key not in seen:
            problems.append(f"`{key}`: no row in config/README.md")
    return problems


# ---- the tests ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text()


def test_every_schema_key_is_documented_with_the_schemas_default(schema, readme):
    problems = check(schema, readme)
    assert not problems, "config/README.md vs the schema:\n" + "\n".join(problems)


def test_the_walk_reaches_nested_mapped_and_remedy_keys(schema):
    keys = schema_keys(schema)
    leaves = {k for k, v in keys.items() if v["leaf"]}
    assert len(leaves) >= 100
    for key in ("scale", "seeds", "train.min_delta", "sharpness.eps", "hessian.tol",
                "landscape.eval_chunk", "protocol.fit_tolerance_pts", "speed.tf32",
                "nets.<name>.dataset", "nets.<name>.train", "nets.<name>.remedy",
                "regimes.<name>.batch_fraction", "regimes.<name>.batch_schedule",
                "regimes.<name>.train", "regimes.<name>.remedy.augment.padding",
                "regimes.<name>.remedy.sam.rho", "batch_sweep.batch_sizes",
                "warm_start.sb_epochs", "sharpness_along_training.epochs",
                "gradient_noise.scale.chunk", "datasets.<name>.path",
                "datasets.<name>.checksums.<file>.md5"):
        assert key in leaves, key
    assert keys["train.min_delta"]["default"] == 0.0
    assert keys["regimes.<name>.remedy.augment.translate"]["default"] == 0.2
    assert keys["seeds"]["required"] and keys["nets.<name>.dataset"]["required"]
    assert not keys["nets.<name>.train_size"]["has_default"]
    # override blocks are one row, not a copy of the keys documented with their defaults
    assert not any(k.startswith(("nets.<name>.train.", "regimes.<name>.train.",
                                 "nets.<name>.remedy.")) for k in keys)
    assert not keys["regimes.<name>.remedy"]["leaf"] and not keys["speed"]["leaf"]


def test_default_cells_parse_as_yaml_values():
    assert parse_default("`0.0`") == 0.0
    assert parse_default("1e-8") == 1.0e-8
    assert parse_default("[1e-3, 5e-4]") == [1.0e-3, 5.0e-4]
    assert parse_default("`[full, subspace]`") == ["full", "subspace"]
    assert parse_default("null") is None and parse_default("true") is True
    assert parse_default("{}") == {} and parse_default("`border`") == "border"
    assert same(10, 10.0) and not same(True, 1) and not same(None, "null")
    assert not same([0.9, 0.999], [0.9, 0.99])


PLANTED_SCHEMA = {
    "type": "object",
    "required": ["seeds"],
    "definitions": {"opts": {"type": "object", "properties": {"lam": {"type": "number"}}},
                    "with_defaults": {"allOf": [{"$ref": "#/definitions/opts"}],
                                      "properties": {"lam": {"default": 1.0}}}},
    "properties": {
        "seeds": {"type": "array"},
        "train": {"type": "object", "default": {},
                  "properties": {"min_delta": {"type": "number", "default": 0.0},
                                 "bn": {"enum": ["batch", "running"], "default": "batch"}}},
        "nets": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"size": {"type": ["integer", "null"]},
                                             "remedy": {"$ref": "#/definitions/opts"}}}},
        "regimes": {"type": "object",
                    "additionalProperties": {"properties": {
                        "remedy": {"$ref": "#/definitions/with_defaults"}}}},
    },
}

PLANTED_GOOD = """\
| key | default | unit | meaning | source |
|---|---|---|---|---|
| `seeds` | (required) | — | random starts | paper Sec. 2.2 |
| `train.min_delta` | 0.0 | relative | counts as improving | ASSUMPTION |
| `train.bn` | `batch` | — | BN statistics \\| mode | paper Table 1 |
| `nets.<name>.size` | (unset: all) | examples | first N | beyond the paper |
| `nets.<name>.remedy` | (unset: none) | — | per-net overrides | ASSUMPTION |
| `regimes.<name>.remedy.lam` | 1 | — | lambda | paper App. E |
"""


def test_the_checker_passes_a_complete_doc_and_fails_planted_errors():
    assert check(PLANTED_SCHEMA, PLANTED_GOOD) == []

    def problems(old: str, new: str) -> str:
        assert old in PLANTED_GOOD
        found = check(PLANTED_SCHEMA, PLANTED_GOOD.replace(old, new))
        assert found, f"planted {new!r} went unnoticed"
        return "\n".join(found)

    # a key without a row
    assert "`train.bn`: no row" in problems(
        "| `train.bn` | `batch` | — | BN statistics \\| mode | paper Table 1 |\n", "")
    # a wrong default (the one config/README.md used to have)
    assert "documented default '0.01'" in problems("| 0.0 | relative", "| 0.01 | relative")
    assert "documented default '1.5'" in problems("| 1 | — | lambda", "| 1.5 | — | lambda")
    # a default where the schema has none, and a missing (required)
    assert "parenthesized" in problems("(unset: all)", "all")
    assert "(required)" in problems("(required)", "(none)")
    # no source marker
    assert "names no paper section" in problems("| beyond the paper |", "| Li et al. |")
    # a row for a key the schema does not have, and a duplicate row
    assert "not a key of the schema" in problems("`nets.<name>.size`", "`nets.<name>.sizes`")
    assert "documented twice" in problems(
        "| `seeds` | (required) | — | random starts | paper Sec. 2.2 |\n",
        "| `seeds` | (required) | — | random starts | paper Sec. 2.2 |\n" * 2)
    # a key table without the source column
    assert "without column" in problems("| unit | meaning | source |", "| unit | meaning | src |")


def test_the_checker_fails_on_the_real_readme_with_a_planted_error(schema, readme):
    row = next(line for line in readme.splitlines() if line.startswith("| `train.min_delta` |"))
    wrong = row.replace("| 0.0 |", "| 0.01 |", 1)
    assert wrong != row
    found = check(schema, readme.replace(row, wrong))
    assert any("`train.min_delta`" in p and "0.01" in p for p in found), found
    row = next(line for line in readme.splitlines() if line.startswith("| `sharpness.eps` |"))
    found = check(schema, readme.replace(row + "\n", ""))
    assert "`sharpness.eps`: no row in config/README.md" in found, found
