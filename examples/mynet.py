"""A network of your own for sharpminima: the builder that examples/config.yaml names.

The pipeline calls `build(input_shape, num_classes, bn)` and trains, measures and reports the
module it returns exactly as the paper's networks. The contract (config/README.md, "Your own
network"):

  * input_shape: one example's shape, e.g. (1, 28, 28) for Fashion-MNIST (images arrive as float
    in [0, 1], [N, C, H, W]); num_classes: the dataset's class count;
  * bn: "batch" (batch statistics at train AND test time, the paper's default) or "running"
    (running averages): pass track_running_stats=(bn == "running") to every BatchNorm;
  * return a torch.nn.Module whose forward gives logits [N, num_classes] (no softmax).

Weights are then Glorot-initialized as the paper's nets (nets.<name>.init: builder keeps yours).
Editing this file reruns the trainings of the nets that use it, and what depends on them, only.
"""

from torch import nn


def build(input_shape, num_classes, bn):
    c, h, w = input_shape
    running = bn == "running"
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1), nn.BatchNorm2d(16, track_running_stats=running), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32, track_running_stats=running),
        nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (h // 4) * (w // 4), 64), nn.BatchNorm1d(64, track_running_stats=running),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )
