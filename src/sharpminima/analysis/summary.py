"""The pipeline's key numbers for `dvc metrics` and its learning curves for `dvc plots`.

`results/metrics.json` nests the means over seeds (Table 2 accuracies, sharpness per space and eps,
the top Hessian eigenvalue) so that `dvc metrics diff` compares two reproductions number by number.
`results/summary/curves/{net}_{regime}.csv` holds per-epoch accuracies, mean over seeds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sharpminima.analysis.records import read_histories
from sharpminima.core.atomic import atomic_path, write_json
from sharpminima.core.layout import eps_text


def _nest(df: pd.DataFrame, keys: list[str], values: dict[str, str]) -> dict:
    out: dict = {}
    for row in df.itertuples(index=False):
        node = out
        for k in keys:
            node = node.setdefault(str(getattr(row, k)), {})
        node.update({name: round(float(getattr(row, col)), 6) for name, col in values.items()
                     if pd.notna(getattr(row, col))})  # no NaN in JSON (e.g. all diverged)
    return out


def metrics(table2: Path, sharpness_tables: list[Path], hessian: Path | None) -> dict:
    t2 = pd.read_csv(table2)
    out = {"accuracy": _nest(t2, ["net", "regime"], {"train_acc": "train_acc_mean",
                                                     "test_acc": "test_acc_mean"})}
    for path in sharpness_tables:
        t = pd.read_csv(path).assign(eps=lambda d: d.eps.map(lambda e: f"eps{eps_text(e)}"))
        out.setdefault("sharpness", {})[t.space.iloc[0]] = _nest(
            t, ["net", "regime", "eps"], {"mean": "sharpness_mean"})
    if hessian:
        out["hessian_top_eigenvalue"] = _nest(pd.read_csv(hessian), ["net", "regime"],
                                              {"mean": "top_eig_mean"})
    return out


def curves(histories: list[Path]) -> dict[str, pd.DataFrame]:
    """Per net and regime: epoch, train_acc, test_acc (means over seeds)."""
    h = read_histories(histories)
    wide = h.pivot_table(index=["net", "regime", "epoch"], columns="split", values="accuracy",
                         aggfunc="mean").reset_index()
    return {f"{net}_{regime}": g[["epoch", "train", "test"]].rename(
                columns={"train": "train_acc", "test": "test_acc"})
            for (net, regime), g in wide.groupby(["net", "regime"])}


def write(table2, sharpness_tables, hessian, histories, out_metrics, out_curves_dir) -> None:
    write_json(out_metrics, metrics(Path(table2), [Path(p) for p in sharpness_tables],
                                    Path(hessian) if hessian else None))
    out_curves_dir = Path(out_curves_dir)
    out_curves_dir.mkdir(parents=True, exist_ok=True)
    for name, df in curves([Path(p) for p in histories]).items():
        with atomic_path(out_curves_dir / f"{name}.csv") as tmp:
            df.to_csv(tmp, index=False)
