"""Networks of the user's own (nets.<name>.builder) and datasets of the user's own
(datasets.<name>: path, kind): loading, checks at config load, hashing, checkpoints, import."""

import json
import math
import textwrap

import numpy as np
import pytest
import torch

from sharpminima.core import configcheck
from sharpminima.core.configcheck import ConfigError
from sharpminima.data import datasets as ds_registry
from sharpminima.data.datasets import resolve
from sharpminima.data.fetch import FetchError, fetch
from sharpminima.data.prepare import PrepareError, prepare
from sharpminima.data.splits import load as load_split
from sharpminima.nets import builders, models
from sharpminima.nets.checkpoint import load_checkpoint, load_model, save_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GOOD = """
from torch import nn


def build(input_shape, num_classes, bn):
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 16),
                         nn.BatchNorm1d(16, track_running_stats=(bn == "running")), nn.ReLU(),
                         nn.Linear(16, num_classes))


def wrong_width(input_shape, num_classes, bn):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, num_classes + 1))


def not_a_module(input_shape, num_classes, bn):
    return [nn.Linear(784, num_classes)]


NOT_CALLABLE = 3
"""


def quiet(_):
    pass


@pytest.fixture
def netfile(tmp_path):
    path = tmp_path / "usernet.py"
    path.write_text(textwrap.dedent(GOOD))
    return path


def config_with(ref, net="Mine", dataset="fashion_mnist", **extra):
    return {"nets": {net: {"dataset": dataset, "builder": ref, **extra}},
            "regimes": {"SB": {"batch_size": 32}}, "seeds": [0], "train": {"bn": "batch"}}


def builder_error(config) -> str:
    with pytest.raises(ConfigError) as err:
        builders.check_config(config)
    return str(err.value)


# --- the checks at config load, each naming the key and the fix -----------------------------------

def test_a_good_builder_passes(netfile):
    builders.check_config(config_with(f"{netfile}:build"))


@pytest.mark.parametrize("ref, says", [
    ("no_such_module_xyz:build", "module 'no_such_module_xyz' cannot be imported"),
    ("{file}:missing", "has no function 'missing' (it defines: build, not_a_module, wrong_width)"),
    ("{file}:NOT_CALLABLE", "is a int, not a function"),
    ("{file}:not_a_module", "returned a list, not a torch.nn.Module"),
    ("{file}:wrong_width", "returns (2, 11), expected logits of shape (2, 10)"),
    ("{dir}/absent.py:build", "no such file"),
    ("build", "expected 'package.module:function' or 'path/to/file.py:function'"),
])
def test_bad_builders_are_refused_naming_the_key(netfile, ref, says):
    ref = ref.format(file=netfile, dir=netfile.parent)
    message = builder_error(config_with(ref))
    assert message.startswith(f"config: nets.Mine.builder = {ref!r}: ")
    assert says in message
    assert "(input_shape, num_classes, bn) -> torch.nn.Module" in message  # the fix: the contract


def test_a_module_builder_is_imported_and_hashed_with_what_it_uses():
    ref = "sharpminima.nets.models:resnet18"  # any importable function of the contract
    builders.check_config(config_with(ref, dataset="cifar10"))
    described = builders.describe(ref)
    assert described == {"ref": ref, "init": "glorot", "code": described["code"]}
    from sharpminima.core.codehash import code_hash
    assert described["code"] == code_hash("sharpminima.nets.models", "resnet18")


def test_unknown_net_without_builder_and_registry_net_with_one_are_config_errors(netfile):
    config = config_with(None, net="Mine")
    assert any("nets.Mine is not a network of the registry" in p and "nets.Mine.builder" in p
               for p in configcheck.find_problems(config))
    config = config_with(f"{netfile}:build", net="C1")
    assert any(p.startswith("config: nets.C1.builder: C1 is a network of the registry")
               for p in configcheck.find_problems(config))


def test_configcheck_knows_the_registries():
    assert configcheck.REGISTRY_NETS == tuple(models.NETS)
    assert set(configcheck.REGISTRY_DATASETS) == set(ds_registry.DATASETS)
    assert set(configcheck.USER_FILE_DATASETS) == {n for n, s in ds_registry.DATASETS.items()
                                                   if s.user_file}


# --- building, init, hashing, checkpoints --------------------------------------------------------

def test_glorot_applies_unless_the_builder_opts_out(netfile):
    ref = f"{netfile}:build"
    glorot = models.build("Mine", (1, 28, 28), 10, seed=0, builder=builders.describe(ref))
    own = models.build("Mine", (1, 28, 28), 10, seed=0,
                       builder=builders.describe(ref, init="builder"))
    bound = math.sqrt(6 / (784 + 16))
    w_glorot, w_own = glorot[1].weight, own[1].weight
    assert w_glorot.abs().max() <= bound and w_glorot.abs().max() > 0.95 * bound
    assert torch.count_nonzero(glorot[1].bias) == 0
    assert w_own.abs().max() <= 1 / math.sqrt(784) < 0.95 * bound  # PyTorch's own default
    assert torch.count_nonzero(own[1].bias) > 0
    with pytest.raises(builders.BuilderError, match="init must be one of"):
        builders.describe(ref, init="kaiming")


def test_editing_the_builder_changes_its_hash(netfile):
    ref = f"{netfile}:build"
    before = builders.describe(ref)["code"]
    netfile.write_text(netfile.read_text().replace("16", "24"))
    assert builders.describe(ref)["code"] != before


