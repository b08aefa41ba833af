"""Sharpness of a minimizer: the paper's Metric 2.1.

    phi_{x,f}(eps, A) = (max_{y in C_eps} f(x + A y) - f(x)) / (1 + f(x)) * 100,
    C_eps = { y : |y_i| <= eps (|(A^+ x)_i| + 1) },

with f the mean training cross-entropy (``evaluate.loss_and_grad``: eval mode, dropout off, fixed
chunk order) and x the trainable parameters (BN buffers excluded). The maximum is approximated the
paper's way: 10 iterations of SciPy's L-BFGS-B on -f, started at y = 0. That is the record's
``sharpness`` (Tables 3 and 4).

The maximum is checked, not assumed: L-BFGS-B's first steps are as long as the gradient, which is
tiny at a near-zero-loss minimizer, and ten iterations can end deep inside the box (0.0014 where
the box holds 569; see ``box_ascent``). So every record also carries a second maximizer of the same
box and objective that uses only the gradient's sign, in units of the box (projected sign ascent,
``box_ascent.sign_ascent_maximize``, by default as many steps as L-BFGS-B iterations, starting from
L-BFGS-B's own first evaluation at x): ``sharpness_sign_ascent``, and ``sharpness_best``, the metric
of the best feasible value either found. Both are lower bounds of the true metric. The record also
gives |grad f(x)| and ``sharpness_first_order``, the metric of f's linearization at x over the box
(100 sum_i r_i |df/dz_i| / (1 + f(x))), which shows when the gradient's scale is the problem.

Two spaces:
- full space, A = I: the box is x_i +- eps(|x_i| + 1) directly in parameter space. SciPy optimizes
  over x' itself; no identity matrix is ever formed.
- random subspace, A an n x p matrix (p = 100 in the paper) drawn from a declared distribution
  (the paper does not state one; see ``A_DISTRIBUTIONS``), regenerable from (a_dist, a_seed, n, p).
  A lives on the device (n * p floats: 0.6 GB for F1, 6 GB for C2/C4); only p-vectors cross to
  SciPy. The box needs A^+ x, computed through the p x p normal equations, never an n x n matrix.

Where things live, and design points:
- The optimizers: ``lbfgs_box`` (the paper's L-BFGS-B, its sign flip and its SciPy driver) and
  ``box_ascent`` (the second); the random subspace A: ``subspace``.
- The parameters are overwritten from SciPy's vector before every pass. Only flat float64 NumPy
  vectors cross to SciPy; the float32 device <-> float64 host conversion is done slice by slice
  (``params.flatten(out=...)``, ``params.assign_flat``) without concatenated intermediate copies.
  Outside time on F1 / 60k / CPU: ~2-5% (bench/sharpness_cost.py).
- The model is restored bit for bit afterwards, also when the objective raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from sharpminima.data.splits import Split
from sharpminima.measures.box_ascent import DEFAULT_SIGN_STEP, SignAscent, sign_ascent_maximize
from sharpminima.measures.lbfgs_box import (
    LBFGSB_ENGINE,
    AtStart,
    BoxMax,
    FunAndGrad,
    lbfgsb_maximize,
)
from sharpminima.measures.subspace import (
    A_DISTRIBUTIONS,
    DEFAULT_A_DIST,
    pinv_coordinates,
    random_basis,
)
from sharpminima.nets.evaluate import loss_and_grad
from sharpminima.nets.params import assign_flat, flatten, restored, trainable

__all__ = ["A_DISTRIBUTIONS", "DEFAULT_A_DIST", "DEFAULT_SECOND_MAXIMIZER", "LBFGSB_ENGINE",
           "SECOND_MAXIMIZERS", "BoxMaxima", "Clock", "box_radius", "estimate_fields",
           "lbfgsb_maximize", "maximize_box", "pinv_coordinates", "random_basis",
           "second_maximize", "sharpness", "sharpness_value", "sharpness_with_basis"]

#: Second maximizers of the box: "sign_ascent" (``box_ascent``), or "none" (the paper's only).
SECOND_MAXIMIZERS = ("sign_ascent", "none")
DEFAULT_SECOND_MAXIMIZER = "sign_ascent"


# ----------------------------------------------------------------------------------- the formula

def sharpness_value(f_x: float, f_max: float) -> float:
    """Metric 2.1 from the two losses: (f_max - f(x)) / (1 + f(x)) * 100."""
    return (f_max - f_x) / (1.0 + f_x) * 100.0


def box_radius(center: np.ndarray, eps: float) -> np.ndarray:
    """Half-widths of C_eps: eps * (|c_i| + 1), c = x (full space) or c = A^+ x (subspace)."""
    return eps * (np.abs(center) + 1.0)


# ----------------------------------------------------------------------- the box's two maximizers

def second_maximize(fun_and_grad: FunAndGrad, z0: np.ndarray, lower: np.ndarray,
                    upper: np.ndarray, start: tuple[float, np.ndarray], second: str,
                    steps: int, step: float = DEFAULT_SIGN_STEP) -> SignAscent | None:
    """The second maximizer of the box (``SECOND_MAXIMIZERS``), or None for "none"."""
    if second not in SECOND_MAXIMIZERS:
        raise ValueError(f"second maximizer must be one of {SECOND_MAXIMIZERS}, not {second!r}")
    if second == "none":
        return None
    return sign_ascent_maximize(fun_and_grad, z0, lower, upper, steps, step, start=start)


class Clock:
    """Counts loss+gradient passes and splits the time: passes, callback transfers, SciPy."""

    def __init__(self) -> None:
        self.passes = 0
        self.in_passes = 0.0
        self.in_callback = 0.0

    def timed(self, fun: FunAndGrad) -> FunAndGrad:
        """Wrap SciPy's callback to measure its total time (pass + conversions/transfers)."""
        def wrapped(z: np.ndarray) -> tuple[float, np.ndarray]:
            start = time.perf_counter()
            try:
                return fun(z)
            finally:
                self.in_callback += time.perf_counter() - start
        return wrapped

    def loss_and_grad(self, model: torch.nn.Module, split: Split, chunk: int,
                      params: list[torch.Tensor]) -> tuple[float, list[torch.Tensor]]:
        start = time.perf_counter()
        f, grads = loss_and_grad(model, split, chunk, params)  # .item() inside: device synced
        self.in_passes += time.perf_counter() - start
        self.passes += 1
        return f, grads


