"""Speed options (sharpminima.training.speed) through the real training loop (train.train).

Fidelity guard for the SAFE options (compile, channels_last): tiny trainings (C1 and F1 on a
generated, learnable but noisy 3-class problem, 360 training / 90 test examples, 4 epochs, seeds
0-2) with both options on reach the same accuracies as with both off:
  - the mean over the 3 seeds of train and of test accuracy within MEAN_TOL = 0.05;
  - every single seed within SEED_TOL = 0.12 (about 3 binomial standard errors of a 90-example
    test accuracy near 0.8).
Why not equality: both options change float32 rounding, which Adam amplifies along the trajectory
as a change of thread count would (tests/test_multiseed.py: channels_last alone moves a toy C1
loss by 10-25% after 12 steps), so a single seed's test accuracy moves by a few examples (observed
up to 8 of 90 for C1, while the seed-to-seed spread of the same setting is ~4 examples); the
seed means agree to 0.01-0.02 (observed). What the paper reports are such means over seeds.
The GPU-only options (tf32, autocast_bf16) must be exact no-ops on a CPU: bit-identical histories.
"""

import json
import os

import pandas as pd
import pytest
import torch

from sharpminima.data.splits import Dataset, Split
from sharpminima.nets.checkpoint import load_model
from sharpminima.training import speed
from sharpminima.training.train import TrainSpec, train

CPU = torch.device("cpu")
MEAN_TOL, SEED_TOL = 0.05, 0.12
SEEDS = (0, 1, 2)


def toy_dataset(n=360, n_test=90, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n + n_test,), generator=g)
    x = (torch.rand(n + n_test, 1, 8, 8, generator=g) * 200 + y[:, None, None, None] * 20)
    x = x.to(torch.uint8)
    return Dataset("toy", Split(x[:n], y[:n]), Split(x[n:], y[n:]), 3, (1, 8, 8), {})


def spec(**kw):
    base = dict(net="C1", seed=0, batch_size=32, max_epochs=4, patience=None, eval_chunk=100)
    return TrainSpec.from_dict({**base, **kw})


def quiet(_):
    pass


def test_parse_and_errors():
    assert speed.parse(None) == speed.SpeedOptions()
    assert speed.parse({"compile": True}).enabled() == ["compile"]
    opts = speed.parse({"tf32": True, "channels_last": True})
    assert opts.effective("cpu") == ["channels_last"]
    assert opts.effective("cuda") == ["channels_last", "tf32"]
    with pytest.raises(ValueError, match="unknown speed"):
        speed.parse({"fast": True})
    with pytest.raises(ValueError, match="true/false"):
        speed.parse({"compile": "yes"})
    with pytest.raises(ValueError, match="unknown speed"):
        TrainSpec.from_dict(dict(net="F1", seed=0, batch_size=8, speed={"turbo": True}))


def test_gpu_only_options_are_exact_no_ops_on_cpu(tmp_path):
    data = toy_dataset()
    logs = []
    off = train(spec(net="F1", max_epochs=2), data, tmp_path / "off", CPU, log=quiet)
    on = train(spec(net="F1", max_epochs=2, speed={"tf32": True, "autocast_bf16": True}), data,
               tmp_path / "on", CPU, log=logs.append)
    assert any("CUDA devices only" in line for line in logs)
    a = pd.read_csv(tmp_path / "off/history.csv").drop(columns="epoch_s")
    b = pd.read_csv(tmp_path / "on/history.csv").drop(columns="epoch_s")
    assert a.equals(b) and off["test_loss"] == on["test_loss"]
    assert torch.get_float32_matmul_precision() == "highest"  # nothing leaked


# torch.compile (Inductor) compiles C++ kernels on a CPU for minutes per model: the default suite
# checks channels_last only; SHARPMINIMA_TEST_COMPILE=1 adds compile to both tests below.
WITH_COMPILE = os.environ.get("SHARPMINIMA_TEST_COMPILE") == "1"
CHECKED = {name: True for name in speed.SAFE if WITH_COMPILE or name != "compile"}


def test_fused_adam_is_the_same_update_to_rounding():
    """fused_adam: PyTorch's fused kernel computes the default Adam's update; after 20 steps on the
    same gradients (bias corrections, moments and all) the parameters agree to float32 rounding."""
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(300, 7, generator=g), torch.randn(11, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(20)]
    results = []
    for options in ({}, {"fused_adam": True}):
        params = [p.clone().requires_grad_() for p in start]
        opt = speed.adam(params, options, lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
        assert opt.defaults["fused"] is (True if options else None)
        for step in grads:
            for p, gr in zip(params, step):
                p.grad = gr.clone()
            opt.step()
        results.append(params)
    for a, b in zip(*results):
        assert not torch.equal(a, start[0] if a.shape == start[0].shape else start[1])
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_channels_last_and_compile_keep_checkpoints_plain(tmp_path):
    data = toy_dataset()
    m = train(spec(max_epochs=1, speed=CHECKED), data, tmp_path, CPU, log=quiet)
    state = torch.load(tmp_path / "model.pt", weights_only=True)["state_dict"]
    assert not any(k.startswith("_orig_mod") for k in state)
    model = load_model(tmp_path / "model.pt")  # a plain model, loads as usual
    assert isinstance(model, torch.nn.Sequential)
    assert json.loads((tmp_path / "metrics.json").read_text())["spec"]["speed"] == CHECKED
    assert 0 <= m["test_acc"] <= 1


@pytest.mark.parametrize("net", ["C1", "F1"])
def test_safe_options_keep_accuracies_within_tolerance(tmp_path, net):
    data = toy_dataset()
    safe = CHECKED
    diffs = {"train_acc": [], "test_acc": []}
    for seed in SEEDS:
        ref = train(spec(net=net, seed=seed), data, tmp_path / f"off{seed}", CPU, log=quiet)
        fast = train(spec(net=net, seed=seed, speed=safe), data, tmp_path / f"on{seed}", CPU,
                     log=quiet)
        assert ref["train_acc"] > 0.6  # learnable: the comparison means something
        for key, d in diffs.items():
            d.append(fast[key] - ref[key])
            assert abs(d[-1]) <= SEED_TOL, (net, seed, key, ref[key], fast[key])
    for key, d in diffs.items():
        assert abs(sum(d) / len(d)) <= MEAN_TOL, (net, key, d)
