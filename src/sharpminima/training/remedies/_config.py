"""Parsing of one remedy's options: defaults from a dataclass, unknown keys rejected by name."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

T = TypeVar("T")


def parse(cls: type[T], name: str, options: dict | None) -> T:
    """Build the dataclass `cls` from a config mapping; an unknown key is a clear error."""
    options = {} if options is None else options
    if not isinstance(options, dict):
        raise ValueError(f"remedy {name!r}: options must be a mapping, got {options!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"remedy {name!r}: unknown option(s) {sorted(unknown)}; "
                         f"known: {sorted(known)}")
    obj = cls(**options)
    check = getattr(obj, "check", None)
    if check:
        check()
    return obj


def require(ok: bool, name: str, message: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"remedy {name!r}: {message} (got {value!r})")


def number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
