"""The remedies table: test accuracy and full-space sharpness of every remedy regime beside plain SB
and LB, the change against plain LB, and the paper's qualitative finding with our verdict.

Inputs are the runs' metrics.json files and the sharpness JSON records (never checkpoints). A run's
remedies and their options come from its metrics.json (`spec.remedy`), so the table needs no config.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from sharpminima.analysis import records
from sharpminima.analysis.stats import mean_std, welch_p
from sharpminima.analysis.tables import SCALE_NOTE, fmt
from sharpminima.core.atomic import atomic_path, write_text
from sharpminima.core.layout import eps_text, read_metrics

ALPHA = 0.05  # significance level of the accuracy change (Welch's t-test, two-sided)

#: The `ours_agrees` labels of the table (the App. E verdict of sharpminima.analysis.verdicts reads
#: these constants, never the spelled-out strings).
AGREES, AGREES_ACCURACY_ONLY = "agrees", "agrees (accuracy only)"
PARTLY, DISAGREES, UNKNOWN, NO_VERDICT = "partly", "disagrees", "unknown", "-"
COMPUTED = (AGREES, AGREES_ACCURACY_ONLY, PARTLY, DISAGREES)  # a verdict against the data
AGREEING = (AGREES, AGREES_ACCURACY_ONLY)
WITH_EVIDENCE = (AGREES, DISAGREES, PARTLY, UNKNOWN)  # listed under "Evidence behind each verdict"

#: The paper's qualitative findings (App. E; paper/keskar2017.md "Remedies") and what each claims:
#: accuracy "up" (improves) or "not_up" (does not improve); sharpness stays "sharp" or None.
PAPER_FINDINGS: dict[str, dict] = {
    "augment": {"text": "better LB test accuracy; minima still sharp",
                "accuracy": "up", "sharpness": "sharp"},
    "proximal": {"text": "statistically significant test-accuracy gain; minima still sharp",
                 "accuracy": "up", "sharpness": "sharp"},
    "fgsm": {"text": "did not improve generalization", "accuracy": "not_up", "sharpness": None},
}

#: What the later papers report (context only: no verdict is computed against these).
LATER_CLAIMS: dict[str, str] = {
    "lr_warmup": "not in the paper; Goyal et al. 2017: no accuracy loss up to batch 8k "
                 "(ImageNet, SGD)",
    "ghost_bn": "not in the paper; Hoffer et al. 2017: ghost BN (with longer training) closes "
                "the gap",
    "sam": "not in the paper; Foret et al. 2021: flatter minima and better test accuracy",
}


def collect_metrics(paths) -> pd.DataFrame:
    """One row per run: labels, test accuracy and the run's remedies (from its spec)."""
    rows = []
    for p in paths:
        m = read_metrics(p)
        remedy = (m.get("spec") or {}).get("remedy") or {}
        rows.append({"net": m["net"], "regime": m["regime"], "dataset": m.get("dataset"),
                     "seed": m["seed"], "status": m.get("status"),
                     "batch_size": m.get("batch_size"), "test_acc": m.get("test_acc"),
                     "remedies": "+".join(remedy), "options": json.dumps(remedy, sort_keys=True)})
    return pd.DataFrame(rows)


def collect_sharpness(paths, space: str = "full") -> pd.DataFrame:
    """Sharpness records of one space: net, regime, seed, eps, sharpness."""
    if not paths:
        return pd.DataFrame(columns=["net", "regime", "seed", "eps", "sharpness"])
    df = records.sharpness_records(paths)
    df = df[df["space"] == space]
    return df[["net", "regime", "seed", "eps", "sharpness"]].astype({"eps": float})


def _eps_key(eps: float) -> str:
    """The eps part of the table's column names: eps0.001 (core.layout.eps_text)."""
    return f"eps{eps_text(eps)}"


