"""The random subspace of Metric 2.1: the n x p matrix A, regenerable from (a_dist, a_seed, n, p).

The paper draws "a randomly generated n x p matrix" (p = 100) and states no distribution, so the
distribution is declared (``A_DISTRIBUTIONS``) and recorded with every result. A lives on the
device (n * p floats: 0.6 GB for F1, 6 GB for C2/C4); the box needs A^+ x, computed through the
p x p normal equations (``pinv_coordinates``), never an n x n matrix.
"""

from __future__ import annotations

import torch

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

#: Rows of A generated per step of the seeded CPU generator. Part of the map (seed -> A): changing
#: it changes every A, so it is a constant, not an option.
_GEN_ROWS = 1 << 16
#: Rows per float64 block when accumulating A^T A and A^T x (~50 MB of device memory at p=100).
_GRAM_ROWS = 1 << 16


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
