"""The figure kinds the `figure` verb draws: kind -> the module and function that draw it, and the
reader of each kind's inputs.

`MODULE_OF` is plain data (no plotting library is imported with this module), so the Snakemake
rules can hash each figure's code, `code_hash(MODULE_OF[kind], kind)`; `FIGURES[kind]` imports
the drawing function only when it is looked up. Every drawing function is named after its kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MODULE_OF: dict[str, str] = {
    "fig2": "sharpminima.figures.training",
    "fig3": "sharpminima.figures.paths",
    "fig7": "sharpminima.figures.paths",
    "slice2d": "sharpminima.figures.slices",
    "fig4": "sharpminima.figures.sweeps",
    "fig5": "sharpminima.figures.sweeps",
    "fig6": "sharpminima.figures.sweeps",
    "noise_spread": "sharpminima.figures.sweeps",
    "noise_scale": "sharpminima.figures.sweeps",
    "correlation": "sharpminima.figures.correlation",
}


class _Figures(Mapping):
    """kind -> drawing function (frame, scale) -> Figure, imported on lookup."""

    def __getitem__(self, kind: str):
        return getattr(importlib.import_module(MODULE_OF[kind]), kind)

    def __iter__(self) -> Iterator[str]:
        return iter(MODULE_OF)

    def __len__(self) -> int:
        return len(MODULE_OF)


FIGURES: Mapping = _Figures()


def read_inputs(kind: str, paths: Sequence[str | Path]) -> pd.DataFrame:
    """The tidy frame figure `kind` takes, from the compute stages' records."""
    import pandas as pd

    from sharpminima.analysis.records import read_histories
    if kind == "fig2":
        return read_histories(paths)
    if kind == "correlation":  # analysis.correlation.correlation_frame's CSV; '' = no remedy
        df = pd.concat([pd.read_csv(p, dtype={"remedy": str}) for p in paths], ignore_index=True)
        return df.assign(remedy=df["remedy"].fillna("")) if "remedy" in df else df
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def draw(kind: str, df: pd.DataFrame, scale: str, stem: str | Path):
    """Figure `kind` of `df`, or, when every input was "not measured" (an empty frame, e.g. a
    diverged run), a figure that says so."""
    from sharpminima.figures import style
    return FIGURES[kind](df, scale) if len(df) else style.not_measured(kind, stem)
