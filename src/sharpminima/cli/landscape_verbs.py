"""Verbs of the loss landscape around minimizers: landscape (Fig. 3/7 paths between an SB and an
LB minimizer), directions and slice2d (2-D slices around one minimizer)."""

from __future__ import annotations

import sys

from sharpminima.cli import runs
from sharpminima.cli.common import add_compute_args, add_size_args, setup_compute


def cmd_landscape(args) -> int:
    import time

    from sharpminima.core import provenance
    from sharpminima.core.atomic import atomic_path, write_json
    from sharpminima.data import splits as data
    from sharpminima.measures import landscape
    device = setup_compute(args)
    why = runs.diverged_any(args.sb_model, args.lb_model)
    if why:
        runs.write_empty_csvs([args.out_linear, args.out_curvilinear], landscape.COLUMNS)
        if args.out_meta:
            write_json(args.out_meta, runs.not_measured({"sb_model": args.sb_model,
                                                         "lb_model": args.lb_model}, why, device))
        print(f"landscape not measured: {why}", file=sys.stderr)
        return 0
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
    from sharpminima.measures import landscape
    landscape.save_directions(landscape.directions_for_file(args.model, args.seed), args.out)
    return 0


def cmd_slice2d(args) -> int:
    import time

    from sharpminima.core import provenance
    from sharpminima.core.atomic import atomic_path, write_json
    from sharpminima.data import splits as data
    from sharpminima.measures import landscape
    device = setup_compute(args)
    why = runs.diverged_any(args.model)
    if why:
        runs.write_empty_csvs([args.out], landscape.SLICE_COLUMNS)
        if args.out_meta:
            write_json(args.out_meta, runs.not_measured({"model": args.model}, why, device))
        print(f"slice not measured: {why}", file=sys.stderr)
        return 0
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


def _landscape_parser(sub) -> None:
    p = sub.add_parser("landscape", help="Fig. 3/7 data: loss and accuracy along the linear and "
                                         "curvilinear paths between an SB and an LB minimizer")
    p.add_argument("--sb-model", required=True, help="model.pt of the SB run (x_SB, alpha = 0)")
    p.add_argument("--lb-model", required=True, help="model.pt of the LB run (x_LB, alpha = 1)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--seed", type=int, required=True, help="seed of the pair (recorded)")
    p.add_argument("--pair-seed", type=int, required=True, help="seed of the pair draw (recorded)")
    p.add_argument("--candidates", type=int, nargs="*", required=True,
                   help="seeds the pair was drawn from (recorded)")
    p.add_argument("--alpha-min", type=float, required=True)
    p.add_argument("--alpha-max", type=float, required=True)
    p.add_argument("--points", type=int, required=True,
                   help="alphas (0 and 1 are always added)")
    p.add_argument("--eval-chunk", type=int, required=True, help="examples per evaluation chunk")
    add_size_args(p, "train", "test")
    p.add_argument("--out-linear", required=True, help="CSV of the linear path")
    p.add_argument("--out-curvilinear", required=True, help="CSV of the curvilinear path")
    p.add_argument("--out-meta", required=True, help="JSON: what was interpolated, provenance")
    add_compute_args(p)
    p.set_defaults(func=cmd_landscape)


def _directions_parser(sub) -> None:
    p = sub.add_parser("directions", help="two seeded filter-normalized random directions around "
                                          "a model (for slice2d)")
    p.add_argument("--model", required=True, help="model.pt of the minimizer")
    p.add_argument("--seed", type=int, required=True, help="seed of the Gaussian draw")
    p.add_argument("--out", required=True, help="directions .pt (torch.load weights_only)")
    p.set_defaults(func=cmd_directions)


def _slice2d_parser(sub) -> None:
    p = sub.add_parser("slice2d", help="training loss on a 2-D grid around a minimizer")
    p.add_argument("--model", required=True, help="model.pt of the minimizer")
    p.add_argument("--directions", required=True, help="directions .pt (sharpminima directions)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--grid", type=int, required=True, help="points per axis")
    p.add_argument("--span", type=float, required=True,
                   help="grid covers [-span, span] per axis")
    p.add_argument("--regime", required=True, help="label recorded in the CSV (SB, LB, ...)")
    p.add_argument("--seed", type=int, required=True, help="seed of the run (recorded)")
    p.add_argument("--eval-chunk", type=int, required=True, help="examples per evaluation chunk")
    add_size_args(p, "train")
    p.add_argument("--out", required=True, help="slice CSV")
    p.add_argument("--out-meta", required=True, help="JSON: grid, timing, provenance")
    add_compute_args(p)
    p.set_defaults(func=cmd_slice2d)


def add_parsers(sub) -> None:
    _landscape_parser(sub)
    _directions_parser(sub)
    _slice2d_parser(sub)
