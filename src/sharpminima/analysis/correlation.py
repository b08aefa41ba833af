"""Beyond the paper: does any measure predict the generalization gap?

The correlation study. Input: one row per trained model of the configuration (diverged runs left
out by the caller), with its labels (net, dataset, regime, seed, batch_size, remedy: '' for none,
sb_epochs: the warm-start K or NaN), its accuracies as fractions (train_acc, test_acc), its losses
(train_loss, test_loss) and one column per measure. Out: Kendall's tau of each measure with each
gap over every model, a percentile bootstrap interval of it, and the granulated tau of Jiang et
al. 2020 ("Fantastic generalization measures", Sec. 4): per factor of the grid (batch size,
remedy, warm-start epochs), the tau within each group of models that differ only in that factor,
averaged over the groups (psi_i); their mean over the varied factors is Psi.

Its verdict is a `verdicts.Verdict`, its thresholds module constants stated in the rule. The
reparametrization test is `analysis/reparam.py`.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from sharpminima.analysis.stats import bootstrap_ci, kendall
from sharpminima.analysis.tables import SCALE_NOTE, fmt
from sharpminima.analysis.verdicts import FAILS, HOLDS, NOT_RUN, PARTLY, Item, Verdict

# --- the measures ---------------------------------------------------------------------------------

SHARPNESS_MEASURES = ("sharpness", "adaptive_linf", "adaptive_l2", "average", "average_adaptive")
BASELINE = "param_norm"  # the verdict's baseline: the parameter norm
MEASURES = (*SHARPNESS_MEASURES, BASELINE, "dist_init", "train_loss")  # the default columns
MEASURE_LABELS = {"sharpness": "sharpness (Metric 2.1)",
                  "adaptive_linf": "adaptive sharpness (L-inf)",
                  "adaptive_l2": "adaptive sharpness (L2)",
                  "average": "average sharpness", "average_adaptive": "average adaptive sharpness",
                  "param_norm": "parameter norm", "dist_init": "distance from init",
                  "train_loss": "training loss", "sharpness_best": "sharpness (best maximizer)",
                  "hessian_top": "top Hessian eigenvalue"}
#: record field (measures / reparam records) -> measure column here; the other measure columns
#: (adaptive_linf, adaptive_l2, param_norm, dist_init, sharpness, sharpness_best, hessian_top)
#: keep their record names. The one place the two spellings meet.
RECORD_COLUMNS = {"avg_gaussian": "average", "avg_adaptive": "average_adaptive"}
#: the measures of the `measures` record that join a model's row of the correlation study
MEASURES_RECORD_FIELDS = ("adaptive_linf", "adaptive_l2", "avg_gaussian", "avg_adaptive",
                          "param_norm", "dist_init")
#: the measures the reparametrization table shows: every sharpness and the Hessian's top
#: eigenvalue, with the parameter norm (not invariant by construction) as a check of the rescaling
REPARAM_MEASURES = ("sharpness", "sharpness_best", "adaptive_linf", "adaptive_l2", "average",
                    "average_adaptive", "hessian_top", "param_norm")


def renamed(df: pd.DataFrame) -> pd.DataFrame:
    """A frame of record fields with the measure columns named as here (RECORD_COLUMNS)."""
    return df.rename(columns=RECORD_COLUMNS)

# --- the correlation study ------------------------------------------------------------------------

GAPS = ("acc_gap", "loss_gap")  # train - test accuracy (points); test - train loss (nats)
GAP_LABELS = {"acc_gap": "train - test accuracy (pts)", "loss_gap": "test - train loss (nats)"}
FACTORS = ("batch_size", "remedy", "sb_epochs")  # the grid's varied hyperparameters
FACTOR_LABELS = {"batch_size": "batch size", "remedy": "remedy", "sb_epochs": "warm-start epochs"}
GROUP_LABELS = ("net", "dataset", "seed")  # held fixed, with the other factors, in a group
LABELS = ("net", "dataset", "regime", "seed", *FACTORS)  # carried into the figure's frame
N_BOOTSTRAP = 1000  # resamples of the bootstrap interval
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95


def measures_in(models: pd.DataFrame, measures=None) -> list[str]:
    """The measure columns to study: `measures` as given, else those of MEASURES in the frame."""
    if measures is not None:
        missing = [m for m in measures if m not in models]
        if missing:
            raise ValueError(f"no column for the measures {missing}")
        return list(measures)
    return [m for m in MEASURES if m in models]


def with_gaps(models: pd.DataFrame) -> pd.DataFrame:
    """`models` with acc_gap = 100 (train_acc - test_acc) in points (accuracies as fractions, as in
    metrics.json) and loss_gap = test_loss - train_loss; remedy '' and sb_epochs NaN where absent
    (a model without remedy or warm start)."""
    acc = pd.concat([models.train_acc, models.test_acc]).astype(float)
    if (acc > 1.0 + 1e-9).any():
        raise ValueError("accuracies must be fractions in [0, 1], not percent")
    out = models.copy()
    out["acc_gap"] = 100.0 * (out.train_acc.astype(float) - out.test_acc.astype(float))
    out["loss_gap"] = out.test_loss.astype(float) - out.train_loss.astype(float)
    out["remedy"] = out["remedy"].fillna("").astype(str) if "remedy" in out else ""
    out["sb_epochs"] = (pd.to_numeric(out["sb_epochs"], errors="coerce")
                        if "sb_epochs" in out else np.nan)
    return out


def varies(models: pd.DataFrame, factor: str) -> bool:
    """Whether the grid varies `factor` (NaN and '' count as a level: no warm start, no remedy)."""
    return factor in models and models[factor].nunique(dropna=False) > 1


def granulated(models: pd.DataFrame, measure: str, gap: str, factor: str) -> tuple[float, int]:
    """Jiang et al.'s psi for one factor: the models grouped by every other label (GROUP_LABELS and
    the other FACTORS in the frame), so that within a group only `factor` varies; Kendall's tau of
    `measure` with `gap` in each group of >= 2 models and >= 2 levels of the factor; their mean
    over the groups where it is defined, and the number of those groups. (NaN, 0) where the grid
    does not vary the factor; a group where the measure or the gap is constant has no tau and
    is not counted. `models` as `with_gaps` returns it."""
    if not varies(models, factor):
        return float("nan"), 0
    keys = [k for k in (*GROUP_LABELS, *FACTORS) if k != factor and k in models]
    groups = models.groupby(keys, dropna=False, sort=True) if keys else [((), models)]
    taus = [kendall(g[measure], g[gap]) for _, g in groups
            if len(g) >= 2 and g[factor].nunique(dropna=False) >= 2]
    taus = [t for t in taus if np.isfinite(t)]
    return (float(np.mean(taus)) if taus else float("nan")), len(taus)


def role(measure: str) -> str:
    return ("sharpness" if measure in SHARPNESS_MEASURES else
            "baseline" if measure == BASELINE else "other")


def correlation_table(models: pd.DataFrame, scale: str, measures=None,
                      n_bootstrap: int = N_BOOTSTRAP, seed: int = BOOTSTRAP_SEED,
                      level: float = CI_LEVEL) -> pd.DataFrame:
    """One row per measure and gap: scale, measure, role (sharpness / baseline / other), gap, n
    (models with both values), tau (Kendall's tau-b over every model), ci_lo, ci_hi (percentile
    bootstrap over models: n_bootstrap resamples from `seed`, at `level`), n_bootstrap,
    bootstrap_seed, level; per factor F of FACTORS, varies_F (whether the grid varies F), psi_F
    (granulated tau; NaN where the grid does not vary F or no group defines a tau) and groups_F
    (the groups it averages); psi, the mean of the defined psi_F."""
    models = with_gaps(models)
    rows = []
    for measure in measures_in(models, measures):
        for gap in GAPS:
            x, y = models[measure].astype(float), models[gap]
            lo, hi = bootstrap_ci(x, y, kendall, n_bootstrap, seed, level)
            row = {"scale": scale, "measure": measure, "role": role(measure), "gap": gap,
                   "n": int((np.isfinite(x) & np.isfinite(y)).sum()), "tau": kendall(x, y),
                   "ci_lo": lo, "ci_hi": hi, "n_bootstrap": int(n_bootstrap),
                   "bootstrap_seed": int(seed), "level": float(level)}
            psis = []
            for factor in FACTORS:
                psi, groups = granulated(models, measure, gap, factor)
                row[f"varies_{factor}"] = varies(models, factor)
                row[f"psi_{factor}"], row[f"groups_{factor}"] = psi, groups
                psis += [psi] if np.isfinite(psi) else []
            row["psi"] = float(np.mean(psis)) if psis else float("nan")
            rows.append(row)
    return pd.DataFrame(rows)


def _tau_text(tau: float, lo: float, hi: float) -> str:
    return "-" if not np.isfinite(tau) else f"{tau:+.2f} [{lo:+.2f}, {hi:+.2f}]"


def _psi_text(varied, psi: float, groups) -> str:
    """'not varied' where the grid holds the factor fixed, '-' where no group defines a tau."""
    return "not varied" if not _true(varied) else (
        "-" if not np.isfinite(psi)
        else f"{psi:+.2f} ({int(groups)} group{'' if int(groups) == 1 else 's'})")


def _true(value) -> bool:
    """A flag of a table, as built or as read back from its CSV."""
    return value is True or (isinstance(value, (bool, np.bool_)) and bool(value)) or (
        isinstance(value, str) and value.strip().lower() == "true")


def correlation_markdown(df: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "measure": [MEASURE_LABELS.get(m, m) for m in df.measure], "role": df.role,
        "gap": [GAP_LABELS.get(g, g) for g in df.gap], "n": df.n,
        "Kendall tau [CI]": [_tau_text(t, lo, hi) for t, lo, hi in zip(df.tau, df.ci_lo,
                                                                          df.ci_hi)]})
    for factor in FACTORS:
        out[f"granulated: {FACTOR_LABELS[factor]}"] = [
            _psi_text(v, p, g) for v, p, g in zip(df[f"varies_{factor}"], df[f"psi_{factor}"],
                                                  df[f"groups_{factor}"])]
    out["Psi (mean)"] = [fmt(p, np.nan) for p in df.psi]
    return out


def correlation_caption(df: pd.DataFrame, scale: str) -> str:
    n_boot, level = (int(df.n_bootstrap.iloc[0]), float(df.level.iloc[0])) if len(df) else (
        N_BOOTSTRAP, CI_LEVEL)
    seed = int(df.bootstrap_seed.iloc[0]) if len(df) else BOOTSTRAP_SEED
    return (f"Correlation of each measure with the generalization gap over every trained model: "
            f"Kendall's tau-b with a {level:.0%} percentile bootstrap interval ({n_boot} "
            f"resamples of the models, seed {seed}), and the granulated tau of Jiang et al. 2020 "
            "(per varied factor: the tau within each group of models that differ only in that "
            "factor, same net, data and seed, averaged over the groups; Psi is the mean over the "
            "varied factors; 'not varied' where the grid holds the factor fixed). Positive tau: "
            "the larger the measure, the larger the gap. " + SCALE_NOTE.get(scale, ""))


def correlation_frame(models: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The figure's tidy frame: one row per model and measure of `table`, with the model's LABELS
    (those present), measure, value, acc_gap, loss_gap, and the measure's tau, ci_lo, ci_hi,
    level with the accuracy gap (from `table`, so figure and table agree)."""
    models = with_gaps(models)
    labels = [c for c in LABELS if c in models]
    acc = table[table.gap == "acc_gap"].set_index("measure")
    parts = []
    for measure in acc.index:
        part = models[labels + ["acc_gap", "loss_gap"]].copy()
        part.insert(len(labels), "measure", measure)
        part.insert(len(labels) + 1, "value", models[measure].astype(float))
        for col in ("tau", "ci_lo", "ci_hi", "level"):
            part[col] = acc.loc[measure, col]
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=[*labels, "measure", "value", "acc_gap", "loss_gap", "tau",
                                     "ci_lo", "ci_hi", "level"])
    return pd.concat(parts, ignore_index=True)


