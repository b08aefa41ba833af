"""2-D loss slices around the SB and LB minimizers (beyond the paper: Li et al. 2018).

The frames are the landscape stage's slice records (sharpminima.measures.landscape.slice2d).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from sharpminima.figures.style import (
    ACC_LABEL,
    LOSS_LABEL,
    nice_log_ticks,
    regime_order,
    single,
    styled,
    title,
)


def _levels(values: np.ndarray, count: int = 16) -> tuple[np.ndarray, Normalize]:
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo > 10:
        return np.geomspace(lo, hi, count), LogNorm(lo, hi)
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-6, 1e-12)
    return np.linspace(lo, hi, count), Normalize(lo, hi)


def _panel(ax, df: pd.DataFrame, regime: str, value: str, levels, norm):
    """One regime's contours, its centre marked; returns the filled contour set."""
    g = df[df["regime"] == regime].pivot_table(index="y", columns="x", values=value,
                                              aggfunc="first")
    z = np.ma.masked_invalid(g.to_numpy(dtype=float))
    xs, ys = g.columns.to_numpy(dtype=float), g.index.to_numpy(dtype=float)
    cs = ax.contourf(xs, ys, z, levels=levels, norm=norm, cmap="viridis", extend="both")
    ax.contour(xs, ys, z, levels=levels, norm=norm, colors="white", linewidths=0.4, alpha=0.6)
    ax.plot([0], [0], marker="+", color="white", markersize=10, markeredgewidth=1.5)
    center = df[(df["regime"] == regime) & (df["x"] == 0) & (df["y"] == 0)][value]
    at = f", centre {center.iloc[0]:.3g}" if len(center) else ""
    seed = df.loc[df["regime"] == regime, "seed"].iloc[0] if "seed" in df else "?"
    ax.set_title(f"{regime} minimizer (seed {seed}{at})")
    ax.set_xlabel(r"step along $d_1$ (filter-normalized)")
    ax.grid(False)
    ax.set_aspect("equal")
    return cs


def slice2d(df: pd.DataFrame, scale: str, value: str = "loss") -> Figure:
    """Contours of the training loss on the 2-D slice around each minimizer, one panel per regime
    (SB, LB side by side), ONE colour scale shared by all panels (log when the range spans more
    than a decade), so a sharper minimizer shows as tighter contours around its centre.

    `df`: tidy rows net, dataset, regime, seed, x, y, split, loss, accuracy.
    """
    net, dataset = single(df, "net"), single(df, "dataset")
    df = df[df["split"] == "train"] if "split" in df else df
    order = regime_order(df["regime"].unique())
    levels, norm = _levels(df[value].to_numpy(dtype=float))
    label = LOSS_LABEL if value == "loss" else ACC_LABEL
    with styled():
        fig = Figure(figsize=(4.2 * len(order) + 1.2, 4.4), layout="constrained")
        axes = fig.subplots(1, len(order), sharex=True, sharey=True, squeeze=False)[0]
        cs = None
        for ax, regime in zip(axes, order):
            cs = _panel(ax, df, regime, value, levels, norm)
        axes[0].set_ylabel(r"step along $d_2$ (filter-normalized)")
        cbar = fig.colorbar(cs, ax=list(axes), shrink=0.9)
        cbar.set_label(f"train {label}" + (", log scale" if isinstance(norm, LogNorm) else ""))
        if isinstance(norm, LogNorm):
            ticks = nice_log_ticks(norm.vmin, norm.vmax)
            cbar.set_ticks(ticks, labels=[f"{t:g}" for t in ticks])
        fig.suptitle(title("2-D loss slices around the minimizers (shared colour scale)", net,
                           dataset, scale))
    return fig
