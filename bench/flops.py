"""Analytic FLOP counts of the paper's networks, per sample: forward, backward, and their sum.

Counted (multiply-add = 2 FLOPs, the convention of torch.utils.flop_counter and of vendor peaks):
  Linear  forward  2 * in * out
  Conv2d  forward  2 * k * k * c_in * c_out * H_out * W_out     (stride 1, "same": H_out = H_in)
  backward: the weight gradient costs the forward's FLOPs again, and so does the input gradient,
  except for the FIRST layer with parameters, whose input (the data) needs no gradient. So
      train (forward + backward) = 3 * forward - forward(first layer)
  which is exactly what torch's FlopCounterMode counts (tests/test_bench.py checks it). The usual
  "3 x forward" rule overstates F1 by 10% (its first layer, 784 x 512, is 28% of its forward),
  C1/C3 by 5% (first conv 15%), F2 by 2% and C2/C4 by 0.1%; both numbers are reported.
Not counted, and negligible (stated, not assumed silently): bias additions, batch norm (about 10
FLOPs per activation with batch statistics), ReLU, max pooling, dropout, softmax/cross-entropy and
the Adam update (about 15 FLOPs per parameter per STEP, i.e. per batch, not per sample). For F1 at
batch 256 these together are below 2% of the matmul FLOPs; for the conv nets below 1%.

The shapes come from one forward pass with hooks on a 2-sample batch, so every net (and any input
shape it is built for) is counted from the module itself, not from a hand-written table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class LayerFlops:
    name: str
    kind: str
    forward: int  # per sample
    shape: str


@dataclass
class NetFlops:
    net: str
    input_shape: tuple
    num_classes: int
    params: int
    forward: int            # per sample
    backward: int           # per sample (weight grads + input grads except the first layer's)
    train: int              # forward + backward, per sample: one training sample, or one sample
    #                         of a loss+gradient pass (sharpness)
    train_rule_of_3: int    # 3 * forward, the common approximation
    layers: list

    def as_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def layer_flops(model: nn.Module, input_shape) -> list[LayerFlops]:
    """Per-sample forward FLOPs of every Linear/Conv2d, in execution order."""
    records: list[LayerFlops] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module, inputs, output):
        x = inputs[0]
        if isinstance(module, nn.Linear):
            flops = 2 * module.in_features * module.out_features
            shape = f"{module.in_features} -> {module.out_features}"
        else:
            kh, kw = module.kernel_size
            groups = module.groups
            h_out, w_out = output.shape[-2:]
            flops = (2 * kh * kw * (module.in_channels // groups) * module.out_channels
                     * h_out * w_out)
            shape = (f"{module.in_channels}x{x.shape[-2]}x{x.shape[-1]} -> "
                     f"{module.out_channels}x{h_out}x{w_out}, {kh}x{kw}")
        records.append(LayerFlops(names[module], type(module).__name__, int(flops), shape))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(2, *input_shape, dtype=p.dtype, device=p.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return records


def count(net: str, input_shape, num_classes: int, model: nn.Module | None = None) -> NetFlops:
    """FLOPs per sample of `net` built for (input_shape, num_classes)."""
    from sharpminima.nets.models import build, count_trainable

    model = model if model is not None else build(net, input_shape, num_classes)
    layers = layer_flops(model, tuple(input_shape))
    forward = sum(layer.forward for layer in layers)
    backward = 2 * forward - layers[0].forward
    return NetFlops(net=net, input_shape=tuple(input_shape), num_classes=num_classes,
                    params=count_trainable(model), forward=forward, backward=backward,
                    train=forward + backward, train_rule_of_3=3 * forward,
                    layers=[asdict(layer) for layer in layers])


#: The paper's data shapes (Table 1): input shape, classes, training and test set sizes.
#: TIMIT sizes: ASSUMPTION, the frame counts we recall from the paper's Table 1 (721,329 training
#: and 310,621 test frames), not verified from the paper text here (see paper/keskar2017.md).
PAPER_DATA = {
    "F1": {"dataset": "mnist", "input_shape": (1, 28, 28), "num_classes": 10,
           "n_train": 60000, "n_test": 10000},
    "F2": {"dataset": "timit", "input_shape": (360,), "num_classes": 1973,
           "n_train": 721329, "n_test": 310621},
    "C1": {"dataset": "cifar10", "input_shape": (3, 32, 32), "num_classes": 10,
           "n_train": 50000, "n_test": 10000},
    "C2": {"dataset": "cifar10", "input_shape": (3, 32, 32), "num_classes": 10,
           "n_train": 50000, "n_test": 10000},
    "C3": {"dataset": "cifar100", "input_shape": (3, 32, 32), "num_classes": 100,
           "n_train": 50000, "n_test": 10000},
    "C4": {"dataset": "cifar100", "input_shape": (3, 32, 32), "num_classes": 100,
           "n_train": 50000, "n_test": 10000},
    # beyond the paper: ResNet-18 (CIFAR variant) on the paper's CIFAR-10 (nets.R18, off by default)
    "R18": {"dataset": "cifar10", "input_shape": (3, 32, 32), "num_classes": 10,
            "n_train": 50000, "n_test": 10000},
}


def paper_counts() -> dict[str, NetFlops]:
    return {net: count(net, d["input_shape"], d["num_classes"]) for net, d in PAPER_DATA.items()}


def human(flops: float) -> str:
    """1.23 GFLOP style."""
    if flops <= 0:
        return "0"
    units = ["", "k", "M", "G", "T", "P"]
    i = min(int(math.log10(flops) // 3), len(units) - 1)
    return f"{flops / 10 ** (3 * i):.3g} {units[i]}"


if __name__ == "__main__":
    for net, c in paper_counts().items():
        print(f"{net}: {c.params:>10,} params  forward {human(c.forward)}FLOP  train "
              f"{human(c.train)}FLOP per sample (3 x forward: {human(c.train_rule_of_3)}FLOP)")
