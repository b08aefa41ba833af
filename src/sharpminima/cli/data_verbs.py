"""Verbs of the data stage: nets (the network registry), fetch, prepare."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sharpminima.cli.common import json_arg, registry_choice, registry_help

# the network registry's batch-norm modes: nets.models imports torch, so checked when parsed
BN_MODE = registry_choice("sharpminima.nets.models", "BN_MODES", "batch-norm mode")


def cmd_nets(args) -> int:
    from sharpminima.nets.table import nets_table
    print(nets_table(args.bn))
    return 0


def cmd_fetch(args) -> int:
    from sharpminima.data import datasets, fetch
    spec = datasets.resolve(args.dataset, args.overrides)
    fetch.fetch(spec, Path(args.out_dir), log=lambda s: print(s, file=sys.stderr, flush=True))
    return 0


def cmd_prepare(args) -> int:
    from sharpminima.data import datasets, prepare
    spec = datasets.resolve(args.dataset, args.overrides)
    meta = prepare.prepare(spec, Path(args.raw_dir), Path(args.out))
    print(json.dumps(meta), file=sys.stderr)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("nets", help="print the network registry (layers, parameter counts)")
    p.add_argument("--bn", default="batch", type=BN_MODE,
                   help=registry_help(BN_MODE, "batch-norm mode of the networks"))
    p.set_defaults(func=cmd_nets)

    # the dataset registry is a table of names (no torch), listed in --help; any other name is a
    # dataset of the user's own, declared by its overrides (path, kind): checked by resolve
    from sharpminima.data.datasets import DATASETS
    named = (f"a dataset of the registry ({', '.join(sorted(DATASETS))}) or of your own "
             "(its --overrides give path and kind)")

    p = sub.add_parser("fetch", help="download/copy a dataset's files, verified by checksum")
    p.add_argument("dataset", help=named)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--overrides", type=json_arg, required=True,
                   help="JSON: config datasets.<name> (sources, checksums, path, kind)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("prepare", help="turn fetched files into the canonical .npz")
    p.add_argument("dataset", help=named)
    p.add_argument("--raw-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--overrides", type=json_arg, required=True)
    p.set_defaults(func=cmd_prepare)
