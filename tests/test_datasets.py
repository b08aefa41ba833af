"""Dataset registry, fetch (download, verify, extract) and prepare, on generated upstream-format
files served from a loopback HTTP server or local directories."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from fakedata import (
    cifar_arrays,
    idx_arrays,
    rewrite_gz,
    serve_directory,
    write_cifar_binary,
    write_idx_dataset,
    write_malicious_tar,
    write_timit_npz,
)
from sharpminima.data import fetch as fetch_module
from sharpminima.data import splits as data
from sharpminima.data.checksums import content_sha256
from sharpminima.data.datasets import DATASETS, IDX_FILES, resolve
from sharpminima.data.fetch import FetchError, extract_tar, fetch
from sharpminima.data.prepare import PrepareError, prepare

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def quiet(_: str) -> None:
    pass


def load_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def leftovers(directory: Path) -> list[str]:
    """Hidden temp files or staging directories left in `directory`."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- registry ------------------------------------------------------------------------------------

def test_registry_covers_the_papers_datasets():
    assert set(DATASETS) == {"mnist", "fashion_mnist", "cifar10", "cifar100", "timit"}
    fashion = resolve("fashion_mnist")
    assert [f.name for f in fashion.files] == list(IDX_FILES)
    assert all(f.md5 and f.content_sha256 for f in fashion.files)
    assert "/usr/share/datasets/fashion-mnist" in fashion.sources
    assert resolve("mnist").sources[0] == "data/manual/mnist"
    assert resolve("cifar100").num_classes == 100
    assert resolve("timit").input_shape == (360,)


def test_resolve_overrides_replace_sources_and_checksums():
    sha = "ab" * 32
    spec = resolve("fashion_mnist", {"sources": ["/x"],
                                     "checksums": {IDX_FILES[0]: {"content_sha256": sha}}})
    assert spec.sources == ("/x",)
    assert spec.files[0].md5 is None and spec.files[0].content_sha256 == sha
    assert spec.files[1] == DATASETS["fashion_mnist"].files[1]
    assert resolve("timit", {"path": "t.npz"}).path == "t.npz"


@pytest.mark.parametrize("overrides, message", [
    ({"source": ["x"]}, "unknown key"),
    ({"sources": "http://x"}, "list of non-empty strings"),
    ({"sources": ["ftp://x"]}, "unsupported URL scheme"),
    ({"checksums": {"nope.gz": {"md5": "0" * 32}}}, "no file 'nope.gz'"),
    ({"checksums": {IDX_FILES[0]: {"md5": "xyz"}}}, "not a valid hex digest"),
    ({"checksums": {IDX_FILES[0]: {"sha1": "0" * 40}}}, "'md5' and/or 'content_sha256'"),
])
def test_resolve_rejects_bad_overrides(overrides, message):
    with pytest.raises(ValueError, match=message):
        resolve("mnist", overrides)
    with pytest.raises(ValueError, match="unknown dataset"):
        resolve("imagenet")


# --- IDX over HTTP -------------------------------------------------------------------------------

def test_idx_download_verify_prepare(tmp_path):
    sums = write_idx_dataset(tmp_path / "www", n_train=120, n_test=40, seed=3)
    with serve_directory(tmp_path / "www") as url:
        spec = resolve("mnist", {"sources": [url], "checksums": sums})
        manifest_path = fetch(spec, tmp_path / "raw", log=quiet)
    manifest = json.loads(manifest_path.read_text())
    assert manifest_path == tmp_path / "raw" / "MANIFEST.json"
    assert [f["name"] for f in manifest["files"]] == list(IDX_FILES)
    assert all(f["source"] == f"{url}/{f['name']}" and f["verified_by"] == "md5"
               for f in manifest["files"])
    assert leftovers(tmp_path / "raw") == []

    meta = prepare(spec, tmp_path / "raw", tmp_path / "mnist.npz")
    out = load_npz(tmp_path / "mnist.npz")
    want = idx_arrays(120, 40, seed=3)
    assert out["x_train"].dtype == np.uint8 and out["x_train"].shape == (120, 1, 28, 28)
    assert out["y_train"].dtype == np.int64
    np.testing.assert_array_equal(out["x_train"][:, 0], want["x_train"])
    np.testing.assert_array_equal(out["y_train"], want["y_train"])
    np.testing.assert_array_equal(out["x_test"][:, 0], want["x_test"])
    np.testing.assert_array_equal(out["y_test"], want["y_test"])
    assert json.loads(str(out["meta"])) == meta
    assert meta["n_train"] == 120 and meta["n_test"] == 40 and meta["num_classes"] == 10
    assert meta["input_shape"] == [1, 28, 28]
    assert meta["source_sha256"] == {f["name"]: f["sha256"] for f in manifest["files"]}
    # The file is what the training code loads.
    loaded = data.load(tmp_path / "mnist.npz")
    assert len(loaded.train) == 120 and loaded.input_shape == (1, 28, 28)


