"""Gradient spread vs batch size and the gradient noise scale B_simple (sharpminima.measures.noise),
checked against exact values on a synthetic problem with closed-form per-example gradients."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from sharpminima.analysis.stats import fit_loglog
from sharpminima.data.splits import Dataset, Split
from sharpminima.measures import noise
from sharpminima.nets.checkpoint import load_model
from sharpminima.training.train import TrainSpec, train

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def softmax_problem(n=6, d=3, c=3, seed=0):
    """A linear softmax classifier (no BN, no dropout) on float features, and its per-example
    gradients in closed form: d/dW = (p - e_y) x^T, d/db = p - e_y (float64, from the weights)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = torch.randint(0, c, (n,), generator=g)
    torch.manual_seed(seed)
    model = torch.nn.Linear(d, c)
    W = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    X = x.double().numpy()
    logits = X @ W.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    r = p - np.eye(c)[y.numpy()]
    per_example = np.concatenate([(r[:, :, None] * X[:, None, :]).reshape(n, -1), r], axis=1)
    return model, Split(x, y), per_example


def exact(per_example):
    G = per_example.mean(0)
    trace = float(((per_example - G) ** 2).sum(1).mean())  # tr(Sigma), Sigma normalized by N
    return G, trace, trace / float(G @ G)


def test_moments_match_numpy():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(7, 5)) + 100.0  # large mean: a naive E|v|^2 - |E v|^2 would cancel
    count, mean, m2 = noise.moments(torch.from_numpy(v).float())
    v32 = v.astype(np.float32).astype(np.float64)
    assert count == 7
    np.testing.assert_allclose(mean.numpy(), v32.mean(0), rtol=1e-12)
    assert m2 == pytest.approx(((v32 - v32.mean(0)) ** 2).sum(), rel=1e-9)


def test_chunk_gradients_are_the_mean_of_per_example_gradients():
    model, split, per_example = softmax_problem()
    perm = torch.tensor([4, 1, 0, 5, 3, 2])
    grads = list(noise.chunk_gradients(model, split, 2, [perm]))
    for k, gk in enumerate(grads):
        want = per_example[perm[2 * k:2 * k + 2].numpy()].mean(0)
        np.testing.assert_allclose(gk.double().numpy(), want, rtol=1e-5, atol=1e-7)


def test_batch_of_one_gives_the_exact_spread_and_noise_scale():
    model, split, per_example = softmax_problem()
    G, trace, b_simple = exact(per_example)
    st = noise.chunk_stats(model, split, 1, repeats=1, seed=3)
    assert st.chunks == 6
    assert st.grad_sq == pytest.approx(float(G @ G), rel=1e-5)
    assert st.spread_sq == pytest.approx(trace, rel=1e-5)  # FPC (N-1)/(N-1) = 1
    assert st.trace_sigma == pytest.approx(trace, rel=1e-5)
    assert st.b_simple == pytest.approx(b_simple, rel=1e-5)


@pytest.mark.parametrize("m", [2, 3])
def test_expectation_over_every_permutation_is_exact(m):
    """Averaged over all N! chunkings, spread^2 is tr(Sigma)/m (N-m)/(N-1) and the estimates of
    tr(Sigma) and B_simple are exact (m divides N: every chunking's mean gradient is G)."""
    model, split, per_example = softmax_problem()
    G, trace, b_simple = exact(per_example)
    n = len(split)
    perms = [torch.tensor(p) for p in itertools.permutations(range(n))]
    st = noise.chunk_stats(model, split, m, perms=perms)
    assert st.chunks == math.factorial(n) * (n // m)
    assert st.grad_sq == pytest.approx(float(G @ G), rel=1e-5)
    assert st.spread_sq == pytest.approx(trace / m * (n - m) / (n - 1), rel=1e-5)
    assert st.trace_sigma == pytest.approx(trace, rel=1e-5)
    assert st.b_simple == pytest.approx(b_simple, rel=1e-5)
    # one chunking alone is an unbiased draw, not the exact value
    one = noise.chunk_stats(model, split, m, perms=perms[:1])
    assert one.grad_sq == pytest.approx(float(G @ G), rel=1e-5)


def test_spread_falls_as_one_over_sqrt_m():
    model, split, per_example = softmax_problem(n=1024, d=8, c=4, seed=1)
    _, trace, _ = exact(per_example)
    rows = pd.DataFrame(noise.spread_curve(model, split, [1, 2, 4, 8, 16, 32, 64], repeats=4))
    slope, _ = fit_loglog(rows.m, rows.spread_fpc)
    assert slope == pytest.approx(-0.5, abs=0.05)
    assert rows.trace_sigma.to_numpy() == pytest.approx(trace, rel=0.3)
    assert rows.loc[rows.m == 1, "trace_sigma"].item() == pytest.approx(trace, rel=1e-4)


def test_fit_loglog_recovers_a_power_law():
    m = np.array([1, 4, 16, 64.0])
    slope, intercept = fit_loglog(m, 3.0 * m ** -0.5)
    assert slope == pytest.approx(-0.5) and 10 ** intercept == pytest.approx(3.0)
    assert math.isnan(fit_loglog([1.0], [1.0])[0])


def toy_features(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 12, generator=g) + y[:, None].float()
    return Dataset("toy", Split(x, y), Split(x[:60], y[:60]), 3, (12,), {})


def test_noise_columns_in_history_leave_training_unchanged(tmp_path):
    base = dict(net="F1", seed=0, batch_size=32, max_epochs=2, patience=None, eval_chunk=100,
                save_epochs=[2])
    data = toy_features()
    plain = train(TrainSpec.from_dict(base), data, tmp_path / "plain", CPU, log=lambda s: None)
    noisy = TrainSpec.from_dict({**base, "noise_chunk": 40, "noise_size": 200})
    measured = train(noisy, data, tmp_path / "noise", CPU, log=lambda s: None,
                     epoch_columns=noise.epoch_columns(noisy, data))
    h0 = pd.read_csv(tmp_path / "plain/history.csv")
    h1 = pd.read_csv(tmp_path / "noise/history.csv")
    assert h0.drop(columns="epoch_s").equals(h1[h0.columns].drop(columns="epoch_s"))
    assert plain["test_loss"] == measured["test_loss"]
    assert {"b_simple", "noise_trace", "noise_grad_sq", "noise_chunk"} <= set(h1)
    assert (h1.b_simple > 0).all() and (h1.noise_n == 200).all()
    # the recorded value is chunk_stats at that epoch's parameters (same seeded chunking)
    model = load_model(tmp_path / "noise/iterates/epoch2.pt")
    st = noise.chunk_stats(model, data.train.head(200), 40, seed=0, tag=10_000 + 2)
    assert h1.b_simple.iloc[-1] == pytest.approx(st.b_simple, rel=1e-6)
