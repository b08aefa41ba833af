"""Registry of the paper's datasets: upstream files, checksums, sources and shapes.

A spec says *what* to fetch and how to check it; `fetch.py` does the fetching and `prepare.py`
turns the fetched files into the canonical .npz. The pipeline config (`datasets.<name>`) may
replace the sources and checksums (its tests serve generated files), name the user's feature file
of TIMIT, or declare a dataset of the user's own: one .npz (`path`) of images or features
(`kind`), imported exactly as TIMIT is (TIMIT is one instance of it). `resolve` applies and
validates those overrides.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Mapping

# The user-file kinds: one .npz the user supplies (nothing is downloaded), see USER_FORMAT.
USER_KINDS = ("images", "features")
KINDS = ("idx", "cifar10", "cifar100", *USER_KINDS)

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# CIFAR archives: kind -> (directory in the archive, train files, test files, label bytes per
# record, label used). fetch checks that an extracted archive holds them; prepare reads them.
CIFAR_LAYOUT = {
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)],
                ["test_batch.bin"], 1, 0),
    "cifar100": ("cifar-100-binary", ["train.bin"], ["test.bin"], 2, 1),  # fine label, 100 classes
}


def cifar_members(kind: str) -> list[str]:
    """The data files (archive member paths) a CIFAR archive of `kind` must hold."""
    folder, train_files, test_files, _, _ = CIFAR_LAYOUT[kind]
    return [f"{folder}/{name}" for name in train_files + test_files]


@dataclass(frozen=True)
class FileSpec:
    """One upstream file. Either checksum matching is enough (see fetch.verify)."""

    name: str
    md5: str | None = None  # of the file as stored (for .gz: the compressed bytes)
    content_sha256: str | None = None  # for .gz: of the DECOMPRESSED bytes, else of the file


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    kind: str  # one of KINDS
    files: tuple[FileSpec, ...]
    sources: tuple[str, ...]  # tried in order: local dirs, file:// or http(s):// URL prefixes
    num_classes: int | None  # None: a user dataset's, from its labels (max + 1)
    input_shape: tuple[int, ...]  # per example (() for a user dataset: from its file)
    hint: str = ""  # what to do when every source fails
    path: str | None = None  # user-file kinds: the user's .npz (config key datasets.<name>.path)

    @property
    def user_file(self) -> bool:
        """The data is one .npz the user supplies (TIMIT, the user's own datasets)."""
        return self.kind in USER_KINDS

    @property
    def file_format(self) -> str:
        """What the user's .npz must hold (for messages)."""
        return TIMIT_FORMAT if self.name == "timit" else USER_FORMAT[self.kind]

    def file(self, name: str) -> FileSpec:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no file {name!r}")


def _idx_files(md5s: tuple[str, ...], sha256s: tuple[str | None, ...] = (None,) * 4):
    return tuple(FileSpec(n, m, s) for n, m, s in zip(IDX_FILES, md5s, sha256s))


def _manual(name: str) -> str:
    # Relative to the working directory, i.e. the repository root when run by Snakemake.
    return f"data/manual/{name}"


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist", kind="idx",
        files=_idx_files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                          "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
        sources=(
            _manual("mnist"),
            "https://ossci-datasets.s3.amazonaws.com/mnist",  # PyTorch's mirror
            "https://storage.googleapis.com/cvdf-datasets/mnist",  # TensorFlow's mirror
            "http://yann.lecun.com/exdb/mnist",  # the original; often down, hence last
        ),
        num_classes=10, input_shape=(1, 28, 28),
        hint="network access or put the files in data/manual/mnist",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist", kind="idx",
        # Debian re-compressed the files: their gz MD5s differ but the decompressed SHA-256 match.
        files=_idx_files(
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
             "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
             "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
             "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34")),
        sources=(
            _manual("fashion_mnist"),
            "/usr/share/datasets/fashion-mnist",  # Debian package dataset-fashion-mnist
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion",
        ),
        num_classes=10, input_shape=(1, 28, 28),
        hint="apt-get install dataset-fashion-mnist (Debian, as root) or network access, "
             "or put the four files in data/manual/fashion_mnist",
    ),
    "cifar10": DatasetSpec(
        name="cifar10", kind="cifar10",
        files=(FileSpec("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),),
        sources=(_manual("cifar10"), "https://www.cs.toronto.edu/~kriz"),
        num_classes=10, input_shape=(3, 32, 32),
        hint="network access or put the files in data/manual/cifar10",
    ),
    "cifar100": DatasetSpec(
        name="cifar100", kind="cifar100",
        files=(FileSpec("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"),),
        sources=(_manual("cifar100"), "https://www.cs.toronto.edu/~kriz"),
        num_classes=100, input_shape=(3, 32, 32),
        hint="network access or put the files in data/manual/cifar100",
    ),
    # Licensed (LDC93S1): nothing to download; the user supplies extracted frame features.
    "timit": DatasetSpec(
        name="timit", kind="features", files=(), sources=(),
        num_classes=1973, input_shape=(360,),
        hint="set datasets.timit.path in the config to your TIMIT feature .npz",
    ),
}

TIMIT_FORMAT = ("an .npz (np.savez, no pickled objects) holding X_train: float32 [N, D] (D = 360 "
                "in the paper), y_train: integer [N] with values in [0, 1973), X_test: float32 "
                "[M, D], y_test: integer [M]")
_USER_LABELS = ("y_train: integer [N], x_test, y_test likewise [M] (labels in [0, C): C is "
                "datasets.<name>.num_classes, else the largest label + 1); X_train/X_test are "
                "accepted for x_train/x_test")
USER_FORMAT = {
    "images": ("an .npz (np.savez, no pickled objects) holding x_train: uint8 [N, C, H, W] "
               f"(pixels 0-255, scaled to [0, 1] on use), {_USER_LABELS}"),
    "features": f"an .npz (np.savez, no pickled objects) holding x_train: float32 [N, D], "
                f"{_USER_LABELS}",
}

_HEX = {"md5": re.compile(r"[0-9a-f]{32}"), "content_sha256": re.compile(r"[0-9a-f]{64}")}


def resolve(name: str, overrides: Mapping[str, Any] | None = None) -> DatasetSpec:
    """The registry spec for `name` with the config's `datasets.<name>` overrides applied.

    Allowed keys: `sources` (list of str) and `checksums` ({file name: {"md5": ..., and/or
    "content_sha256": ...}}; given checksums REPLACE that file's registry checksums), or for
    TIMIT `path`. A name outside the registry is the user's own dataset: `path`, `kind` (images |
    features) and optionally `num_classes`. Unknown keys are errors, so that a typo does not
    silently do nothing.
    """
    overrides = dict(overrides or {})
    if name not in DATASETS:
        return _user_dataset(name, overrides)
    spec = DATASETS[name]
    allowed = {"path"} if spec.user_file else {"sources", "checksums"}
    unknown = set(overrides) - allowed
    if unknown:
        raise ValueError(f"datasets.{name}: unknown key(s) {sorted(unknown)}; "
                         f"allowed: {sorted(allowed)}")
    changes: dict[str, Any] = {}
    if "sources" in overrides:
        changes["sources"] = _check_sources(name, overrides["sources"])
    if "checksums" in overrides:
        changes["files"] = _apply_checksums(spec, overrides["checksums"])
    if "path" in overrides and overrides["path"] is not None:
        if not isinstance(overrides["path"], str) or not overrides["path"]:
            raise ValueError(f"datasets.{name}.path must be a non-empty string")
        changes["path"] = overrides["path"]
    return dataclasses.replace(spec, **changes)


def _user_dataset(name: str, overrides: Mapping[str, Any]) -> DatasetSpec:
    """A dataset of the user's own: datasets.<name>.{path, kind, num_classes}."""
    key = f"datasets.{name}"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
        raise ValueError(f"dataset name {name!r}: use letters, digits and _ (a letter first)")
    unknown = set(overrides) - {"path", "kind", "num_classes"}
    if unknown:
        raise ValueError(f"{key}: unknown key(s) {sorted(unknown)}; a dataset of your own takes "
                         "path, kind and num_classes")
    kind, path = overrides.get("kind"), overrides.get("path")
    if kind not in USER_KINDS:
        raise ValueError(f"unknown dataset {name!r} (registry: {', '.join(sorted(DATASETS))}); "
                         f"to use your own, set {key}.kind to one of {list(USER_KINDS)}, got "
                         f"{kind!r}")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{key}.path must name your .npz: {USER_FORMAT[kind]}")
    classes = overrides.get("num_classes")
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, int)
                                or classes < 2):
        raise ValueError(f"{key}.num_classes must be an integer >= 2 (or null), got {classes!r}")
    return DatasetSpec(name=name, kind=kind, files=(), sources=(), num_classes=classes,
                       input_shape=(), hint=f"set {key}.path to your .npz", path=path)


