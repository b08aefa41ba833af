"""Verdicts on the paper's claims, computed from the tidy tables (never written by hand).

Each function takes the frames a claim is about and returns a `Verdict`: holds / partly /
does not hold / not run, as data: the statistic compared, its value per net (or per item), the
thresholds and the rule that turns them into the verdict. `Verdict.evidence` renders them as the
one line the report prints; thresholds are module constants, stated in every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sharpminima.analysis import remedies_table
from sharpminima.analysis.stats import spearman, welch
from sharpminima.core.layout import eps_text

ALPHA = 0.05  # significance level of the Welch t-tests over seeds
ORDER_OF_MAGNITUDE = 10.0  # the paper: LB sharpness "1-2 orders of magnitude" above SB
DROP_SPREAD_FACTOR = 2.0  # Fig. 4: the accuracy drop must exceed this many seed spreads ...
DROP_MIN_PTS = 0.5  # ... and this many points

HOLDS, PARTLY, FAILS, NOT_RUN = "holds", "partly", "does not hold", "not run"
# no pair at comparable training fit (sharpminima.analysis.protocol)
NOT_COMPARABLE = "not comparable"


@dataclass(frozen=True)
class Item:
    """One net's (or one remedy's, one space and eps's) share of a verdict: what it is about, its
    numbers, and their rendering."""
    key: str
    values: dict
    text: str


@dataclass
class Verdict:
    """A claim's verdict. `note` stands in for the items when there is nothing to compare."""
    claim: str
    verdict: str
    note: str = ""
    statistic: str = ""  # what is compared, per item
    items: list[Item] = field(default_factory=list)
    threshold: dict = field(default_factory=dict)  # the rule's constants, by name
    rule: str = ""  # how the items' values make the verdict ("Holds: ...")

    @property
    def stated(self) -> str:
        """The statistics (one clause per item), or the note: the evidence without its rule."""
        return "; ".join(i.text for i in self.items) if self.items else self.note

    @property
    def evidence(self) -> str:
        return f"{self.stated}. {self.rule}" if self.items and self.rule else self.stated

    def row(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "evidence": self.evidence}


def _gap_item(net: str, sb: pd.Series, lb: pd.Series, fit) -> Item:
    gap = sb.mean() - lb.mean()
    _, p = welch(sb, lb)
    values = {"gap_pts": gap, "p": p, "n_sb": len(sb), "n_lb": len(lb),
              "comparable": fit is None or fit.comparable}
    if not values["comparable"]:
        return Item(net, values, f"{net}: SB-LB {gap:+.2f} pts, NOT COMPARED (train acc SB "
                    f"{fit.sb_train_acc:.2f}% vs LB {fit.lb_train_acc:.2f}%, difference > "
                    f"{fit.tolerance:g} pts)")
    return Item(net, values,
                f"{net}: SB-LB {gap:+.2f} pts (Welch p={p:.3g}, n={len(sb)}/{len(lb)})")


