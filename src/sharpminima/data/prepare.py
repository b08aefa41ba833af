"""Turn fetched upstream files into the canonical prepared .npz that `data.load` reads.

The output holds x_train, y_train, x_test, y_test and `meta` (a JSON string); it is written with
np.savez (uncompressed, no pickled objects) and atomically. Images are uint8 [N, C, H, W]
(MNIST/Fashion-MNIST [N, 1, 28, 28], CIFAR [N, 3, 32, 32]); TIMIT features are float32 [N, D]. A
dataset of the user's own (one .npz, kind images or features) is read and checked by the same
reader as TIMIT's. Labels are int64. Every file read is first checked against the SHA-256 in
MANIFEST.json, so the prepared data is exactly what fetch verified.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from sharpminima.core.atomic import atomic_path
from sharpminima.data.checksums import file_sha256
from sharpminima.data.datasets import (
    CIFAR_LAYOUT,
    DATASETS,
    IDX_FILES,
    DatasetSpec,
    cifar_members,
)
from sharpminima.data.fetch import MANIFEST, incomplete_archive_message, user_keys

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
CIFAR_PIXELS = 3 * 32 * 32

Arrays = dict[str, np.ndarray]


class PrepareError(RuntimeError):
    """The fetched files are missing, changed since fetch, truncated or malformed."""


def prepare(spec: DatasetSpec, raw_dir: str | os.PathLike, out_path: str | os.PathLike) -> dict:
    """Write the canonical .npz for `spec` from the files fetched into `raw_dir`; returns meta."""
    raw = _Raw(Path(raw_dir), spec.name)
    readers = {"idx": _read_idx_dataset, "cifar10": _read_cifar, "cifar100": _read_cifar,
               "images": _read_user_npz, "features": _read_user_npz}
    arrays = readers[spec.kind](spec, raw)
    for split in ("train", "test"):
        if len(arrays[f"y_{split}"]) == 0:  # training would divide by zero evaluating it
            raise PrepareError(_empty_split_message(spec, raw, split))
    num_classes = spec.num_classes
    if num_classes is None:  # a user dataset without datasets.<name>.num_classes
        num_classes = int(max(arrays["y_train"].max(), arrays["y_test"].max())) + 1
        if num_classes < 2:
            raise PrepareError(f"{spec.name}: every label is 0: a classifier needs at least 2 "
                               f"classes (labels 0, 1, ... in y_train and y_test of "
                               f"datasets.{spec.name}.path)")
    meta = {
        "name": spec.name,
        "kind": spec.kind,
        "num_classes": num_classes,
        "input_shape": list(arrays["x_train"].shape[1:]),
        "n_train": int(arrays["y_train"].shape[0]),
        "n_test": int(arrays["y_test"].shape[0]),
        "source_sha256": raw.source_sha256(),
    }
    with atomic_path(out_path) as tmp:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append .npz to a name
            np.savez(fh, **arrays, meta=np.array(json.dumps(meta, sort_keys=True)))
    return meta


class _Raw:
    """The files listed in MANIFEST.json; each is checked against its recorded SHA-256 on use."""

    def __init__(self, raw_dir: Path, name: str):
        manifest_path = raw_dir / MANIFEST
        if not manifest_path.is_file():
            raise PrepareError(f"{manifest_path} is missing: fetch {name} first")
        self.dir = raw_dir
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("dataset") != name:
            raise PrepareError(f"{manifest_path} is for {self.manifest.get('dataset')!r}, "
                               f"not {name!r}")
        self.entries = {e["name"]: e for e in
                        self.manifest["files"] + self.manifest.get("extracted", [])}

    def path(self, name: str) -> Path:
        entry = self.entries.get(name)
        if entry is None:
            raise PrepareError(f"{name} is not listed in {self.dir / MANIFEST}: {self.refetch}")
        path = Path(entry.get("path") or self.dir / name)
        if not path.is_file():
            raise PrepareError(f"{path} is missing: {self.refetch}")
        if file_sha256(path) != entry["sha256"]:
            raise PrepareError(f"{path} changed since it was fetched (SHA-256 differs from "
                               f"{self.dir / MANIFEST}): {self.refetch}")
        return path

    @property
    def refetch(self) -> str:
        """The fix that makes fetch run again: Snakemake reruns it when its manifest is gone."""
        return f"delete {self.dir} and run again, so that fetch fetches and verifies it afresh"

    def origin(self, name: str) -> str:
        """Where a fetched file came from, for messages."""
        return self.entries.get(name, {}).get("source", "?")

    def source_sha256(self) -> dict[str, str]:
        return {e["name"]: e["sha256"] for e in self.manifest["files"]}


# --- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------------

def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """An unsigned-byte IDX array from a (gzipped) file, after checking header and length."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.name.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise PrepareError(f"{path.name}: corrupt or truncated gzip ({e})") from e
    got = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
    if got != magic:
        raise PrepareError(f"{path.name}: IDX magic number {got}, expected {magic}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise PrepareError(f"{path.name}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected, actual = math.prod(dims), len(data) - header
    if actual != expected:
        raise PrepareError(f"{path.name}: IDX payload is {actual} bytes but the header's "
                           f"dimensions {dims} need {expected} (truncated or corrupt file)")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims)


