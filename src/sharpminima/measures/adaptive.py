"""Scale-invariant ("adaptive") sharpness for any objective f: R^n -> R: worst case and average.

Metric 2.1's box eps(|x_i| + 1) is not invariant to the rescalings that leave a batch-normalized
network's function unchanged (Dinh et al. 2017). Adaptive sharpness (Kwon et al. 2021, ASAM)
measures perturbations in units of the weights, delta = s * u with s_i = |w_i| + eta (eta = 0:
exactly invariant to a per-layer rescaling w -> alpha w, since s and delta scale with it):

- worst case, L-infinity (``linf_max``): max_{|delta_i| <= rho s_i} f(w + delta) - f(w), a box,
  maximized by ``box_ascent``'s projected sign ascent (the second maximizer of Metric 2.1: in
  units of the box, blind to the gradient's scale);
- worst case, L2 (``l2_max``): max_{|delta / s|_2 <= rho} f(w + delta) - f(w), an ellipsoid,
  maximized by projected normalized gradient ascent in u (``ball_ascent_maximize``);
- average case (``average_case``): the mean of f(w + delta) - f(w) over seeded Gaussian samples,
  delta = sigma z (plain) and delta = sigma_adaptive s * z (adaptive), z ~ N(0, I), the same z for
  both (common random numbers: their difference is the geometry's, not the draw's).

Both maximizers return lower bounds of the maximum (every iterate is feasible; the best is kept).
All in float64 NumPy, no randomness but the average's seeded draws (NumPy's PCG64, the same on
every device).

The ellipsoid's ascent: u_0 = 0, u_{k+1} = P(u_k + t rho g_k / |g_k|), g_k = s * grad f(w + s u_k),
P the projection on the ball |u| <= rho, t = ``step`` (in radii; 1 by default). From the centre the
first step lands on rho g / |g|, the maximizer of f's first-order model over the ellipsoid (SAM's
perturbation, Foret et al. 2021, in ASAM's metric); for f convex each step does not decrease f
(the projection keeps g.(u_{k+1} - u_k) >= 0), and a fixed point of the iteration on the sphere is
a KKT point of the trust-region problem.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sharpminima.measures.box_ascent import (
    SignAscent,
    checked_box,
    first_evaluation,
    sign_ascent_maximize,
)

FunAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
Fun = Callable[[np.ndarray], float]

#: The outcome of either ascent (box or ellipsoid): the same fields (``box_ascent.SignAscent``).
Ascent = SignAscent
#: A step of the ellipsoid's ascent shorter than this fraction of the radius ends it (fixed point).
_FIXED = 1e-12


def adaptive_scale(w: np.ndarray, eta: float = 0.0) -> np.ndarray:
    """s_i = |w_i| + eta: the perturbation's unit per coordinate (ASAM's T_w with its eta)."""
    if eta < 0:
        raise ValueError(f"eta must be >= 0, not {eta}")
    return np.abs(np.asarray(w, dtype=np.float64)) + float(eta)


def linf_max(fun_and_grad: FunAndGrad, w: np.ndarray, scale: np.ndarray, rho: float,
             steps: int, step: float = 1.0,
             start: tuple[float, np.ndarray] | None = None) -> Ascent:
    """max over |delta_i| <= rho scale_i of f(w + delta), by projected sign ascent from w."""
    if not rho > 0:
        raise ValueError(f"rho must be > 0, not {rho}")
    w = np.asarray(w, dtype=np.float64)
    radius = float(rho) * np.asarray(scale, dtype=np.float64)
    return sign_ascent_maximize(fun_and_grad, w, w - radius, w + radius, steps, step, start=start)


def ball_ascent_maximize(fun_and_grad: FunAndGrad, w: np.ndarray, scale: np.ndarray, rho: float,
                         steps: int, step: float = 1.0,
                         start: tuple[float, np.ndarray] | None = None) -> Ascent:
    """max over |delta / scale|_2 <= rho of f(w + delta) by projected normalized gradient ascent
    in u = delta / scale (module docstring). ``z_max`` is the best point w + scale u found.

    ``start``: (f(w), grad f(w)) when the caller has them (then ``steps`` passes, else one more).
    """
    if steps < 0:
        raise ValueError(f"steps must be >= 0, not {steps}")
    if not rho > 0:
        raise ValueError(f"rho must be > 0, not {rho}")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be a positive fraction of the radius, not {step}")
    w, _, _ = checked_box(w, w, w)
    s = np.ascontiguousarray(scale, dtype=np.float64)
    if s.shape != w.shape or np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("scale must be a finite non-negative vector of w's shape")
    u = np.zeros_like(w)
    f, g, evaluations = first_evaluation(fun_and_grad, w, start)
    f_start = f
    f_max, z_max, step_of_max = f, w.copy(), 0
    taken, message = 0, f"STOP: {steps} STEPS DONE"
    for k in range(1, steps + 1):
        gu = s * np.asarray(g, dtype=np.float64)
        norm = float(np.linalg.norm(gu))
        if norm == 0.0:
            message = f"CONVERGENCE: ZERO GRADIENT AFTER {taken} STEPS"
            break
        new = u + float(step) * rho * gu / norm
        length = float(np.linalg.norm(new))
        if length > rho:
            new *= rho / length
        if np.linalg.norm(new - u) <= _FIXED * rho:
            message = f"CONVERGENCE: FIXED POINT AFTER {taken} STEPS"
            break
        u = new
        z = w + s * u
        f, g = fun_and_grad(z.copy())
        f = float(f)
        evaluations += 1
        taken = k
        if f > f_max:
            f_max, z_max, step_of_max = f, z.copy(), k
    return Ascent(f_start=f_start, f_max=f_max, z_max=z_max, f_final=f, step_of_max=step_of_max,
                  steps=taken, evaluations=evaluations, step=float(step), message=message)


def l2_max(fun_and_grad: FunAndGrad, w: np.ndarray, scale: np.ndarray, rho: float, steps: int,
           step: float = 1.0, start: tuple[float, np.ndarray] | None = None) -> Ascent:
    """max over |delta / scale|_2 <= rho of f(w + delta) (``ball_ascent_maximize``)."""
    return ball_ascent_maximize(fun_and_grad, w, scale, rho, steps, step, start=start)


def average_case(fun: Fun, w: np.ndarray, scale: np.ndarray, sigma: float,
                 sigma_adaptive: float, samples: int, seed: int,
                 f_w: float | None = None) -> dict:
    """Mean increase of f under Gaussian perturbations: plain delta = sigma z and adaptive
    delta = sigma_adaptive scale * z, z ~ N(0, I) from NumPy's PCG64 seeded with ``seed``.

    For f(w) = w^T H w / 2 the expectations are sigma^2 tr(H) / 2 and
    sigma_adaptive^2 sum_i H_ii scale_i^2 / 2. Returns the means, their standard errors (over
    samples) and the per-sample increases; 2 ``samples`` evaluations (+1 without ``f_w``).
    """
    if samples < 1:
        raise ValueError(f"need at least one sample, not {samples}")
    if sigma < 0 or sigma_adaptive < 0:
        raise ValueError("sigma and sigma_adaptive must be >= 0")
    w = np.ascontiguousarray(w, dtype=np.float64)
    s = np.ascontiguousarray(scale, dtype=np.float64)
    evaluations = 0
    if f_w is None:
        f_w = float(fun(w.copy()))
        evaluations += 1
    rng = np.random.default_rng(int(seed))
    plain, adaptive = [], []
    for _ in range(int(samples)):
        z = rng.standard_normal(w.shape[0])
        plain.append(float(fun(w + sigma * z)) - f_w)
        adaptive.append(float(fun(w + sigma_adaptive * s * z)) - f_w)
        evaluations += 2

    def stderr(values: list[float]) -> float:
        return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 \
            else float("nan")

    return {"avg_gaussian": float(np.mean(plain)), "avg_gaussian_stderr": stderr(plain),
            "avg_adaptive": float(np.mean(adaptive)), "avg_adaptive_stderr": stderr(adaptive),
            "avg_gaussian_values": plain, "avg_adaptive_values": adaptive,
            "avg_evaluations": evaluations, "f_w": float(f_w)}
