"""Sharpness (Metric 2.1): exact answers on closed-form problems, and the contract on networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sharpminima.data.splits import Split
from sharpminima.measures.box_ascent import DEFAULT_SIGN_STEP, sign_ascent_maximize
from sharpminima.measures.lbfgs_box import LBFGSB_ENGINE, lbfgsb_maximize
from sharpminima.measures.sharpness import (
    box_radius,
    sharpness,
    sharpness_value,
    sharpness_with_basis,
)
from sharpminima.measures.subspace import (
    A_DISTRIBUTIONS,
    DEFAULT_A_DIST,
    pinv_coordinates,
    random_basis,
)
from sharpminima.nets.evaluate import loss_and_grad
from sharpminima.nets.params import assign_flat, flatten, restored, trainable
from sharpness_helpers import maximize_in_box

ENGINES = ["setulb", "minimize"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")

EPS = 0.1  # a wide box, so the closed-form maxima sit far from the start


# --------------------------------------------------------------------------- closed-form problems

def _separable_problem(seed: int = 0, n: int = 12):
    rng = np.random.default_rng(seed)
    x0 = rng.normal(0.0, 1.0, n)
    q = rng.choice([1.0, 2.0, 3.0], n)
    return x0, q, rng


@pytest.mark.parametrize("engine", ENGINES)
def test_convex_quadratic_reaches_best_vertex(engine):
    """f = 0.5 x^T Q x + b^T x + c, Q diagonal > 0: the box maximum is a vertex, per coordinate."""
    x0, q, rng = _separable_problem(0)
    b = rng.normal(0.0, 1.0, x0.size)
    c = 5.0

    def f(x):
        return 0.5 * np.sum(q * x * x) + b @ x + c, q * x + b

    r = box_radius(x0, EPS)
    lo, hi = x0 - r, x0 + r
    vertex = np.where(0.5 * q * hi**2 + b * hi >= 0.5 * q * lo**2 + b * lo, hi, lo)
    f_true = f(vertex)[0]
    res = maximize_in_box(f, x0, None, EPS, iters=10, engine=engine)
    assert "CONVERGENCE" in res["lbfgsb_message"]
    assert res["iterations"] <= 10
    assert res["f_x"] == f(x0)[0]
    assert abs(res["f_max"] - f_true) <= 1e-6 * abs(f_true)
    np.testing.assert_allclose(res["x_max"], vertex, rtol=0, atol=1e-6)
    assert res["sharpness"] == sharpness_value(res["f_x"], res["f_max"])
    assert res["sharpness"] == (res["f_max"] - res["f_x"]) / (1 + res["f_x"]) * 100
    assert res["sharpness"] == pytest.approx((f_true - f(x0)[0]) / (1 + f(x0)[0]) * 100, rel=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_concave_quadratic_reaches_clipped_maximizer(engine):
    """f = -0.5 x^T Q x + b^T x + c: the box maximum is clip(Q^-1 b) per coordinate."""
    x0, q, rng = _separable_problem(1)
    # put half of the unconstrained maximizers inside the box, half outside
    r = box_radius(x0, EPS)
    inside = rng.uniform(-0.8, 0.8, x0.size) * r
    outside = np.sign(rng.normal(size=x0.size)) * rng.uniform(1.5, 3.0, x0.size) * r
    target = x0 + np.where(np.arange(x0.size) % 2 == 0, inside, outside)
    b = q * target
    c = 3.0

    def f(x):
        return -0.5 * np.sum(q * x * x) + b @ x + c, -q * x + b

    x_star = np.clip(target, x0 - r, x0 + r)
    f_true = f(x_star)[0]
    res = maximize_in_box(f, x0, None, EPS, iters=10, engine=engine)
    assert res["iterations"] <= 10
    assert abs(res["f_max"] - f_true) <= 1e-6 * abs(f_true)
    np.testing.assert_allclose(res["x_max"], x_star, rtol=0, atol=1e-3 * r.min())
    assert res["sharpness"] == sharpness_value(res["f_x"], res["f_max"])


@pytest.mark.parametrize("engine", ENGINES)
def test_separable_non_quadratic(engine):
    """c - sum log cosh(a_i (x_i - t_i)): maximizer clip(t); convex sum cosh: best vertex."""
    x0, a, rng = _separable_problem(2)
    r = box_radius(x0, EPS)
    target = x0 + rng.uniform(-2.0, 2.0, x0.size) * r

    def concave(x):
        u = a * (x - target)
        return 4.0 - np.sum(np.log(np.cosh(u))), -a * np.tanh(u)

    x_star = np.clip(target, x0 - r, x0 + r)
    res = maximize_in_box(concave, x0, None, EPS, iters=10, engine=engine)
    assert res["iterations"] <= 10
    np.testing.assert_allclose(res["x_max"], x_star, rtol=0, atol=1e-3 * r.min())
    assert abs(res["f_max"] - concave(x_star)[0]) <= 1e-6 * abs(concave(x_star)[0])

    def convex(x):
        u = a * (x - target)
        return np.sum(np.cosh(u)), a * np.sinh(u)

    lo, hi = x0 - r, x0 + r
    vertex = np.where(np.cosh(a * (hi - target)) >= np.cosh(a * (lo - target)), hi, lo)
    res = maximize_in_box(convex, x0, None, EPS, iters=10, engine=engine)
    assert abs(res["f_max"] - convex(vertex)[0]) <= 1e-6 * convex(vertex)[0]
    assert res["sharpness"] == sharpness_value(res["f_x"], res["f_max"])


def test_identity_subspace_equals_full_space():
    x0, q, rng = _separable_problem(3)
    b = rng.normal(0.0, 1.0, x0.size)

    def f(x):
        return 0.5 * np.sum(q * x * x) + b @ x + 5.0 - np.sum(np.log(np.cosh(x))), \
            q * x + b - np.tanh(x)

    full = maximize_in_box(f, x0, None, EPS, iters=10)
    sub = maximize_in_box(f, x0, np.eye(x0.size), EPS, iters=10)
    assert sub["f_max"] == pytest.approx(full["f_max"], rel=1e-12)
    assert sub["sharpness"] == pytest.approx(full["sharpness"], rel=1e-10)
    np.testing.assert_allclose(sub["x_max"], full["x_max"], rtol=0, atol=1e-12)
    assert sub["iterations"] == full["iterations"]


def test_subspace_box_uses_pinv_coordinates():
    """In a genuine subspace the maximizer sits on the box built from A^+ x0."""
    rng = np.random.default_rng(4)
    n, p = 15, 4
    x0 = rng.normal(size=n)
    A = rng.normal(size=(n, p))
    w = rng.normal(size=n)

    def f(x):  # linear in x: the max over the y-box is the vertex sign(A^T w) * radius
        return 10.0 + w @ x, w.copy()

    radius = EPS * (np.abs(np.linalg.pinv(A) @ x0) + 1)
    y_star = np.sign(A.T @ w) * radius
    res = maximize_in_box(f, x0, A, EPS, iters=10)
    np.testing.assert_allclose(res["y_max"], y_star, rtol=1e-12, atol=1e-14)
    assert res["f_max"] == pytest.approx(f(x0 + A @ y_star)[0], rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_sign_pitfall_stalls(engine):
    """Handing SciPy (-f, +grad f) instead of (-f, -grad f) stalls at the start and reports ~0."""
    x0, q, rng = _separable_problem(5)
    b = rng.normal(size=x0.size)

    def f(x):
        return 0.5 * np.sum(q * x * x) + b @ x + 5.0, q * x + b

    r = box_radius(x0, EPS)
    right = lbfgsb_maximize(f, x0, x0 - r, x0 + r, 10, engine=engine)
    wrong = lbfgsb_maximize(lambda x: (f(x)[0], -f(x)[1]), x0, x0 - r, x0 + r, 10,
                            engine=engine)
    assert sharpness_value(right.f_start, right.f_max) > 1.0
    assert sharpness_value(wrong.f_start, wrong.f_max) < 1e-6


def test_engines_are_bit_identical():
    """The direct driver of SciPy's L-BFGS-B core retraces scipy.optimize.minimize exactly."""
    assert LBFGSB_ENGINE == "setulb"  # the pinned SciPy supports the fast path
    x0, q, rng = _separable_problem(6, n=30)
    r = box_radius(x0, EPS)
    target = x0 + rng.uniform(-2.0, 2.0, x0.size) * r
    w = rng.normal(size=x0.size)

    def f(x):  # non-separable: a coupled term through w @ x
        u = q * (x - target)
        return 4.0 - np.sum(np.log(np.cosh(u))) + np.sin(w @ x), -q * np.tanh(u) + np.cos(w @ x) * w

    for iters in (1, 3, 10, 30):
        a = maximize_in_box(f, x0, None, EPS, iters, engine="setulb")
        b = maximize_in_box(f, x0, None, EPS, iters, engine="minimize")
        assert np.array_equal(a["x_max"], b["x_max"]) and a["f_max"] == b["f_max"]
        assert (a["iterations"], a["evaluations"], a["lbfgsb_message"]) == \
            (b["iterations"], b["evaluations"], b["lbfgsb_message"])
    with pytest.raises(ValueError):
        lbfgsb_maximize(f, x0, x0 - r, x0 + r, 10, engine="nope")


