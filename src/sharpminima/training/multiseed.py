"""Train several seeds of ONE configuration at once, in one process (torch.func + vmap).

Why: the paper's networks are small for a modern GPU. F1 at batch 256 is ~2 GFLOP per step, a few
microseconds of H100 time, so a step is bound by kernel launches and Python, not arithmetic. The
five seeds of a (net, regime) cell run the same shapes, so they can share every kernel launch: the
S models' parameters are stacked along a new leading axis and one vmapped forward/backward computes
all S steps (batched matmuls/convolutions).

How, and why each seed's result is the one it would get alone (tests/test_multiseed.py checks):
- Initial points: model s is ``models.build(net, ..., seed=s)``, as in ``train.train``.
- Batches: seed s draws its own per-epoch order ``train.epoch_permutation(n, s, epoch)``; the S
  batches are gathered into one [S, B, ...] tensor and vmapped over, so seed s sees exactly its
  own batches in its own order.
- Loss: sum over seeds of each seed's mean cross-entropy. A seed's parameters receive only the
  gradient of its own term, since the terms share no parameter.
- Optimizer: ONE torch.optim.Adam over the stacked parameters equals S independent Adams, because
  Adam is elementwise (m, v, bias corrections and the update act per entry; the step counter is
  shared and equal: every seed takes the same number of steps). This would NOT hold for an
  optimizer with cross-entry coupling (LAMB/LARS trust ratios, gradient clipping by global norm).
- Batch norm: batch statistics (the paper's Keras mode=2, ``bn="batch"``,
  ``track_running_stats=False``) are computed per seed inside vmap. ``bn="running"`` (running
  buffers updated in place) is not supported.
- Dropout (C1-C4): vmap draws independent masks per seed (randomness="different"). They are not
  the masks the single-seed loop draws from the global generator, so dropout nets are equal to
  their single-seed runs in distribution only; F1 and F2 (no dropout) are equal step for step up
  to float rounding (batched vs single matmul kernels: ~1e-6 relative after a few steps on CPU).
- Stopping rule: each seed can be evaluated after each epoch with the regular
  ``evaluate.evaluate`` on a plain module holding its parameters (``MultiSeed.evaluate``) and
  given its own ``stopping.Stopping``, the rule of ``train``; a seed that stops keeps the snapshot
  taken at its stopping epoch (``state_dict``) while the others continue (its slice keeps being
  updated, at no extra launches, but is no longer read). tests/multiseed_helpers.py drives it so.
Not supported (errors): remedies, train_chunk (gradient accumulation), speed options, resuming.
Not wired into the Snakemake rules (one job per seed keeps the DAG, logs and reruns per seed);
use it from Python or through the benchmark (bench/run.py measures its gain over sequential).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from sharpminima.data.splits import Dataset, Split
from sharpminima.nets import models
from sharpminima.nets.evaluate import evaluate
from sharpminima.training.train import epoch_permutation

Builder = Callable[[int], torch.nn.Module]


class MultiSeed:
    """S models of one architecture, stacked, trained with one vmapped step per batch index."""

    def __init__(self, seeds: Sequence[int], data: Dataset, batch: int, *, net: str | None = None,
                 build: Builder | None = None, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), adam_eps: float = 1e-8,
                 bn: str = "batch", device: torch.device | str = "cpu"):
        if bn != "batch":
            raise ValueError("multi-seed training supports batch-statistics BN (bn='batch') only")
        if build is None:
            if net is None:
                raise ValueError("give net or build")
            build = lambda s: models.build(net, data.input_shape, data.num_classes, bn=bn, seed=s)  # noqa: E731
        self.seeds = [int(s) for s in seeds]
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ValueError(f"seeds must be distinct and non-empty, got {self.seeds}")
        self.data, self.batch, self.device = data, int(batch), torch.device(device)
        plain = [build(s).to(self.device) for s in self.seeds]
        if any(b.numel() for m in plain for b in m.buffers()):
            raise ValueError("models with buffers (running statistics) are not supported")
        self.template = plain[0]  # a plain module: per-seed evaluation loads a seed's tensors here
        self.skeleton = copy.deepcopy(plain[0]).to("meta")  # stateless structure for vmap
        self.params, self.buffers = stack_module_state(plain)
        self.opt = torch.optim.Adam(list(self.params.values()), lr=lr, betas=betas, eps=adam_eps)
        self.has_dropout = any(isinstance(m, torch.nn.Dropout) and m.p > 0
                               for m in self.skeleton.modules())

        def one_loss(p, b, x, y):
            return F.cross_entropy(functional_call(self.skeleton, (p, b), (x,)), y)

        self._losses = vmap(one_loss, in_dims=(0, 0, 0, 0), randomness="different")

    @property
    def n_seeds(self) -> int:
        return len(self.seeds)

    def permutations(self, epoch: int) -> torch.Tensor:
        """[S, N] per-seed orders of `epoch`, exactly those of the single-seed loop."""
        n = len(self.data.train)
        return torch.stack([epoch_permutation(n, s, epoch) for s in self.seeds]).to(
            self.data.train.y.device)

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        """One Adam step of every seed; idx [S, B] indexes each seed's batch. Returns [S] losses."""
        xb, yb = self.data.train.batch(idx)  # [S, B, ...], [S, B]
        self.skeleton.train()
        losses = self._losses(self.params, self.buffers, xb, yb)
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.opt.step()
        return losses.detach()

    def train_epoch(self, epoch: int, max_steps: int | None = None) -> torch.Tensor:
        """floor(N / batch) steps (as ``train.train_epoch``); returns each seed's mean loss [S]."""
        perm = self.permutations(epoch)
        steps = perm.shape[1] // self.batch
        steps = steps if max_steps is None else min(steps, max_steps)
        total = torch.zeros(self.n_seeds, device=perm.device)
        for s in range(steps):
            total += self.step(perm[:, s * self.batch:(s + 1) * self.batch])
        return total / steps

    def state_dict(self, i: int) -> dict[str, torch.Tensor]:
        """Seed i's (position i in `seeds`) tensors, keyed as in the plain module."""
        out = {k: v[i].detach().clone() for k, v in self.params.items()}
        out.update({k: v[i].detach().clone() for k, v in self.buffers.items()})
        return out

    def model(self, i: int) -> torch.nn.Module:
        """The plain module holding seed i's current parameters (shared template: copy to keep)."""
        self.template.load_state_dict(self.state_dict(i))
        return self.template

    def evaluate(self, i: int, split: Split, chunk: int) -> tuple[float, float]:
        return evaluate(self.model(i), split, chunk)