def test_source_fallback_and_progress_lines(tmp_path, monkeypatch):
    sums = write_idx_dataset(tmp_path / "www" / "real", n_train=20, n_test=10)
    monkeypatch.setattr(fetch_module, "PROGRESS_MIN_BYTES", 1)
    lines: list[str] = []
    with serve_directory(tmp_path) as dead:
        pass  # its port is closed now: connection refused
    with serve_directory(tmp_path / "www") as url:
        spec = resolve("mnist", {"sources": [str(tmp_path / "missing"), dead,
                                             f"{url}/nothing-here", f"{url}/real/"],
                                 "checksums": sums})
        manifest = json.loads(fetch(spec, tmp_path / "raw", log=lines.append).read_text())
    assert all(f["source"].startswith(f"{url}/real/") for f in manifest["files"])
    text = "\n".join(lines)
    assert "no such directory" in text and "network error" in text and "HTTP 404" in text
    assert "100%" in text


def test_corrupted_download_fails_cleanly(tmp_path):
    sums = write_idx_dataset(tmp_path / "www", n_train=20, n_test=10)
    sums[IDX_FILES[3]] = {"md5": "0" * 32}  # the last file: the first three succeed first
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "MANIFEST.json").write_text("{}")  # a stale manifest from an earlier run
    with serve_directory(tmp_path / "www") as url:
        spec = resolve("mnist", {"sources": [url], "checksums": sums})
        with pytest.raises(FetchError) as err:
            fetch(spec, raw, log=quiet)
    message = str(err.value)
    assert IDX_FILES[3] in message and "0" * 32 in message and "checksum mismatch" in message
    assert "data/manual/mnist" in message  # the hint
    assert list(raw.iterdir()) == []  # no manifest, no temp file, no earlier files


