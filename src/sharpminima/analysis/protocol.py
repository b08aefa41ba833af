"""The paper's protocol, checked on our runs: comparable training fit, and divergence.

The paper's Table 2 claim is about test accuracy at comparable training fit: both regimes fit
their training set (99.7-99.9% for F1). A pair whose final training accuracies differ by more than
a declared tolerance (config `protocol.fit_tolerance_pts`; default 2 points, above the paper's own
largest SB-LB difference, 1.64 points for F2) is "not compared at comparable training fit": it
cannot make the claim hold or not hold. Diverged runs (sharpminima.training.divergence) are listed
and left out of every mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sharpminima.training import divergence

FIT_TOLERANCE_PTS = 2.0
NOT_COMPARABLE = "not compared at comparable training fit"


def with_divergence(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` (one row per run record) with a `diverged` column: the reason, or None."""
    reasons = [divergence.reason({k: (None if _missing(v) else v) for k, v in row.items()})
               for row in runs.to_dict("records")]
    return runs.assign(diverged=reasons)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def trained(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that did not diverge."""
    if runs.empty:
        return runs
    runs = with_divergence(runs)
    return runs[runs.diverged.isna()].drop(columns="diverged")


@dataclass
class Fit:
    net: str
    sb_train_acc: float  # percent, mean over trained seeds
    lb_train_acc: float
    tolerance: float

    @property
    def difference(self) -> float:
        return abs(self.sb_train_acc - self.lb_train_acc)

    @property
    def comparable(self) -> bool:
        return bool(self.difference <= self.tolerance)

    def text(self) -> str:
        state = "comparable" if self.comparable else NOT_COMPARABLE.upper()
        return (f"{self.net}: train acc SB {self.sb_train_acc:.2f}% vs LB "
                f"{self.lb_train_acc:.2f}% (difference {self.difference:.2f} pts, tolerance "
                f"{self.tolerance:g}): {state}")


def fit_check(runs: pd.DataFrame, tolerance: float = FIT_TOLERANCE_PTS) -> dict[str, Fit]:
    """Per net with trained SB and LB runs: their mean final training accuracies compared."""
    out = {}
    for net, g in trained(runs).groupby("net"):
        sb, lb = g[g.regime == "SB"].train_acc, g[g.regime == "LB"].train_acc
        if len(sb) and len(lb):
            out[net] = Fit(net, 100 * sb.mean(), 100 * lb.mean(), tolerance)
    return out


def fit_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per net and regime: final training accuracy and loss (mean +- std over trained seeds)."""
    rows = []
    for (net, regime), g in trained(runs).groupby(["net", "regime"], sort=True):
        rows.append({"net": net, "regime": regime, "n": len(g),
                     "train acc %": _ms(100 * g.train_acc), "train loss": _ms(g.train_loss, 4),
                     "test acc %": _ms(100 * g.test_acc),
                     "epochs": _ms(g.epochs.astype(float), 1),
                     "stopped by": ", ".join(sorted(set(g.status.astype(str))))})
    return pd.DataFrame(rows)


def _ms(v: pd.Series, digits: int = 2) -> str:
    v = v.dropna().astype(float)
    if v.empty:
        return "-"
    sd = f" ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else ""
    return f"{v.mean():.{digits}f}{sd}"


def fit_section(runs: pd.DataFrame, tolerance: float = FIT_TOLERANCE_PTS) -> str:
    if runs.empty:
        return "_no runs_"
    fits = fit_check(runs, tolerance)
    lines = [f"Each regime's final training fit. An SB/LB pair whose mean training accuracies "
             f"differ by more than {tolerance:g} points is {NOT_COMPARABLE}: it cannot make the "
             "Table 2 claim hold or not hold.", "",
             fit_table(runs).to_markdown(index=False), ""]
    lines += [f"- {fit.text()}" for fit in fits.values()] or ["- no net has trained SB and LB runs"]
    return "\n".join(lines)


def divergence_section(runs: pd.DataFrame) -> str:
    rule = f"Rule: {divergence.RULE}."
    if runs.empty:
        return f"{rule}\n\n_no runs_"
    bad = with_divergence(runs)
    bad = bad[bad.diverged.notna()]
    if bad.empty:
        return f"{rule} No run diverged."
    rows = bad[["net", "regime", "seed", "diverged"]].rename(columns={"diverged": "why"})
    return (f"{rule} These runs are left out of every mean; their measurements are recorded as "
            f"\"{divergence.NOT_MEASURED}\".\n\n" + rows.to_markdown(index=False))
