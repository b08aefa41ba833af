"""Robust / adversarial training by the fast gradient sign method (paper App. E remedy 3).

Goodfellow et al. 2014: x_adv = x + eps * sign(grad_x loss(x, y)). In every step a fraction `mix`
of the batch (an exact count, chosen by the step's seeded generator) is replaced by its adversarial
version computed at the current weights; the step then trains on the mixed batch. The input gradient
is taken in training mode (the same BN normalization the step itself uses) and touches no weight
gradient. No clipping to the pixel range, so every perturbation has L-infinity norm exactly eps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sharpminima.training.remedies._config import number, require


@dataclass
class FGSMConfig:
    eps: float = 0.03  # L-infinity radius, in input units (pixels scaled to [0, 1])
    mix: float = 0.5  # fraction of each batch replaced by adversarial examples

    def check(self) -> None:
        require(number(self.eps) and self.eps >= 0, "fgsm", "eps must be >= 0", self.eps)
        require(number(self.mix) and 0 <= self.mix <= 1, "fgsm", "mix must be in [0, 1]",
                self.mix)


def fgsm_delta(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
               eps: float) -> torch.Tensor:
    """eps * sign(grad_x CE(model(x), y)): the FGSM perturbation of a batch (weights untouched)."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, [x])
    return eps * grad.sign()


def mix_mask(n: int, mix: float, gen: torch.Generator) -> torch.Tensor:
    """Boolean mask (CPU) of exactly round(mix * n) examples chosen at random."""
    k = round(mix * n)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=gen)[:k]] = True
    return mask


def mix_adversarial(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                    eps: float) -> torch.Tensor:
    """The batch with the examples in `mask` replaced by their FGSM versions."""
    mask = mask.to(x.device)
    if not bool(mask.any()):
        return x
    delta = fgsm_delta(model, x, y, eps)
    return torch.where(mask.view(-1, *([1] * (x.dim() - 1))), x + delta, x)
