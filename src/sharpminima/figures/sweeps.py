"""Figures of the paper's Section 4 (Figs. 4, 5, 6) and of gradient noise: frame in, Figure out.

Same contract and style as the paper's figures (``sharpminima.figures.style``: ``styled``, colours,
titles, ticks and ``save``): the frames come from ``sharpminima.analysis.sweeps``; nothing here
reads a checkpoint or computes a loss.
Mean and spread are over seeds: markers at the mean, error bars ± 1 sd (none with one seed).
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sharpminima.core.layout import eps_text
from sharpminima.figures.style import (
    ACC_COLOR,
    ACC_LABEL,
    LOSS_LABEL,
    PALETTE,
    int_log2_ticks,
    integer_epochs,
    log_if_positive,
    regime_color,
    regime_order,
    single,
    styled,
    title,
)

SHARP_COLOR = PALETTE[2]
SHARP_LABEL = "sharpness (Metric 2.1)"
EPS_STYLES = ("-", "--", ":", "-.")


def _stats(df: pd.DataFrame, by: str, value: str, scale: float = 1.0) -> pd.DataFrame:
    """Mean, sd (0 with one seed) and n of `value` per `by`."""
    g = df.dropna(subset=[value]).groupby(by)[value]
    out = pd.DataFrame({"mean": g.mean() * scale, "sd": g.std(ddof=1).fillna(0.0) * scale,
                        "n": g.count()})
    return out.sort_index()


def _eps_text(eps) -> str:
    return f"eps {eps_text(eps)}"


# ----------------------------------------------------------------------------------- Fig. 4

def fig4(df: pd.DataFrame, scale: str) -> Figure:
    """Test accuracy (left axis) and sharpness (right axis) vs batch size (log x), mean ± 1 sd over
    seeds. `df`: batch_sweep_frame rows (net, dataset, seed, batch_size, n_train, test_acc, eps,
    sharpness). A dotted line marks 10% of the training set (the paper's LB)."""
    net, dataset = single(df, "net"), single(df, "dataset")
    runs = df.drop_duplicates(["batch_size", "seed"])
    acc = _stats(runs, "batch_size", "test_acc", 100.0)
    with styled():
        fig = Figure(figsize=(6.6, 4.6), layout="constrained")
        ax = fig.add_subplot()
        ax2 = ax.twinx()
        ax2.grid(False)
        n = int(acc["n"].max()) if len(acc) else 0
        ax.errorbar(acc.index, acc["mean"], yerr=acc["sd"], color=ACC_COLOR, marker="o",
                    capsize=3, label=f"test accuracy (n={n})")
        sharp_values = []
        for i, (eps, g) in enumerate(df.dropna(subset=["sharpness"]).groupby("eps")):
            s = _stats(g, "batch_size", "sharpness")
            sharp_values += list(s["mean"])
            ax2.errorbar(s.index, s["mean"], yerr=s["sd"], color=SHARP_COLOR, marker="s",
                         linestyle=EPS_STYLES[i % len(EPS_STYLES)], capsize=3,
                         label=f"sharpness, {_eps_text(eps)}")
        log_if_positive(ax2, sharp_values)
        int_log2_ticks(ax, df["batch_size"])
        if df["n_train"].nunique() == 1:
            lb = 0.1 * float(df["n_train"].iloc[0])
            ax.axvline(lb, color="0.5", linestyle=":", linewidth=1)
            ax.text(lb, 1.01, "10% of N", transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize="small", color="0.3")
        ax.set_xlabel("batch size (log scale)")
        ax.set_ylabel("test " + ACC_LABEL, color=ACC_COLOR)
        ax.tick_params(axis="y", colors=ACC_COLOR)
        ax2.set_ylabel(SHARP_LABEL + (", log scale" if ax2.get_yscale() == "log" else ""),
                       color=SHARP_COLOR)
        ax2.tick_params(axis="y", colors=SHARP_COLOR)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
        ax.set_title(title("Fig. 4: test accuracy and sharpness vs batch size", net, dataset,
                           scale), pad=14)
    return fig


# ----------------------------------------------------------------------------------- Fig. 5

def fig5(df: pd.DataFrame, scale: str) -> Figure:
    """Warm start. Top: test accuracy of the SB iterate after K epochs and of the LB solution
    warm-started from it, vs K. Bottom: sharpness of those LB solutions. `df`: warm_start_frame."""
    net, dataset = single(df, "net"), single(df, "dataset")
    runs = df.drop_duplicates(["sb_epochs", "seed"])
    lb_batch = int(runs["batch_size"].iloc[0]) if runs["batch_size"].nunique() == 1 else None
    with styled():
        fig = Figure(figsize=(6.4, 6.4), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        for col, regime, label in (("sb_test_acc", "SB", "SB iterate after K epochs"),
                                   ("lb_test_acc", "LB", "LB solution warm-started from it")):
            s = _stats(runs, "sb_epochs", col, 100.0)
            top.errorbar(s.index, s["mean"], yerr=s["sd"], color=regime_color(regime),
                         marker="o", capsize=3, label=f"{label} (n={int(s['n'].max())})")
        top.set_ylabel("test " + ACC_LABEL)
        top.legend(loc="lower right", fontsize="small")
        values = []
        for i, (eps, g) in enumerate(df.dropna(subset=["sharpness"]).groupby("eps")):
            s = _stats(g, "sb_epochs", "sharpness")
            values += list(s["mean"])
            bottom.errorbar(s.index, s["mean"], yerr=s["sd"], color=regime_color("LB"),
                            marker="s", capsize=3, linestyle=EPS_STYLES[i % len(EPS_STYLES)],
                            label=f"LB solution, {_eps_text(eps)}")
        log_if_positive(bottom, values)
        bottom.set_ylabel("sharpness" + (" (log)" if bottom.get_yscale() == "log" else ""))
        bottom.legend(loc="upper right", fontsize="small")
        bottom.set_xlabel("K: SB epochs before switching to LB" +
                          (f" (batch {lb_batch})" if lb_batch else ""))
        integer_epochs(bottom)
        fig.suptitle(title("Fig. 5: warm-started LB training (mean ± 1 sd over seeds)", net,
                           dataset, scale))
    return fig


# ----------------------------------------------------------------------------------- Fig. 6

def fig6(df: pd.DataFrame, scale: str) -> Figure:
    """Sharpness vs training cross-entropy at checkpoints along SB and LB training (one line per
    regime and seed, points labelled with their epoch; training runs right to left on the loss
    axis, which is inverted so time runs left to right). `df`: along_training_frame."""
    net, dataset = single(df, "net"), single(df, "dataset")
    df = df.dropna(subset=["sharpness", "loss"])
    order = regime_order(df["regime"].unique())
    eps_values = sorted(df["eps"].unique(), reverse=True)
    with styled():
        fig = Figure(figsize=(6.4, 4.6), layout="constrained")
        ax = fig.add_subplot()
        for regime in order:
            for (eps, seed), g in df[df.regime == regime].groupby(["eps", "seed"]):
                g = g.sort_values("epoch")
                ls = EPS_STYLES[eps_values.index(eps) % len(EPS_STYLES)]
                ax.plot(g["loss"], g["sharpness"], ls, marker="o", markersize=4,
                        color=regime_color(regime, order),
                        label=f"{regime}, seed {seed}, {_eps_text(eps)}")
                for x, y, e in zip(g["loss"], g["sharpness"], g["epoch"]):
                    ax.annotate(str(int(e)), (x, y), textcoords="offset points", xytext=(3, 3),
                                fontsize=6, color=regime_color(regime, order))
        log_if_positive(ax, df["loss"], "x")
        log_if_positive(ax, df["sharpness"], "y")
        ax.invert_xaxis()
        ax.set_xlabel("training " + LOSS_LABEL + " (axis reversed: training runs →)")
        ax.set_ylabel(SHARP_LABEL)
        fig.legend(loc="outside lower center", ncols=2, fontsize="small")
        ax.set_title(title("Fig. 6: sharpness vs training loss along training "
                           "(labels: epoch)", net, dataset, scale), pad=14)
    return fig


# ----------------------------------------------------------------------------------- noise

def noise_spread(df: pd.DataFrame, scale: str) -> Figure:
    """Spread of minibatch gradients, sqrt(mean |g_B - G|^2), vs batch size m on log-log axes at
    fixed parameters (one colour per checkpoint), with the least-squares line and its slope
    (expected -1/2). One panel per regime. `df`: spread_frame."""
    net, dataset = single(df, "net"), single(df, "dataset")
    order = regime_order(df["regime"].unique())
    epochs = sorted(df["epoch"].unique())
    colors = mpl.colormaps["viridis"](np.linspace(0.0, 0.85, max(len(epochs), 1)))
    with styled():
        fig = Figure(figsize=(4.6 * len(order) + 0.6, 4.8), layout="constrained")
        axes = fig.subplots(1, len(order), sharey=True, squeeze=False)[0]
        for ax, regime in zip(axes, order):
            for (epoch, seed), g in df[df.regime == regime].groupby(["epoch", "seed"]):
                g = g.sort_values("m")
                c = colors[epochs.index(epoch)]
                a, b = float(g["fit_slope"].iloc[0]), float(g["fit_intercept"].iloc[0])
                ax.plot(g["m"], g["spread"], "o", color=c)
                m = np.asarray(g["m"], dtype=float)
                ax.plot(m, 10 ** b * m ** a, "--", color=c,
                        label=f"epoch {int(epoch)}" + (f" (seed {seed})" if df.seed.nunique() > 1
                                                        else "") + f": slope {a:+.2f}")
            int_log2_ticks(ax, df["m"])
            ax.set_xlabel("batch size m (log scale)")
            ax.set_title(f"{regime} checkpoints")
            ax.legend(fontsize="small", loc="lower left")
        axes[0].set_yscale("log")
        log_if_positive(axes[0], df["spread"])
        axes[0].set_ylabel(r"spread $\sqrt{\mathrm{mean}_B\,|g_B - \bar G|^2}$ (log scale)")
        fig.suptitle(title("Gradient noise vs batch size (fit: dashed; expected slope −1/2)", net,
                           dataset, scale))
    return fig


def noise_scale(df: pd.DataFrame, scale: str) -> Figure:
    """Gradient noise scale B_simple = tr(Sigma) / |G|^2 along training, vs epoch (left) and vs
    the training loss (right), one colour per regime; dotted lines mark each regime's batch size.
    `df`: noise_scale_frame."""
    net, dataset = single(df, "net"), single(df, "dataset")
    order = regime_order(df["regime"].unique())
    with styled():
        fig = Figure(figsize=(9.6, 4.4), layout="constrained")
        left, right = fig.subplots(1, 2, sharey=True)
        for regime in order:
            g = df[df.regime == regime]
            color = regime_color(regime, order)
            for seed, gs in g.groupby("seed"):
                gs = gs.sort_values("epoch")
                label = f"{regime}" + (f", seed {seed}" if g.seed.nunique() > 1 else "")
                style = dict(marker="o" if len(gs) <= 30 else None, markersize=3, color=color)
                left.plot(gs["epoch"], gs["b_simple"], "-", label=label, **style)
                right.plot(gs["train_loss"], gs["b_simple"], "-", **style)
            b = g["batch_size"].iloc[-1]
            for ax in (left, right):
                ax.axhline(b, color=color, linestyle=":", linewidth=1)
            left.text(1.0, b, f" {regime} batch {int(b)}", transform=left.get_yaxis_transform(),
                      va="bottom", ha="right", fontsize="small", color=color)
        log_if_positive(left, list(df["b_simple"]) + list(df["batch_size"]))
        log_if_positive(right, df["train_loss"], "x")
        right.invert_xaxis()
        left.set_xlabel("epoch")
        integer_epochs(left)
        right.set_xlabel("training " + LOSS_LABEL + " (reversed)")
        chunk = int(df["noise_chunk"].iloc[0]) if df["noise_chunk"].nunique() == 1 else None
        left.set_ylabel(r"$B_{simple} = \mathrm{tr}(\Sigma)\,/\,|G|^2$"
                        + (" (log scale)" if left.get_yscale() == "log" else ""))
        left.legend(fontsize="small")
        fig.suptitle(title("Gradient noise scale along training"
                           + (f" (from chunks of {chunk})" if chunk else ""), net, dataset, scale))
    return fig


FIGURES = {"fig4": fig4, "fig5": fig5, "fig6": fig6, "noise_spread": noise_spread,
           "noise_scale": noise_scale}
