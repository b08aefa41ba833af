"""The figure verb: one figure (PNG + PDF) from the tidy records."""

from __future__ import annotations

from sharpminima.cli.common import SCALE_HELP


def cmd_figure(args) -> int:
    from sharpminima.figures import registry, style
    df = registry.read_inputs(args.kind, args.inputs)
    # every input "not measured" (e.g. a diverged run): a figure that says so, not a crash
    style.save(registry.draw(args.kind, df, args.scale, args.out_stem), args.out_stem)
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("figure", help="draw one figure (PNG + PDF) from the tidy records")
    from sharpminima.figures.registry import MODULE_OF  # a table of names: no plotting imports
    p.add_argument("kind", choices=sorted(MODULE_OF), help="the figure")
    p.add_argument("--inputs", nargs="+", required=True,
                   help="fig2: history.csv of the runs (metrics.json beside each); fig3/fig7: "
                        "linear/curvilinear.csv; slice2d: the slice2d.csv of each regime")
    p.add_argument("--out-stem", required=True, help="writes STEM.png and STEM.pdf")
    p.add_argument("--scale", required=True, help=SCALE_HELP)
    p.set_defaults(func=cmd_figure)
