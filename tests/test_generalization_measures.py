"""Adaptive, m- and average-case sharpness and the baselines (measures.adaptive,
measures.generalization): exact answers where the maximum is known in closed form, the
expectation of the average case on a quadratic, determinism, and the `measures` verb's record."""

import json

import numpy as np
import pytest
import torch

from sharpminima.data.splits import Split
from sharpminima.measures import adaptive
from sharpminima.measures.generalization import (
    batches,
    generalization_measures,
    initial_point,
    worst_case,
)
from sharpminima.measures.sharpness import Clock
from sharpminima.nets import models
from sharpminima.nets.params import flatten, trainable

pytestmark = pytest.mark.usefixtures("one_torch_thread")

W = np.array([0.5, -2.0, 1.5, -0.25, 3.0, 0.0])
H = np.array([2.0, 0.5, 1.0, 4.0, 0.1, 3.0])  # diagonal Hessian


def quadratic(h):
    return lambda z: (0.5 * float(np.sum(h * z * z)), h * z)


def linear(c):
    return lambda z: (float(c @ z), c.copy())


@pytest.mark.parametrize("eta", [0.0, 0.1])
def test_linf_on_a_diagonal_quadratic_is_the_vertex_along_w(eta):
    # with eta > 0 a zero weight has a box too; its derivative at w is 0, so the sign ascent
    # leaves it at the centre (a lower bound): the exact case takes every w_i != 0 there
    w = W if eta == 0 else np.where(W == 0, 0.8, W)
    rho, s = 0.05, adaptive.adaptive_scale(w, eta)
    # f(w + d) - f(w) = sum h_i (w_i d_i + d_i^2 / 2), maximal at d_i = rho s_i sign(w_i)
    exact = float(np.sum(H * (np.abs(w) * rho * s + 0.5 * (rho * s) ** 2)))
    for steps in (1, 10):
        out = adaptive.linf_max(quadratic(H), w, s, rho, steps)
        assert out.f_max - out.f_start == pytest.approx(exact, rel=1e-12)
        assert np.all(np.abs(out.z_max - w) <= rho * s * (1 + 1e-12))


def test_linear_model_maxima_are_the_dual_norms():
    c = np.array([1.0, -3.0, 0.5, 2.0, -1.0, 4.0])
    rho, s = 0.1, adaptive.adaptive_scale(W)
    assert adaptive.linf_max(linear(c), W, s, rho, 3).f_max - float(c @ W) == pytest.approx(
        rho * float(np.sum(np.abs(c) * s)), rel=1e-12)
    out = adaptive.l2_max(linear(c), W, s, rho, 5)
    assert out.f_max - float(c @ W) == pytest.approx(rho * float(np.linalg.norm(s * c)),
                                                     rel=1e-12)
    assert np.linalg.norm((out.z_max - W)[s > 0] / s[s > 0]) == pytest.approx(rho, rel=1e-12)
    assert "FIXED POINT" in out.message  # the linear maximum is reached in one step, then stays


def test_l2_on_an_isotropic_quadratic_with_equal_weights_is_exact_in_one_step():
    a, h, rho = 0.7, 3.0, 0.2
    w = a * np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    # in u = d / a: q(u) = h a (w.u) + h a^2 |u|^2 / 2, maximal at u = rho w / |w|
    exact = h * rho * a * np.linalg.norm(w) + 0.5 * h * a * a * rho * rho
    out = adaptive.l2_max(quadratic(np.full(5, h)), w, adaptive.adaptive_scale(w), rho, 1)
    assert out.f_max - out.f_start == pytest.approx(exact, rel=1e-12)


def _trust_region_max(b, A, rho):
    """max of b.u + u^T A u / 2 (A diagonal >= 0) over |u| <= rho: u = b / (lam - A), |u| = rho,
    lam > max A, by bisection on the secular equation."""
    lo, hi = A.max() + 1e-15, A.max() + np.abs(b).sum() / rho + 1.0
    for _ in range(200):
        lam = 0.5 * (lo + hi)
        lo, hi = (lam, hi) if np.linalg.norm(b / (lam - A)) > rho else (lo, lam)
    u = b / (lam - A)
    return float(b @ u + 0.5 * np.sum(A * u * u))


def test_l2_on_a_diagonal_quadratic_reaches_the_trust_region_maximum():
    rho, s = 0.3, adaptive.adaptive_scale(W)
    exact = _trust_region_max(s * H * W, H * s * s, rho)
    out = adaptive.l2_max(quadratic(H), W, s, rho, 200)
    assert out.f_max - out.f_start == pytest.approx(exact, rel=1e-8)
    first = adaptive.l2_max(quadratic(H), W, s, rho, 1)
    assert 0 < first.f_max - first.f_start <= exact  # a lower bound from the first step on


def test_average_case_on_a_quadratic_is_half_sigma_squared_trace():
    sigma, sigma_a, s = 0.1, 0.2, adaptive.adaptive_scale(W)
    out = adaptive.average_case(lambda z: quadratic(H)(z)[0], W, s, sigma, sigma_a, 20000, seed=3)
    plain, adapt = 0.5 * sigma ** 2 * H.sum(), 0.5 * sigma_a ** 2 * float(np.sum(H * s * s))
    assert abs(out["avg_gaussian"] - plain) < 4 * out["avg_gaussian_stderr"]
    assert abs(out["avg_adaptive"] - adapt) < 4 * out["avg_adaptive_stderr"]
    assert out["avg_gaussian"] == pytest.approx(plain, rel=0.1)
    assert out["avg_adaptive"] == pytest.approx(adapt, rel=0.1)
    again = adaptive.average_case(lambda z: quadratic(H)(z)[0], W, s, sigma, sigma_a, 20000, 3)
    assert again == out  # the same seed, the same draws