def test_truncated_gzip_download_is_rejected(tmp_path):
    write_idx_dataset(tmp_path / "www", n_train=20, n_test=10)
    name = IDX_FILES[0]
    good = content_sha256(tmp_path / "www" / name)
    blob = (tmp_path / "www" / name).read_bytes()
    (tmp_path / "www" / name).write_bytes(blob[: len(blob) // 2])
    with serve_directory(tmp_path / "www") as url:
        spec = resolve("fashion_mnist", {"sources": [url],
                                         "checksums": {name: {"content_sha256": good}}})
        with pytest.raises(FetchError, match="truncated or corrupt gzip"):
            fetch(spec, tmp_path / "raw", log=quiet)
    assert list((tmp_path / "raw").iterdir()) == []


def test_truncated_idx_fails_prepare_without_output(tmp_path):
    sums = write_idx_dataset(tmp_path / "www", n_train=20, n_test=10)
    name = IDX_FILES[2]  # test images: 16-byte header + 10 * 784 bytes
    sums[name] = rewrite_gz(tmp_path / "www" / name, keep_bytes=16 + 10 * 784 - 100)
    spec = resolve("mnist", {"sources": [str(tmp_path / "www")], "checksums": sums})
    fetch(spec, tmp_path / "raw", log=quiet)
    out = tmp_path / "prepared" / "mnist.npz"
    out.parent.mkdir()
    with pytest.raises(PrepareError) as err:
        prepare(spec, tmp_path / "raw", out)
    assert name in str(err.value) and "7740" in str(err.value) and "7840" in str(err.value)
    assert not out.exists() and leftovers(out.parent) == []


def test_prepare_refuses_files_changed_since_fetch(tmp_path):
    sums = write_idx_dataset(tmp_path / "www", n_train=20, n_test=10)
    spec = resolve("mnist", {"sources": [str(tmp_path / "www")], "checksums": sums})
    fetch(spec, tmp_path / "raw", log=quiet)
    rewrite_gz(tmp_path / "raw" / IDX_FILES[1], level=1)
    with pytest.raises(PrepareError, match="changed since it was fetched"):
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    with pytest.raises(PrepareError, match="fetch cifar10 first"):
        prepare(resolve("cifar10"), tmp_path / "nowhere", tmp_path / "out.npz")


# --- Fashion-MNIST from a local directory --------------------------------------------------------

def test_recompressed_gz_accepted_by_content_sha256(tmp_path):
    """Debian re-compressed Fashion-MNIST: gz MD5 differs, decompressed content matches."""
    upstream = write_idx_dataset(tmp_path / "upstream", n_train=30, n_test=10)
    checksums = {name: {"md5": upstream[name]["md5"],
                        "content_sha256": content_sha256(tmp_path / "upstream" / name)}
                 for name in IDX_FILES}
    write_idx_dataset(tmp_path / "debian", n_train=30, n_test=10)
    for name in IDX_FILES:
        assert rewrite_gz(tmp_path / "debian" / name, level=1) != upstream[name]
    spec = resolve("fashion_mnist", {"sources": [tmp_path.joinpath("debian").as_uri()],
                                     "checksums": checksums})
    manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    assert {f["verified_by"] for f in manifest["files"]} == {"content_sha256"}
    meta = prepare(spec, tmp_path / "raw", tmp_path / "fashion.npz")
    assert meta["name"] == "fashion_mnist" and meta["n_train"] == 30
    np.testing.assert_array_equal(load_npz(tmp_path / "fashion.npz")["y_test"],
                                  idx_arrays(30, 10)["y_test"])


def test_decompressed_files_in_manual_dir_are_accepted(tmp_path, monkeypatch):
    sums = write_idx_dataset(tmp_path / "gz", n_train=30, n_test=10)
    manual = tmp_path / "data" / "manual" / "fashion_mnist"
    manual.mkdir(parents=True)
    checksums = {}
    for name in IDX_FILES:
        content = gzip.decompress((tmp_path / "gz" / name).read_bytes())
        (manual / name.removesuffix(".gz")).write_bytes(content)
        checksums[name] = {"md5": sums[name]["md5"],
                           "content_sha256": content_sha256(tmp_path / "gz" / name)}
    monkeypatch.chdir(tmp_path)  # the default first source is data/manual/<name>, relative
    spec = resolve("fashion_mnist", {"checksums": checksums})
    manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    assert [f["source"] for f in manifest["files"]] == [
        f"data/manual/fashion_mnist/{n.removesuffix('.gz')}" for n in IDX_FILES]
    prepare(spec, tmp_path / "raw", tmp_path / "fashion.npz")
    np.testing.assert_array_equal(load_npz(tmp_path / "fashion.npz")["x_train"][:, 0],
                                  idx_arrays(30, 10)["x_train"])


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_debian_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/manual here: the Debian directory is used
    spec = resolve("fashion_mnist")
    manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    assert all(f["source"].startswith(str(DEBIAN_FASHION)) for f in manifest["files"])
    meta = prepare(spec, tmp_path / "raw", tmp_path / "fashion.npz")
    assert (meta["n_train"], meta["n_test"], meta["input_shape"]) == (60000, 10000, [1, 28, 28])
    out = load_npz(tmp_path / "fashion.npz")
    assert np.bincount(out["y_train"]).tolist() == [6000] * 10


# --- CIFAR ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["cifar10", "cifar100"])
def test_cifar_download_extract_prepare(tmp_path, which):
    sums = write_cifar_binary(tmp_path / "www", which, n_train_per_batch=40, n_test=30, seed=1)
    with serve_directory(tmp_path / "www") as url:
        spec = resolve(which, {"sources": [url], "checksums": sums})
        manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    names = {e["name"] for e in manifest["extracted"]}
    if which == "cifar10":
        assert {f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)} < names
    else:
        assert {"cifar-100-binary/train.bin", "cifar-100-binary/test.bin"} < names
    assert leftovers(tmp_path / "raw") == []

    meta = prepare(spec, tmp_path / "raw", tmp_path / f"{which}.npz")
    out, want = load_npz(tmp_path / f"{which}.npz"), cifar_arrays(which, 40, 30, seed=1)
    n_train = 200 if which == "cifar10" else 40
    assert out["x_train"].shape == (n_train, 3, 32, 32) and out["x_train"].dtype == np.uint8
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(out[key], want[key])  # CIFAR-100: fine labels
    assert meta["num_classes"] == (10 if which == "cifar10" else 100)
    assert meta["input_shape"] == [3, 32, 32]


@pytest.mark.parametrize("members, symlink, bad", [
    (["../evil"], None, "../evil"),
    (["/abs/evil"], None, "/abs/evil"),
    (["cifar-10-batches-bin/../../evil"], None, "cifar-10-batches-bin/../../evil"),
    ([], ("cifar-10-batches-bin/link", "/etc/passwd"), "cifar-10-batches-bin/link"),
])
def test_malicious_tar_is_rejected(tmp_path, members, symlink, bad):
    www, raw = tmp_path / "www", tmp_path / "sub" / "raw"
    www.mkdir()
    md5 = write_malicious_tar(www / "cifar-10-binary.tar.gz", members, symlink)
    spec = resolve("cifar10", {"sources": [str(www)],
                               "checksums": {"cifar-10-binary.tar.gz": md5}})
    with pytest.raises(FetchError) as err:
        fetch(spec, raw, log=quiet)
    assert repr(bad) in str(err.value)
    assert list(raw.iterdir()) == []  # not even the harmless first member, nor the archive
    assert not (tmp_path / "evil").exists() and not (tmp_path / "sub" / "evil").exists()
    assert not Path("/abs/evil").exists()


def test_extract_tar_checks_every_member_first(tmp_path):
    write_malicious_tar(tmp_path / "bad.tar.gz")  # both ../evil and /abs/evil
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="'../evil'"):
        extract_tar(tmp_path / "bad.tar.gz", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


# --- TIMIT ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [None, "does/not/exist.npz"])
def test_missing_timit_names_config_key_and_format(tmp_path, path):
    spec = resolve("timit", {"path": path} if path else None)
    with pytest.raises(FetchError) as err:
        fetch(spec, tmp_path / "raw", log=quiet)
    message = str(err.value)
    assert "datasets.timit.path" in message
    assert "X_train" in message and "[N, D]" in message and "1973" in message
    assert not (tmp_path / "raw" / "MANIFEST.json").exists()


def test_timit_npz_is_prepared(tmp_path):
    want = write_timit_npz(tmp_path / "user" / "timit.npz", n_train=60, n_test=20, dim=360,
                           num_classes=50, seed=2)
    spec = resolve("timit", {"path": str(tmp_path / "user" / "timit.npz")})
    manifest = json.loads(fetch(spec, tmp_path / "raw", log=quiet).read_text())
    assert manifest["files"][0]["path"] == str(tmp_path / "user" / "timit.npz")
    meta = prepare(spec, tmp_path / "raw", tmp_path / "timit.npz")
    out = load_npz(tmp_path / "timit.npz")
    assert out["x_train"].dtype == np.float32 and out["x_train"].shape == (60, 360)
    assert out["y_train"].dtype == np.int64
    np.testing.assert_array_equal(out["x_train"], want["X_train"])
    np.testing.assert_array_equal(out["y_test"], want["y_test"])
    assert meta["num_classes"] == 1973 and meta["input_shape"] == [360]
    assert data.load(tmp_path / "timit.npz").input_shape == (360,)


@pytest.mark.parametrize("change, message", [
    ({"y_train": np.full(4, 1973)}, r"expected values in \[0, 1973\)"),
    ({"X_train": np.zeros((4, 3, 2), np.float32)}, "2-D float"),
    ({"y_test": np.zeros(2, np.float32)}, "1-D integer"),
    ({"X_test": np.zeros((2, 5), np.float32)}, "train examples have shape"),
    ({"y_test": np.zeros(3, np.int64)}, "rows"),
    ({"X_train": np.full((4, 6), np.nan, np.float32)}, "NaN"),
])
def test_invalid_timit_npz_is_rejected(tmp_path, change, message):
    arrays = {"X_train": np.zeros((4, 6), np.float32), "y_train": np.zeros(4, np.int64),
              "X_test": np.zeros((2, 6), np.float32), "y_test": np.zeros(2, np.int64)}
    np.savez(tmp_path / "bad.npz", **{**arrays, **change})
    spec = resolve("timit", {"path": str(tmp_path / "bad.npz")})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError, match=message):
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()


