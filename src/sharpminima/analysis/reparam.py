"""Beyond the paper: which measures survive a reparametrization that leaves the function unchanged?

The reparametrization test. Input: one row per (net, regime, seed, alpha) with one column per
measure, alpha being the rescaling of the net's layers that leaves its function unchanged
(alpha = 1: the trained model). Out: per net, regime, measure and alpha the value, its largest
relative change from alpha = 1 over the seeds, the regime/SB ratio, whether that ratio keeps its
sign and size, and whether the measure is invariant.

Its verdict is a `verdicts.Verdict`, its thresholds module constants stated in the rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sharpminima.analysis.correlation import MEASURE_LABELS, measures_in
from sharpminima.analysis.stats import mean_std
from sharpminima.analysis.tables import SCALE_NOTE, fmt
from sharpminima.analysis.verdicts import FAILS, HOLDS, NOT_RUN, PARTLY, Item, Verdict

REL_TOL = 0.10  # invariant: every seed's value within 10% of its value at alpha = 1 ...
RATIO_FACTOR = 2.0  # ... the regime/SB ratio keeps its size: within x2 of its value at alpha = 1


def _rel_dev(values: pd.Series, reference: pd.Series) -> pd.Series:
    """|v - v1| / |v1| (0 where both are 0, inf where only v1 is)."""
    diff = (values - reference).abs()
    out = diff / reference.abs()
    return out.mask(reference == 0, np.where(diff == 0, 0.0, np.inf))


def reparam_table(rows: pd.DataFrame, scale: str, measures=None, rel_tol: float = REL_TOL,
                  ratio_factor: float = RATIO_FACTOR) -> pd.DataFrame:
    """One row per net, regime, measure and alpha: scale, net, regime, measure, alpha, n, mean,
    std (over seeds); max_rel_dev, the largest |v(alpha) - v(1)| / |v(1)| over the seeds (each seed
    against itself at alpha = 1); lb_over_sb, the regime mean / the SB mean at this alpha (NaN on
    SB rows), ratio_at_1, the same at alpha = 1; keeps_sign, whether the ratio is on the same side
    of 1 as at alpha = 1; keeps_size, whether ratio / ratio_at_1 is within [1/ratio_factor,
    ratio_factor]; invariant (per net and measure: max_rel_dev <= rel_tol in every regime and at
    every alpha); rel_tol, ratio_factor. `rows`: net, regime, seed, alpha and the measure columns
    (default: those of MEASURES present); alpha = 1 must be among the alphas."""
    if not (np.isclose(rows.alpha.astype(float), 1.0)).any():
        raise ValueError("the reparametrization rows have no alpha = 1 (the trained model)")
    rows = rows.assign(alpha=rows.alpha.astype(float))
    keys = ["net", "regime", "seed"]
    out = []
    for measure in measures_in(rows, measures):
        long = rows[keys + ["alpha"]].assign(value=rows[measure].astype(float))
        ref = long[np.isclose(long.alpha, 1.0)].groupby(keys).value.first().rename("ref")
        long = long.join(ref, on=keys)
        long["dev"] = _rel_dev(long.value, long.ref)
        for (net, regime, alpha), g in long.groupby(["net", "regime", "alpha"], sort=True):
            mean, std, n = mean_std(g.value)
            out.append({"scale": scale, "net": net, "regime": regime, "measure": measure,
                        "alpha": alpha, "n": n, "mean": mean, "std": std,
                        "max_rel_dev": float(g.dev.max()) if g.dev.notna().any() else np.nan})
    df = pd.DataFrame(out)
    if df.empty:
        return df
    sb = df[df.regime == "SB"].set_index(["net", "measure", "alpha"])["mean"]
    sb_at = [sb.get((n, m, a), np.nan) for n, m, a in zip(df.net, df.measure, df.alpha)]
    df["lb_over_sb"] = np.where(df.regime == "SB", np.nan, df["mean"] / np.array(sb_at, float))
    at1 = df[np.isclose(df.alpha, 1.0)].set_index(["net", "regime", "measure"]).lb_over_sb
    df["ratio_at_1"] = [at1.get((n, r, m), np.nan)
                        for n, r, m in zip(df.net, df.regime, df.measure)]
    ratio, ref = df.lb_over_sb, df.ratio_at_1
    known = ratio.notna() & ref.notna()
    df["keeps_sign"] = ((ratio > 1) == (ref > 1)).where(known)
    size = ratio / ref
    df["keeps_size"] = ((size >= 1 / ratio_factor) & (size <= ratio_factor)).where(known)
    worst = df.groupby(["net", "measure"]).max_rel_dev.transform("max")
    df["invariant"] = worst <= rel_tol
    df["rel_tol"], df["ratio_factor"] = rel_tol, ratio_factor
    return df


def _flag(value) -> str:
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else (
        "yes" if bool(value) else "NO")


def reparam_markdown(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "net": df.net, "regime": df.regime, "measure": [MEASURE_LABELS.get(m, m)
                                                        for m in df.measure],
        "alpha": [f"{a:g}" for a in df.alpha], "n": df.n,
        "value": [fmt(m, s, 4) for m, s in zip(df["mean"], df["std"])],
        "max change from alpha 1": [f"{d:.1%}" if np.isfinite(d) else "-"
                                    for d in df.max_rel_dev],
        "ratio to SB": [fmt(r, np.nan, 2) for r in df.lb_over_sb],
        "ratio keeps sign": [_flag(v) for v in df.keeps_sign],
        "ratio keeps size": [_flag(v) for v in df.keeps_size],
        "invariant": [_flag(v) for v in df.invariant],
    })


def reparam_caption(scale: str, rel_tol: float = REL_TOL,
                    ratio_factor: float = RATIO_FACTOR) -> str:
    return ("Reparametrization test: each measure of each trained model rescaled by alpha (the "
            "net's function unchanged; alpha = 1 is the trained model), mean ± std over seeds. "
            "'max change from alpha 1': the largest relative change of one seed's value from its "
            "own value at alpha = 1. A measure is invariant (per net) when every change is within "
            f"{rel_tol:.0%}. The ratio to SB keeps its sign when it stays on the same side of 1 "
            f"as at alpha = 1, and its size when within a factor {ratio_factor:g} of it. "
            + SCALE_NOTE.get(scale, ""))


def contrast_survives_reparam(table: pd.DataFrame) -> Verdict:
    """Which measures are invariant to the rescaling, and does the paper's LB/SB contrast (LB above
    SB) survive in the invariant ones? `table`: `reparam_table` (or its CSV); computed from its
    numbers (max_rel_dev, rel_tol, lb_over_sb), not its flags."""
    claim = ("The LB/SB contrast survives in the measures invariant to a function-preserving "
             "reparametrization")
    if table.empty or table.alpha.nunique() < 2:
        return Verdict(claim, NOT_RUN, "no reparametrized models (no alpha other than 1)")
    tol = float(table.rel_tol.iloc[0])
    items = []
    for measure, g in table.groupby("measure", sort=False):
        worst = float(g.max_rel_dev.max())
        lb = g[g.regime == "LB"]
        ratios = lb.lb_over_sb.astype(float)
        values = {"invariant": bool(worst <= tol), "max_rel_dev": worst,
                  "min_ratio": float(ratios.min()) if ratios.notna().any() else np.nan,
                  "max_ratio": float(ratios.max()) if ratios.notna().any() else np.nan,
                  "nets": int(g.net.nunique())}
        values["lb_above_sb"] = bool(ratios.notna().any() and (ratios > 1).all())
        contrast = ("no LB/SB pair" if not ratios.notna().any() else
                    f"LB/SB {values['min_ratio']:.3g}-{values['max_ratio']:.3g} over alphas")
        items.append(Item(measure, values, f"{measure}: "
                          f"{'invariant' if values['invariant'] else 'NOT invariant'} (max change "
                          f"{worst:.1%}), {contrast}"))
    invariant = [i for i in items if i.values["invariant"]]
    survives = [i for i in invariant if i.values["lb_above_sb"]]
    verdict = (FAILS if not survives else HOLDS if len(survives) == len(invariant) else PARTLY)
    return Verdict(claim, verdict, statistic="per measure: the largest relative change from alpha "
                   "= 1 over nets, regimes, seeds and alphas; the LB/SB ratio of means at every "
                   "alpha", items=items, threshold={"rel_tol": tol},
                   rule=f"Invariant: every change within {tol:.0%}. Holds: some measure is "
                   "invariant and every invariant one has LB > SB at every alpha in every net; "
                   "partly: some invariant ones do; does not hold: no measure is invariant or "
                   "none of the invariant ones keeps LB > SB.")