def test_bad_options_are_errors():
    s = adaptive.adaptive_scale(W)
    with pytest.raises(ValueError, match="rho"):
        adaptive.linf_max(quadratic(H), W, s, 0.0, 3)
    with pytest.raises(ValueError, match="rho"):
        adaptive.l2_max(quadratic(H), W, s, -1.0, 3)
    with pytest.raises(ValueError, match="eta"):
        adaptive.adaptive_scale(W, -0.1)
    with pytest.raises(ValueError, match="sample"):
        adaptive.average_case(lambda z: 0.0, W, s, 0.1, 0.1, 0, 0)


# ---- on a network -----------------------------------------------------------------------------

SHAPE, CLASSES = (1, 6, 6), 4


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (48, *SHAPE), generator=g, dtype=torch.uint8),
                  torch.randint(0, CLASSES, (48,), generator=g))
    return models.build("F1", SHAPE, CLASSES, seed=1), split


OPTIONS = dict(rho_linf=0.01, rho_l2=0.1, sigma=0.01, sigma_adaptive=0.1, samples=3, steps=3,
               m=16, m_examples=40, seed=0, chunk=48)


def _values(record):
    return {k: v for k, v in record.items() if "wall" not in k and "time" not in k}


def test_the_record_is_deterministic_and_leaves_the_model_as_it_was(toy):
    model, split = toy
    before = [t.clone() for t in model.state_dict().values()]
    w0 = initial_point("F1", SHAPE, CLASSES, "batch", seed=1)
    a = generalization_measures(model, split, **OPTIONS, w0=w0)
    b = generalization_measures(model, split, **OPTIONS, w0=w0)
    assert _values(a) == _values(b)
    assert all(torch.equal(x, y) for x, y in zip(before, model.state_dict().values()))
    assert a["dist_init"] == 0.0  # the model is its run's initial point
    assert a["param_norm"] == pytest.approx(float(flatten(trainable(model)).double().norm()))
    assert a["adaptive_linf"] > 0 and a["adaptive_l2"] > 0 and a["f_x"] > 0
    assert a["adaptive_linf_m_batches"] == 2 and a["m_examples"] == 32  # whole batches of 16
    assert len(a["avg_gaussian_values"]) == 3 and a["loss_passes"] == 1 + 2 * 3
    c = generalization_measures(model, split, **{**OPTIONS, "seed": 1})
    assert c["avg_gaussian"] != a["avg_gaussian"] and c["dist_init"] is None


def test_initial_point_is_the_seeded_build_and_differs_across_seeds():
    w0 = initial_point("F1", SHAPE, CLASSES, "batch", seed=4)
    assert torch.equal(w0, flatten(trainable(models.build("F1", SHAPE, CLASSES, seed=4))))
    assert not torch.equal(w0, initial_point("F1", SHAPE, CLASSES, "batch", seed=5))


def test_m_sharpness_is_the_mean_of_the_per_batch_worst_cases(toy):
    model, split = toy
    record = generalization_measures(model, split, **OPTIONS)
    params = trainable(model)
    w = flatten(params, out=torch.empty(sum(p.numel() for p in params),
                                        dtype=torch.float64)).numpy().copy()
    s = adaptive.adaptive_scale(w)
    each = [worst_case(model, [part], w, s, "linf", 0.01, 3, 1.0, 48, Clock())["adaptive_linf"]
            for part in batches(split, 16, 40, seed=0)]
    assert record["adaptive_linf_m"] == pytest.approx(float(np.mean(each)), rel=1e-12)
    assert batches(split, None, None, 0) == [split]
    with pytest.raises(ValueError, match="more than"):
        batches(split, 64, None, 0)


def test_measures_verb_writes_one_labelled_record(toy, tmp_path):
    from sharpminima.cli.main import main
    from sharpminima.nets.checkpoint import save_model
    model, split = toy
    run = tmp_path / "run"
    run.mkdir()
    save_model(model, "F1", "batch", SHAPE, CLASSES, run / "model.pt")
    (run / "metrics.json").write_text(json.dumps(
        {"net": "F1", "regime": "LB", "seed": 1, "dataset": "toy", "status": "ok",
         "spec": {"init_from": None}}))
    data = tmp_path / "toy.npz"
    np.savez(data, x_train=split.x.numpy(), y_train=split.y.numpy(), x_test=split.x[:2].numpy(),
             y_test=split.y[:2].numpy(), meta=json.dumps({"name": "toy", "num_classes": CLASSES}))
    out = tmp_path / "measures.json"
    assert main(["measures", "--model", str(run / "model.pt"), "--data", str(data), "--chunk", "48",
                 "--out", str(out), "--device", "cpu", "--threads", "1", "--gpu-lock-dir", "",
                 "--rho-linf", "0.01", "--rho-l2", "0.1", "--eta", "0", "--steps", "2",
                 "--step", "1", "--sigma", "0.01", "--sigma-adaptive", "0.1", "--samples", "2",
                 "--seed", "0"]) == 0
    record = json.loads(out.read_text())
    assert record["regime"] == "LB" and record["seed"] == 1 and "provenance" in record
    assert record["dist_init"] == 0.0 and record["init_point"] == "seed 1"
    assert record["m"] is None and "adaptive_linf_m" not in record
