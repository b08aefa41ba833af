"""The layout of a run folder, in one place: `<run>/{model.pt, metrics.json, history.csv}` and
`<run>/iterates/epoch<e>.pt` for the iterates a run keeps, each with its records beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

ITERATES = "iterates"
_EPOCH = re.compile(r"^epoch(\d+)$")


def run_dir(path) -> Path:
    """The run folder of a file in it or in its iterates/ (model, iterate, or a record of either)."""  # noqa: E501 -- rewrapping changes the figure/sweep rules' code_hash
    folder = Path(path).parent
    return folder.parent if folder.name == ITERATES else folder


def iterate_epoch(path) -> int | None:
    """The epoch of a saved iterate (`<run>/iterates/epoch<e>.pt` or a record named after it),
    None for anything else."""
    path = Path(path)
    if path.parent.name != ITERATES:
        return None
    match = _EPOCH.match(path.name.split(".", 1)[0])
    return int(match.group(1)) if match else None


def eps_text(eps) -> str:
    """The one spelling of an eps value, in file names, labels and tables: 0.001, 0.0005, 1e-05."""
    return eps if isinstance(eps, str) else f"{float(eps):g}"


def metrics_path(path) -> Path:
    """The metrics.json of the run that `path` (a file of the run or of its iterates/) belongs to."""  # noqa: E501 -- as above: in the rules' code_hash
    return run_dir(path) / "metrics.json"


def read_metrics(path) -> dict:
    """The run record (metrics.json) of the run that `path` belongs to."""
    return json.loads(metrics_path(path).read_text())
