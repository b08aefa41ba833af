"""Remedies of the generalization gap: each module's defining property, their composition in the one
training loop, and determinism / resumability of runs that use them."""

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sharpminima.data.splits import Dataset, Split
from sharpminima.nets import models
from sharpminima.training import remedies
from sharpminima.training.remedies import Step, remedy_generator, validate
from sharpminima.training.remedies.adversarial import fgsm_delta, mix_adversarial, mix_mask
from sharpminima.training.remedies.augment import (
    AugmentConfig,
    affine_matrices,
    apply,
    augment,
    draw_params,
)
from sharpminima.training.remedies.ghost_bn import GhostBatchNorm1d, apply_ghost_bn
from sharpminima.training.remedies.lr_schedule import WarmupConfig, WarmupSchedule, lr_at, target_lr
from sharpminima.training.remedies.proximal import ProximalConfig, proximal_update
from sharpminima.training.remedies.sam import sam_gradient, sam_perturbation
from sharpminima.training.train import TrainSpec, train, train_epoch

CPU = torch.device("cpu")
ALL = {"augment": {"translate": 0.1, "rotate_deg": 10, "shear_deg": 5, "hflip": True},
       "proximal": {"lam": 1.0, "inner_steps": 2}, "fgsm": {"eps": 0.05, "mix": 0.5},
       "lr_warmup": {"scale_from_batch": 16, "warmup_epochs": 1},
       "ghost_bn": {"virtual_batch": 16}, "sam": {"rho": 0.05}}


def toy_dataset(n=192, seed=0, side=8):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = (torch.rand(n, 1, side, side, generator=g) * 80 + y[:, None, None, None] * 60)
    x = x.to(torch.uint8)
    return Dataset("toy", Split(x, y), Split(x[:48], y[:48]), 3, (1, side, side), {})


def toy_model(net="F1", seed=0, data=None):
    data = data or toy_dataset()
    return models.build(net, data.input_shape, data.num_classes, seed=seed)


def adam(model, lr=1e-2):
    return torch.optim.Adam(model.parameters(), lr=lr)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def batch_grad_fn(model, x, y):
    def grad_fn(acc):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if acc is not None:
            acc += loss.detach()
    return grad_fn


# ---------------------------------------------------------------- augmentation

def test_augment_preserves_shapes_and_is_deterministic_given_a_seed():
    x = torch.rand(10, 3, 12, 12)
    cfg = AugmentConfig(translate=0.2, rotate_deg=15, shear_deg=10, hflip=True)
    a = augment(x, cfg, torch.Generator().manual_seed(3))
    b = augment(x, cfg, torch.Generator().manual_seed(3))
    c = augment(x, cfg, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1  # bilinear + border padding stays in the pixel range


def test_augment_identity_and_flip_are_exact_maps():
    x = torch.rand(6, 1, 7, 7)
    none = AugmentConfig(translate=0, rotate_deg=0, shear_deg=0, hflip=False)
    assert torch.allclose(augment(x, none, torch.Generator().manual_seed(0)), x, atol=1e-6)
    flip_only = AugmentConfig(translate=0, rotate_deg=0, shear_deg=0, hflip=True)
    params = draw_params(6, flip_only, torch.Generator().manual_seed(1))
    out = apply(x, affine_matrices(params))
    expect = torch.where(params["flip"].view(-1, 1, 1, 1), x.flip(-1), x)
    assert params["flip"].any() and not params["flip"].all()
    assert torch.allclose(out, expect, atol=1e-6)


def test_augment_without_hflip_never_flips_and_rejects_feature_data():
    cfg = AugmentConfig(hflip=False)
    assert not draw_params(1000, cfg, torch.Generator().manual_seed(0))["flip"].any()
    with pytest.raises(ValueError, match="image batches"):
        augment(torch.rand(4, 12), cfg, torch.Generator())


def test_augmented_batches_keep_labels_and_do_not_depend_on_chunking():
    data = toy_dataset()
    idx = torch.arange(40, 80)
    outs = []
    for chunk in (None, 16):
        model = toy_model(data=data)
        step = Step(model, adam(model), data.train, 40, chunk, seed=5,
                    remedy={"augment": ALL["augment"]})
        chunks = step.inputs(idx, epoch=2, s=1)
        x = torch.cat([c[0] for c in chunks])
        y = torch.cat([c[1] for c in chunks])
        assert torch.equal(y, data.train.y[idx]) and x.shape == (40, 1, 8, 8)
        outs.append(x)
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(outs[0], data.train.batch(idx)[0])


# ---------------------------------------------------------------- conservative (proximal) training

def _proximal_run(lam, inner_steps, seed=0):
    data = toy_dataset()
    model = toy_model(data=data)
    opt = adam(model)
    x, y = data.train.batch(slice(0, 64))
    params = list(model.parameters())
    x0 = weights(model)
    proximal_update(opt, params, batch_grad_fn(model, x, y),
                    ProximalConfig(lam=lam, inner_steps=inner_steps), torch.zeros(()))
    return x0, weights(model), model, opt, (x, y)


@pytest.mark.parametrize("lam", [math.inf, 1e12])
def test_proximal_with_huge_lambda_leaves_x_unchanged(lam):
    x0, x1, *_ = _proximal_run(lam, inner_steps=3)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-9) for a, b in zip(x0, x1))
    if math.isinf(lam):
        assert all(torch.equal(a, b) for a, b in zip(x0, x1))


