"""Section 4 experiments: small per-run records -> the tidy frames of Figs. 4, 5, 6, of the gradient
noise figures, and the dynamic-sampling table.

Presentation-side only: these builders read the runs' metrics.json / history.csv and the small JSON
and CSV records of the measurement stages (sharpness, grad-noise), never a checkpoint. A sharpness
record is joined to its run by location: the records of a sweep run sit in the run's folder
(``<run>/model.sharpness_<space>_eps<eps>.json``), those of a saved iterate beside the iterate
(``<run>/iterates/epoch<e>.sharpness_<space>_eps<eps>.json``, labelled with the epoch).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from sharpminima.analysis import records, stats
from sharpminima.analysis.stats import mean_std
from sharpminima.analysis.tables import SCALE_NOTE, fmt
from sharpminima.core.layout import eps_text, read_metrics, run_dir

SHARPNESS_COLUMNS = ["eps", "space", "sharpness", "f_x"]
RECORD_COLUMNS = ["run", "epoch", "net", "regime", "seed", "dataset", *SHARPNESS_COLUMNS]
RUN_COLUMNS = ("net", "dataset", "regime", "seed", "status", "batch_size", "n_train", "epochs",
               "train_loss", "train_acc", "test_loss", "test_acc", "wall_s")


def sharpness_records(paths: Iterable) -> pd.DataFrame:
    """One row per sharpness record (records.sharpness_records): its run folder, iterate epoch
    (if any), labels, eps, space, value."""
    return records.sharpness_records(paths)[RECORD_COLUMNS]


def _run_row(path) -> dict:
    """The labels and final numbers of the run `path` (a file of the run) belongs to."""
    m = read_metrics(path)
    return {"run": str(run_dir(path)), **{k: m.get(k) for k in RUN_COLUMNS},
            "init_from": (m.get("spec") or {}).get("init_from")}


def _join_sharpness(runs: pd.DataFrame, sharp: pd.DataFrame) -> pd.DataFrame:
    """Runs x their sharpness records (a run without a record keeps NaN sharpness)."""
    s = sharp[["run", *SHARPNESS_COLUMNS]]
    return runs.merge(s, on="run", how="left")


# ----------------------------------------------------------------------------------- Fig. 4

def batch_sweep_frame(metrics: Iterable, sharpness: Iterable) -> pd.DataFrame:
    """Fig. 4: one row per (run, sharpness record): net, dataset, seed, batch_size, n_train,
    status, epochs, train/test accuracy and loss, eps, space, sharpness, f_x."""
    runs = pd.DataFrame([_run_row(p) for p in metrics]).drop(columns="init_from")
    df = _join_sharpness(runs, sharpness_records(sharpness))
    return df.sort_values(["net", "batch_size", "seed"]).drop(columns="run").reset_index(drop=True)


# ----------------------------------------------------------------------------------- Fig. 5

_EPOCH = re.compile(r"epoch(\d+)\.pt$")


def sb_epochs_of(init_from: str | None) -> int:
    """K of a warm start from `.../iterates/epoch{K}.pt`."""
    match = _EPOCH.search(init_from or "")
    if not match:
        raise ValueError(f"not a warm start from a saved iterate: init_from={init_from!r}")
    return int(match.group(1))


def warm_start_frame(histories: Iterable, sharpness: Iterable) -> pd.DataFrame:
    """Fig. 5: one row per warm-started LB run (x sharpness record): net, dataset, seed, sb_epochs
    (K), the SB iterate's train/test accuracy and loss (the run's epoch-0 evaluation), the LB
    solution's (its last epoch), lb_epochs, batch_size, eps, space, sharpness (of the LB
    solution)."""
    rows = []
    for p in histories:
        run = _run_row(p)
        h = pd.read_csv(p)
        start, end = h[h.epoch == 0], h[h.epoch > 0]
        if start.empty:
            raise ValueError(f"{p}: no epoch-0 row (not a warm-started run?)")
        s, e = start.iloc[0], end.iloc[-1]
        rows.append({"run": run["run"], "net": run["net"], "dataset": run["dataset"],
                     "seed": run["seed"], "sb_epochs": sb_epochs_of(run["init_from"]),
                     "batch_size": run["batch_size"], "status": run["status"],
                     "lb_epochs": int(e.epoch),
                     **{f"sb_{k}": s[k] for k in ("train_loss", "train_acc", "test_loss",
                                                 "test_acc")},
                     **{f"lb_{k}": e[k] for k in ("train_loss", "train_acc", "test_loss",
                                                 "test_acc")}})
    df = _join_sharpness(pd.DataFrame(rows), sharpness_records(sharpness))
    return df.sort_values(["net", "sb_epochs", "seed"]).drop(columns="run").reset_index(drop=True)


# ----------------------------------------------------------------------------------- Fig. 6

def along_training_frame(sharpness: Iterable, histories: Iterable = ()) -> pd.DataFrame:
    """Fig. 6: one row per (iterate, sharpness record): net, dataset, regime, seed, epoch, loss
    (= f_x, the training cross-entropy the sharpness was measured on), eps, space, sharpness, and,
    when the runs' histories are given, the epoch's full-training-set loss and test accuracy."""
    df = sharpness_records(sharpness)
    if df["epoch"].isna().any():
        raise ValueError("Fig. 6 takes sharpness records of saved iterates (with an epoch)")
    df = df.assign(epoch=df["epoch"].astype(int), loss=df["f_x"])
    hist = []
    for p in histories:
        h = pd.read_csv(p)[["epoch", "train_loss", "test_acc"]]
        hist.append(h.assign(run=str(run_dir(p))))
    if hist:
        df = df.merge(pd.concat(hist), on=["run", "epoch"], how="left")
    return df.sort_values(["net", "regime", "seed", "epoch"]).drop(columns="run") \
        .reset_index(drop=True)


# ----------------------------------------------------------------------------------- noise

def spread_frame(records: Iterable) -> pd.DataFrame:
    """Spread of minibatch gradients vs m (grad-noise CSVs), with the fitted log-log line per
    (net, regime, seed, epoch): fit_slope and fit_intercept (log10 spread = a log10 m + b) of the
    measured spread, and fit_slope_fpc of the FPC-corrected spread."""
    df = pd.concat([pd.read_csv(p) for p in records], ignore_index=True)
    keys = ["net", "regime", "seed", "epoch"]
    fits = []
    for key, g in df.groupby(keys, sort=True):
        slope, intercept = stats.fit_loglog(g["m"], g["spread"])
        slope_fpc, _ = stats.fit_loglog(g["m"], g["spread_fpc"])
        fits.append({**dict(zip(keys, key)), "fit_slope": slope, "fit_intercept": intercept,
                     "fit_slope_fpc": slope_fpc})
    df = df.merge(pd.DataFrame(fits), on=keys)
    return df.sort_values([*keys, "m"]).reset_index(drop=True)


NOISE_COLUMNS = ["noise_chunk", "noise_n", "noise_grad_sq", "noise_trace", "b_simple"]


def noise_scale_frame(histories: Iterable) -> pd.DataFrame:
    """B_simple along training (history.csv of runs trained with TrainSpec.noise_chunk): net,
    dataset, regime, seed, epoch, batch_size, train_loss, test_acc and the noise columns."""
    frames = []
    for p in histories:
        m = read_metrics(p)
        h = pd.read_csv(p)
        if "b_simple" not in h:
            raise ValueError(f"{p}: no b_simple column (train with noise_chunk set)")
        h = h[h["b_simple"].notna()]
        frames.append(pd.DataFrame({
            "net": m["net"], "dataset": m["dataset"], "regime": m["regime"], "seed": m["seed"],
            "epoch": h["epoch"], "batch_size": h["batch_size"], "train_loss": h["train_loss"],
            "test_acc": h["test_acc"], **{c: h[c] for c in NOISE_COLUMNS}}))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------------- dynamic

def _schedule_text(batches: pd.Series, epochs: pd.Series) -> str:
    """'64 -> 256 (ep. 4) -> 1000 (ep. 7)' from a history's per-epoch batch sizes."""
    parts, last = [], None
    for e, b in zip(epochs, batches):
        if b != last:
            parts.append(f"{int(b)}" if last is None else f"{int(b)} (ep. {int(e)})")
            last = b
    return " → ".join(parts)


