"""Small generated datasets in the exact upstream file formats, and a loopback HTTP server.

No machine of this project reaches the internet, so the real download-verify-extract-prepare path
is exercised on these files. The data is random but learnable: each class has its own mean
pattern, plus noise, so a tiny network gets well above chance. Everything is deterministic for a
given seed (gzip and tar timestamps are fixed), so checksums are stable.

Used by tests/test_datasets.py and by the pipeline's integration test; keep the API stable.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

IDX_NAMES = {"train_images": "train-images-idx3-ubyte.gz",
             "train_labels": "train-labels-idx1-ubyte.gz",
             "test_images": "t10k-images-idx3-ubyte.gz",
             "test_labels": "t10k-labels-idx1-ubyte.gz"}
CIFAR_ARCHIVES = {"cifar10": ("cifar-10-binary.tar.gz", "cifar-10-batches-bin"),
                  "cifar100": ("cifar-100-binary.tar.gz", "cifar-100-binary")}
_MTIME = 1_500_000_000  # fixed tar member time: identical bytes on every run

Checksums = dict[str, dict[str, str]]


def md5_of(path: str | Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _gzip(data: bytes, level: int = 9) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)


def _balanced_labels(rng: np.random.Generator, n: int, num_classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % num_classes)


def _class_images(rng: np.random.Generator, prototypes: np.ndarray, y: np.ndarray,
                  noise: float) -> np.ndarray:
    x = prototypes[y] + rng.normal(0.0, noise, (len(y), *prototypes.shape[1:]))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


# --- IDX (MNIST / Fashion-MNIST) -----------------------------------------------------------------

def idx_arrays(n_train: int = 600, n_test: int = 100, shape: tuple[int, int] = (28, 28),
               num_classes: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays write_idx_dataset stores: x_* uint8 [N, H, W], y_* uint8 [N]."""
    rng = np.random.default_rng(seed)
    # Each class lights its own random quarter of the pixels.
    prototypes = np.where(rng.random((num_classes, *shape)) < 0.25, 200.0, 30.0)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = _balanced_labels(rng, n, num_classes)
        out[f"x_{split}"] = _class_images(rng, prototypes, y, noise=40.0)
        out[f"y_{split}"] = y.astype(np.uint8)
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """Uncompressed IDX encoding of a uint8 array (magic 0x0000 08 <ndim>, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_dataset(directory: str | Path, n_train: int = 600, n_test: int = 100,
                      shape: tuple[int, int] = (28, 28), num_classes: int = 10,
                      seed: int = 0) -> Checksums:
    """Write the four upstream-named .gz IDX files; returns {file name: {"md5": ...}}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = idx_arrays(n_train, n_test, shape, num_classes, seed)
    contents = {IDX_NAMES["train_images"]: arrays["x_train"],
                IDX_NAMES["train_labels"]: arrays["y_train"],
                IDX_NAMES["test_images"]: arrays["x_test"],
                IDX_NAMES["test_labels"]: arrays["y_test"]}
    sums = {}
    for name, array in contents.items():
        (directory / name).write_bytes(_gzip(idx_bytes(array)))
        sums[name] = {"md5": md5_of(directory / name)}
    return sums


def rewrite_gz(path: str | Path, keep_bytes: int | None = None, level: int = 9) -> dict[str, str]:
    """Re-compress a .gz file in place (optionally keeping only the first `keep_bytes` of its
    content, e.g. to make a truncated IDX file); returns its new {"md5": ...}."""
    path = Path(path)
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(_gzip(data if keep_bytes is None else data[:keep_bytes], level))
    return {"md5": md5_of(path)}


# --- CIFAR binary --------------------------------------------------------------------------------

