import dataclasses
import json

import pandas as pd
import pytest
import torch

from sharpminima.data.splits import Dataset, Split
from sharpminima.nets import models
from sharpminima.nets.checkpoint import load_model, load_state
from sharpminima.training.resume import RefusedCheckpoint
from sharpminima.training.stopping import Stopping
from sharpminima.training.train import TrainSpec, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CPU = torch.device("cpu")


def toy_dataset(n=240, seed=0, features=False):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    if features:
        x = torch.randn(n, 12, generator=g) + y[:, None].float()
        return Dataset("toy", Split(x, y), Split(x[:60], y[:60]), 3, (12,), {})
    x = (torch.rand(n, 1, 8, 8, generator=g) * 80 + y[:, None, None, None] * 60).to(torch.uint8)
    return Dataset("toy", Split(x, y), Split(x[:60], y[:60]), 3, (1, 8, 8), {})


def spec(**kw):
    base = dict(net="F1", seed=0, batch_size=32, max_epochs=3, patience=None, eval_chunk=100)
    return TrainSpec.from_dict({**base, **kw})


def test_outputs_and_provenance(tmp_path):
    m = train(spec(), toy_dataset(), tmp_path, CPU, log=lambda s: None)
    assert m["status"] == "max_epochs" and m["epochs"] == 3
    hist = pd.read_csv(tmp_path / "history.csv")
    assert list(hist.epoch) == [1, 2, 3]
    assert {"train_loss", "train_acc", "test_loss", "test_acc", "epoch_s", "lr"} <= set(hist)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["provenance"]["packages"]["torch"].startswith("2.13")
    assert saved["spec"]["batch_size"] == 32 and saved["test_acc"] == m["test_acc"]
    assert not (tmp_path / "resume.pt").exists()
    torch.load(tmp_path / "model.pt", weights_only=True)  # safe loading works
    assert isinstance(load_model(tmp_path / "model.pt"), torch.nn.Module)
    assert m["train_acc"] > 0.6  # learnable toy problem


def test_same_seed_identical_metrics(tmp_path):
    a = train(spec(), toy_dataset(), tmp_path / "a", CPU, log=lambda s: None)
    b = train(spec(), toy_dataset(), tmp_path / "b", CPU, log=lambda s: None)
    assert pd.read_csv(tmp_path / "a/history.csv").drop(columns="epoch_s").equals(
        pd.read_csv(tmp_path / "b/history.csv").drop(columns="epoch_s"))
    assert a["test_loss"] == b["test_loss"]


def test_sb_and_lb_start_from_same_point():
    data = toy_dataset()
    x0 = [models.build(s.net, data.input_shape, data.num_classes, seed=s.seed).state_dict()
          for s in (spec(batch_size=32), spec(batch_size=None, batch_fraction=0.5))]
    assert all(torch.equal(x0[0][k], x0[1][k]) for k in x0[0])


def test_resume_equals_uninterrupted(tmp_path):
    full = train(spec(net="C1", max_epochs=4), toy_dataset(), tmp_path / "full", CPU,
                 log=lambda s: None)

    def kill_after_2(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec(net="C1", max_epochs=4), toy_dataset(), tmp_path / "cut", CPU,
              log=lambda s: None, on_epoch_end=kill_after_2)
    assert (tmp_path / "cut/resume.pt").exists() and not (tmp_path / "cut/metrics.json").exists()
    logs = []
    resumed = train(spec(net="C1", max_epochs=4), toy_dataset(), tmp_path / "cut", CPU,
                    log=logs.append)
    assert any("resuming" in line for line in logs)
    assert not any("discarding" in line for line in logs)
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "epochs"):
        assert resumed[key] == full[key], key
    assert _same_run(tmp_path / "full", tmp_path / "cut")  # bit-identical weights and history


def test_divergence_is_recorded_not_a_crash(tmp_path):
    data = toy_dataset(features=True)
    data.train.x[5, 0] = float("nan")
    m = train(spec(), data, tmp_path, CPU, log=lambda s: None)
    assert m["status"] == "diverged" and m["epochs"] == 1
    assert (tmp_path / "metrics.json").exists()


