"""Section 4 experiments: warm starts, growing batches, saved iterates, the tidy frames of Figs. 4-6
and of the noise figures, the dynamic-sampling table and the figures drawn from them."""

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from sharpminima.analysis import sweeps
from sharpminima.cli import main as cli
from sharpminima.cli.runs import load_run
from sharpminima.data.splits import Dataset, Split
from sharpminima.figures import sweeps as figures_sweeps
from sharpminima.nets import models
from sharpminima.nets.checkpoint import load_model
from sharpminima.nets.evaluate import evaluate
from sharpminima.training.train import TrainSpec, train

CPU = torch.device("cpu")
QUIET = dict(log=lambda s: None)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def toy(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 12, generator=g) + y[:, None].float()
    return Dataset("toy", Split(x, y), Split(x[:60], y[:60]), 3, (12,), {})


def spec(**kw):
    base = dict(net="F1", seed=0, batch_size=32, max_epochs=2, patience=None, eval_chunk=100)
    return TrainSpec.from_dict({**base, **kw})


# ----------------------------------------------------------------------------------- training

def test_epoch0_iterate_is_the_seeded_initial_point(tmp_path):
    data = toy()
    train(spec(save_epochs=[0, 1]), data, tmp_path, CPU, **QUIET)
    x0 = models.build("F1", data.input_shape, data.num_classes, seed=0).state_dict()
    saved = load_model(tmp_path / "iterates/epoch0.pt").state_dict()
    assert all(torch.equal(x0[k], saved[k]) for k in x0)
    assert (tmp_path / "iterates/epoch1.pt").exists()
    assert list(pd.read_csv(tmp_path / "history.csv").epoch) == [1, 2]  # no epoch-0 row


def test_iterates_survive_a_resume_and_appear_when_the_run_ends(tmp_path):
    def stop(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec(max_epochs=3, save_epochs=[0, 1, 3]), toy(), tmp_path, CPU,
              log=lambda s: None, on_epoch_end=stop)
    assert not (tmp_path / "iterates").exists()  # nothing that looks like a finished run's output
    staged = {p.name for p in (tmp_path / ".iterates-partial").iterdir()}
    assert staged == {"epoch0.pt", "epoch1.pt"}
    train(spec(max_epochs=3, save_epochs=[0, 1, 3]), toy(), tmp_path, CPU, **QUIET)
    assert {p.name for p in (tmp_path / "iterates").iterdir()} == {"epoch0.pt", "epoch1.pt",
                                                                   "epoch3.pt"}
    assert not (tmp_path / ".iterates-partial").exists()


def test_warm_start_starts_from_the_saved_iterate(tmp_path):
    data = toy()
    train(spec(max_epochs=3, save_epochs=[2]), data, tmp_path / "sb", CPU, **QUIET)
    iterate = tmp_path / "sb/iterates/epoch2.pt"
    warm = train(spec(batch_size=None, batch_fraction=0.5, max_epochs=2, init_from=str(iterate),
                      regime="LB_from_SB2"), data, tmp_path / "lb", CPU, **QUIET)
    h = pd.read_csv(tmp_path / "lb/history.csv")
    assert list(h.epoch) == [0, 1, 2] and np.isnan(h.minibatch_loss.iloc[0])
    # the first evaluation is the iterate's: as the SB run saw it after epoch 2, and as re-evaluated
    sb = pd.read_csv(tmp_path / "sb/history.csv").set_index("epoch").loc[2]
    first = h.iloc[0]
    for k in ("train_loss", "train_acc", "test_loss", "test_acc"):
        assert first[k] == sb[k], k
    model = load_model(iterate)
    assert (first.train_loss, first.train_acc) == evaluate(model, data.train, 100)
    assert warm["epochs"] == 2 and warm["spec"]["init_from"] == str(iterate)
    assert warm["batch_size"] == 120 and h.batch_size.iloc[0] == 120
    assert warm["test_acc"] == h.test_acc.iloc[-1]


def test_warm_start_differs_from_a_cold_start(tmp_path):
    data = toy()
    train(spec(save_epochs=[1], max_epochs=1), data, tmp_path / "sb", CPU, **QUIET)
    cold = train(spec(max_epochs=1), data, tmp_path / "cold", CPU, **QUIET)
    warm = train(spec(max_epochs=1, init_from=str(tmp_path / "sb/iterates/epoch1.pt")), data,
                 tmp_path / "warm", CPU, **QUIET)
    assert warm["train_loss"] != cold["train_loss"]