def _key(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(seed=df["seed"].astype(int))


def models_frame(runs: pd.DataFrame, sharpness: pd.DataFrame, measures: pd.DataFrame,
                 eps: float) -> pd.DataFrame:
    """The correlation study's input, one row per trained model: its run (runs: records.runs of
    the metrics.json files, diverged runs already left out; train/test acc as fractions, losses,
    labels, `spec`), joined on (net, regime, seed) with its Metric 2.1 record (sharpness: the
    full-space record at `eps`, column `sharpness`; NaN where there is none) and its `measures`
    record (MEASURES_RECORD_FIELDS, renamed by RECORD_COLUMNS). remedy: '+'.join of the run
    spec's remedy names ('' for none); sb_epochs: K of a warm start's init_from, else NaN.
    Records of saved iterates (an `epoch` label) are not models of the study."""
    from sharpminima.analysis.sweeps import sb_epochs_of
    keys = ["net", "regime", "seed"]
    cols = [*keys, "dataset", "batch_size", "train_acc", "test_acc", "train_loss", "test_loss"]
    if runs.empty:
        return pd.DataFrame(columns=[*cols, "remedy", "sb_epochs", "sharpness",
                                     *renamed(pd.DataFrame(columns=MEASURES_RECORD_FIELDS))])
    specs = [json.loads(s) if isinstance(s, str) else (s or {}) for s in
             runs.get("spec", pd.Series([None] * len(runs)))]
    out = _key(runs[cols].reset_index(drop=True))
    out["remedy"] = ["+".join(sorted(sp.get("remedy") or {})) for sp in specs]
    out["sb_epochs"] = [float(sb_epochs_of(sp["init_from"])) if sp.get("init_from") else np.nan
                        for sp in specs]
    for frame, fields, metric21 in ((sharpness, ("sharpness",), True),
                                    (measures, MEASURES_RECORD_FIELDS, False)):
        frame = frame if "epoch" not in frame else frame[frame["epoch"].isna()]
        if metric21 and len(frame):
            frame = frame[(frame["space"] == "full") &
                          np.isclose(pd.to_numeric(frame["eps"], errors="coerce"), eps)]
        have = [f for f in fields if f in frame]
        part = _key(frame[keys + have]) if len(frame) else pd.DataFrame(columns=keys + have)
        for f in have:
            part[f] = pd.to_numeric(part[f], errors="coerce")
        if part.duplicated(keys).any():
            raise ValueError(f"several records of one model: {part[part.duplicated(keys)]}")
        out = out.merge(part, on=keys, how="left")
        for f in fields:
            out[f] = out[f] if f in out else np.nan
    return renamed(out)


def sharpness_beats_norm(table: pd.DataFrame) -> Verdict:
    """Does any sharpness measure predict the accuracy gap better than the parameter norm here?
    `table`: `correlation_table` (or its CSV). Per sharpness measure, the margin tau(measure) -
    tau(param_norm), both with the accuracy gap over every model (signed: the hypothesis is that
    a larger measure goes with a larger gap), against the half-width of the measure's bootstrap
    interval."""
    claim = ("A sharpness measure predicts the generalization gap better than the parameter norm "
             "(Kendall's tau with train - test accuracy)")
    acc = table[table.gap == "acc_gap"].set_index("measure") if len(table) else table
    if BASELINE not in acc.index or not np.isfinite(acc.loc[BASELINE, "tau"]):
        return Verdict(claim, NOT_RUN, f"no {BASELINE} baseline (or too few models for a tau)")
    base = float(acc.loc[BASELINE, "tau"])
    items = []
    for measure in [m for m in acc.index if role(m) == "sharpness"]:
        r = acc.loc[measure]
        if not np.isfinite(r.tau):
            continue
        half = (r.ci_hi - r.ci_lo) / 2 if np.isfinite(r.ci_hi - r.ci_lo) else np.inf
        margin = float(r.tau) - base
        values = {"tau": float(r.tau), "ci_lo": float(r.ci_lo), "ci_hi": float(r.ci_hi),
                  "half_width": float(half), "baseline_tau": base, "margin": margin,
                  "psi": float(r.psi), "better": margin > 0, "clearly": margin > half}
        items.append(Item(measure, values, f"{measure}: tau {r.tau:+.2f} [{r.ci_lo:+.2f}, "
                          f"{r.ci_hi:+.2f}] vs {BASELINE} {base:+.2f} (margin {margin:+.2f}, "
                          f"Psi {fmt(r.psi, np.nan)})"))
    if not items:
        return Verdict(claim, NOT_RUN, "no sharpness measure with a defined tau")
    clearly = any(i.values["clearly"] for i in items)
    better = any(i.values["better"] for i in items)
    return Verdict(claim, HOLDS if clearly else PARTLY if better else FAILS,
                   statistic=f"Kendall's tau with the accuracy gap over every model, margin over "
                   f"{BASELINE}'s tau, against the measure's bootstrap half-width",
                   items=items, threshold={"margin": "bootstrap half-width",
                                           "level": float(table.level.iloc[0])},
                   rule=f"Holds: some sharpness measure's tau exceeds {BASELINE}'s by more than "
                   "half its bootstrap interval; partly: some exceeds it by less; does not hold: "
                   "none exceeds it.")
