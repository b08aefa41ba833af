"""Remedies for the generalization gap of large-batch training, as composable options of the ONE
training loop (`sharpminima.training.train`).

A run's `TrainSpec.remedy` maps remedy names to their options (each module holds its defaults):

    augment    {translate, rotate_deg, shear_deg, hflip, padding}   paper App. E   augment.py
    proximal   {lam, inner_steps}                                    paper App. E   proximal.py
    fgsm       {eps, mix}                                            paper App. E   adversarial.py
    lr_warmup  {scale_from_batch, warmup_epochs, rule}               Goyal 2017     lr_schedule.py
    ghost_bn   {virtual_batch}                                       Hoffer 2017    ghost_bn.py
    sam        {rho}                                                 Foret 2021     sam.py

`make_step` builds, once per run, the function that performs one update on one batch. Composition,
in the order of one update:
  1. lr_warmup sets the optimizer's rate from the global update index;
  2. the batch is read (in chunks of train_chunk when set), augmented, then FGSM-mixed (both
     drawing from a generator seeded by (seed, epoch, step): deterministic and resumable);
  3. the gradient function accumulates .grad over the chunks; SAM wraps it (gradient at x + e);
  4. the update is one Adam step, or with `proximal` a few proximal-Adam steps on the same batch.
  ghost_bn acts on the model itself (its BN layers), once, when the step is built.
An empty remedy is exactly the plain step (bit-identical to the loop before remedies existed).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sharpminima.data.splits import Split
from sharpminima.training.remedies._config import parse
from sharpminima.training.remedies.adversarial import FGSMConfig, mix_adversarial, mix_mask
from sharpminima.training.remedies.augment import AugmentConfig, affine_matrices, apply, draw_params
from sharpminima.training.remedies.ghost_bn import GhostBNConfig, apply_ghost_bn
from sharpminima.training.remedies.lr_schedule import WarmupConfig, WarmupSchedule
from sharpminima.training.remedies.proximal import ProximalConfig, proximal_update
from sharpminima.training.remedies.sam import SAMConfig, sam_gradient

#: remedy name -> (options dataclass, short description, source)
REMEDIES: dict[str, tuple[type, str, str]] = {
    "augment": (AugmentConfig, "data augmentation (affine + flips, on the device)",
                "Keskar et al. 2017, App. E"),
    "proximal": (ProximalConfig, "conservative training (proximal subproblem per step)",
                 "Keskar et al. 2017, App. E"),
    "fgsm": (FGSMConfig, "robust training with FGSM adversarial examples",
             "Keskar et al. 2017, App. E; Goodfellow et al. 2014"),
    "lr_warmup": (WarmupConfig, "learning-rate scaling with gradual warm-up", "Goyal et al. 2017"),
    "ghost_bn": (GhostBNConfig, "ghost batch normalization", "Hoffer et al. 2017"),
    "sam": (SAMConfig, "sharpness-aware minimization", "Foret et al. 2021"),
}


def validate(remedy: dict | None) -> dict[str, Any]:
    """Parse a remedy mapping into {name: options dataclass}; unknown names/options are errors."""
    remedy = remedy or {}
    if not isinstance(remedy, dict):
        raise ValueError(f"remedy must be a mapping of remedy name to options, got {remedy!r}")
    unknown = set(remedy) - set(REMEDIES)
    if unknown:
        raise ValueError(f"unknown remedy(ies) {sorted(unknown)}; known: {sorted(REMEDIES)}")
    return {name: parse(REMEDIES[name][0], name, opts) for name, opts in remedy.items()}


def remedy_generator(seed: int, epoch: int, step: int) -> torch.Generator:
    """CPU generator of one update's random choices (augmentation, FGSM mix)."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + step)
                                         % (2 ** 63 - 1))


class Step:
    """One training update on one batch (a batch = index tensor into the training split)."""

    def __init__(self, model: torch.nn.Module, opt: torch.optim.Optimizer, split: Split,
                 batch: int, chunk: int | None = None, seed: int = 0,
                 remedy: dict | None = None, base_lr: float | None = None):
        self.model, self.opt, self.split = model, opt, split
        self.batch, self.chunk, self.seed = batch, chunk, seed
        self.cfg = validate(remedy)
        self.steps_per_epoch = max(1, len(split) // batch)
        self.params = [p for p in model.parameters() if p.requires_grad]
        c = self.cfg
        if "ghost_bn" in c:
            apply_ghost_bn(model, c["ghost_bn"].virtual_batch)
        base_lr = opt.param_groups[0]["lr"] if base_lr is None else base_lr
        self.schedule = (WarmupSchedule(c["lr_warmup"], base_lr, batch, self.steps_per_epoch)
                         if "lr_warmup" in c else None)

    def global_step(self, epoch: int, s: int) -> int:
        return (epoch - 1) * self.steps_per_epoch + s

    def inputs(self, idx: torch.Tensor, epoch: int, s: int) -> list:
        """[(x, y, weight)] per chunk: read, augmented, FGSM-mixed as configured."""
        parts = idx.split(self.chunk or self.batch)
        chunks = [(*self.split.batch(c), len(c) / self.batch) for c in parts]
        aug, fgsm = self.cfg.get("augment"), self.cfg.get("fgsm")
        if not (aug or fgsm):
            return chunks
        gen = remedy_generator(self.seed, epoch, s)
        n = len(idx)
        theta = affine_matrices(draw_params(n, aug, gen)) if aug else None
        mask = mix_mask(n, fgsm.mix, gen) if fgsm else None
        out, start = [], 0
        for x, y, w in chunks:
            sl = slice(start, start + len(y))
            start += len(y)
            if aug:
                x = apply(x, theta[sl], aug.padding)
            if fgsm:
                x = mix_adversarial(self.model, x, y, mask[sl], fgsm.eps)
            out.append((x, y, w))
        return out

    def __call__(self, idx: torch.Tensor, epoch: int, s: int, acc: torch.Tensor) -> None:
        """One update on the batch `idx` (update s of epoch `epoch`, 1-based epochs); the batch's
        mean loss at the starting point is added to `acc`."""
        if self.schedule:
            self.schedule.apply(self.opt, self.global_step(epoch, s))
        chunks = self.inputs(idx, epoch, s)
        model = self.model

        def grad_fn(acc_or_none) -> None:
            # A chunk smaller than the batch accumulates gradients; with batch-statistics BN each
            # chunk is then normalized on its own (as ghost BN would): documented in config.
            for x, y, w in chunks:
                loss = F.cross_entropy(model(x), y) * w
                loss.backward()
                if acc_or_none is not None:
                    acc_or_none += loss.detach()

        if "sam" in self.cfg:
            grad_fn = sam_gradient(self.params, grad_fn, self.cfg["sam"].rho,
                                   lambda: self.opt.zero_grad(set_to_none=True))
        if "proximal" in self.cfg:
            proximal_update(self.opt, self.params, grad_fn, self.cfg["proximal"], acc)
        else:
            self.opt.zero_grad(set_to_none=True)
            grad_fn(acc)
            self.opt.step()


def make_step(spec, model: torch.nn.Module, opt: torch.optim.Optimizer, split: Split,
              batch: int) -> Step:
    """The composed update of a run, from its TrainSpec (remedy, seed, train_chunk, lr)."""
    return Step(model, opt, split, batch, chunk=spec.train_chunk, seed=spec.seed,
                remedy=spec.remedy, base_lr=spec.lr)