# --------------------------------------------------------------- the second maximizer (sign ascent)

def _local_bump_problem(seed: int = 7, n: int = 12, tilt: float = 1e-6):
    """Per coordinate h(d) = d^2 - 2 rho sqrt(d^2 + sig^2) + tilt w d, d = x - x0, sig < rho < r/2.

    At d = 0, h has a local maximum (h'' = 2 - 2 rho / sig < 0) tilted by a tiny slope tilt * w:
    |grad f(x0)| ~ 1e-6. Over [-r, r], h is largest at the end d = sign(w) r (h(r) - h(0) ~ r^2 for
    rho = r / 10): the box maximum is the vertex x0 + sign(w) r, and f(x0) = 0.
    """
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    r = box_radius(x0, EPS)
    w = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.5, n)
    rho, sig = r / 10, r / 100
    c = np.sum(2 * rho * sig)

    def f(x):
        d = x - x0
        root = np.sqrt(d * d + sig * sig)
        return float(c + np.sum(d * d - 2 * rho * root + tilt * w * d)), \
            2 * d - 2 * rho * d / root + tilt * w

    return f, x0, x0 + np.sign(w) * r


def _indefinite_quadratic(seed: int = 8, n: int = 100, tilt: float = 1e-6):
    """f = tilt w.d + d^T H d / 2, d = x - x0, H diagonal: even coordinates concave (-1e3 .. -2e3),
    odd ones convex (1 .. 2). grad f(x0) = tilt w is tiny. Box maximum, per coordinate: a convex
    one at the end sign(w) r (value tilt |w| r + q r^2 / 2), a concave one at tilt w / |q| inside
    the box (value tilt^2 w^2 / (2 |q|))."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    r = box_radius(x0, EPS)
    w = rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.5, n)
    q = np.where(np.arange(n) % 2 == 0, -1e3, 1.0) * rng.uniform(1.0, 2.0, n)

    def f(x):
        d = x - x0
        return float(tilt * w @ d + 0.5 * np.sum(q * d * d)), tilt * w + q * d

    convex = q > 0
    f_true = np.sum((tilt * np.abs(w) * r + 0.5 * q * r * r)[convex]) + \
        np.sum((tilt * tilt * w * w / (2 * np.abs(q)))[~convex])
    return f, x0, f_true


@pytest.mark.parametrize("engine", ENGINES)
def test_sign_ascent_finds_the_box_maximum_where_lbfgsb_stalls_at_a_tiny_gradient(engine):
    """At |grad f(x0)| ~ 1e-6, L-BFGS-B's steps are the gradient's size: it settles on the local
    maximum at x0 (metric ~4e-11) and stays there with 50 iterations; projected sign ascent jumps
    to the box's maximizing vertex in its first step (metric ~25) and stops at that fixed point."""
    f, x0, vertex = _local_bump_problem()
    f_true = f(vertex)[0]
    sharp_true = sharpness_value(f(x0)[0], f_true)
    assert sharp_true > 20
    for iters in (10, 50):
        res = maximize_in_box(f, x0, None, EPS, iters=iters, engine=engine)
        assert res["grad_norm"] < 1e-5 and res["grad_norm"] == res["grad_norm_box"]
        assert res["sharpness"] < 1e-6 * sharp_true  # the paper's estimate: the verdict flips
        assert res["sharpness_sign_ascent"] == pytest.approx(sharp_true, rel=1e-12)
        np.testing.assert_array_equal(res["x_max_sign_ascent"], vertex)
        assert (res["sign_ascent_steps"], res["sign_ascent_evaluations"]) == (1, 1)
        assert res["sign_ascent_message"].startswith("CONVERGENCE: FIXED POINT")
        assert res["sharpness_best"] == res["sharpness_sign_ascent"]
        assert res["best_maximizer"] == "sign_ascent"
        assert res["sharpness_first_order"] < 1e-3  # the linearization sees nothing either


