"""Measures of a trained point beyond Metric 2.1: adaptive sharpness and the plain baselines.

One record per model, on the same f as every other measurement (the mean training cross-entropy,
``evaluate``: eval mode, fixed chunk order, BN as configured) and over the same x (the trainable
parameters, ``params.trainable``):

- ``adaptive_linf`` / ``adaptive_l2``: the worst-case increase f(w + delta) - f(w) over
  |delta_i| <= rho_linf s_i and |delta / s|_2 <= rho_l2, s_i = |w_i| + eta (``adaptive``: Kwon et
  al. 2021; the maximizers are projected sign ascent and projected normalized gradient ascent,
  ``steps`` passes each), on the whole split. With ``m`` set, also ``adaptive_linf_m`` /
  ``adaptive_l2_m``, m-sharpness (Andriushchenko et al. 2023): the mean over batches of m examples
  (a seeded permutation of the split, the first ``m_examples`` of it, whole batches only) of each
  batch's own worst case, each batch's f evaluated on that batch alone (with batch-statistics BN:
  normalized over the batch). m = None: no m-sharpness fields.
- ``avg_gaussian`` / ``avg_adaptive``: the mean increase under delta ~ N(0, sigma^2 I) and
  N(0, sigma_adaptive^2 diag(s^2)) over ``samples`` seeded draws (Jiang et al. 2020's
  average-case sharpness, plain and adaptive), loss-only passes on the whole split.
- baselines: f(w) (``f_x``, the training loss) and training accuracy, |w|_2 (``param_norm``) and
  |w - w_0|_2 (``dist_init``), w_0 the run's initial point (``initial_point``: the net rebuilt from
  (net, seed) exactly as training builds it, or the model a warm start began from).

Every draw is seeded (the batches' permutation and the Gaussian samples by ``seed``); the model is
restored bit for bit afterwards. The record is flat: values, options, passes, wall time.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from sharpminima.data.splits import Split
from sharpminima.measures import adaptive
from sharpminima.measures.sharpness import Clock, flat_objective
from sharpminima.nets import models
from sharpminima.nets.evaluate import evaluate
from sharpminima.nets.params import assign_flat, flatten, restored, trainable

__all__ = ["batches", "initial_point", "generalization_measures", "worst_case"]


def initial_point(net: str, input_shape, num_classes: int, bn: str, seed: int,
                  init_from_state: dict | None = None,
                  device: str | torch.device = "cpu", builder: dict | None = None) -> torch.Tensor:
    """The flat trainable parameters a run started from: ``models.build`` with the run's seed
    (and builder, for a network of the user's own: as ``training.train`` builds it), or, for a
    warm start, the state it loaded."""
    model = models.build(net, input_shape, num_classes, bn=bn, seed=seed, builder=builder)
    if init_from_state is not None:
        model.load_state_dict(init_from_state)
    return flatten(trainable(model.to(device)))


def batches(split: Split, m: int | None, examples: int | None, seed: int) -> list[Split]:
    """The batches of m-sharpness: whole batches of m examples of a permutation of the split
    seeded by ``seed`` (CPU generator: the same on every device), from its first ``examples``
    (None: all). m = None: the split itself, one batch."""
    if m is None:
        return [split]
    if m < 1:
        raise ValueError(f"m must be >= 1, not {m}")
    n = len(split) if examples is None else min(int(examples), len(split))
    if n < m:
        raise ValueError(f"m = {m} is more than the {n} examples available")
    order = torch.randperm(len(split), generator=torch.Generator().manual_seed(int(seed)))[:n]
    order = order.to(split.y.device)
    return [Split(split.x[order[i:i + m]], split.y[order[i:i + m]])
            for i in range(0, n - m + 1, m)]


def worst_case(model: torch.nn.Module, parts: list[Split], w: np.ndarray, scale: np.ndarray,
               geometry: str, rho: float, steps: int, step: float, chunk: int,
               clock: Clock, suffix: str = "") -> dict:
    """The mean over ``parts`` of each part's worst-case increase over the box ("linf") or the
    ellipsoid ("l2") around w, as fields ``adaptive_{geometry}{suffix}*``; the model's
    parameters are left at w."""
    maximize = {"linf": adaptive.linf_max, "l2": adaptive.l2_max}[geometry]
    params = trainable(model)
    increases, steps_taken = [], []
    for part in parts:
        objective = flat_objective(model, part, chunk, params, clock)
        out = maximize(objective, w, scale, rho, steps, step)
        increases.append(out.f_max - out.f_start)
        steps_taken.append(out.steps)
    assign_flat(params, torch.from_numpy(w))
    name = f"adaptive_{geometry}{suffix}"
    out = {name: float(np.mean(increases)), f"{name}_steps_taken": int(max(steps_taken))}
    if len(parts) > 1:
        out.update({f"{name}_batches": len(parts), f"{name}_min_batch": float(np.min(increases)),
                    f"{name}_max_batch": float(np.max(increases))})
    return out


def generalization_measures(model: torch.nn.Module, split: Split, rho_linf: float,
                            rho_l2: float, sigma: float, sigma_adaptive: float, samples: int,
                            steps: int = 20, step: float = 1.0, eta: float = 0.0,
                            m: int | None = None, m_examples: int | None = None,
                            seed: int = 0, chunk: int = 5000,
                            w0: torch.Tensor | None = None) -> dict:
    """Every measure of the module docstring for the model's current parameters on ``split``.

    ``w0``: the run's initial point (flat, ``initial_point``); None gives ``dist_init`` None.
    """
    start = time.perf_counter()
    params = trainable(model)
    n = sum(p.numel() for p in params)
    clock = Clock()
    with restored(model):
        w = flatten(params, out=torch.empty(n, dtype=torch.float64)).numpy().copy()
        scale = adaptive.adaptive_scale(w, eta)
        f_x, acc = evaluate(model, split, chunk)
        variants = [("", [split])]
        parts = None if m is None else batches(split, m, m_examples, seed)
        if parts is not None:
            variants.append(("_m", parts))
        record: dict = {}
        for suffix, these in variants:
            for geometry, rho in (("linf", rho_linf), ("l2", rho_l2)):
                t = time.perf_counter()
                record.update(worst_case(model, these, w, scale, geometry, rho, steps, step,
                                         chunk, clock, suffix))
                record[f"adaptive_{geometry}{suffix}_wall_s"] = time.perf_counter() - t
        loss_passes = {"n": 1}

        def loss_at(z: np.ndarray) -> float:
            assign_flat(params, torch.from_numpy(z))
            loss_passes["n"] += 1
            return evaluate(model, split, chunk)[0]

        t = time.perf_counter()
        avg = adaptive.average_case(loss_at, w, scale, sigma, sigma_adaptive, samples, seed,
                                    f_w=f_x)
        record["avg_wall_s"] = time.perf_counter() - t
    dist = None
    if w0 is not None:
        if w0.numel() != n:
            raise ValueError(f"w0 has {w0.numel()} elements, the model {n} trainable parameters")
        dist = float(np.linalg.norm(w - w0.detach().to("cpu", torch.float64).numpy()))
    record.update({k: v for k, v in avg.items() if k not in ("f_w", "avg_evaluations")})
    return {
        "f_x": float(f_x), "train_acc": float(acc),
        "param_norm": float(np.linalg.norm(w)), "dist_init": dist,
        **record,
        "rho_linf": float(rho_linf), "rho_l2": float(rho_l2), "eta": float(eta),
        "steps": int(steps), "step": float(step),
        "m": None if m is None else int(m),
        "m_examples": None if parts is None else sum(len(p) for p in parts),
        "sigma": float(sigma), "sigma_adaptive": float(sigma_adaptive),
        "samples": int(samples), "measure_seed": int(seed), "chunk": int(chunk), "n_params": n,
        "n_examples": len(split),
        # passes: loss+gradient passes of the ascents (over one batch each with m set) and
        # loss-only passes over the split (f(x) and the Gaussian samples)
        "passes": clock.passes, "loss_passes": loss_passes["n"],
        "time_in_passes_s": clock.in_passes, "wall_s": time.perf_counter() - start,
    }
