"""Verdicts on the paper's claims, computed from the tidy tables (never written by hand).

Each function takes the frames a claim is about and returns a `Verdict`: holds / partly /
does not hold / not run, the statistic behind it, and one sentence saying what was compared.
Thresholds are module constants, stated in every verdict's evidence line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05  # significance level of the Welch t-tests over seeds
ORDER_OF_MAGNITUDE = 10.0  # the paper: LB sharpness "1-2 orders of magnitude" above SB

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "does not hold", "not run"
NOT_COMPARABLE = "not comparable"  # no pair at comparable training fit (sharpminima.analysis.protocol)


@dataclass
class Verdict:
    claim: str
    verdict: str
    evidence: str

    def row(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": self.evidence}


def welch(a, b) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(a) - mean(b); NaN when n < 2."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2:
        return float("nan"), float("nan")
    t, p = stats.ttest_ind(a, b, equal_var=False)
    return float(t), float(p)


def lb_generalizes_worse(runs: pd.DataFrame, fits: dict | None = None) -> Verdict:
    """Claim: LB test accuracy is below SB for every net. `runs`: net, regime, seed, test_acc
    (trained runs only). `fits`: per net a `protocol.Fit`; a net whose SB and LB training fits
    are not comparable is listed but cannot make the claim hold or not hold."""
    claim = "LB test accuracy is below SB for every network (Table 2)"
    parts, lower, significant, nets, excluded = [], 0, 0, 0, []
    for net, g in runs.groupby("net"):
        sb, lb = g[g.regime == "SB"].test_acc * 100, g[g.regime == "LB"].test_acc * 100
        if sb.empty or lb.empty:
            continue
        gap = sb.mean() - lb.mean()
        _, p = welch(sb, lb)
        fit = (fits or {}).get(net)
        if fit is not None and not fit.comparable:
            excluded.append(net)
            parts.append(f"{net}: SB-LB {gap:+.2f} pts, NOT COMPARED (train acc SB "
                         f"{fit.sb_train_acc:.2f}% vs LB {fit.lb_train_acc:.2f}%, |diff| > "
                         f"{fit.tolerance:g} pts)")
            continue
        nets += 1
        lower += gap > 0
        significant += gap > 0 and p < ALPHA
        parts.append(f"{net}: SB-LB {gap:+.2f} pts (Welch p={p:.3g}, n={len(sb)}/{len(lb)})")
    rule = (f"Holds: every gap > 0 at p < {ALPHA}, each pair at comparable training fit.")
    if nets == 0:
        if excluded:
            return Verdict(claim, NOT_COMPARABLE, f"{'; '.join(parts)}. {rule}")
        return Verdict(claim, NOT_RUN, "no net has both SB and LB runs")
    verdict = HOLDS if significant == nets else PARTLY if lower > 0 else FAILS
    if excluded and verdict == HOLDS:
        verdict = PARTLY  # "every network" cannot hold while some pair was not compared
    return Verdict(claim, verdict, f"{'; '.join(parts)}. {rule}")


def lb_is_sharper(records: pd.DataFrame, column: str = "sharpness",
                  estimator: str = "") -> Verdict:
    """Claim: LB sharpness is 1-2 orders of magnitude above SB in both spaces and both eps.
    `records`: one row per sharpness measurement (net, regime, seed, space, eps, `column`);
    `column`: the paper's estimator (sharpness) or the best of both maximizers (sharpness_best)."""
    claim = "LB minima are 1-2 orders of magnitude sharper than SB (Tables 3 and 4)" + (
        f", {estimator}" if estimator else "")
    records = records[records.regime.isin(["SB", "LB"])]
    if column not in records:
        return Verdict(claim, NOT_RUN, f"no {column} in the records")
    records = records.assign(sharpness=pd.to_numeric(records[column], errors="coerce"))
    records = records[records.sharpness.notna()]
    if records.empty or records.regime.nunique() < 2:
        return Verdict(claim, NOT_RUN, "no SB/LB sharpness measurements")
    ratios, parts, sig = [], [], 0
    for (space, eps, net), g in records.groupby(["space", "eps", "net"]):
        sb, lb = g[g.regime == "SB"].sharpness, g[g.regime == "LB"].sharpness
        if sb.empty or lb.empty:
            continue
        ratio = lb.mean() / sb.mean() if sb.mean() > 0 else float("inf")
        # on log scale: sharpness spans decades, and the claim is about ratios
        _, p = welch(np.log(np.maximum(lb, 1e-12)), np.log(np.maximum(sb, 1e-12)))
        ratios.append(ratio)
        sig += ratio > 1 and p < ALPHA
        parts.append(f"{net} {space} eps {eps:g}: LB/SB {ratio:.3g} (p={p:.3g})")
    if not ratios:
        return Verdict(claim, NOT_RUN, "no net has both SB and LB sharpness")
    if all(r >= ORDER_OF_MAGNITUDE for r in ratios) and sig == len(ratios):
        verdict = HOLDS
    elif all(r > 1 for r in ratios) or np.median(ratios) > 1:
        verdict = PARTLY
    else:
        verdict = FAILS
    return Verdict(claim, verdict, f"{'; '.join(parts)}. Holds: every ratio >= "
                   f"{ORDER_OF_MAGNITUDE:g} and LB > SB at p < {ALPHA} (Welch on log sharpness).")