def _eps_label(eps: float) -> str:
    """1e-3, 5e-4: the paper's spelling, in the Markdown table's headers and the verdicts'
    evidence (the CSV's columns use core.layout.eps_text)."""
    mantissa, exponent = f"{eps:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def remedies_table(metrics: pd.DataFrame, sharp: pd.DataFrame, scale: str,
                   reference: str = "SB", baseline: str = "LB") -> pd.DataFrame:
    """Per net and regime (the reference, the baseline, then each remedy regime): test accuracy (%)
    and sharpness per eps, mean/std/n over seeds; changes against the baseline; paper verdicts."""
    eps_list = sorted(sharp["eps"].unique(), reverse=True) if len(sharp) else []
    rows = []
    for net, g_net in metrics.groupby("net", sort=False):
        regimes = list(dict.fromkeys(g_net["regime"]))
        plain = [r for r in (reference, baseline) if r in regimes]
        remedy = [r for r in regimes if (g_net.loc[g_net.regime == r, "remedies"] != "").any()]
        base = g_net[g_net.regime == baseline]
        for regime in plain + remedy:
            g = g_net[g_net.regime == regime]
            acc = g["test_acc"] * 100
            mean, std, n = mean_std(acc)
            row = {"scale": scale, "net": net, "dataset": g["dataset"].iloc[0], "regime": regime,
                   "remedies": g["remedies"].iloc[0], "options": g["options"].iloc[0],
                   "batch_size": g["batch_size"].iloc[0], "n": n,
                   "diverged": int((g["status"] == "diverged").sum()),
                   "test_acc_mean": mean, "test_acc_std": std}
            b_mean = mean_std(base["test_acc"] * 100)[0] if len(base) else np.nan
            is_remedy = regime in remedy
            row["test_acc_change_vs_lb"] = mean - b_mean if is_remedy else np.nan
            row["test_acc_p_vs_lb"] = (welch_p(acc, base["test_acc"] * 100)
                                       if is_remedy and len(base) else np.nan)
            s_net = sharp[sharp.net == net]
            for eps in eps_list:
                k = _eps_key(eps)
                s_mean, s_std, s_n = mean_std(s_net[(s_net.regime == regime)
                                                    & (s_net.eps == eps)]["sharpness"])
                lb_mean = mean_std(s_net[(s_net.regime == baseline)
                                         & (s_net.eps == eps)]["sharpness"])[0]
                row.update({f"sharpness_{k}_mean": s_mean, f"sharpness_{k}_std": s_std,
                            f"sharpness_{k}_n": s_n,
                            f"sharpness_{k}_ratio_vs_lb": s_mean / lb_mean
                            if is_remedy and lb_mean else np.nan})
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    verdicts = [_verdict(row, df, eps_list, reference, baseline)
                for row in df.itertuples(index=False)]
    df["paper_finding"] = [v[0] for v in verdicts]
    df["ours_agrees"] = [v[1] for v in verdicts]
    df["verdict_detail"] = [v[2] for v in verdicts]
    return df


def _verdict(row, df: pd.DataFrame, eps_list, reference: str,
             baseline: str) -> tuple[str, str, str]:
    """(the finding, agrees | agrees (accuracy only) | partly | disagrees | unknown | -, evidence).
    Verdicts only for the paper's three remedies, each run alone."""
    names = row.remedies.split("+") if row.remedies else []
    if len(names) != 1:
        return (("", NO_VERDICT, "") if not names else
                ("combination: no single finding", NO_VERDICT, ""))
    name = names[0]
    if name not in PAPER_FINDINGS:
        return LATER_CLAIMS.get(name, ""), NO_VERDICT, ""
    claim = PAPER_FINDINGS[name]
    checks, detail = [], []
    # accuracy: improved = higher mean and, when testable (n >= 2 each), p < ALPHA
    delta, p = row.test_acc_change_vs_lb, row.test_acc_p_vs_lb
    if not math.isnan(delta):
        improved = bool(delta > 0 and (math.isnan(p) or p < ALPHA))
        checks.append(improved if claim["accuracy"] == "up" else not improved)
        detail.append(f"accuracy {delta:+.2f} pp vs LB"
                      + (f" (p = {p:.2g})" if not math.isnan(p) else " (no test: n < 2)")
                      + (": improved" if improved else ": not improved"))
    complete = bool(checks)
    # sharpness: still sharp = above the geometric mean of SB's and LB's at every eps
    if claim["sharpness"] == "sharp":
        net = df[df.net == row.net]

        def mean_of(regime, k):
            v = net.loc[net.regime == regime, f"sharpness_{k}_mean"]
            return float(v.iloc[0]) if len(v) else float("nan")

        sharp_checks = []
        for eps in eps_list:
            k = _eps_key(eps)
            mine, lb, sb = (mean_of(r, k) for r in (row.regime, baseline, reference))
            if math.isnan(mine) or math.isnan(lb):
                continue
            threshold = math.sqrt(sb * lb) if not math.isnan(sb) and sb > 0 else 0.5 * lb
            sharp_checks.append(mine > threshold)
            detail.append(f"sharpness eps {_eps_label(eps)}: {mine:.3g} (LB {lb:.3g}"
                          + (f", SB {sb:.3g}" if not math.isnan(sb) else "") + ")")
        if sharp_checks:
            checks.append(all(sharp_checks))
            detail.append("still sharp" if all(sharp_checks) else "not sharp")
        else:
            complete = False
            detail.append("sharpness not measured")
    if not checks:
        agrees = UNKNOWN
    elif all(checks):
        agrees = AGREES if complete else AGREES_ACCURACY_ONLY
    elif any(checks):
        agrees = PARTLY
    else:
        agrees = DISAGREES
    return claim["text"], agrees, "; ".join(detail)


