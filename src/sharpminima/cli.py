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



def cmd_landscape(args) -> int:
    import time

    from sharpminima import data, landscape, provenance
    from sharpminima.atomic import atomic_path, write_json
    device = _setup_compute(args)
    ds = data.load(args.data, device, args.train_size, args.test_size)
    alphas = landscape.alpha_grid(args.alpha_min, args.alpha_max, args.points)
    t0 = time.perf_counter()
    df, info = landscape.parametric_from_files(args.sb_model, args.lb_model, ds, alphas,
                                               args.eval_chunk, device, seed=args.seed)
    wall = time.perf_counter() - t0
    for path, out in (("linear", args.out_linear), ("curvilinear", args.out_curvilinear)):
        with atomic_path(out) as tmp:
            df[df["path"] == path].to_csv(tmp, index=False)
    if args.out_meta:
        write_json(args.out_meta, {**info, "sb_model": args.sb_model, "lb_model": args.lb_model,
                                   "pair_draw": {"pair_seed": args.pair_seed,
                                                 "candidates": args.candidates,
                                                 "chosen": args.seed},
                                   "wall_s": wall, "provenance": provenance.collect(device)})
    print(f"{len(alphas)} alphas x {len(landscape.PATHS)} paths in {wall:.1f} s",
          file=sys.stderr)
    return 0


def cmd_directions(args) -> int:
    from sharpminima import landscape
    landscape.save_directions(landscape.directions_for_file(args.model, args.seed), args.out)
    return 0


def cmd_slice2d(args) -> int:
    import time

    from sharpminima import data, landscape, provenance
    from sharpminima.atomic import atomic_path, write_json
    device = _setup_compute(args)
    ds = data.load(args.data, device, args.train_size, 1)
    directions = landscape.load_directions(args.directions)
    coords = landscape.slice_coords(args.grid, args.span)
    t0 = time.perf_counter()
    df = landscape.slice2d_from_file(args.model, directions, ds, coords, args.eval_chunk, device,
                                     regime=args.regime, seed=args.seed)
    wall = time.perf_counter() - t0
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    if args.out_meta:
        write_json(args.out_meta, {"model": args.model, "directions": args.directions,
                                   "grid": args.grid, "span": args.span, "n_train": len(ds.train),
                                   "eval_chunk": args.eval_chunk, "wall_s": wall,
                                   "provenance": provenance.collect(device)})
    print(f"{args.grid}x{args.grid} slice in {wall:.1f} s", file=sys.stderr)
    return 0


def cmd_figure(args) -> int:
    from sharpminima import figures
    df = figures.read_inputs(args.kind, args.inputs)
    figures.save(figures.FIGURES[args.kind](df, args.scale), args.out_stem)
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

    p = sub.add_parser("landscape", help="Fig. 3/7 data: loss and accuracy along the linear and "
                                         "curvilinear paths between an SB and an LB minimizer")
    p.add_argument("--sb-model", required=True, help="model.pt of the SB run (x_SB, alpha = 0)")
    p.add_argument("--lb-model", required=True, help="model.pt of the LB run (x_LB, alpha = 1)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--seed", type=int, default=None, help="seed of the pair (recorded)")
    p.add_argument("--pair-seed", type=int, default=None, help="seed of the pair draw (recorded)")
    p.add_argument("--candidates", type=int, nargs="*", default=None,
                   help="seeds the pair was drawn from (recorded)")
    p.add_argument("--alpha-min", type=float, default=-1.0)
    p.add_argument("--alpha-max", type=float, default=2.0)
    p.add_argument("--points", type=int, default=25, help="alphas (0 and 1 are always added)")
    p.add_argument("--eval-chunk", type=int, default=5000, help="examples per evaluation chunk")
    p.add_argument("--train-size", type=int, default=None, help="use the first N training examples")
    p.add_argument("--test-size", type=int, default=None, help="use the first N test examples")
    p.add_argument("--out-linear", required=True, help="CSV of the linear path")
    p.add_argument("--out-curvilinear", required=True, help="CSV of the curvilinear path")
    p.add_argument("--out-meta", default=None, help="JSON: what was interpolated, provenance")
    _add_compute_args(p)
    p.set_defaults(func=cmd_landscape)

    p = sub.add_parser("directions", help="two seeded filter-normalized random directions around "
                                          "a model (for slice2d)")
    p.add_argument("--model", required=True, help="model.pt of the minimizer")
    p.add_argument("--seed", type=int, required=True, help="seed of the Gaussian draw")
    p.add_argument("--out", required=True, help="directions .pt (torch.load weights_only)")
    p.set_defaults(func=cmd_directions)

    p = sub.add_parser("slice2d", help="training loss on a 2-D grid around a minimizer")
    p.add_argument("--model", required=True, help="model.pt of the minimizer")
    p.add_argument("--directions", required=True, help="directions .pt (sharpminima directions)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--grid", type=int, default=21, help="points per axis")
    p.add_argument("--span", type=float, default=1.0, help="grid covers [-span, span] per axis")
    p.add_argument("--regime", default=None, help="label recorded in the CSV (SB, LB, ...)")
    p.add_argument("--seed", type=int, default=None, help="seed of the run (recorded)")
    p.add_argument("--eval-chunk", type=int, default=5000, help="examples per evaluation chunk")
    p.add_argument("--train-size", type=int, default=None, help="use the first N training examples")
    p.add_argument("--out", required=True, help="slice CSV")
    p.add_argument("--out-meta", default=None, help="JSON: grid, timing, provenance")
    _add_compute_args(p)
    p.set_defaults(func=cmd_slice2d)

    p = sub.add_parser("figure", help="draw one figure (PNG + PDF) from the tidy records")
    p.add_argument("kind", choices=["fig2", "fig3", "fig7", "slice2d"])
    p.add_argument("--inputs", nargs="+", required=True,
                   help="fig2: history.csv of the runs (metrics.json beside each); fig3/fig7: "
                        "linear/curvilinear.csv; slice2d: the slice2d.csv of each regime")
    p.add_argument("--out-stem", required=True, help="writes STEM.png and STEM.pdf")
    p.add_argument("--scale", default="full", help="label for the scale (full, demo, tiny)")
    p.set_defaults(func=cmd_figure)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
