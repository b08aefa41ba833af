"""Per-run records -> one tidy frame -> the paper's tables, ours beside the paper's.

Tables never read checkpoints: only the small JSON records the compute stages write.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sharpminima.analysis import paper, records
from sharpminima.analysis.records import read_records  # noqa: F401  (cli: tables.read_records)
from sharpminima.analysis.stats import mean_std
from sharpminima.core.atomic import atomic_path, write_text
from sharpminima.core.layout import eps_text

SCALE_NOTE = {
    "full": "Full paper configuration.",
    "cpu": "CPU TIER: the paper's protocol and data sizes on one net, with stand-in data (see "
           "config/cpu.yaml); the measures' subsets are stated in each caption.",
    "demo": "DEMO SCALE: reduced data and epochs on CPU with stand-in data (see config/demo.yaml); "
            "not comparable in absolute value with the paper.",
    "tiny": "TINY TEST SCALE: generated data, a few epochs; exercises the pipeline only.",
}


def collect_runs(paths) -> pd.DataFrame:
    """Each run's metrics.json as one row (sharpminima.analysis.records.runs)."""
    return records.runs(paths)


def fmt(mean: float, std: float, digits: int = 2) -> str:
    if mean is None or np.isnan(mean):
        return "-"
    return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def table2(runs: pd.DataFrame, scale: str,
           fit_tolerance: float | None = None) -> pd.DataFrame:
    """Accuracy (%) per net and regime: mean, std, n over the trained seeds (diverged runs are
    counted apart and left out of the means), the paper's values, the SB-LB gap, and whether SB
    and LB were compared at comparable training fit (sharpminima.analysis.protocol)."""
    from sharpminima.analysis import protocol
    tolerance = protocol.FIT_TOLERANCE_PTS if fit_tolerance is None else fit_tolerance
    runs = protocol.with_divergence(runs)
    rows = []
    for (net, regime), g in runs.groupby(["net", "regime"], sort=True):
        ok = g[g.diverged.isna()]
        row = {"net": net, "dataset": g["dataset"].iloc[0], "regime": regime,
               "batch_size": int(g["batch_size"].iloc[0]), "n": len(ok),
               "diverged": int(g.diverged.notna().sum())}
        for split in ("train", "test"):
            mean, std, _ = mean_std(ok[f"{split}_acc"] * 100)
            ref = paper.table2(net, regime, split) or (np.nan, np.nan)
            row.update({f"{split}_acc_mean": mean, f"{split}_acc_std": std,
                        f"paper_{split}_acc_mean": ref[0], f"paper_{split}_acc_std": ref[1]})
        rows.append(row)
    df = pd.DataFrame(rows)
    gaps = {}
    for net, g in df.groupby("net"):
        by = g.set_index("regime")
        if {"SB", "LB"} <= set(by.index):
            gaps[net] = (by.loc["SB", "test_acc_mean"] - by.loc["LB", "test_acc_mean"],
                         by.loc["SB", "paper_test_acc_mean"] - by.loc["LB", "paper_test_acc_mean"])
    df["test_gap_sb_minus_lb"] = df["net"].map(lambda n: gaps.get(n, (np.nan,))[0])
    df["paper_test_gap_sb_minus_lb"] = df["net"].map(lambda n: gaps.get(n, (np.nan, np.nan))[1])
    fits = protocol.fit_check(runs.drop(columns="diverged"), tolerance)
    df["train_fit_diff"] = df["net"].map(lambda n: fits[n].difference if n in fits else np.nan)
    df["train_fit_comparable"] = df["net"].map(
        lambda n: fits[n].comparable if n in fits else None)
    df["fit_tolerance_pts"] = tolerance
    df.insert(0, "scale", scale)
    return df


def _fit_text(diff: float, comparable, tolerance: float) -> str:
    if comparable is None or (isinstance(comparable, float) and np.isnan(comparable)):
        return "-"
    return (f"{diff:.2f} ok" if comparable else f"{diff:.2f} > {tolerance:g}: NOT COMPARABLE")


