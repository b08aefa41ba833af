"""The resume checkpoint (resume.pt): data, never code, and only ever resumed by the run it is of.

It holds tensors and plain Python values only (no pickled objects), so it is read with
torch.load(weights_only=True): a file that needs more is refused and none of it runs. It records
the run's resolved spec and a fingerprint of its data; a checkpoint of another spec or other data
is discarded (with the reason logged) and the run starts from scratch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Callable

import torch

from sharpminima.data.splits import Dataset

FORMAT = 1  # bump when the checkpoint's layout changes: older ones are then discarded, not misread


class RefusedCheckpoint(RuntimeError):
    """resume.pt cannot be read as plain data: crafted, corrupt or of an incompatible format."""


def spec_json(spec) -> str:
    return json.dumps(dataclasses.asdict(spec), sort_keys=True, default=str)


def data_fingerprint(data: Dataset, chunk: int = 1 << 26) -> str:
    """SHA-256 over the tensors the run uses (any subset is already applied), their dtypes and
    shapes: ~0.1 s per 100 MB, once per run, and it cannot miss a changed example."""
    h = hashlib.sha256(json.dumps([data.name, data.num_classes, list(data.input_shape)]).encode())
    for t in (data.train.x, data.train.y, data.test.x, data.test.y):
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        flat = t.detach().contiguous().view(-1).view(torch.uint8)  # raw bytes, any dtype
        for i in range(0, flat.numel(), chunk):  # chunked: no second full copy of device data
            h.update(flat[i:i + chunk].cpu().numpy())
    return h.hexdigest()


def checkpoint(model, opt, epoch: int, history: list, best: float, wait: int, spec: str,
               fingerprint: str) -> dict:
    return {"format": FORMAT, "spec": spec, "data": fingerprint,
            "model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch,
            "history": [{k: _plain(v) for k, v in row.items()} for row in history],
            "best": float(best), "wait": int(wait),
            "rng": torch.get_rng_state(),  # uint8 tensors: plain data
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _plain(v):
    """numpy / 0-d tensor scalars as Python numbers: weights_only loading allows no numpy."""
    return v.item() if hasattr(v, "item") else v


def load(path: Path, spec: str, fingerprint: str, log: Callable[[str], None]) -> dict | None:
    """The checkpoint at `path` if it is of this spec and data; None if there is none or it is
    another run's (discarded, the reason logged). Raises RefusedCheckpoint if it is not data."""
    if not path.exists():
        return None
    try:  # on the CPU: RNG states must stay there; the model and Adam copy theirs to the device
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise RefusedCheckpoint(
            f"refusing to resume from {path}: it cannot be read as plain data with "
            f"torch.load(weights_only=True) ({_reason(e)}), so it is not a checkpoint this code "
            f"wrote (crafted, corrupt or of an incompatible format). Nothing in it was run. "
            f"Delete it to train this run from scratch.") from None
    why = mismatch(ck, spec, fingerprint)
    if why:
        log(f"discarding {path}: {why}; training from scratch")
        return None
    return ck


def _reason(e: Exception) -> str:
    """The gist of torch's weights_only error, without its advice to load unsafely."""
    text = str(e).partition("WeightsUnpickler error:")[2] or str(e)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"{type(e).__name__}: " + (lines[0].split(" Please")[0] if lines else "?")


def mismatch(ck, spec: str, fingerprint: str) -> str | None:
    """Why checkpoint `ck` is not of this run (the differing spec fields, the data), or None."""
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        return "it records no spec or data fingerprint of the current format"
    old, new = json.loads(ck["spec"]), json.loads(spec)
    reasons = []
    fields = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if fields:
        reasons.append("spec differs in " + ", ".join(
            f"{k} ({old.get(k)!r} -> {new.get(k)!r})" for k in fields))
    if ck["data"] != fingerprint:
        reasons.append(f"data differ (fingerprint {ck['data'][:12]} -> {fingerprint[:12]})")
    return "; ".join(reasons) or None


def restore(ck: dict, model, opt) -> tuple[list, float, int, int]:
    """Put the checkpoint's state back; returns (history, best, wait, first epoch to run)."""
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    torch.set_rng_state(ck["rng"])
    if ck["cuda_rng"] and torch.cuda.is_available():  # a CPU resume of a GPU run: no CUDA RNG
        torch.cuda.set_rng_state_all(ck["cuda_rng"])
    return ck["history"], ck["best"], ck["wait"], ck["epoch"] + 1