def test_timit_npz_missing_arrays_fails_fetch(tmp_path):
    np.savez(tmp_path / "partial.npz", X_train=np.zeros((2, 3), np.float32))
    with pytest.raises(FetchError, match=r"missing array\(s\).*datasets.timit.path|"
                                         r"datasets.timit.path.*missing array\(s\)"):
        fetch(resolve("timit", {"path": str(tmp_path / "partial.npz")}), tmp_path / "raw",
              log=quiet)


# --- refusals that name the file and the fix (issue 12) ------------------------------------------

def _rewrite_tar(path: Path, drop: tuple[str, ...] = (), empty: tuple[str, ...] = ()) -> dict:
    """Rewrite a fake CIFAR tar.gz without the members `drop` and with the members `empty`
    truncated to 0 bytes; returns its new {"md5": ...}."""
    import io
    import tarfile
    with tarfile.open(path, "r:gz") as tar:
        members = [(m, tar.extractfile(m).read() if m.isfile() else None)
                   for m in tar.getmembers() if m.name not in drop]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, content in members:
            if member.name in empty:
                content = b""
                member.size = 0
            tar.addfile(member, io.BytesIO(content) if content is not None else None)
    path.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    from fakedata import md5_of
    return {"md5": md5_of(path)}


@pytest.mark.parametrize("split, files", [
    ("train", ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")),
    ("test", ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")),
])
def test_prepare_refuses_an_empty_idx_split(tmp_path, split, files):
    sizes = {"n_train": 0, "n_test": 10} if split == "train" else {"n_train": 20, "n_test": 0}
    sums = write_idx_dataset(tmp_path / "www", **sizes)
    spec = resolve("fashion_mnist", {"sources": [str(tmp_path / "www")], "checksums": sums})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError) as err:
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    message = str(err.value)
    assert message.startswith(f"fashion_mnist: the {split} split is empty: {files[0]} (from "
                              f"{tmp_path / 'www' / files[0]}) holds 0 images")
    assert files[1] in message
    assert f"put the upstream {files[0]} and {files[1]} in their place" in message
    assert "datasets.fashion_mnist.checksums" in message
    assert f"then delete {tmp_path / 'raw'} and run again" in message
    assert not (tmp_path / "out.npz").exists()


def test_prepare_refuses_an_empty_timit_test_split(tmp_path):
    path = tmp_path / "timit.npz"
    np.savez(path, X_train=np.zeros((4, 6), np.float32), y_train=np.zeros(4, np.int64),
             X_test=np.zeros((0, 6), np.float32), y_test=np.zeros(0, np.int64))
    spec = resolve("timit", {"path": str(path)})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError) as err:
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    message = str(err.value)
    assert message.startswith(f"timit: the test split is empty: X_test and y_test in "
                              f"datasets.timit.path = {path} have 0 rows")
    assert "write your test frames into X_test and y_test" in message
    assert not (tmp_path / "out.npz").exists()


