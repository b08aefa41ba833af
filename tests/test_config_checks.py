"""Config checks before any job runs (sharpminima.core.configcheck): batch sizes against the
training sets they are drawn from, and the device string; each refusal names the key and its fix."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import yaml
from snakemake.utils import validate

from conftest import ROOT
from sharpminima.core.configcheck import ConfigError, check, find_problems, timit_train_rows
from workflow_helpers import snakemake, write_config

SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"


def filled(config: dict) -> dict:
    """The config as common.smk sees it: schema-validated, defaults filled in."""
    config = copy.deepcopy(config)
    validate(config, str(SCHEMA), set_default=True)
    return config


def small(**changes) -> dict:
    """F1 on the first 300 Fashion-MNIST images, SB 32 and LB 10% (30)."""
    config = {"nets": {"F1": {"dataset": "fashion_mnist", "train_size": 300}},
              "regimes": {"SB": {"batch_size": 32}, "LB": {"batch_fraction": 0.1}},
              "seeds": [0]}
    config.update(changes)
    return config


def refusal(config: dict) -> str:
    with pytest.raises(ConfigError) as err:
        check(filled(config))
    return str(err.value)


@pytest.mark.parametrize("name", ["config.yaml", "demo.yaml", "cpu.yaml"])
def test_shipped_configs_pass(name):
    config = filled(yaml.safe_load((ROOT / "config" / name).read_text()))
    assert find_problems(config) == []
    check(config)


def test_shipped_full_config_with_timit_passes(tmp_path):
    import fakedata
    fakedata.write_timit_npz(tmp_path / "timit.npz", n_train=300_000, n_test=10, dim=1)
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["datasets"]["timit"]["path"] = str(tmp_path / "timit.npz")
    check(filled(config))  # its largest F2 batches (131072) fit in 300k frames


def test_small_config_passes():
    check(filled(small()))


def test_batch_size_over_the_subset_names_key_and_fix():
    config = small()
    config["regimes"]["SB"]["batch_size"] = 512
    message = refusal(config)
    assert message == ("config: regimes.SB.batch_size = 512 exceeds the training set of net F1 "
                       "(nets.F1.train_size = 300); lower it to at most 300 or raise "
                       "nets.F1.train_size or leave SB out of nets.F1.regimes")


def test_batch_size_over_the_whole_dataset():
    config = small(nets={"C1": {"dataset": "cifar10"}})
    config["regimes"]["SB"]["batch_size"] = 60000
    message = refusal(config)
    assert "regimes.SB.batch_size = 60000" in message
    assert "the 50000 training examples of cifar10" in message
    assert "lower it to at most 50000" in message and "raise" not in message


def test_batch_fraction_below_two_examples():
    config = small()
    config["regimes"]["LB"]["batch_fraction"] = 0.003  # round(0.9) = 1
    message = refusal(config)
    assert "regimes.LB.batch_fraction = 0.003 gives a batch of 1 example(s)" in message
    assert "at least 2" in message and "raise it to at least 0.006667" in message
    assert "raise nets.F1.train_size" in message


@pytest.mark.parametrize("schedule, fragment", [
    ([[2, 400]], "regimes.dyn.batch_schedule[0] = [2, 400]: the batch 400 exceeds the training "
                 "set of net F1 (nets.F1.train_size = 300); lower it to at most 300"),
    ([[2, 64], [3, 0.001]], "regimes.dyn.batch_schedule[1] = [3, 0.001]: the fraction 0.001 "
                            "gives a batch of 1 example(s)"),
])
def test_batch_schedule_entries(schedule, fragment):
    config = small()
    config["regimes"]["dyn"] = {"batch_size": 32, "batch_schedule": schedule}
    assert fragment in refusal(config)


def test_a_regime_the_net_does_not_train_is_not_checked():
    config = small()
    config["regimes"]["huge"] = {"batch_size": 4096}
    assert "regimes.huge.batch_size" in refusal(config)
    config["nets"]["F1"]["regimes"] = ["SB", "LB"]
    check(filled(config))


def test_sweep_nets_run_sb_and_lb_whatever_their_regimes_say():
    config = small(sharpness_along_training={"nets": ["F1"], "epochs": [0, 1]})
    config["nets"]["F1"]["regimes"] = ["LB"]
    config["regimes"]["SB"]["batch_size"] = 400
    message = refusal(config)
    assert "regimes.SB.batch_size = 400" in message
    assert "leave SB out" not in message  # the trajectories need SB: that is no fix


def test_batch_sweep_sizes():
    config = small(batch_sweep={"batch_sizes": {"F1": [16, 128, 1024, 2048]}})
    message = refusal(config)
    assert ("batch_sweep.batch_sizes.F1 has [1024, 2048], more than the training set of net F1 "
            "(nets.F1.train_size = 300); drop them or lower them to at most 300") in message


def test_batch_sweep_of_an_unplanned_net_is_ignored():
    # F2 without datasets.timit.path is not planned: its sweep is skipped, not checked
    config = small(batch_sweep={"batch_sizes": {"F2": [10 ** 6]}})
    config["nets"]["F2"] = {"dataset": "timit"}
    check(filled(config))


def test_gradient_noise_grid_and_scale_chunk():
    config = small(gradient_noise={"nets": ["F1"], "epochs": [0, 1], "batch_sizes": [16, 256],
                                   "train_size": 200, "scale": {"chunk": 250, "train_size": 240}})
    message = refusal(config)
    assert ("gradient_noise.batch_sizes has [256], more than the examples the gradient noise of "
            "net F1 is measured on (gradient_noise.train_size = 200); drop them or lower them to "
            "at most 200 or raise gradient_noise.train_size") in message
    assert ("gradient_noise.scale.chunk = 250 exceeds the examples B_simple of net F1 is "
            "measured on (gradient_noise.scale.train_size = 240); lower it to at most 240 or "
            "raise gradient_noise.scale.train_size") in message


def test_gradient_noise_train_size_above_the_net_subset_is_the_net_subset():
    config = small(gradient_noise={"nets": ["F1"], "epochs": [0], "batch_sizes": [16, 512],
                                   "train_size": 50000})
    assert "(nets.F1.train_size = 300)" in refusal(config)


@pytest.mark.parametrize("where", ["regime", "net"])
def test_ghost_bn_virtual_batch_not_below_the_batch(where):
    config = small()
    config["regimes"]["LB_ghostbn"] = {"batch_fraction": 0.1,
                                       "remedy": {"ghost_bn": {"virtual_batch": 16}}}
    check(filled(config))  # 16 < 30
    if where == "regime":
        config["regimes"]["LB_ghostbn"]["remedy"]["ghost_bn"]["virtual_batch"] = 30
        key = "regimes.LB_ghostbn.remedy.ghost_bn.virtual_batch = 30"
    else:
        config["nets"]["F1"]["remedy"] = {"ghost_bn": {"virtual_batch": 64}}
        key = "nets.F1.remedy.ghost_bn.virtual_batch = 64"
    message = refusal(config)
    assert key in message and "plain batch normalization" in message
    assert "lower it below 30" in message


def test_eval_every_needs_patience_null_after_precedence():
    """train.eval_every > 1 skips evaluations early stopping reads: refused where the resolved
    patience (train < nets.<net>.train < regimes.<regime>.train) is set, for that regime only."""
    ok = small(train={"patience": None, "eval_every": 5})
    assert find_problems(filled(ok)) == []
    bad = small(train={"patience": 5})
    bad["nets"]["F1"]["train"] = {"eval_every": 5}
    bad["regimes"]["SB"]["train"] = {"patience": None}
    text = refusal(bad)
    assert "train.eval_every = 5 for F1 LB" in text and "patience 5" in text
    assert "F1 SB" not in text and "Set patience: null or eval_every: 1" in text


def test_lr_warmup_scale_from_batch_is_not_a_batch_of_data():
    config = small()
    config["regimes"]["LB_warmup"] = {"batch_fraction": 0.1,
                                      "remedy": {"lr_warmup": {"scale_from_batch": 100000}}}
    check(filled(config))


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_accepted_devices(device):
    check(filled(small(device=device)))


@pytest.mark.parametrize("device", ["gpu0", "gpu", "cuda:-1", "cuda:x", "CUDA", "cuda0", "",
                                    "cpu "])
def test_refused_devices(device):
    message = refusal(small(device=device))
    assert f"config: device = {device!r} is not a device" in message
    assert "auto, cpu, cuda, cuda:N" in message and "device: cuda:0" in message


def test_every_problem_is_reported_at_once():
    config = small(device="gpu0", batch_sweep={"batch_sizes": {"F1": [1000]}})
    config["regimes"]["SB"]["batch_size"] = 512
    lines = refusal(config).splitlines()
    assert len(lines) == 3 and all(line.startswith("config: ") for line in lines)
    assert [line.split()[1] for line in lines] == ["device", "regimes.SB.batch_size",
                                                   "batch_sweep.batch_sizes.F1"]


def test_timit_size_comes_from_the_feature_file_header(tmp_path):
    import fakedata
    path = tmp_path / "timit.npz"
    fakedata.write_timit_npz(path, n_train=120, n_test=10, dim=4)
    assert timit_train_rows(str(path)) == 120
    assert timit_train_rows(str(tmp_path / "absent.npz")) is None
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert timit_train_rows(str(tmp_path / "junk.npz")) is None
    config = small(nets={"F2": {"dataset": "timit"}},
                   datasets={"timit": {"path": str(path)}})
    config["regimes"]["SB"]["batch_size"] = 256
    message = refusal(config)
    assert ("regimes.SB.batch_size = 256 exceeds the training set of net F2 (the 120 training "
            "frames in datasets.timit.path)") in message
    # the file not there yet: fetch will say so; nothing to check the batches against
    config["datasets"]["timit"]["path"] = str(tmp_path / "absent.npz")
    check(filled(config))
    # ... unless the net takes a subset: the batch cannot exceed that
    config["nets"]["F2"]["train_size"] = 100
    assert "(nets.F2.train_size = 100)" in refusal(config)


def test_timit_header_is_read_without_loading_the_arrays(tmp_path):
    path = tmp_path / "big.npz"
    np.savez(path, X_train=np.zeros((1, 1), np.float32), y_train=np.zeros(3_000_000, np.int32),
             X_test=np.zeros((1, 1), np.float32), y_test=np.zeros(1, np.int32))
    t0 = time.perf_counter()
    assert timit_train_rows(str(path)) == 3_000_000
    assert time.perf_counter() - t0 < 0.5


def test_snakemake_dry_run_refuses_before_any_job(tmp_path):
    config = yaml.safe_load((ROOT / "config/demo.yaml").read_text())
    config["nets"]["F1"]["train_size"] = 300
    config["regimes"]["SB"] = {"batch_size": 512}  # whatever SB the demo declares
    config["device"] = "gpu0"
    start = time.perf_counter()
    proc = snakemake(tmp_path, write_config(tmp_path / "bad.yaml", config), "-n",
                     "--workflow-profile", "none", check=False, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("config: regimes.SB.batch_size = 512 exceeds the training set of net F1 "
            "(nets.F1.train_size = 300); lower it to at most 300 or raise nets.F1.train_size"
            in text)
    assert "config: device = 'gpu0' is not a device" in text
    assert "Job stats" not in text and not (tmp_path / "results").exists()
    assert time.perf_counter() - start < 120  # at parse time, not after planning or running
