"""Trained models on disk: self-describing checkpoints (weights, net name, BN mode, shapes, and for
a network of the user's own the description of its builder: reference, init, source hash).

Saved by training, loaded by every measurement; loaded with `weights_only=True`, so a checkpoint
is data and never runs code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sharpminima.core.atomic import atomic_path
from sharpminima.nets import models


def save_model(model, net: str, bn: str, input_shape, num_classes: int, path: Path,
               builder: dict | None = None) -> None:
    """A self-describing checkpoint: loadable with torch.load(weights_only=True). `builder`: the
    user's network's builder (nets.builders.describe: plain strings), absent for the registry's."""
    ckpt = {"state_dict": model.state_dict(), "net": net, "bn": bn,
            "input_shape": list(input_shape), "num_classes": num_classes}
    if builder is not None:
        ckpt["builder"] = dict(builder)
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def load_model(path, device="cpu") -> torch.nn.Module:
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = models.build(ckpt["net"], ckpt["input_shape"], ckpt["num_classes"], bn=ckpt["bn"],
                         builder=ckpt.get("builder"))
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device)


def load_state(path, device="cpu") -> dict:
    """The state_dict of a saved model or iterate (save_model's format, or a bare state_dict)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    return ckpt["state_dict"] if "state_dict" in ckpt else ckpt


def load_checkpoint(path, device="cpu") -> tuple[dict, dict]:
    """A model.pt written by `save_model`: (its description, its state dict on `device`); the
    description's "builder" is None for a network of the registry."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    meta = {k: ckpt[k] for k in ("net", "bn", "input_shape", "num_classes")}
    meta["builder"] = ckpt.get("builder")
    return meta, ckpt["state_dict"]
