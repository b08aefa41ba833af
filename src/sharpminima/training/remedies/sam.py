"""Sharpness-aware minimization (Foret et al. 2021).

Each update uses the gradient at the perturbed point x + e, e = rho * g / ||g||_2, where g is the
minibatch gradient at x and the norm is over all trainable parameters together; the weights are
restored to x (bit for bit, from a copy) before the optimizer steps. The perturbation is over the
whole batch (no m-sharpness split); each of the two passes normalizes BN over the same examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from sharpminima.training.remedies._config import number, require


@dataclass
class SAMConfig:
    rho: float = 0.05  # radius of the ascent step (Foret et al.: 0.05 on CIFAR)

    def check(self) -> None:
        require(number(self.rho) and self.rho > 0, "sam", "rho must be > 0", self.rho)


@torch.no_grad()
def sam_perturbation(params: list[torch.Tensor], rho: float) -> list[torch.Tensor]:
    """e = rho * g / ||g|| from the .grad of `params` (None counts as zero)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    norm = torch.linalg.vector_norm(torch.stack(
        [torch.linalg.vector_norm(g, dtype=torch.float64) for g in grads]))  # float64: |e| = rho
    scale = (rho / (norm + 1e-12)).to(grads[0].dtype)
    return [g * scale for g in grads]


def sam_gradient(params: list[torch.Tensor], grad_fn: Callable[[object], None], rho: float,
                 zero_grad: Callable[[], None]) -> Callable[[object], None]:
    """Wrap `grad_fn(acc)` (which accumulates .grad at the current point) into its SAM version."""

    def wrapped(acc) -> None:
        grad_fn(acc)  # g at x (the reported loss is the one at x)
        e = sam_perturbation(params, rho)
        saved = [p.detach().clone() for p in params]
        with torch.no_grad():
            for p, d in zip(params, e):
                p.add_(d)
        zero_grad()
        try:
            grad_fn(None)  # gradient at x + e
        finally:
            with torch.no_grad():
                for p, s in zip(params, saved):
                    p.copy_(s)

    return wrapped