def test_proximal_with_zero_lambda_equals_plain_adam_steps():
    _, prox, _, _, (x, y) = _proximal_run(0.0, inner_steps=3)
    data = toy_dataset()
    model = toy_model(data=data)
    opt = adam(model)
    for _ in range(3):  # three plain Adam steps on the same batch
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(prox, weights(model)))


def test_proximal_term_pulls_towards_the_anchor():
    x0, free, *_ = _proximal_run(0.0, 3)
    _, held, *_ = _proximal_run(10.0, 3)
    dist = lambda w: sum(((a - b) ** 2).sum() for a, b in zip(w, x0)).sqrt()  # noqa: E731
    assert 0 < dist(held) < dist(free)


# ---------------------------------------------------------------- FGSM

def test_fgsm_has_exactly_the_declared_linf_norm_and_increases_the_loss():
    data = toy_dataset()
    model = toy_model(data=data).eval()
    x, y = data.train.batch(slice(0, 64))
    eps = 0.03
    delta = fgsm_delta(model, x, y, eps)
    eps32 = torch.tensor(eps).item()  # eps as the float32 the inputs are stored in
    assert delta.abs().max().item() == eps32
    assert set(delta.abs().unique().tolist()) <= {0.0, eps32}
    assert all(p.grad is None for p in model.parameters())  # weights' gradients untouched
    with torch.no_grad():
        assert F.cross_entropy(model(x + delta), y) > F.cross_entropy(model(x), y)
        # per example, too: every perturbed input is at L-inf distance eps
        assert torch.allclose((x + delta - x).flatten(1).abs().amax(1), torch.full((64,), eps))


def test_fgsm_mix_replaces_exactly_the_declared_fraction():
    mask = mix_mask(64, 0.25, torch.Generator().manual_seed(0))
    assert mask.sum() == 16
    assert torch.equal(mask, mix_mask(64, 0.25, torch.Generator().manual_seed(0)))
    data = toy_dataset()
    model = toy_model(data=data)
    x, y = data.train.batch(slice(0, 64))
    mixed = mix_adversarial(model, x, y, mask, 0.1)
    changed = (mixed != x).flatten(1).any(1)
    assert torch.equal(changed, mask)


# ---------------------------------------------------------------- ghost batch norm

@pytest.mark.parametrize("virtual_batch", [32, 100])
def test_ghost_bn_with_virtual_batch_at_least_the_batch_equals_plain_bn(virtual_batch):
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7, track_running_stats=False))
    ghost = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7, track_running_stats=False))
    ghost.load_state_dict(plain.state_dict())
    assert apply_ghost_bn(ghost, virtual_batch) == 1
    x = torch.randn(32, 5)
    out_p, out_g = plain(x), ghost(x)
    assert torch.equal(out_p, out_g)
    out_p.square().sum().backward()
    out_g.square().sum().backward()
    assert all(torch.equal(a.grad, b.grad) for a, b in zip(plain.parameters(), ghost.parameters()))


