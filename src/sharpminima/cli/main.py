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

    from sharpminima.core import provenance
    if getattr(args, "gpu_lock_dir", None):
        from sharpminima.core.gpuslots import acquire_gpu_slot
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


def cmd_train(args) -> int:
    from sharpminima.data import splits as data
    from sharpminima.measures import noise
    from sharpminima.training import train
    device = _setup_compute(args)
    spec = train.TrainSpec.from_dict(args.spec)
    ds = data.load(args.data, device, args.train_size, args.test_size)
    metrics = train.train(spec, ds, Path(args.out_dir), device,
                          epoch_columns=noise.epoch_columns(spec, ds))
    print(f"{metrics['status']}: train acc {metrics['train_acc']:.4f}, "
          f"test acc {metrics['test_acc']:.4f}", file=sys.stderr)
    return 0


def cmd_table2(args) -> int:
    from sharpminima.analysis import tables
    df = tables.collect_runs(args.runs)
    tables.write_frame(tables.table2(df, args.scale, args.fit_tolerance), args.out_csv, args.out_md,
                       tables.table2_caption(args.scale), tables.table2_markdown)
    return 0



def cmd_landscape(args) -> int:
    import time

    from sharpminima.data import splits as data
    from sharpminima.measures import landscape
    from sharpminima.core import provenance
    from sharpminima.core.atomic import atomic_path, write_json
    device = _setup_compute(args)
    why = _diverged_any(args.sb_model, args.lb_model)
    if why:
        _write_empty_csvs([args.out_linear, args.out_curvilinear], landscape.COLUMNS)
        if args.out_meta:
            write_json(args.out_meta, _not_measured({"sb_model": args.sb_model,
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

    from sharpminima.data import splits as data
    from sharpminima.measures import landscape
    from sharpminima.core import provenance
    from sharpminima.core.atomic import atomic_path, write_json
    device = _setup_compute(args)
    why = _diverged_any(args.model)
    if why:
        _write_empty_csvs([args.out], landscape.SLICE_COLUMNS)
        if args.out_meta:
            write_json(args.out_meta, _not_measured({"model": args.model}, why, device))
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


def cmd_figure(args) -> int:
    from sharpminima.figures import paper_figures as figures, sweeps as figures_sweeps
    df = figures.read_inputs(args.kind, args.inputs)
    draw = {**figures.FIGURES, **figures_sweeps.FIGURES}[args.kind]
    # every input "not measured" (e.g. a diverged run): a figure that says so, not a crash
    fig = draw(df, args.scale) if len(df) else figures.not_measured(args.kind, args.out_stem)
    figures.save(fig, args.out_stem)
    return 0


def cmd_grad_noise(args) -> int:
    import pandas as pd

    from sharpminima.measures import noise
    from sharpminima.core.atomic import atomic_path
    device = _setup_compute(args)
    model, split, labels = _load_run(args, device)
    rows = noise.spread_curve(model, split, args.sizes, args.repeats, args.seed)
    df = pd.DataFrame([{**labels, "seed_perm": args.seed, **r} for r in rows])
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    slope, _ = noise.fit_loglog(df["m"], df["spread"])
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']} epoch {labels.get('epoch')}: "
          f"spread slope {slope:+.3f} over m = {sorted(set(args.sizes))}", file=sys.stderr)
    return 0


def cmd_sweep_frame(args) -> int:
    from sharpminima.analysis import sweeps
    from sharpminima.core.atomic import atomic_path
    inputs = {"fig4": (args.metrics, args.sharpness), "fig5": (args.histories, args.sharpness),
              "fig6": (args.sharpness, args.histories), "noise_spread": (args.records,),
              "noise_scale": (args.histories,)}[args.kind]
    df = sweeps.FRAMES[args.kind](*inputs)
    df.insert(0, "scale", args.scale)
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    return 0


def cmd_dynamic_table(args) -> int:
    from sharpminima.analysis import sweeps, tables
    df = sweeps.dynamic_table(args.metrics, args.sharpness, args.scale)
    tables.write_frame(df, args.out_csv, args.out_md, sweeps.dynamic_caption(args.scale),
                       sweeps.dynamic_markdown)
    return 0

def _load_run(args, device):
    """A trained model, its run record (net, regime, seed, dataset) and its training split."""
    from sharpminima.data import splits as data
    from sharpminima.nets.checkpoint import load_model
    path = Path(args.model)
    record = _run_record(path)
    model = load_model(args.model, device)
    split = data.load(args.data, device, train_size=args.train_size, test_size=1).train
    labels = {k: record.get(k) for k in ("net", "regime", "seed", "dataset")}
    if path.parent.name == "iterates" and path.stem.startswith("epoch"):
        labels["epoch"] = int(path.stem[len("epoch"):])  # an iterate saved during training
    return model, split, labels


def _run_record(model_path: Path) -> dict:
    """metrics.json beside the model; for an iterate (<run>/iterates/epochN.pt), its run's; else
    what the checkpoint itself says (net only)."""
    for folder in (model_path.parent, model_path.parent.parent):
        if (folder / "metrics.json").exists():
            return json.loads((folder / "metrics.json").read_text())
        if model_path.parent.name != "iterates":
            break
    import torch
    return {"net": torch.load(model_path, map_location="cpu", weights_only=True).get("net")}


def _labels(model_path) -> dict:
    record = _run_record(Path(model_path))
    return {k: record.get(k) for k in ("net", "regime", "seed", "dataset")}


def _diverged_any(*model_paths) -> str | None:
    """Why the run of any of these models counts as diverged (sharpminima.training.divergence), or None."""
    from sharpminima.training import divergence
    for path in model_paths:
        why = divergence.reason(_run_record(Path(path)))
        if why:
            labels = _labels(path)
            return f"diverged ({labels['net']} {labels['regime']} seed {labels['seed']}: {why})"
    return None


def _not_measured(fields: dict, why: str, device=None) -> dict:
    """A 'not measured' record (the reason in it); with a device, its provenance too."""
    from sharpminima.training import divergence
    from sharpminima.core import provenance
    record = divergence.not_measured_record(fields, why)
    if device is not None:
        record["provenance"] = provenance.collect(device)
    return record


def _write_empty_csvs(paths, columns) -> None:
    import pandas as pd

    from sharpminima.core.atomic import atomic_path
    for out in paths:
        with atomic_path(out) as tmp:
            pd.DataFrame(columns=list(columns)).to_csv(tmp, index=False)


def _write_record(path, result: dict, labels: dict, device) -> None:
    from sharpminima.core import provenance
    from sharpminima.core.atomic import write_json
    write_json(path, {**labels, **result, "provenance": provenance.collect(device)})


def cmd_sharpness(args) -> int:
    from sharpminima.measures.sharpness import sharpness
    device = _setup_compute(args)
    why = _diverged_any(args.model)
    if why:
        _write_record(args.out, _not_measured(
            {"space": args.space, "eps": args.eps, "sharpness": None,
             "sharpness_sign_ascent": None, "sharpness_best": None, "f_x": None, "wall_s": 0.0},
            why), _labels(args.model), device)
        print(f"sharpness not measured: {why}", file=sys.stderr)
        return 0
    model, split, labels = _load_run(args, device)
    result = sharpness(model, split, args.eps, space=args.space, dim=args.dim,
                       a_dist=args.a_dist, a_seed=args.a_seed, iters=args.iters, chunk=args.chunk,
                       second=args.second_maximizer, sign_steps=args.sign_steps,
                       sign_step=args.sign_step)
    result["n_examples"] = len(split)
    _write_record(args.out, result, labels, device)
    second = ("" if result["sharpness_sign_ascent"] is None else
              f", sign ascent {result['sharpness_sign_ascent']:.4g}, best "
              f"{result['sharpness_best']:.4g}")
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']}: {args.space} sharpness "
          f"(eps {args.eps:g}) = {result['sharpness']:.4g}{second}  [|grad f| "
          f"{result['grad_norm']:.3g}; {result['wall_s']:.1f} s, {result['passes']} passes]",
          file=sys.stderr)
    return 0


def cmd_hessian(args) -> int:
    from sharpminima.measures.hessian import hessian_spectrum
    device = _setup_compute(args)
    why = _diverged_any(args.model)
    if why:
        _write_record(args.out, _not_measured({"top_eigenvalues": None, "trace": None}, why),
                      _labels(args.model), device)
        return 0
    model, split, labels = _load_run(args, device)
    result = hessian_spectrum(model, split, k=args.k, trace_samples=args.trace_samples,
                              seed=args.seed, chunk=args.chunk, tol=args.tol)
    result["n_examples"] = len(split)
    _write_record(args.out, result, labels, device)
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']}: top eigenvalue "
          f"{result['top_eigenvalues'][0]:.4g}, trace {result['trace']:.4g}", file=sys.stderr)
    return 0


