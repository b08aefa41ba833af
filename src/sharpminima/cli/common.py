"""Argument helpers shared by the verb groups: JSON arguments, the compute options of every job
that touches a model (device, threads, GPU slot), and the options of a measurement of one run.

Defaults of configuration values live in the schema (workflow/schemas/config.schema.yaml) only:
a flag that every rule passes is required here, so the CLI never holds a second default.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: torch is imported inside the verbs (fast `--help`)
    import torch


def json_arg(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e


def registry_choice(module: str, attr: str, what: str):
    """An argparse `type=`: one name of the registry `module.attr` (a dict or a tuple of names).

    For a registry whose module imports torch/pandas: the module is imported only when the argument
    is parsed, never when the parser is built, so `--help` stays fast. A name not in the registry
    exits 2 with a message listing the valid names.
    """
    def check(text: str) -> str:
        names = sorted(getattr(importlib.import_module(module), attr))
        if text not in names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {text!r}; choose from {', '.join(names)}")
        return text

    check.__name__ = what.replace(" ", "_")
    check.registry = f"{module}.{attr}"
    return check


def registry_help(check, text: str | None = None) -> str:
    """Help of a lazily checked registry argument: where its names come from."""
    where = f"a name of {check.registry}"
    return f"{text}: {where}" if text else where


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append "(required)" or "(default: ...)" to the help of every option of `parser`.

    Options with a None default (e.g. --train-size: only where the config sets a size) and flags
    (no value) are left as they are: their help says what absence means.
    """
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0 or action.default is argparse.SUPPRESS:
            continue
        if action.required:
            note = "required"
        elif action.default is None:
            continue
        elif action.default == []:
            note = "default: none"
        else:
            note = "default: %(default)s"
        action.help = f"{action.help} ({note})" if action.help else f"({note})"


def setup_compute(args) -> "torch.device":
    """Pin a GPU slot (multi-GPU hosts), set CPU threads, pick the device."""
    import torch

    from sharpminima.core import provenance
    if getattr(args, "gpu_lock_dir", None):
        from sharpminima.core.gpuslots import acquire_gpu_slot
        acquire_gpu_slot(args.gpu_lock_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    return provenance.resolve_device(args.device)


def add_compute_args(p: argparse.ArgumentParser) -> None:
    """--device, --threads, --gpu-lock-dir: every rule of a compute verb passes all three."""
    p.add_argument("--device", required=True,
                   help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, required=True,
                   help="CPU threads for torch (0: torch default)")
    p.add_argument("--gpu-lock-dir", required=True,
                   help="directory of GPU slot lock files: pin this job to a free GPU")


SIZE_HELP = {"train": "use the first N training examples (default: all)",
             "test": "use the first N test examples (default: all)"}


def add_size_args(p: argparse.ArgumentParser, *splits: str) -> None:
    """--train-size / --test-size: rules pass them only where the config sets a size."""
    for split in splits:
        p.add_argument(f"--{split}-size", type=int, default=None, help=SIZE_HELP[split])


def add_measure_args(p: argparse.ArgumentParser, chunk_required: bool = True) -> None:
    """The options of a measurement of one trained run (sharpness, hessian, grad-noise)."""
    p.add_argument("--model", required=True, help="a run's model.pt (metrics.json beside it)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--train-size", type=int, default=None,
                   help="use the first N training examples (default: all)")
    if chunk_required:
        p.add_argument("--chunk", type=int, required=True, help="examples per evaluation chunk")
    else:
        p.add_argument("--chunk", type=int, default=5000, help="examples per evaluation chunk")
    p.add_argument("--out", required=True, help="JSON record to write")
    add_compute_args(p)


SCALE_HELP = "label for the scale (full, demo, tiny)"


def add_table_outputs(p: argparse.ArgumentParser, scale_help: str | None = None) -> None:
    """--out-csv, --out-md and --scale of a table verb (every rule passes all three)."""
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", required=True, help=scale_help)
