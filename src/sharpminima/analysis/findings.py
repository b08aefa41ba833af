"""One computed line per figure: what OUR figure shows, beside what the paper reported.

Each function takes the tidy frame its figure was drawn from and returns one sentence of numbers.
The report prints it under the figure's links; nothing here is written by hand, so changing the
data changes the line (tests/test_findings.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sharpminima.analysis import verdicts


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def training_curves(hist: pd.DataFrame) -> str:
    """Fig. 2: final test accuracy of SB and LB, and how much early stopping could have gained
    (best epoch's test accuracy minus the final one, mean over seeds). Columns as
    records.read_histories: net, regime, seed, epoch, split, accuracy."""
    parts = []
    for net, g in hist[hist.split == "test"].groupby("net", sort=False):
        final, gain = {}, {}
        for regime in ("SB", "LB"):
            r = g[g.regime == regime]
            if r.empty:
                continue
            last = r.loc[r.groupby("seed").epoch.idxmax()].set_index("seed").accuracy
            best = r.groupby("seed").accuracy.max()
            final[regime], gain[regime] = last.mean(), (best - last).mean()
        if len(final) < 2:
            continue
        if final["LB"] >= final["SB"]:
            effect = "LB is not below SB: no gap to close"
        elif final["LB"] + gain["LB"] >= final["SB"]:
            effect = "which would close the gap"
        else:
            effect = "which would not close the gap"
        parts.append(f"{net}: final test acc SB {_pct(final['SB'])}, LB {_pct(final['LB'])}; "
                     f"stopping at the best epoch would add SB {100 * gain['SB']:.2f}, "
                     f"LB {100 * gain['LB']:.2f} pts, {effect}")
    return "; ".join(parts) or "no net with both SB and LB runs"


def second_difference(alpha: np.ndarray, loss: np.ndarray, at: float) -> float:
    """d^2 loss / d alpha^2 at the grid point nearest `at`, from it and its two neighbours
    (the three-point formula for unequal spacing)."""
    order = np.argsort(alpha)
    a, f = np.asarray(alpha, float)[order], np.asarray(loss, float)[order]
    i = int(np.clip(np.argmin(np.abs(a - at)), 1, len(a) - 2))
    h0, h1 = a[i] - a[i - 1], a[i + 1] - a[i]
    return float(2 * (f[i - 1] * h1 + f[i + 1] * h0 - f[i] * (h0 + h1)) / (h0 * h1 * (h0 + h1)))


def parametric(df: pd.DataFrame) -> str:
    """Figs. 3 and 7: training-loss curvature along the path at x_SB (alpha = 0) and at x_LB
    (alpha = 1), and the losses there. Columns as landscape.parametric (+ net)."""
    parts = []
    for net, g in df[df.split == "train"].groupby("net", sort=False):
        g = g.sort_values("alpha")
        a, f = g.alpha.to_numpy(), g.loss.to_numpy()
        c_sb, c_lb = second_difference(a, f, 0.0), second_difference(a, f, 1.0)
        if c_sb > 0 and c_lb > 0:
            ratio = c_lb / c_sb
            shape = (f"LB/SB {ratio:.3g}: LB's basin is "
                     + ("narrower" if ratio > 1 else "not narrower") + " along this line")
        else:  # concave at an end: that end is no minimum along this line, no width to compare
            shape = "not convex at both ends: no basin width to compare"
        f0, f1 = np.interp(0.0, a, f), np.interp(1.0, a, f)
        parts.append(f"{net}: train loss {f0:.3g} at x_SB, {f1:.3g} at x_LB; curvature along "
                     f"the path (d2f/dalpha2) {c_sb:.3g} at x_SB vs {c_lb:.3g} at x_LB ({shape})")
    return "; ".join(parts) or "no landscape"


def slices(df: pd.DataFrame) -> str:
    """2-D slices: mean rise of the training loss over the slice above its centre, SB vs LB.
    Columns as landscape.slice2d (+ net, regime)."""
    parts = []
    for net, g in df[df.split == "train"].groupby("net", sort=False):
        rise = {}
        for regime, r in g.groupby("regime"):
            centre = r.loc[(r.x.abs() + r.y.abs()).idxmin(), "loss"]
            rise[regime] = r.loss.mean() - centre
        parts.append(f"{net}: mean loss rise over the slice " + ", ".join(
            f"{k} {v:.3g}" for k, v in sorted(rise.items(), key=lambda kv: kv[0] != "SB")))
    return "; ".join(parts) or "no slice"


def noise_spread(df: pd.DataFrame) -> str:
    """Gradient spread vs batch size: the fitted log-log slope (expected -1/2) per regime and
    epoch, raw and, where present, after the finite-population correction (sampling without
    replacement from N examples steepens the raw slope as m nears N). Columns as
    sweeps.spread_frame."""
    fits = df.drop_duplicates(["net", "regime", "epoch"])
    slopes = fits.fit_slope.to_numpy(float)
    each = ", ".join(f"{r.net} {r.regime} epoch {r.epoch}: {r.fit_slope:.3f}"
                     for r in fits.itertuples())
    line = (f"fitted slope of log spread vs log m: mean {slopes.mean():.3f} (range "
            f"{slopes.min():.3f} to {slopes.max():.3f}; -0.5 expected) [{each}]")
    if "fit_slope_fpc" in fits:
        line += f"; finite-population corrected: mean {fits.fit_slope_fpc.mean():.3f}"
    return line


def noise_scale(df: pd.DataFrame) -> str:
    """B_simple along training: first and last measured value per net and regime (seed mean).
    Columns as sweeps.noise_scale_frame: net, regime, seed, epoch, b_simple."""
    parts = []
    for (net, regime), g in df.groupby(["net", "regime"], sort=False):
        by = g.groupby("epoch").b_simple.mean()
        parts.append(f"{net} {regime}: B_simple {by.iloc[0]:.3g} (epoch {by.index[0]}) -> "
                     f"{by.iloc[-1]:.3g} (epoch {by.index[-1]})")
    return "; ".join(parts) or "no record"


def correlation(df: pd.DataFrame) -> str:
    """The correlation figure: per measure Kendall's tau with the accuracy gap (from the frame,
    as the table has it), the highest and the parameter norm's."""
    taus = df.drop_duplicates("measure").set_index("measure")["tau"].astype(float)
    models = len(df.drop_duplicates([c for c in ("net", "regime", "seed", "batch_size", "remedy",
                                                 "sb_epochs") if c in df]))
    defined = taus.dropna()
    if defined.empty:
        return f"{models} models: too few for a Kendall tau"
    best = defined.idxmax()
    norm = taus.get("param_norm", float("nan"))
    return (f"{models} models: the highest Kendall tau with train - test accuracy is {best}'s "
            f"({defined[best]:+.2f}); the parameter norm's is "
            + (f"{norm:+.2f}" if np.isfinite(norm) else "undefined"))


def from_verdict(verdict: verdicts.Verdict) -> str:
    """Figs. 4-6: the statistic behind the claim's verdict, without its 'Holds: ...' rule."""
    return verdict.stated


FINDINGS = {
    "fig2": training_curves,
    "fig3": parametric,
    "fig7": parametric,
    "slice2d": slices,
    "noise_spread": noise_spread,
    "noise_scale": noise_scale,
    "correlation": correlation,
    "fig4": lambda df: from_verdict(verdicts.batch_threshold(df)),
    "fig5": lambda df: from_verdict(verdicts.warm_start_recovers(df)),
    "fig6": lambda df: from_verdict(verdicts.sharpness_rises_for_lb_only(df)),
}


def finding(kind: str, df: pd.DataFrame) -> str:
    """The line for figure `kind` drawn from `df` ('no data' when it is empty)."""
    if df.empty:
        return "no data"
    return FINDINGS[kind](df)
