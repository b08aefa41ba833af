import subprocess
import sys

import pytest

from sharpminima.cli.main import build_parser

VERBS = sorted(build_parser()._subparsers._group_actions[0].choices)


def run(*args):
    return subprocess.run([sys.executable, "-m", "sharpminima", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("verb", [None] + VERBS)
def test_help_for_command_and_every_verb(verb):
    proc = run(*([verb] if verb else []), "--help")
    assert proc.returncode == 0 and "usage: sharpminima" in proc.stdout


def test_nets_prints_paper_parameter_counts():
    out = run("nets").stdout
    for net, count in {"F1": "1,462,794", "F2": "2,780,085", "C1": "1,757,834",
                       "C2": "14,991,946", "C3": "1,775,204", "C4": "15,038,116"}.items():
        line = next(l for l in out.splitlines() if l.startswith(f"| {net} "))
        assert count in line


def test_bad_json_spec_is_a_clear_error(tmp_path):
    proc = run("train", "--data", "x.npz", "--spec", "{oops", "--out-dir", str(tmp_path))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
