"""The stopping rule of a training run, in one place (the paper's, on the training loss).

After every epoch: a non-finite training or minibatch loss ends the run as "diverged"; otherwise
the training loss counts as an improvement when it is below best * (1 - min_delta) (min_delta is
relative), and the run ends as "converged" once `patience` epochs in a row brought none
(patience None: never; the run then ends at max_epochs). `best` and `wait` are the whole state,
saved in the resume checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DIVERGED = "diverged"
CONVERGED = "converged"


@dataclass
class Stopping:
    """The rule's state for one run: the best training loss so far and the epochs since."""

    patience: int | None
    min_delta: float = 0.0
    best: float = math.inf
    wait: int = 0

    @classmethod
    def of(cls, spec, best: float = math.inf, wait: int = 0) -> "Stopping":
        """The rule of a `TrainSpec` (its patience and min_delta), from state (best, wait)."""
        return cls(spec.patience, spec.min_delta, best, wait)

    def after_epoch(self, train_loss: float | None, minibatch_loss: float) -> str | None:
        """Update with an epoch's losses; the run's end status ("diverged", "converged") or None
        to go on. A diverged epoch leaves (best, wait) as they were. train_loss None: the epoch
        was not evaluated (TrainSpec.eval_every, patience None), only the minibatch loss counts."""
        if train_loss is None:
            if self.patience is not None:
                raise ValueError("an epoch without its training loss under early stopping")
            return None if math.isfinite(minibatch_loss) else DIVERGED
        if not math.isfinite(train_loss) or not math.isfinite(minibatch_loss):
            return DIVERGED
        if train_loss < self.best * (1 - self.min_delta):
            self.best, self.wait = train_loss, 0
        else:
            self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            return CONVERGED
        return None
