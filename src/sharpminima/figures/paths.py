"""Figs. 3 and 7 of the paper: the loss and accuracy along a path from x_SB to x_LB.

The frames are the landscape stage's CSV records (sharpminima.measures.landscape.parametric).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sharpminima.figures.style import (
    ACC_COLOR,
    ACC_LABEL,
    LOSS_COLOR,
    LOSS_LABEL,
    SPLIT_STYLES,
    readable_log_ticks,
    single,
    styled,
    title,
)

PATH_TEXT = {
    "linear": ("Fig. 3: linear interpolation",
               r"$\alpha$   (point $\alpha\,x_{LB} + (1-\alpha)\,x_{SB}$)"),
    "curvilinear": ("Fig. 7: curvilinear path",
                    r"$\alpha$   (point $\sin(\alpha\pi/2)\,x_{LB} + \cos(\alpha\pi/2)\,x_{SB}$)"),
}


def _mark_minimizers(ax) -> None:
    """Dotted lines at alpha = 0 (x_SB) and alpha = 1 (x_LB), labelled above the axes."""
    for x, name in ((0.0, "SB"), (1.0, "LB")):
        ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
        ax.text(x, 1.01, name, transform=ax.get_xaxis_transform(), ha="center",
                va="bottom", fontsize="small", color="0.3")


def parametric(df: pd.DataFrame, scale: str, path: str | None = None,
               loss_scale: str = "log") -> Figure:
    """Cross-entropy (left axis) and accuracy (right axis) along a path from x_SB (alpha = 0) to
    x_LB (alpha = 1); solid = train, dashed = test.

    `df`: tidy rows net, dataset, seed, path, alpha, split, loss (nats), accuracy (fraction); if
    it holds several paths, `path` picks one. `loss_scale`: "log" (default: the loss spans orders
    of magnitude between the minimizers and the ends of the range) or "linear" (the authors' code).
    """
    if path is None:
        path = single(df, "path")
    df = df[df["path"] == path] if "path" in df else df
    net, dataset, seed = single(df, "net"), single(df, "dataset"), single(df, "seed")
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
        _mark_minimizers(ax)
        readable_log_ticks(ax)
        handles = [Line2D([], [], color=c, linestyle=SPLIT_STYLES[s], label=f"{what_}, {s}")
                   for what_, c in (("cross-entropy", LOSS_COLOR), ("accuracy", ACC_COLOR))
                   for s in ("train", "test")]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
        bn = f"; BN {single(df, 'bn')} statistics" if "bn" in df else ""
        ax.set_title(title(f"{what}, seed {seed}{bn}", net, dataset, scale), pad=14)
    return fig


def fig3(df: pd.DataFrame, scale: str, **kwargs) -> Figure:
    """Paper Fig. 3: f(alpha x_LB + (1 - alpha) x_SB)."""
    return parametric(df, scale, "linear", **kwargs)


def fig7(df: pd.DataFrame, scale: str, **kwargs) -> Figure:
    """Paper Fig. 7 (appendix): f(sin(alpha pi/2) x_LB + cos(alpha pi/2) x_SB)."""
    return parametric(df, scale, "curvilinear", **kwargs)
