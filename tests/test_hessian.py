"""Hessian of the training loss: HVPs, Lanczos eigenvalues, Hutchinson trace vs dense answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from sharpminima.data.splits import Split
from sharpminima.measures.hessian import (
    hessian_spectrum,
    hutchinson_trace,
    make_hvp,
    top_eigenvalues,
)
from sharpminima.nets.params import flatten, trainable

CHUNK = 16  # 40 examples -> chunks of 16, 16, 8: chunking is part of f with batch-statistics BN


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _split(n: int = 40, d: int = 3, classes: int = 2, seed: int = 0) -> Split:
    gen = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, d, generator=gen), torch.randint(0, classes, (n,), generator=gen))


def _mlp() -> nn.Module:
    """3 -> 4 -> 2 with batch-statistics BN and tanh, float64: 34 parameters."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Tanh(),
                         nn.Linear(4, 2)).double()


def _dense_hessian(model: nn.Module, split: Split, chunk: int) -> np.ndarray:
    """Reference: torch.autograd.functional.hessian of the chunked mean loss of the flat vector."""
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in trainable(model)]
    sizes = [p.numel() for p in trainable(model)]

    def loss(flat: torch.Tensor) -> torch.Tensor:
        tensors = {name: piece.view(shape) for name, piece, shape
                   in zip(names, torch.split(flat, sizes), shapes)}
        total = flat.new_zeros(())
        for xb, yb in split.chunks(chunk):
            total = total + F.cross_entropy(functional_call(model, tensors, (xb.double(),)), yb,
                                            reduction="sum")
        return total / len(split)

    model.eval()
    return torch.autograd.functional.hessian(loss, flatten(trainable(model))).numpy()


def test_hvp_matches_dense_hessian():
    model, split = _mlp(), _split()
    H = _dense_hessian(model, split, CHUNK)
    assert np.allclose(H, H.T, atol=1e-12)
    hvp = make_hvp(model, split, CHUNK)
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = rng.normal(size=H.shape[0])
        np.testing.assert_allclose(hvp(torch.from_numpy(v)).numpy(), H @ v, rtol=1e-9, atol=1e-12)


def test_spectrum_matches_dense_eigenvalues_and_trace():
    model, split = _mlp(), _split()
    before = [t.detach().clone() for t in model.parameters()]
    H = _dense_hessian(model, split, CHUNK)
    exact = np.linalg.eigvalsh(H)[::-1]
    assert exact[0] > 0
    res = hessian_spectrum(model, split, k=3, trace_samples=60, seed=1, chunk=CHUNK, tol=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert res["lanczos_converged"]
    np.testing.assert_allclose(res["top_eigenvalues"], exact[:3], rtol=1e-6)
    assert res["top_eigenvalues"] == sorted(res["top_eigenvalues"], reverse=True)
    trace = float(np.trace(H))
    assert res["trace_stderr"] > 0
    assert abs(res["trace"] - trace) <= 3 * res["trace_stderr"]
    assert res["hvps"] == res["lanczos_hvps"] + 60
    for key in ("top_eigenvalues", "trace", "trace_stderr", "hvps", "wall_s"):
        assert key in res
    # seeded: the same call gives the same numbers
    again = hessian_spectrum(model, split, k=3, trace_samples=60, seed=1, chunk=CHUNK, tol=0.0)
    assert again["trace"] == res["trace"] and again["top_eigenvalues"] == res["top_eigenvalues"]


def test_hutchinson_exact_on_diagonal_operator():
    d = torch.linspace(-1.0, 3.0, 50, dtype=torch.float64)
    mean, stderr, values = hutchinson_trace(lambda v: d * v, 50, 30, seed=0, dtype=torch.float64)
    assert mean == pytest.approx(float(d.sum()), abs=1e-12)
    assert stderr == pytest.approx(0, abs=1e-12)
    assert len(values) == 30
    top, converged = top_eigenvalues(lambda v: d * v, 50, 2, tol=0.0, dtype=torch.float64)
    assert converged and top == pytest.approx([3.0, float(d[-2])], rel=1e-12)


class _ZeroLogit(nn.Module):
    """Two-class logits (z, 0): with one-hot inputs each weight sees disjoint examples."""

    def forward(self, z):
        return torch.cat([z, torch.zeros_like(z)], dim=1)


def test_hutchinson_exact_on_network_with_diagonal_hessian():
    n, d = 60, 7
    gen = torch.Generator().manual_seed(0)
    x = F.one_hot(torch.randint(0, d, (n,), generator=gen), d).float()
    split = Split(x, torch.randint(0, 2, (n,), generator=gen))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(d, 1, bias=False), _ZeroLogit()).double()
    H = _dense_hessian(model, split, 25)
    assert np.allclose(H, np.diag(np.diag(H)), atol=1e-15)
    res = hessian_spectrum(model, split, k=2, trace_samples=5, seed=3, chunk=25, tol=0.0)
    assert res["trace"] == pytest.approx(float(np.trace(H)), rel=1e-12)
    assert res["trace_stderr"] < 1e-12
    np.testing.assert_allclose(res["top_eigenvalues"], np.sort(np.diag(H))[::-1][:2], rtol=1e-10)


def test_float32_model_runs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False),
                          nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 2))
    model.train()
    res = hessian_spectrum(model, _split(), k=2, trace_samples=4, chunk=CHUNK)
    assert model.training
    assert len(res["top_eigenvalues"]) == 2 and np.isfinite(res["trace"])