def test_cifar_tar_missing_data_files_names_them_and_the_fix(tmp_path):
    www = tmp_path / "www"
    sums = write_cifar_binary(www, "cifar10", n_train_per_batch=4, n_test=4)
    archive = www / "cifar-10-binary.tar.gz"
    gone = ("cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/test_batch.bin")
    sums = {archive.name: _rewrite_tar(archive, drop=gone)}
    spec = resolve("cifar10", {"sources": [str(www)], "checksums": sums})
    raw = tmp_path / "raw"
    with pytest.raises(FetchError) as err:
        fetch(spec, raw, log=quiet)
    message = str(err.value)
    assert message.startswith(f"cifar10: the archive cifar-10-binary.tar.gz (from {archive}) "
                              f"lacks {gone[0]}, {gone[1]}; fetching it again cannot help")
    assert "only because datasets.cifar10.checksums gives its own checksum" in message
    assert f"md5 {sums[archive.name]['md5']}" in message  # the override that vouched for it
    assert (f"Fix: replace {archive} with the upstream cifar-10-binary.tar.gz (md5 "
            "c32a1d4ab5d03f1284b67883e8d87530, https://www.cs.toronto.edu/~kriz/"
            "cifar-10-binary.tar.gz), remove datasets.cifar10.checksums.cifar-10-binary.tar.gz "
            f"from the config") in message
    assert f"delete {raw} and fetch from another source (datasets.cifar10.sources)" in message
    assert "re-run fetch" not in message
    assert list(raw.iterdir()) == []  # nothing fetched looks finished


