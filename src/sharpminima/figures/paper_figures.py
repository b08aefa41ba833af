"""The paper's figures (2, 3, 7) and the 2-D loss slices: tidy DataFrame in, matplotlib Figure out.

Presentation only: these functions never read checkpoints and never compute a loss. The readers at
the bottom turn the compute stages' small CSV records into the tidy frames the figures take, and
``save`` writes a figure as PNG + PDF atomically.

One style everywhere (``style``/``styled``: seaborn "whitegrid" in the "paper" context, colorblind
palette, one colour per regime, solid = train and dashed = test), applied through
``matplotlib.rc_context`` so that drawing a figure never changes global matplotlib state. Figures
are built with ``matplotlib.figure.Figure`` (no pyplot, no GUI backend, nothing to close).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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


# ----------------------------------------------------------------------------------- style

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


def _single(df: pd.DataFrame, column: str) -> str:
    values = df[column].dropna().unique() if column in df else []
    if len(values) != 1:
        raise ValueError(f"expected one {column} in the frame, got {list(values)}")
    return str(values[0])


# ----------------------------------------------------------------------------------- Fig. 2

def fig2(df: pd.DataFrame, scale: str) -> Figure:
    """Train and test accuracy vs epoch, one colour per regime, mean over seeds with a +-1 sd band.

    `df`: tidy rows net, dataset, regime, seed, epoch, split (train/test), accuracy (fraction);
    optional batch_size. Runs that stopped early drop out of the mean after their last epoch (the
    legend gives the number of seeds, n).
    """
    net, dataset = _single(df, "net"), _single(df, "dataset")
    order = regime_order(df["regime"].unique())
    with styled():
        fig = Figure(figsize=(6.4, 4.4), layout="constrained")
        ax = fig.add_subplot()
        for regime in order:
            g = df[df["regime"] == regime]
            n = g["seed"].nunique()
            batch = (f", batch {int(g['batch_size'].iloc[0])}"
                     if "batch_size" in g and g["batch_size"].notna().any() else "")
            for split in ("train", "test"):
                s = g[g["split"] == split].groupby("epoch")["accuracy"]
                mean, sd = s.mean() * 100, s.std(ddof=1).fillna(0.0) * 100
                color = regime_color(regime, order)
                ax.plot(mean.index, mean.values, SPLIT_STYLES[split], color=color,
                        label=f"{regime}{batch}: {split} (n={n})")
                ax.fill_between(mean.index, (mean - sd).values, (mean + sd).values, color=color,
                                alpha=0.2, linewidth=0)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(ACC_LABEL)
        ax.set_title(title("Fig. 2: accuracy during training (mean ± 1 sd over seeds)", net,
                           dataset, scale))
        fig.legend(loc="outside lower center", ncols=len(order), fontsize="small")
    return fig


# ----------------------------------------------------------------------------------- Fig. 3 / 7

PATH_TEXT = {
    "linear": ("Fig. 3: linear interpolation", r"$\alpha$   (point $\alpha\,x_{LB} + (1-\alpha)\,x_{SB}$)"),
    "curvilinear": ("Fig. 7: curvilinear path",
                    r"$\alpha$   (point $\sin(\alpha\pi/2)\,x_{LB} + \cos(\alpha\pi/2)\,x_{SB}$)"),
}


def parametric(df: pd.DataFrame, scale: str, path: str | None = None,
               loss_scale: str = "log") -> Figure:
    """Cross-entropy (left axis) and accuracy (right axis) along a path from x_SB (alpha = 0) to
    x_LB (alpha = 1); solid = train, dashed = test.

    `df`: tidy rows net, dataset, seed, path, alpha, split, loss (nats), accuracy (fraction); if
    it holds several paths, `path` picks one. `loss_scale`: "log" (default: the loss spans orders
    of magnitude between the minimizers and the ends of the range) or "linear" (the authors' code).
    """
    if path is None:
        path = _single(df, "path")
    df = df[df["path"] == path] if "path" in df else df
    net, dataset, seed = _single(df, "net"), _single(df, "dataset"), _single(df, "seed")
    what, xlabel = PATH_TEXT[path]
    with styled():
        fig = Figure(figsize=(6.4, 4.4), layout="constrained")
        ax = fig.add_subplot()
        ax2 = ax.twinx()
        ax2.grid(False)
        for split in ("train", "test"):
            s = df[df["split"] == split].sort_values("alpha")
            ax.plot(s["alpha"], s["loss"], SPLIT_STYLES[split], color=LOSS_COLOR,
                    label=f"cross-entropy, {split}", marker="o", markersize=2.5)
            ax2.plot(s["alpha"], s["accuracy"] * 100, SPLIT_STYLES[split], color=ACC_COLOR,
                     label=f"accuracy, {split}", marker="o", markersize=2.5)
        positive = bool((df["loss"] > 0).all())
        ax.set_yscale("log" if loss_scale == "log" and positive else "linear")
        ax.set_ylabel(LOSS_LABEL + (", log scale" if ax.get_yscale() == "log" else ""),
                      color=LOSS_COLOR)
        ax.tick_params(axis="y", colors=LOSS_COLOR)
        ax2.set_ylabel(ACC_LABEL, color=ACC_COLOR)
        ax2.tick_params(axis="y", colors=ACC_COLOR)
        ax2.set_ylim(-2, 102)
        ax.set_xlabel(xlabel)
        for x, name in ((0.0, "SB"), (1.0, "LB")):
            ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
            ax.text(x, 1.01, name, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize="small", color="0.3")
        _readable_log_ticks(ax)
        handles = [Line2D([], [], color=c, linestyle=SPLIT_STYLES[s], label=f"{what_}, {s}")
                   for what_, c in (("cross-entropy", LOSS_COLOR), ("accuracy", ACC_COLOR))
                   for s in ("train", "test")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
        bn = f"; BN {_single(df, 'bn')} statistics" if "bn" in df else ""
        ax.set_title(title(f"{what}, seed {seed}{bn}", net, dataset, scale), pad=14)
    return fig


def _readable_log_ticks(ax) -> None:
    """Plain-number tick labels on a log axis (0.1, 0.2, 0.5, 1 rather than 10^-1 and nothing),
    1-2-5 ticks when the axis spans less than two decades."""
    if ax.get_yscale() != "log":
        return
    lo, hi = ax.get_ylim()
    subs = (1.0, 2.0, 5.0) if hi / lo < 100 else (1.0,)
    ax.yaxis.set_major_locator(mpl.ticker.LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(mpl.ticker.NullFormatter())


def fig3(df: pd.DataFrame, scale: str, **kwargs) -> Figure:
    """Paper Fig. 3: f(alpha x_LB + (1 - alpha) x_SB)."""
    return parametric(df, scale, "linear", **kwargs)


def fig7(df: pd.DataFrame, scale: str, **kwargs) -> Figure:
    """Paper Fig. 7 (appendix): f(sin(alpha pi/2) x_LB + cos(alpha pi/2) x_SB)."""
    return parametric(df, scale, "curvilinear", **kwargs)


# ----------------------------------------------------------------------------------- 2-D slices

def _levels(values: np.ndarray, count: int = 16) -> tuple[np.ndarray, Normalize]:
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo > 10:
        return np.geomspace(lo, hi, count), LogNorm(lo, hi)
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-6, 1e-12)
    return np.linspace(lo, hi, count), Normalize(lo, hi)


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 values per decade inside [lo, hi] (only powers of ten when that gives >= 3 ticks)."""
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for subs in ((1.0,), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)):
        ticks = [m * 10.0 ** e for e in decades for m in subs if lo <= m * 10.0 ** e <= hi]
        if len(ticks) >= 3:
            return ticks
    return [lo, hi]