def test_a_checkpoint_rebuilds_the_users_network(tmp_path, netfile):
    builder = builders.describe(f"{netfile}:build")
    model = models.build("Mine", (1, 28, 28), 10, seed=1, builder=builder)
    save_model(model, "Mine", "batch", (1, 28, 28), 10, tmp_path / "model.pt", builder=builder)
    meta, _ = load_checkpoint(tmp_path / "model.pt")
    assert meta["builder"] == builder and meta["net"] == "Mine"
    again = load_model(tmp_path / "model.pt").eval()
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(again(x), model.eval()(x))
    with pytest.raises(KeyError, match="nets.Mine.builder"):
        models.build("Mine", (1, 28, 28), 10)


# --- datasets of the user's own: the TIMIT import, generalized ----------------------------------

def write_images_npz(path, n_train=40, n_test=10, shape=(1, 12, 12), classes=4, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        arrays[f"y_{split}"] = np.arange(n) % classes
        arrays[f"x_{split}"] = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    np.savez(path, **arrays)
    return arrays


def test_an_images_npz_is_fetched_checksummed_and_prepared(tmp_path):
    want = write_images_npz(tmp_path / "mine.npz")
    spec = resolve("mine", {"path": str(tmp_path / "mine.npz"), "kind": "images"})
    manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    record = manifest["files"][0]
    assert record["source"] == "datasets.mine.path" and len(record["sha256"]) == 64
    meta = prepare(spec, tmp_path / "raw", tmp_path / "mine_prepared.npz")
    assert meta["num_classes"] == 4 and meta["input_shape"] == [1, 12, 12]  # from the labels
    data = load_split(tmp_path / "mine_prepared.npz")
    assert data.input_shape == (1, 12, 12) and data.num_classes == 4
    with np.load(tmp_path / "mine_prepared.npz") as out:
        np.testing.assert_array_equal(out["x_train"], want["x_train"])
    # changed after fetch: prepare refuses it (the manifest's checksum)
    write_images_npz(tmp_path / "mine.npz", seed=1)
    with pytest.raises(PrepareError, match="changed since it was fetched"):
        prepare(spec, tmp_path / "raw", tmp_path / "again.npz")


def test_a_features_npz_with_declared_classes(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "f.npz", x_train=rng.normal(size=(30, 5)).astype(np.float32),
             y_train=np.arange(30) % 3, x_test=rng.normal(size=(6, 5)).astype(np.float32),
             y_test=np.arange(6) % 3)
    spec = resolve("feats", {"path": str(tmp_path / "f.npz"), "kind": "features",
                             "num_classes": 7})
    fetch(spec, tmp_path / "raw", log=quiet)
    assert prepare(spec, tmp_path / "raw", tmp_path / "out.npz")["num_classes"] == 7


@pytest.mark.parametrize("change, says", [
    ({"x_train": np.zeros((40, 12, 12), np.uint8)}, "x_train must be a 4-D uint8 array"),
    ({"x_test": np.zeros((10, 1, 12, 12), np.float32)}, "x_test must be a 4-D uint8 array"),
    ({"y_train": -np.ones(40, np.int64)}, "negative labels"),
])
def test_an_images_npz_of_the_wrong_form_is_refused(tmp_path, change, says):
    arrays = write_images_npz(tmp_path / "mine.npz")
    np.savez(tmp_path / "mine.npz", **{**arrays, **change})
    spec = resolve("mine", {"path": str(tmp_path / "mine.npz"), "kind": "images"})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError, match=says):
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")


def test_an_empty_split_of_a_users_npz_is_refused_naming_it(tmp_path):
    np.savez(tmp_path / "mine.npz", x_train=np.zeros((4, 1, 2, 2), np.uint8),
             y_train=np.arange(4) % 2, x_test=np.zeros((0, 1, 2, 2), np.uint8),
             y_test=np.zeros(0, np.int64))
    spec = resolve("mine", {"path": str(tmp_path / "mine.npz"), "kind": "images"})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError) as err:
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    assert str(err.value).startswith(f"mine: the test split is empty: x_test and y_test in "
                                     f"datasets.mine.path = {tmp_path / 'mine.npz'} have 0 rows")


def test_a_users_dataset_needs_kind_and_path(tmp_path):
    with pytest.raises(ValueError, match=r"set datasets.mine.kind to one of \['images', "):
        resolve("mine", {"path": "x.npz"})
    with pytest.raises(ValueError, match="datasets.mine.path must name your .npz"):
        resolve("mine", {"kind": "images"})
    with pytest.raises(FetchError, match="datasets.mine.path = .*no such file"):
        fetch(resolve("mine", {"kind": "images", "path": str(tmp_path / "absent.npz")}),
              tmp_path / "raw", log=quiet)
    config = config_with(None, net="F1", dataset="mine")
    assert any("nets.F1.dataset = 'mine' is not a dataset of the registry" in p
               and "datasets.mine.path and datasets.mine.kind" in p
               for p in configcheck.find_problems(config))


def test_a_builder_is_checked_on_an_example_of_the_users_data(tmp_path, netfile):
    write_images_npz(tmp_path / "mine.npz", shape=(1, 28, 28), classes=5)
    config = config_with(f"{netfile}:wrong_width", dataset="mine")
    config["datasets"] = {"mine": {"path": str(tmp_path / "mine.npz"), "kind": "images"}}
    assert "expected logits of shape (2, 5)" in builder_error(config)
    config["nets"]["Mine"]["builder"] = f"{netfile}:build"
    builders.check_config(config)
    assert configcheck.train_set(config, "Mine").n == 40  # from the file's header