def test_sign_ascent_on_an_indefinite_quadratic_with_a_tiny_gradient():
    """The brief's g.x + x^T H x / 2 with a corner maximum in the convex coordinates: 10 L-BFGS-B
    iterations reach about a quarter of it; sign ascent reaches it (the concave coordinates are
    back at the centre, 1e-9 of a half-width from their optimum, after its second step)."""
    f, x0, f_true = _indefinite_quadratic()
    res = maximize_in_box(f, x0, None, EPS, iters=10)
    assert res["grad_norm"] < 1e-4
    assert res["f_max"] < 0.4 * f_true
    assert res["f_max_sign_ascent"] == pytest.approx(f_true, rel=1e-9)
    assert res["f_max_sign_ascent"] <= f_true * (1 + 1e-12)
    assert res["sign_ascent_step_of_max"] == 2 and res["sign_ascent_evaluations"] == 10
    assert res["f_max_best"] == res["f_max_sign_ascent"]
    # scale-free: f scaled by 1e-6 leaves the sign-ascent iterates exactly as they were
    small = maximize_in_box(lambda x: tuple(1e-6 * v for v in f(x)), x0, None, EPS, iters=10)
    np.testing.assert_array_equal(small["x_max_sign_ascent"], res["x_max_sign_ascent"])
    assert small["sign_ascent_step_of_max"] == res["sign_ascent_step_of_max"]


