"""Verbs that measure one trained run: sharpness (paper Metric 2.1), hessian, grad-noise.

A run that diverged is not measured: its record says so (training.divergence), and no number.
"""

from __future__ import annotations

import sys

from sharpminima.cli import runs
from sharpminima.cli.common import add_measure_args, registry_choice, registry_help, setup_compute

# registries whose modules import torch: their names are checked when parsed, not at --help
A_DIST = registry_choice("sharpminima.measures.subspace", "A_DISTRIBUTIONS",
                         "distribution of A")
SECOND_MAXIMIZER = registry_choice("sharpminima.measures.sharpness", "SECOND_MAXIMIZERS",
                                   "second maximizer")


def cmd_sharpness(args) -> int:
    from sharpminima.core.layout import eps_text
    from sharpminima.measures.sharpness import sharpness
    device = setup_compute(args)
    why = runs.diverged_any(args.model)
    if why:
        runs.write_record(args.out, runs.not_measured(
            {"space": args.space, "eps": args.eps, "sharpness": None,
             "sharpness_sign_ascent": None, "sharpness_best": None, "f_x": None, "wall_s": 0.0},
            why), runs.labels(args.model), device)
        print(f"sharpness not measured: {why}", file=sys.stderr)
        return 0
    model, split, labels = runs.load_run(args, device)
    result = sharpness(model, split, args.eps, space=args.space, dim=args.dim,
                       a_dist=args.a_dist, a_seed=args.a_seed, iters=args.iters, chunk=args.chunk,
                       second=args.second_maximizer, sign_steps=args.sign_steps,
                       sign_step=args.sign_step)
    result["n_examples"] = len(split)
    runs.write_record(args.out, result, labels, device)
    second = ("" if result["sharpness_sign_ascent"] is None else
              f", sign ascent {result['sharpness_sign_ascent']:.4g}, best "
              f"{result['sharpness_best']:.4g}")
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']}: {args.space} sharpness "
          f"(eps {eps_text(args.eps)}) = {result['sharpness']:.4g}{second}  [|grad f| "
          f"{result['grad_norm']:.3g}; {result['wall_s']:.1f} s, {result['passes']} passes]",
          file=sys.stderr)
    return 0


def cmd_hessian(args) -> int:
    from sharpminima.measures.hessian import hessian_spectrum
    device = setup_compute(args)
    why = runs.diverged_any(args.model)
    if why:
        runs.write_record(args.out, runs.not_measured({"top_eigenvalues": None, "trace": None},
                                                      why), runs.labels(args.model), device)
        return 0
    model, split, labels = runs.load_run(args, device)
    result = hessian_spectrum(model, split, k=args.k, trace_samples=args.trace_samples,
                              seed=args.seed, chunk=args.chunk, tol=args.tol)
    result["n_examples"] = len(split)
    runs.write_record(args.out, result, labels, device)
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']}: top eigenvalue "
          f"{result['top_eigenvalues'][0]:.4g}, trace {result['trace']:.4g}", file=sys.stderr)
    return 0


def cmd_grad_noise(args) -> int:
    import pandas as pd

    from sharpminima.analysis import stats
    from sharpminima.core.atomic import atomic_path
    from sharpminima.measures import noise
    device = setup_compute(args)
    model, split, labels = runs.load_run(args, device)
    rows = noise.spread_curve(model, split, args.sizes, args.repeats, args.seed)
    df = pd.DataFrame([{**labels, "seed_perm": args.seed, **r} for r in rows])
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    slope, _ = stats.fit_loglog(df["m"], df["spread"])
    print(f"{labels['net']} {labels['regime']} seed {labels['seed']} epoch {labels.get('epoch')}: "
          f"spread slope {slope:+.3f} over m = {sorted(set(args.sizes))}", file=sys.stderr)
    return 0


def add_metric21_args(p) -> None:
    """The options of Metric 2.1 but its eps (the sharpness verb's and the reparam verb's)."""
    p.add_argument("--space", choices=["full", "subspace"], required=True,
                   help="the full parameter space or a random subspace (--dim, --a-dist)")
    p.add_argument("--dim", type=int, required=True, help="subspace dimension p")
    p.add_argument("--a-dist", type=A_DIST, required=True,
                   help=registry_help(A_DIST, "distribution of the random A"))
    p.add_argument("--a-seed", type=int, required=True, help="seed of the random A")
    p.add_argument("--iters", type=int, required=True, help="L-BFGS-B iterations")
    p.add_argument("--second-maximizer", type=SECOND_MAXIMIZER, required=True,
                   help=registry_help(SECOND_MAXIMIZER,
                                      "second maximizer of the same box, recorded beside the "
                                      "paper's L-BFGS-B estimate (sign_ascent: projected sign "
                                      "ascent, blind to the gradient's scale)"))
    p.add_argument("--sign-steps", type=int, required=True,
                   help="sign-ascent steps, one pass each")
    p.add_argument("--sign-step", type=float, required=True,
                   help="sign-ascent step, in half-widths of the box")


def _sharpness_parser(sub) -> None:
    p = sub.add_parser("sharpness", help="eps-sharpness (paper Metric 2.1) of a trained run")
    add_measure_args(p)
    p.add_argument("--eps", type=float, required=True, help="box size (paper: 1e-3, 5e-4)")
    add_metric21_args(p)
    p.set_defaults(func=cmd_sharpness)


def _hessian_parser(sub) -> None:
    p = sub.add_parser("hessian", help="top Hessian eigenvalues (Lanczos) and trace (Hutchinson)")
    add_measure_args(p)
    p.add_argument("--k", type=int, required=True, help="number of top eigenvalues")
    p.add_argument("--trace-samples", type=int, required=True, help="Hutchinson probes")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--tol", type=float, required=True, help="Lanczos relative tolerance")
    p.set_defaults(func=cmd_hessian)


def _grad_noise_parser(sub) -> None:
    p = sub.add_parser("grad-noise", help="spread of minibatch gradients vs batch size m at fixed "
                                          "parameters, with tr(Sigma) and B_simple estimates")
    add_measure_args(p, chunk_required=False)  # the rule passes no --chunk: grad-noise ignores it
    p.add_argument("--sizes", type=int, nargs="+", required=True, help="batch sizes m")
    p.add_argument("--repeats", type=int, required=True, help="permutations per m (chunks: "
                                                              "repeats x floor(N / m))")
    p.add_argument("--seed", type=int, required=True, help="seed of the permutations")
    p.set_defaults(func=cmd_grad_noise)


def add_parsers(sub) -> None:
    _sharpness_parser(sub)
    _hessian_parser(sub)
    _grad_noise_parser(sub)
