"""The one style of every figure of the project, and the helpers the figures share.

``style``/``styled``: seaborn "whitegrid" in the "paper" context, colorblind palette, one colour per
regime, solid = train and dashed = test, applied through ``matplotlib.rc_context`` so that drawing
a figure never changes global matplotlib state. Figures are built with ``matplotlib.figure.Figure``
(no pyplot, no GUI backend, nothing to close); ``save`` writes one as PNG + PDF atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from sharpminima.core.atomic import atomic_path

SCALE_LABELS = {"full": "full scale", "cpu": "CPU tier: full data, paper protocol",
                "demo": "DEMO scale", "tiny": "TINY test scale"}
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "cifar100": "CIFAR-100", "timit": "TIMIT"}
SPLIT_STYLES = {"train": "-", "test": "--"}
PALETTE = sns.color_palette("colorblind")
REGIME_COLORS = {"SB": PALETTE[0], "LB": PALETTE[3]}
LOSS_COLOR, ACC_COLOR = PALETTE[0], PALETTE[3]  # Fig. 3/7 axes (the authors' blue / red)
LOSS_LABEL = "cross-entropy (nats)"
ACC_LABEL = "accuracy (%)"
DPI = 150


def style() -> dict:
    """The rc parameters of every figure of the project."""
    return {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.15),
            "axes.prop_cycle": mpl.cycler(color=PALETTE), "figure.dpi": DPI,
            "savefig.dpi": DPI, "legend.frameon": True, "legend.framealpha": 0.9}


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Apply the project style while a figure is being built (rc state restored on exit)."""
    with mpl.rc_context(style()):
        yield


def regime_color(regime: str, order: Sequence[str] = ()):
    """SB blue and LB red everywhere; any other regime the next free palette colour."""
    if regime in REGIME_COLORS:
        return REGIME_COLORS[regime]
    others = [r for r in order if r not in REGIME_COLORS]
    i = others.index(regime) if regime in others else 0
    return PALETTE[(1, 2, 4, 5, 6, 8, 9)[i % 7]]


def regime_order(regimes: Iterable[str]) -> list[str]:
    """SB, LB first (the paper's order), then any other regime alphabetically."""
    regimes = set(regimes)
    return [r for r in ("SB", "LB") if r in regimes] + sorted(regimes - {"SB", "LB"})


def dataset_name(dataset: str) -> str:
    return DATASET_NAMES.get(dataset, dataset)


def title(what: str, net: str, dataset: str, scale: str) -> str:
    """The title of every figure: what it shows, the net, its data and the scale of the run."""
    return f"{what}\n{net} on {dataset_name(dataset)} ({SCALE_LABELS.get(scale, scale)})"


def single(df: pd.DataFrame, column: str) -> str:
    """The one value of `column` in a figure's frame (a figure is of one net, one dataset...)."""
    values = df[column].dropna().unique() if column in df else []
    if len(values) != 1:
        raise ValueError(f"expected one {column} in the frame, got {list(values)}")
    return str(values[0])


# ----------------------------------------------------------------------------------- ticks

def readable_log_ticks(ax) -> None:
    """Plain-number tick labels on a log axis (0.1, 0.2, 0.5, 1 rather than 10^-1 and nothing),
    1-2-5 ticks when the axis spans less than two decades."""
    if ax.get_yscale() != "log":
        return
    lo, hi = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if hi / lo < 100 else (1.0,)
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())


def log_if_positive(ax, values, axis: str = "y") -> None:
    """A log axis when the values are positive and span more than a factor 5, with plain-number
    tick labels (0.1, 0.2, 0.5, 1, ... rather than powers of ten)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if not (len(values) and (values > 0).all() and values.max() / values.min() > 5):
        return
    if axis == "y":
        ax.set_yscale("log")
        ax.set_ylim(values.min() / 1.3, values.max() * 1.3)
        readable_log_ticks(ax)
    else:
        ax.set_xscale("log")
        subs = (1.0, 2.0, 5.0) if values.max() / values.min() < 100 else (1.0,)
        ax.xaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=subs))
        ax.xaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())


def nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 values per decade inside [lo, hi] (only powers of ten when that gives >= 3 ticks)."""
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for subs in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [m * 10.0 ** e for e in decades for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            return ticks
    return [lo, hi]


def integer_epochs(ax) -> None:
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def int_log2_ticks(ax, values) -> None:
    ax.set_xscale("log", base=2)
    ticks = sorted(set(int(v) for v in values))
    ax.set_xticks(ticks, labels=[f"{t:d}" for t in ticks], rotation=45 if len(ticks) > 6 else 0)
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())


# ----------------------------------------------------------------------------------- output

def not_measured(kind: str, stem: str | Path) -> Figure:
    """The figure of a job whose inputs were all "not measured" (e.g. a diverged run)."""
    with styled():
        fig = Figure(figsize=(6, 2), layout="constrained")
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, f"{Path(stem).name}: not measured\n(every input run diverged; see the "
                "report's 'Diverged runs')", ha="center", va="center")
    return fig


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write `stem`.png and `stem`.pdf, each atomically; PDF bytes do not depend on the date."""
    out = []
    for ext, metadata in (("png", None), ("pdf", {"CreationDate": None})):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, metadata=metadata)
        out.append(path)
    return out
