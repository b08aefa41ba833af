"""Metric 2.1 for any objective f: R^n -> R (test-only): the closed-form tests' entry point.

It runs the package's own box, optimizers, sign convention and record fields
(``sharpness.maximize_box``, ``sharpness.estimate_fields``), only on a plain NumPy objective
instead of a network.
"""

from __future__ import annotations

import numpy as np
import torch

from sharpminima.measures.box_ascent import DEFAULT_SIGN_STEP
from sharpminima.measures.lbfgs_box import FunAndGrad
from sharpminima.measures.sharpness import (
    DEFAULT_SECOND_MAXIMIZER,
    box_radius,
    estimate_fields,
    maximize_box,
    sharpness_value,
)
from sharpminima.measures.subspace import pinv_coordinates


def _objective(fun_and_grad: FunAndGrad, x0: np.ndarray, A: np.ndarray | None, eps: float,
               at_x: dict):
    """(fun, z0, lower, upper): over x itself (A = None) or over y, f(x0 + A y)."""
    if A is None:
        radius = box_radius(x0, eps)
        return fun_and_grad, x0, x0 - radius, x0 + radius
    coords = pinv_coordinates(torch.from_numpy(A), torch.from_numpy(x0)).numpy()
    radius = box_radius(coords, eps)

    def fun(y: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = fun_and_grad(x0 + A @ y)
        if "grad_norm" not in at_x and not y.any():
            at_x["grad_norm"] = float(np.linalg.norm(g))
        return f, A.T @ g

    return fun, np.zeros(A.shape[1]), -radius, radius


def maximize_in_box(fun_and_grad: FunAndGrad, x0: np.ndarray, A: np.ndarray | None, eps: float,
                    iters: int = 10, engine: str | None = None,
                    second: str = DEFAULT_SECOND_MAXIMIZER, sign_steps: int | None = None,
                    sign_step: float = DEFAULT_SIGN_STEP) -> dict:
    """Metric 2.1 of f given as flat float64 x -> (f, grad f).

    A = None is the full space (optimize over x in x0 +- eps(|x0| + 1)); otherwise optimize y in
    the box built from A^+ x0, evaluating f(x0 + A y), gradient A^T grad f. Returns the metric
    (L-BFGS-B), f(x0), the best f, its point x_max (and y_max), the solver's counters, and the
    second maximizer's fields (``sign_steps`` defaults to ``iters``; its points are
    x_max_sign_ascent, y_max_sign_ascent).
    """
    x0 = np.ascontiguousarray(x0, dtype=np.float64)
    if A is not None:
        A = np.ascontiguousarray(A, dtype=np.float64)
    at_x: dict = {}
    fun, z0, lower, upper = _objective(fun_and_grad, x0, A, eps, at_x)
    steps = iters if sign_steps is None else sign_steps
    m = maximize_box(fun, z0, lower, upper, iters, engine, second, steps, sign_step)
    out, sa = m.lbfgsb, m.second

    def point(z: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if z is None:
            return None, None
        return (z, None) if A is None else (x0 + A @ z, z)

    x_max, y_max = point(out.z_max)
    x_sa, y_sa = point(None if sa is None else sa.z_max)
    grad_norm = at_x.get("grad_norm", float(np.linalg.norm(m.g_start)))
    return {"sharpness": sharpness_value(out.f_start, out.f_max), "f_x": out.f_start,
            "f_max": out.f_max, "f_final": out.f_final, "x_max": x_max, "y_max": y_max,
            "iterations": out.iterations, "evaluations": out.evaluations,
            "lbfgsb_message": out.message, "lbfgsb_engine": out.engine,
            **estimate_fields(m, second, steps, sign_step, lower, upper, grad_norm),
            "sign_ascent_evaluations": None if sa is None else sa.evaluations,
            "x_max_sign_ascent": x_sa, "y_max_sign_ascent": y_sa}
