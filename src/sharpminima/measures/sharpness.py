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

Design points, each a pitfall:
- Maximizing by minimizing -f requires -grad f as the gradient: a version that returned +grad f
  stalls in the line search at y = 0 and reports ~0 (seen in public code). ``lbfgsb_maximize`` owns
  the sign flip so every caller gets it right.
- One loss+gradient pass per evaluation (``jac=True``); the parameters are overwritten from
  SciPy's vector before every pass, and the only reuse is SciPy's own: a point the solver asks for
  twice in a row is answered from that same evaluation.
- Only flat float64 NumPy vectors cross to SciPy; the float32 device <-> float64 host conversion is
  done slice by slice (``params.flatten(out=...)``, ``params.assign_flat``) without concatenated
  intermediate copies. SciPy's ``minimize`` wrapper itself costs ~2.4 us per parameter in Python
  loops over the bounds, so by default its L-BFGS-B core is driven directly (``LBFGSB_ENGINE``,
  bit-identical iterates). Outside time on F1 / 60k / CPU: ~2-5% (bench/sharpness_cost.py).
- The model is restored bit for bit afterwards, also when the objective raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy
import torch
from scipy.optimize import Bounds, minimize

from sharpminima.measures.box_ascent import (DEFAULT_SIGN_STEP, SignAscent, checked_box,
                                    sign_ascent_maximize)
from sharpminima.data.splits import Split
from sharpminima.nets.evaluate import loss_and_grad
from sharpminima.nets.params import assign_flat, flatten, restored, trainable

FunAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]

#: Distributions offered for the random subspace matrix A (n x p). The paper says only "a randomly
#: generated n x p matrix"; public reimplementations differ and the choice sets the scale of
#: Table 4, so it is declared and recorded with every result.
A_DISTRIBUTIONS: dict[str, str] = {
    "gaussian": "entries iid N(0, 1)",
    "gaussian_unitcol": "entries iid N(0, 1), then every column scaled to unit Euclidean norm",
    "uniform01": "entries iid U[0, 1) (an earlier public reimplementation)",
    "unit_rows_pinv": "A^+ drawn p x n with iid U[-1, 1] entries, rows scaled to unit norm; "
                      "A = pinv(A^+) (a later public reimplementation)",
}

#: Default: iid N(0, 1). Why: (1) it is the plain reading of "a randomly generated matrix"; (2) its
#: column space is a uniformly random (rotation-invariant) p-dimensional subspace, which U[0, 1)
#: is not (all its columns lean towards the all-ones direction); (3) it keeps the box's absolute
#: term "+1" on the same scale as in the full space: a column of I and a column of N(0, 1) entries
#: both move each touched coordinate by about eps, whereas unit-norm columns shrink the move per
#: coordinate by sqrt(n) (about 1200 for F1) and make the subspace metric ~0 for every network.
DEFAULT_A_DIST = "gaussian"

#: L-BFGS-B stopping tolerances. SciPy's defaults (gtol 1e-5 on the projected gradient's largest
#: entry, ftol 2.2e-9) are absolute/relative scales foreign to the metric: at a well-trained
#: minimizer every gradient entry of the mean loss can be below 1e-5, and L-BFGS-B would then stop
#: at iteration 0 and report a sharpness of exactly 0. With both at 0 the solver runs the paper's
#: 10 iterations unless no ascent is possible (zero projected gradient, e.g. at a vertex of the box,
#: or a failed line search); the message says which.
LBFGSB_GTOL = 0.0
LBFGSB_FTOL = 0.0

#: Second maximizers of the box: "sign_ascent" (``box_ascent``), or "none" (the paper's only).
SECOND_MAXIMIZERS = ("sign_ascent", "none")
DEFAULT_SECOND_MAXIMIZER = "sign_ascent"

#: Rows of A generated per step of the seeded CPU generator. Part of the map (seed -> A): changing
#: it changes every A, so it is a constant, not an option.
_GEN_ROWS = 1 << 16
#: Rows per float64 block when accumulating A^T A and A^T x (~50 MB of device memory at p=100).
_GRAM_ROWS = 1 << 16


# ----------------------------------------------------------------------------------- the formula

def sharpness_value(f_x: float, f_max: float) -> float:
    """Metric 2.1 from the two losses: (f_max - f(x)) / (1 + f(x)) * 100."""
    return (f_max - f_x) / (1.0 + f_x) * 100.0


