"""The paper's six networks (Table 1), keyed F1, F2, C1, C2, C3, C4, and one beyond the paper: R18,
the CIFAR variant of ResNet-18 (He et al. 2016). A network of the user's own (nets.<name>.builder)
is built through `build` too (`sharpminima.nets.builders`).

Architectures follow the paper facts file (the authors' Keras 1 code where the paper's appendix is
silent). Input shape and class count come from the dataset, so every net also runs on stand-in data
(e.g. C1 on 28x28x1 Fashion-MNIST). Initialization is Glorot uniform with zero biases (Keras 1
defaults). Batch norm uses batch statistics at train AND test time by default (Keras 1 mode=2,
`track_running_stats=False`); bn="running" selects running averages instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sharpminima.nets import builders

BN_MODES = ("batch", "running")


class SamePool2d(nn.Module):
    """Max pooling with Keras/TensorFlow "same" padding: output = ceil(input / stride).

    TF pads the extra row/column at the END (bottom/right), which PyTorch's symmetric `padding`
    cannot express; pad with -inf so padding never wins the max.
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
            total = max((math.ceil(n / self.stride) - 1) * self.stride + self.kernel - n, 0)
            pads += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pads, value=-math.inf), self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}, padding=same"


def _bn(kind: str, features: int, bn: str) -> nn.Module:
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    cls = nn.BatchNorm1d if kind == "1d" else nn.BatchNorm2d
    return cls(features, track_running_stats=(bn == "running"))


def _dense_block(n_in: int, n_out: int, bn: str, dropout: float = 0.0) -> list[nn.Module]:
    layers = [nn.Linear(n_in, n_out), _bn("1d", n_out, bn), nn.ReLU()]
    return layers + ([nn.Dropout(dropout)] if dropout else [])


def _conv_block(c_in: int, c_out: int, k: int, bn: str) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, k, padding="same"), _bn("2d", c_out, bn), nn.ReLU()]


def fully_connected(input_shape, num_classes: int, depth: int, width: int = 512,
                    bn: str = "batch") -> nn.Sequential:
    """F1 (depth 5) and F2 (depth 7): depth x [Linear width, BN, ReLU] -> Linear classes."""
    n_in = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(depth):
        layers += _dense_block(n_in, width, bn)
        n_in = width
    return nn.Sequential(*layers, nn.Linear(n_in, num_classes))


def shallow_conv(input_shape, num_classes: int, bn: str = "batch") -> nn.Sequential:
    """C1/C3: 2 x [Conv 64 5x5, BN, ReLU, MaxPool 3x3/2 same] -> 384 -> 192 -> classes."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for c_in in (c, 64):
        layers += _conv_block(c_in, 64, 5, bn) + [SamePool2d(3, 2)]
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    layers += [nn.Flatten()]
    layers += _dense_block(64 * h * w, 384, bn, dropout=0.5)
    layers += _dense_block(384, 192, bn, dropout=0.5)
    return nn.Sequential(*layers, nn.Linear(192, num_classes))


# VGG-16-like blocks of C2/C4: (channels, dropout after this conv or None), MaxPool 2x2 after each.
_VGG_BLOCKS = [
    [(64, 0.3), (64, None)],
    [(128, 0.4), (128, None)],
    [(256, 0.4), (256, 0.4), (256, None)],
    [(512, 0.4), (512, 0.4), (512, None)],
    [(512, 0.4), (512, 0.4), (512, None)],
]


def vgg_conv(input_shape, num_classes: int, bn: str = "batch") -> nn.Sequential:
    """C2/C4: VGG-16-like conv stack with BN and dropout -> 512 -> classes."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for block in _VGG_BLOCKS:
        for channels, dropout in block:
            layers += _conv_block(c, channels, 3, bn)
            layers += [nn.Dropout(dropout)] if dropout else []
            c = channels
        layers += [SamePool2d(2, 2)]
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    layers += [nn.Flatten(), nn.Dropout(0.5)]
    layers += _dense_block(c * h * w, 512, bn, dropout=0.5)
    return nn.Sequential(*layers, nn.Linear(512, num_classes))


