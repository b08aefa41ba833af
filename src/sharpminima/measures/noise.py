"""Gradient noise: the spread of minibatch gradients vs batch size m, and the gradient noise scale.

The paper's motivation (after Goodfellow et al.): a batch of m examples costs O(m) but shrinks the
standard deviation of the gradient estimate only as 1/sqrt(m). Here that is measured at fixed
parameters, and the noise scale of McCandlish et al. 2018 is tracked along training.

Definitions (the training set, or its first N examples, is the population; g_i the gradient of
example i's cross-entropy, G = (1/N) sum_i g_i the full-batch gradient):

    Sigma      = (1/N) sum_i (g_i - G)(g_i - G)^T         per-example gradient covariance
    g_B        = (1/m) sum_{i in B} g_i                   minibatch gradient, B uniform without
                                                          replacement, |B| = m
    E|g_B - G|^2 = tr(Sigma) / m * (N - m) / (N - 1)      (finite-population correction, FPC)
    B_simple   = tr(Sigma) / |G|^2                        McCandlish et al. 2018, eq. 2.8

Estimator (``chunk_stats``): a seeded permutation of the N examples is cut into K = floor(N / m)
chunks (the remainder is dropped, as in training); each chunk's mean-loss gradient g_k is one
minibatch gradient at the fixed parameters, in eval mode (dropout off) with each chunk normalized
on its own (batch-statistics BN sees exactly what a training batch of m sees). Over R permutations
(`repeats`), with Gbar = mean_k g_k:

    spread^2(m)   = mean_k |g_k - Gbar|^2                 (Welford, float64: no cancellation)
    tr(Sigma)_hat = m * spread^2(m) * (N - 1) / (N - m)
    B_simple_hat  = tr(Sigma)_hat / |Gbar|^2

Each chunk is marginally a uniform m-subset, and when m divides N (and the loss is a per-example
sum, i.e. no batch-statistics BN) Gbar = G exactly, so spread^2 is an unbiased estimate of
E|g_B - G|^2 and tr(Sigma)_hat of tr(Sigma); for m = 1 both are exact (tests/test_noise.py checks
these against closed-form per-example gradients, the expectation by enumerating every permutation).
McCandlish et al.'s two-batch estimator with B_big = N equals tr(Sigma)_hat * N / (N - 1): they
normalize Sigma by N - 1. With batch-statistics BN a per-example gradient does not exist; Sigma is
then the covariance implied by the minibatch gradients of size m, which is what the numbers mean.

Cost: one forward and backward pass over the N examples per permutation (and batch size); the
model and the optimizer are untouched (autograd.grad, no .grad), so training with the per-epoch
measurement (``history_columns``) follows bit for bit the same trajectory as training without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from sharpminima.data.splits import Split


@dataclass
class ChunkStats:
    """Moments of the chunk gradients of size m at fixed parameters."""

    n: int  # examples in the population (the split)
    m: int  # examples per chunk (the batch size)
    chunks: int  # chunk gradients measured (repeats x floor(n / m))
    spread_sq: float  # mean_k |g_k - Gbar|^2
    grad_sq: float  # |Gbar|^2

    @property
    def spread(self) -> float:
        """Root mean square distance of a minibatch gradient from the full gradient."""
        return math.sqrt(max(self.spread_sq, 0.0))

    @property
    def fpc(self) -> float:
        """(N - 1) / (N - m): undoes the finite-population shrinkage of sampling w/o replacement."""
        return (self.n - 1) / (self.n - self.m) if self.m < self.n else math.inf

    @property
    def trace_sigma(self) -> float:
        return self.m * self.spread_sq * self.fpc if self.m < self.n else math.nan

    @property
    def b_simple(self) -> float:
        return self.trace_sigma / self.grad_sq if self.grad_sq > 0 else math.inf

    def row(self) -> dict:
        return {**asdict(self), "spread": self.spread,
                "spread_fpc": self.spread * math.sqrt(self.fpc) if self.m < self.n else math.nan,
                "grad_norm": math.sqrt(self.grad_sq), "trace_sigma": self.trace_sigma,
                "b_simple": self.b_simple}


def permutations(n: int, repeats: int, seed: int, tag: int = 0) -> list[torch.Tensor]:
    """`repeats` seeded permutations of range(n) (CPU generator: the same on every device)."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + tag) * 7919 + 17)
    return [torch.randperm(n, generator=g) for _ in range(repeats)]