def dynamic_table(metrics: Iterable, sharpness: Iterable, scale: str,
                  order: Iterable[str] = ("SB", "LB")) -> pd.DataFrame:
    """Dynamic sampling vs plain SB and LB, per net and regime: the batch schedule, epochs and
    updates (optimizer steps) run, wall time, test accuracy (%) and full-space sharpness per eps,
    mean / std / n over seeds, and the accuracy change against LB."""
    runs = []
    for p in metrics:
        r = _run_row(p)
        h = pd.read_csv(run_dir(p) / "history.csv")
        h = h[h.epoch > 0]
        r["updates"] = int((r["n_train"] // h["batch_size"]).sum())
        r["schedule"] = _schedule_text(h["batch_size"], h["epoch"])
        runs.append(r)
    runs = pd.DataFrame(runs)
    sharp = sharpness_records(sharpness)
    sharp = sharp[sharp["space"] == "full"]
    eps_list = sorted(sharp["eps"].dropna().unique(), reverse=True)
    order = list(order)
    rows = []
    for net, g_net in runs.groupby("net", sort=False):
        regimes = [r for r in order if r in set(g_net.regime)] + \
                  [r for r in dict.fromkeys(g_net.regime) if r not in order]
        lb = g_net[g_net.regime == "LB"]
        lb_acc = mean_std(lb["test_acc"] * 100)[0] if len(lb) else np.nan
        for regime in regimes:
            g = g_net[g_net.regime == regime]
            acc_mean, acc_std, n = mean_std(g["test_acc"] * 100)
            row = {"scale": scale, "net": net, "dataset": g["dataset"].iloc[0], "regime": regime,
                   "schedule": g["schedule"].iloc[0], "n": n,
                   "diverged": int((g["status"] == "diverged").sum()),
                   "epochs_mean": g["epochs"].mean(), "updates_mean": g["updates"].mean(),
                   "wall_s_mean": g["wall_s"].mean(),
                   "train_acc_mean": mean_std(g["train_acc"] * 100)[0],
                   "test_acc_mean": acc_mean, "test_acc_std": acc_std,
                   "test_acc_change_vs_lb": acc_mean - lb_acc if regime != "LB" else np.nan}
            s_runs = sharp[(sharp.net == net) & (sharp.regime == regime)]  # records elsewhere
            for eps in eps_list:
                s_mean, s_std, s_n = mean_std(s_runs[s_runs.eps == eps]["sharpness"])
                k = f"sharpness_eps{eps_text(eps)}"
                row.update({f"{k}_mean": s_mean, f"{k}_std": s_std, f"{k}_n": s_n})
            rows.append(row)
    return pd.DataFrame(rows)


def dynamic_markdown(df: pd.DataFrame) -> pd.DataFrame:
    out = {"net": df.net, "data": df.dataset, "regime": df.regime, "batch schedule": df.schedule,
           "n": df.n, "epochs": df.epochs_mean.map("{:.0f}".format),
           "updates": df.updates_mean.map("{:.0f}".format),
           "wall s": df.wall_s_mean.map("{:.0f}".format),
           "test acc %": [fmt(m, s) for m, s in zip(df.test_acc_mean, df.test_acc_std)],
           "Δ acc vs LB (pp)": [f"{d:+.2f}" if not math.isnan(d) else "-"
                                 for d in df.test_acc_change_vs_lb]}
    for col in df.columns:
        if col.startswith("sharpness_eps") and col.endswith("_mean"):
            key = col[len("sharpness_"):-len("_mean")]
            out[f"sharpness {key.replace('eps', 'eps ')}"] = [
                fmt(m, s) for m, s in zip(df[col], df[f"sharpness_{key}_std"])]
    return pd.DataFrame(out)


def dynamic_caption(scale: str) -> str:
    return ("Dynamic sampling (the paper's proposed remedy, Sec. 5: grow the batch in training) "
            "beside plain SB and LB: the batch schedule as run (batch size, and the epoch each "
            "change took effect), mean epochs and optimizer updates, wall time, test accuracy (%) "
            "and full-space sharpness (Metric 2.1), mean ± std over seeds (n). All regimes share "
            "the stopping rule of `train`. " + SCALE_NOTE.get(scale, ""))


FRAMES = {"fig4": batch_sweep_frame, "fig5": warm_start_frame, "fig6": along_training_frame,
          "noise_spread": spread_frame, "noise_scale": noise_scale_frame}