def table2_markdown(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "net": df["net"], "data": df["dataset"], "regime": df["regime"],
        "batch": df["batch_size"], "n": df["n"],
        "train acc % (ours)": [fmt(m, s) for m, s in zip(df.train_acc_mean, df.train_acc_std)],
        "train acc % (paper)": [fmt(m, s) for m, s in
                                zip(df.paper_train_acc_mean, df.paper_train_acc_std)],
        "test acc % (ours)": [fmt(m, s) for m, s in zip(df.test_acc_mean, df.test_acc_std)],
        "test acc % (paper)": [fmt(m, s) for m, s in
                               zip(df.paper_test_acc_mean, df.paper_test_acc_std)],
        "SB-LB test gap (ours)": [fmt(g, np.nan) for g in df.test_gap_sb_minus_lb],
        "SB-LB test gap (paper)": [fmt(g, np.nan) for g in df.paper_test_gap_sb_minus_lb],
        "SB-LB train fit difference (pts)": [_fit_text(d, c, t) for d, c, t in zip(
            df.train_fit_diff, df.train_fit_comparable, df.fit_tolerance_pts)],
    })
    if df["diverged"].any():
        out.insert(5, "diverged", df["diverged"])
    return out


def table2_caption(scale: str) -> str:
    from sharpminima.training import divergence
    return ("Table 2: train and test accuracy (%), mean ± std over the trained seeds (n), ours "
            "beside the paper's (Keskar et al. 2017, Table 2). Paper values refer to the paper's "
            "datasets; a stand-in dataset (e.g. fashion_mnist for mnist) is named in the data "
            "column. The SB-LB gap is compared only at comparable training fit (|SB - LB| train "
            f"accuracy within the tolerance). Diverged runs, left out of the means: "
            f"{divergence.RULE}. " + SCALE_NOTE.get(scale, ""))


def write_frame(df: pd.DataFrame, out_csv, out_md, caption: str, markdown) -> None:
    """The numeric table as CSV, and a readable Markdown rendering (markdown(df)) with a caption."""
    with atomic_path(out_csv) as tmp:
        df.to_csv(tmp, index=False)
    write_text(out_md, f"{caption}\n\n{markdown(df).to_markdown(index=False)}\n")


# --- Tables 3 and 4: sharpness -------------------------------------------------------------------

def sharpness_frame(paths) -> pd.DataFrame:
    """The sharpness records of one space (records.sharpness_records), for Table 3 or 4."""
    df = records.sharpness_records(paths)
    if df["space"].nunique() != 1:
        raise ValueError(f"a sharpness table takes one space, got {sorted(df['space'].unique())}")
    return df


SHORTFALL_FACTOR = 2.0  # default of sharpness.shortfall_factor


def shortfall(records: pd.DataFrame, factor: float = SHORTFALL_FACTOR) -> pd.Series:
    """Per record: True where the best value found exceeds the paper's estimate by > factor."""
    if "sharpness_best" not in records:
        return pd.Series(False, index=records.index)
    paper_value = pd.to_numeric(records["sharpness"], errors="coerce")
    best = pd.to_numeric(records["sharpness_best"], errors="coerce")
    return (best > factor * paper_value.clip(lower=1e-12)).fillna(False)


def sharpness_table(records: pd.DataFrame, scale: str,
                    shortfall_factor: float = SHORTFALL_FACTOR) -> pd.DataFrame:
    """Per net, regime and eps: sharpness mean, std, n (the paper's L-BFGS-B estimator); the best
    value found by either maximizer of the box; how many records the paper's estimator fell short
    of that by more than `shortfall_factor`; the paper's value; LB/SB ratios of the means."""
    space = records["space"].iloc[0]
    records = records.assign(short=shortfall(records, shortfall_factor))
    if "sharpness_best" not in records:
        records["sharpness_best"] = records["sharpness"]
    rows = []
    for (net, regime, eps), g in records.groupby(["net", "regime", "eps"], sort=True):
        mean, std, n = mean_std(pd.to_numeric(g["sharpness"], errors="coerce"))
        best, best_std, _ = mean_std(pd.to_numeric(g["sharpness_best"], errors="coerce"))
        ref = paper.sharpness(net, regime, float(eps), space) or (np.nan, np.nan)
        rows.append({"scale": scale, "space": space, "net": net, "dataset": g["dataset"].iloc[0],
                     "regime": regime, "eps": float(eps), "n": n, "sharpness_mean": mean,
                     "sharpness_std": std, "best_mean": best, "best_std": best_std,
                     "short_by_factor": int(g["short"].sum()),
                     "shortfall_factor": shortfall_factor,
                     "paper_mean": ref[0], "paper_std": ref[1],
                     "not_measured": len(g) - n,
                     "f_x_mean": pd.to_numeric(g["f_x"], errors="coerce").mean(),
                     "wall_s_mean": pd.to_numeric(g["wall_s"], errors="coerce").mean()})
    df = pd.DataFrame(rows)
    sb = df[df.regime == "SB"].set_index(["net", "eps"])
    for col, src in (("lb_over_sb", "sharpness_mean"), ("paper_lb_over_sb", "paper_mean"),
                     ("best_lb_over_sb", "best_mean")):
        sb_value = [sb[src].get((net, eps), np.nan) for net, eps in zip(df.net, df.eps)]
        df[col] = np.where(df.regime == "SB", np.nan, df[src] / np.array(sb_value, dtype=float))
    return df


