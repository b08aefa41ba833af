"""When a training run has diverged: a result to report, not a crash.

The rule (declared here, printed in the report):
1. a non-finite training loss during training: `train.train` stops the run (status "diverged");
2. after the run, a final training loss above ln(C), the loss of the uniform guess over C classes,
   or a final training accuracy at most twice chance (2 / C): finite but absurd losses (e.g. a
   learning rate of 1000) leave a net that predicts no better than a guess.

A diverged run is marked in Table 2; its measurements (sharpness, Hessian, landscapes) are written
as explicit "not measured" records, so every table and the report still complete.
"""

from __future__ import annotations

import math

from sharpminima.data import datasets

RULE = ("a run has diverged when its training loss became non-finite, or when it ended with a "
        "training loss above ln(C) (worse than the uniform guess over C classes) or a training "
        "accuracy at most 2/C (twice chance)")
NOT_MEASURED = "not measured"


def num_classes(metrics: dict) -> int | None:
    """C of a run: recorded by the run, else the dataset registry's (None when unknown)."""
    if metrics.get("num_classes"):
        return int(metrics["num_classes"])
    spec = datasets.DATASETS.get(metrics.get("dataset"))
    return spec.num_classes if spec else None


def reason(metrics: dict) -> str | None:
    """Why the run counts as diverged, or None when it trained."""
    if metrics.get("status") == "diverged":
        return f"non-finite training loss by epoch {metrics.get('epochs')}"
    loss, acc, c = metrics.get("train_loss"), metrics.get("train_acc"), num_classes(metrics)
    if loss is None or acc is None or not c:
        return None
    if not math.isfinite(loss):
        return "non-finite final training loss"
    if loss > math.log(c):
        return f"final training loss {loss:.4g} > ln({c}) = {math.log(c):.3g} (uniform guess)"
    if acc <= 2 / c:
        return f"final training accuracy {100 * acc:.1f}% <= 2/{c} (twice chance)"
    return None


def not_measured_record(labels: dict, why: str, **fields) -> dict:
    """The record a measurement writes instead of a number: its labels, status and reason."""
    return {**labels, **fields, "status": NOT_MEASURED, "reason": why}
