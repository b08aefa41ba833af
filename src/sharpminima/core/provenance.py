"""Provenance recorded with every result: code version, package versions, device, timing."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import torch

PACKAGES = ("torch", "numpy", "scipy", "pandas", "snakemake", "sharpminima")
# Where a job ran: the scheduler's job id and the devices it was given (absent when run locally).
SCHEDULER_VARS = ("SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_GPUS_ON_NODE",
                  "CUDA_VISIBLE_DEVICES")


PACKAGE = Path(__file__).resolve().parents[1]


def source_sha256(package: Path = PACKAGE) -> str:
    """A hash of every source file of the package, in every layer, by relative path."""
    digest = hashlib.sha256()
    for f in sorted(package.rglob("*.py")):
        digest.update(f.relative_to(package).as_posix().encode() + f.read_bytes())
    return digest.hexdigest()[:16]


def code_version() -> dict:
    """Git commit (when run from a checkout) plus a hash of the package's own source files.

    The source hash identifies the code even outside git (e.g. an installed wheel on a cluster).
    """
    src = PACKAGE
    info = {"source_sha256": source_sha256(src)}
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True,
            timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", str(src)], cwd=src,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_name(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU ({torch.get_num_threads()} threads)"


def resolve_device(requested: str = "auto") -> torch.device:
    """`auto` picks CUDA when present; an explicit request that cannot be met is an error."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but CUDA is not available")
    return device


def collect(device) -> dict:
    return {"code": code_version(), "packages": package_versions(), "device": device_name(device),
            "scheduler": {k: os.environ[k] for k in SCHEDULER_VARS if k in os.environ}}
