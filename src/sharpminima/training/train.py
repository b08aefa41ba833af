"""The one training loop: Adam on fixed-size random batches, evaluated every epoch (or every
`eval_every` epochs), resumable.

A run is fully described by a `TrainSpec`. For a given seed the initial point depends only on
(net, data shape, seed), so the SB and LB runs of one seed start from the same x0, as in the
authors' code. Batches are slices of a per-epoch permutation drawn from a CPU generator seeded by
(seed, epoch): the same on every device, and reproducible after a resume.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from sharpminima.core import layout, provenance
from sharpminima.core.atomic import atomic_path, write_json
from sharpminima.data.splits import Dataset
from sharpminima.nets import models
from sharpminima.nets.checkpoint import load_state, save_model
from sharpminima.nets.evaluate import evaluate
from sharpminima.training import remedies, resume
from sharpminima.training import speed as speedopts
from sharpminima.training.stopping import DIVERGED, Stopping


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
    # evaluate on the training and test sets after every eval_every-th epoch only (always after
    # the last epoch and a kept iterate's); the other rows hold the minibatch loss. The weights do
    # not depend on it. > 1 needs patience None: the stopping rule reads every epoch's train loss
    eval_every: int = 1
    train_chunk: int | None = None  # physical chunk for gradient accumulation (memory only)
    save_epochs: list[int] = field(default_factory=list)  # keep the iterate after these epochs
    # remedies of the generalization gap, composable: {name: options}, see
    # sharpminima.training.remedies
    remedy: dict = field(default_factory=dict)
    # speed options {compile, channels_last, fused_adam, tf32, autocast_bf16}: bool, all off (off =
    # bit-identical to a run without them); fidelity notes in sharpminima.training.speed
    speed: dict = field(default_factory=dict)
    # Section 4 experiments (workflow/rules/sweeps.smk); every one is off by default:
    init_from: str | None = None  # start from this model.pt / iterate instead of the seeded x0
    #   (history.csv then opens with an epoch-0 row: the evaluation of that starting point)
    batch_schedule: list | None = None  # dynamic sampling: [[epoch, batch size or fraction], ...]
    #   from that epoch on; before the first entry, batch_size / batch_fraction
    # gradient noise scale B_simple (sharpminima.measures.noise) from per-chunk gradients of size
    # noise_chunk, after every noise_every epochs, on the first noise_size training examples
    # (None: all)
    noise_chunk: int | None = None
    noise_every: int = 1
    noise_size: int | None = None
    # a network of the user's own (nets.<net>.builder): {ref, init, code} from
    # sharpminima.nets.builders.describe; its source hash makes editing the builder a new spec
    builder: dict | None = None

    @classmethod
    def from_dict(cls, d: dict) -> "TrainSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {sorted(unknown)}")
        spec = cls(**d)
        spec.betas = tuple(spec.betas)
        # unknown remedies or options: a clear error, before training
        remedies.validate(spec.remedy)
        speedopts.parse(spec.speed)
        spec._check_schedule()
        spec._check_eval_every()
        return spec

    def _check_eval_every(self) -> None:
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, int) \
                or self.eval_every < 1:
            raise ValueError(f"eval_every must be an integer >= 1, got {self.eval_every!r}")
        if self.eval_every > 1 and self.patience is not None:
            raise ValueError(f"eval_every {self.eval_every} needs patience null: early stopping "
                             f"(patience {self.patience}) reads the training loss of every epoch")

    def evaluates(self, epoch: int) -> bool:
        """Whether the history row of `epoch` holds the train/test evaluation."""
        return (epoch % self.eval_every == 0 or epoch >= self.max_epochs
                or epoch in self.save_epochs)

    def _check_schedule(self) -> None:
        if self.batch_schedule is None:
            return
        epochs = []
        for entry in self.batch_schedule:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2
                    and isinstance(entry[0], int) and entry[0] >= 1):
                raise ValueError(f"batch_schedule entries are [epoch >= 1, batch size or fraction],"
                                 f" got {entry!r}")
            size = entry[1]
            if isinstance(size, bool) or not (
                    (isinstance(size, int) and size >= 2)
                    or (isinstance(size, float) and 0 < size <= 1)):
                raise ValueError(f"batch_schedule: {size!r} is neither a batch size (int >= 2) "
                                 f"nor a fraction of the training set (float in (0, 1])")
            epochs.append(entry[0])
        if epochs != sorted(set(epochs)):
            raise ValueError(f"batch_schedule epochs must increase, got {epochs}")
        if "lr_warmup" in self.remedy:
            raise ValueError("batch_schedule cannot be combined with the lr_warmup remedy "
                             "(its scaled rate is built for one batch size)")

    def batch_for_epoch(self, epoch: int, n_train: int) -> int:
        """The batch size of epoch `epoch` (1-based): the last batch_schedule entry that has
        started, else batch_size / batch_fraction. Fractions are of the training set."""
        b = self.resolve_batch(n_train)
        for start, size in self.batch_schedule or []:
            if start <= epoch:
                b = size if isinstance(size, int) else max(1, round(size * n_train))
        if not 2 <= b <= n_train:
            raise ValueError(f"batch size {b} outside [2, {n_train}] (training set size)")
        return b

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
                chunk: int | None, step: remedies.Step | None = None, epoch: int = 1) -> float:
    """One pass of floor(N / batch) fixed-size steps (the remainder is dropped: the paper uses
    fixed-size batches). Returns the mean minibatch loss.

    `step` performs one update on one batch: the run's composed step (`remedies.make_step`, built
    once per run from its spec); None is the plain Adam step. `epoch` (1-based) seeds the step's
    random choices (augmentation, adversarial mixing) and positions the learning-rate schedule."""
    model.train()
    perm = perm.to(data.train.y.device)
    steps = len(perm) // batch
    total = torch.zeros((), device=perm.device)
    step = step or remedies.Step(model, opt, data.train, batch, chunk)
    for s in range(steps):
        step(perm[s * batch:(s + 1) * batch], epoch, s, total)
    return (total / steps).item()


def _save(model, spec: TrainSpec, data: Dataset, path: Path) -> None:
    save_model(model, spec.net, spec.bn, data.input_shape, data.num_classes, path,
               builder=spec.builder)


def iterate_path(out_dir: Path, epoch: int) -> Path:
    """Where a kept iterate waits until the run finishes (then iterates/epoch{epoch}.pt): kept
    across a resume, and never mistaken for the output of a finished run."""
    return Path(out_dir) / ".iterates-partial" / f"epoch{epoch}.pt"


def _publish_iterates(out_dir: Path) -> None:
    staged = Path(out_dir) / ".iterates-partial"
    if staged.is_dir():
        (Path(out_dir) / layout.ITERATES).mkdir(exist_ok=True)
        for f in sorted(staged.glob("epoch*.pt")):
            f.replace(Path(out_dir) / layout.ITERATES / f.name)
        staged.rmdir()


def _build(spec: TrainSpec, data: Dataset, device: torch.device,
           log: Callable[[str], None]) -> tuple[torch.nn.Module, torch.optim.Adam]:
    """The run's model at x0 (seeded, or warm-started from init_from) and its Adam."""
    model = models.build(spec.net, data.input_shape, data.num_classes, bn=spec.bn,
                         seed=spec.seed, builder=spec.builder).to(device)
    if spec.init_from:  # warm start: x0 is a saved model or iterate (Adam's state starts fresh)
        model.load_state_dict(load_state(spec.init_from, device))
    speedopts.prepare_model(model, spec.speed, device, log)  # no-op when no speed option is set
    opt = speedopts.adam(model.parameters(), spec.speed, lr=spec.lr, betas=spec.betas,
                         eps=spec.adam_eps)
    return model, opt