def lb_generalizes_worse(runs: pd.DataFrame, fits: dict | None = None) -> Verdict:
    """Claim: LB test accuracy is below SB for every net. `runs`: net, regime, seed, test_acc
    (trained runs only). `fits`: per net a `protocol.Fit`; a net whose SB and LB training fits
    are not comparable is listed but cannot make the claim hold or not hold."""
    claim = "LB test accuracy is below SB for every network (Table 2)"
    items = []
    for net, g in runs.groupby("net"):
        sb, lb = g[g.regime == "SB"].test_acc * 100, g[g.regime == "LB"].test_acc * 100
        if not (sb.empty or lb.empty):
            items.append(_gap_item(net, sb, lb, (fits or {}).get(net)))
    compared = [i.values for i in items if i.values["comparable"]]
    lower = sum(v["gap_pts"] > 0 for v in compared)
    significant = sum(v["gap_pts"] > 0 and v["p"] < ALPHA for v in compared)
    data = dict(claim=claim, statistic="SB - LB mean test accuracy (pts), Welch's t-test",
                items=items, threshold={"alpha": ALPHA},
                rule=f"Holds: every gap > 0 at p < {ALPHA}, each pair at comparable training fit.")
    if not compared:
        if items:
            return Verdict(verdict=NOT_COMPARABLE, **data)
        return Verdict(claim, NOT_RUN, "no net has both SB and LB runs")
    verdict = HOLDS if significant == len(compared) else PARTLY if lower > 0 else FAILS
    if len(compared) < len(items) and verdict == HOLDS:
        verdict = PARTLY  # "every network" cannot hold while some pair was not compared
    return Verdict(verdict=verdict, **data)


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
    items = []
    for (space, eps, net), g in records.groupby(["space", "eps", "net"]):
        sb, lb = g[g.regime == "SB"].sharpness, g[g.regime == "LB"].sharpness
        if sb.empty or lb.empty:
            continue
        ratio = lb.mean() / sb.mean() if sb.mean() > 0 else float("inf")
        # on log scale: sharpness spans decades, and the claim is about ratios
        _, p = welch(np.log(np.maximum(lb, 1e-12)), np.log(np.maximum(sb, 1e-12)))
        key = f"{net} {space} eps {eps_text(eps)}"
        items.append(Item(key, {"net": net, "space": space, "eps": eps, "ratio": ratio, "p": p},
                          f"{key}: LB/SB {ratio:.3g} (p={p:.3g})"))
    if not items:
        return Verdict(claim, NOT_RUN, "no net has both SB and LB sharpness")
    ratios = [i.values["ratio"] for i in items]
    sig = sum(i.values["ratio"] > 1 and i.values["p"] < ALPHA for i in items)
    if all(r >= ORDER_OF_MAGNITUDE for r in ratios) and sig == len(ratios):
        verdict = HOLDS
    elif all(r > 1 for r in ratios) or np.median(ratios) > 1:
        verdict = PARTLY
    else:
        verdict = FAILS
    return Verdict(claim, verdict, statistic="LB/SB ratio of mean sharpness, Welch's t-test on "
                   "log sharpness", items=items,
                   threshold={"ratio": ORDER_OF_MAGNITUDE, "alpha": ALPHA},
                   rule=f"Holds: every ratio >= {ORDER_OF_MAGNITUDE:g} and LB > SB at p < {ALPHA} "
                   "(Welch on log sharpness).")


def _sharpness_at(df: pd.DataFrame, eps: float | None = None) -> pd.DataFrame:
    """Rows of one eps (the smallest present when not given) and the full space if present."""
    if "space" in df and (df.space == "full").any():
        df = df[df.space == "full"]
    eps = df.eps.min() if eps is None else eps
    return df[df.eps == eps]


def _tally(items: list[Item], nets: int) -> str:
    """HOLDS when every net meets both parts of the rule, PARTLY when one net meets one part."""
    both = sum(i.values["acc_ok"] and i.values["sharp_ok"] for i in items)
    one = sum(i.values["acc_ok"] or i.values["sharp_ok"] for i in items)
    return HOLDS if both == nets else PARTLY if one else FAILS


def batch_threshold(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 4): past a batch size, test accuracy drops and sharpness rises.
    `frame`: the fig4 frame (net, seed, batch_size, test_acc, eps, space, sharpness)."""
    claim = "Test accuracy drops and sharpness rises past a batch-size threshold (Fig. 4)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no batch-size sweep in this configuration")
    items = []
    for net, g in frame.groupby("net"):
        by = _sharpness_at(g).groupby("batch_size")
        acc, sharp = by.test_acc.mean() * 100, by.sharpness.mean()
        spread = (by.test_acc.std(ddof=1) * 100).fillna(0).max()
        drop = acc.iloc[0] - acc.iloc[-1]
        rho = spearman(acc.index, sharp.values)
        values = {"drop_pts": drop, "spread_pts": spread, "spearman": rho,
                  "acc_ok": drop > max(DROP_SPREAD_FACTOR * spread, DROP_MIN_PTS),
                  "sharp_ok": rho > 0}
        items.append(Item(net, values, f"{net}: test acc {acc.iloc[0]:.2f}% at batch "
                          f"{acc.index[0]} vs {acc.iloc[-1]:.2f}% at {acc.index[-1]} (drop "
                          f"{drop:+.2f}, largest seed spread {spread:.2f}); Spearman(batch, "
                          f"sharpness) {rho:.2f}"))
    return Verdict(claim, _tally(items, frame.net.nunique()),
                   statistic="test accuracy drop from the smallest to the largest batch; "
                   "Spearman(batch size, sharpness)", items=items,
                   threshold={"spread_factor": DROP_SPREAD_FACTOR, "min_drop_pts": DROP_MIN_PTS,
                              "spearman": 0.0},
                   rule=f"Holds: the drop exceeds max({DROP_SPREAD_FACTOR:g} x seed spread, "
                   f"{DROP_MIN_PTS:g} pts) and sharpness rises with batch size (Spearman > 0).")


def warm_start_recovers(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 5): after enough SB epochs, warm-started LB reaches SB-like accuracy and lower
    sharpness. `frame`: the fig5 frame (net, seed, sb_epochs, lb_test_acc, sharpness...)."""
    claim = "Warm-started LB recovers accuracy and flatness after enough SB epochs (Fig. 5)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no warm-start experiment in this configuration")
    items = []
    for net, g in frame.groupby("net"):
        by = _sharpness_at(g).groupby("sb_epochs")
        acc, sharp = by.lb_test_acc.mean() * 100, by.sharpness.mean()
        k0, k1 = acc.index[0], acc.index[-1]
        values = {"k": (k0, k1), "lb_test_acc": (acc[k0], acc[k1]),
                  "sharpness": (sharp[k0], sharp[k1]),
                  "acc_ok": acc[k1] >= acc[k0], "sharp_ok": sharp[k1] < sharp[k0]}
        items.append(Item(net, values, f"{net}: from K={k0} to K={k1} SB epochs, LB test acc "
                          f"{acc[k0]:.2f}% -> {acc[k1]:.2f}%, sharpness {sharp[k0]:.3g} -> "
                          f"{sharp[k1]:.3g}"))
    return Verdict(claim, _tally(items, frame.net.nunique()),
                   statistic="LB test accuracy and sharpness at the smallest and largest K",
                   items=items, rule="Holds: accuracy not lower and sharpness lower at the largest "
                   "K than at the smallest.")