def slice2d(df: pd.DataFrame, scale: str, value: str = "loss") -> Figure:
    """Contours of the training loss on the 2-D slice around each minimizer, one panel per regime
    (SB, LB side by side), ONE colour scale shared by all panels (log when the range spans more
    than a decade), so a sharper minimizer shows as tighter contours around its centre.

    `df`: tidy rows net, dataset, regime, seed, x, y, split, loss, accuracy.
    """
    net, dataset = _single(df, "net"), _single(df, "dataset")
    df = df[df["split"] == "train"] if "split" in df else df
    order = regime_order(df["regime"].unique())
    levels, norm = _levels(df[value].to_numpy(dtype=float))
    label = LOSS_LABEL if value == "loss" else ACC_LABEL
    with styled():
        fig = Figure(figsize=(4.2 * len(order) + 1.2, 4.4), layout="constrained")
        axes = fig.subplots(1, len(order), sharex=True, sharey=True, squeeze=False)[0]
        cs = None
        for ax, regime in zip(axes, order):
            g = df[df["regime"] == regime].pivot_table(index="y", columns="x", values=value,
                                                      aggfunc="first")
            z = np.ma.masked_invalid(g.to_numpy(dtype=float))
            xs, ys = g.columns.to_numpy(dtype=float), g.index.to_numpy(dtype=float)
            cs = ax.contourf(xs, ys, z, levels=levels, norm=norm, cmap="viridis", extend="both")
            ax.contour(xs, ys, z, levels=levels, norm=norm, colors="white", linewidths=0.4,
                       alpha=0.6)
            ax.plot([0], [0], marker="+", color="white", markersize=10, markeredgewidth=1.5)
            center = df[(df["regime"] == regime) & (df["x"] == 0) & (df["y"] == 0)][value]
            at = f", centre {center.iloc[0]:.3g}" if len(center) else ""
            seed = df.loc[df["regime"] == regime, "seed"].iloc[0] if "seed" in df else "?"
            ax.set_title(f"{regime} minimizer (seed {seed}{at})")
            ax.set_xlabel(r"step along $d_1$ (filter-normalized)")
            ax.grid(False)
            ax.set_aspect("equal")
        axes[0].set_ylabel(r"step along $d_2$ (filter-normalized)")
        cbar = fig.colorbar(cs, ax=list(axes), shrink=0.9)
        cbar.set_label(f"train {label}" + (", log scale" if isinstance(norm, LogNorm) else ""))
        if isinstance(norm, LogNorm):
            ticks = _nice_log_ticks(norm.vmin, norm.vmax)
            cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        fig.suptitle(title("2-D loss slices around the minimizers (shared colour scale)", net,
                           dataset, scale))
    return fig


