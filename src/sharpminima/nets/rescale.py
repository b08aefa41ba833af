"""Function-preserving rescalings of a batch-normalized network (Dinh et al. 2017).

A layer z = W x + b that feeds a BatchNorm directly can be replaced by alpha W, alpha b for any
alpha > 0: BN subtracts the mean (so b's shift cancels) and divides by the standard deviation (so
alpha cancels), up to BN's eps: (alpha z - alpha mu) / sqrt(alpha^2 var + eps). With batch
statistics (``bn: batch``, ``models``' default, used at evaluation too) nothing else changes; with
running averages (``bn: running``) the running mean and variance are rescaled by alpha and alpha^2
as well. ``scale_bn_eps`` also rescales eps by alpha^2, which makes the map exact (then the model
is the same function for every input in exact arithmetic, but its BN layers carry another eps).

The function is unchanged while the parameters, Metric 2.1's box eps(|x_i| + 1), the Hessian and
the 2-D slices all move. ``check_logits`` verifies the "unchanged" on a split the way the pipeline
evaluates (eval mode, fixed chunks: ``evaluate``'s convention) and fails loudly otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from sharpminima.data.splits import Split

LINEAR_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


class RescaleError(ValueError):
    """The rescaled model's logits differ from the original's by more than the tolerance."""


def bn_fed_layers(model: nn.Module) -> list[tuple[str, nn.Module, _BatchNorm]]:
    """(name, layer, its BN) for every Linear/Conv layer whose output goes straight into a BN: the
    consecutive pairs of every nn.Sequential in the model (``models``' nets are Sequential)."""
    found = []
    for prefix, module in model.named_modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name, layer), (_, nxt) in zip(children, children[1:]):
            if isinstance(layer, LINEAR_LAYERS) and isinstance(nxt, _BatchNorm):
                found.append((f"{prefix}.{name}" if prefix else name, layer, nxt))
    return found


def rescale(model: nn.Module, alpha: float | Sequence[float],
            scale_bn_eps: bool = False) -> nn.Module:
    """A copy of ``model`` with each BN-fed layer's weight and bias multiplied by alpha (one alpha
    for all, or one per layer in ``bn_fed_layers`` order); the original is left as it is."""
    pairs = bn_fed_layers(model)
    if not pairs:
        raise RescaleError("no Linear/Conv layer of this model feeds a BatchNorm: nothing to "
                           "rescale without changing the function")
    alphas = ([float(alpha)] * len(pairs) if isinstance(alpha, (int, float))
              else [float(a) for a in alpha])
    if len(alphas) != len(pairs):
        raise ValueError(f"{len(alphas)} alphas for {len(pairs)} BN-fed layers")
    if not all(a > 0 for a in alphas):
        raise ValueError(f"every alpha must be > 0 (a sign flip is not preserved), not {alphas}")
    new = copy.deepcopy(model)
    with torch.no_grad():
        for (_, layer, bn), a in zip(bn_fed_layers(new), alphas):
            layer.weight.mul_(a)
            if layer.bias is not None:
                layer.bias.mul_(a)
            if bn.track_running_stats and bn.running_mean is not None:
                bn.running_mean.mul_(a)
                bn.running_var.mul_(a * a)
            if scale_bn_eps:
                bn.eps = bn.eps * a * a
    return new


@torch.no_grad()
def logits(model: nn.Module, split: Split, chunk: int) -> torch.Tensor:
    """The logits of every example of the split, in eval mode and fixed chunks (as ``evaluate``);
    the model's training mode is restored."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(xb) for xb, _ in split.chunks(chunk)])
    finally:
        model.train(was_training)


def logit_deviation(original: nn.Module, rescaled: nn.Module, split: Split,
                    chunk: int) -> float:
    """max |z' - z| / max |z| over the split's logits z (original) and z' (rescaled)."""
    z, z_new = logits(original, split, chunk), logits(rescaled, split, chunk)
    scale = float(z.abs().max())
    return float((z_new - z).abs().max()) / (scale if scale > 0 else 1.0)


def check_logits(original: nn.Module, rescaled: nn.Module, split: Split, chunk: int,
                 tolerance: float, what: str = "the rescaled model") -> float:
    """The relative logit deviation (``logit_deviation``); RescaleError if above ``tolerance``."""
    deviation = logit_deviation(original, rescaled, split, chunk)
    if not deviation <= tolerance:  # NaN fails too
        raise RescaleError(
            f"{what} is not the same function: its logits on {len(split)} examples deviate by "
            f"{deviation:.3g} (max |z' - z| / max |z|), above the tolerance {tolerance:g}")
    return deviation
