"""The configuration's own list of assumptions: every key its YAML comments mark ASSUMPTION.

config/config.yaml marks each value the paper leaves open with the word ASSUMPTION in a comment:
on the key's line, in a comment block right above the key, or in the continuation lines of a
comment (comment-only lines below it, or a following key line whose comment is indented, "#   ...",
and so continues the sentence; such a key shares the mark). The report's table of assumptions is
read from there, so marking a value in the config is the one way to list it.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MARK = "ASSUMPTION"
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")
_CONTINUES = re.compile(r"^# {2,}")  # "#   and flips ...": the sentence above goes on


class Assumption(NamedTuple):
    key: str  # dotted path in the config, e.g. train.lr
    value: object  # the value in the resolved config (None where it has no such key)
    comment: str  # the comment's text, its lines joined


def _comment(text: str) -> str | None:
    """The comment of a line's remainder (after a key or a value), None when it has none."""
    quote = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[i:]
    return None


def _text(comments: list[str]) -> str:
    return " ".join(c.lstrip("#").strip() for c in comments)


_ABSENT = object()


def config_value(config: dict, dotted: str, missing=None):
    """The value at a dotted key path of a config (`missing` where there is none)."""
    node = config
    for k in dotted.split("."):
        if not isinstance(node, dict) or k not in node:
            return missing
        node = node[k]
    return node


def _groups(lines: list[str]) -> list[tuple[list[str], list[str]]]:
    """(dotted keys, comment lines) per comment: a block above a key, or a key's comment with its
    continuation lines (and the keys whose comments continue it)."""
    groups, stack, block, current = [], [], [], None
    for line in lines:
        stripped = line.strip()
        if not stripped:
            block, current = [], None
            continue
        if stripped.startswith("#"):
            if current is not None and _CONTINUES.match(stripped) and not block:
                current[1].append(stripped)
            else:
                block.append(stripped)
                current = None
            continue
        match = _KEY.match(line)
        if not match:
            block, current = [], None
            continue
        indent, key = len(match["indent"]), match["key"]
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        dotted = ".".join(k for _, k in stack)
        if block:
            groups.append(([dotted], block))
            block = []
        comment = _comment(match["rest"])
        if comment and current is not None and _CONTINUES.match(comment):
            current[0].append(dotted)
            current[1].append(comment)
        elif comment:
            current = ([dotted], [comment])
            groups.append(current)
        else:
            current = None
    return groups


def annotated_assumptions(yaml_text: str, config: dict) -> list[Assumption]:
    """Every key of `yaml_text` (a configuration file) whose comment says ASSUMPTION, in file
    order, with its value in the resolved `config` and the comment's text. A key the resolved
    config lacks (e.g. a net this configuration does not declare) is not an assumption of it."""
    out = []
    for keys, comments in _groups(yaml_text.splitlines()):
        text = _text(comments)
        if MARK in text:
            values = [(k, config_value(config, k, _ABSENT)) for k in keys]
            out += [Assumption(k, v, text) for k, v in values if v is not _ABSENT]
    return out
