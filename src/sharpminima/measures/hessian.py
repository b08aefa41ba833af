"""Curvature of the training loss at the current parameters: top Hessian eigenvalues and trace.

The paper defines "sharp" by large positive eigenvalues of the Hessian of f (the mean training
cross-entropy) and then measures a box-maximum proxy instead (``sharpness.py``). This module
measures the eigenvalues themselves, as a check on that proxy:

- Hessian-vector products by double backward, chunked over the split in the same fixed order and
  eval mode as ``evaluate.loss_and_grad`` (so H is the Hessian of exactly the f used everywhere);
  one product = one pass over the data.
- Top-k eigenvalues by Lanczos (ARPACK via ``scipy.sparse.linalg.eigsh``, which="LA": largest
  algebraic, since "sharp" means large positive curvature), float64 at the SciPy boundary, seeded
  start vector.
- Trace by Hutchinson's estimator E[v^T H v] with seeded Rademacher v, with its standard error.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from sharpminima.data.splits import Split
from sharpminima.nets.params import restored, trainable

Hvp = Callable[[torch.Tensor], torch.Tensor]


def make_hvp(model: torch.nn.Module, split: Split, chunk: int,
             params: list[torch.Tensor] | None = None) -> Hvp:
    """The map v -> H v for the mean training cross-entropy at the model's current parameters.

    v and H v are flat tensors in the parameters' dtype and device. Per chunk: the chunk's summed
    loss / N, its gradient with a graph, then the gradient of <grad, v>; the products are summed
    over chunks, so memory is bounded by the chunk. Inputs are cast to the parameters' dtype so a
    float64 model (used by the exactness tests) gets a float64 Hessian.
    """
    params = trainable(model) if params is None else params
    sizes = [p.numel() for p in params]
    dtype = params[0].dtype
    n_examples = len(split)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        pieces = [piece.view_as(p) for piece, p in zip(torch.split(v, sizes), params)]
        out = [torch.zeros_like(p) for p in params]
        was_training = model.training
        model.eval()
        try:
            for xb, yb in split.chunks(chunk):
                loss = F.cross_entropy(model(xb.to(dtype)), yb, reduction="sum") / n_examples
                grads = torch.autograd.grad(loss, params, create_graph=True)
                dot = sum((g * piece).sum() for g, piece in zip(grads, pieces))
                for acc, h in zip(out, torch.autograd.grad(dot, params)):
                    acc += h
        finally:
            model.train(was_training)
        return torch.cat([h.reshape(-1) for h in out])

    return hvp


def top_eigenvalues(hvp: Hvp, n: int, k: int, seed: int = 0, tol: float = 1e-3,
                    dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                    maxiter: int | None = None) -> tuple[list[float], bool]:
    """The k largest (algebraic) eigenvalues of the symmetric operator ``hvp``, descending.

    ``tol`` is ARPACK's relative accuracy of the Ritz values (0 = machine precision). In float32 the
    products carry ~1e-6 relative noise, so a tol much below 1e-5 may never be met; the default 1e-3
    gives ~3 significant digits, below seed-to-seed variation. On non-convergence the Ritz values
    that did converge are returned with converged=False.
    """
    if not 0 < k < n:
        raise ValueError(f"need 0 < k < n (Lanczos); got k={k}, n={n}")

    def matvec(v: np.ndarray) -> np.ndarray:
        hv = hvp(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
                 .to(device=device, dtype=dtype))
        return hv.to(device="cpu", dtype=torch.float64).numpy()

    operator = LinearOperator((n, n), matvec=matvec, rmatvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    try:
        values = eigsh(operator, k=k, which="LA", v0=v0, tol=tol, maxiter=maxiter,
                       return_eigenvectors=False)
        converged = True
    except ArpackNoConvergence as err:
        values, converged = err.eigenvalues, False
    return sorted((float(v) for v in values), reverse=True), converged


def hutchinson_trace(hvp: Hvp, n: int, samples: int, seed: int = 0,
                     dtype: torch.dtype = torch.float32,
                     device: str | torch.device = "cpu") -> tuple[float, float, list[float]]:
    """Hutchinson's estimate of tr(H): mean of v^T H v over seeded Rademacher v.

    Returns (mean, standard error of the mean, per-sample values). Vectors are drawn on the CPU
    with a seeded generator so the estimate does not depend on the device; v^T H v is accumulated
    in float64.
    """
    if samples < 1:
        raise ValueError("need at least one sample")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    values = []
    for _ in range(samples):
        v = torch.randint(0, 2, (n,), generator=gen, dtype=torch.int8).mul_(2).sub_(1)
        v = v.to(device=device, dtype=dtype)
        values.append(float((v * hvp(v)).sum(dtype=torch.float64)))
    mean = float(np.mean(values))
    stderr = float(np.std(values, ddof=1) / np.sqrt(samples)) if samples > 1 else float("nan")
    return mean, stderr, values


def hessian_spectrum(model: torch.nn.Module, split: Split, k: int = 5, trace_samples: int = 20,
                     seed: int = 0, chunk: int = 5000, tol: float = 1e-3) -> dict:
    """Top-k Hessian eigenvalues (descending) and a Hutchinson trace estimate of the training loss.

    Each Hessian-vector product is one pass over ``split``; ``hvps`` counts them (Lanczos + trace).
    The parameters are left bit-identical (products do not move them; restored defensively).
    """
    start = time.perf_counter()
    params = trainable(model)
    n = sum(p.numel() for p in params)
    dtype, device = params[0].dtype, params[0].device
    calls = {"n": 0}
    base = make_hvp(model, split, chunk, params)

    def counted(v: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return base(v)

    with restored(model):
        eigenvalues, converged = (top_eigenvalues(counted, n, k, seed, tol, dtype, device)
                                  if k > 0 else ([], True))
        lanczos_hvps = calls["n"]
        trace, stderr, samples = (hutchinson_trace(counted, n, trace_samples, seed, dtype, device)
                                  if trace_samples > 0 else (float("nan"), float("nan"), []))
    return {
        "top_eigenvalues": eigenvalues, "lanczos_converged": converged, "k": k, "tol": tol,
        "trace": trace, "trace_stderr": stderr, "trace_samples": len(samples),
        "trace_values": samples, "probe_seed": seed, "chunk": chunk, "n_params": n,
        "hvps": calls["n"], "lanczos_hvps": lanczos_hvps, "wall_s": time.perf_counter() - start,
    }
