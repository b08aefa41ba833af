"""Verbs beyond the paper: does sharpness explain the gap? `measures` and `reparam`.

`measures`: every measure of ``measures.generalization`` (adaptive worst-case and average-case
sharpness, m-sharpness, the baselines |w|, |w - w_0|, training loss) of one trained run, one JSON
record labelled from the run as `sharpness`'s. `reparam`: the reparametrization test (Dinh et al.
2017): for each alpha, the function-preserving rescaling of ``nets.rescale``, its logits checked
against the original's (a deviation above the tolerance fails the verb, writing nothing), then
Metric 2.1, the new measures and the Hessian's top eigenvalues re-measured; one row per alpha (CSV,
and the same rows in a JSON record with provenance). `reparam-table` and `correlation-table`: the
two tables (and the correlation figure's frame) from those records and the runs' metrics.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sharpminima.cli import runs
from sharpminima.cli.common import add_measure_args, setup_compute
from sharpminima.cli.measure_verbs import add_metric21_args

#: The reparam CSV's columns when the run is not measured (diverged).
REPARAM_COLUMNS = ("net", "regime", "seed", "dataset", "alpha", "logit_deviation", "sharpness",
                   "sharpness_best", "adaptive_linf", "adaptive_l2", "avg_gaussian",
                   "avg_adaptive", "hessian_top")


def initial_point(model_path, device) -> tuple[object, str]:
    """(w_0 as a flat tensor or None, where it came from or why there is none) of a run's model:
    rebuilt from the run's (net, seed), or the state a warm start (``spec.init_from``) loaded."""
    from sharpminima.measures.generalization import initial_point as build_initial
    from sharpminima.nets.checkpoint import load_checkpoint, load_state
    record = runs.run_record(model_path)
    seed, spec = record.get("seed"), record.get("spec") or {}
    if seed is None:
        return None, "no run record with a seed beside the model"
    meta, _ = load_checkpoint(model_path, "cpu")
    state, source = None, f"seed {seed}"
    if spec.get("init_from"):
        if not Path(spec["init_from"]).exists():
            return None, f"warm start from {spec['init_from']}, which is not there"
        state, source = load_state(spec["init_from"], "cpu"), f"init_from {spec['init_from']}"
    w0 = build_initial(meta["net"], meta["input_shape"], meta["num_classes"], meta["bn"], seed,
                       state, device, builder=meta["builder"])
    return w0, source


def _measures(model, split, args, w0) -> dict:
    from sharpminima.measures.generalization import generalization_measures
    return generalization_measures(
        model, split, rho_linf=args.rho_linf, rho_l2=args.rho_l2, sigma=args.sigma,
        sigma_adaptive=args.sigma_adaptive, samples=args.samples, steps=args.steps,
        step=args.step, eta=args.eta, m=args.m, m_examples=args.m_examples, seed=args.seed,
        chunk=args.chunk, w0=w0)


MEASURE_FIELDS = {"f_x": None, "adaptive_linf": None, "adaptive_l2": None, "avg_gaussian": None,
                  "avg_adaptive": None, "param_norm": None, "dist_init": None, "wall_s": 0.0}


def cmd_measures(args) -> int:
    device = setup_compute(args)
    why = runs.diverged_any(args.model)
    if why:
        runs.write_record(args.out, runs.not_measured(dict(MEASURE_FIELDS), why),
                          runs.labels(args.model), device)
        print(f"measures not measured: {why}", file=sys.stderr)
        return 0
    model, split, labels = runs.load_run(args, device)
    w0, source = initial_point(args.model, device)
    result = _measures(model, split, args, w0)
    result["init_point"] = source
    runs.write_record(args.out, result, labels, device)
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']}: adaptive sharpness "
          f"Linf {result['adaptive_linf']:.4g}, L2 {result['adaptive_l2']:.4g}; average "
          f"{result['avg_gaussian']:.4g} (adaptive {result['avg_adaptive']:.4g}); |w| "
          f"{result['param_norm']:.4g}  [{result['wall_s']:.1f} s, {result['passes']} passes]",
          file=sys.stderr)
    return 0