@dataclass
class BoxMaxima:
    """Both maximizers' outcomes over one box, the start's evaluation, and the time split."""

    lbfgsb: BoxMax
    second: SignAscent | None
    f_start: float              # f at z0 (L-BFGS-B's first evaluation)
    g_start: np.ndarray         # grad f at z0, in the optimizer's variable
    lbfgsb_wall_s: float
    second_wall_s: float
    lbfgsb_passes: int          # the clock's passes when L-BFGS-B was done
    lbfgsb_callback_s: float    # the clock's callback time when L-BFGS-B was done


def maximize_box(fun: FunAndGrad, z0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 iters: int, engine: str | None, second: str, steps: int,
                 sign_step: float = DEFAULT_SIGN_STEP, clock: Clock | None = None) -> BoxMaxima:
    """L-BFGS-B (``iters`` iterations) from z0, then the second maximizer from its first
    evaluation; every evaluation goes through ``clock`` (a fresh one when None)."""
    clock = Clock() if clock is None else clock
    timed = clock.timed(fun)
    start = AtStart(timed, z0)
    optimizer = time.perf_counter()
    out = lbfgsb_maximize(start, z0, lower, upper, iters, engine=engine)
    f_start, g_start = start.get()
    optimizer = time.perf_counter() - optimizer
    lbfgsb_passes, lbfgsb_callback = clock.passes, clock.in_callback
    ascent = time.perf_counter()
    sa = second_maximize(timed, z0, lower, upper, (f_start, g_start), second, steps, sign_step)
    ascent = time.perf_counter() - ascent
    return BoxMaxima(out, sa, f_start, g_start, optimizer, ascent, lbfgsb_passes,
                     lbfgsb_callback)


def estimate_fields(m: BoxMaxima, second_name: str, steps: int, step: float, lower: np.ndarray,
                    upper: np.ndarray, grad_norm: float) -> dict:
    """The record's fields on the second maximizer, the best of both, and the gradient at x."""
    first, second, start_grad = m.lbfgsb, m.second, m.g_start
    f_x = first.f_start
    f_second = None if second is None else second.f_max
    f_best = first.f_max if second is None else max(first.f_max, second.f_max)
    gain = float(np.sum(0.5 * (upper - lower) * np.abs(start_grad)))
    return {
        "sharpness_sign_ascent": None if second is None else sharpness_value(f_x, f_second),
        "sharpness_best": sharpness_value(f_x, f_best),
        "best_maximizer": ("lbfgsb" if second is None or first.f_max >= second.f_max
                           else "sign_ascent"),
        "f_max_sign_ascent": f_second, "f_max_best": f_best,
        "grad_norm": float(grad_norm),
        "grad_norm_box": float(np.linalg.norm(start_grad)),
        "sharpness_first_order": gain / (1.0 + f_x) * 100.0,
        "second_maximizer": second_name,
        "sign_ascent_step": None if second is None else float(step),
        "sign_ascent_max_steps": None if second is None else int(steps),
        "sign_ascent_steps": None if second is None else second.steps,
        "sign_ascent_step_of_max": None if second is None else second.step_of_max,
        "sign_ascent_message": None if second is None else second.message,
    }