def _read_idx_dataset(spec: DatasetSpec, raw: _Raw) -> Arrays:
    train_images, train_labels, test_images, test_labels = IDX_FILES
    out = {}
    for split, images, labels in (("train", train_images, train_labels),
                                  ("test", test_images, test_labels)):
        x = read_idx(raw.path(images), IDX_IMAGES_MAGIC)
        y = read_idx(raw.path(labels), IDX_LABELS_MAGIC)
        if len(x) != len(y):
            raise PrepareError(f"{images} has {len(x)} images but {labels} has {len(y)} labels")
        _check_labels(y, spec.num_classes, labels)
        out[f"x_{split}"] = x[:, None]  # add the channel axis: [N, 1, H, W]
        out[f"y_{split}"] = y.astype(np.int64)
    _check_same_shape(out, spec.name)
    return out


# --- CIFAR binary --------------------------------------------------------------------------------

def read_cifar_records(path: str | os.PathLike, label_bytes: int,
                       label_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 3, 32, 32] and int64 labels from fixed-size CIFAR binary records."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8)
    record = label_bytes + CIFAR_PIXELS
    if data.size == 0 or data.size % record:
        raise PrepareError(f"{path.name}: {data.size} bytes is not a whole number of "
                           f"{record}-byte records (truncated or corrupt file)")
    records = data.reshape(-1, record)
    # Each record's pixels are 1024 R, 1024 G, 1024 B bytes, each plane row-major 32x32.
    x = records[:, label_bytes:].reshape(-1, 3, 32, 32)
    return x, records[:, label_index].astype(np.int64)


def _read_cifar(spec: DatasetSpec, raw: _Raw) -> Arrays:
    folder, train_files, test_files, label_bytes, label_index = CIFAR_LAYOUT[spec.kind]
    archive = raw.manifest["files"][0]
    missing = [m for m in cifar_members(spec.kind) if m not in raw.entries]
    if missing:  # fetched before fetch checked the members: the archive is not upstream's
        raise PrepareError(incomplete_archive_message(spec, archive, missing, raw.dir))
    out = {}
    for split, names in (("train", train_files), ("test", test_files)):
        xs, ys = [], []
        for name in names:
            path = raw.path(f"{folder}/{name}")
            if path.stat().st_size == 0:
                raise PrepareError(_empty_split_message(spec, raw, split, f"{folder}/{name}"))
            x, y = read_cifar_records(path, label_bytes, label_index)
            _check_labels(y, spec.num_classes, name)
            xs.append(x)
            ys.append(y)
        out[f"x_{split}"] = np.concatenate(xs)
        out[f"y_{split}"] = np.concatenate(ys)
    return out


# --- the user's .npz (TIMIT, the user's own datasets) --------------------------------------------

