"""The correlation study's figure: one scatter panel per measure, the generalization gap against it.

The frame is `sharpminima.analysis.correlation.correlation_frame` (one row per model and measure,
with the measure's Kendall tau and bootstrap interval from the correlation table, so the panel
titles and the table agree); nothing here computes a statistic.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sharpminima.analysis.correlation import GAP_LABELS, MEASURE_LABELS
from sharpminima.figures.style import (
    SCALE_LABELS,
    dataset_name,
    log_if_positive,
    regime_color,
    regime_order,
    styled,
)

DECADE = 10.0  # a log x axis when the values are positive and span more than this factor
COLUMNS = 4  # panels per row


def _log_x(ax, values) -> None:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) and (values > 0).all() and values.max() / values.min() > DECADE:
        log_if_positive(ax, values, axis="x")


def _joined(values) -> str:
    return ", ".join(str(v) for v in sorted(set(values)))


def correlation(df: pd.DataFrame, scale: str) -> Figure:
    """Per measure (in the frame's order) a panel: x = the measure (log scale when positive and
    spanning more than a decade), y = train - test accuracy (points), one colour per regime;
    titled with Kendall's tau and its bootstrap interval. `df`: correlation_frame rows (net,
    dataset, regime, seed, ..., measure, value, acc_gap, loss_gap, tau, ci_lo, ci_hi, level)."""
    measures = list(dict.fromkeys(df["measure"]))
    regimes = regime_order(df["regime"].dropna().unique())
    cols = min(COLUMNS, len(measures))
    rows = math.ceil(len(measures) / cols)
    with styled():
        fig = Figure(figsize=(3.3 * cols + 0.4, 3.0 * rows + 0.9), layout="constrained")
        axes = fig.subplots(rows, cols, squeeze=False)
        for ax in axes.flat[len(measures):]:
            ax.axis("off")
        for ax, measure in zip(axes.flat, measures):
            g = df[df["measure"] == measure]
            for regime in regimes:
                r = g[g["regime"] == regime]
                ax.scatter(r["value"], r["acc_gap"], s=18, alpha=0.85, label=regime,
                           color=regime_color(regime, regimes), edgecolors="none")
            _log_x(ax, g["value"])
            tau, lo, hi = (float(g[c].iloc[0]) for c in ("tau", "ci_lo", "ci_hi"))
            level = float(g["level"].iloc[0]) if "level" in g else 0.95
            stat = (r"Kendall $\tau$ undefined" if not np.isfinite(tau) else
                    rf"$\tau$ = {tau:+.2f} [{lo:+.2f}, {hi:+.2f}] ({level:.0%})")
            ax.set_title(f"{MEASURE_LABELS.get(measure, measure)}\n{stat}", fontsize="medium")
            ax.set_xlabel(measure + (" (log scale)" if ax.get_xscale() == "log" else ""))
            ax.set_ylabel(GAP_LABELS["acc_gap"])
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6),
                       fontsize="small")
        nets, data = _joined(df["net"]), _joined(dataset_name(d) for d in df["dataset"])
        models = len(df.drop_duplicates([c for c in ("net", "regime", "seed", "batch_size",
                                                     "remedy", "sb_epochs") if c in df]))
        fig.suptitle(f"Generalization gap vs each measure, {models} trained models\n{nets} on "
                     f"{data} ({SCALE_LABELS.get(scale, scale)})")
    return fig


FIGURES = {"correlation": correlation}