def test_growing_batch_schedule_yields_the_declared_sizes(tmp_path):
    data = toy()  # 240 examples
    s = spec(max_epochs=5, batch_schedule=[[2, 64], [4, 0.5]])
    assert [s.batch_for_epoch(e, 240) for e in range(1, 6)] == [32, 64, 64, 120, 120]
    m = train(s, data, tmp_path, CPU, **QUIET)
    h = pd.read_csv(tmp_path / "history.csv")
    assert list(h.batch_size) == [32, 64, 64, 120, 120]
    assert m["batch_size"] == 32 and m["final_batch_size"] == 120 and m["epochs"] == 5


def test_schedule_from_epoch_one_replaces_the_base_batch():
    s = spec(batch_schedule=[[1, 48], [3, 96]])
    assert [s.batch_for_epoch(e, 240) for e in (1, 2, 3, 9)] == [48, 48, 96, 96]


def test_schedule_resumes_with_the_right_batch(tmp_path):
    data = toy()
    s = dict(max_epochs=4, batch_schedule=[[3, 80]])
    full = train(spec(**s), data, tmp_path / "full", CPU, **QUIET)

    def stop(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec(**s), data, tmp_path / "cut", CPU, log=lambda s: None, on_epoch_end=stop)
    resumed = train(spec(**s), data, tmp_path / "cut", CPU, **QUIET)
    assert resumed["test_loss"] == full["test_loss"]
    assert list(pd.read_csv(tmp_path / "cut/history.csv").batch_size) == [32, 32, 80, 80]


@pytest.mark.parametrize("schedule, message", [
    ([[2, 64], [2, 128]], "increase"),
    ([[0, 64]], "epoch >= 1"),
    ([[2, 1]], "neither"),
    ([[2, 1.5]], "neither"),
    ([[2]], "entries"),
])
def test_invalid_schedules_are_rejected(schedule, message):
    with pytest.raises(ValueError, match=message):
        spec(batch_schedule=schedule)


def test_schedule_and_lr_warmup_do_not_combine():
    with pytest.raises(ValueError, match="lr_warmup"):
        spec(batch_schedule=[[2, 64]], remedy={"lr_warmup": {}})


def test_schedule_past_the_training_set_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        spec(batch_schedule=[[2, 500]]).batch_for_epoch(2, 240)


def test_default_spec_has_no_new_keys_in_metrics(tmp_path):
    m = train(spec(max_epochs=1), toy(), tmp_path, CPU, **QUIET)
    assert "final_batch_size" not in m
    h = pd.read_csv(tmp_path / "history.csv")
    assert list(h.columns) == ["epoch", "batch_size", "lr", "minibatch_loss", "train_loss",
                               "train_acc", "test_loss", "test_acc", "epoch_s"]


# ----------------------------------------------------------------------------------- CLI labels

def test_measurements_of_an_iterate_take_the_runs_labels(tmp_path):
    data = toy()
    run = tmp_path / "run"
    train(spec(save_epochs=[1], regime="SB"), data, run, CPU, **QUIET)
    npz = tmp_path / "toy.npz"
    np.savez(npz, x_train=data.train.x.numpy(), y_train=data.train.y.numpy(),
             x_test=data.test.x.numpy(), y_test=data.test.y.numpy(),
             meta=json.dumps({"name": "toy", "num_classes": 3}))
    args = argparse.Namespace(model=str(run / "iterates/epoch1.pt"), data=str(npz),
                              train_size=None)
    _, split, labels = load_run(args, CPU)
    assert labels == {"net": "F1", "regime": "SB", "seed": 0, "dataset": "toy", "epoch": 1}
    out = tmp_path / "noise.csv"
    assert cli.main(["grad-noise", "--model", args.model, "--data", str(npz), "--sizes", "8",
                     "16", "--out", str(out), "--device", "cpu", "--threads", "1",
                     "--repeats", "1", "--seed", "0", "--gpu-lock-dir", ""]) == 0
    df = pd.read_csv(out)
    assert list(df.m) == [8, 16] and (df.epoch == 1).all() and (df.regime == "SB").all()
    # a model without any metrics.json: labels from the checkpoint
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "m.pt").write_bytes((run / "model.pt").read_bytes())
    args.model = str(lone / "m.pt")
    assert load_run(args, CPU)[2]["net"] == "F1"


# ----------------------------------------------------------------------------------- frames

def write_run(d, net="C1", regime="SB", seed=0, batch=256, test_acc=0.8, history=None,
              init_from=None, n_train=5000):
    d.mkdir(parents=True, exist_ok=True)
    history = history if history is not None else pd.DataFrame(
        {"epoch": [1, 2], "batch_size": [batch, batch], "train_loss": [0.5, 0.2],
         "train_acc": [0.8, 0.9], "test_loss": [0.6, 0.4], "test_acc": [0.7, test_acc]})
    history.to_csv(d / "history.csv", index=False)
    (d / "metrics.json").write_text(json.dumps({
        "net": net, "dataset": "cifar10", "regime": regime, "seed": seed, "status": "max_epochs",
        "batch_size": batch, "n_train": n_train, "epochs": int((history.epoch > 0).sum()),
        "train_loss": 0.2, "train_acc": 0.9, "test_loss": 0.4, "test_acc": test_acc,
        "wall_s": 10.0, "spec": {"init_from": init_from}}))
    return d


