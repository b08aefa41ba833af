"""The one training loop: Adam on fixed-size random batches, evaluated every epoch, resumable.

A run is fully described by a `TrainSpec`. For a given seed the initial point depends only on
(net, data shape, seed), so the SB and LB runs of one seed start from the same x0, as in the
authors' code. Batches are slices of a per-epoch permutation drawn from a CPU generator seeded by
(seed, epoch): the same on every device, and reproducible after a resume.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.nn.functional as F

from sharpminima import models, provenance
from sharpminima.atomic import atomic_path, write_json
from sharpminima.data import Dataset
from sharpminima.evaluate import evaluate


@dataclass
class TrainSpec:
    net: str
    seed: int
    regime: str = "custom"  # label only (SB, LB, ...): recorded in metrics and tables
    batch_size: int | None = None  # examples per step ...
    batch_fraction: float | None = None  # ... or a fraction of the training set (LB: 0.1)
    max_epochs: int = 100
    patience: int | None = 5  # stop when the train loss has not improved for this many epochs
    min_delta: float = 0.0  # relative improvement of the best train loss that counts
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    bn: str = "batch"
    eval_chunk: int = 5000
    train_chunk: int | None = None  # physical chunk for gradient accumulation (memory only)
    save_epochs: list[int] = field(default_factory=list)  # keep the iterate after these epochs

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {sorted(unknown)}")
        spec = cls(**d)
        spec.betas = tuple(spec.betas)
        return spec

    def resolve_batch(self, n_train: int) -> int:
        """Batch size in examples; a fraction is of the (possibly subset) training set."""
        if (self.batch_size is None) == (self.batch_fraction is None):
            raise ValueError("give exactly one of batch_size and batch_fraction")
        b = self.batch_size or max(1, round(self.batch_fraction * n_train))
        if not 2 <= b <= n_train:
            raise ValueError(f"batch size {b} outside [2, {n_train}] (training set size)")
        return b


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g)


def train_epoch(model, opt, data: Dataset, batch: int, perm: torch.Tensor,
                chunk: int | None) -> float:
    """One pass of floor(N / batch) fixed-size steps (the remainder is dropped: the paper uses
    fixed-size batches). Returns the mean minibatch loss."""
    model.train()
    perm = perm.to(data.train.y.device)
    steps = len(perm) // batch
    total = torch.zeros((), device=perm.device)
    for s in range(steps):
        idx = perm[s * batch:(s + 1) * batch]
        opt.zero_grad(set_to_none=True)
        # A chunk smaller than the batch accumulates gradients; with batch-statistics BN each
        # chunk is then normalized on its own (as ghost BN would): documented in config.
        for c in idx.split(chunk or batch):
            xb, yb = data.train.batch(c)
            loss = F.cross_entropy(model(xb), yb) * (len(c) / batch)
            loss.backward()
            total += loss.detach()
        opt.step()
    return (total / steps).item()


def _checkpoint(model, opt, epoch, history, best, wait) -> dict:
    return {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
            "history": history, "best": best, "wait": wait,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def save_model(model, spec: TrainSpec, data: Dataset, path: Path) -> None:
    """A self-describing checkpoint: loadable with torch.load(weights_only=True)."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "net": spec.net, "bn": spec.bn,
                    "input_shape": list(data.input_shape), "num_classes": data.num_classes}, tmp)


def load_model(path, device="cpu") -> torch.nn.Module:
    ckpt = torch.load(path, map_location=device, weights_only=True)
    model = models.build(ckpt["net"], ckpt["input_shape"], ckpt["num_classes"], bn=ckpt["bn"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device)


def train(spec: TrainSpec, data: Dataset, out_dir: Path, device: torch.device,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
          on_epoch_end: Callable[[int], None] | None = None) -> dict:
    """Train, writing model.pt, history.csv and metrics.json in out_dir; resume if interrupted."""
    out_dir = Path(out_dir)
    resume_path = out_dir / "resume.pt"
    n = len(data.train)
    batch = spec.resolve_batch(n)
    model = models.build(spec.net, data.input_shape, data.num_classes, bn=spec.bn,
                         seed=spec.seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, betas=spec.betas, eps=spec.adam_eps)
    history, best, wait, start = [], math.inf, 0, 1
    if resume_path.exists():
        ck = torch.load(resume_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        history, best, wait, start = ck["history"], ck["best"], ck["wait"], ck["epoch"] + 1
        torch.set_rng_state(ck["rng"])
        if ck["cuda_rng"]:
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        log(f"resuming {out_dir} after epoch {ck['epoch']}")
    log(f"train {spec.net} seed {spec.seed}: {n} examples, batch {batch}, "
        f"{n // batch} steps/epoch, up to {spec.max_epochs} epochs on {device}")
    status = "max_epochs"
    t_start = time.perf_counter()
    for epoch in range(start, spec.max_epochs + 1):
        t0 = time.perf_counter()
        running = train_epoch(model, opt, data, batch, epoch_permutation(n, spec.seed, epoch),
                              spec.train_chunk)
        train_loss, train_acc = evaluate(model, data.train, spec.eval_chunk)
        test_loss, test_acc = evaluate(model, data.test, spec.eval_chunk)
        history.append({"epoch": epoch, "batch_size": batch, "lr": spec.lr,
                        "minibatch_loss": running, "train_loss": train_loss,
                        "train_acc": train_acc, "test_loss": test_loss, "test_acc": test_acc,
                        "epoch_s": time.perf_counter() - t0})
        log(f"epoch {epoch:4d}/{spec.max_epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}"
            f"  test loss {test_loss:.4f} acc {test_acc:.4f}  ({history[-1]['epoch_s']:.1f} s)")
        if epoch in spec.save_epochs:
            save_model(model, spec, data, out_dir / "iterates" / f"epoch{epoch}.pt")
        if not math.isfinite(train_loss) or not math.isfinite(running):
            status = "diverged"
            log(f"diverged at epoch {epoch}: non-finite loss; stopping")
            break
        if train_loss < best * (1 - spec.min_delta):
            best, wait = train_loss, 0
        else:
            wait += 1
        if spec.patience is not None and wait >= spec.patience:
            status = "converged"
            log(f"train loss has not improved by {spec.min_delta:.0%} for {wait} epochs: stop")
            break
        with atomic_path(resume_path) as tmp:
            torch.save(_checkpoint(model, opt, epoch, history, best, wait), tmp)
        if on_epoch_end:
            on_epoch_end(epoch)
    return _finish(spec, data, model, history, status, batch, out_dir, device,
                   time.perf_counter() - t_start)


def _finish(spec, data, model, history, status, batch, out_dir, device, wall) -> dict:
    last = history[-1] if history else {}
    metrics = {
        "net": spec.net, "regime": spec.regime, "dataset": data.name, "seed": spec.seed, "status": status,
        "batch_size": batch, "n_train": len(data.train), "n_test": len(data.test),
        "epochs": len(history),
        **{k: last.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
        "wall_s": sum(h["epoch_s"] for h in history), "wall_s_this_process": wall,
        "spec": dataclasses.asdict(spec), "provenance": provenance.collect(device),
    }
    save_model(model, spec, data, out_dir / "model.pt")
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    write_json(out_dir / "metrics.json", metrics)
    (out_dir / "resume.pt").unlink(missing_ok=True)
    return metrics