def test_stopping_rule_is_relative_to_the_best_loss():
    """The one stopping rule (train and the multi-seed helper): min_delta is relative to the
    best training loss, patience counts epochs without such an improvement, non-finite ends."""
    stop = Stopping(patience=2, min_delta=0.1)
    assert stop.after_epoch(1.0, 1.0) is None and (stop.best, stop.wait) == (1.0, 0)
    assert stop.after_epoch(0.95, 1.0) is None and (stop.best, stop.wait) == (1.0, 1)
    assert stop.after_epoch(0.85, 1.0) is None and (stop.best, stop.wait) == (0.85, 0)
    assert stop.after_epoch(0.8, 1.0) is None
    assert stop.after_epoch(0.8, 1.0) == "converged" and stop.wait == 2
    assert Stopping(None).after_epoch(5.0, 5.0) is None
    nan = Stopping(1, best=0.5, wait=0)
    assert nan.after_epoch(float("nan"), 1.0) == "diverged" and (nan.best, nan.wait) == (0.5, 0)
    assert nan.after_epoch(0.4, float("inf")) == "diverged"


def test_eval_every_skips_evaluations_and_changes_no_weight(tmp_path):
    """eval_every 2 over 5 epochs: rows 2, 4 and the last (5) are evaluated, 1 and 3 hold only
    the minibatch loss; the weights, the evaluated rows and the final metrics equal a run that
    evaluated every epoch."""
    every = train(spec(max_epochs=5), toy_dataset(), tmp_path / "a", CPU, log=lambda s: None)
    lines = []
    sparse = train(spec(max_epochs=5, eval_every=2), toy_dataset(), tmp_path / "b", CPU,
                   log=lines.append)
    a, b = (load_state(tmp_path / d / "model.pt") for d in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ha, hb = (pd.read_csv(tmp_path / d / "history.csv").drop(columns="epoch_s") for d in "ab")
    assert list(hb.epoch[hb.train_acc.notna()]) == [2, 4, 5]
    assert hb.loc[hb.epoch.isin([1, 3]), ["train_loss", "test_acc"]].isna().all().all()
    assert hb.minibatch_loss.equals(ha.minibatch_loss)
    assert hb[hb.train_acc.notna()].equals(ha[ha.epoch.isin([2, 4, 5])])
    assert {k: sparse[k] for k in ("train_loss", "test_acc", "epochs")} == \
        {k: every[k] for k in ("train_loss", "test_acc", "epochs")}
    assert any(line.startswith("epoch    1/5  minibatch loss") for line in lines)


def test_eval_every_keeps_iterate_epochs_and_refuses_early_stopping():
    assert [e for e in range(1, 8) if spec(max_epochs=7, eval_every=3, save_epochs=[1])
            .evaluates(e)] == [1, 3, 6, 7]
    with pytest.raises(ValueError, match="needs patience null"):
        spec(eval_every=2, patience=5)
    with pytest.raises(ValueError, match="integer >= 1"):
        spec(eval_every=0)
    # an unevaluated epoch: only the minibatch loss can end the run, and only as diverged
    assert Stopping(None).after_epoch(None, 1.0) is None
    assert Stopping(None).after_epoch(None, float("nan")) == "diverged"
    with pytest.raises(ValueError):
        Stopping(3).after_epoch(None, 1.0)


def test_eval_every_divergence_between_evaluations(tmp_path):
    data = toy_dataset(features=True)
    data.train.x[5, 0] = float("nan")
    m = train(spec(eval_every=3), data, tmp_path, CPU, log=lambda s: None)
    assert m["status"] == "diverged" and m["epochs"] == 1


def test_patience_stops_training(tmp_path):
    m = train(spec(max_epochs=10, patience=1, min_delta=0.99), toy_dataset(), tmp_path, CPU,
              log=lambda s: None)
    assert m["status"] == "converged" and m["epochs"] == 2


def test_batch_resolution_and_bad_specs():
    assert spec(batch_size=None, batch_fraction=0.1).resolve_batch(6000) == 600
    with pytest.raises(ValueError):
        spec(batch_fraction=0.1).resolve_batch(100)  # both given
    with pytest.raises(ValueError):
        spec(batch_size=1000).resolve_batch(100)  # larger than the data
    with pytest.raises(ValueError, match="unknown training option"):
        TrainSpec.from_dict({"net": "F1", "seed": 0, "batchsize": 3})


def test_saved_iterates(tmp_path):
    train(spec(save_epochs=[1, 3]), toy_dataset(), tmp_path, CPU, log=lambda s: None)
    assert sorted(p.name for p in (tmp_path / "iterates").iterdir()) == ["epoch1.pt", "epoch3.pt"]


# ------------------------------------------------------- resume.pt: data, and only this run's


class _WritesMarker:
    """Unpickling this runs open(marker, "w"): the stand-in for arbitrary code in a pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_resume_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": _WritesMarker(marker)}, tmp_path / "probe.pt")
    torch.load(tmp_path / "probe.pt", weights_only=False)  # the bait is real: unsafe loading
    assert marker.exists()  # runs its code ...
    marker.unlink()
    (tmp_path / "run").mkdir()
    (tmp_path / "probe.pt").rename(tmp_path / "run/resume.pt")
    with pytest.raises(RefusedCheckpoint, match=r"resume\.pt.*weights_only=True.*Delete it"):
        train(spec(), toy_dataset(), tmp_path / "run", CPU, log=lambda s: None)
    assert not marker.exists()  # ... and train's loading does not
    assert (tmp_path / "run/resume.pt").exists() and not (tmp_path / "run/metrics.json").exists()


def _kill_after(k):
    def stop(epoch):
        if epoch == k:
            raise KeyboardInterrupt
    return stop


def _same_run(a, b):
    """Two finished run directories hold the same history (timings aside) and final weights."""
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="epoch_s") for d in (a, b))
    sa, sb = load_state(a / "model.pt"), load_state(b / "model.pt")
    return ha.equals(hb) and sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_checkpoint_of_another_spec_is_discarded(tmp_path):
    # spec A, killed after epoch 2 (its epoch-2 iterate kept)
    with pytest.raises(KeyboardInterrupt):
        train(spec(save_epochs=[2]), toy_dataset(), tmp_path / "cut", CPU,
              log=lambda s: None, on_epoch_end=_kill_after(2))
    b = spec(lr=3e-3, batch_size=16)
    train(b, toy_dataset(), tmp_path / "full", CPU, log=lambda s: None)
    logs = []
    train(b, toy_dataset(), tmp_path / "cut", CPU, log=logs.append)
    assert _same_run(tmp_path / "full", tmp_path / "cut")
    assert not (tmp_path / "cut/iterates").exists()  # A's iterate is not published as B's
    (line,) = [s for s in logs if "discarding" in s]
    assert "batch_size (32 -> 16)" in line and "lr (0.001 -> 0.003)" in line
    assert "save_epochs" in line and "data differ" not in line
    assert not any("resuming" in s for s in logs)


def test_checkpoint_of_other_data_is_discarded(tmp_path):
    data = toy_dataset()
    subset = dataclasses.replace(data, train=data.train.head(200))  # another train_size
    with pytest.raises(KeyboardInterrupt):
        train(spec(), data, tmp_path / "cut", CPU, log=lambda s: None,
              on_epoch_end=_kill_after(2))
    train(spec(), subset, tmp_path / "full", CPU, log=lambda s: None)
    logs = []
    train(spec(), subset, tmp_path / "cut", CPU, log=logs.append)
    assert _same_run(tmp_path / "full", tmp_path / "cut")
    (line,) = [s for s in logs if "discarding" in s]
    assert "data differ" in line and "spec differs" not in line