def _read_user_npz(spec: DatasetSpec, raw: _Raw) -> Arrays:
    """The four arrays of the user's .npz, checked against its kind (images: uint8 [N, C, H, W];
    features: float [N, D], finite) and labels (integer [N], in range)."""
    entry = raw.manifest["files"][0]
    path = raw.path(entry["name"])
    what = "TIMIT features" if spec.name == "timit" else f"{spec.name} {spec.kind}"
    where = f"{what} {path} (datasets.{spec.name}.path)"
    try:
        with np.load(path, allow_pickle=False) as npz:
            names, missing = user_keys(npz.files)
            if missing:
                raise PrepareError(f"{where}: missing array(s) {missing}")
            arrays = {k: npz[n] for k, n in names.items()}
    except ValueError as e:  # object arrays need pickle, which is refused
        raise PrepareError(f"{where}: unreadable ({e})") from e
    out = {}
    for split in ("train", "test"):
        x, y, xname = arrays[f"x_{split}"], arrays[f"y_{split}"], names[f"x_{split}"]
        if spec.kind == "features":
            if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
                raise PrepareError(f"{where}: {xname} must be a 2-D float array [N, D], "
                                   f"got {x.dtype} {x.shape}")
            if not np.isfinite(x).all():
                raise PrepareError(f"{where}: {xname} contains NaN or infinite values")
        elif x.ndim != 4 or x.dtype != np.uint8:
            raise PrepareError(f"{where}: {xname} must be a 4-D uint8 array [N, C, H, W] (pixels "
                               f"0-255; add the channel axis to grey images: x[:, None]), got "
                               f"{x.dtype} {x.shape}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise PrepareError(f"{where}: y_{split} must be a 1-D integer array [N], "
                               f"got {y.dtype} {y.shape}")
        if len(x) != len(y):
            raise PrepareError(f"{where}: {xname} has {len(x)} rows, y_{split} {len(y)}")
        if spec.num_classes is None:
            if y.size and y.min() < 0:
                raise PrepareError(f"{where}: y_{split} has negative labels ({y.min()}); "
                                   "labels are 0, 1, ..., C - 1")
        else:
            _check_labels(y, spec.num_classes, f"{where}: y_{split}")
        out[f"x_{split}"] = x.astype(np.float32) if spec.kind == "features" else x
        out[f"y_{split}"] = y.astype(np.int64)
    _check_same_shape(out, where)
    return out


# --- checks --------------------------------------------------------------------------------------

def _empty_split_message(spec: DatasetSpec, raw: _Raw, split: str,
                         member: str | None = None) -> str:
    """An empty split (for CIFAR: an empty data file of it): dataset, split, file and the fix."""
    start = f"{spec.name}: the {split} split is empty"
    if spec.user_file:
        path = raw.manifest["files"][0].get("path", "?")
        x, examples = ("X", "frames") if spec.name == "timit" else ("x", "examples")
        return (f"{start}: {x}_{split} and y_{split} in datasets.{spec.name}.path = {path} have "
                f"0 rows. Fix: write your {split} {examples} into {x}_{split} and y_{split} of "
                f"that file ({spec.file_format}); the workflow then fetches and prepares it again "
                f"by itself.")
    if spec.kind == "idx":
        images, labels = IDX_FILES[:2] if split == "train" else IDX_FILES[2:]
        return (f"{start}: {images} (from {raw.origin(images)}) holds 0 images and {labels} "
                f"(from {raw.origin(labels)}) 0 labels. Fix: put the upstream {images} and "
                f"{labels} in their place (they match the registry's checksums: remove any "
                f"datasets.{spec.name}.checksums override of them), then delete {raw.dir} and "
                f"run again.")
    archive = raw.manifest["files"][0]
    upstream_md5 = DATASETS[spec.name].file(archive["name"]).md5
    return (f"{start} or incomplete: {member} in the archive {archive['name']} (from "
            f"{archive.get('source', '?')}) holds 0 bytes; the archive is not upstream's. Fix: "
            f"put the upstream {archive['name']} (md5 {upstream_md5}) in its place, remove any "
            f"datasets.{spec.name}.checksums override of it, then delete {raw.dir} and run again.")


def _check_labels(y: np.ndarray, num_classes: int, what: str) -> None:
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise PrepareError(f"{what}: labels span [{y.min()}, {y.max()}], expected values in "
                           f"[0, {num_classes})")


def _check_same_shape(arrays: Arrays, what: str) -> None:
    train, test = arrays["x_train"].shape[1:], arrays["x_test"].shape[1:]
    if train != test:
        raise PrepareError(f"{what}: train examples have shape {train}, test examples {test}")
