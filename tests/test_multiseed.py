"""Multi-seed training (sharpminima.training.multiseed) equals each seed trained alone by the
regular loop.

What "equal" can mean, and the tolerances (CPU):
- Adam makes bit-for-bit comparisons of two float32 trajectories meaningless beyond a few steps:
  its first updates are ~lr * sign(g) per entry, so an entry whose true gradient is ~0 (e.g. the
  bias of a Linear/Conv followed by batch-statistics BN, whose gradient is exactly 0 in exact
  arithmetic) moves by +-lr depending on the sign of its rounding noise. Batched (vmapped) and
  single kernels round differently, so such entries differ after one step, and the loss is by
  construction insensitive to them. Therefore:
  1. float64 trajectories (2 epochs): every parameter except the biases feeding a BN layer agrees
     within rtol 1e-7 (observed ~1e-12); the BN-fed biases are checked through the function:
     train/test losses within 1e-9 relative.
  2. float32, one step from the same point: each seed's gradient agrees with the single-seed
     gradient within 1e-5 of the tensor's largest entry (the BN-fed biases: both below 1e-5 of
     their layer's weight gradient, i.e. both zero up to noise); the losses within 1e-6 relative.
  3. Adam over stacked parameters equals S separate Adams bit for bit given the same gradients.
  4. float32 trajectories of F1 (2 epochs): per-seed train/test loss within 1e-2 relative and
     accuracy within 2 examples (function level; the parameter-level drift is the Adam effect
     above). Not asserted for C1, whose float32 trajectories here move 10-25% in the loss under
     any rounding change, e.g. channels_last alone (1 and 2 hold for it).
"""

import pytest
import torch
import torch.nn.functional as F

from multiseed_helpers import train_seeds
from sharpminima.data.splits import Dataset, Split
from sharpminima.nets import models
from sharpminima.nets.evaluate import evaluate
from sharpminima.training import remedies
from sharpminima.training.multiseed import MultiSeed
from sharpminima.training.train import TrainSpec, epoch_permutation, train_epoch

SEEDS = [0, 3, 7]


class DoubleSplit(Split):
    """A split whose batches are float64 (Split.batch always gives float32)."""

    def batch(self, index):
        xb, yb = super().batch(index)
        return xb.double(), yb


def toy(n=200, seed=0, shape=(1, 8, 8), classes=3, double=False) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)
    x = (torch.rand(n, *shape, generator=g) * 200 + y.view(-1, *[1] * len(shape)) * 20)
    x = x.to(torch.uint8)
    S = DoubleSplit if double else Split
    return Dataset("toy", S(x, y), S(x[:50], y[:50]), classes, shape, {})


def builder(net, data, double=False):
    """The net (dropout disabled so that C1 compares step for step), optionally in float64."""
    def build(seed):
        m = models.build(net, data.input_shape, data.num_classes, seed=seed)
        for mod in m.modules():
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
        return m.double() if double else m
    return build


