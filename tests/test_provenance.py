import shutil

from sharpminima.core import provenance


def test_source_hash_covers_every_layer(tmp_path):
    """An edit anywhere in the package (here a remedy, two folders deep) changes the recorded
    code version; an untouched copy hashes the same."""
    copy = tmp_path / "sharpminima"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert provenance.source_sha256(copy) == provenance.source_sha256()
    remedy = copy / "training/remedies/sam.py"
    remedy.write_text(remedy.read_text() + "\n# edited\n")
    assert provenance.source_sha256(copy) != provenance.source_sha256()


def test_code_version_names_the_hash():
    assert provenance.code_version()["source_sha256"] == provenance.source_sha256()
