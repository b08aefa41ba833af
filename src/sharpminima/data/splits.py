"""Prepared datasets held on the compute device for the whole run.

The canonical prepared file (`data/prepared/{dataset}.npz`, written by `sharpminima prepare`) holds
x_train, y_train, x_test, y_test and a JSON `meta` string. Images are uint8 [N, C, H, W] and are
scaled by 1/255 on the fly, per batch (the paper's only preprocessing); feature datasets (TIMIT) are
float32 [N, D] and used as they are. Keeping uint8 on the device quarters the memory and the
host-to-device traffic; batches are index slices, so no DataLoader workers are needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class Split:
    """One split of a dataset, resident on a device."""

    x: torch.Tensor  # uint8 [N, C, H, W] images or float32 [N, D] features
    y: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return self.y.shape[0]

    def batch(self, index) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs as float32 (images scaled to [0, 1]) and labels for an index slice or tensor."""
        xb = self.x[index]
        xb = xb.float().div_(255.0) if xb.dtype == torch.uint8 else xb.float()
        return xb, self.y[index]

    def chunks(self, size: int):
        """Fixed-order chunks covering the split: the deterministic evaluation order."""
        for start in range(0, len(self), size):
            yield self.batch(slice(start, start + size))

    def head(self, n: int | None) -> "Split":
        """The first n examples (the whole split when n is None or larger)."""
        if n is None or n >= len(self):
            return self
        return Split(self.x[:n], self.y[:n])


@dataclass
class Dataset:
    name: str
    train: Split
    test: Split
    num_classes: int
    input_shape: tuple[int, ...]  # per example, e.g. (1, 28, 28) or (360,)
    meta: dict


def load(path: str | Path, device: str | torch.device = "cpu",
         train_size: int | None = None, test_size: int | None = None) -> Dataset:
    """Load a prepared .npz straight onto `device`; optionally keep only the first examples."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        arrays = {k: torch.from_numpy(np.ascontiguousarray(z[k])) for k in
                  ("x_train", "y_train", "x_test", "y_test")}
    train = Split(arrays["x_train"], arrays["y_train"].long()).head(train_size)
    test = Split(arrays["x_test"], arrays["y_test"].long()).head(test_size)
    train = Split(train.x.to(device), train.y.to(device))
    test = Split(test.x.to(device), test.y.to(device))
    return Dataset(meta["name"], train, test, int(meta["num_classes"]),
                   tuple(train.x.shape[1:]), meta)