def bn_fed_biases(model) -> set[str]:
    """Names of biases of layers directly followed by a BatchNorm (exactly zero gradient)."""
    mods = list(model.named_modules())[1:]
    out = set()
    for (name, m), (_, nxt) in zip(mods, mods[1:]):
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)) and isinstance(
                nxt, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            out.add(f"{name}.bias")
    return out


def alone(build, seed, data, batch, epochs):
    """The regular single-seed loop (train.train_epoch with the plain Adam step)."""
    model = build(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = remedies.Step(model, opt, data.train, batch)
    for epoch in range(1, epochs + 1):
        train_epoch(model, opt, data, batch, epoch_permutation(len(data.train), seed, epoch),
                    None, step, epoch)
    return model


@pytest.mark.parametrize("net", ["F1", "C1"])
def test_float64_trajectories_equal_the_seeds_trained_alone(net):
    data = toy(double=True)
    build = builder(net, data, double=True)
    ms = MultiSeed(SEEDS, data, batch=32, build=build)
    for epoch in (1, 2):
        ms.train_epoch(epoch)
    skip = bn_fed_biases(build(0))
    assert skip  # F1 and C1 have Linear/Conv -> BN pairs
    for i, seed in enumerate(SEEDS):
        ref_model = alone(build, seed, data, 32, 2)
        ref, got, x0 = ref_model.state_dict(), ms.state_dict(i), build(seed).state_dict()
        assert set(got) == set(ref)
        for k in set(ref) - skip:
            assert not torch.equal(ref[k], x0[k]), k  # it did train
            torch.testing.assert_close(got[k], ref[k], rtol=1e-7, atol=1e-10, msg=f"{seed} {k}")
        for split in (data.train, data.test):
            want = evaluate(ref_model, split, 50)
            assert ms.evaluate(i, split, 50) == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("net", ["F1", "C1"])
def test_float32_first_step_gradients_equal(net):
    data = toy()
    build = builder(net, data)
    ms = MultiSeed(SEEDS, data, batch=32, build=build)
    idx = ms.permutations(1)[:, :32]
    skip = bn_fed_biases(build(0))
    xb, yb = data.train.batch(idx)
    losses = ms._losses(ms.params, ms.buffers, xb, yb)
    losses.sum().backward()
    for i, seed in enumerate(SEEDS):
        m = build(seed)
        loss = F.cross_entropy(m(data.train.batch(idx[i])[0]), data.train.batch(idx[i])[1])
        loss.backward()
        assert losses[i].item() == pytest.approx(loss.item(), rel=1e-6)
        grads = dict(m.named_parameters())
        for name, p in grads.items():
            got = ms.params[name].grad[i]
            if name in skip:  # zero in exact arithmetic: both must be noise, far below the weight's
                scale = grads[name.replace(".bias", ".weight")].grad.abs().max().item()
                assert max(got.abs().max().item(), p.grad.abs().max().item()) <= 1e-5 * scale
                continue
            bound = 1e-5 * p.grad.abs().max().item()
            assert (got - p.grad).abs().max().item() <= bound, (seed, name)


def test_one_adam_over_stacked_parameters_equals_separate_adams():
    torch.manual_seed(0)
    stacked = torch.randn(3, 5, 4, requires_grad=True)
    singles = [stacked[i].detach().clone().requires_grad_() for i in range(3)]
    opt = torch.optim.Adam([stacked], lr=1e-2)
    opts = [torch.optim.Adam([p], lr=1e-2) for p in singles]
    for _ in range(4):
        grads = torch.randn(3, 5, 4)
        stacked.grad = grads.clone()
        opt.step()
        for p, o, g in zip(singles, opts, grads):
            p.grad = g.clone()
            o.step()
    for i in range(3):
        assert torch.equal(stacked[i].detach(), singles[i].detach())


def test_float32_trajectories_agree_in_function():
    # F1 only: C1's float32 trajectories on this toy problem are chaotic at the 10-25% level in
    # the loss after 12 steps under ANY rounding change (measured: the single-seed loop with
    # channels_last weights vs without moves the test loss by up to 25%); the float64 test above
    # shows the algorithm is the same. F1's agree to ~1e-5.
    net = "F1"
    data = toy()
    build = builder(net, data)
    ms = MultiSeed(SEEDS, data, batch=32, build=build)
    for epoch in (1, 2):
        ms.train_epoch(epoch)
    for i, seed in enumerate(SEEDS):
        ref = alone(build, seed, data, 32, 2)
        for split in (data.train, data.test):
            (l_ref, a_ref), (l_got, a_got) = evaluate(ref, split, 50), ms.evaluate(i, split, 50)
            assert l_got == pytest.approx(l_ref, rel=1e-2)
            assert abs(a_got - a_ref) * len(split) <= 2


def test_train_seeds_histories_and_stopping_rule():
    data = toy()
    spec = TrainSpec.from_dict(dict(net="F1", seed=0, batch_size=32, max_epochs=3, patience=None,
                                    eval_chunk=100))
    out = train_seeds(spec, [0, 1], data)
    assert [o["seed"] for o in out] == [0, 1]
    assert all(o["epochs"] == 3 and o["status"] == "max_epochs" for o in out)
    ref = alone(builder("F1", data), 1, data, 32, 3)
    loss, _ = evaluate(ref, data.train, 100)
    assert out[1]["history"][-1]["train_loss"] == pytest.approx(loss, rel=1e-2)
    # patience: every seed stops and keeps the snapshot of its own stopping epoch
    stop = TrainSpec.from_dict(dict(net="F1", seed=0, batch_size=32, max_epochs=50, patience=1,
                                    min_delta=0.5, eval_chunk=100))
    out = train_seeds(stop, [0, 1], data)
    assert all(o["status"] == "converged" and o["epochs"] < 50 for o in out)


def test_unsupported_options_are_errors():
    data = toy()
    with pytest.raises(ValueError, match="plain Adam"):
        train_seeds(TrainSpec.from_dict(dict(net="F1", seed=0, batch_size=32, train_chunk=8)),
                    [0], data)
    with pytest.raises(ValueError, match="bn='batch'"):
        MultiSeed([0], data, 32, net="F1", bn="running")
    with pytest.raises(ValueError, match="distinct"):
        MultiSeed([0, 0], data, 32, net="F1")
