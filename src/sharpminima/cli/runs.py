"""What a measurement verb knows about the run it measures: the model, its labels (net, regime,
seed, dataset; epoch for an iterate), whether it diverged, and the records it writes.

The run folder's layout is sharpminima.core.layout's: a model's labels come from its run's
metrics.json (for an iterate `<run>/iterates/epochN.pt`, the run's, with epoch=N); a model with no
metrics.json beside it is labelled from its checkpoint (net only).
"""

from __future__ import annotations

from sharpminima.core import layout

LABELS = ("net", "regime", "seed", "dataset")


def run_record(model_path) -> dict:
    """metrics.json of the model's run; else what the checkpoint itself says (net only)."""
    if layout.metrics_path(model_path).exists():
        return layout.read_metrics(model_path)
    import torch
    return {"net": torch.load(model_path, map_location="cpu", weights_only=True).get("net")}


def labels(model_path) -> dict:
    """The run's labels (net, regime, seed, dataset), as a 'not measured' record carries them."""
    record = run_record(model_path)
    return {k: record.get(k) for k in LABELS}


def load_run(args, device):
    """A trained model, its labels (for an iterate, its epoch too) and its training split
    (args: model, data, train_size)."""
    from sharpminima.data import splits as data
    from sharpminima.nets.checkpoint import load_model
    found = labels(args.model)
    model = load_model(args.model, device)
    split = data.load(args.data, device, train_size=args.train_size, test_size=1).train
    epoch = layout.iterate_epoch(args.model)
    if epoch is not None:  # an iterate saved during training
        found["epoch"] = epoch
    return model, split, found


def diverged_any(*model_paths) -> str | None:
    """Why the run of any of these models counts as diverged (training.divergence), or None."""
    from sharpminima.training import divergence
    for path in model_paths:
        why = divergence.reason(run_record(path))
        if why:
            found = labels(path)
            return f"diverged ({found['net']} {found['regime']} seed {found['seed']}: {why})"
    return None


def not_measured(fields: dict, why: str, device=None) -> dict:
    """A 'not measured' record (the reason in it); with a device, its provenance too."""
    from sharpminima.core import provenance
    from sharpminima.training import divergence
    record = divergence.not_measured_record(fields, why)
    if device is not None:
        record["provenance"] = provenance.collect(device)
    return record


def write_empty_csvs(paths, columns) -> None:
    import pandas as pd

    from sharpminima.core.atomic import atomic_path
    for out in paths:
        with atomic_path(out) as tmp:
            pd.DataFrame(columns=list(columns)).to_csv(tmp, index=False)


def write_record(path, result: dict, run_labels: dict, device) -> None:
    from sharpminima.core import provenance
    from sharpminima.core.atomic import write_json
    write_json(path, {**run_labels, **result, "provenance": provenance.collect(device)})
