import math

import pytest
import torch

from sharpminima.nets import models

PAPER_COUNTS = {"F1": 1_462_794, "F2": 2_780_085, "C1": 1_757_834, "C2": 14_991_946,
                "C3": 1_775_204, "C4": 15_038_116}
SHAPES = {"mnist": ((1, 28, 28), 10), "timit": ((360,), 1973), "cifar10": ((3, 32, 32), 10),
          "cifar100": ((3, 32, 32), 100)}


@pytest.mark.parametrize("net", list(PAPER_COUNTS))
def test_trainable_parameter_counts_match_paper(net):
    shape, classes = SHAPES[models.NETS[net].dataset]
    assert models.count_trainable(models.build(net, shape, classes)) == PAPER_COUNTS[net]


@pytest.mark.parametrize("net", ["C1", "C2"])
def test_conv_nets_adapt_to_28x28x1(net):
    model = models.build(net, (1, 28, 28), 10).eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_same_pool_matches_tensorflow_padding():
    # TF "same" for k=3, s=2 on length 8: out = 4, total pad 1, all of it at the end.
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    out = models.SamePool2d(3, 2)(x)
    assert out.shape == (1, 1, 4, 4)
    expected = torch.tensor([[x[0, 0, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max() for j in range(4)]
                             for i in range(4)])
    assert torch.equal(out[0, 0], expected)
    # odd length 7 with k=3, s=2: out 4, total pad 2 split 1/1
    assert models.SamePool2d(3, 2)(torch.rand(1, 1, 7, 7)).shape == (1, 1, 4, 4)


def test_glorot_uniform_init_and_zero_bias():
    model = models.build("F1", (1, 28, 28), 10, seed=0)
    lin = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][0]
    bound = math.sqrt(6 / (784 + 512))
    assert lin.weight.abs().max() <= bound and lin.weight.abs().max() > 0.95 * bound
    assert torch.count_nonzero(lin.bias) == 0


def test_same_seed_same_initial_point():
    a = models.build("C1", (1, 28, 28), 10, seed=3).state_dict()
    b = models.build("C1", (1, 28, 28), 10, seed=3).state_dict()
    c = models.build("C1", (1, 28, 28), 10, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_batch_norm_modes():
    batch = models.build("F1", (1, 28, 28), 10, bn="batch")
    running = models.build("F1", (1, 28, 28), 10, bn="running")
    assert not any("running_mean" in k for k in batch.state_dict())
    assert any("running_mean" in k for k in running.state_dict())
    # batch statistics at test time: an example's output depends on its chunk
    batch.eval()
    x = torch.rand(8, 1, 28, 28)
    assert not torch.allclose(batch(x)[:4], batch(x[:4]))
    running.eval()
    assert torch.allclose(running(x)[:4], running(x[:4]), atol=1e-6)
    with pytest.raises(ValueError):
        models.build("F1", (1, 28, 28), 10, bn="bogus")


# --- R18: ResNet-18, CIFAR variant (beyond the paper) --------------------------------------------

def test_resnet18_has_the_cifar_variants_parameter_count():
    """He et al. 2016's ResNet-18 as the CIFAR literature trains it: 11,173,962 trainable
    parameters on CIFAR-10 (3x3 stem, no max pool, bias-free convs, BN, 1x1 projection)."""
    model = models.build("R18", (3, 32, 32), 10)
    assert models.count_trainable(model) == 11_173_962
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3 and all(c.bias is None for c in convs)  # stem, blocks, 1x1
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert models.count_trainable(models.build("R18", (3, 32, 32), 100)) == 11_220_132


def test_resnet18_follows_the_bn_option_and_glorot():
    batch = models.build("R18", (3, 32, 32), 10, bn="batch", seed=0)
    running = models.build("R18", (3, 32, 32), 10, bn="running", seed=0)
    assert not any("running_mean" in k for k in batch.state_dict())
    assert sum("running_mean" in k for k in running.state_dict()) == 1 + 16 + 3
    stem = next(m for m in batch.modules() if isinstance(m, torch.nn.Conv2d))
    bound = math.sqrt(6 / (3 * 9 + 64 * 9))  # Glorot uniform: fan_in + fan_out of a 3x3 conv
    assert stem.weight.abs().max() <= bound and stem.weight.abs().max() > 0.9 * bound
    assert batch.eval()(torch.rand(2, 1 * 3, 32, 32)).shape == (2, 10)
    assert models.build("R18", (1, 28, 28), 10).eval()(torch.rand(2, 1, 28, 28)).shape == (2, 10)