# --------------------------------------------------------------------------------- networks

def flat_objective(model: torch.nn.Module, split: Split, chunk: int,
                   params: list[torch.Tensor], clock: Clock):
    """f and its gradient as functions of the flat parameter vector (float64 on the host): the
    objective every maximizer of the measures layer climbs. Each call sets the parameters."""
    n = sum(p.numel() for p in params)

    def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
        assign_flat(params, torch.from_numpy(z))
        f, grads = clock.loss_and_grad(model, split, chunk, params)
        g = np.empty(n, dtype=np.float64)
        flatten(grads, out=torch.from_numpy(g))
        return f, g

    return fun


def _full_space(model: torch.nn.Module, split: Split, chunk: int, params: list[torch.Tensor],
                n: int, clock: Clock, eps: float):
    """The objective over x itself (A = I) and its box: (fun, z0, lower, upper)."""
    x_host = flatten(params, out=torch.empty(n, dtype=torch.float64)).numpy()
    fun = flat_objective(model, split, chunk, params, clock)
    radius = box_radius(x_host, eps)
    return fun, x_host, x_host - radius, x_host + radius


def _subspace(model: torch.nn.Module, split: Split, chunk: int, params: list[torch.Tensor],
              n: int, clock: Clock, eps: float, A: torch.Tensor, at_x: dict):
    """The objective over y, f(x + A y) with gradient A^T grad f, and its box built from A^+ x:
    (fun, z0, lower, upper). |grad f(x)| in parameter space goes to at_x["grad_norm"]."""
    if A.shape[0] != n:
        raise ValueError(f"A has {A.shape[0]} rows, the model {n} trainable parameters")
    x_dev = flatten(params)
    A = A.to(device=x_dev.device, dtype=x_dev.dtype)
    grad_buf = torch.empty_like(x_dev)

    def fun(y: np.ndarray) -> tuple[float, np.ndarray]:
        y_dev = torch.from_numpy(y).to(device=A.device, dtype=A.dtype)
        assign_flat(params, torch.addmv(x_dev, A, y_dev))
        f, grads = clock.loss_and_grad(model, split, chunk, params)
        flatten(grads, out=grad_buf)
        if "grad_norm" not in at_x and not y.any():  # at x itself
            at_x["grad_norm"] = float(torch.linalg.vector_norm(grad_buf, dtype=torch.float64))
        return f, (A.T @ grad_buf).to(device="cpu", dtype=torch.float64).numpy()

    radius = box_radius(pinv_coordinates(A, x_dev).cpu().numpy(), eps)
    return fun, np.zeros(A.shape[1]), -radius, radius


