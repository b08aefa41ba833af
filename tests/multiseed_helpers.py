"""Several seeds of one TrainSpec at once (test-only): ``MultiSeed`` with ``train.train``'s
per-epoch evaluation and stopping rule (``training.stopping``), without checkpoints or files."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from sharpminima.data.splits import Dataset
from sharpminima.training.multiseed import Builder, MultiSeed
from sharpminima.training.stopping import Stopping
from sharpminima.training.train import TrainSpec


def _check_plain(spec: TrainSpec) -> None:
    if spec.remedy or spec.train_chunk or getattr(spec, "speed", None):
        raise ValueError("multi-seed training supports plain Adam runs only "
                         "(no remedy, train_chunk or speed options)")


def _evaluate_seed(ms: MultiSeed, i: int, st: dict, data: Dataset, spec: TrainSpec, epoch: int,
                   batch: int, running: float) -> str | None:
    """Seed i's history row of `epoch` and its stopping decision ("diverged", "converged")."""
    train_loss, train_acc = ms.evaluate(i, data.train, spec.eval_chunk)
    test_loss, test_acc = ms.evaluate(i, data.test, spec.eval_chunk)
    st["history"].append({"epoch": epoch, "batch_size": batch, "minibatch_loss": running,
                          "train_loss": train_loss, "train_acc": train_acc,
                          "test_loss": test_loss, "test_acc": test_acc})
    return st["stop"].after_epoch(train_loss, running)


def train_seeds(spec: TrainSpec, seeds: Sequence[int], data: Dataset,
                device: torch.device | str = "cpu", build: Builder | None = None,
                log: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Train `spec` for every seed at once; per seed: history, status and final state_dict.

    Mirrors ``train.train`` (stopping rule, per-epoch evaluation on the training and test sets).
    ``spec.seed`` is ignored (the seeds are given). A seed that stops keeps the snapshot of its
    stopping epoch while the others go on.
    """
    _check_plain(spec)
    batch = spec.resolve_batch(len(data.train))
    ms = MultiSeed(seeds, data, batch, net=spec.net, build=build, lr=spec.lr, betas=spec.betas,
                   adam_eps=spec.adam_eps, bn=spec.bn, device=device)
    state = [{"seed": s, "history": [], "stop": Stopping.of(spec), "status": "max_epochs",
              "state_dict": None, "active": True} for s in ms.seeds]
    for epoch in range(1, spec.max_epochs + 1):
        running = ms.train_epoch(epoch).tolist()
        for i, st in enumerate(state):
            if not st["active"]:
                continue
            ended = _evaluate_seed(ms, i, st, data, spec, epoch, batch, running[i])
            if ended:
                st.update(status=ended, active=False, state_dict=ms.state_dict(i))
                log(f"seed {st['seed']}: {ended} at epoch {epoch}")
        if not any(st["active"] for st in state):
            break
    for i, st in enumerate(state):
        if st["state_dict"] is None:
            st["state_dict"] = ms.state_dict(i)
        for key in ("active", "stop"):
            st.pop(key)
        st["epochs"] = len(st["history"])
    return state