def sharpness_rises_for_lb_only(frame: pd.DataFrame) -> Verdict:
    """Claim (Fig. 6): as the loss falls, LB sharpness rises while SB's does not.
    `frame`: the fig6 frame (net, regime, seed, epoch, loss, eps, space, sharpness)."""
    claim = "Sharpness rises as the loss falls for LB only (Fig. 6)"
    if frame.empty:
        return Verdict(claim, NOT_RUN, "no sharpness-along-training experiment")
    items = []
    for net, g in frame.groupby("net"):
        rho = {r: spearman(h.loss, h.sharpness) for r, h in _sharpness_at(g).groupby("regime")}
        lb, sb = rho.get("LB", np.nan), rho.get("SB", np.nan)
        items.append(Item(net, {"spearman_lb": lb, "spearman_sb": sb, "lb_rises": lb < 0,
                                "lb_only": lb < 0 and sb >= 0},
                          f"{net}: Spearman(loss, sharpness) LB {lb:.2f}, SB {sb:.2f}"))
    lb_ok = sum(i.values["lb_rises"] for i in items)
    ok = sum(i.values["lb_only"] for i in items)
    nets = frame.net.nunique()
    return Verdict(claim, HOLDS if ok == nets else PARTLY if lb_ok else FAILS,
                   statistic="Spearman(loss, sharpness) per regime", items=items,
                   threshold={"spearman": 0.0}, rule="Holds: negative for LB (sharpness grows as "
                   "loss falls) and not negative for SB.")


def remedies_leave_lb_sharp(table: pd.DataFrame) -> Verdict:
    """Claim (App. E): the paper's remedies help LB accuracy but leave it sharp. `table`: the
    remedies table with its per-remedy `ours_agrees` column (computed from the data there)."""
    claim = "Remedies improve LB test accuracy but leave its minima sharp (App. E)"
    if table.empty or "ours_agrees" not in table:
        return Verdict(claim, NOT_RUN, "no remedy regimes in this configuration")
    rows = table[table.ours_agrees.isin(remedies_table.COMPUTED)]
    if rows.empty:
        return Verdict(claim, NOT_RUN, "no remedy of the paper was run")
    agree = rows.ours_agrees.isin(remedies_table.AGREEING)
    verdict = HOLDS if agree.all() else PARTLY if agree.any() or (
        rows.ours_agrees == remedies_table.PARTLY).any() else FAILS
    items = [Item(f"{r.net} {r.regime}", {"net": r.net, "regime": r.regime,
                                          "agrees": r.ours_agrees},
                  f"{r.net} {r.regime}: {r.ours_agrees}") for r in rows.itertuples()]
    return Verdict(claim, verdict, statistic="each remedy's agreement with the paper's finding "
                   "(the remedies table)", items=items,
                   threshold={"alpha": remedies_table.ALPHA},
                   rule="Per remedy: see the remedies table.")