def moments(vectors) -> tuple[int, torch.Tensor, float]:
    """Count, mean and sum of squared distances to the mean of flat vectors (Welford, float64)."""
    count, mean, m2 = 0, None, 0.0
    for v in vectors:
        v = v.double()
        count += 1
        if mean is None:
            mean = v.clone()
            continue
        delta = v - mean
        mean += delta / count
        m2 += float(torch.dot(delta, v - mean))
    if mean is None:
        raise ValueError("no vectors")
    return count, mean, m2


def chunk_gradients(model: torch.nn.Module, split: Split, m: int,
                    perms: Sequence[torch.Tensor], params: list[torch.Tensor] | None = None):
    """Yield the flat gradient of each chunk's mean cross-entropy (eval mode, restored after)."""
    params = [p for p in model.parameters() if p.requires_grad] if params is None else params
    was_training = model.training
    model.eval()
    try:
        for perm in perms:
            perm = perm.to(split.y.device)
            for k in range(len(perm) // m):
                xb, yb = split.batch(perm[k * m:(k + 1) * m])
                grads = torch.autograd.grad(F.cross_entropy(model(xb), yb), params)
                yield torch.cat([g.reshape(-1) for g in grads])
    finally:
        model.train(was_training)


def chunk_stats(model: torch.nn.Module, split: Split, m: int, repeats: int = 1, seed: int = 0,
                perms: Sequence[torch.Tensor] | None = None, tag: int = 0) -> ChunkStats:
    """Spread of the size-m minibatch gradients around their mean, and |mean|^2, at the model's
    current parameters. `perms` (default: `repeats` seeded permutations) fixes the chunks."""
    n = len(split)
    if not 1 <= m <= n:
        raise ValueError(f"chunk size {m} outside [1, {n}]")
    perms = permutations(n, repeats, seed, tag) if perms is None else perms
    count, mean, m2 = moments(chunk_gradients(model, split, m, perms))
    return ChunkStats(n=n, m=m, chunks=count, spread_sq=m2 / count,
                      grad_sq=float(torch.dot(mean, mean)))


def spread_curve(model: torch.nn.Module, split: Split, sizes: Sequence[int], repeats: int = 1,
                 seed: int = 0) -> list[dict]:
    """One row per batch size m: spread, tr(Sigma) and B_simple estimates (see module doc)."""
    rows = []
    for m in sorted(set(int(s) for s in sizes)):
        t0 = time.perf_counter()
        st = chunk_stats(model, split, m, repeats, seed, tag=m)
        rows.append({**st.row(), "repeats": repeats, "wall_s": time.perf_counter() - t0})
    return rows


def history_columns(model: torch.nn.Module, split: Split, chunk: int, seed: int,
                    epoch: int) -> dict:
    """The per-epoch gradient-noise columns of history.csv (TrainSpec.noise_chunk): one pass of
    chunk gradients over `split`, on a permutation seeded by (seed, epoch)."""
    t0 = time.perf_counter()
    st = chunk_stats(model, split, chunk, repeats=1, seed=seed, tag=10_000 + epoch)
    return {"noise_chunk": chunk, "noise_n": st.n, "noise_grad_sq": st.grad_sq,
            "noise_trace": st.trace_sigma, "b_simple": st.b_simple,
            "noise_s": time.perf_counter() - t0}


def epoch_columns(spec, data) -> Callable[[torch.nn.Module, int], dict] | None:
    """The training loop's per-epoch hook for B_simple (TrainSpec.noise_chunk, every noise_every
    epochs, on the first noise_size examples), or None when the run measures no noise."""
    if not spec.noise_chunk:
        return None
    split = data.train.head(spec.noise_size)

    def columns(model: torch.nn.Module, epoch: int) -> dict:
        if epoch % spec.noise_every:
            return {}
        return history_columns(model, split, spec.noise_chunk, spec.seed, epoch)
    return columns