def test_both_estimates_are_feasible_lower_bounds_and_best_is_their_max():
    """On problems whose box maximum is known, neither estimate exceeds it, both points lie in
    the box, and the best is the larger of the two (full space and subspace)."""
    x0, q, rng = _separable_problem(9)
    r = box_radius(x0, EPS)
    lo, hi = x0 - r, x0 + r
    b = rng.normal(size=x0.size)
    target = x0 + rng.uniform(-2.0, 2.0, x0.size) * r

    def convex(x):
        return 0.5 * np.sum(q * x * x) + b @ x + 5.0, q * x + b

    def concave(x):
        u = q * (x - target)
        return 4.0 - np.sum(np.log(np.cosh(u))), -q * np.tanh(u)

    cases = [(convex, np.where(0.5 * q * hi**2 + b * hi >= 0.5 * q * lo**2 + b * lo, hi, lo)),
             (concave, np.clip(target, lo, hi))]
    for fun, x_star in cases:
        f_true = fun(x_star)[0]
        res = maximize_in_box(fun, x0, None, EPS, iters=10)
        for key in ("x_max", "x_max_sign_ascent"):
            assert np.all(res[key] >= lo) and np.all(res[key] <= hi)
        assert res["f_max"] <= f_true + 1e-12 * abs(f_true)
        assert res["f_max_sign_ascent"] <= f_true + 1e-12 * abs(f_true)
        assert res["f_max_best"] == max(res["f_max"], res["f_max_sign_ascent"])
        assert res["sharpness_best"] == max(res["sharpness"], res["sharpness_sign_ascent"])
        assert res["sharpness_sign_ascent"] == sharpness_value(res["f_x"],
                                                               res["f_max_sign_ascent"])
    # the concave problem's maximum is inside the box: L-BFGS-B finds it, the best says so
    assert res["best_maximizer"] == "lbfgsb"
    assert res["sharpness_best"] == res["sharpness"]
    # subspace: a linear f, maximum at the vertex sign(A^T w) * radius, reached in one step
    n, p = 15, 4
    A = rng.normal(size=(n, p))
    w = 1e-7 * rng.normal(size=n)
    xs = rng.normal(size=n)
    radius = EPS * (np.abs(np.linalg.pinv(A) @ xs) + 1)
    y_star = np.sign(A.T @ w) * radius
    res = maximize_in_box(lambda x: (10.0 + w @ x, w.copy()), xs, A, EPS, iters=10)
    np.testing.assert_allclose(res["y_max_sign_ascent"], y_star, rtol=1e-12, atol=0)
    assert res["f_max_sign_ascent"] == pytest.approx(10.0 + w @ (xs + A @ y_star), rel=1e-15)
    assert res["grad_norm"] == pytest.approx(np.linalg.norm(w), rel=1e-12)
    assert res["grad_norm_box"] == pytest.approx(np.linalg.norm(A.T @ w), rel=1e-12)
    assert res["sign_ascent_steps"] == 1