def remedies_markdown(df: pd.DataFrame) -> pd.DataFrame:
    eps_keys = [c[len("sharpness_"):-len("_mean")] for c in df.columns
                if c.startswith("sharpness_eps") and c.endswith("_mean")]
    out = {"net": df.net, "data": df.dataset, "regime": df.regime,
           "remedy": [r or "-" for r in df.remedies], "n": df.n,
           "test acc %": [fmt(m, s) for m, s in zip(df.test_acc_mean, df.test_acc_std)],
           "Δ acc vs LB (pp)": [f"{d:+.2f}" if not math.isnan(d) else "-"
                                 for d in df.test_acc_change_vs_lb]}
    for k in eps_keys:
        eps = _eps_label(float(k[len("eps"):]))
        out[f"sharpness eps {eps}"] = [fmt(m, s) for m, s in zip(df[f"sharpness_{k}_mean"],
                                                                 df[f"sharpness_{k}_std"])]
        out[f"× LB (eps {eps})"] = [
            f"×{r:.2f}" if not math.isnan(r) else "-" for r in df[f"sharpness_{k}_ratio_vs_lb"]]
    out["paper's finding"] = [t or "-" for t in df.paper_finding]
    out["ours agrees?"] = list(df.ours_agrees)
    return pd.DataFrame(out)


def remedies_caption(df: pd.DataFrame, scale: str) -> str:
    options = []
    if not df.empty:
        for (net, regime), g in df[df.remedies != ""].groupby(["net", "regime"], sort=False):
            options.append(f"{net} {regime}: {g['options'].iloc[0]}")
    eps = [c for c in df.columns if c.startswith("sharpness_eps") and c.endswith("_mean")]
    sharp_note = ("full-space sharpness (paper Metric 2.1, A = I, percent)" if eps else
                  "sharpness: no records were given")
    return ("Remedies for the generalization gap: test accuracy (%) and " + sharp_note
            + ", mean ± std over seeds (n), for plain SB and LB and each remedy regime. Changes "
            "are against plain LB: accuracy in percentage points, sharpness as the ratio of means. "
            f"Verdicts: 'improved' = higher mean accuracy with Welch's t-test p < {ALPHA} (higher "
            "mean alone when a group has one seed); 'still sharp' = sharpness above the geometric "
            "mean of SB's and LB's at every eps. The paper gives only qualitative findings and no "
            "remedy hyper-parameters (ours are assumptions, see config). "
            + SCALE_NOTE.get(scale, "")
            + ("\n\nRemedy options per regime: " + "; ".join(options) if options else ""))


def verdict_markdown(df: pd.DataFrame) -> str:
    rows = df[df.ours_agrees.isin(WITH_EVIDENCE)]
    if rows.empty:
        return ""
    lines = ["", "Evidence behind each verdict:", ""]
    lines += [f"- {r.net} {r.regime}: {r.ours_agrees} ({r.verdict_detail})"
              for r in rows.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def build(metrics_paths, sharpness_paths, out_csv, out_md, scale: str = "full",
          reference: str = "SB", baseline: str = "LB") -> pd.DataFrame:
    """Write remedies.csv (numbers) and remedies.md (caption, table, evidence of each verdict)."""
    df = remedies_table(collect_metrics(metrics_paths), collect_sharpness(sharpness_paths),
                        scale, reference, baseline)
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    table = remedies_markdown(df).to_markdown(index=False) if not df.empty else "(no runs)"
    evidence = verdict_markdown(df) if not df.empty else ""
    write_text(out_md, f"{remedies_caption(df, scale)}\n\n{table}\n{evidence}")
    return df
