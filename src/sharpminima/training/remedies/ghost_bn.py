"""Ghost Batch Normalization (Hoffer et al. 2017): in training, BN statistics over virtual batches.

In training mode each BN layer splits its input into consecutive virtual batches of `virtual_batch`
examples (the last may be smaller) and normalizes each with its own statistics (running averages,
when tracked, are updated once per virtual batch, as in Hoffer et al.). In eval mode the layer is
plain BN, so evaluation, sharpness and landscapes are unchanged. The layers are converted in place
(their class is swapped): parameters, buffers and state_dict keys stay the same, so the optimizer,
checkpoints and `load_model` (which builds plain BN) work as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sharpminima.training.remedies._config import require


@dataclass
class GhostBNConfig:
    virtual_batch: int = 128  # examples per BN normalization in training (Hoffer et al.: 128)

    def check(self) -> None:
        require(isinstance(self.virtual_batch, int) and self.virtual_batch >= 2, "ghost_bn",
                "virtual_batch must be an integer >= 2", self.virtual_batch)


class _GhostMixin:
    virtual_batch: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.shape[0] <= self.virtual_batch:
            return super().forward(x)
        return torch.cat([super(_GhostMixin, self).forward(part)
                          for part in x.split(self.virtual_batch)])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, virtual_batch={self.virtual_batch}"


class GhostBatchNorm1d(_GhostMixin, nn.BatchNorm1d):
    pass


class GhostBatchNorm2d(_GhostMixin, nn.BatchNorm2d):
    pass


_GHOST = {nn.BatchNorm1d: GhostBatchNorm1d, nn.BatchNorm2d: GhostBatchNorm2d}


def apply_ghost_bn(model: nn.Module, virtual_batch: int) -> int:
    """Turn every BatchNorm1d/2d of `model` into its ghost version, in place; returns how many."""
    count = 0
    for m in model.modules():
        ghost = _GHOST.get(type(m))
        if ghost is None and type(m) in _GHOST.values():
            ghost = type(m)
        if ghost is not None:
            m.__class__ = ghost
            m.virtual_batch = virtual_batch
            count += 1
    return count