def test_ghost_bn_normalizes_each_virtual_batch_and_keeps_state_dict_and_eval():
    model = toy_model("C1")
    keys = list(model.state_dict())
    params = list(model.parameters())
    assert apply_ghost_bn(model, 8) == 4
    assert list(model.state_dict()) == keys and list(model.parameters()) == params
    bn = GhostBatchNorm1d(3, track_running_stats=False)
    bn.virtual_batch = 4
    x = torch.randn(10, 3)
    ref = torch.cat([F.batch_norm(p, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
                     for p in x.split(4)])
    assert torch.allclose(bn(x), ref, atol=1e-6)
    bn.eval()
    assert torch.allclose(bn(x), F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0,
                                              bn.eps), atol=1e-6)


# ---------------------------------------------------------------- SAM

def test_sam_perturbation_has_norm_rho_and_weights_are_restored():
    data = toy_dataset()
    model = toy_model(data=data).eval()  # no dropout in F1; eval keeps BN on batch statistics
    x, y = data.train.batch(slice(0, 64))
    params = list(model.parameters())
    batch_grad_fn(model, x, y)(None)
    g = [p.grad.clone() for p in params]
    e = sam_perturbation(params, 0.05)
    norm = torch.linalg.vector_norm(torch.cat([d.flatten().double() for d in e]))
    assert norm.item() == pytest.approx(0.05, rel=1e-6)
    cos = F.cosine_similarity(torch.cat([d.flatten().double() for d in e]),
                              torch.cat([d.flatten().double() for d in g]), dim=0)
    assert cos.item() == pytest.approx(1.0, abs=1e-6)  # e is along the gradient

    x0 = weights(model)
    for p in params:
        p.grad = None
    sam_gradient(params, batch_grad_fn(model, x, y), 0.05, lambda: model.zero_grad())(None)
    assert all(torch.equal(a, b) for a, b in zip(x0, weights(model)))
    sam_grad = [p.grad.clone() for p in params]
    with torch.no_grad():  # reference: the gradient at x + e
        for p, d in zip(params, e):
            p.add_(d)
    model.zero_grad()
    batch_grad_fn(model, x, y)(None)
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(sam_grad, params))


# ---------------------------------------------------------------- learning-rate warm-up

def test_warmup_reaches_the_scaled_rate_at_the_declared_step():
    cfg = WarmupConfig(scale_from_batch=256, warmup_epochs=2)
    sched = WarmupSchedule(cfg, base_lr=1e-3, batch=6000, steps_per_epoch=10)
    target = 1e-3 * 6000 / 256
    assert target_lr(1e-3, 6000, cfg) == target and sched.n_warmup == 20
    assert sched(0) == 1e-3
    assert sched(19) < target and sched(20) == target and sched(500) == target
    rates = [sched(t) for t in range(25)]
    assert rates == sorted(rates)
    assert sched(10) == pytest.approx((1e-3 + target) / 2)
    assert target_lr(1e-3, 1024, WarmupConfig(rule="sqrt")) == pytest.approx(2e-3)
    assert lr_at(0, 1.0, 4.0, 0) == 4.0  # no warm-up: the scaled rate from the first step


def test_warmup_in_training_sets_the_optimizer_rate(tmp_path):
    data = toy_dataset()
    spec = TrainSpec.from_dict(dict(net="F1", seed=0, batch_size=64, max_epochs=3, patience=None,
                                    eval_chunk=100, lr=1e-3,
                                    remedy={"lr_warmup": {"scale_from_batch": 16,
                                                          "warmup_epochs": 2}}))
    train(spec, data, tmp_path, CPU, log=lambda s: None)
    hist = pd.read_csv(tmp_path / "history.csv")
    # 3 steps per epoch, warm-up over 6 updates: the last update of epoch 2 is update 5
    assert hist.lr.iloc[0] == pytest.approx(1e-3 + 3e-3 * 2 / 6)
    assert hist.lr.iloc[1] == pytest.approx(1e-3 + 3e-3 * 5 / 6)
    assert hist.lr.iloc[2] == pytest.approx(4e-3)


# ---------------------------------------------------------------- config validation

