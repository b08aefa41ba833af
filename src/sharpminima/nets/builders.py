"""Networks from the config: `nets.<name>.builder`, the user's own network, beside the registry's.

A builder is a callable `(input_shape, num_classes, bn) -> torch.nn.Module` returning logits
`[N, num_classes]` for inputs `[N, *input_shape]` (images as float in [0, 1], features as they
are); `bn` is "batch" (batch statistics at train and test time, the paper's default:
`track_running_stats=False`) or "running" (train.bn). It is named in the config as either

  * "package.module:function": imported (from the environment, or from the working directory);
  * "path/to/file.py:function": loaded from that file (a relative path is relative to the
    working directory, the repository root when run by Snakemake).

Its **source** is part of the code version of every job on that net: `describe` returns the
reference, the init choice and a hash of the source (the whole file for a path; for a module the
function and every definition it uses inside its package, as the figures' rerun triggers are
computed), and the pipeline puts that into the net's training spec, so that editing the builder
reruns exactly that net's trainings and what depends on them. The description is saved in each
checkpoint (plain strings: checkpoints stay data), so every measurement rebuilds the same network.

`problems` checks a builder at config load, on one example: importable, a function, returns a
module, returns `num_classes` logits per example. Every message names the key and the fix.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

INITS = ("glorot", "builder")  # nets.<name>.init: the paper's Glorot default, or the builder's own
_REF = re.compile(r"(?P<target>[^:]+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
REF_FORMS = "'package.module:function' or 'path/to/file.py:function'"

Builder = Callable[[tuple, int, str], nn.Module]


class BuilderError(ValueError):
    """A builder that cannot be loaded or does not build a usable network; the message says why
    and what to change."""


def parse(ref: str) -> tuple[str, str, str]:
    """("file" | "module", path or module name, function name) of a builder reference."""
    m = _REF.fullmatch(ref.strip()) if isinstance(ref, str) else None
    if m is None:
        raise BuilderError(f"expected {REF_FORMS}, got {ref!r}")
    target, function = m["target"], m["function"]
    if target.endswith(".py") or "/" in target or os.sep in target:
        return "file", target, function
    if not _MODULE.fullmatch(target):
        raise BuilderError(f"{target!r} is neither a module name nor a .py file; expected "
                           f"{REF_FORMS}")
    return "module", target, function


_LOADED: dict[str, Any] = {}  # resolved file path -> its module, loaded once per process


def _existing_file(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise BuilderError(f"no such file: {path} (relative paths are relative to the working "
                           f"directory, {os.getcwd()})")
    return file


def _load_file(path: str) -> Any:
    key = str(_existing_file(path).resolve())
    if key not in _LOADED:
        name = "sharpminima_user_net_" + hashlib.sha256(key.encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, key)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and friends look their module up here
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            raise BuilderError(f"{path} fails to load: {type(e).__name__}: {e}") from e
        _LOADED[key] = module
    return _LOADED[key]


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if os.getcwd() in sys.path or e.name != module.split(".")[0]:
            raise BuilderError(_import_message(module, e)) from e
    sys.path.insert(0, os.getcwd())  # as `python -m` does for the jobs
    try:
        return importlib.import_module(module)
    except Exception as e:
        raise BuilderError(_import_message(module, e)) from e


def _import_message(module: str, e: Exception) -> str:
    return (f"module {module!r} cannot be imported ({type(e).__name__}: {e}); install it in "
            "the environment, run from the folder that holds it, or name the file instead: "
            "'path/to/file.py:function'")


def load(ref: str) -> Builder:
    """The builder callable a reference names."""
    kind, target, function = parse(ref)
    module = _load_file(target) if kind == "file" else _import(target)
    if not hasattr(module, function):
        defined = sorted(n for n, v in vars(module).items()
                         if callable(v) and not n.startswith("_")
                         and getattr(v, "__module__", None) == module.__name__)
        raise BuilderError(f"{target} has no function {function!r} (it defines: "
                           f"{', '.join(defined) or 'no public function'})")
    builder = getattr(module, function)
    if not callable(builder):
        raise BuilderError(f"{target}:{function} is a {type(builder).__name__}, not a function")
    return builder


def source_hash(ref: str) -> str:
    """A hash of the builder's source: the file's bytes for a path; for a module, the function
    and every definition it uses in its package (core.codehash), else the module file's bytes."""
    kind, target, function = parse(ref)
    if kind == "module":
        from sharpminima.core.codehash import code_hash
        try:
            return code_hash(target, function)
        except (ModuleNotFoundError, KeyError, SyntaxError, OSError):
            spec = importlib.util.find_spec(target)
            if spec is None or not spec.origin or not Path(spec.origin).is_file():
                raise BuilderError(_import_message(target, ModuleNotFoundError(target))) from None
            target = spec.origin
    return hashlib.sha256(_existing_file(target).read_bytes()).hexdigest()[:16]


