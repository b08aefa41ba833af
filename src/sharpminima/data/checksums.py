"""Checksums of fetched files: a file's digest, and the SHA-256 of a gzip file's content.

The content hash is what identifies a re-compressed copy (Debian's Fashion-MNIST): its bytes, and
so its MD5, differ from upstream's, its decompressed content does not.
"""

from __future__ import annotations

import gzip
import hashlib
import os

CHUNK = 1 << 20  # bytes read per step


def file_digest(path: str | os.PathLike, algorithm: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def content_sha256(path: str | os.PathLike, compressed: bool | None = None) -> str:
    """SHA-256 of the decompressed bytes of a gzip file, of the file itself otherwise.

    `compressed` defaults to whether the name ends with `.gz`.
    """
    if compressed is None:
        compressed = str(path).endswith(".gz")
    if not compressed:
        return file_sha256(path)
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()
