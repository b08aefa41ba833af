"""Landscapes: exact endpoints, in-place writes that leave the model as it was, filter-normalized
seeded directions, and the CLI verbs end to end on a tiny prepared file."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from sharpminima.data.splits import Dataset, Split
from sharpminima.measures import landscape
from sharpminima.nets import models
from sharpminima.nets.checkpoint import load_checkpoint, load_model, save_model
from sharpminima.nets.evaluate import evaluate

SHAPE, CLASSES, CHUNK = (1, 8, 8), 3, 16


def split(n, seed):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randint(0, 256, (n, *SHAPE), generator=g, dtype=torch.uint8),
                 torch.randint(0, CLASSES, (n,), generator=g))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny nets: one torch thread is fastest, and immune to a busy machine (2 threads fighting
    other processes made these tests 100x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    # 40 = 16 + 16 + 8: the last evaluation chunk is a partial one, as in real runs
    return Dataset("toy", split(40, 1), split(24, 2), CLASSES, SHAPE, {"name": "toy"})


def checkpoint(tmp_path, data, net, seed, bn="batch", name=None):
    """A saved model that stands in for a trained minimizer (its init moved off zero biases)."""
    model = models.build(net, SHAPE, CLASSES, bn=bn, seed=seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)))
    if bn == "running":  # give the running buffers values that differ between the two models
        model.train()
        model(data.train.batch(slice(0, 20 + seed))[0])
    path = tmp_path / (name or f"{net}-{bn}-{seed}.pt")
    save_model(model, net, bn, data.input_shape, data.num_classes, path)
    return path


@pytest.fixture(scope="module")
def pair(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("pair")
    return checkpoint(d, data, "F1", 0, name="sb.pt"), checkpoint(d, data, "F1", 1, name="lb.pt")


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# ----------------------------------------------------------------------------- coefficients, grids

def test_coefficients_are_exact_at_the_minimizers():
    for path in landscape.PATHS:
        assert landscape.coefficients(path, 0.0) == (0.0, 1.0)
        assert landscape.coefficients(path, 1.0) == (1.0, 0.0)
    c_lb, c_sb = landscape.coefficients("curvilinear", 0.5)
    assert c_lb == pytest.approx(math.sin(math.pi / 4))
    assert c_sb == pytest.approx(math.cos(math.pi / 4))
    assert landscape.coefficients("curvilinear", 2.0) == (0.0, -1.0)
    assert landscape.coefficients("linear", -1.0) == (-1.0, 2.0)


def test_alpha_grid_is_the_authors_grid_and_always_holds_both_minimizers():
    grid = landscape.alpha_grid(-1, 2, 25)
    np.testing.assert_array_equal(grid, np.linspace(-1, 2, 25))
    assert 0.0 in grid and 1.0 in grid
    odd = landscape.alpha_grid(-1, 2, 8)  # 0 and 1 not on this grid: added
    assert len(odd) == 10 and 0.0 in odd and 1.0 in odd
    assert landscape.slice_coords(21, 1.0)[10] == 0.0
    assert landscape.slice_coords(5, 2.0).tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0]


# ----------------------------------------------------------------------------- 1-D paths

def test_endpoints_reproduce_each_model_exactly(pair, data):
    sb_path, lb_path = pair
    alphas = landscape.alpha_grid(-1, 2, 7)
    df, info = landscape.parametric_from_files(sb_path, lb_path, data, alphas, CHUNK, seed=0)
    for path in landscape.PATHS:
        for alpha, model_path in ((0.0, sb_path), (1.0, lb_path)):
            model = load_model(model_path)
            for name, s in (("train", data.train), ("test", data.test)):
                row = df[(df.path == path) & (df.alpha == alpha) & (df.split == name)]
                assert len(row) == 1
                loss, acc = evaluate(model, s, CHUNK)
                assert row["loss"].item() == loss  # bitwise: same code path, same tensors
                assert row["accuracy"].item() == acc
    assert set(df.columns) >= {"net", "dataset", "seed", "path", "alpha", "split", "loss",
                               "accuracy"}
    assert len(df) == len(alphas) * 2 * 2 and (df.seed == 0).all()
    assert info["interpolated"] and info["not_interpolated"] == []


def test_paths_differ_between_the_endpoints(pair, data):
    df, _ = landscape.parametric_from_files(*pair, data, [0.5], CHUNK)
    lin, cur = (df[(df.path == p) & (df.split == "train")]["loss"].item() for p in landscape.PATHS)
    assert lin != cur


def test_interpolation_leaves_the_model_unchanged_and_uses_one_model(pair, data):
    sb_path, lb_path = pair
    model = load_model(sb_path)
    before = state(model)
    sb = landscape.snapshot(model)
    _, lb = load_checkpoint(lb_path)
    ids = {k: v.data_ptr() for k, v in model.state_dict().items()}
    landscape.parametric(model, sb, lb, data, [-1.0, 0.3, 2.0], CHUNK)
    assert_same_state(before, state(model))
    assert ids == {k: v.data_ptr() for k, v in model.state_dict().items()}  # written in place


def test_every_float_tensor_is_interpolated_running_buffers_included(tmp_path, data):
    sb_path = checkpoint(tmp_path, data, "F1", 0, bn="running")
    lb_path = checkpoint(tmp_path, data, "F1", 1, bn="running")
    model = load_model(sb_path)
    sb, (_, lb) = landscape.snapshot(model), load_checkpoint(lb_path)
    assert any("running_mean" in k for k in sb) and not any("num_batches" in k for k in sb)
    with landscape.moved(model) as targets:
        c_lb, c_sb = landscape.coefficients("linear", 0.25)
        landscape.write_combination(targets, [(c_sb, sb), (c_lb, lb)])
        for k, t in targets.items():
            torch.testing.assert_close(t, 0.75 * sb[k] + 0.25 * lb[k])
    assert_same_state(sb, landscape.snapshot(model))
    df, info = landscape.parametric_from_files(sb_path, lb_path, data, [0.0, 1.0], CHUNK)
    assert info["not_interpolated"] and all("num_batches" in k for k in info["not_interpolated"])
    row = df[(df.path == "linear") & (df.alpha == 1.0) & (df.split == "test")]
    assert row["loss"].item() == evaluate(load_model(lb_path), data.test, CHUNK)[0]


def test_model_is_restored_when_an_evaluation_raises(pair):
    model = load_model(pair[0])
    before = state(model)
    with pytest.raises(RuntimeError):
        with landscape.moved(model) as targets:
            for t in targets.values():
                t.data.fill_(3.0)
            raise RuntimeError("boom")
    assert_same_state(before, state(model))


def test_incompatible_checkpoints_are_refused(tmp_path, data, pair):
    other = checkpoint(tmp_path, data, "C1", 0)
    with pytest.raises(ValueError, match="net"):
        landscape.parametric_from_files(pair[0], other, data, [0.0], CHUNK)


# ----------------------------------------------------------------------------- directions, slices

@pytest.mark.parametrize("net", ["F1", "C1"])
def test_directions_are_filter_normalized(net):
    model = models.build(net, SHAPE, CLASSES, seed=3)
    d = landscape.random_directions(model, seed=7)
    assert d["normalization"] == "filter" and d["bias_bn"] == "zero" and d["seed"] == 7
    for axis in ("x", "y"):
        for name, p in model.named_parameters():
            v = d[axis][name]
            assert v.shape == p.shape and v.dtype == p.dtype
            if p.dim() < 2:
                assert not v.any(), f"{name}: biases and BN parameters get a zero direction"
            else:
                torch.testing.assert_close(v.flatten(1).norm(dim=1), p.flatten(1).norm(dim=1),
                                           rtol=1e-5, atol=1e-7)
    w = next(p for p in model.parameters() if p.dim() >= 2)
    assert not torch.equal(d["x"][next(iter(d["x"]))], d["y"][next(iter(d["y"]))])
    assert w.dim() == (4 if net == "C1" else 2)


def test_directions_are_reproducible_from_the_seed_and_saved_weights_only(tmp_path):
    model = models.build("C1", SHAPE, CLASSES, seed=0)
    a, b = (landscape.random_directions(model, seed=5) for _ in range(2))
    c = landscape.random_directions(model, seed=6)
    for axis in ("x", "y"):
        for k in a[axis]:
            assert torch.equal(a[axis][k], b[axis][k])
        assert any(not torch.equal(a[axis][k], c[axis][k]) for k in a[axis])
    landscape.save_directions(a, tmp_path / "d.pt")
    loaded = landscape.load_directions(tmp_path / "d.pt")  # torch.load(weights_only=True) inside
    for axis in ("x", "y"):
        for k in a[axis]:
            assert torch.equal(loaded[axis][k], a[axis][k])


def test_slice_leaves_the_model_unchanged_and_its_centre_is_the_model(pair, data):
    model = load_model(pair[0])
    before = state(model)
    directions = landscape.random_directions(model, seed=0)
    coords = landscape.slice_coords(3, 0.5)
    df = landscape.slice2d(model, directions, data.train, CHUNK, coords)
    assert_same_state(before, state(model))
    assert len(df) == 9 and set(df.split) == {"train"}
    centre = df[(df.x == 0) & (df.y == 0)]
    loss, acc = evaluate(model, data.train, CHUNK)
    assert centre["loss"].item() == loss and centre["accuracy"].item() == acc
    assert df["loss"].nunique() > 1


# ----------------------------------------------------------------------------- the CLI verbs

def test_cli_verbs_write_tidy_csvs_and_directions(tmp_path, pair, data):
    from sharpminima.cli.main import main
    npz = tmp_path / "toy.npz"
    np.savez(npz, x_train=data.train.x.numpy(), y_train=data.train.y.numpy(),
             x_test=data.test.x.numpy(), y_test=data.test.y.numpy(),
             meta=json.dumps({"name": "toy", "num_classes": CLASSES}))
    sb, lb = map(str, pair)
    out = tmp_path / "ls"
    assert main(["landscape", "--sb-model", sb, "--lb-model", lb, "--data", str(npz), "--seed", "0",
                 "--pair-seed", "0", "--candidates", "0", "1", "--points", "3",
                 "--eval-chunk", str(CHUNK), "--out-linear", f"{out}/linear.csv",
                 "--out-curvilinear", f"{out}/curvilinear.csv", "--out-meta", f"{out}/meta.json",
                 "--alpha-min", "-1", "--alpha-max", "2", "--device", "cpu", "--threads", "0",
                 "--gpu-lock-dir", ""]) == 0
    lin = pd.read_csv(out / "linear.csv")
    assert set(lin.path) == {"linear"} and len(lin) == 5 * 2  # 3 points + 0 and 1 added
    meta = json.loads((out / "meta.json").read_text())
    assert meta["pair_draw"] == {"pair_seed": 0, "candidates": [0, 1], "chosen": 0}
    assert main(["directions", "--model", sb, "--seed", "1", "--out", f"{out}/d.pt"]) == 0
    assert main(["slice2d", "--model", sb, "--directions", f"{out}/d.pt", "--data", str(npz),
                 "--grid", "3", "--span", "0.5", "--regime", "SB", "--seed", "0",
                 "--eval-chunk", str(CHUNK), "--out", f"{out}/slice2d.csv", "--device", "cpu",
                 "--out-meta", f"{out}/slice_meta.json", "--threads", "0",
                 "--gpu-lock-dir", ""]) == 0
    sl = pd.read_csv(out / "slice2d.csv")
    assert len(sl) == 9 and set(sl.regime) == {"SB"} and set(sl.split) == {"train"}
    assert (sl.direction_seed == 1).all() and (sl.normalization == "filter").all()