def reparam_row(model, split, alpha: float, args, w0) -> dict:
    """One alpha: rescale, check the logits (RescaleError above the tolerance), re-measure."""
    from sharpminima.measures.hessian import hessian_spectrum
    from sharpminima.measures.sharpness import sharpness
    from sharpminima.nets.rescale import bn_fed_layers, check_logits, rescale
    new = rescale(model, alpha, scale_bn_eps=args.bn_eps == "scale")
    deviation = check_logits(model, new, split, args.chunk, args.tolerance,
                             what=f"the model rescaled by alpha = {alpha:g}")
    s = sharpness(new, split, args.eps, space=args.space, dim=args.dim, a_dist=args.a_dist,
                  a_seed=args.a_seed, iters=args.iters, chunk=args.chunk,
                  second=args.second_maximizer, sign_steps=args.sign_steps,
                  sign_step=args.sign_step)
    g = _measures(new, split, args, w0)
    h = hessian_spectrum(new, split, k=args.hessian_k, trace_samples=0, seed=args.hessian_seed,
                         chunk=args.chunk, tol=args.hessian_tol)
    measured = {k: v for k, v in g.items() if not isinstance(v, list)
                and k not in ("passes", "wall_s", "time_in_passes_s", "loss_passes", "chunk")}
    return {
        "alpha": float(alpha), "bn_eps": args.bn_eps, "rescaled_layers": len(bn_fed_layers(new)),
        "logit_deviation": deviation, "tolerance": float(args.tolerance),
        "sharpness": s["sharpness"], "sharpness_sign_ascent": s["sharpness_sign_ascent"],
        "sharpness_best": s["sharpness_best"], "sharpness_f_max_best": s["f_max_best"],
        "sharpness_eps": s["eps"], "sharpness_space": s["space"],
        "sharpness_passes": s["passes"], "sharpness_wall_s": s["wall_s"],
        **measured,
        "measures_passes": g["passes"], "measures_loss_passes": g["loss_passes"],
        "measures_wall_s": g["wall_s"],
        "hessian_top": h["top_eigenvalues"][0] if h["top_eigenvalues"] else None,
        "hessian_eigenvalues": " ".join(f"{v:.6g}" for v in h["top_eigenvalues"]),
        "hessian_converged": h["lanczos_converged"], "hessian_hvps": h["hvps"],
        "hessian_wall_s": h["wall_s"], "chunk": int(args.chunk),
    }


def cmd_reparam(args) -> int:
    import pandas as pd

    from sharpminima.core.atomic import atomic_path
    from sharpminima.nets.rescale import RescaleError
    device = setup_compute(args)
    why = runs.diverged_any(args.model)
    if why:
        runs.write_record(args.out, runs.not_measured({"rows": [], "wall_s": 0.0}, why),
                          runs.labels(args.model), device)
        runs.write_empty_csvs([args.out_csv], REPARAM_COLUMNS)
        print(f"reparam not measured: {why}", file=sys.stderr)
        return 0
    start = time.perf_counter()
    model, split, labels = runs.load_run(args, device)
    w0, source = initial_point(args.model, device)
    rows = []
    for alpha in args.alphas:
        try:
            row = reparam_row(model, split, alpha, args, w0)
        except RescaleError as err:
            print(f"reparam: {labels['net']} {labels['regime']} seed {labels['seed']}: {err}",
                  file=sys.stderr)
            return 1
        rows.append({**labels, **row, "init_point": source})
        print(f"alpha {alpha:g}: logits within {row['logit_deviation']:.2g}; Metric 2.1 "
              f"{row['sharpness_best']:.4g} (best), adaptive Linf {row['adaptive_linf']:.4g}, "
              f"L2 {row['adaptive_l2']:.4g}, top eigenvalue {row['hessian_top']:.4g}",
              file=sys.stderr)
    with atomic_path(args.out_csv) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    runs.write_record(args.out, {"rows": rows, "alphas": [float(a) for a in args.alphas],
                                 "tolerance": float(args.tolerance), "bn_eps": args.bn_eps,
                                 "wall_s": time.perf_counter() - start},
                      labels, device)
    return 0


def _none(why: str):
    """The Markdown rendering of an empty table: one line that says why."""
    import pandas as pd
    return lambda df: pd.DataFrame({"note": [why]})


def cmd_reparam_table(args) -> int:
    import pandas as pd

    from sharpminima.analysis import correlation as corr
    from sharpminima.analysis import reparam, tables
    frames = [pd.read_csv(p) for p in args.records]
    rows = corr.renamed(pd.concat(frames, ignore_index=True))
    rows = rows[rows["alpha"].notna()] if "alpha" in rows else rows  # diverged: no rows
    measures = [m for m in corr.REPARAM_MEASURES if m in rows]
    df = reparam.reparam_table(rows, args.scale, measures) if len(rows) else pd.DataFrame()
    markdown = reparam.reparam_markdown if len(df) else _none("no measured model (diverged)")
    tables.write_frame(df, args.out_csv, args.out_md, reparam.reparam_caption(args.scale), markdown)
    return 0


def cmd_correlation_table(args) -> int:
    from sharpminima.analysis import correlation as corr
    from sharpminima.analysis import protocol, records, tables
    from sharpminima.core.atomic import atomic_path
    runs = protocol.trained(records.runs(args.metrics))
    models = corr.models_frame(runs, records.read_records(args.sharpness),
                               records.read_records(args.measures), args.eps)
    table = corr.correlation_table(models, args.scale)
    caption = corr.correlation_caption(table, args.scale)
    tables.write_frame(table, args.out_csv, args.out_md, caption,
                       corr.correlation_markdown if len(table) else _none("no trained model"))
    with atomic_path(args.out_frame) as tmp:
        corr.correlation_frame(models, table).to_csv(tmp, index=False)
    print(f"correlation: {len(models)} models, {len(table)} rows", file=sys.stderr)
    return 0