def write_sharpness(path, value, net="C1", regime="SB", seed=0, eps=1e-3, epoch=None, f_x=0.1,
                    space="full"):
    path.parent.mkdir(parents=True, exist_ok=True)
    rec = {"net": net, "regime": regime, "seed": seed, "dataset": "cifar10", "eps": eps,
           "space": space, "sharpness": value, "f_x": f_x}
    if epoch is not None:
        rec["epoch"] = epoch
    path.write_text(json.dumps(rec))
    return path


def test_batch_sweep_frame_joins_runs_and_their_sharpness(tmp_path):
    metrics, sharp = [], []
    for b in (256, 4096):
        for seed in (0, 1):
            d = write_run(tmp_path / f"b{b}/seed{seed}", regime=f"b{b}", seed=seed, batch=b,
                          test_acc=0.8 if b == 256 else 0.7 + 0.01 * seed)
            metrics.append(d / "metrics.json")
            sharp.append(write_sharpness(d / "model.sharpness_full_eps0.001.json",
                                         10.0 if b == 256 else 100.0 + seed, seed=seed))
    df = sweeps.batch_sweep_frame(metrics, sharp)
    assert len(df) == 4 and list(df.batch_size) == [256, 256, 4096, 4096]
    row = df[(df.batch_size == 4096) & (df.seed == 1)].iloc[0]
    assert row.sharpness == 101.0 and row.test_acc == pytest.approx(0.71)
    assert isinstance(figures_sweeps.fig4(df, "tiny"), Figure)


def test_warm_start_frame_reads_the_iterate_and_the_solution(tmp_path):
    hist, sharp = [], []
    for k in (0, 5):
        h = pd.DataFrame({"epoch": [0, 1, 2], "batch_size": [5000] * 3,
                          "train_loss": [2.0, 0.5, 0.3], "train_acc": [0.1, 0.8, 0.9],
                          "test_loss": [2.0, 0.7, 0.6],
                          "test_acc": [0.1 + k / 10, 0.7, 0.75 + k / 100]})
        d = write_run(tmp_path / f"from{k}/seed0", regime=f"LB_from_SB{k}", batch=5000, history=h,
                      init_from=f"results/sweeps/trajectory/C1/SB/seed0/iterates/epoch{k}.pt")
        hist.append(d / "history.csv")
        sharp.append(write_sharpness(d / "model.sharpness_full_eps0.001.json", 50.0 - k))
    df = sweeps.warm_start_frame(hist, sharp)
    assert list(df.sb_epochs) == [0, 5]
    assert list(df.sb_test_acc) == pytest.approx([0.1, 0.6])
    assert list(df.lb_test_acc) == pytest.approx([0.75, 0.8])
    assert list(df.sharpness) == [50.0, 45.0] and (df.lb_epochs == 2).all()
    assert isinstance(figures_sweeps.fig5(df, "tiny"), Figure)
    with pytest.raises(ValueError, match="warm start"):
        sweeps.sb_epochs_of("model.pt")


def test_along_training_frame_uses_the_iterate_epochs(tmp_path):
    sharp, hist = [], []
    for regime in ("SB", "LB"):
        d = write_run(tmp_path / f"{regime}/seed0", regime=regime,
                      history=pd.DataFrame({"epoch": [1, 2], "batch_size": [1, 1],
                                            "train_loss": [0.9, 0.4], "train_acc": [0.5, 0.8],
                                            "test_loss": [1, 1], "test_acc": [0.5, 0.7]}))
        hist.append(d / "history.csv")
        for e, loss in ((0, 2.3), (1, 0.9), (2, 0.4)):
            sharp.append(write_sharpness(d / f"iterates/epoch{e}.sharpness_full_eps0.001.json",
                                         (1 + e) * (10 if regime == "LB" else 1), regime=regime,
                                         epoch=e, f_x=loss))
    df = sweeps.along_training_frame(sharp, hist)
    assert len(df) == 6 and set(df.regime) == {"SB", "LB"}
    lb = df[df.regime == "LB"].set_index("epoch")
    assert lb.loc[2, "sharpness"] == 30 and lb.loc[2, "loss"] == 0.4
    assert lb.loc[2, "train_loss"] == 0.4 and np.isnan(lb.loc[0, "train_loss"])
    assert isinstance(figures_sweeps.fig6(df, "tiny"), Figure)
    with pytest.raises(ValueError, match="iterates"):
        sweeps.along_training_frame([write_sharpness(tmp_path / "x.json", 1.0)])