def sharpness_markdown(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "net": df.net, "data": df.dataset, "regime": df.regime, "eps": df.eps.map(eps_text),
        "n": df.n,
        "sharpness (ours)": [fmt(m, s) for m, s in zip(df.sharpness_mean, df.sharpness_std)],
        "sharpness (paper)": [fmt(m, s) for m, s in zip(df.paper_mean, df.paper_std)],
        "ratio to SB (ours)": [fmt(r, np.nan, 1) for r in df.lb_over_sb],
        "ratio to SB (paper)": [fmt(r, np.nan, 1) for r in df.paper_lb_over_sb],
        "best of both maximizers (ours)": [fmt(m, s) for m, s in zip(df.best_mean, df.best_std)],
        "best: ratio to SB": [fmt(r, np.nan, 1) for r in df.best_lb_over_sb],
        "L-BFGS-B short by > factor": [f"{k}/{n} (x{f:g})" for k, n, f in
                                       zip(df.short_by_factor, df.n, df.shortfall_factor)],
    })


def sharpness_caption(records: pd.DataFrame, scale: str, choices: str) -> str:
    space = records["space"].iloc[0]
    which = ("Table 3: sharpness in the full space (A = I)" if space == "full" else
             "Table 4: sharpness in a random subspace (A: n x p random matrix)")
    return (f"{which}, paper Metric 2.1 in percent, mean ± std over seeds (n), ours beside the "
            f"paper's (Keskar et al. 2017); ratio = regime mean / SB mean. 'sharpness (ours)' is "
            "the paper's estimator (10 L-BFGS-B iterations); 'best of both maximizers' is the "
            "largest value found in the same box by it or by projected sign ascent "
            "(src/sharpminima/measures/box_ascent.py), and the last column counts the records "
            f"where the paper's estimator falls short of that by more than the factor. {choices}. "
            + SCALE_NOTE.get(scale, ""))


# --- Hessian -------------------------------------------------------------------------------------

def hessian_table(records: pd.DataFrame, scale: str) -> pd.DataFrame:
    # a "not measured" record (diverged run) has no eigenvalues: NaN, left out of n
    records = records.assign(top=records["top_eigenvalues"].map(
        lambda v: v[0] if isinstance(v, list) and v else np.nan),
        trace=pd.to_numeric(records["trace"], errors="coerce"))
    if "trace_stderr" not in records:
        records["trace_stderr"] = np.nan
    rows = []
    for (net, regime), g in records.groupby(["net", "regime"], sort=True):
        top, top_sd, n = mean_std(g["top"])
        tr, tr_sd, _ = mean_std(g["trace"])
        rows.append({"scale": scale, "net": net, "dataset": g["dataset"].iloc[0],
                     "regime": regime, "n": n, "top_eig_mean": top, "top_eig_std": top_sd,
                     "trace_mean": tr, "trace_std": tr_sd,
                     "trace_stderr_mean": pd.to_numeric(g["trace_stderr"], errors="coerce").mean()})
    return pd.DataFrame(rows)


def hessian_markdown(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "net": df.net, "data": df.dataset, "regime": df.regime, "n": df.n,
        "top eigenvalue": [fmt(m, s, 3) for m, s in zip(df.top_eig_mean, df.top_eig_std)],
        "trace (Hutchinson)": [fmt(m, s, 1) for m, s in zip(df.trace_mean, df.trace_std)],
    })


def hessian_caption(scale: str) -> str:
    return ("Hessian of the training loss at the minimizer (beyond the paper): largest "
            "eigenvalue (Lanczos on Hessian-vector products) and trace (Hutchinson), mean ± std "
            "over seeds (n). " + SCALE_NOTE.get(scale, ""))
