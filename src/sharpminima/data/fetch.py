"""Fetch a dataset's upstream files into a directory, verified, and record them in a manifest.

For each file the spec's sources are tried in order:
  * a directory (a plain path or a file:// URL) holding the file under its upstream name; for a
    `.gz` file a decompressed sibling (`x` for `x.gz`) is also accepted when the spec has a
    content SHA-256 to verify it, and is stored gzip-compressed under the upstream name;
  * an http(s):// URL prefix: `<prefix>/<file name>` is downloaded.
A file is accepted when its MD5 matches or the SHA-256 of its (decompressed) content matches:
re-compressed copies (Debian's Fashion-MNIST) only match the latter. A source that fails (missing,
network error, checksum mismatch, truncated gzip) is logged and the next one is tried. A CIFAR
archive must hold every data file prepare reads: one that lacks some passed its checksum only by a
config override (datasets.<name>.checksums), and the error says to replace it, not to fetch again.

`MANIFEST.json` is written last and atomically: its presence means the directory is complete. On
failure everything this call created is removed, so nothing half-done looks finished.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import ssl
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Callable
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np

from sharpminima import __version__
from sharpminima.core.atomic import write_json
from sharpminima.data.checksums import CHUNK, content_sha256, file_digest, file_sha256
from sharpminima.data.datasets import DATASETS, DatasetSpec, FileSpec, cifar_members

MANIFEST = "MANIFEST.json"
USER_AGENT = f"sharpminima/{__version__} (dataset fetch; Python urllib)"
TIMEOUT_S = 60  # per socket operation, not for the whole download
PROGRESS_MIN_BYTES = 1 << 20  # smaller downloads are not worth progress lines
# The arrays of a user .npz (TIMIT's and the user's own datasets): canonical name -> spellings
# accepted, the first preferred (TIMIT's documented format spells the inputs X_train, X_test).
USER_KEYS = {"x_train": ("x_train", "X_train"), "y_train": ("y_train",),
             "x_test": ("x_test", "X_test"), "y_test": ("y_test",)}

Log = Callable[[str], None]


class FetchError(RuntimeError):
    """No source could provide a verified file, or the fetched data is unusable."""


class _SourceFailed(Exception):
    """One source failed for one file; the next source is tried."""


def fetch(spec: DatasetSpec, dest_dir: str | os.PathLike, log: Log = print) -> Path:
    """Fetch, verify (and for CIFAR extract) every file of `spec` into `dest_dir`.

    Returns the path of `dest_dir/MANIFEST.json`, written last.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = dest_dir / MANIFEST
    manifest_path.unlink(missing_ok=True)  # a stale manifest must not vouch for a failed refetch
    if spec.user_file:
        manifest = _user_file_manifest(spec)
    else:
        manifest = _fetch_files(spec, dest_dir, log)
    write_json(manifest_path, manifest)
    log(f"{spec.name}: wrote {manifest_path}")
    return manifest_path


# --- files ---------------------------------------------------------------------------------------