class _ResumeFile:
    """The run's resume.pt: the state it resumes from, and the checkpoint after every epoch."""

    def __init__(self, spec: TrainSpec, data: Dataset, out_dir: Path) -> None:
        self.out_dir, self.path = out_dir, out_dir / "resume.pt"
        self.spec, self.fingerprint = resume.spec_json(spec), resume.data_fingerprint(data)

    def restore(self, spec: TrainSpec, model, opt,
                log: Callable[[str], None]) -> tuple[list, Stopping, int]:
        """(history, stopping state, first epoch to run): the checkpoint's, else a fresh start.
        A checkpoint of another spec or other data is discarded (resume.load)."""
        ck = resume.load(self.path, self.spec, self.fingerprint, log)
        if ck is None:
            return [], Stopping.of(spec), 1
        history, best, wait, start = resume.restore(ck, model, opt)
        log(f"resuming {self.out_dir} after epoch {ck['epoch']}")
        return history, Stopping.of(spec, best, wait), start

    def save(self, model, opt, epoch: int, history: list, stop: Stopping) -> None:
        with atomic_path(self.path) as tmp:
            torch.save(resume.checkpoint(model, opt, epoch, history, stop.best, stop.wait,
                                         self.spec, self.fingerprint), tmp)


def _evaluated_row(spec: TrainSpec, data: Dataset, model, epoch: int, batch: int, lr: float,
                   minibatch_loss: float, t0: float, evaluated: bool = True) -> dict:
    """A history row: the model evaluated on the training and test sets after `epoch` (NaN
    columns when `evaluated` is False: an epoch between two evaluations, see eval_every)."""
    train_loss = train_acc = test_loss = test_acc = math.nan
    if evaluated:
        train_loss, train_acc = evaluate(model, data.train, spec.eval_chunk)
        test_loss, test_acc = evaluate(model, data.test, spec.eval_chunk)
    return {"epoch": epoch, "batch_size": batch, "lr": lr, "minibatch_loss": minibatch_loss,
            "train_loss": train_loss, "train_acc": train_acc, "test_loss": test_loss,
            "test_acc": test_acc, "epoch_s": time.perf_counter() - t0}


