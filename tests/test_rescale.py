"""The reparametrization test (nets.rescale; the `reparam` verb): rescaling every BN-fed layer
leaves the logits unchanged while Metric 2.1 moves and the adaptive measures stay; a change that
is not function-preserving fails loudly."""

import json

import numpy as np
import pytest
import torch

from sharpminima.data.splits import Split
from sharpminima.measures.generalization import generalization_measures
from sharpminima.measures.sharpness import sharpness
from sharpminima.nets import models
from sharpminima.nets.rescale import (
    RescaleError,
    bn_fed_layers,
    check_logits,
    logit_deviation,
    rescale,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHAPE, CLASSES, N = (1, 8, 8), 4, 48


@pytest.fixture(scope="module")
def split():
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (N, *SHAPE), generator=g, dtype=torch.uint8),
                 torch.randint(0, CLASSES, (N,), generator=g))


def test_the_bn_fed_layers_of_the_papers_nets():
    f1 = models.build("F1", SHAPE, CLASSES, seed=0)
    assert [name for name, _, _ in bn_fed_layers(f1)] == ["1", "4", "7", "10", "13"]
    c1 = models.build("C1", SHAPE, CLASSES, seed=0)
    kinds = [type(layer).__name__ for _, layer, _ in bn_fed_layers(c1)]
    assert kinds == ["Conv2d", "Conv2d", "Linear", "Linear"]  # the classifier feeds no BN
    with pytest.raises(RescaleError, match="no Linear/Conv"):
        rescale(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4)), 2.0)


@pytest.mark.parametrize("net", ["F1", "C1"])
@pytest.mark.parametrize("alpha", [0.1, 10.0])
def test_rescaling_leaves_the_logits_unchanged(net, alpha, split):
    model = models.build(net, SHAPE, CLASSES, seed=0)
    before = [t.clone() for t in model.state_dict().values()]
    new = rescale(model, alpha, scale_bn_eps=True)
    assert check_logits(model, new, split, 16, tolerance=1e-4) < 1e-4
    assert all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values()))
    _, layer, _ = bn_fed_layers(new)[0]
    _, old, _ = bn_fed_layers(model)[0]
    assert torch.allclose(layer.weight, alpha * old.weight)
    # BN's eps kept: the same function only up to eps / (alpha^2 var), still close at alpha = 10
    if alpha == 10.0:
        assert logit_deviation(model, rescale(model, alpha), split, 16) < 1e-2


def test_running_statistics_are_rescaled_too(split):
    model = models.build("F1", SHAPE, CLASSES, bn="running", seed=0)
    model.train()
    with torch.no_grad():
        for xb, _ in split.chunks(16):
            model(xb)  # running averages away from (0, 1)
    new = rescale(model, 0.1, scale_bn_eps=True)
    assert check_logits(model, new, split, 16, tolerance=1e-4) < 1e-4


def test_a_change_that_is_not_function_preserving_fails_loudly(split):
    model = models.build("F1", SHAPE, CLASSES, seed=0)
    changed = rescale(model, 1.0)
    with torch.no_grad():
        changed[-1].weight.mul_(1.5)  # the classifier: no BN after it
    with pytest.raises(RescaleError, match=r"deviate by [0-9.e+-]+ .*above the tolerance 0.0001"):
        check_logits(model, changed, split, 16, tolerance=1e-4)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        rescale(model, -1.0)


