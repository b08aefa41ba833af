"""Data augmentation on whole batches, on the device (paper App. E remedy 1).

Each example gets its own random affine map (rotation, shear, translation, optional horizontal
flip), drawn on the CPU from the step's seeded generator (so a run is deterministic and resumable
on any device) and applied to the batch in one `affine_grid` + `grid_sample` call on the device.
Labels are untouched. Flips are an option because they are wrong for digit-like data (a mirrored
2 is not a 2); the config declares them per net (`nets.<net>.remedy.augment.hflip`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sharpminima.training.remedies._config import number, require

PADDING = ("zeros", "border", "reflection")


@dataclass
class AugmentConfig:
    translate: float = 0.2  # max shift per axis, as a fraction of the image side
    rotate_deg: float = 10.0  # max rotation, degrees (uniform in [-r, r])
    shear_deg: float = 10.0  # max shear angle, degrees (uniform in [-s, s])
    hflip: bool = True  # mirror left-right with probability 1/2
    padding: str = "border"  # what shows outside the image: border = repeat edge (Keras "nearest")

    def check(self) -> None:
        require(number(self.translate) and 0 <= self.translate < 1, "augment",
                "translate must be a fraction in [0, 1)", self.translate)
        require(number(self.rotate_deg) and 0 <= self.rotate_deg <= 180, "augment",
                "rotate_deg must be in [0, 180]", self.rotate_deg)
        require(number(self.shear_deg) and 0 <= self.shear_deg < 90, "augment",
                "shear_deg must be in [0, 90)", self.shear_deg)
        require(isinstance(self.hflip, bool), "augment", "hflip must be true or false", self.hflip)
        require(self.padding in PADDING, "augment", f"padding must be one of {PADDING}",
                self.padding)


def draw_params(n: int, cfg: AugmentConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-example transform parameters (CPU float64), always drawn in the same order."""
    u = torch.rand(n, 6, generator=gen, dtype=torch.float64) * 2 - 1  # uniform in [-1, 1)
    flip = torch.rand(n, generator=gen, dtype=torch.float64) < 0.5
    return {"angle": u[:, 0] * math.radians(cfg.rotate_deg),
            "shear": u[:, 1] * math.radians(cfg.shear_deg),
            "tx": u[:, 2] * cfg.translate, "ty": u[:, 3] * cfg.translate,
            "flip": flip & cfg.hflip}


def affine_matrices(params: dict[str, torch.Tensor]) -> torch.Tensor:
    """[n, 2, 3] maps from output to input coordinates, in affine_grid's normalized [-1, 1] units
    (a shift of a fraction t of the side is 2 t there). Order: flip, shear, rotate, translate."""
    a, s = params["angle"], params["shear"]
    cos, sin = torch.cos(a), torch.sin(a)
    fx = 1.0 - 2.0 * params["flip"].double()  # -1 mirrors the x axis
    shear = torch.tan(s)
    # rotation @ shear @ flip, with shear = [[1, tan s], [0, 1]] and flip = diag(fx, 1)
    m = torch.stack([
        torch.stack([cos * fx, cos * shear - sin, 2 * params["tx"]], -1),
        torch.stack([sin * fx, sin * shear + cos, 2 * params["ty"]], -1),
    ], -2)
    return m


def apply(x: torch.Tensor, theta: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Warp a batch of images [n, C, H, W] by per-example affine maps theta [n, 2, 3]."""
    if x.dim() != 4:
        raise ValueError(f"augment needs image batches [N, C, H, W], got shape {tuple(x.shape)} "
                         "(feature data such as TIMIT cannot be augmented: leave this remedy "
                         "out of that net's regimes)")
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """One call: draw the parameters for the batch from `gen` and warp it."""
    return apply(x, affine_matrices(draw_params(len(x), cfg, gen)), cfg.padding)
