"""Verbs that turn records into tables and tidy frames: table2, sharpness-table (Tables 3-4),
hessian-table, remedies-table, sweep-frame (Fig. 4-6, noise) and dynamic-table."""

from __future__ import annotations

from sharpminima.cli.common import SCALE_HELP, add_table_outputs, registry_choice, registry_help

# the frames' registry (analysis.sweeps imports pandas): checked when parsed, not at --help
FRAME_KIND = registry_choice("sharpminima.analysis.sweeps", "FRAMES", "frame kind")


def cmd_table2(args) -> int:
    from sharpminima.analysis import tables
    df = tables.collect_runs(args.runs)
    tables.write_frame(tables.table2(df, args.scale, args.fit_tolerance), args.out_csv, args.out_md,
                       tables.table2_caption(args.scale), tables.table2_markdown)
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


def _table2_parser(sub) -> None:
    p = sub.add_parser("table2", help="Table 2: accuracies, ours beside the paper's")
    p.add_argument("runs", nargs="+", help="metrics.json files of the trained runs")
    p.add_argument("--fit-tolerance", type=float, required=True,
                   help="max |SB - LB| final train accuracy (points) for a comparison "
                        "(config: protocol.fit_tolerance_pts)")
    add_table_outputs(p, SCALE_HELP)
    p.set_defaults(func=cmd_table2)


def _sharpness_table_parser(sub) -> None:
    p = sub.add_parser("sharpness-table", help="Table 3 or 4: sharpness, ours beside the paper's")
    p.add_argument("records", nargs="+", help="sharpness JSON records (one space)")
    p.add_argument("--caption", required=True, help="declared choices to print in the caption")
    p.add_argument("--shortfall-factor", type=float, required=True,
                   help="flag records whose best value exceeds the paper's estimate by this factor")
    add_table_outputs(p)
    p.set_defaults(func=cmd_sharpness_table)


def _hessian_table_parser(sub) -> None:
    p = sub.add_parser("hessian-table", help="top Hessian eigenvalue and trace, SB vs LB")
    p.add_argument("records", nargs="+", help="hessian JSON records")
    add_table_outputs(p)
    p.set_defaults(func=cmd_hessian_table)


def _remedies_table_parser(sub) -> None:
    p = sub.add_parser("remedies-table", help="remedies of the generalization gap: test accuracy "
                                              "and sharpness beside plain SB and LB")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="metrics.json of the runs (plain SB and LB and the remedy regimes)")
    p.add_argument("--sharpness", nargs="*", required=True,
                   help="sharpness JSON records of the same runs (full space is used)")
    p.add_argument("--reference", required=True, help="the small-batch regime shown for reference")
    p.add_argument("--baseline", required=True,
                   help="the plain regime changes are measured against")
    add_table_outputs(p)
    p.set_defaults(func=cmd_remedies_table)


def _sweep_frame_parser(sub) -> None:
    p = sub.add_parser("sweep-frame", help="the tidy CSV of Fig. 4, 5, 6 or a noise figure from "
                                           "the runs' records")
    p.add_argument("kind", type=FRAME_KIND,
                   help=registry_help(FRAME_KIND, "the tidy frame to build"))
    # which inputs a rule passes depends on the kind: each may be absent
    p.add_argument("--metrics", nargs="*", default=[], help="fig4: metrics.json of the runs")
    p.add_argument("--histories", nargs="*", default=[],
                   help="fig5: history.csv of the warm starts; fig6 (optional), noise_scale: "
                        "history.csv of the trajectory runs (metrics.json beside each)")
    p.add_argument("--sharpness", nargs="*", default=[], help="sharpness JSON records")
    p.add_argument("--records", nargs="*", default=[], help="noise_spread: grad-noise CSVs")
    p.add_argument("--out", required=True, help="tidy CSV")
    p.add_argument("--scale", required=True, help=SCALE_HELP)
    p.set_defaults(func=cmd_sweep_frame)


def _dynamic_table_parser(sub) -> None:
    p = sub.add_parser("dynamic-table", help="dynamic sampling (growing batch) beside SB and LB")
    p.add_argument("--metrics", nargs="+", required=True, help="metrics.json of the runs")
    p.add_argument("--sharpness", nargs="*", required=True, help="their sharpness JSON records")
    add_table_outputs(p)
    p.set_defaults(func=cmd_dynamic_table)


def add_parsers(sub) -> None:
    _table2_parser(sub)
    _sharpness_table_parser(sub)
    _hessian_table_parser(sub)
    _remedies_table_parser(sub)
    _sweep_frame_parser(sub)
    _dynamic_table_parser(sub)