class BasicBlock(nn.Module):
    """ResNet's basic block: 2 x [Conv 3x3 (no bias), BN], identity shortcut, or a 1x1 Conv + BN
    shortcut where the stride or the width changes; ReLU after the sum."""

    def __init__(self, c_in: int, c_out: int, stride: int, bn: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn("2d", c_out, bn)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = _bn("2d", c_out, bn)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          _bn("2d", c_out, bn))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet18(input_shape, num_classes: int, bn: str = "batch") -> nn.Sequential:
    """R18: ResNet-18, CIFAR variant (He et al. 2016; as in Kuang Liu's pytorch-cifar): Conv 64
    3x3 stem (no max pool), 4 stages [64, 128, 256, 512] x 2 basic blocks (stride 2 from the
    second stage), global average pool, FC. 11,173,962 trainable parameters on CIFAR-10."""
    c = input_shape[0]
    layers: list[nn.Module] = [nn.Conv2d(c, 64, 3, padding=1, bias=False), _bn("2d", 64, bn),
                               nn.ReLU()]
    c_in = 64
    for i, width in enumerate((64, 128, 256, 512)):
        for j in range(2):
            layers.append(BasicBlock(c_in, width, 2 if i and not j else 1, bn))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(512, num_classes))


@dataclass(frozen=True)
class NetSpec:
    name: str
    dataset: str  # the paper's dataset
    summary: str
    build: Callable[..., nn.Sequential]


NETS: dict[str, NetSpec] = {
    "F1": NetSpec("F1", "mnist", "5 x [FC 512, BN, ReLU] -> FC",
                  lambda s, k, bn: fully_connected(s, k, depth=5, bn=bn)),
    "F2": NetSpec("F2", "timit", "7 x [FC 512, BN, ReLU] -> FC",
                  lambda s, k, bn: fully_connected(s, k, depth=7, bn=bn)),
    "C1": NetSpec("C1", "cifar10", "2 x [Conv 64 5x5, BN, ReLU, MaxPool] -> FC 384 -> FC 192 -> FC",
                  shallow_conv),
    "C2": NetSpec("C2", "cifar10",
                  "VGG-16-like: 13 x [Conv 3x3, BN, ReLU] in 5 pooled blocks -> FC 512 -> FC",
                  vgg_conv),
    "C3": NetSpec("C3", "cifar100", "as C1, 100 classes", shallow_conv),
    "C4": NetSpec("C4", "cifar100", "as C2, 100 classes", vgg_conv),
    # beyond the paper: does its story hold for a residual network?
    "R18": NetSpec("R18", "cifar10", "ResNet-18 (CIFAR variant): Conv 64 3x3 -> 4 x 2 basic "
                   "blocks [64, 128, 256, 512] -> avg pool -> FC", resnet18),
}


def glorot_init(model: nn.Module) -> None:
    """Keras 1 defaults: Glorot-uniform weights, zero biases, BN gamma 1 / beta 0."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def build(name: str, input_shape, num_classes: int, bn: str = "batch",
          seed: int | None = None, builder: dict | None = None) -> nn.Module:
    """Build net `name` for the given data shape; with a seed, the initial point depends only on
    it. `builder` (a `builders.describe` dict, recorded in the run's spec and checkpoint) builds
    the user's own network instead of the registry's; Glorot unless its init is "builder"."""
    if builder is None and name not in NETS:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(NETS)} (or declare "
                       f"nets.{name}.builder)")
    if bn not in BN_MODES:
        raise ValueError(f"bn must be one of {BN_MODES}, got {bn!r}")
    if seed is not None:
        torch.manual_seed(seed)
    if builder is not None:
        model = builders.build(builder, input_shape, num_classes, bn)
        if builder.get("init", "glorot") == "glorot":
            glorot_init(model)
        return model
    model = NETS[name].build(tuple(input_shape), num_classes, bn)
    glorot_init(model)
    return model


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