def box_radius(center: np.ndarray, eps: float) -> np.ndarray:
    """Half-widths of C_eps: eps * (|c_i| + 1), c = x (full space) or c = A^+ x (subspace)."""
    return eps * (np.abs(center) + 1.0)


# ------------------------------------------------------------------------------------ the optimizer

@dataclass
class BoxMax:
    """Outcome of one L-BFGS-B maximization over a box (in the optimizer's variable z)."""

    f_start: float      # f at z0
    f_max: float        # largest f seen at a feasible evaluated point (a lower bound on the max)
    z_max: np.ndarray   # where f_max was seen
    f_final: float      # f at L-BFGS-B's final iterate (equals f_max unless a probe overshot)
    iterations: int
    evaluations: int
    message: str
    success: bool
    engine: str


def _setulb_supported() -> bool:
    """Whether SciPy's L-BFGS-B core can be driven directly (the C core of SciPy 1.15-1.17)."""
    try:
        from scipy.optimize import _lbfgsb  # noqa: F401
        from scipy.optimize._lbfgsb_py import status_messages, task_messages  # noqa: F401
    except ImportError:
        return False
    major, minor = (int(part) for part in scipy.__version__.split(".")[:2])
    return (1, 15) <= (major, minor) <= (1, 17)


#: How L-BFGS-B is run. "minimize": ``scipy.optimize.minimize(method="L-BFGS-B")``. "setulb": the
#: same SciPy L-BFGS-B core (``scipy.optimize._lbfgsb.setulb``) driven by a 20-line loop here,
#: because ``minimize`` converts the bounds with per-coordinate Python loops (about 2.4 us per
#: parameter: 3.5 s for F1, 35 s for C2 per call, as long as a whole GPU pass budget). Both give
#: bit-identical iterates (tests/test_sharpness.py checks it); "setulb" is used where the private
#: core's calling convention is the one this code was written against, else "minimize".
LBFGSB_ENGINE = "setulb" if _setulb_supported() else "minimize"
#: L-BFGS-B memory (SciPy's default maxcor) and line-search steps per iteration (SciPy's maxls).
LBFGSB_MEMORY = 10
LBFGSB_MAXLS = 20


def _solve_minimize(fun: FunAndGrad, z0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                    iters: int, gtol: float, ftol: float) -> tuple[float, int, str, bool]:
    """Minimize with the public API; returns (final f, iterations, message, success)."""
    res = minimize(fun, z0, jac=True, method="L-BFGS-B", bounds=Bounds(lower, upper),
                   options={"maxiter": int(iters), "gtol": gtol, "ftol": ftol,
                            "maxcor": LBFGSB_MEMORY, "maxls": LBFGSB_MAXLS})
    return float(res.fun), int(res.nit), str(res.message), bool(res.success)


def _solve_setulb(fun: FunAndGrad, z0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                  iters: int, gtol: float, ftol: float) -> tuple[float, int, str, bool]:
    """Minimize by reverse communication with SciPy's L-BFGS-B core (every bound finite).

    The core returns with task FG when it wants f and g at x (updated in place), NEW_X after each
    iteration (where the iteration limit is enforced, as ``minimize`` does), else when done.
    """
    from scipy.optimize import _lbfgsb
    from scipy.optimize._lbfgsb_py import status_messages, task_messages

    n, m = z0.size, LBFGSB_MEMORY
    x = z0.copy()
    f, g = 0.0, np.zeros(n)
    bound_kind = np.full(n, 2, dtype=np.int32)  # 2: both bounds active
    work = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m)
    iwork = np.zeros(3 * n, dtype=np.int32)
    task, ln_task = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32)
    lsave, isave, dsave = (np.zeros(4, dtype=np.int32), np.zeros(44, dtype=np.int32),
                           np.zeros(29))
    factr = ftol / np.finfo(float).eps
    iterations = 0
    last_x = last_f = last_g = None
    while True:
        g = g.copy()  # the core may write into g; keep the last evaluation's gradient intact
        _lbfgsb.setulb(m, x, lower, upper, bound_kind, f, g, factr, gtol, work, iwork, task,
                       lsave, isave, dsave, LBFGSB_MAXLS, ln_task)
        if task[0] == 3:  # FG
            if last_x is None or not np.array_equal(x, last_x):
                # a new point (the core re-requests the current one after a restart: like
                # minimize's memoization, answer that from the last evaluation, not a new pass)
                last_x = x.copy()
                last_f, last_g = fun(last_x)
                last_g = np.ascontiguousarray(last_g, dtype=np.float64)
            f, g = last_f, last_g
        elif task[0] == 1:  # NEW_X
            iterations += 1
            if iterations >= iters:
                task[0], task[1] = 5, 504  # STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT
        else:
            break
    message = f"{status_messages[int(task[0])]}: {task_messages[int(task[1])]}"
    return float(f), iterations, message, bool(task[0] == 4)