def cifar_arrays(which: str = "cifar10", n_train_per_batch: int = 50, n_test: int = 50,
                 seed: int = 0) -> dict[str, np.ndarray]:
    """The arrays write_cifar_binary stores: x_* uint8 [N, 3, 32, 32], y_* int64 [N] (fine labels
    for CIFAR-100, whose coarse labels are in coarse_*). CIFAR-10 has 5 train batches of
    n_train_per_batch records each; CIFAR-100 one train file of n_train_per_batch records."""
    num_classes = {"cifar10": 10, "cifar100": 100}[which]
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(20.0, 235.0, (num_classes, 3, 32, 32))
    n_train = n_train_per_batch * (5 if which == "cifar10" else 1)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = _balanced_labels(rng, n, num_classes)
        out[f"x_{split}"] = _class_images(rng, prototypes, y, noise=30.0)
        out[f"y_{split}"] = y.astype(np.int64)
        if which == "cifar100":
            out[f"coarse_{split}"] = (y // 5).astype(np.int64)  # 20 superclasses of 5
    return out


def _cifar_records(x: np.ndarray, *labels: np.ndarray) -> bytes:
    head = np.stack(labels, axis=1).astype(np.uint8)
    return np.concatenate([head, x.reshape(len(x), -1)], axis=1).tobytes()


def _tar_gz(members: Iterable[tuple[str, bytes | None]]) -> bytes:
    """A deterministic tar.gz; a member whose content is None is a directory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.mtime = _MTIME
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return _gzip(buffer.getvalue())


def write_cifar_binary(directory: str | Path, which: str = "cifar10", n_train_per_batch: int = 50,
                       n_test: int = 50, seed: int = 0) -> Checksums:
    """Write cifar-10-binary.tar.gz or cifar-100-binary.tar.gz with the upstream member layout;
    returns {archive name: {"md5": ...}}."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    archive, folder = CIFAR_ARCHIVES[which]
    a = cifar_arrays(which, n_train_per_batch, n_test, seed)
    members: list[tuple[str, bytes | None]] = [(folder, None)]
    if which == "cifar10":
        for i in range(5):
            part = slice(i * n_train_per_batch, (i + 1) * n_train_per_batch)
            members.append((f"{folder}/data_batch_{i + 1}.bin",
                            _cifar_records(a["x_train"][part], a["y_train"][part])))
        members += [(f"{folder}/test_batch.bin", _cifar_records(a["x_test"], a["y_test"])),
                    (f"{folder}/batches.meta.txt",
                     "".join(f"class{i}\n" for i in range(10)).encode()),
                    (f"{folder}/readme.html", b"<html>generated test data</html>\n")]
    else:
        members += [(f"{folder}/train.bin",
                     _cifar_records(a["x_train"], a["coarse_train"], a["y_train"])),
                    (f"{folder}/test.bin",
                     _cifar_records(a["x_test"], a["coarse_test"], a["y_test"])),
                    (f"{folder}/coarse_label_names.txt",
                     "".join(f"super{i}\n" for i in range(20)).encode()),
                    (f"{folder}/fine_label_names.txt",
                     "".join(f"class{i}\n" for i in range(100)).encode())]
    (directory / archive).write_bytes(_tar_gz(members))
    return {archive: {"md5": md5_of(directory / archive)}}


def write_malicious_tar(path: str | Path, members: Iterable[str] = ("../evil", "/abs/evil"),
                        symlink: tuple[str, str] | None = None) -> dict[str, str]:
    """A tar.gz with a harmless first member, then members escaping the extraction directory
    (and optionally a symlink (name, target)); returns its {"md5": ...}."""
    path = Path(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        entries = [("cifar-10-batches-bin/readme.html", b"harmless\n")]
        entries += [(name, b"evil\n") for name in members]
        for name, content in entries:
            info = tarfile.TarInfo(name)  # addfile keeps the name verbatim, even absolute
            info.size, info.mtime = len(content), _MTIME
            tar.addfile(info, io.BytesIO(content))
        if symlink is not None:
            info = tarfile.TarInfo(symlink[0])
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, symlink[1], _MTIME
            tar.addfile(info)
    path.write_bytes(_gzip(buffer.getvalue()))
    return {"md5": md5_of(path)}


# --- TIMIT ---------------------------------------------------------------------------------------

def write_timit_npz(path: str | Path, n_train: int = 200, n_test: int = 50, dim: int = 360,
                    num_classes: int = 1973, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a TIMIT feature file in the import format; returns the arrays written."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 1.0, (num_classes, dim))
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = rng.integers(0, num_classes, n)
        arrays[f"X_{split}"] = (means[y] + rng.normal(0.0, 0.5, (n, dim))).astype(np.float32)
        arrays[f"y_{split}"] = y.astype(np.int32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return arrays


# --- loopback HTTP server ------------------------------------------------------------------------

class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        pass


@contextlib.contextmanager
def serve_directory(directory: str | Path) -> Iterator[str]:
    """Serve `directory` over HTTP on 127.0.0.1 (a free port) in a thread; yields the base URL
    (no trailing slash), e.g. http://127.0.0.1:41234. Stopped on exit."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