def test_second_maximizer_none_and_options():
    f, x0, vertex = _local_bump_problem()
    on = maximize_in_box(f, x0, None, EPS, iters=10)
    off = maximize_in_box(f, x0, None, EPS, iters=10, second="none")
    for key in ("sharpness", "f_x", "f_max", "iterations", "evaluations", "lbfgsb_message"):
        assert on[key] == off[key]  # the paper's estimate does not depend on the second one
    assert off["sharpness_sign_ascent"] is None and off["sharpness_best"] == off["sharpness"]
    assert (off["second_maximizer"], off["best_maximizer"]) == ("none", "lbfgsb")
    assert on["second_maximizer"] == "sign_ascent" and on["sign_ascent_step"] == DEFAULT_SIGN_STEP
    assert on["sign_ascent_max_steps"] == 10
    assert maximize_in_box(f, x0, None, EPS, iters=10, sign_steps=3)["sign_ascent_max_steps"] == 3
    with pytest.raises(ValueError):
        maximize_in_box(f, x0, None, EPS, iters=10, second="nope")


def test_sign_ascent_steps_passes_and_determinism():
    """The iteration itself: z <- clip(z + s r sign(g)), one pass per step, best value kept."""
    f, x0, f_true = _indefinite_quadratic(n=20)
    r = box_radius(x0, EPS)
    calls = []

    def counted(x):
        calls.append(np.array(x))
        return f(x)

    start = f(x0)
    a = sign_ascent_maximize(counted, x0, x0 - r, x0 + r, steps=6, step=0.5, start=start)
    assert len(calls) == a.evaluations == a.steps == 6
    np.testing.assert_allclose(calls[0], x0 + 0.5 * r * np.sign(start[1]), rtol=0, atol=1e-15)
    assert all(np.all(c >= x0 - r) and np.all(c <= x0 + r) for c in calls)
    assert a.f_max == max(f(c)[0] for c in calls) and a.f_start == start[0]
    b = sign_ascent_maximize(f, x0, x0 - r, x0 + r, steps=6, step=0.5)  # measures the start itself
    assert b.evaluations == 7
    assert (b.f_max, b.step_of_max) == (a.f_max, a.step_of_max)
    np.testing.assert_array_equal(a.z_max, b.z_max)
    with pytest.raises(ValueError):
        sign_ascent_maximize(f, x0 + 2 * r, x0 - r, x0 + r)
    with pytest.raises(ValueError):
        sign_ascent_maximize(f, x0, x0 - r, x0 + r, step=0.0)


# ------------------------------------------------------------------------------- the random matrix

@pytest.mark.parametrize("dist", sorted(A_DISTRIBUTIONS))
def test_pinv_coordinates_match_numpy(dist):
    A = random_basis(40, 6, dist, seed=3, dtype=torch.float64)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=40))
    expected = np.linalg.pinv(A.numpy()) @ x.numpy()
    np.testing.assert_allclose(pinv_coordinates(A, x).numpy(), expected, rtol=1e-10, atol=1e-12)