def _sharpness_at(df: pd.DataFrame, eps: float | None = None) -> pd.DataFrame:
    """Rows of one eps (the smallest present when not given) and the full space if present."""
    if "space" in df and (df.space == "full").any():
        df = df[df.space == "full"]
    eps = df.eps.min() if eps is None else eps
    return df[df.eps == eps]


def batch_threshold(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 4): past a batch size, test accuracy drops and sharpness rises.
    `frame`: the fig4 frame (net, seed, batch_size, test_acc, eps, space, sharpness)."""
    claim = "Test accuracy drops and sharpness rises past a batch-size threshold (Fig. 4)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no batch-size sweep in this configuration")
    parts, both, one = [], 0, 0
    for net, g in frame.groupby("net"):
        g = _sharpness_at(g)
        by = g.groupby("batch_size")
        acc, sharp = by.test_acc.mean() * 100, by.sharpness.mean()
        spread = (by.test_acc.std(ddof=1) * 100).fillna(0).max()
        drop = acc.iloc[0] - acc.iloc[-1]
        rho = stats.spearmanr(acc.index, sharp.values).statistic if len(acc) > 2 else np.nan
        acc_ok, sharp_ok = drop > max(2 * spread, 0.5), rho > 0
        both += acc_ok and sharp_ok
        one += acc_ok or sharp_ok
        parts.append(f"{net}: test acc {acc.iloc[0]:.2f}% at batch {acc.index[0]} vs "
                     f"{acc.iloc[-1]:.2f}% at {acc.index[-1]} (drop {drop:+.2f}, largest seed "
                     f"spread {spread:.2f}); Spearman(batch, sharpness) {rho:.2f}")
    nets = frame.net.nunique()
    verdict = HOLDS if both == nets else PARTLY if one else FAILS
    return Verdict(claim, verdict, "; ".join(parts) + ". Holds: the drop exceeds max(2 x seed "
                   "spread, 0.5 pts) and sharpness rises with batch size (Spearman > 0).")


def warm_start_recovers(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 5): after enough SB epochs, warm-started LB reaches SB-like accuracy and lower
    sharpness. `frame`: the fig5 frame (net, seed, sb_epochs, lb_test_acc, sharpness...)."""
    claim = "Warm-started LB recovers accuracy and flatness after enough SB epochs (Fig. 5)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no warm-start experiment in this configuration")
    parts, both, one = [], 0, 0
    for net, g in frame.groupby("net"):
        by = _sharpness_at(g).groupby("sb_epochs")
        acc, sharp = by.lb_test_acc.mean() * 100, by.sharpness.mean()
        k0, k1 = acc.index[0], acc.index[-1]
        acc_ok, sharp_ok = acc[k1] >= acc[k0], sharp[k1] < sharp[k0]
        both += acc_ok and sharp_ok
        one += acc_ok or sharp_ok
        parts.append(f"{net}: from K={k0} to K={k1} SB epochs, LB test acc {acc[k0]:.2f}% -> "
                     f"{acc[k1]:.2f}%, sharpness {sharp[k0]:.3g} -> {sharp[k1]:.3g}")
    nets = frame.net.nunique()
    verdict = HOLDS if both == nets else PARTLY if one else FAILS
    return Verdict(claim, verdict, "; ".join(parts) + ". Holds: accuracy not lower and sharpness "
                   "lower at the largest K than at the smallest.")


def sharpness_rises_for_lb_only(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 6): as the loss falls, LB sharpness rises while SB's does not.
    `frame`: the fig6 frame (net, regime, seed, epoch, loss, eps, space, sharpness)."""
    claim = "Sharpness rises as the loss falls for LB only (Fig. 6)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no sharpness-along-training experiment")
    parts, ok, lb_ok = [], 0, 0
    for net, g in frame.groupby("net"):
        g = _sharpness_at(g)
        rho = {r: stats.spearmanr(h.loss, h.sharpness).statistic if len(h) > 2 else np.nan
               for r, h in g.groupby("regime")}
        lb, sb = rho.get("LB", np.nan), rho.get("SB", np.nan)
        lb_ok += lb < 0
        ok += lb < 0 and sb >= 0
        parts.append(f"{net}: Spearman(loss, sharpness) LB {lb:.2f}, SB {sb:.2f}")
    nets = frame.net.nunique()
    verdict = HOLDS if ok == nets else PARTLY if lb_ok else FAILS
    return Verdict(claim, verdict, "; ".join(parts) + ". Holds: negative for LB (sharpness grows "
                   "as loss falls) and not negative for SB.")


def remedies_leave_lb_sharp(table: pd.DataFrame) -> Verdict:
    """Claim (App. E): the paper's remedies help LB accuracy but leave it sharp. `table`: the
    remedies table with its per-remedy `ours_agrees` column (computed from the data there)."""
    claim = "Remedies improve LB test accuracy but leave its minima sharp (App. E)"
    if table.empty or "ours_agrees" not in table:
        return Verdict(claim, NOT_RUN, "no remedy regimes in this configuration")
    rows = table[table.ours_agrees.isin(["agrees", "agrees (accuracy only)", "partly",
                                         "disagrees"])]
    if rows.empty:
        return Verdict(claim, NOT_RUN, "no remedy of the paper was run")
    agree = rows.ours_agrees.str.startswith("agrees")
    verdict = HOLDS if agree.all() else PARTLY if agree.any() or (rows.ours_agrees == "partly").any() \
        else FAILS
    parts = [f"{r.net} {r.regime}: {r.ours_agrees}" for r in rows.itertuples()]
    return Verdict(claim, verdict, "; ".join(parts) + ". Per remedy: see the remedies table.")
