"""The records of the planned jobs -> tidy tables (results/summary/*.csv), one row per record.

The `collect` rule passes exactly the record files the current configuration plans, grouped by
kind; nothing here walks results/. The report's verdicts, findings, provenance and compute table
read only these tables, so a record an earlier configuration left behind (another seed, net, eps,
regime) cannot reach them.

Every label of a record is a column (net, regime, seed, space, eps, ...); nested provenance is
flattened into `device`, `code` (git commit and source hash), `packages` (JSON) and `job`
(scheduler job id), and `record` is the file the row came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from sharpminima.core.atomic import atomic_path
from sharpminima.core.layout import read_metrics, run_dir

#: kind -> the stage its wall times are counted under in the report's compute table
KINDS = {"runs": "train", "sharpness": "sharpness", "hessian": "hessian",
         "landscape": "landscape", "sweep_runs": "sweeps (train)",
         "sweep_sharpness": "sweeps (sharpness)", "measures": "measures (beyond the paper)",
         "reparam": "reparametrization (beyond the paper)"}
RUN_COLUMNS = ("net", "regime", "dataset", "seed", "status", "batch_size", "n_train", "n_test",
               "num_classes", "epochs", "train_loss", "train_acc", "test_loss", "test_acc",
               "wall_s")


def flatten(record: dict, path: str | Path) -> dict:
    """One record as one flat row: scalars kept, lists as JSON, provenance flattened."""
    row = {}
    for key, value in record.items():
        if key == "provenance":
            continue
        row[key] = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
    prov = record.get("provenance") or {}
    row["device"] = prov.get("device")
    row["code"] = json.dumps(prov.get("code"), sort_keys=True) if prov.get("code") else None
    row["packages"] = json.dumps(prov.get("packages"), sort_keys=True) if prov else None
    row["job"] = (prov.get("scheduler") or {}).get("SLURM_JOB_ID")
    row["record"] = str(path)
    return row


def read_json(path) -> dict:
    """The JSON record at `path` (core.layout.read_metrics: the metrics.json of the run a file
    belongs to)."""
    return json.loads(Path(path).read_text())


def read(paths) -> pd.DataFrame:
    """The JSON records at `paths` as one frame, one row each (columns: union of the labels)."""
    rows = [flatten(read_json(p), p) for p in paths]
    return pd.DataFrame(rows) if rows else pd.DataFrame({"record": []})


def runs(paths) -> pd.DataFrame:
    """Runs' metrics.json: the labels and final numbers of each run (RUN_COLUMNS first)."""
    df = read(paths)
    first = [c for c in RUN_COLUMNS if c in df]
    return df[first + [c for c in df if c not in first]]


def read_records(paths) -> pd.DataFrame:
    """One row per JSON record, every label a column (nested provenance dropped)."""
    rows = []
    for p in paths:
        rec = read_json(p)
        rec.pop("provenance", None)
        rows.append(rec)
    return pd.DataFrame(rows)


#: the columns every frame of sharpness records has, even an empty one
SHARPNESS_LABELS = ["run", "epoch", "net", "regime", "seed", "dataset", "eps", "space",
                    "sharpness", "f_x"]


def sharpness_records(paths: Iterable) -> pd.DataFrame:
    """The one reader of sharpness records: one row per record with every label of it (provenance
    dropped), and `run`, the folder of the run it was measured on (core.layout.run_dir: a record
    of a saved iterate sits in the run's iterates/ and carries its `epoch`)."""
    paths = list(paths)
    df = read_records(paths)
    if not paths:
        return pd.DataFrame(columns=SHARPNESS_LABELS)
    df.insert(0, "run", [str(run_dir(p)) for p in paths])
    return df.reindex(columns=[*SHARPNESS_LABELS,
                               *[c for c in df.columns if c not in SHARPNESS_LABELS]])


def histories(paths) -> pd.DataFrame:
    """history.csv of each run, labelled from the metrics.json beside it: one row per epoch."""
    frames = []
    for p in paths:
        meta = read_metrics(p)
        h = pd.read_csv(p)
        for key in ("net", "dataset", "regime", "seed"):
            h.insert(0, key, meta[key])
        frames.append(h)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame({"epoch": []})


def read_histories(paths: Iterable[str | Path]) -> pd.DataFrame:
    """history.csv files of trained runs (with their metrics.json beside them) -> Fig. 2's tidy
    frame: net, dataset, regime, seed, batch_size, epoch, split, accuracy, loss. Epochs that
    were not evaluated (TrainSpec.eval_every) are left out."""
    frames = []
    for p in paths:
        meta, h = read_metrics(p), evaluated_rows(pd.read_csv(p))
        for split in ("train", "test"):
            frames.append(pd.DataFrame({
                "net": meta["net"], "dataset": meta["dataset"], "regime": meta["regime"],
                "seed": meta["seed"], "batch_size": h["batch_size"], "epoch": h["epoch"],
                "split": split, "accuracy": h[f"{split}_acc"], "loss": h[f"{split}_loss"]}))
    return pd.concat(frames, ignore_index=True)


def evaluated_rows(h: pd.DataFrame) -> pd.DataFrame:
    """The history rows that hold an evaluation (every row unless the run set eval_every > 1)."""
    return h[h["train_acc"].notna() | h["test_acc"].notna()] if "train_acc" in h else h


def long_histories(h: pd.DataFrame) -> pd.DataFrame:
    """The tidy histories table (histories.csv) in Fig. 2's long form: one row per run, evaluated
    epoch and split."""
    h = evaluated_rows(h)
    if h.empty:
        return h
    keep = ["net", "dataset", "regime", "seed", "batch_size", "epoch"]
    return pd.concat([h[keep].assign(split=split, accuracy=h[f"{split}_acc"],
                                     loss=h[f"{split}_loss"]) for split in ("train", "test")],
                     ignore_index=True)


def write_all(groups: dict[str, list[str]], history_paths: list[str], out_dir: Path) -> None:
    """results/summary/<kind>.csv for every kind (empty kinds too) and histories.csv."""
    out_dir = Path(out_dir)
    for kind in KINDS:
        df = runs(groups.get(kind, [])) if kind in ("runs", "sweep_runs") \
            else read(groups.get(kind, []))
        _write(df, out_dir / f"{kind}.csv")
    _write(histories(history_paths), out_dir / "histories.csv")


def _write(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def load(summary_dir: Path, kind: str) -> pd.DataFrame:
    """A tidy table written by write_all (kind: a KINDS key or "histories")."""
    return pd.read_csv(Path(summary_dir) / f"{kind}.csv")


def compute_by_stage(summary_dir: Path) -> pd.DataFrame:
    """Compute seconds per stage, summed from the planned records' own wall times."""
    rows = []
    for kind, stage in KINDS.items():
        df = load(summary_dir, kind)
        wall = pd.to_numeric(df["wall_s"], errors="coerce") if "wall_s" in df else pd.Series([])
        if len(df):
            rows.append({"stage": stage, "records": len(df),
                         "compute_s": round(float(wall.fillna(0).sum()), 1)})
    return pd.DataFrame(rows, columns=["stage", "records", "compute_s"])
