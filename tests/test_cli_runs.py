"""The measurement verbs' view of a run folder (sharpminima.cli.runs, on core.layout): labels from
the run's metrics.json, epoch for an iterate, the checkpoint's net for a lone model."""

import argparse
import json

import numpy as np
import pytest
import torch

from sharpminima.cli import runs
from sharpminima.nets import models
from sharpminima.nets.checkpoint import save_model

SHAPE, CLASSES = (1, 4, 4), 3
RECORD = {"net": "F1", "regime": "LB", "seed": 2, "dataset": "toy", "status": "ok"}


@pytest.fixture
def run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "iterates").mkdir(parents=True)
    model = models.build("F1", SHAPE, CLASSES, seed=0)
    for path in (run / "model.pt", run / "iterates/epoch3.pt"):
        save_model(model, "F1", "batch", SHAPE, CLASSES, path)
    (run / "metrics.json").write_text(json.dumps(RECORD))
    return run


def test_labels_of_a_model_and_of_an_iterate_come_from_the_runs_metrics(run_folder):
    want = {k: RECORD[k] for k in runs.LABELS}
    assert runs.labels(run_folder / "model.pt") == want
    assert runs.labels(run_folder / "iterates/epoch3.pt") == want  # no epoch: as before
    assert runs.run_record(run_folder / "iterates/epoch3.pt") == RECORD


def test_a_lone_model_is_labelled_from_its_checkpoint(run_folder, tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "m.pt").write_bytes((run_folder / "model.pt").read_bytes())
    assert runs.run_record(lone / "m.pt") == {"net": "F1"}
    assert runs.diverged_any(lone / "m.pt") is None


def test_load_run_adds_the_epoch_of_an_iterate(run_folder, tmp_path):
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, *SHAPE), generator=gen, dtype=torch.uint8).numpy()
    y = torch.randint(0, CLASSES, (8,), generator=gen).numpy()
    npz = tmp_path / "toy.npz"
    np.savez(npz, x_train=x, y_train=y, x_test=x[:2], y_test=y[:2],
             meta=json.dumps({"name": "toy", "num_classes": CLASSES}))
    for path, epoch in ((run_folder / "iterates/epoch3.pt", 3), (run_folder / "model.pt", None)):
        args = argparse.Namespace(model=str(path), data=str(npz), train_size=4)
        _, split, labels = runs.load_run(args, torch.device("cpu"))
        assert len(split) == 4 and labels.get("epoch") == epoch and labels["regime"] == "LB"


def test_a_diverged_run_says_why(run_folder):
    (run_folder / "metrics.json").write_text(json.dumps({**RECORD, "status": "diverged"}))
    why = runs.diverged_any(run_folder / "model.pt")
    assert why.startswith("diverged (F1 LB seed 2: ")