def _check_sources(name: str, sources: Any) -> tuple[str, ...]:
    if not isinstance(sources, (list, tuple)) or not all(isinstance(s, str) and s
                                                          for s in sources):
        raise ValueError(f"datasets.{name}.sources must be a list of non-empty strings")
    for s in sources:
        if "://" in s and not s.startswith(("http://", "https://", "file://")):
            raise ValueError(f"datasets.{name}.sources: unsupported URL scheme in {s!r} "
                             "(use http://, https://, file:// or a directory path)")
    return tuple(sources)


def _apply_checksums(spec: DatasetSpec, checksums: Any) -> tuple[FileSpec, ...]:
    key = f"datasets.{spec.name}.checksums"
    if not isinstance(checksums, Mapping):
        raise ValueError(f"{key} must be a mapping of file name to checksums")
    names = {f.name for f in spec.files}
    files = {f.name: f for f in spec.files}
    for fname, sums in checksums.items():
        if fname not in names:
            raise ValueError(f"{key}: {spec.name} has no file {fname!r}; files: {sorted(names)}")
        if not isinstance(sums, Mapping) or not sums or set(sums) - set(_HEX):
            raise ValueError(f"{key}.{fname} must map 'md5' and/or 'content_sha256' to a hex "
                             f"digest, got {sums!r}")
        for algo, digest in sums.items():
            if not isinstance(digest, str) or not _HEX[algo].fullmatch(digest.lower()):
                raise ValueError(f"{key}.{fname}.{algo} is not a valid hex digest: {digest!r}")
        files[fname] = FileSpec(fname, _lower(sums.get("md5")), _lower(sums.get("content_sha256")))
    return tuple(files[f.name] for f in spec.files)


def _lower(digest: str | None) -> str | None:
    return digest.lower() if digest else None
