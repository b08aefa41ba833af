import subprocess
import sys

import pytest

from sharpminima.cli.main import build_parser

# the verbs of the `sharpminima` command; the Snakemake rules and the Makefile call these names
EXPECTED_VERBS = {
    "nets", "fetch", "prepare",                                              # data
    "train",                                                                 # training
    "sharpness", "hessian", "grad-noise",                                    # measures of a run
    "landscape", "directions", "slice2d",                                    # landscape
    "table2", "sharpness-table", "hessian-table", "remedies-table",          # tables
    "sweep-frame", "dynamic-table",
    "figure",                                                                # figures
    "summary", "collect", "report", "reference", "readme-verdicts",          # report
}


def _subparsers(parser):
    return parser._subparsers._group_actions[0].choices


VERBS = sorted(_subparsers(build_parser()))


def run(*args):
    return subprocess.run([sys.executable, "-m", "sharpminima", *args], capture_output=True,
                          text=True, timeout=120)


def test_the_verbs_are_exactly_the_pipelines():
    assert set(VERBS) == EXPECTED_VERBS and len(VERBS) == len(EXPECTED_VERBS)


@pytest.mark.parametrize("verb", [None] + VERBS)
def test_help_for_command_and_every_verb(verb):
    proc = run(*([verb] if verb else []), "--help")
    assert proc.returncode == 0 and "usage: sharpminima" in proc.stdout


def test_help_imports_no_heavy_library():
    code = ("import sys; from sharpminima.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_every_verb_has_its_own_group_module():
    from sharpminima.cli import main
    funcs = {verb: p.get_default("func") for verb, p in _subparsers(build_parser()).items()}
    for verb, func in funcs.items():
        assert func.__name__ == "cmd_" + verb.replace("-", "_"), verb
        assert func.__module__ in {g.__name__ for g in main.GROUPS}, verb


def test_configuration_values_have_no_cli_default():
    """Defaults live in the schema: a flag every rule passes is required (sharpness, e.g.)."""
    sharpness = _subparsers(build_parser())["sharpness"]
    required = {a.option_strings[0] for a in sharpness._actions if a.required}
    assert {"--eps", "--space", "--dim", "--a-dist", "--a-seed", "--iters", "--second-maximizer",
            "--sign-steps", "--sign-step", "--chunk", "--device", "--threads",
            "--gpu-lock-dir"} <= required
    assert "--train-size" not in required  # rules pass it only where the config sets a size
    proc = run("hessian", "--model", "m.pt", "--data", "d.npz", "--out", "h.json")
    assert proc.returncode == 2 and "the following arguments are required" in proc.stderr
    assert "--k" in proc.stderr and "--device" in proc.stderr


def test_nets_prints_paper_parameter_counts():
    out = run("nets").stdout
    for net, count in {"F1": "1,462,794", "F2": "2,780,085", "C1": "1,757,834",
                       "C2": "14,991,946", "C3": "1,775,204", "C4": "15,038,116"}.items():
        line = next(l for l in out.splitlines() if l.startswith(f"| {net} "))
        assert count in line


def test_bad_json_spec_is_a_clear_error(tmp_path):
    proc = run("train", "--data", "x.npz", "--spec", "{oops", "--out-dir", str(tmp_path))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