def test_prepare_names_the_missing_members_of_an_earlier_fetch(tmp_path):
    """A raw directory fetched before fetch checked the members: prepare says the same."""
    www = tmp_path / "www"
    sums = write_cifar_binary(www, "cifar10", n_train_per_batch=4, n_test=4)
    spec = resolve("cifar10", {"sources": [str(www)], "checksums": sums})
    raw = tmp_path / "raw"
    fetch(spec, raw, log=quiet)
    manifest = json.loads((raw / "MANIFEST.json").read_text())
    gone = "cifar-10-batches-bin/data_batch_1.bin"
    manifest["extracted"] = [e for e in manifest["extracted"] if e["name"] != gone]
    (raw / "MANIFEST.json").write_text(json.dumps(manifest))
    (raw / gone).unlink()
    with pytest.raises(PrepareError) as err:
        prepare(spec, raw, tmp_path / "out.npz")
    message = str(err.value)
    assert f"lacks {gone}; fetching it again cannot help" in message
    assert f"then delete {raw} and run again" in message and "re-run fetch" not in message


def test_prepare_refuses_an_empty_cifar_data_file(tmp_path):
    www = tmp_path / "www"
    write_cifar_binary(www, "cifar10", n_train_per_batch=4, n_test=4)
    archive = www / "cifar-10-binary.tar.gz"
    member = "cifar-10-batches-bin/test_batch.bin"
    sums = {archive.name: _rewrite_tar(archive, empty=(member,))}
    spec = resolve("cifar10", {"sources": [str(www)], "checksums": sums})
    fetch(spec, tmp_path / "raw", log=quiet)
    with pytest.raises(PrepareError) as err:
        prepare(spec, tmp_path / "raw", tmp_path / "out.npz")
    message = str(err.value)
    assert message.startswith(f"cifar10: the test split is empty or incomplete: {member} in the "
                              f"archive cifar-10-binary.tar.gz (from {archive}) holds 0 bytes")
    assert "md5 c32a1d4ab5d03f1284b67883e8d87530" in message


def test_rewriting_the_timit_file_reruns_fetch_and_prepare(tmp_path):
    """datasets.timit.path is an input of fetch: a new feature file plans fetch, prepare (and
    everything downstream); an unchanged one plans nothing."""
    import os

    from workflow_helpers import planned_jobs, snakemake, write_config
    features = tmp_path / "user" / "timit.npz"
    write_timit_npz(features, n_train=40, n_test=10, dim=8, seed=0)
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(tmp_path / "timit.yaml", {
        "nets": {"F2": {"dataset": "timit"}}, "regimes": {"SB": {"batch_size": 8}},
        "seeds": [0], "datasets": {"timit": {"path": str(features)}}})
    target = "data/prepared/timit.npz"
    snakemake(work, config, "--cores", "1", "--workflow-profile", "none", target, timeout=600)
    assert planned_jobs(work, config, "--workflow-profile", "none", target) == {}
    first = load_npz(work / target)["x_train"]
    # Backdate what the first run made rather than future-dating the input: a future mtime makes
    # Snakemake refuse the rerun's output as clock skew.
    earlier = (work / "data/raw/timit/MANIFEST.json").stat().st_mtime - 100
    for made in (work / "data").rglob("*"):
        os.utime(made, (earlier, earlier))
    write_timit_npz(features, n_train=40, n_test=10, dim=8, seed=1)  # rewritten in place
    assert planned_jobs(work, config, "--workflow-profile", "none", target) == {
        "fetch": 1, "prepare": 1}
    snakemake(work, config, "--cores", "1", "--workflow-profile", "none", target, timeout=600)
    assert not np.array_equal(load_npz(work / target)["x_train"], first)
