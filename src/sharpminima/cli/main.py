"""The `sharpminima` command: one verb per pipeline stage. Snakemake rules call only these verbs.

Each group of verbs lives in its own module (its `add_parsers` and `cmd_*` functions); this one
assembles the parser and holds `main`, the entry point. Heavy imports happen inside each verb, so
`--help` stays fast.
"""

from __future__ import annotations

import argparse

from sharpminima.cli import (data_verbs, figure_verbs, landscape_verbs, measure_verbs,
                             report_verbs, table_verbs, train_verbs)

# in the order `sharpminima --help` lists them: the pipeline's stages
GROUPS = (data_verbs, train_verbs, measure_verbs, landscape_verbs, table_verbs, figure_verbs,
          report_verbs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpminima",
        description="Reproduce Keskar et al. 2017 (large-batch training converges to sharp minima). "
                    "Each verb is one pipeline stage; the Snakefile chains them.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