def test_spread_frame_fits_the_slope(tmp_path):
    paths = []
    for regime in ("SB", "LB"):
        for epoch in (0, 5):
            m = np.array([16, 32, 64, 128])
            spread = 3.0 * m ** -0.5
            p = tmp_path / f"{regime}{epoch}.csv"
            pd.DataFrame({"net": "C1", "dataset": "cifar10", "regime": regime, "seed": 0,
                          "epoch": epoch, "m": m, "spread": spread,
                          "spread_fpc": spread * 1.01}).to_csv(p, index=False)
            paths.append(p)
    df = sweeps.spread_frame(paths)
    assert df.fit_slope.to_numpy() == pytest.approx(-0.5)
    assert df.fit_slope_fpc.to_numpy() == pytest.approx(-0.5)
    assert 10 ** df.fit_intercept.iloc[0] == pytest.approx(3.0)
    assert isinstance(figures_sweeps.noise_spread(df, "tiny"), Figure)


def test_noise_scale_frame_keeps_the_measured_epochs(tmp_path):
    paths = []
    for regime, b in (("SB", 256), ("LB", 5000)):
        h = pd.DataFrame({"epoch": [1, 2, 3], "batch_size": [b] * 3, "train_loss": [1, .5, .2],
                          "train_acc": [.5, .7, .9], "test_loss": [1, 1, 1],
                          "test_acc": [.5, .6, .7], "noise_chunk": [256, np.nan, 256],
                          "noise_n": [1000, np.nan, 1000], "noise_grad_sq": [1.0, np.nan, .1],
                          "noise_trace": [100., np.nan, 90.], "b_simple": [100., np.nan, 900.]})
        paths.append(write_run(tmp_path / regime, regime=regime, batch=b, history=h)
                     / "history.csv")
    df = sweeps.noise_scale_frame(paths)
    assert len(df) == 4 and list(df[df.regime == "SB"].epoch) == [1, 3]
    assert isinstance(figures_sweeps.noise_scale(df, "tiny"), Figure)


def test_dynamic_table_compares_with_sb_and_lb(tmp_path):
    metrics, sharp = [], []
    for regime, batches, acc in (("SB", [250, 250, 250], 0.80), ("LB", [500, 500, 500], 0.70),
                                 ("dynamic", [250, 500, 500], 0.78)):
        for seed in (0, 1):
            h = pd.DataFrame({"epoch": [1, 2, 3], "batch_size": batches,
                              "train_loss": [1, .5, .2], "train_acc": [.5, .7, .9],
                              "test_loss": [1, 1, 1], "test_acc": [.5, .6, acc + seed / 100]})
            d = write_run(tmp_path / regime / f"seed{seed}", regime=regime, seed=seed,
                          batch=batches[0], history=h, test_acc=acc + seed / 100, n_train=5000)
            metrics.append(d / "metrics.json")
            # Table-3 records live elsewhere: joined by labels, not location
            for eps, v in ((1e-3, {"SB": 5, "LB": 50, "dynamic": 8}[regime]), (5e-4, 1.0)):
                sharp.append(write_sharpness(
                    tmp_path / "sharpness" / regime / f"seed{seed}/full_eps{eps:g}.json",
                    v + seed, regime=regime, seed=seed, eps=eps))
            sharp.append(write_sharpness(tmp_path / "sharpness" / regime / f"seed{seed}/sub.json",
                                         999.0, regime=regime, seed=seed, space="subspace"))
    df = sweeps.dynamic_table(metrics, sharp, "tiny")
    assert list(df.regime) == ["SB", "LB", "dynamic"]
    dyn = df.set_index("regime").loc["dynamic"]
    assert dyn.schedule == "250 → 500 (ep. 2)" and dyn.n == 2
    assert dyn.updates_mean == 20 + 10 + 10
    assert dyn["sharpness_eps0.001_mean"] == pytest.approx(8.5)
    assert dyn.test_acc_change_vs_lb == pytest.approx(8.0)
    assert np.isnan(df.set_index("regime").loc["LB", "test_acc_change_vs_lb"])
    md = sweeps.dynamic_markdown(df)
    assert "sharpness eps 0.001" in md.columns and "sharpness eps 0.0005" in md.columns
    out_csv, out_md = tmp_path / "d.csv", tmp_path / "d.md"
    assert cli.main(["dynamic-table", "--metrics", *map(str, metrics), "--sharpness",
                     *map(str, sharp), "--out-csv", str(out_csv), "--out-md", str(out_md),
                     "--scale", "tiny"]) == 0
    assert "TINY TEST SCALE" in out_md.read_text()