def test_random_basis_is_seeded_and_declared():
    assert DEFAULT_A_DIST in A_DISTRIBUTIONS
    a = random_basis(1000, 5, "gaussian", seed=7)
    assert a.dtype == torch.float32 and a.shape == (1000, 5)
    assert torch.equal(a, random_basis(1000, 5, "gaussian", seed=7))
    assert not torch.equal(a, random_basis(1000, 5, "gaussian", seed=8))
    u = random_basis(1000, 5, "uniform01", seed=7)
    assert float(u.min()) >= 0.0 and float(u.max()) < 1.0
    g = random_basis(1000, 5, "gaussian_unitcol", seed=7, dtype=torch.float64)
    np.testing.assert_allclose(g.norm(dim=0).numpy(), 1.0, rtol=1e-6)
    p = random_basis(1000, 5, "unit_rows_pinv", seed=7, dtype=torch.float64)
    np.testing.assert_allclose(np.linalg.norm(np.linalg.pinv(p.numpy()), axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError):
        random_basis(10, 2, "nope")


# --------------------------------------------------------------------------------------- networks

class ToDouble(nn.Module):
    def forward(self, x):
        return x.double()


class Bomb(nn.Module):
    """Identity that raises on its `fuse`-th call: an objective that fails mid-optimization."""

    def __init__(self, fuse: int):
        super().__init__()
        self.fuse, self.calls = fuse, 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.fuse:
            raise RuntimeError("boom")
        return x


def _split(n: int = 96, d: int = 6, classes: int = 3, seed: int = 0) -> Split:
    gen = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, d, generator=gen), torch.randint(0, classes, (n,), generator=gen))


def _net(seed: int = 0, double: bool = False, extra: nn.Module | None = None) -> nn.Module:
    torch.manual_seed(seed)
    layers = [ToDouble()] if double else []
    layers += [nn.Linear(6, 8), nn.BatchNorm1d(8, track_running_stats=False), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(8, 3)]
    if extra is not None:
        layers.insert(len(layers) - 1, extra)
    model = nn.Sequential(*layers)
    return model.double() if double else model


def _fit(model: nn.Module, split: Split, steps: int = 150) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(split.x), split.y).backward()
        opt.step()
    return model


def _state(model: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in list(model.parameters()) + list(model.buffers())]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_loss_is_deterministic_with_bn_and_dropout():
    model, split = _net(), _split()
    model.train()
    f1, g1 = loss_and_grad(model, split, 40)
    f2, g2 = loss_and_grad(model, split, 40)
    assert f1 == f2 and all(torch.equal(a, b) for a, b in zip(g1, g2))
    assert model.training
    r1 = sharpness(model, split, 1e-3, iters=2, chunk=40)
    r2 = sharpness(model, split, 1e-3, iters=2, chunk=40)
    assert r1["f_x"] == f1 and r1["f_max"] == r2["f_max"]


def test_network_sharpness_positive_and_restored():
    split = _split()
    model = _fit(_net(), split)
    before = _state(model)
    res = sharpness(model, split, 1e-3, chunk=40)
    assert _same(before, _state(model))
    assert res["sharpness"] > 0.02 and res["f_max"] - res["f_x"] > 1e3 * 1.2e-7 * res["f_x"]
    assert res["lbfgsb_passes"] == res["evaluations"] >= res["iterations"] >= 2
    assert res["passes"] == res["lbfgsb_passes"] + res["sign_ascent_passes"]
    assert 1 <= res["sign_ascent_passes"] == res["sign_ascent_steps"] <= res["iters"]
    for key in ("sharpness", "f_x", "f_max", "eps", "space", "dim", "a_dist", "a_seed",
                "iterations", "evaluations", "passes", "wall_s", "time_in_passes_s",
                "time_outside_s", "lbfgsb_message"):
        assert key in res
    assert res["space"] == "full" and res["dim"] == res["n_params"] == 99
    assert res["wall_s"] == pytest.approx(res["time_in_passes_s"] + res["time_outside_s"])
    assert res["time_outside_s"] == pytest.approx(
        res["time_scipy_s"] + res["time_sign_ascent_outside_s"] + res["time_transfers_s"]
        + res["time_setup_s"])
    assert res["sharpness_best"] == max(res["sharpness"], res["sharpness_sign_ascent"]) > 0
    assert res["grad_norm"] == res["grad_norm_box"] > 0
    # the reported maximum is the loss at a point in the box: larger boxes find more
    bigger = sharpness(model, split, 1e-2, chunk=40)
    assert bigger["sharpness"] > res["sharpness"]


