"""Conservative training (paper App. E remedy 2): each step approximately solves

    min_x (1/|B_k|) sum_{i in B_k} f_i(x) + (lam / 2) ||x - x_k||^2

by `inner_steps` Adam iterations on the same batch B_k, started at x_k.

Solver: proximal Adam (forward-backward splitting in Adam's metric). Each inner iteration is the
run's own Adam step on the minibatch gradient, y = x - eta * m_hat / (sqrt(v_hat) + eps), followed
by the exact proximal map of the quadratic in the metric D = 1 / (Adam's per-coordinate step size):

    x+ = argmin_x (lam / 2) ||x - x_k||^2 + (1 / 2) ||x - y||_D^2 = x_k + (y - x_k) * D / (D + lam).

Its fixed points satisfy grad f_B(x) + lam (x - x_k) = 0, the subproblem's optimality condition.
Why not Adam on the gradient of the whole objective: Adam is invariant to the gradient's scale, so
the first inner step moves every coordinate by about lr however large lam is; the proximal form
instead gives exactly plain Adam steps at lam = 0 and keeps x at x_k as lam -> infinity.
The Adam moments are the run's (carried across outer steps), so `inner_steps` = 1 and lam = 0 is
plain training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from sharpminima.training.remedies._config import number, require


@dataclass
class ProximalConfig:
    lam: float = 1.0  # weight lambda of the proximal term (may be .inf: x never moves)
    inner_steps: int = 3  # Adam iterations per subproblem ("a few")

    def check(self) -> None:
        require(number(self.lam) and self.lam >= 0, "proximal", "lam must be >= 0", self.lam)
        require(isinstance(self.inner_steps, int) and self.inner_steps >= 1, "proximal",
                "inner_steps must be an integer >= 1", self.inner_steps)


def _step_value(step) -> float:
    return float(step.item() if torch.is_tensor(step) else step)


@torch.no_grad()
def prox_pull(opt: torch.optim.Optimizer, anchors: dict[torch.Tensor, torch.Tensor],
              lam: float) -> None:
    """The proximal map of (lam/2)||x - x_k||^2 in Adam's metric, on every stepped parameter."""
    if lam == 0:
        return
    for group in opt.param_groups:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            state = opt.state.get(p)
            if p not in anchors or not state or "exp_avg_sq" not in state:
                continue
            a = anchors[p]
            if math.isinf(lam):
                p.copy_(a)
                continue
            t = _step_value(state["step"])
            bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
            # Adam's step is (lr / bc1) * m / denom: the metric is D = denom * bc1 / lr.
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(bc2)).add_(group["eps"])
            d = denom.mul_(bc1 / group["lr"])
            p.sub_(a).mul_(d.div_(d + lam)).add_(a)


def proximal_update(opt: torch.optim.Optimizer, params: list[torch.Tensor],
                    grad_fn: Callable[[object], None], cfg: ProximalConfig, acc) -> None:
    """`inner_steps` proximal-Adam iterations on one batch; grad_fn(acc) fills .grad at the
    current point (the loss is accumulated into `acc` on the first pass only)."""
    anchors = {p: p.detach().clone() for p in params}
    for i in range(cfg.inner_steps):
        opt.zero_grad(set_to_none=True)
        grad_fn(acc if i == 0 else None)
        opt.step()
        prox_pull(opt, anchors, cfg.lam)