def lbfgsb_maximize(fun_and_grad: FunAndGrad, z0: np.ndarray, lower: np.ndarray,
                    upper: np.ndarray, iters: int = 10, gtol: float = LBFGSB_GTOL,
                    ftol: float = LBFGSB_FTOL, engine: str | None = None) -> BoxMax:
    """Maximize f over the box [lower, upper] with SciPy's L-BFGS-B, starting at z0.

    SciPy minimizes, so it is handed (-f, -grad f); the sign flip lives here and only here. The
    callable must return a fresh float64 gradient array each time (it is negated into a new array,
    never mutated). Every evaluation is a feasible point (L-BFGS-B projects onto the box), so the
    best value seen is a valid lower bound of the true maximum; it is tracked because it is free.
    f(z0) comes from SciPy's first evaluation, which is at z0 (z0 lies in the box): no extra pass.
    ``engine``: "setulb" or "minimize" (see ``LBFGSB_ENGINE``, the default).
    """
    engine = LBFGSB_ENGINE if engine is None else engine
    solvers = {"minimize": _solve_minimize, "setulb": _solve_setulb}
    if engine not in solvers:
        raise ValueError(f"engine must be one of {sorted(solvers)}, not {engine!r}")
    z0, lower, upper = checked_box(z0, lower, upper)
    state: dict = {"f_start": None, "f_max": -np.inf, "z_max": z0.copy(), "n": 0}

    def negated(z: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = fun_and_grad(z)
        f = float(f)
        state["n"] += 1
        if state["f_start"] is None and np.array_equal(z, z0):
            state["f_start"] = f
        if f > state["f_max"] and np.all(z >= lower) and np.all(z <= upper):
            state["f_max"], state["z_max"] = f, np.array(z, dtype=np.float64, copy=True)
        return -f, np.negative(np.asarray(g, dtype=np.float64))

    f_final, iterations, message, success = solvers[engine](negated, z0, lower, upper, iters,
                                                            gtol, ftol)
    if state["f_start"] is None:  # SciPy did not start exactly at z0: measure it
        state["f_start"] = float(fun_and_grad(z0)[0])
        state["n"] += 1
    return BoxMax(f_start=state["f_start"], f_max=state["f_max"], z_max=state["z_max"],
                  f_final=-f_final, iterations=iterations, evaluations=state["n"],
                  message=message, success=success, engine=engine)


# ------------------------------------------------------------------------ the second maximizer

class _AtStart:
    """Wraps the objective and keeps (f, grad f) of its first evaluation at z0.

    L-BFGS-B's first evaluation is at z0; the second maximizer starts from it, and the gradient
    norm and first-order metric come from it, at no extra pass.
    """

    def __init__(self, fun: FunAndGrad, z0: np.ndarray) -> None:
        self.fun, self.z0 = fun, z0
        self.value: tuple[float, np.ndarray] | None = None

    def __call__(self, z: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self.fun(z)
        if self.value is None and np.array_equal(z, self.z0):
            self.value = (float(f), np.array(g, dtype=np.float64, copy=True))
        return f, g

    def get(self) -> tuple[float, np.ndarray]:
        if self.value is None:  # nobody evaluated z0 exactly: one pass to measure it
            self(self.z0.copy())
        return self.value


def second_maximize(fun_and_grad: FunAndGrad, z0: np.ndarray, lower: np.ndarray,
                    upper: np.ndarray, start: tuple[float, np.ndarray], second: str,
                    steps: int, step: float = DEFAULT_SIGN_STEP) -> SignAscent | None:
    """The second maximizer of the box (``SECOND_MAXIMIZERS``), or None for "none"."""
    if second not in SECOND_MAXIMIZERS:
        raise ValueError(f"second maximizer must be one of {SECOND_MAXIMIZERS}, not {second!r}")
    if second == "none":
        return None
    return sign_ascent_maximize(fun_and_grad, z0, lower, upper, steps, step, start=start)


def _estimate_fields(first: BoxMax, second: SignAscent | None, second_name: str, steps: int,
                     step: float, start_grad: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     grad_norm: float) -> dict:
    """The record's fields on the second maximizer, the best of both, and the gradient at x."""
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


# ---------------------------------------------------------------------------- the random subspace

def random_basis(n: int, dim: int, dist: str = DEFAULT_A_DIST, seed: int = 0,
                 device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The n x dim matrix A of the random-subspace metric, regenerable from (dist, seed, n, dim).

    Drawn on the CPU with a seeded ``torch.Generator`` in float32, in fixed row blocks, and moved
    block by block to ``device``: the same seed gives the same A on any device, and host memory
    stays bounded for 15M-parameter networks.
    """
    if dist not in A_DISTRIBUTIONS:
        raise ValueError(f"unknown a_dist {dist!r}; choose one of {sorted(A_DISTRIBUTIONS)}")
    if dim > n:
        raise ValueError(f"subspace dimension {dim} exceeds the number of parameters {n}")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    A = torch.empty(n, dim, dtype=dtype, device=device)
    for start in range(0, n, _GEN_ROWS):
        rows = min(_GEN_ROWS, n - start)
        if dist in ("gaussian", "gaussian_unitcol"):
            block = torch.randn(rows, dim, generator=gen, dtype=torch.float32)
        elif dist == "uniform01":
            block = torch.rand(rows, dim, generator=gen, dtype=torch.float32)
        else:  # unit_rows_pinv: this is B^T, B = A^+ with rows in U[-1, 1]
            block = torch.rand(rows, dim, generator=gen, dtype=torch.float32).mul_(2).sub_(1)
        A[start:start + rows].copy_(block)
    if dist in ("gaussian_unitcol", "unit_rows_pinv"):
        gram, _ = _gram(A)
        A.div_(gram.diagonal().sqrt().to(dtype))
    if dist == "unit_rows_pinv":
        # pinv(B) = B^T (B B^T)^-1 for a full-row-rank B; B^T is what A holds now.
        gram, _ = _gram(A)
        inv = torch.linalg.inv(gram)
        for start in range(0, n, _GRAM_ROWS):
            rows = A[start:start + _GRAM_ROWS]
            rows.copy_(rows.double() @ inv)
    return A


def _gram(A: torch.Tensor,
          x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A^T A and A^T x in float64, accumulated over row blocks (no float64 copy of all of A)."""
    p = A.shape[1]
    gram = torch.zeros(p, p, dtype=torch.float64, device=A.device)
    rhs = None if x is None else torch.zeros(p, dtype=torch.float64, device=A.device)
    for start in range(0, A.shape[0], _GRAM_ROWS):
        block = A[start:start + _GRAM_ROWS].double()
        gram += block.T @ block
        if rhs is not None:
            rhs += block.T @ x[start:start + _GRAM_ROWS].to(torch.float64)
    return gram, rhs


def pinv_coordinates(A: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A^+ x (float64, length p) for a full-column-rank n x p matrix A, without any n x n matrix.

    A^+ = (A^T A)^-1 A^T, so A^+ x solves the p x p system (A^T A) c = A^T x. The normal equations
    square A's condition number; for the random matrices used here cond(A) is at most ~sqrt(3p)
    (U[0, 1) entries), so float64 keeps ~13 correct digits, far beyond what the box needs.
    """
    gram, rhs = _gram(A, x)
    if torch.linalg.matrix_rank(gram) < A.shape[1]:
        raise ValueError("A does not have full column rank")
    return torch.linalg.solve(gram, rhs)


# ------------------------------------------------------------------- generic (network-free) entry

def maximize_in_box(fun_and_grad: FunAndGrad, x0: np.ndarray, A: np.ndarray | None, eps: float,
                    iters: int = 10, engine: str | None = None,
                    second: str = DEFAULT_SECOND_MAXIMIZER, sign_steps: int | None = None,
                    sign_step: float = DEFAULT_SIGN_STEP) -> dict:
    """Metric 2.1 for any objective f: R^n -> R given as flat float64 x -> (f, grad f).

    Runs the same optimizers, sign convention and bounds code as ``sharpness``; used by the
    closed-form tests. A = None is the full space (optimize over x in x0 +- eps(|x0| + 1));
    otherwise optimize y in the box built from A^+ x0, evaluating f(x0 + A y), gradient A^T grad f.
    Returns the metric (L-BFGS-B), f(x0), the best f, its point x_max (and y_max), the solver's
    counters, and the second maximizer's fields (``sign_steps`` defaults to ``iters``; its points
    are x_max_sign_ascent, y_max_sign_ascent).
    """
    x0 = np.ascontiguousarray(x0, dtype=np.float64)
    at_x: dict = {}
    if A is None:
        radius = box_radius(x0, eps)
        fun, z0, lower, upper = fun_and_grad, x0, x0 - radius, x0 + radius
    else:
        A = np.ascontiguousarray(A, dtype=np.float64)
        coords = pinv_coordinates(torch.from_numpy(A), torch.from_numpy(x0)).numpy()
        radius = box_radius(coords, eps)

        def fun(y: np.ndarray) -> tuple[float, np.ndarray]:
            f, g = fun_and_grad(x0 + A @ y)
            if "grad_norm" not in at_x and not y.any():
                at_x["grad_norm"] = float(np.linalg.norm(g))
            return f, A.T @ g

        z0, lower, upper = np.zeros(A.shape[1]), -radius, radius
    start = _AtStart(fun, z0)
    out = lbfgsb_maximize(start, z0, lower, upper, iters, engine=engine)
    steps = iters if sign_steps is None else sign_steps
    f_start, g_start = start.get()
    sa = second_maximize(fun, z0, lower, upper, (f_start, g_start), second, steps, sign_step)

    def point(z: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        if z is None:
            return None, None
        return (z, None) if A is None else (x0 + A @ z, z)

    x_max, y_max = point(out.z_max)
    x_sa, y_sa = point(None if sa is None else sa.z_max)
    grad_norm = at_x.get("grad_norm", float(np.linalg.norm(g_start)))
    return {"sharpness": sharpness_value(out.f_start, out.f_max), "f_x": out.f_start,
            "f_max": out.f_max, "f_final": out.f_final, "x_max": x_max, "y_max": y_max,
            "iterations": out.iterations, "evaluations": out.evaluations,
            "lbfgsb_message": out.message, "lbfgsb_engine": out.engine,
            **_estimate_fields(out, sa, second, steps, sign_step, g_start, lower, upper,
                               grad_norm),
            "sign_ascent_evaluations": None if sa is None else sa.evaluations,
            "x_max_sign_ascent": x_sa, "y_max_sign_ascent": y_sa}


# --------------------------------------------------------------------------------- networks

class _Clock:
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
    clock = _Clock()
    at_x: dict = {}
    with restored(model):
        x_host = flatten(params, out=torch.empty(n, dtype=torch.float64)).numpy()
        if A is None:
            def fun(z: np.ndarray) -> tuple[float, np.ndarray]:
                assign_flat(params, torch.from_numpy(z))
                f, grads = clock.loss_and_grad(model, split, chunk, params)
                g = np.empty(n, dtype=np.float64)
                flatten(grads, out=torch.from_numpy(g))
                return f, g

            radius = box_radius(x_host, eps)
            lower, upper, z0 = x_host - radius, x_host + radius, x_host
        else:
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
                    at_x["grad_norm"] = float(torch.linalg.vector_norm(grad_buf,
                                                                       dtype=torch.float64))
                return f, (A.T @ grad_buf).to(device="cpu", dtype=torch.float64).numpy()

            radius = box_radius(pinv_coordinates(A, x_dev).cpu().numpy(), eps)
            lower, upper, z0 = -radius, radius, np.zeros(A.shape[1])
        timed = clock.timed(fun)
        start = _AtStart(timed, z0)
        optimizer = time.perf_counter()
        out = lbfgsb_maximize(start, z0, lower, upper, iters, engine=engine)
        f_start, g_start = start.get()
        optimizer = time.perf_counter() - optimizer
        lbfgsb_passes, lbfgsb_callback = clock.passes, clock.in_callback
        ascent = time.perf_counter()
        sa = second_maximize(timed, z0, lower, upper, (f_start, g_start), second, steps,
                             sign_step)
        ascent = time.perf_counter() - ascent
    wall = time.perf_counter() - wall
    grad_norm = at_x.get("grad_norm", float(np.linalg.norm(g_start)))
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
        **_estimate_fields(out, sa, second, steps, sign_step, g_start, lower, upper, grad_norm),
        "sign_ascent_passes": clock.passes - lbfgsb_passes,
        "sign_ascent_wall_s": None if sa is None else ascent,
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
