import subprocess
import sys

import pytest

from sharpminima.cli.main import build_parser

# the verbs of the `sharpminima` command; the Snakemake rules and the Makefile call these names
EXPECTED_VERBS = {
    "nets", "fetch", "prepare",                                              # data
    "train",                                                                 # training
    "sharpness", "hessian", "grad-noise",                                    # measures of a run
    "measures", "reparam", "reparam-table", "correlation-table",             # beyond the paper
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
            "print(sorted(m for m in ('torch', 'pandas', 'matplotlib', 'numpy') "
            "if m in sys.modules))")
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
        line = next(row for row in out.splitlines() if row.startswith(f"| {net} "))
        assert count in line


def test_bad_json_spec_is_a_clear_error(tmp_path):
    proc = run("train", "--data", "x.npz", "--spec", "{oops", "--out-dir", str(tmp_path))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr


def test_version():
    from sharpminima import __version__
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"sharpminima {__version__}"


def _registry(module, attr):
    import importlib
    return sorted(getattr(importlib.import_module(module), attr))


SHARPNESS_ARGV = ["sharpness", "--model", "m.pt", "--data", "d.npz", "--chunk", "1", "--out", "o",
                  "--device", "cpu", "--threads", "0", "--gpu-lock-dir", "", "--eps", "1e-3",
                  "--space", "full", "--dim", "2", "--a-seed", "0", "--iters", "1",
                  "--sign-steps", "1", "--sign-step", "1", "--a-dist", "gaussian",
                  "--second-maximizer", "none"]


@pytest.mark.parametrize("argv, registry", [
    (SHARPNESS_ARGV + ["--a-dist", "bogus"], ("sharpminima.measures.subspace", "A_DISTRIBUTIONS")),
    (SHARPNESS_ARGV + ["--second-maximizer", "bogus"],
     ("sharpminima.measures.sharpness", "SECOND_MAXIMIZERS")),
    (["nets", "--bn", "bogus"], ("sharpminima.nets.models", "BN_MODES")),
    (["sweep-frame", "bogus", "--out", "x", "--scale", "s"],
     ("sharpminima.analysis.sweeps", "FRAMES")),
    (["figure", "bogus", "--inputs", "x", "--out-stem", "y", "--scale", "s"],
     ("sharpminima.figures.registry", "MODULE_OF")),
], ids=["a-dist", "second-maximizer", "bn", "sweep-frame", "figure"])
def test_a_name_not_in_its_registry_exits_2_listing_the_valid_names(argv, registry, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "bogus" in err, err
    names = _registry(*registry)
    assert names and all(name in err for name in names), err


@pytest.mark.parametrize("argv", [["fetch", "bogus", "--out-dir", "x", "--overrides", "{}"],
                                  ["prepare", "bogus", "--raw-dir", "x", "--out", "y",
                                   "--overrides", "{}"]], ids=["fetch", "prepare"])
def test_a_dataset_neither_in_the_registry_nor_declared_is_refused_listing_both(argv):
    """Any name may be a dataset of the user's own (its overrides give path and kind), so the
    verb, not the parser, refuses an undeclared one: naming the registry and the keys to set."""
    from sharpminima.cli.main import main
    with pytest.raises(ValueError) as err:
        main(argv)
    names = _registry("sharpminima.data.datasets", "DATASETS")
    assert all(name in str(err.value) for name in names)
    assert "set datasets.bogus.kind to one of ['images', 'features']" in str(err.value)


def test_a_name_in_its_registry_parses():
    args = build_parser().parse_args(SHARPNESS_ARGV)
    assert args.a_dist == "gaussian" and args.second_maximizer == "none"
    for kind in _registry("sharpminima.analysis.sweeps", "FRAMES"):
        assert build_parser().parse_args(["sweep-frame", kind, "--out", "x", "--scale", "s"]).kind \
            == kind
    assert build_parser().parse_args(["nets"]).bn == "batch"


def _help(verb):
    return " ".join(_subparsers(build_parser())[verb].format_help().split())


def test_defaults_and_required_are_shown_in_help():
    assert "--bn BN batch-norm mode of the networks" in _help("nets")
    assert "(default: batch)" in _help("nets")
    assert "(default: .)" in _help("report")
    assert "(default: 5000)" in _help("grad-noise")
    assert "box size (paper: 1e-3, 5e-4) (required)" in _help("sharpness")
    assert "(default: batch)" in run("nets", "--help").stdout.replace("\n", " ")


def test_every_option_says_its_default_or_that_it_is_required():
    for verb, p in _subparsers(build_parser()).items():
        for a in p._actions:
            if not a.option_strings or a.nargs == 0 or a.default is None:
                continue  # a flag, or an option whose absence its help explains
            assert a.help and ("(required)" in a.help or "(default: " in a.help), (verb, a.dest)
            assert a.required == a.help.endswith("(required)"), (verb, a.dest)


@pytest.fixture
def package_logger():
    import logging
    logger = logging.getLogger("sharpminima")
    saved = (logger.level, list(logger.handlers))
    yield logger
    logger.setLevel(saved[0])
    logger.handlers[:] = saved[1]


def test_logging_is_configured_once_to_stderr(package_logger, capsys):
    import logging

    from sharpminima.cli.main import configure_logging
    configure_logging()
    configure_logging()  # main() may run twice in one process: still one handler
    logging.getLogger("sharpminima.core.gpuslots").info("pinned to GPU slot %d", 7)
    logging.getLogger("sharpminima.core.gpuslots").debug("not at INFO")
    err = capsys.readouterr().err
    assert err.count("pinned to GPU slot 7") == 1, err
    assert "INFO sharpminima.core.gpuslots: pinned to GPU slot 7" in err
    assert "not at INFO" not in err


def test_gpu_slot_log_reaches_the_jobs_log(tmp_path):
    """Rules redirect stderr to the job's log: core.gpuslots's INFO record must be there."""
    import os
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["SHARPMINIMA_GPU_SLOTS"] = "1"
    locks = tmp_path / "locks"
    proc = subprocess.run(
        [sys.executable, "-m", "sharpminima", "hessian", "--model", str(tmp_path / "missing.pt"),
         "--data", "d.npz", "--chunk", "1", "--out", str(tmp_path / "h.json"), "--device", "cpu",
         "--threads", "1", "--gpu-lock-dir", str(locks), "--k", "1", "--trace-samples", "1",
         "--seed", "0", "--tol", "1e-3"],
        capture_output=True, text=True, timeout=300, env=env)
    # the model is missing, so the verb fails after pinning its slot; the log says it pinned
    assert f"INFO sharpminima.core.gpuslots: pinned to GPU slot 0 of 1 (lock {locks}" \
        in proc.stderr, proc.stderr
