"""Deterministic full-split passes: loss, accuracy and the training-loss gradient.

Every measurement in the pipeline (history, sharpness, Hessian, landscapes) goes through these
functions so that "the loss at x" means the same thing everywhere: the mean cross-entropy over the
whole split, evaluated in eval mode (dropout off) in chunks of a declared size and fixed order.
With batch-statistics BN (the paper's Keras mode=2) the chunk size is part of the definition of f.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sharpminima.data.splits import Split


@torch.no_grad()
def evaluate(model: torch.nn.Module, split: Split, chunk: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the split (eval mode; training mode is restored)."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=split.y.device)
    correct = torch.zeros((), dtype=torch.int64, device=split.y.device)
    for xb, yb in split.chunks(chunk):
        logits = model(xb)
        loss_sum += F.cross_entropy(logits, yb, reduction="sum").double()
        correct += (logits.argmax(1) == yb).sum()
    model.train(was_training)
    n = len(split)
    return loss_sum.item() / n, correct.item() / n


def loss_and_grad(model: torch.nn.Module, split: Split, chunk: int,
                  params: list[torch.Tensor] | None = None) -> tuple[float, list[torch.Tensor]]:
    """Mean cross-entropy over the split and its gradient w.r.t. `params` in ONE chunked pass.

    Gradients are accumulated chunk by chunk (each chunk's summed loss divided by N), so memory is
    bounded by the chunk, not the split. Eval mode: dropout off, BN as configured.
    """
    params = [p for p in model.parameters() if p.requires_grad] if params is None else params
    was_training = model.training
    model.eval()
    n = len(split)
    grads = [torch.zeros_like(p) for p in params]
    loss_sum = torch.zeros((), dtype=torch.float64, device=split.y.device)
    for xb, yb in split.chunks(chunk):
        loss = F.cross_entropy(model(xb), yb, reduction="sum")
        chunk_grads = torch.autograd.grad(loss / n, params)
        for g, cg in zip(grads, chunk_grads):
            g += cg
        loss_sum += loss.detach().double()
    model.train(was_training)
    return loss_sum.item() / n, grads
