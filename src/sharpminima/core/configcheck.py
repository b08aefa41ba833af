"""Checks of a loaded pipeline config that the JSON schema cannot express, run before any job.

The schema (workflow/schemas/config.schema.yaml) checks each key on its own; `check` checks the
keys against each other and against the data: every batch size a planned run would use must fit
in the training set it is drawn from (a subset when nets.<net>.train_size is set), `device`
must name a device, every net is of the registry or has a builder (nets.<net>.builder), and every
net's dataset is of the registry or declared under datasets (path, kind). Without these checks
such a config fails hours later, inside a job. (The builders themselves are checked, on one
example, by sharpminima.nets.builders.check_config: that needs torch, which this layer does not
import.)

`check(config)` raises ConfigError listing every problem, one line each, each naming the key and
a fix that works. It expects the config after the schema's defaults are filled in (common.smk
validates first) but tolerates missing optional blocks. It reads nothing but, for a dataset in a
user's file (TIMIT, the user's own), the header of that file (datasets.<name>.path) to learn its
number of training examples.
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

# Training examples of each dataset as published (the prepared .npz holds exactly these).
DATASET_TRAIN_SIZES = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000,
                       "cifar100": 50000}
# The registries' names (sharpminima.data.datasets, sharpminima.nets.models; a test keeps them
# equal): a dataset whose data is a file the user supplies (datasets.<name>.path), and the nets.
USER_FILE_DATASETS = ("timit",)
REGISTRY_DATASETS = (*DATASET_TRAIN_SIZES, *USER_FILE_DATASETS)
REGISTRY_NETS = ("F1", "F2", "C1", "C2", "C3", "C4", "R18")
DEVICE_FORMS = "auto, cpu, cuda, cuda:N (N = 0, 1, ...: the N-th GPU), mps"
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
SWEEP_SB, SWEEP_LB = "SB", "LB"  # the regimes the Section 4 experiments run (sweeps.smk)


class ConfigError(ValueError):
    """The config is valid key by key but cannot run; the message says what to change."""


@dataclass(frozen=True)
class TrainSet:
    """The training set a net's runs draw batches from: `n` examples (None: unknown), and how
    that number came about (for messages)."""

    n: int | None
    what: str
    subset_key: str | None  # the key to raise, when a subset is what limits n

    def fix(self) -> str:
        return f" or raise {self.subset_key}" if self.subset_key else ""


def check(config: Mapping[str, Any]) -> None:
    """Raise ConfigError naming every key whose value cannot run, with its fix; else None."""
    problems = find_problems(config)
    if problems:
        raise ConfigError("\n".join(problems))


def find_problems(config: Mapping[str, Any]) -> list[str]:
    problems = _device_problems(config)
    unknown = _net_problems(config)
    if unknown:  # a net or a dataset that is neither the registry's nor declared: say so first
        return [f"config: {p}" for p in dict.fromkeys(problems + unknown)]
    nets = planned_nets(config)
    sets = {net: train_set(config, net) for net in nets}
    for net in nets:
        problems += _regime_problems(config, net, sets[net])
    problems += _sweep_problems(config, nets, sets)
    return [f"config: {p}" for p in dict.fromkeys(problems)]  # one line per problem, in order


# --- device --------------------------------------------------------------------------------------

def _device_problems(config: Mapping[str, Any]) -> list[str]:
    device = config.get("device", "auto")
    if isinstance(device, str) and _DEVICE.fullmatch(device):
        return []
    return [f"device = {device!r} is not a device; accepted forms: {DEVICE_FORMS}. "
            "Set device: auto (a GPU when present, else the CPU) or e.g. device: cuda:0"]


# --- nets and their data ------------------------------------------------------------------------

def _net_problems(config: Mapping[str, Any]) -> list[str]:
    """A net outside the registry needs a builder; a dataset outside the registry needs
    datasets.<name>.path and .kind."""
    problems = []
    declared = config.get("datasets") or {}
    for net, spec in (config.get("nets") or {}).items():
        builder = spec.get("builder")
        if net in REGISTRY_NETS and builder:
            problems.append(f"nets.{net}.builder: {net} is a network of the registry "
                            f"({', '.join(REGISTRY_NETS)}); give your network another name")
        elif net not in REGISTRY_NETS and not builder:
            problems.append(f"nets.{net} is not a network of the registry "
                            f"({', '.join(REGISTRY_NETS)}): set nets.{net}.builder to your "
                            "network's builder, 'package.module:function' or "
                            "'path/to/file.py:function'")
        if net == "all":  # the {net} of the figures drawn over every net
            problems.append("nets.all: 'all' names the figures over every net; rename the net")
        dataset = spec.get("dataset")
        if dataset in REGISTRY_DATASETS:
            continue
        own = declared.get(dataset) or {}
        missing = [k for k in ("path", "kind") if not own.get(k)]
        if missing:
            problems.append(f"nets.{net}.dataset = {dataset!r} is not a dataset of the registry "
                            f"({', '.join(REGISTRY_DATASETS)}); to use your own, set "
                            + " and ".join(f"datasets.{dataset}.{k}" for k in missing)
                            + " (an .npz of images or features: config/README.md)")
    for name, own in declared.items():
        if name not in REGISTRY_DATASETS and not (own or {}).get("kind"):
            problems.append(f"datasets.{name}: not a dataset of the registry; a dataset of "
                            f"your own needs datasets.{name}.kind (images or features) and .path")
        elif name in REGISTRY_DATASETS and (own or {}).get("kind"):
            problems.append(f"datasets.{name}.kind: {name} is a dataset of the registry (its "
                            "kind is fixed); give your dataset another name")
    return problems


def needs_user_file(config: Mapping[str, Any], dataset: str) -> bool:
    """The dataset is a file the user supplies (TIMIT, the user's own), and none is named."""
    user = dataset in USER_FILE_DATASETS or dataset not in REGISTRY_DATASETS
    return user and not _user_path(config, dataset)


def planned_nets(config: Mapping[str, Any]) -> list[str]:
    """The nets the pipeline plans: as common.smk's planned_nets, those switched on
    (nets.<net>.enabled, default true) whose data can be had (TIMIT only with a path)."""
    return [net for net, spec in config.get("nets", {}).items()
            if spec.get("enabled", True) and not needs_user_file(config, spec.get("dataset"))]


def _user_path(config: Mapping[str, Any], dataset: str) -> str | None:
    return ((config.get("datasets") or {}).get(dataset) or {}).get("path")


def train_set(config: Mapping[str, Any], net: str) -> TrainSet:
    """The size of `net`'s training set: its dataset's, cut to nets.<net>.train_size if set."""
    spec = config["nets"][net]
    dataset = spec["dataset"]
    if dataset not in DATASET_TRAIN_SIZES:  # in the user's file
        full = npz_train_rows(_user_path(config, dataset))
        what = "frames" if dataset == "timit" else "examples"
        source = f"the {full} training {what} in datasets.{dataset}.path"
    else:
        full = DATASET_TRAIN_SIZES.get(dataset)
        source = f"the {full} training examples of {dataset}"
    subset = spec.get("train_size")
    if subset and (full is None or subset < full):
        return TrainSet(subset, f"nets.{net}.train_size = {subset}", f"nets.{net}.train_size")
    if full is None:
        return TrainSet(None, f"the unknown number of training examples of {dataset}", None)
    return TrainSet(full, source, None)


def npz_train_rows(path: str | None) -> int | None:
    """Rows of y_train in the user's .npz (TIMIT's features, a dataset of the user's own)."""
    shape = npz_shape(path, "y_train")
    return int(shape[0]) if shape else None


timit_train_rows = npz_train_rows  # TIMIT's file is one of them


def npz_shape(path: str | None, array: str) -> tuple[int, ...] | None:
    """The shape of one array of an .npz, from its .npy header only; None when the file or the
    array is absent or unreadable (fetch then says what is wrong with it)."""
    if not path:
        return None
    try:
        with zipfile.ZipFile(Path(path).expanduser()) as npz, npz.open(f"{array}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, _ = np.lib.format.read_array_header_2_0(fh)
            else:
                return None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return tuple(int(n) for n in shape) if len(shape) >= 1 else None


# --- batches of the net x regime runs ------------------------------------------------------------

def _sweep_nets(config: Mapping[str, Any]) -> set[str]:
    """Nets that run SB and LB trajectories or warm starts (sweeps.smk), whatever their
    nets.<net>.regimes say."""
    nets: set[str] = set()
    for block in ("warm_start", "sharpness_along_training", "gradient_noise"):
        nets |= set((config.get(block) or {}).get("nets") or [])
    return nets


def net_regimes(config: Mapping[str, Any], net: str) -> list[str]:
    """Regimes whose batches `net`'s runs use: nets.<net>.regimes (default all), plus SB and LB
    when a Section 4 experiment runs on the net. Undeclared names are common.smk's to report."""
    regimes = config.get("regimes", {})
    chosen = config["nets"][net].get("regimes")
    names = [r for r in regimes if chosen is None or r in chosen]
    if net in _sweep_nets(config):
        names += [r for r in (SWEEP_SB, SWEEP_LB) if r in regimes and r not in names]
    return names


def _regime_problems(config: Mapping[str, Any], net: str, ts: TrainSet) -> list[str]:
    problems = []
    for name in net_regimes(config, net):
        regime = config["regimes"][name]
        key = f"regimes.{name}"
        fix = ts.fix()
        if name not in (SWEEP_SB, SWEEP_LB) or net not in _sweep_nets(config):
            fix += f" or leave {name} out of nets.{net}.regimes"
        batches = []
        if "batch_size" in regime:
            batches.append(_fixed(f"{key}.batch_size", regime["batch_size"], net, ts, fix,
                                  problems))
        if "batch_fraction" in regime:
            batches.append(_fraction(f"{key}.batch_fraction", regime["batch_fraction"], net, ts,
                                     fix, problems))
        for i, entry in enumerate(regime.get("batch_schedule") or []):
            size, entry_key = entry[1], f"{key}.batch_schedule[{i}] = {list(entry)}:"
            if isinstance(size, int) and not isinstance(size, bool):
                batches.append(_fixed(entry_key, size, net, ts, fix, problems, shown=False))
            else:
                batches.append(_fraction(entry_key, size, net, ts, fix, problems, shown=False))
        problems += _ghost_bn_problems(config, net, name, [b for b in batches if b])
        problems += _eval_every_problems(config, net, name)
    return problems


def _eval_every_problems(config: Mapping[str, Any], net: str, regime: str) -> list[str]:
    """train.eval_every > 1 skips evaluations that early stopping would read."""
    train = {**(config.get("train") or {}), **(config["nets"][net].get("train") or {}),
             **(config["regimes"][regime].get("train") or {})}
    every, patience = train.get("eval_every", 1), train.get("patience")
    if every == 1 or patience is None:
        return []
    return [f"train.eval_every = {every} for {net} {regime} (train < nets.{net}.train < "
            f"regimes.{regime}.train) needs patience null: early stopping (patience {patience}) "
            "reads the training loss of every epoch. Set patience: null or eval_every: 1"]


def _fixed(key: str, batch: int, net: str, ts: TrainSet, fix: str, problems: list[str],
           shown: bool = True) -> int | None:
    """`batch` when it fits in the training set (or the set's size is unknown), else None."""
    if ts.n is not None and batch > ts.n:
        what = f"{key} = {batch}" if shown else f"{key} the batch {batch}"
        problems.append(f"{what} exceeds the training set of net {net} ({ts.what}); "
                        f"lower it to at most {ts.n}{fix}")
        return None
    return batch


def _fraction(key: str, fraction: float, net: str, ts: TrainSet, fix: str,
              problems: list[str], shown: bool = True) -> int | None:
    """The batch round(fraction x N) when it is at least 2 (training's rule), else None."""
    if ts.n is None:
        return None
    batch = max(1, round(fraction * ts.n))
    if batch < 2:
        what = f"{key} = {fraction:g}" if shown else f"{key} the fraction {fraction:g}"
        lowest = math.ceil(2 / ts.n * 1e6) / 1e6
        problems.append(f"{what} gives a batch of {batch} example(s) of the training set of net "
                        f"{net} ({ts.what}), and a batch needs at least 2; raise it to at least "
                        f"{lowest:g}{fix}")
        return None
    return batch


def _ghost_bn_problems(config: Mapping[str, Any], net: str, regime: str,
                       batches: list[int]) -> list[str]:
    """Ghost BN normalizes virtual batches inside each batch: one as large as every batch of
    the run is plain batch normalization, the remedy silently off."""
    opts = (config["regimes"][regime].get("remedy") or {}).get("ghost_bn")
    if opts is None or not batches:
        return []
    override = ((config["nets"][net].get("remedy") or {}).get("ghost_bn") or {})
    if "virtual_batch" in override:
        key, virtual = f"nets.{net}.remedy.ghost_bn.virtual_batch", override["virtual_batch"]
    else:
        key = f"regimes.{regime}.remedy.ghost_bn.virtual_batch"
        virtual = opts.get("virtual_batch", 128)  # the schema's default
    largest = max(batches)
    if virtual < largest:
        return []
    fix = (f"lower it below {largest} (e.g. {min(128, max(2, largest // 2))})" if largest > 2
           else f"give regime {regime} larger batches")
    return [f"{key} = {virtual} is not smaller than the batch of regime {regime} on net {net} "
            f"({largest}): ghost batch normalization would be plain batch normalization; {fix}"]


# --- Section 4 experiments -----------------------------------------------------------------------

def _sweep_problems(config: Mapping[str, Any], nets: list[str],
                    sets: Mapping[str, TrainSet]) -> list[str]:
    problems = []
    sweep = (config.get("batch_sweep") or {}).get("batch_sizes") or {}
    for net, sizes in sweep.items():
        if net not in sets:
            continue
        ts = sets[net]
        too_big = [b for b in sizes if ts.n is not None and b > ts.n]
        if too_big:
            problems.append(f"batch_sweep.batch_sizes.{net} has {too_big}, more than the training "
                            f"set of net {net} ({ts.what}); drop them or lower them to at most "
                            f"{ts.n}{ts.fix()}")
    noise = config.get("gradient_noise") or {}
    scale = noise.get("scale") or {}
    for net in noise.get("nets") or []:
        if net not in sets:
            continue
        ts = sets[net]
        pool = _smaller(ts, noise.get("train_size"), "gradient_noise.train_size")
        too_big = [m for m in noise.get("batch_sizes", []) if pool.n is not None and m > pool.n]
        if too_big:
            problems.append(f"gradient_noise.batch_sizes has {too_big}, more than the examples "
                            f"the gradient noise of net {net} is measured on ({pool.what}); drop "
                            f"them or lower them to at most {pool.n}{pool.fix()}")
        chunk = scale.get("chunk")
        pool = _smaller(ts, scale.get("train_size"), "gradient_noise.scale.train_size")
        if chunk and pool.n is not None and chunk > pool.n:
            problems.append(f"gradient_noise.scale.chunk = {chunk} exceeds the examples B_simple "
                            f"of net {net} is measured on ({pool.what}); lower it to at most "
                            f"{pool.n}{pool.fix()}")
    return problems


def _smaller(ts: TrainSet, size: int | None, key: str) -> TrainSet:
    """The first `size` examples of the training set (all of it when size is None or larger)."""
    if size and (ts.n is None or size < ts.n):
        return TrainSet(size, f"{key} = {size}", key)
    return ts