def test_network_subspace_seeded_and_restored():
    split = _split()
    model = _fit(_net(), split)
    before = _state(model)
    r1 = sharpness(model, split, 1e-3, space="subspace", dim=10, a_seed=1, chunk=40)
    assert _same(before, _state(model))
    r2 = sharpness(model, split, 1e-3, space="subspace", dim=10, a_seed=1, chunk=40)
    assert r1["sharpness"] == r2["sharpness"] and r1["sharpness"] > 0
    assert (r1["space"], r1["dim"], r1["a_dist"], r1["a_seed"]) == ("subspace", 10,
                                                                   DEFAULT_A_DIST, 1)


@pytest.mark.parametrize("space", ["full", "subspace"])
def test_network_second_maximizer_record(space):
    """Both estimates on a network: the paper's is the same with or without the second, the
    second is deterministic, and the passes add up."""
    split = _split()
    model = _fit(_net(), split)
    before = _state(model)
    kw = dict(space=space, dim=10, a_seed=1, chunk=40)
    a = sharpness(model, split, 1e-2, **kw)
    b = sharpness(model, split, 1e-2, **kw)
    off = sharpness(model, split, 1e-2, second="none", **kw)
    assert _same(before, _state(model))
    for key in ("sharpness", "f_x", "f_max", "iterations", "evaluations", "lbfgsb_message",
                "grad_norm", "grad_norm_box"):
        assert a[key] == off[key]
    for key in ("sharpness_sign_ascent", "f_max_sign_ascent", "sign_ascent_steps",
                "sign_ascent_step_of_max", "sharpness_best", "best_maximizer"):
        assert a[key] == b[key]
    assert a["sharpness_sign_ascent"] > 0
    assert a["sharpness_best"] == max(a["sharpness"], a["sharpness_sign_ascent"])
    assert a["passes"] == a["lbfgsb_passes"] + a["sign_ascent_passes"]
    assert a["sign_ascent_passes"] == a["sign_ascent_steps"] <= a["sign_ascent_max_steps"] == 10
    assert off["passes"] == off["evaluations"] and off["sign_ascent_passes"] == 0
    assert off["sharpness_sign_ascent"] is None and off["sharpness_best"] == off["sharpness"]
    if space == "subspace":
        n = sum(p.numel() for p in trainable(model))
        A = random_basis(n, 10, DEFAULT_A_DIST, 1)
        f, grads = loss_and_grad(model, split, 40)
        g = flatten(grads).double()
        assert a["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-6)
        assert a["grad_norm_box"] == pytest.approx(float((A.double().T @ g).norm()), rel=1e-5)


def test_sharpness_verb_writes_both_estimates(tmp_path):
    """The CLI record: the paper's fields as before, plus the second maximizer's."""
    import json

    from sharpminima.cli import main as cli
    from sharpminima.nets import models
    from sharpminima.nets.checkpoint import save_model

    shape = (1, 4, 4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, *shape), generator=gen, dtype=torch.uint8)
    y = torch.randint(0, 3, (24,), generator=gen)
    model_path, npz = tmp_path / "model.pt", tmp_path / "toy.npz"
    save_model(models.build("F1", shape, 3, seed=0), "F1", "batch", shape, 3, model_path)
    np.savez(npz, x_train=x.numpy(), y_train=y.numpy(), x_test=x[:4].numpy(),
             y_test=y[:4].numpy(), meta=json.dumps({"name": "toy", "num_classes": 3}))
    common = ["sharpness", "--model", str(model_path), "--data", str(npz), "--eps", "1e-3",
              "--iters", "1", "--chunk", "24", "--device", "cpu", "--threads", "1",
              "--space", "full", "--dim", "100", "--a-dist", "gaussian", "--a-seed", "0",
              "--second-maximizer", "sign_ascent", "--sign-steps", "1", "--sign-step", "1.0",
              "--gpu-lock-dir", ""]
    assert cli.main(common + ["--out", str(tmp_path / "a.json")]) == 0
    rec = json.loads((tmp_path / "a.json").read_text())
    for key in ("sharpness", "f_x", "f_max", "iterations", "evaluations", "passes", "wall_s",
                "lbfgsb_message", "n_examples", "provenance", "sharpness_sign_ascent",
                "sharpness_best", "best_maximizer", "f_max_sign_ascent", "grad_norm",
                "sharpness_first_order", "second_maximizer", "sign_ascent_step",
                "sign_ascent_max_steps", "sign_ascent_steps", "sign_ascent_passes",
                "sign_ascent_wall_s", "lbfgsb_passes", "lbfgsb_wall_s"):
        assert key in rec, key
    assert (rec["second_maximizer"], rec["sign_ascent_max_steps"]) == ("sign_ascent", 1)
    assert rec["sharpness_best"] == max(rec["sharpness"], rec["sharpness_sign_ascent"])
    assert cli.main(common + ["--out", str(tmp_path / "b.json"), "--second-maximizer", "none"]) == 0
    off = json.loads((tmp_path / "b.json").read_text())
    assert off["sharpness"] == rec["sharpness"] and off["sharpness_sign_ascent"] is None
    assert cli.main(common + ["--out", str(tmp_path / "c.json"), "--sign-steps", "3",
                              "--sign-step", "0.5"]) == 0
    c = json.loads((tmp_path / "c.json").read_text())
    assert (c["sign_ascent_max_steps"], c["sign_ascent_step"]) == (3, 0.5)