def describe(ref: str, init: str = "glorot") -> dict:
    """What a run records of its network's builder, and what rebuilds it: the reference, the
    init choice, and the hash of its source (a rerun trigger)."""
    if init not in INITS:
        raise BuilderError(f"init must be one of {INITS}, got {init!r}")
    return {"ref": ref, "init": init, "code": source_hash(ref)}


def _construct(builder: Builder, input_shape, num_classes: int, bn: str) -> nn.Module:
    """Call the builder; its result must be a module."""
    try:
        model = builder(tuple(input_shape), int(num_classes), bn)
    except Exception as e:
        raise BuilderError(f"calling it with ({tuple(input_shape)}, {num_classes}, {bn!r}) "
                           f"raised {type(e).__name__}: {e}") from e
    if not isinstance(model, nn.Module):
        raise BuilderError(f"it returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def build(builder: dict, input_shape, num_classes: int, bn: str) -> nn.Module:
    """The network a builder description (`describe`) names, before initialization."""
    try:
        return _construct(load(builder["ref"]), input_shape, num_classes, bn)
    except BuilderError as e:
        raise BuilderError(f"{builder['ref']}: {e}") from e


def check_example(builder: Builder, input_shape, num_classes: int, bn: str,
                  images: bool) -> None:
    """Build the net and run it on two examples: a module, trainable, `num_classes` logits."""
    model = _construct(builder, input_shape, num_classes, bn)
    if not any(p.requires_grad for p in model.parameters()):
        raise BuilderError("the module it returned has no trainable parameters")
    g = torch.Generator().manual_seed(0)
    x = torch.rand((2, *input_shape), generator=g)  # images in [0, 1]; features: any floats
    if not images:
        x = x * 2 - 1
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:
        raise BuilderError(f"its module fails on an example of shape {tuple(input_shape)}: "
                           f"{type(e).__name__}: {e}") from e
    if not isinstance(out, torch.Tensor) or out.shape != (2, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise BuilderError(f"for 2 examples of shape {tuple(input_shape)} it returns {got}, "
                           f"expected logits of shape (2, {num_classes}): one per class of the "
                           "dataset (use num_classes for the last layer's width)")


def problems(key: str, ref: str, init: str, input_shape, num_classes: int | None, bn: str,
             images: bool) -> list[str]:
    """The problems of the builder at config key `key` (nets.<name>.builder), each with its fix;
    input_shape or num_classes None: the data is not there yet, only loading is checked."""
    try:
        describe(ref, init)
        builder = load(ref)
        if input_shape is not None and num_classes is not None:
            check_example(builder, input_shape, num_classes, bn, images)
    except BuilderError as e:
        return [f"{key} = {ref!r}: {e}. The builder is a function (input_shape, num_classes, bn)"
                " -> torch.nn.Module returning logits (config/README.md, 'Your own network')"]
    return []


def _data_shape(config, dataset: str) -> tuple[tuple | None, int | None, bool]:
    """(input shape, classes, images?) of a net's dataset, as the prepared file will have them:
    the registry's, or read from the user's .npz (None while it is not there)."""
    import numpy as np

    from sharpminima.core.configcheck import npz_shape
    from sharpminima.data.datasets import DATASETS
    from sharpminima.data.fetch import USER_KEYS

    spec = DATASETS.get(dataset)
    if spec is not None and not spec.user_file:
        return spec.input_shape, spec.num_classes, True
    own = (config.get("datasets") or {}).get(dataset) or {}
    path, kind = own.get("path"), own.get("kind") or (spec.kind if spec else None)
    shape = next((s for s in (npz_shape(path, n) for n in USER_KEYS["x_train"]) if s), None)
    classes = spec.num_classes if spec is not None else own.get("num_classes")
    if shape is not None and classes is None:
        try:
            with np.load(Path(path).expanduser(), allow_pickle=False) as npz:
                classes = int(max(npz["y_train"].max(), npz["y_test"].max())) + 1
        except Exception:  # fetch and prepare say what is wrong with the file
            classes = None
    return (shape[1:] if shape else None), classes, kind == "images"


def check_config(config) -> None:
    """Check every planned net's builder (nets.<net>.builder) on one example of its dataset;
    raise configcheck.ConfigError naming each key with its fix."""
    from sharpminima.core.configcheck import ConfigError, planned_nets

    found = []
    for net in planned_nets(config):
        spec = config["nets"][net]
        if not spec.get("builder"):
            continue
        shape, classes, images = _data_shape(config, spec["dataset"])
        bn = {**(config.get("train") or {}), **(spec.get("train") or {})}.get("bn", "batch")
        found += problems(f"nets.{net}.builder", spec["builder"], spec.get("init", "glorot"),
                          shape, classes, bn, images)
    if found:
        raise ConfigError("\n".join(f"config: {p}" for p in found))