def cmd_sharpness_table(args) -> int:
    from sharpminima.analysis import tables
    df = tables.sharpness_frame(args.records)
    tables.write_frame(tables.sharpness_table(df, args.scale, args.shortfall_factor),
                       args.out_csv, args.out_md,
                       tables.sharpness_caption(df, args.scale, args.caption),
                       tables.sharpness_markdown)
    return 0


def cmd_hessian_table(args) -> int:
    from sharpminima.analysis import tables
    df = tables.hessian_table(tables.read_records(args.records), args.scale)
    tables.write_frame(df, args.out_csv, args.out_md, tables.hessian_caption(args.scale),
                       tables.hessian_markdown)
    return 0


def cmd_remedies_table(args) -> int:
    from sharpminima.analysis import remedies_table
    remedies_table.build(args.metrics, args.sharpness or [], args.out_csv, args.out_md,
                         args.scale, args.reference, args.baseline)
    return 0


def _add_measure_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a run's model.pt (metrics.json beside it)")
    p.add_argument("--data", required=True, help="prepared dataset (.npz)")
    p.add_argument("--train-size", type=int, default=None,
                   help="use the first N training examples (default: all)")
    p.add_argument("--chunk", type=int, default=5000, help="examples per evaluation chunk")
    p.add_argument("--out", required=True, help="JSON record to write")
    _add_compute_args(p)