def _fetch_files(spec: DatasetSpec, dest_dir: Path, log: Log) -> dict:
    created: list[Path] = []
    try:
        records = []
        for f in spec.files:
            path, origin, verified_by = _fetch_one(spec, f, dest_dir, log)
            created.append(path)
            records.append({"name": f.name, "size": path.stat().st_size,
                            "sha256": file_sha256(path), "source": origin,
                            "verified_by": verified_by})
        extracted: list[dict] = []
        if spec.kind in ("cifar10", "cifar100"):
            for f in spec.files:
                tops = extract_tar(dest_dir / f.name, dest_dir)
                created.extend(tops)
                extracted.extend(_describe_tree(dest_dir, tops))
            names = {e["name"] for e in extracted}
            missing = [m for m in cifar_members(spec.kind) if m not in names]
            if missing:  # a verified archive that is not upstream's (a checksum override)
                raise FetchError(incomplete_archive_message(spec, records[0], missing, dest_dir))
    except BaseException:
        for path in created:
            _remove(path)
        raise
    return {"dataset": spec.name, "kind": spec.kind, "files": records, "extracted": extracted,
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _fetch_one(spec: DatasetSpec, f: FileSpec, dest_dir: Path, log: Log) -> tuple[Path, str, str]:
    """Try each source for one file; returns (stored path, origin, checksum that matched)."""
    failures: list[str] = []
    for source in spec.sources:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".part", dir=dest_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            origin = _retrieve(source, f, tmp, log)
            verified_by = _verify(tmp, f)
            final = dest_dir / f.name
            os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; data files are shareable
            os.replace(tmp, final)
            log(f"{spec.name}: {f.name} <- {origin} ({verified_by} ok)")
            return final, origin, verified_by
        except _SourceFailed as e:
            failures.append(f"{source}: {e}")
            log(f"{spec.name}: {f.name}: {source}: {e}; trying the next source")
        finally:
            tmp.unlink(missing_ok=True)
    raise FetchError(_failure_message(spec, f, failures))


def _failure_message(spec: DatasetSpec, f: FileSpec, failures: list[str]) -> str:
    expected = " or ".join(
        ([f"md5 {f.md5}"] if f.md5 else [])
        + ([f"SHA-256 of the decompressed content {f.content_sha256}"] if f.content_sha256 else []))
    tried = "\n".join(f"  - {line}" for line in failures) or "  (no sources configured)"
    return (f"{spec.name}: could not fetch {f.name} (expected {expected or 'no checksum'}). "
            f"Sources tried:\n{tried}\nHint: {spec.hint} "
            f"(or set datasets.{spec.name}.sources in the config).")


def incomplete_archive_message(spec: DatasetSpec, record: dict, missing: list[str],
                               raw_dir: str | os.PathLike) -> str:
    """What to do about a CIFAR archive that passed its checksum but lacks data files: fetching
    it again cannot help, the archive itself (or the checksum that vouched for it) is wrong.
    `record` is the archive's manifest record (name, source, verified_by)."""
    name, source = record["name"], record.get("source", "?")
    upstream, mine = DATASETS[spec.name].file(name), spec.file(name)
    url = next((f"{s.rstrip('/')}/{name}" for s in DATASETS[spec.name].sources
                if s.startswith(("http://", "https://"))), None)
    overridden = (mine.md5, mine.content_sha256) != (upstream.md5, upstream.content_sha256)
    key = f"datasets.{spec.name}.checksums"
    if overridden:
        sums = ", ".join(f"{k} {v}" for k, v in (("md5", mine.md5),
                                                  ("content SHA-256", mine.content_sha256)) if v)
        vouch = (f"It passed fetch's checksum test only because {key} gives its own checksum for "
                 f"it ({sums}) in place of upstream's md5 {upstream.md5}: no upstream checksum "
                 "verified it.")
        drop = f", remove {key}.{name} from the config (it vouches for the wrong archive)"
    else:
        vouch = (f"It matched upstream's checksum ({record.get('verified_by', '?')}), so its "
                 "extraction went wrong.")
        drop = ""
    where = (f"put the upstream {name} in data/manual/{spec.name}/"
             if source.startswith(("http://", "https://")) else
             f"replace {source} with the upstream {name}")
    return (f"{spec.name}: the archive {name} (from {source}) lacks {', '.join(missing)}; "
            f"fetching it again cannot help, the archive itself is not upstream's. {vouch} "
            f"Fix: {where} (md5 {upstream.md5}{', ' + url if url else ''}){drop}, then delete "
            f"{raw_dir} and run again; or delete {raw_dir} and fetch from another source "
            f"(datasets.{spec.name}.sources).")


def _retrieve(source: str, f: FileSpec, tmp: Path, log: Log) -> str:
    """Put the file from `source` into `tmp`; returns where exactly it came from."""
    if source.startswith(("http://", "https://")):
        url = source.rstrip("/") + "/" + f.name
        _download(url, tmp, log)
        return url
    directory = (Path(url2pathname(urlparse(source).path)) if source.startswith("file://")
                 else Path(source).expanduser())
    if not directory.is_dir():
        raise _SourceFailed("no such directory")
    candidate = directory / f.name
    if candidate.is_file():
        shutil.copyfile(candidate, tmp)
        return str(candidate)
    plain = directory / f.name.removesuffix(".gz")
    if f.name.endswith(".gz") and plain.is_file():
        if not f.content_sha256:
            raise _SourceFailed(f"{f.name} not found; {plain.name} is, but without a content "
                                "SHA-256 in the spec it cannot be verified")
        with open(plain, "rb") as src, gzip.GzipFile(tmp, "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        return str(plain)
    raise _SourceFailed(f"{f.name} not found there")


def _download(url: str, tmp: Path, log: Log) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, \
                open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, last_tenth = 0, 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                done += len(chunk)
                if total >= PROGRESS_MIN_BYTES and done * 10 // total > last_tenth:
                    last_tenth = done * 10 // total
                    log(f"  {url}: {done * 100 // total}% of {total / 1e6:.1f} MB")
    except urllib.error.HTTPError as e:
        raise _SourceFailed(f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError,
            ssl.SSLError) as e:
        raise _SourceFailed(f"network error: {getattr(e, 'reason', e)}") from e
    if total and done != total:
        raise _SourceFailed(f"truncated download: got {done} of {total} bytes")


def _verify(path: Path, f: FileSpec) -> str:
    """Name of the checksum that matched; raises _SourceFailed when none does."""
    problems = []
    if f.md5:
        got = file_digest(path, "md5")
        if got == f.md5:
            return "md5"
        problems.append(f"md5 {got}, expected {f.md5}")
    if f.content_sha256:
        try:
            got = content_sha256(path, compressed=f.name.endswith(".gz"))
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            problems.append(f"truncated or corrupt gzip ({e})")
        else:
            if got == f.content_sha256:
                return "content_sha256"
            problems.append(f"content SHA-256 {got}, expected {f.content_sha256}")
    if not problems:
        raise _SourceFailed("the spec gives no checksum to verify it against")
    raise _SourceFailed("checksum mismatch: " + "; ".join(problems))


# --- tar extraction ------------------------------------------------------------------------------

def extract_tar(archive: str | os.PathLike, dest_dir: str | os.PathLike) -> list[Path]:
    """Extract a (verified) tar archive into dest_dir; returns the top-level entries created.

    Every member is checked before anything is written: absolute paths, `..` components, links
    and devices raise FetchError naming the member. Extraction goes to a staging directory inside
    dest_dir, and each top-level entry is then renamed into place.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(archive, member)
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
            try:
                tar.extractall(staging, members=members, filter="data")
                tops = []
                for entry in sorted(staging.iterdir()):
                    target = dest_dir / entry.name
                    _remove(target)
                    os.replace(entry, target)
                    tops.append(target)
                return tops
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise FetchError(f"{archive.name}: unreadable tar archive ({e})") from e


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        reason = "absolute path"
    elif ".." in path.parts or ".." in PurePosixPath(name.replace("\\", "/")).parts:
        reason = "'..' path component"
    elif not (member.isfile() or member.isdir()):
        reason = "link, device or other special member"
    else:
        return
    raise FetchError(f"{archive.name}: refusing to extract member {name!r}: {reason}")


def _describe_tree(root: Path, tops: list[Path]) -> list[dict]:
    files = []
    for top in tops:
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file():
                files.append({"name": path.relative_to(root).as_posix(),
                              "size": path.stat().st_size, "sha256": file_sha256(path)})
    return files


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# --- the user's .npz (TIMIT, the user's own datasets) --------------------------------------------

def user_keys(names) -> tuple[dict[str, str], list[str]]:
    """(canonical array name -> its name in the file, the canonical names missing) of a user .npz
    holding the arrays `names`."""
    found, missing = {}, []
    for canonical, spellings in USER_KEYS.items():
        name = next((n for n in spellings if n in names), None)
        if name is None:
            missing.append(spellings[0])
        else:
            found[canonical] = name
    return found, missing


def _user_file_manifest(spec: DatasetSpec) -> dict:
    """Nothing is downloaded: the user's .npz (datasets.<name>.path) is checked and recorded
    (TIMIT is licensed; a dataset of the user's own is theirs)."""
    key, expected = f"datasets.{spec.name}.path", spec.file_format
    if not spec.path:
        if spec.name == "timit":
            raise FetchError("TIMIT (LDC93S1) is licensed and cannot be downloaded: set "
                             f"{key} in the config to {expected}.")
        raise FetchError(f"{spec.name}: set {key} in the config to {expected}.")
    path = Path(spec.path).expanduser().resolve()
    if not path.is_file():
        raise FetchError(f"{key} = {spec.path!r}: no such file. Expected {expected}.")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:  # a pickle, not a zip, unreadable, ...: all the same to the user
        raise FetchError(f"{key} = {spec.path!r}: cannot be opened as an .npz ({e}). "
                         f"Expected {expected}.") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # a single-array .npy
        raise FetchError(f"{key} = {spec.path!r} is a single array, not an .npz archive. "
                         f"Expected {expected}.")
    with loaded:
        names = set(loaded.files)
    _, missing = user_keys(names)
    if spec.name == "timit":  # its documented spelling
        missing = [m.replace("x_", "X_") for m in missing]
    if missing:
        raise FetchError(f"{key} = {spec.path!r}: missing array(s) {missing} (found "
                         f"{sorted(names)}). Expected {expected}.")
    record = {"name": path.name, "path": str(path), "size": path.stat().st_size,
              "sha256": file_sha256(path), "source": key, "verified_by": "opened"}
    return {"dataset": spec.name, "kind": spec.kind, "files": [record], "extracted": [],
            "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
