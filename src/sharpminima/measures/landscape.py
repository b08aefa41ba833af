"""Loss landscapes around the SB and LB minimizers: compute only, results as tidy DataFrames.

Two kinds of measurement, both evaluated with ``evaluate.evaluate`` (the one definition of "the loss
at x": mean cross-entropy over the whole split, eval mode, fixed chunk order and size):

1-D parametric paths between x_SB and x_LB of one seed (paper Fig. 3 and appendix Fig. 7):
    linear       f(alpha x_LB + (1 - alpha) x_SB)
    curvilinear  f(sin(alpha pi/2) x_LB + cos(alpha pi/2) x_SB)
Every floating-point entry of the state dict is interpolated: weights, biases, BN affine, and BN
running buffers when the net has them (bn="running"). With the default batch-statistics BN (Keras
mode=2, the authors' code) there are no running buffers, so "every parameter" and "every trainable
parameter" (what the authors' code interpolated) coincide. Integer buffers (BN's batch counter) are
left at x_SB's value; they do not enter the forward pass.

2-D slices (beyond the paper; Li et al. 2018): f(x + a d1 + b d2) on a square grid, with d1, d2 two
seeded Gaussian directions, filter-normalized: every filter (first-axis slice: a conv output
channel, a linear layer's output-neuron row) of every weight tensor of d is rescaled to the
Euclidean norm of the same filter of x. Biases and BN parameters (every tensor with fewer than two
axes) get a zero direction (Li et al.'s "ignore biasbn"), and BN running buffers are never moved.
The directions are drawn on the CPU from one generator (reproducible on any device) and saved as an
artifact.

Performance and hygiene: ONE model is kept; each point's tensors are written into its parameters in
place under ``torch.no_grad`` (no model copies, no per-sample Python), each point costs one chunked
forward pass per split on the device, and the model's tensors are restored bit for bit afterwards,
also when an evaluation raises. The endpoints are exact: a term whose coefficient is 0 is skipped
and a coefficient of exactly 1 is a plain copy, so alpha = 0 and alpha = 1 evaluate x_SB and x_LB
bit for bit (also on the curvilinear path, whose coefficients are computed so that sin and cos are
exact at integer alpha).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sharpminima.data.splits import Dataset, Split
from sharpminima.nets.checkpoint import load_checkpoint, load_model
from sharpminima.nets.evaluate import evaluate

PATHS = ("linear", "curvilinear")

#: What the 2-D slice directions do, recorded with the directions and in the slice CSV.
NORMALIZATION = "filter"
BIAS_BN = "zero"

State = Mapping[str, torch.Tensor]


# ------------------------------------------------------------------------------- path coefficients

def sin_half_pi(alpha: float) -> float:
    """sin(alpha pi / 2), exact (0, 1, 0, -1) at integer alpha, where math.sin is not (sin(pi))."""
    if float(alpha).is_integer():
        return (0.0, 1.0, 0.0, -1.0)[int(alpha) % 4]
    return math.sin(alpha * math.pi / 2)


def cos_half_pi(alpha: float) -> float:
    """cos(alpha pi / 2) = sin((1 - alpha) pi / 2), exact at integer alpha."""
    return sin_half_pi(1.0 - alpha)


def coefficients(path: str, alpha: float) -> tuple[float, float]:
    """(c_LB, c_SB) of the point c_LB x_LB + c_SB x_SB at `alpha` on `path`."""
    if path == "linear":
        return float(alpha), 1.0 - float(alpha)
    if path == "curvilinear":
        return sin_half_pi(alpha), cos_half_pi(alpha)
    raise ValueError(f"unknown path {path!r}; known: {', '.join(PATHS)}")


def alpha_grid(alpha_min: float = -1.0, alpha_max: float = 2.0, points: int = 25) -> np.ndarray:
    """np.linspace(alpha_min, alpha_max, points) (the authors' grid), plus alpha = 0 and 1 exactly
    when they fall inside the range but not on the grid, so both minimizers are always evaluated."""
    if points < 2 or not alpha_max > alpha_min:
        raise ValueError("need alpha_max > alpha_min and at least 2 points")
    grid = np.linspace(alpha_min, alpha_max, points)
    extra = [a for a in (0.0, 1.0) if alpha_min <= a <= alpha_max and not np.any(grid == a)]
    return np.sort(np.concatenate([grid, extra]))


def slice_coords(grid: int, span: float) -> np.ndarray:
    """`grid` coordinates evenly spaced on [-span, span]; with an odd grid the centre is exactly
    0."""
    if grid < 2 or not span > 0:
        raise ValueError("need grid >= 2 and span > 0")
    half = (grid - 1) / 2
    return span * (np.arange(grid) - half) / half


# ----------------------------------------------------------------------------- in-place writing

def float_entries(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's own floating-point state tensors (parameters and float buffers), by name.

    These are the live tensors (``keep_vars=True``): writing into them moves the model.
    """
    return {k: v for k, v in model.state_dict(keep_vars=True).items()
            if torch.is_floating_point(v)}


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the model's floating-point state (the point x)."""
    return {k: v.detach().clone() for k, v in float_entries(model).items()}


@torch.no_grad()
def write_combination(targets: Mapping[str, torch.Tensor],
                      terms: Sequence[tuple[float, State]]) -> None:
    """targets[k] <- sum_i c_i * state_i[k], in place, for every target name.

    A name missing from a state counts as zero there (a direction that leaves that tensor alone).
    Zero coefficients are skipped and the first remaining term is copied (then scaled only if its
    coefficient is not exactly 1), so a point equal to one of the states is reproduced bit for bit.
    """
    for name, t in targets.items():
        live = [(c, s[name]) for c, s in terms if c != 0.0 and name in s]
        if not live:
            t.zero_()
            continue
        (c, first), others = live[0], live[1:]
        t.copy_(first)
        if c != 1.0:
            t.mul_(c)
        for c, other in others:
            t.add_(other, alpha=c)


@contextlib.contextmanager
def moved(model: torch.nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Yield the model's live float tensors for in-place writes; restore them bit for bit on
    exit."""
    targets = float_entries(model)
    saved = snapshot(model)
    try:
        yield targets
    finally:
        write_combination(targets, [(1.0, saved)])


# ------------------------------------------------------------------------------- checkpoints

def check_compatible(meta_a: dict, meta_b: dict) -> None:
    """Two checkpoints can be interpolated only if they are the same net on the same data shape."""
    norm = lambda v: list(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    diff = {k: (meta_a[k], meta_b.get(k)) for k in meta_a if norm(meta_a[k]) != norm(meta_b.get(k))}
    if diff:
        raise ValueError(f"checkpoints differ in {diff}: cannot interpolate between them")


# ------------------------------------------------------------------------------- 1-D paths

#: Columns of the tidy CSVs (also of the header-only CSV a "not measured" job writes).
COLUMNS = ("net", "dataset", "seed", "bn", "eval_chunk", "path", "alpha", "c_lb", "c_sb", "split",
           "loss", "accuracy", "n")
SLICE_COLUMNS = ("net", "dataset", "regime", "seed", "bn", "eval_chunk", "normalization",
                 "bias_bn", "direction_seed", "x", "y", "split", "loss", "accuracy", "n")


def parametric(model: torch.nn.Module, sb: State, lb: State, data: Dataset, alphas: Sequence[float],
               chunk: int, paths: Sequence[str] = PATHS) -> pd.DataFrame:
    """Loss and accuracy on train and test at every alpha of every path; the model is restored.

    Tidy rows: path, alpha, c_lb, c_sb, split, loss (mean cross-entropy, nats), accuracy (fraction).
    """
    rows = []
    with moved(model) as targets:
        missing = set(targets) - set(sb) | set(targets) - set(lb)
        if missing:
            raise KeyError(f"state dicts lack {sorted(missing)}")
        for path in paths:
            for alpha in alphas:
                c_lb, c_sb = coefficients(path, float(alpha))
                write_combination(targets, [(c_sb, sb), (c_lb, lb)])
                for split_name, split in (("train", data.train), ("test", data.test)):
                    loss, acc = evaluate(model, split, chunk)
                    rows.append({"path": path, "alpha": float(alpha), "c_lb": c_lb, "c_sb": c_sb,
                                 "split": split_name, "loss": loss, "accuracy": acc,
                                 "n": len(split)})
    return pd.DataFrame(rows)


def _label(df: pd.DataFrame, **columns) -> pd.DataFrame:
    """Constant description columns (net, dataset, seed, ...) in front of the measurements."""
    for i, (k, v) in enumerate(columns.items()):
        df.insert(i, k, v)
    return df


def parametric_from_files(sb_path: str | Path, lb_path: str | Path, data: Dataset,
                          alphas: Sequence[float], chunk: int, device="cpu",
                          seed: int | None = None,
                          paths: Sequence[str] = PATHS) -> tuple[pd.DataFrame, dict]:
    """Load x_SB into the one model and x_LB as tensors, run ``parametric``, label the rows
    (net, dataset, seed, bn, eval_chunk) and describe what was interpolated."""
    meta_sb, _ = load_checkpoint(sb_path, "cpu")
    meta_lb, lb = load_checkpoint(lb_path, device)
    check_compatible(meta_sb, meta_lb)
    model = load_model(sb_path, device)
    sb = snapshot(model)
    df = parametric(model, sb, lb, data, alphas, chunk, paths)
    df = _label(df, net=meta_sb["net"], dataset=data.name, seed=seed, bn=meta_sb["bn"],
                eval_chunk=chunk)
    info = {**meta_sb, "dataset": data.name, "seed": seed, "eval_chunk": chunk,
            "alphas": [float(a) for a in alphas], "paths": list(paths),
            "n_train": len(data.train), "n_test": len(data.test),
            "interpolated": sorted(sb),
            "not_interpolated": sorted(k for k in model.state_dict() if k not in sb)}
    return df, info


# ------------------------------------------------------------------------------- 2-D slices

def filter_normalize(direction: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Rescale each filter (first-axis slice) of `direction` to the norm of the same filter of
    `weight`; tensors with fewer than two axes (biases, BN parameters) get a zero direction."""
    if weight.dim() < 2:
        return torch.zeros_like(direction)
    d = direction.double()
    d_norm = d.flatten(1).norm(dim=1)
    w_norm = weight.detach().to(d.device, torch.float64).flatten(1).norm(dim=1)
    scale = w_norm / d_norm.clamp_min(torch.finfo(torch.float64).tiny)
    return (d * scale.view(-1, *[1] * (d.dim() - 1))).to(direction.dtype)


def random_directions(model: torch.nn.Module, seed: int, count: int = 2) -> dict:
    """`count` filter-normalized Gaussian directions around the model's parameters.

    One CPU generator seeded with `seed` draws, direction after direction, one N(0, 1) value per
    element of every parameter in ``named_parameters`` order (also for the tensors then zeroed), so
    the raw draw depends only on (seed, architecture): SB and LB get the same raw directions,
    each rescaled to its own filters. Returns a weights_only-loadable dict: {"x": {name: tensor},
    "y": {...}, "seed", "normalization", "bias_bn"} with CPU float32 tensors.
    """
    g = torch.Generator().manual_seed(seed)
    named = [(k, p.detach().cpu()) for k, p in model.named_parameters()]
    out: dict = {"seed": int(seed), "normalization": NORMALIZATION, "bias_bn": BIAS_BN}
    for axis in ("x", "y", "z")[:count]:
        out[axis] = {k: filter_normalize(torch.randn(p.shape, generator=g, dtype=torch.float32), p)
                     for k, p in named}
    return out


def save_directions(directions: dict, path: str | Path) -> None:
    from sharpminima.core.atomic import atomic_path
    with atomic_path(path) as tmp:
        torch.save(directions, tmp)


def load_directions(path: str | Path, device="cpu") -> dict:
    d = torch.load(path, map_location=device, weights_only=True)
    if d.get("normalization") != NORMALIZATION or "x" not in d or "y" not in d:
        raise ValueError(f"{path}: not a directions file of this version")
    return d


def slice2d(model: torch.nn.Module, directions: dict, split: Split, chunk: int,
            coords: Sequence[float], split_name: str = "train") -> pd.DataFrame:
    """f(x + a d_x + b d_y) for every (a, b) in coords x coords; the model is restored.

    Tidy rows: x, y, split, loss (nats), accuracy (fraction), n.
    """
    rows = []
    with moved(model) as targets:
        device = next(iter(targets.values())).device
        center = {k: v.detach().clone() for k, v in targets.items()}
        dx = {k: v.to(device) for k, v in directions["x"].items()}
        dy = {k: v.to(device) for k, v in directions["y"].items()}
        unknown = (set(dx) | set(dy)) - set(targets)
        if unknown:
            raise KeyError(f"directions for tensors the model lacks: {sorted(unknown)}")
        for a in coords:
            for b in coords:
                write_combination(targets, [(1.0, center), (float(a), dx), (float(b), dy)])
                loss, acc = evaluate(model, split, chunk)
                rows.append({"x": float(a), "y": float(b), "split": split_name, "loss": loss,
                             "accuracy": acc, "n": len(split)})
    return pd.DataFrame(rows)


def directions_for_file(model_path: str | Path, seed: int) -> dict:
    """The filter-normalized directions around a saved model (computed on the CPU)."""
    return random_directions(load_model(model_path, "cpu"), seed)


def slice2d_from_file(model_path: str | Path, directions: dict, data: Dataset,
                      coords: Sequence[float], chunk: int, device="cpu", regime: str | None = None,
                      seed: int | None = None) -> pd.DataFrame:
    """Load one minimizer and evaluate its 2-D slice on the training split, rows labelled with
    net, dataset, regime, seed, bn, eval_chunk and how the directions were made."""
    meta, _ = load_checkpoint(model_path, "cpu")
    model = load_model(model_path, device)
    df = slice2d(model, directions, data.train, chunk, coords, "train")
    return _label(df, net=meta["net"], dataset=data.name, regime=regime, seed=seed, bn=meta["bn"],
                  eval_chunk=chunk, normalization=directions["normalization"],
                  bias_bn=directions["bias_bn"], direction_seed=directions["seed"])
