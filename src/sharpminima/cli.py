"""The `sharpminima` command: one verb per pipeline stage. Snakemake rules call only these verbs.

Heavy imports happen inside each verb, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _json_arg(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from e


def _setup_compute(args) -> "torch.device":
    """Pin a GPU slot (multi-GPU hosts), set CPU threads, pick the device."""
    import torch

    from sharpminima import provenance
    if getattr(args, "gpu_lock_dir", None):
        from sharpminima.gpuslots import acquire_gpu_slot
        acquire_gpu_slot(args.gpu_lock_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    return provenance.resolve_device(args.device)


def _add_compute_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:1 ...")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch default)")
    p.add_argument("--gpu-lock-dir", default=None,
                   help="directory of GPU slot lock files: pin this job to a free GPU")


def cmd_nets(args) -> int:
    from sharpminima.nets_table import nets_table
    print(nets_table(args.bn))
    return 0


def cmd_fetch(args) -> int:
    from sharpminima import datasets, fetch
    spec = datasets.resolve(args.dataset, args.overrides)
    fetch.fetch(spec, Path(args.out_dir), log=lambda s: print(s, file=sys.stderr, flush=True))
    return 0


def cmd_prepare(args) -> int:
    from sharpminima import datasets, prepare
    spec = datasets.resolve(args.dataset, args.overrides)
    meta = prepare.prepare(spec, Path(args.raw_dir), Path(args.out))
    print(json.dumps(meta), file=sys.stderr)
    return 0


def cmd_train(args) -> int:
    from sharpminima import data, train
    device = _setup_compute(args)
    spec = train.TrainSpec.from_dict(args.spec)
    ds = data.load(args.data, device, args.train_size, args.test_size)
    metrics = train.train(spec, ds, Path(args.out_dir), device)
    print(f"{metrics['status']}: train acc {metrics['train_acc']:.4f}, "
          f"test acc {metrics['test_acc']:.4f}", file=sys.stderr)
    return 0


def cmd_table2(args) -> int:
    from sharpminima import tables
    df = tables.collect_runs(args.runs)
    tables.write_table(tables.table2(df, args.scale), args.out_csv, args.out_md,
                       caption=tables.table2_caption(args.scale))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sharpminima",
        description="Reproduce Keskar et al. 2017 (large-batch training converges to sharp minima). "
                    "Each verb is one pipeline stage; the Snakefile chains them.")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser("nets", help="print the network registry (layers, parameter counts)")
    p.add_argument("--bn", default="batch", choices=["batch", "running"])
    p.set_defaults(func=cmd_nets)

    p = sub.add_parser("fetch", help="download/copy a dataset's files, verified by checksum")
    p.add_argument("dataset")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--overrides", type=_json_arg, default={},
                   help="JSON: config datasets.<name> (sources, checksums, path)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("prepare", help="turn fetched files into the canonical .npz")
    p.add_argument("dataset")
    p.add_argument("--raw-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--overrides", type=_json_arg, default={})
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("train", help="train one network at one regime and seed")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--spec", type=_json_arg, required=True, help="JSON training spec (TrainSpec)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--train-size", type=int, default=None, help="use the first N training examples")
    p.add_argument("--test-size", type=int, default=None, help="use the first N test examples")
    _add_compute_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("table2", help="Table 2: accuracies, ours beside the paper's")
    p.add_argument("runs", nargs="+", help="metrics.json files of the trained runs")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", default="full", help="label for the scale (full, demo, tiny)")
    p.set_defaults(func=cmd_table2)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