def not_measured(kind: str, stem: str | Path) -> Figure:
    """The figure of a job whose inputs were all "not measured" (e.g. a diverged run)."""
    with styled():
        fig = Figure(figsize=(6, 2), layout="constrained")
        ax = fig.add_subplot()
        ax.axis("off")
        ax.text(0.5, 0.5, f"{Path(stem).name}: not measured\n(every input run diverged; see the "
                "report's 'Diverged runs')", ha="center", va="center")
    return fig


FIGURES = {"fig2": fig2, "fig3": fig3, "fig7": fig7, "slice2d": slice2d}


# ----------------------------------------------------------------------------------- records -> frames

def read_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    """history.csv files of trained runs (with their metrics.json beside them) -> one tidy frame:
    net, dataset, regime, seed, batch_size, epoch, split, accuracy, loss."""
    frames = []
    for p in paths:
        p = Path(p)
        meta = json.loads((p.parent / "metrics.json").read_text())
        h = pd.read_csv(p)
        for split in ("train", "test"):
            frames.append(pd.DataFrame({
                "net": meta["net"], "dataset": meta["dataset"], "regime": meta["regime"],
                "seed": meta["seed"], "batch_size": h["batch_size"], "epoch": h["epoch"],
                "split": split, "accuracy": h[f"{split}_acc"], "loss": h[f"{split}_loss"]}))
    return pd.concat(frames, ignore_index=True)


def read_inputs(kind: str, paths: Sequence[str | Path]) -> pd.DataFrame:
    """The tidy frame figure `kind` takes, from the compute stages' records."""
    if kind == "fig2":
        return read_histories(paths)
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def save(fig: Figure, stem: str | Path) -> list[Path]:
    """Write `stem`.png and `stem`.pdf, each atomically; PDF bytes do not depend on the date."""
    out = []
    for ext, metadata in (("png", None), ("pdf", {"CreationDate": None})):
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI, metadata=metadata)
        out.append(path)
    return out
