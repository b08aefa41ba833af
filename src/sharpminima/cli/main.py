"""The `sharpminima` command: one verb per pipeline stage. Snakemake rules call only these verbs.

Each group of verbs lives in its own module (its `add_parsers` and `cmd_*` functions); this one
assembles the parser and holds `main`, the entry point. Heavy imports happen inside each verb, so
`--help` stays fast; names of a registry whose module imports torch or pandas are checked when
parsed (common.registry_choice). `main` sends the package's log records (e.g. core.gpuslots's
"pinned to GPU slot") to stderr, which every rule redirects to the job's log.
"""

from __future__ import annotations

import argparse
import logging
import sys

from sharpminima import __version__
from sharpminima.cli import (
    beyond_verbs,
    data_verbs,
    figure_verbs,
    landscape_verbs,
    measure_verbs,
    report_verbs,
    table_verbs,
    train_verbs,
)
from sharpminima.cli.common import show_defaults

# in the order `sharpminima --help` lists them: the pipeline's stages
GROUPS = (data_verbs, train_verbs, measure_verbs, beyond_verbs, landscape_verbs, table_verbs,
          figure_verbs, report_verbs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpminima",
        description="Reproduce Keskar et al. 2017 (large-batch training converges to sharp "
                    "minima). Each verb is one pipeline stage; the Snakefile chains them.")
    parser.add_argument("--version", action="version", version=f"sharpminima {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in GROUPS:
        group.add_parsers(sub)
    for verb_parser in sub.choices.values():
        show_defaults(verb_parser)
    return parser


LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to the current sys.stderr (looked up per record, so a replaced stderr is used)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Log records of the `sharpminima` package at `level` and above to stderr; idempotent.

    Only the package's logger is configured (not the root), so third-party INFO chatter stays out
    of the job logs."""
    logger = logging.getLogger("sharpminima")
    logger.setLevel(level)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    return args.func(args)