def add_generalization_args(p) -> None:
    """The options of ``measures.generalization`` (every rule passes all but --m, --m-examples)."""
    p.add_argument("--rho-linf", type=float, required=True,
                   help="adaptive L-infinity radius: |delta_i| <= rho (|w_i| + eta)")
    p.add_argument("--rho-l2", type=float, required=True,
                   help="adaptive L2 radius: |delta / (|w| + eta)|_2 <= rho")
    p.add_argument("--eta", type=float, required=True,
                   help="added to |w_i| in the adaptive unit (0: exactly scale-invariant)")
    p.add_argument("--steps", type=int, required=True,
                   help="ascent steps of each worst case, one loss+gradient pass each")
    p.add_argument("--step", type=float, required=True,
                   help="ascent step, in half-widths of the box (Linf) or radii (L2)")
    p.add_argument("--m", type=int, default=None,
                   help="m-sharpness: examples per perturbation's batch (absent: the whole set)")
    p.add_argument("--m-examples", type=int, default=None,
                   help="m-sharpness over the first N of the seeded permutation (absent: all)")
    p.add_argument("--sigma", type=float, required=True,
                   help="average case: delta ~ N(0, sigma^2 I)")
    p.add_argument("--sigma-adaptive", type=float, required=True,
                   help="average case: delta ~ N(0, sigma^2 diag((|w| + eta)^2))")
    p.add_argument("--samples", type=int, required=True, help="Gaussian samples of each average")
    p.add_argument("--seed", type=int, required=True,
                   help="seed of the Gaussian samples and of the m-sharpness permutation")


def _measures_parser(sub) -> None:
    p = sub.add_parser("measures", help="adaptive and average-case sharpness, m-sharpness and the "
                                        "baselines (|w|, |w - w_0|, training loss) of a run")
    add_measure_args(p)
    add_generalization_args(p)
    p.set_defaults(func=cmd_measures)


def _reparam_parser(sub) -> None:
    p = sub.add_parser("reparam", help="the reparametrization test: rescale every BN-fed layer by "
                                       "each alpha, check the logits, re-measure every sharpness")
    add_measure_args(p)
    p.add_argument("--out-csv", required=True, help="one row per alpha")
    p.add_argument("--alphas", type=float, nargs="+", required=True,
                   help="rescaling factors, each > 0")
    p.add_argument("--tolerance", type=float, required=True,
                   help="max relative logit deviation max|z' - z| / max|z| (above: the verb fails)")
    p.add_argument("--bn-eps", choices=["keep", "scale"], required=True,
                   help="keep BN's eps (the function is preserved up to it) or scale it by "
                        "alpha^2 (exactly preserved)")
    p.add_argument("--eps", type=float, required=True, help="Metric 2.1's box size")
    add_metric21_args(p)
    add_generalization_args(p)
    p.add_argument("--hessian-k", type=int, required=True, help="number of top eigenvalues")
    p.add_argument("--hessian-seed", type=int, required=True, help="seed of Lanczos' start")
    p.add_argument("--hessian-tol", type=float, required=True, help="Lanczos relative tolerance")
    p.set_defaults(func=cmd_reparam)


def _reparam_table_parser(sub) -> None:
    from sharpminima.cli.common import add_table_outputs
    p = sub.add_parser("reparam-table", help="the reparametrization table: each measure at each "
                                             "alpha, and whether the LB/SB ratio keeps its sign "
                                             "and size")
    p.add_argument("records", nargs="+", help="the reparam verb's CSVs")
    add_table_outputs(p)
    p.set_defaults(func=cmd_reparam_table)


def _correlation_table_parser(sub) -> None:
    from sharpminima.cli.common import add_table_outputs
    p = sub.add_parser("correlation-table", help="Kendall's tau of each measure with the "
                                                 "generalization gap over every trained model, "
                                                 "its bootstrap CI and the granulated tau")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="metrics.json of every trained model (diverged runs are left out)")
    p.add_argument("--sharpness", nargs="*", required=True,
                   help="their Metric 2.1 records (the full-space record at --eps is used)")
    p.add_argument("--measures", nargs="*", required=True, help="their measures records")
    p.add_argument("--eps", type=float, required=True, help="Metric 2.1's box size to use")
    p.add_argument("--out-frame", required=True, help="the figure's tidy CSV")
    add_table_outputs(p)
    p.set_defaults(func=cmd_correlation_table)


def add_parsers(sub) -> None:
    _measures_parser(sub)
    _reparam_parser(sub)
    _reparam_table_parser(sub)
    _correlation_table_parser(sub)
