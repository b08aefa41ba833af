"""Verbs that assemble the results: summary (dvc metrics/plots), collect (tidy tables and the
report's manifest), report (REPORT.md), reference (a committed copy) and readme-verdicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sharpminima.cli.common import json_arg

COLLECT_GROUPS = ("runs", "sharpness", "hessian", "landscape", "sweep-runs", "sweep-sharpness",
                  "measures", "reparam")


def cmd_summary(args) -> int:
    from sharpminima.analysis import summary
    summary.write(args.table2, args.sharpness_tables, args.hessian, args.histories,
                  args.out_metrics, args.out_curves)
    return 0


def cmd_collect(args) -> int:
    from sharpminima.analysis import records
    from sharpminima.core.atomic import write_json
    groups = {kind.replace("-", "_"): getattr(args, kind.replace("-", "_"))
              for kind in COLLECT_GROUPS}
    records.write_all(groups, args.histories, Path(args.out_dir))
    if args.manifest is not None:
        write_json(Path(args.out_dir) / "manifest.json", args.manifest)
    print(", ".join(f"{k} {len(v)}" for k, v in groups.items()) + " records", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    from sharpminima.analysis import report
    inputs = report.Inputs(json.loads(Path(args.manifest).read_text()), Path(args.root))
    annotations = Path(args.annotations).read_text()
    report.write(inputs, Path(args.out), json.loads(args.config), annotations,
                 out_html=args.out_html and Path(args.out_html),
                 out_rst=args.out_rst and Path(args.out_rst))
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
    write_text(readme, report.readme_with_verdicts(readme.read_text(),
                                                   Path(args.report).read_text(),
                                                   "make readme-verdicts"))
    return 0


def _summary_parser(sub) -> None:
    p = sub.add_parser("summary", help="key numbers for `dvc metrics`, curves for `dvc plots`")
    p.add_argument("--table2", required=True)
    p.add_argument("--sharpness-tables", nargs="*", required=True)
    p.add_argument("--hessian", required=True)
    p.add_argument("--histories", nargs="+", required=True, help="history.csv of each run")
    p.add_argument("--out-metrics", required=True)
    p.add_argument("--out-curves", required=True, help="directory of per net/regime CSVs")
    p.set_defaults(func=cmd_summary)


def _collect_parser(sub) -> None:
    p = sub.add_parser("collect", help="the planned jobs' records -> tidy tables "
                                       "(results/summary/*.csv) and the report's manifest")
    for kind in COLLECT_GROUPS:
        p.add_argument(f"--{kind}", nargs="*", required=True, help=f"{kind} JSON records")
    p.add_argument("--histories", nargs="*", required=True, help="history.csv of the plain runs")
    p.add_argument("--manifest", type=json_arg, required=True,
                   help="JSON: what the report reads (tables, figures, frames by kind)")
    p.add_argument("--out-dir", required=True)
    p.set_defaults(func=cmd_collect)


def _report_parser(sub) -> None:
    p = sub.add_parser("report", help="REPORT.md: tables, figures, verdicts, provenance")
    p.add_argument("--manifest", required=True,
                   help="manifest.json written by collect: the only files the report reads")
    p.add_argument("--root", default=".", help="directory the manifest's paths are relative to")
    p.add_argument("--config", required=True, help="the resolved config as JSON")
    p.add_argument("--annotations", required=True,
                   help="the annotated defaults (config/config.yaml): every value its comments "
                        "mark ASSUMPTION is listed in the report with its value in --config")
    p.add_argument("--out", required=True)
    p.add_argument("--out-html", help="the same report as one self-contained HTML file")
    p.add_argument("--out-rst", help="the text `snakemake --report` includes (workflow/report/)")
    p.set_defaults(func=cmd_report)


def _reference_parser(sub) -> None:
    p = sub.add_parser("reference", help="copy a finished run's report, tables (.md) and "
                                         "figures (.png) to a committed reference record")
    p.add_argument("--results", default="results")
    p.add_argument("--run", required=True, help="run.json written by workflow/scripts/timed_run.sh")
    p.add_argument("--out", required=True, help="e.g. docs/reference/cpu")
    p.set_defaults(func=cmd_reference)


def _readme_verdicts_parser(sub) -> None:
    p = sub.add_parser("readme-verdicts", help="copy the report's verdicts into README.md")
    p.add_argument("--report", default="results/report/REPORT.md")
    p.add_argument("--readme", default="README.md")
    p.set_defaults(func=cmd_readme_verdicts)


def add_parsers(sub) -> None:
    _summary_parser(sub)
    _collect_parser(sub)
    _report_parser(sub)
    _reference_parser(sub)
    _readme_verdicts_parser(sub)