def sharpness_with_basis(model: torch.nn.Module, split: Split, eps: float,
                         A: torch.Tensor | None = None, iters: int = 10,
                         chunk: int = 5000, engine: str | None = None,
                         second: str = DEFAULT_SECOND_MAXIMIZER, sign_steps: int | None = None,
                         sign_step: float = DEFAULT_SIGN_STEP) -> dict:
    """Metric 2.1 of ``model`` on ``split`` for an explicit A (None = full space, A = I).

    ``sharpness`` draws A and calls this; tests call it with A = I to check that the subspace path
    reproduces the full space. Returns the fields of ``sharpness`` that do not describe how A was
    drawn.
    """
    if second not in SECOND_MAXIMIZERS:
        raise ValueError(f"second maximizer must be one of {SECOND_MAXIMIZERS}, not {second!r}")
    steps = iters if sign_steps is None else int(sign_steps)
    wall = time.perf_counter()
    params = trainable(model)
    n = sum(p.numel() for p in params)
    clock = Clock()
    at_x: dict = {}
    with restored(model):
        if A is None:
            fun, z0, lower, upper = _full_space(model, split, chunk, params, n, clock, eps)
        else:
            fun, z0, lower, upper = _subspace(model, split, chunk, params, n, clock, eps, A, at_x)
        m = maximize_box(fun, z0, lower, upper, iters, engine, second, steps, sign_step, clock)
    wall = time.perf_counter() - wall
    out, optimizer, ascent = m.lbfgsb, m.lbfgsb_wall_s, m.second_wall_s
    lbfgsb_passes, lbfgsb_callback = m.lbfgsb_passes, m.lbfgsb_callback_s
    grad_norm = at_x.get("grad_norm", float(np.linalg.norm(m.g_start)))
    return {
        "sharpness": sharpness_value(out.f_start, out.f_max),
        "f_x": out.f_start, "f_max": out.f_max, "f_final": out.f_final,
        "eps": float(eps), "space": "full" if A is None else "subspace",
        "dim": n if A is None else int(A.shape[1]), "n_params": n,
        "iters": int(iters), "chunk": int(chunk),
        "iterations": out.iterations, "evaluations": out.evaluations,
        # passes and times: the whole measurement (both maximizers); per maximizer below
        "passes": clock.passes,
        "wall_s": wall, "time_in_passes_s": clock.in_passes,
        "time_outside_s": wall - clock.in_passes,
        # where the outside time goes: SciPy itself, the sign ascent's own NumPy steps,
        # per-evaluation conversions/transfers, and setup (flattening x, bounds, A^+ x, restoring
        # the model)
        "time_scipy_s": optimizer - lbfgsb_callback,
        "time_sign_ascent_outside_s": ascent - (clock.in_callback - lbfgsb_callback),
        "time_transfers_s": clock.in_callback - clock.in_passes,
        "time_setup_s": wall - optimizer - ascent,
        "lbfgsb_message": out.message, "lbfgsb_success": out.success, "lbfgsb_engine": out.engine,
        "lbfgsb_passes": lbfgsb_passes, "lbfgsb_wall_s": optimizer,
        **estimate_fields(m, second, steps, sign_step, lower, upper, grad_norm),
        "sign_ascent_passes": clock.passes - lbfgsb_passes,
        "sign_ascent_wall_s": None if m.second is None else ascent,
    }


def sharpness(model: torch.nn.Module, split: Split, eps: float, space: str = "full",
              dim: int = 100, a_dist: str = DEFAULT_A_DIST, a_seed: int = 0, iters: int = 10,
              chunk: int = 5000, second: str = DEFAULT_SECOND_MAXIMIZER,
              sign_steps: int | None = None, sign_step: float = DEFAULT_SIGN_STEP) -> dict:
    """Metric 2.1 (in percent) of the model's current trainable parameters on ``split``.

    space="full": A = I. space="subspace": A is n x ``dim``, drawn from ``a_dist`` with ``a_seed``
    (see ``A_DISTRIBUTIONS``); the draw and A^+ x are included in wall_s and time_outside_s.
    The returned dict holds the metric and everything needed to audit it: f(x), the maximum found,
    the solver's iterations/evaluations/message, the number of loss+gradient passes, and where the
    time went (inside the passes vs outside: SciPy, transfers, setup).

    ``sharpness`` is the paper's estimate (L-BFGS-B, ``iters`` iterations). ``second``
    ("sign_ascent" or "none") adds the second maximizer of the same box (``box_ascent``:
    ``sign_steps`` steps, default ``iters``, of ``sign_step`` half-widths): its estimate
    ``sharpness_sign_ascent``, ``sharpness_best`` (the best feasible value of both), which found it
    (``best_maximizer``), and its own passes and wall time (``sign_ascent_*``; ``lbfgsb_passes``,
    ``lbfgsb_wall_s`` for the paper's). ``passes``, ``wall_s`` and the time split cover both.
    ``grad_norm`` is |grad f(x)| in parameter space, ``grad_norm_box`` the norm of the gradient in
    the optimizer's variable (A^T grad f in the subspace), and ``sharpness_first_order`` the metric
    of f's linearization at x over the box.
    """
    if space not in ("full", "subspace"):
        raise ValueError(f"space must be 'full' or 'subspace', not {space!r}")
    start = time.perf_counter()
    A = None
    if space == "subspace":
        params = trainable(model)
        A = random_basis(sum(p.numel() for p in params), dim, a_dist, a_seed,
                         device=params[0].device, dtype=params[0].dtype)
    result = sharpness_with_basis(model, split, eps, A, iters, chunk, second=second,
                                  sign_steps=sign_steps, sign_step=sign_step)
    wall = time.perf_counter() - start
    result.update(a_dist=a_dist if A is not None else None,
                  a_seed=int(a_seed) if A is not None else None,
                  time_setup_s=result["time_setup_s"] + wall - result["wall_s"],
                  wall_s=wall, time_outside_s=wall - result["time_in_passes_s"])
    return result
