"""Trainable parameters as one flat vector.

Sharpness, Hessian and landscape code all treat "the point x" as the concatenation of the model's
trainable parameters (BN affine included, BN buffers excluded; paper Metric 2.1 perturbs x only).
These helpers fix that ordering (``model.parameters()`` order) in one place, and restore the model
exactly after a measurement has moved it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch


def trainable(model: torch.nn.Module) -> list[torch.Tensor]:
    """The parameters that define x: ``requires_grad`` ones, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


def numel(tensors: Sequence[torch.Tensor]) -> int:
    """Total number of elements, i.e. the dimension n of the flat vector."""
    return sum(t.numel() for t in tensors)


@torch.no_grad()
def flatten(tensors: Sequence[torch.Tensor], out: torch.Tensor | None = None) -> torch.Tensor:
    """Concatenate tensors into one 1-D tensor.

    With ``out`` (any dtype or device, length n) each tensor is copied straight into its slice, so
    a float32 GPU gradient becomes a float64 host vector in one conversion and no intermediate
    concatenated copy: this is the hot path of the full-space sharpness loop.
    """
    if out is None:
        return torch.cat([t.detach().reshape(-1) for t in tensors])
    if numel(tensors) != out.numel():
        raise ValueError(f"out has {out.numel()} elements, tensors have {numel(tensors)}")
    offset = 0
    for t in tensors:
        k = t.numel()
        out[offset:offset + k].copy_(t.detach().reshape(-1))
        offset += k
    return out


@torch.no_grad()
def assign_flat(params: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy a flat vector into the parameters in place (dtype and device converted per slice)."""
    if numel(params) != flat.numel():
        raise ValueError(f"flat has {flat.numel()} elements, parameters have {numel(params)}")
    offset = 0
    for p in params:
        k = p.numel()
        p.copy_(flat[offset:offset + k].view_as(p))
        offset += k


@contextmanager
def restored(model: torch.nn.Module) -> Iterator[None]:
    """Save all parameters and buffers and put them back on exit, exceptions included.

    Buffers are saved too (cheap) so that a measurement that ran in a mode updating BN running
    statistics cannot leak either. The restored values are bit-identical copies.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    with torch.no_grad():
        saved = [t.detach().clone() for t in tensors]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, s in zip(tensors, saved):
                t.copy_(s)