def test_validation_names_the_bad_key():
    assert set(validate(ALL)) == set(ALL)
    with pytest.raises(ValueError, match="unknown remedy"):
        validate({"mixup": {}})
    with pytest.raises(ValueError, match=r"remedy 'sam': unknown option\(s\) \['radius'\]"):
        validate({"sam": {"radius": 0.1}})
    with pytest.raises(ValueError, match="rho must be > 0"):
        validate({"sam": {"rho": 0}})
    with pytest.raises(ValueError, match="unknown remedy"):
        TrainSpec.from_dict({"net": "F1", "seed": 0, "batch_size": 8, "remedy": {"flip": {}}})
    assert validate({"augment": None})["augment"] == AugmentConfig()  # `augment: {}` or null
    assert remedy_generator(1, 2, 3).initial_seed() != remedy_generator(1, 3, 2).initial_seed()


# ---------------------------------------------------------------- the one loop

def _reference_epoch(model, opt, data, batch, perm, chunk):
    """The training loop before remedies existed (copied from train.py), for bit-equality."""
    model.train()
    steps = len(perm) // batch
    total = torch.zeros(())
    for s in range(steps):
        idx = perm[s * batch:(s + 1) * batch]
        opt.zero_grad(set_to_none=True)
        for c in idx.split(chunk or batch):
            xb, yb = data.train.batch(c)
            loss = F.cross_entropy(model(xb), yb) * (len(c) / batch)
            loss.backward()
            total += loss.detach()
        opt.step()
    return (total / steps).item()


@pytest.mark.parametrize("chunk", [None, 24])
def test_empty_remedy_is_bit_identical_to_the_plain_loop(chunk):
    data = toy_dataset()
    perm = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    out = []
    for fn in ("reference", "step"):
        model = toy_model("C1", data=data)
        opt = adam(model, 1e-3)
        torch.manual_seed(1)  # dropout
        if fn == "reference":
            loss = [_reference_epoch(model, opt, data, 48, perm, chunk) for _ in range(2)]
        else:
            step = Step(model, opt, data.train, 48, chunk, remedy={})
            loss = [train_epoch(model, opt, data, 48, perm, chunk, step, e) for e in (1, 2)]
        out.append((loss, weights(model)))
    assert out[0][0] == out[1][0]
    assert all(torch.equal(a, b) for a, b in zip(out[0][1], out[1][1]))


def _spec(**kw):
    base = dict(net="F1", seed=0, batch_size=48, max_epochs=2, patience=None, eval_chunk=100,
                remedy=ALL)
    return TrainSpec.from_dict({**base, **kw})


@pytest.mark.parametrize("net,chunk", [("F1", None), ("C1", 24)])
def test_training_with_every_remedy_is_deterministic(tmp_path, net, chunk):
    data = toy_dataset(n=144)
    runs = [train(_spec(net=net, train_chunk=chunk), data, tmp_path / name, CPU,
                  log=lambda s: None) for name in ("a", "b")]
    assert runs[0]["status"] == "max_epochs"
    assert all(math.isfinite(r["train_loss"]) for r in runs)
    ha, hb = (pd.read_csv(tmp_path / n / "history.csv").drop(columns="epoch_s") for n in "ab")
    assert ha.equals(hb)
    assert runs[0]["spec"]["remedy"] == ALL
    sa, sb = (torch.load(tmp_path / n / "model.pt", weights_only=True)["state_dict"] for n in "ab")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_with_remedies_equals_uninterrupted(tmp_path):
    data = toy_dataset(n=144)
    full = train(_spec(max_epochs=3), data, tmp_path / "full", CPU, log=lambda s: None)

    def kill_after_1(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_spec(max_epochs=3), data, tmp_path / "cut", CPU, log=lambda s: None,
              on_epoch_end=kill_after_1)
    resumed = train(_spec(max_epochs=3), data, tmp_path / "cut", CPU, log=lambda s: None)
    for key in ("train_loss", "train_acc", "test_loss", "test_acc", "epochs"):
        assert resumed[key] == full[key], key


def test_each_remedy_changes_the_trajectory(tmp_path):
    """Every remedy is wired in: alone, each gives a run different from the plain one."""
    data = toy_dataset(n=96)
    plain = train(_spec(remedy={}, max_epochs=1), data, tmp_path / "plain", CPU,
                  log=lambda s: None)
    for name, opts in ALL.items():
        if name == "ghost_bn":
            opts = {"virtual_batch": 16}
        m = train(_spec(remedy={name: opts}, max_epochs=1), data, tmp_path / name, CPU,
                  log=lambda s: None)
        assert m["train_loss"] != plain["train_loss"], name
    assert remedies.REMEDIES.keys() == ALL.keys()