def cmd_summary(args) -> int:
    from sharpminima.analysis import summary
    summary.write(args.table2, args.sharpness_tables, args.hessian, args.histories,
                  args.out_metrics, args.out_curves)
    return 0


def cmd_collect(args) -> int:
    from sharpminima.analysis import records
    from sharpminima.core.atomic import write_json
    groups = {"runs": args.runs, "sharpness": args.sharpness, "hessian": args.hessian,
              "landscape": args.landscape, "sweep_runs": args.sweep_runs,
              "sweep_sharpness": args.sweep_sharpness}
    records.write_all(groups, args.histories, Path(args.out_dir))
    if args.manifest is not None:
        write_json(Path(args.out_dir) / "manifest.json", args.manifest)
    print(", ".join(f"{k} {len(v)}" for k, v in groups.items()) + " records", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from sharpminima.analysis import report
    from sharpminima.core.atomic import write_text
    out = Path(args.out)
    inputs = report.Inputs(json.loads(Path(args.manifest).read_text()), Path(args.root))
    write_text(out, report.build(inputs, out.parent, json.loads(args.config)))
    return 0


def cmd_reference(args) -> int:
    from sharpminima.analysis import reference
    written = reference.write(Path(args.results), Path(args.run), Path(args.out))
    size = sum(p.stat().st_size for p in written)
    print(f"{len(written)} files, {size / 1e6:.2f} MB in {args.out}", file=sys.stderr)
    return 0


def cmd_readme_verdicts(args) -> int:
    from sharpminima.analysis import report
    from sharpminima.core.atomic import write_text
    readme = Path(args.readme)
    write_text(readme, report.readme_with_verdicts(readme.read_text(), Path(args.report).read_text(),
                                                   "make readme-verdicts"))
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
    p.add_argument("--fit-tolerance", type=float, default=None,
                   help="max |SB - LB| final train accuracy (points) for a comparison "
                        "(default: protocol.FIT_TOLERANCE_PTS)")
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
    p.add_argument("kind", choices=["fig2", "fig3", "fig7", "slice2d", "fig4", "fig5", "fig6",
                                    "noise_spread", "noise_scale"])
    p.add_argument("--inputs", nargs="+", required=True,
                   help="fig2: history.csv of the runs (metrics.json beside each); fig3/fig7: "
                        "linear/curvilinear.csv; slice2d: the slice2d.csv of each regime")
    p.add_argument("--out-stem", required=True, help="writes STEM.png and STEM.pdf")
    p.add_argument("--scale", default="full", help="label for the scale (full, demo, tiny)")
    p.set_defaults(func=cmd_figure)

    p = sub.add_parser("grad-noise", help="spread of minibatch gradients vs batch size m at fixed "
                                          "parameters, with tr(Sigma) and B_simple estimates")
    _add_measure_args(p)
    p.add_argument("--sizes", type=int, nargs="+", required=True, help="batch sizes m")
    p.add_argument("--repeats", type=int, default=1, help="permutations per m (chunks: "
                                                          "repeats x floor(N / m))")
    p.add_argument("--seed", type=int, default=0, help="seed of the permutations")
    p.set_defaults(func=cmd_grad_noise)

    p = sub.add_parser("sweep-frame", help="the tidy CSV of Fig. 4, 5, 6 or a noise figure from "
                                           "the runs' records")
    p.add_argument("kind", choices=["fig4", "fig5", "fig6", "noise_spread", "noise_scale"])
    p.add_argument("--metrics", nargs="*", default=[], help="fig4: metrics.json of the runs")
    p.add_argument("--histories", nargs="*", default=[],
                   help="fig5: history.csv of the warm starts; fig6 (optional), noise_scale: "
                        "history.csv of the trajectory runs (metrics.json beside each)")
    p.add_argument("--sharpness", nargs="*", default=[], help="sharpness JSON records")
    p.add_argument("--records", nargs="*", default=[], help="noise_spread: grad-noise CSVs")
    p.add_argument("--out", required=True, help="tidy CSV")
    p.add_argument("--scale", default="full", help="label for the scale (full, demo, tiny)")
    p.set_defaults(func=cmd_sweep_frame)

    p = sub.add_parser("dynamic-table", help="dynamic sampling (growing batch) beside SB and LB")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json of the runs")
    p.add_argument("--sharpness", nargs="*", default=[], help="their sharpness JSON records")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", default="full")
    p.set_defaults(func=cmd_dynamic_table)
    p = sub.add_parser("sharpness", help="eps-sharpness (paper Metric 2.1) of a trained run")
    _add_measure_args(p)
    p.add_argument("--eps", type=float, required=True, help="box size (paper: 1e-3, 5e-4)")
    p.add_argument("--space", choices=["full", "subspace"], default="full")
    p.add_argument("--dim", type=int, default=100, help="subspace dimension p")
    p.add_argument("--a-dist", default="gaussian", help="distribution of the random A")
    p.add_argument("--a-seed", type=int, default=0, help="seed of the random A")
    p.add_argument("--iters", type=int, default=10, help="L-BFGS-B iterations")
    p.add_argument("--second-maximizer", choices=["sign_ascent", "none"], default="sign_ascent",
                   help="second maximizer of the same box, recorded beside the paper's L-BFGS-B "
                        "estimate (projected sign ascent, blind to the gradient's scale)")
    p.add_argument("--sign-steps", type=int, default=None,
                   help="sign-ascent steps, one pass each (default: --iters)")
    p.add_argument("--sign-step", type=float, default=1.0,
                   help="sign-ascent step, in half-widths of the box")
    p.set_defaults(func=cmd_sharpness)

    p = sub.add_parser("hessian", help="top Hessian eigenvalues (Lanczos) and trace (Hutchinson)")
    _add_measure_args(p)
    p.add_argument("--k", type=int, default=5, help="number of top eigenvalues")
    p.add_argument("--trace-samples", type=int, default=20, help="Hutchinson probes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-3, help="Lanczos relative tolerance")
    p.set_defaults(func=cmd_hessian)

    p = sub.add_parser("sharpness-table", help="Table 3 or 4: sharpness, ours beside the paper's")
    p.add_argument("records", nargs="+", help="sharpness JSON records (one space)")
    p.add_argument("--caption", default="", help="declared choices to print in the caption")
    p.add_argument("--shortfall-factor", type=float, default=2.0,
                   help="flag records whose best value exceeds the paper's estimate by this factor")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", default="full")
    p.set_defaults(func=cmd_sharpness_table)

    p = sub.add_parser("hessian-table", help="top Hessian eigenvalue and trace, SB vs LB")
    p.add_argument("records", nargs="+", help="hessian JSON records")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", default="full")
    p.set_defaults(func=cmd_hessian_table)

    p = sub.add_parser("remedies-table", help="remedies of the generalization gap: test accuracy "
                                              "and sharpness beside plain SB and LB")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="metrics.json of the runs (plain SB and LB and the remedy regimes)")
    p.add_argument("--sharpness", nargs="*", default=[],
                   help="sharpness JSON records of the same runs (full space is used)")
    p.add_argument("--reference", default="SB", help="the small-batch regime shown for reference")
    p.add_argument("--baseline", default="LB", help="the plain regime changes are measured against")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--scale", default="full")
    p.set_defaults(func=cmd_remedies_table)
    p = sub.add_parser("summary", help="key numbers for `dvc metrics`, curves for `dvc plots`")
    p.add_argument("--table2", required=True)
    p.add_argument("--sharpness-tables", nargs="*", default=[])
    p.add_argument("--hessian", default=None)
    p.add_argument("--histories", nargs="+", required=True, help="history.csv of each run")
    p.add_argument("--out-metrics", required=True)
    p.add_argument("--out-curves", required=True, help="directory of per net/regime CSVs")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("collect", help="the planned jobs' records -> tidy tables "
                                       "(results/summary/*.csv) and the report's manifest")
    for kind in ("runs", "sharpness", "hessian", "landscape", "sweep-runs", "sweep-sharpness"):
        p.add_argument(f"--{kind}", nargs="*", default=[], help=f"{kind} JSON records")
    p.add_argument("--histories", nargs="*", default=[], help="history.csv of the plain runs")
    p.add_argument("--manifest", type=_json_arg, default=None,
                   help="JSON: what the report reads (tables, figures, frames by kind)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_collect)
    p = sub.add_parser("report", help="REPORT.md: tables, figures, verdicts, provenance")
    p.add_argument("--manifest", required=True,
                   help="manifest.json written by collect: the only files the report reads")
    p.add_argument("--root", default=".", help="directory the manifest's paths are relative to")
    p.add_argument("--config", required=True, help="the resolved config as JSON")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("reference", help="copy a finished run's report, tables (.md) and "
                                         "figures (.png) to a committed reference record")
    p.add_argument("--results", default="results")
    p.add_argument("--run", required=True, help="run.json written by workflow/scripts/timed_run.sh")
    p.add_argument("--out", required=True, help="e.g. docs/reference/cpu")
    p.set_defaults(func=cmd_reference)
    p = sub.add_parser("readme-verdicts", help="copy the report's verdicts into README.md")
    p.add_argument("--report", default="results/report/REPORT.md")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_readme_verdicts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