def test_metric_2_1_moves_while_the_adaptive_measures_stay(split):
    model = models.build("F1", SHAPE, CLASSES, seed=0)
    options = dict(rho_linf=0.01, rho_l2=0.1, sigma=0.01, sigma_adaptive=0.1, samples=2,
                   steps=3, chunk=N)
    metric, measures = {}, {}
    for alpha in (0.1, 10.0):
        new = rescale(model, alpha, scale_bn_eps=True)
        metric[alpha] = sharpness(new, split, 1e-3, iters=2, chunk=N, sign_steps=2)
        measures[alpha] = generalization_measures(new, split, **options)
    assert metric[0.1]["sharpness_best"] > 3 * metric[10.0]["sharpness_best"]
    for key in ("f_x", "adaptive_linf", "adaptive_l2", "avg_adaptive"):
        assert measures[0.1][key] == pytest.approx(measures[10.0][key], rel=1e-3), key
    assert measures[0.1]["avg_gaussian"] > 2 * measures[10.0]["avg_gaussian"]
    assert measures[0.1]["param_norm"] < measures[10.0]["param_norm"]


def _run_folder(tmp_path, split):
    from sharpminima.nets.checkpoint import save_model
    run = tmp_path / "run"
    run.mkdir()
    save_model(models.build("F1", SHAPE, CLASSES, seed=3), "F1", "batch", SHAPE, CLASSES,
               run / "model.pt")
    (run / "metrics.json").write_text(json.dumps(
        {"net": "F1", "regime": "SB", "seed": 3, "dataset": "toy", "status": "ok", "spec": {}}))
    data = tmp_path / "toy.npz"
    np.savez(data, x_train=split.x.numpy(), y_train=split.y.numpy(), x_test=split.x[:2].numpy(),
             y_test=split.y[:2].numpy(), meta=json.dumps({"name": "toy", "num_classes": CLASSES}))
    return run / "model.pt", data


def _reparam_argv(model, data, tmp_path, *extra):
    return ["reparam", "--model", str(model), "--data", str(data), "--chunk", str(N),
            "--out", str(tmp_path / "r.json"), "--out-csv", str(tmp_path / "r.csv"),
            "--device", "cpu", "--threads", "1", "--gpu-lock-dir", "",
            "--alphas", "0.1", "1", "10", "--eps", "1e-3", "--space", "full", "--dim", "2",
            "--a-dist", "gaussian", "--a-seed", "0", "--iters", "2",
            "--second-maximizer", "sign_ascent", "--sign-steps", "2", "--sign-step", "1",
            "--rho-linf", "0.01", "--rho-l2", "0.1", "--eta", "0", "--steps", "2", "--step", "1",
            "--sigma", "0.01", "--sigma-adaptive", "0.1", "--samples", "2", "--seed", "0",
            "--hessian-k", "1", "--hessian-seed", "0", "--hessian-tol", "1e-2", *extra]


def test_reparam_verb_writes_one_row_per_alpha_and_fails_loudly(tmp_path, split, capsys):
    import pandas as pd

    from sharpminima.cli.main import main
    model, data = _run_folder(tmp_path, split)
    assert main(_reparam_argv(model, data, tmp_path, "--tolerance", "1e-4",
                              "--bn-eps", "scale")) == 0
    rows = pd.read_csv(tmp_path / "r.csv")
    assert list(rows["alpha"]) == [0.1, 1.0, 10.0] and (rows["logit_deviation"] < 1e-4).all()
    assert (rows["seed"] == 3).all() and rows["hessian_top"].notna().all()
    assert rows["sharpness_best"].iloc[0] > rows["sharpness_best"].iloc[2]
    assert rows["hessian_top"].iloc[0] > rows["hessian_top"].iloc[2]
    assert np.allclose(rows["adaptive_linf"], rows["adaptive_linf"].iloc[1], rtol=1e-3)
    record = json.loads((tmp_path / "r.json").read_text())
    assert len(record["rows"]) == 3 and "provenance" in record
    # BN's eps kept and a tolerance below what alpha = 0.1 leaves: the verb fails, loudly
    (tmp_path / "r.csv").unlink()
    assert main(_reparam_argv(model, data, tmp_path, "--tolerance", "1e-9",
                              "--bn-eps", "keep")) == 1
    assert "not the same function" in capsys.readouterr().err
    assert not (tmp_path / "r.csv").exists()