def _start_point(spec: TrainSpec, data: Dataset, model, history: list, batch: int, out_dir: Path,
                 log: Callable[[str], None]) -> None:
    """Epoch 0, before any step: keep x0 when save_epochs holds 0, and when warm-starting
    (init_from) evaluate the loaded point as history's epoch-0 row (the SB iterate's own
    numbers)."""
    if 0 in spec.save_epochs:
        _save(model, spec, data, iterate_path(out_dir, 0))
    if spec.init_from:
        row = _evaluated_row(spec, data, model, 0, batch, spec.lr, math.nan, time.perf_counter())
        history.append(row)
        log(f"start from {spec.init_from}: train loss {row['train_loss']:.4f} acc "
            f"{row['train_acc']:.4f}  test loss {row['test_loss']:.4f} acc {row['test_acc']:.4f}")


def _set_batch(step: remedies.Step, batch: int, n: int, log: Callable[[str], None]) -> int:
    """Dynamic sampling: point the run's composed step at a new batch size (the chunk weights and
    steps per epoch follow it). lr_warmup, built for one batch, is refused with a schedule."""
    if batch != step.batch:
        log(f"batch size {step.batch} -> {batch} ({n // batch} steps/epoch)")
        step.batch, step.steps_per_epoch = batch, max(1, n // batch)
    return batch


def _epoch(spec: TrainSpec, data: Dataset, model, opt, step: remedies.Step, batch: int,
           epoch: int, device: torch.device,
           epoch_columns: Callable[[torch.nn.Module, int], dict] | None) -> dict:
    """Train one epoch and evaluate; returns its history row (with the caller's columns)."""
    t0 = time.perf_counter()
    with speedopts.training(spec.speed, device):  # TF32 / bf16 autocast: training steps only
        running = train_epoch(model, opt, data, batch,
                              epoch_permutation(len(data.train), spec.seed, epoch),
                              spec.train_chunk, step, epoch)
    row = _evaluated_row(spec, data, model, epoch, batch, opt.param_groups[0]["lr"], running, t0,
                         spec.evaluates(epoch))
    if epoch_columns:  # measurements at this epoch's end (e.g. B_simple), passed in by the caller
        row.update(epoch_columns(model, epoch))
    return row


def _epoch_line(row: dict, spec: TrainSpec, evaluated: bool) -> str:
    head = f"epoch {row['epoch']:4d}/{spec.max_epochs}  "
    if not evaluated:
        return head + f"minibatch loss {row['minibatch_loss']:.4f}  ({row['epoch_s']:.1f} s)"
    return head + (f"train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f}  test loss "
                   f"{row['test_loss']:.4f} acc {row['test_acc']:.4f}  ({row['epoch_s']:.1f} s)")


def _stop_message(status: str, epoch: int, spec: TrainSpec, stop: Stopping) -> str:
    if status == DIVERGED:
        return f"diverged at epoch {epoch}: non-finite loss; stopping"
    return f"train loss has not improved by {spec.min_delta:.0%} for {stop.wait} epochs: stop"


def train(spec: TrainSpec, data: Dataset, out_dir: Path, device: torch.device,
          log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
          on_epoch_end: Callable[[int], None] | None = None,
          epoch_columns: Callable[[torch.nn.Module, int], dict] | None = None) -> dict:
    """Train, writing model.pt, history.csv and metrics.json in out_dir; resume if interrupted."""
    out_dir = Path(out_dir)
    n = len(data.train)
    batch = spec.resolve_batch(n)
    model, opt = _build(spec, data, device, log)
    checkpoints = _ResumeFile(spec, data, out_dir)
    history, stop, start = checkpoints.restore(spec, model, opt, log)
    step = remedies.make_step(spec, model, opt, data.train, batch)
    log(f"train {spec.net} seed {spec.seed}: {n} examples, batch {batch}, "
        f"{n // batch} steps/epoch, up to {spec.max_epochs} epochs on {device}"
        + (f", remedies {sorted(spec.remedy)}" if spec.remedy else ""))
    status = "max_epochs"
    t_start = time.perf_counter()
    if start == 1:  # from scratch: no iterate of an earlier, discarded attempt may be published
        shutil.rmtree(iterate_path(out_dir, 0).parent, ignore_errors=True)
        _start_point(spec, data, model, history, batch, out_dir, log)
    for epoch in range(start, spec.max_epochs + 1):
        if spec.batch_schedule:  # dynamic sampling: this epoch's batch size
            batch = _set_batch(step, spec.batch_for_epoch(epoch, n), n, log)
        row = _epoch(spec, data, model, opt, step, batch, epoch, device, epoch_columns)
        history.append(row)
        evaluated = spec.evaluates(epoch)
        log(_epoch_line(row, spec, evaluated))
        if epoch in spec.save_epochs:
            _save(model, spec, data, iterate_path(out_dir, epoch))
        ended = stop.after_epoch(row["train_loss"] if evaluated else None, row["minibatch_loss"])
        if ended:
            status = ended
            log(_stop_message(ended, epoch, spec, stop))
            break
        checkpoints.save(model, opt, epoch, history, stop)
        if on_epoch_end:
            on_epoch_end(epoch)
    return _finish(spec, data, model, history, status, batch, out_dir, device,
                   time.perf_counter() - t_start)


def _finish(spec, data, model, history, status, batch, out_dir, device, wall) -> dict:
    last = history[-1] if history else {}
    metrics = {
        "net": spec.net, "regime": spec.regime, "dataset": data.name, "seed": spec.seed,
        "status": status,
        "batch_size": batch, "n_train": len(data.train), "n_test": len(data.test),
        "num_classes": data.num_classes,
        "epochs": sum(1 for h in history if h["epoch"] > 0),  # an epoch-0 row is no epoch
        **{k: last.get(k) for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
        "wall_s": sum(h["epoch_s"] for h in history), "wall_s_this_process": wall,
        "spec": dataclasses.asdict(spec), "provenance": provenance.collect(device),
    }
    if spec.batch_schedule:  # dynamic sampling: the first and the last batch size
        metrics.update(batch_size=spec.resolve_batch(len(data.train)), final_batch_size=batch)
    _save(model, spec, data, out_dir / "model.pt")
    _publish_iterates(out_dir)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    write_json(out_dir / "metrics.json", metrics)
    (out_dir / "resume.pt").unlink(missing_ok=True)
    return metrics
