"""Learning-rate scaling with gradual warm-up (Goyal et al. 2017).

The configured `lr` is the rate for batches of `scale_from_batch` examples; a batch of B examples
gets the target rate lr * B / scale_from_batch (rule `linear`, Goyal et al.) or
lr * sqrt(B / scale_from_batch) (rule `sqrt`, Krizhevsky 2014 / Hoffer et al. 2017, often preferred
for adaptive methods such as Adam). The rate rises linearly from lr at update 0 to the target at
update `warmup_epochs * steps_per_epoch` and stays there. It is a pure function of the global update
index, so a resumed run sets the same rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sharpminima.training.remedies._config import number, require

RULES = ("linear", "sqrt")


@dataclass
class WarmupConfig:
    scale_from_batch: int = 256  # the batch size the configured lr is meant for
    warmup_epochs: float = 5.0  # epochs to reach the scaled rate (0: no warm-up)
    rule: str = "linear"  # linear (Goyal et al. 2017) or sqrt

    def check(self) -> None:
        require(isinstance(self.scale_from_batch, int) and self.scale_from_batch >= 1,
                "lr_warmup", "scale_from_batch must be an integer >= 1", self.scale_from_batch)
        require(number(self.warmup_epochs) and self.warmup_epochs >= 0, "lr_warmup",
                "warmup_epochs must be >= 0", self.warmup_epochs)
        require(self.rule in RULES, "lr_warmup", f"rule must be one of {RULES}", self.rule)


def target_lr(base_lr: float, batch: int, cfg: WarmupConfig) -> float:
    ratio = batch / cfg.scale_from_batch
    return base_lr * (ratio if cfg.rule == "linear" else math.sqrt(ratio))


def warmup_steps(cfg: WarmupConfig, steps_per_epoch: int) -> int:
    return round(cfg.warmup_epochs * steps_per_epoch)


def lr_at(step: int, base_lr: float, target: float, n_warmup: int) -> float:
    """Rate of update `step` (0-based): linear from base_lr (step 0) to target (step n_warmup)."""
    if step >= n_warmup:
        return target
    return base_lr + (target - base_lr) * step / n_warmup


class WarmupSchedule:
    """Sets the optimizer's rate before every update."""

    def __init__(self, cfg: WarmupConfig, base_lr: float, batch: int, steps_per_epoch: int):
        self.base, self.target = base_lr, target_lr(base_lr, batch, cfg)
        self.n_warmup = warmup_steps(cfg, steps_per_epoch)

    def __call__(self, step: int) -> float:
        return lr_at(step, self.base, self.target, self.n_warmup)

    def apply(self, opt, step: int) -> float:
        lr = self(step)
        for group in opt.param_groups:
            group["lr"] = lr
        return lr