@pytest.mark.parametrize("subspace", [False, True])
def test_network_engines_agree(subspace):
    split = _split()
    model = _fit(_net(), split)
    A = random_basis(99, 8, seed=2) if subspace else None
    a = sharpness_with_basis(model, split, 1e-2, A, chunk=40, engine="setulb")
    b = sharpness_with_basis(model, split, 1e-2, A, chunk=40, engine="minimize")
    for key in ("sharpness", "f_x", "f_max", "iterations", "evaluations", "passes",
                "lbfgsb_message"):
        assert a[key] == b[key]


def test_network_identity_subspace_equals_full_space():
    split = _split()
    model = _fit(_net(double=True), split)
    n = sum(p.numel() for p in trainable(model))
    full = sharpness_with_basis(model, split, 1e-2, None, chunk=40)
    sub = sharpness_with_basis(model, split, 1e-2, torch.eye(n, dtype=torch.float64), chunk=40)
    assert sub["f_x"] == full["f_x"]
    assert sub["sharpness"] == pytest.approx(full["sharpness"], rel=1e-8)


@pytest.mark.parametrize("space", ["full", "subspace"])
def test_parameters_restored_when_objective_raises(space):
    split = _split()
    bomb = Bomb(fuse=10**9)
    model = _fit(_net(extra=bomb), split)
    bomb.calls, bomb.fuse = 0, 7  # 3 chunks per pass: dies in the 3rd pass, params perturbed
    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        sharpness(model, split, 1e-2, space=space, dim=5, chunk=40)
    assert bomb.calls == 7
    assert _same(before, _state(model))


def test_params_helpers_round_trip():
    model = _net()
    params = trainable(model)
    flat = flatten(params)
    out = flatten(params, out=torch.empty(flat.numel(), dtype=torch.float64))
    assert torch.equal(out.float(), flat)
    with restored(model):
        assign_flat(params, torch.zeros_like(flat))
        assert float(flatten(params).abs().sum()) == 0.0
    assert torch.equal(flatten(params), flat)
    with pytest.raises(ValueError):
        assign_flat(params, flat[:-1])
