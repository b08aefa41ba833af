"""The L-BFGS-B maximizer of Metric 2.1's box: the paper's 10 iterations of SciPy's L-BFGS-B.

``lbfgsb_maximize`` maximizes f over a box [lower, upper] from z0 and keeps the bookkeeping the
record needs (f at the start, the best feasible value seen and where, iterations, evaluations, the
solver's message). ``AtStart`` keeps the first evaluation (at z0) for the second maximizer and the
gradient fields, at no extra pass. The metric itself (the box, the record) is ``sharpness``.

Design points, each a pitfall:
- Maximizing by minimizing -f requires -grad f as the gradient: a version that returned +grad f
  stalls in the line search at y = 0 and reports ~0 (seen in public code). ``lbfgsb_maximize`` owns
  the sign flip so every caller gets it right.
- One loss+gradient pass per evaluation (``jac=True``); the only reuse is SciPy's own: a point the
  solver asks for twice in a row is answered from that same evaluation.
- SciPy's ``minimize`` wrapper costs ~2.4 us per parameter in Python loops over the bounds, so by
  default its L-BFGS-B core is driven directly (``LBFGSB_ENGINE``, bit-identical iterates).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy
from scipy.optimize import Bounds, minimize

from sharpminima.measures.box_ascent import checked_box

FunAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]

#: L-BFGS-B stopping tolerances. SciPy's defaults (gtol 1e-5 on the projected gradient's largest
#: entry, ftol 2.2e-9) are absolute/relative scales foreign to the metric: at a well-trained
#: minimizer every gradient entry of the mean loss can be below 1e-5, and L-BFGS-B would then stop
#: at iteration 0 and report a sharpness of exactly 0. With both at 0 the solver runs the paper's
#: 10 iterations unless no ascent is possible (zero projected gradient, e.g. at a vertex of the box,
#: or a failed line search); the message says which.
LBFGSB_GTOL = 0.0
LBFGSB_FTOL = 0.0


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



class AtStart:
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
