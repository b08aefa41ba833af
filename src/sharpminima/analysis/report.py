"""REPORT.md: every table and figure, the paper beside us, a computed verdict per claim, provenance.

Built only from the pipeline's records (tables, JSON records, figures), never from checkpoints.
Renders on a code-hosting site: tables inline, figures linked relative to the report. `write`
also renders it as HTML (analysis.report_html): REPORT_standalone.html, and the text that
`snakemake --report` shows on its landing page and in the figures' and tables' captions.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from sharpminima.analysis import correlation, findings, protocol, records, reparam, verdicts
from sharpminima.analysis.assumptions import annotated_assumptions, config_value
from sharpminima.analysis.records import long_histories
from sharpminima.analysis.tables import SCALE_NOTE

FIGURES = [  # (file prefix, title, what the paper reported)
    ("fig2", "Fig. 2: accuracy vs epoch", "no overfitting peak: early stopping would not close "
     "the SB-LB gap (F2, C1)"),
    ("fig3", "Fig. 3: linear interpolation from x_SB to x_LB", "a flat, wide basin around x_SB "
     "(alpha = 0) and a sharp, narrow one around x_LB (alpha = 1)"),
    ("fig4", "Fig. 4: batch-size sweep", "test accuracy drops and sharpness rises past a batch "
     "size threshold (~15000 for F2, ~500 for C1)"),
    ("fig5", "Fig. 5: warm starts", "after enough SB epochs, LB runs started from the SB iterate "
     "reach SB-like accuracy and flat minima"),
    ("fig6", "Fig. 6: sharpness along training", "as the loss falls, LB sharpness rises while SB "
     "sharpness stays flat, then falls"),
    ("fig7", "Fig. 7: curvilinear path", "the same basin shapes along a curved path"),
    ("noise_spread", "Gradient noise vs batch size (beyond the paper)", "the motivation: a batch "
     "of m costs O(m) but cuts the gradient's standard deviation only by O(sqrt(m))"),
    ("noise_scale", "Gradient noise scale along training (beyond the paper)", "(not in the paper)"),
    ("slice2d", "2-D filter-normalized slices (beyond the paper)", "(not in the paper)"),
    ("correlation", "Generalization gap vs each measure (beyond the paper)", "(not in the paper; "
     "Dinh et al. 2017 and Jiang et al. 2020 question whether sharpness predicts the gap)"),
]


def md_table(path: Path | None) -> str:
    """A table's Markdown file, caption included, as written by the table rules."""
    if path is None:
        return "_not run in this configuration_"
    return path.read_text().strip() if path.exists() else f"_{path.name}: not produced_"


class Inputs:
    """What the report may read: the paths of the manifest the `collect` rule wrote (exactly the
    planned records, tables, figures and frames), resolved against `root`. Nothing else."""

    def __init__(self, manifest: dict, root: Path = Path(".")):
        self.manifest, self.root = manifest, Path(root)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def summary(self, kind: str) -> pd.DataFrame:
        return records.load(self.path(self.manifest["summary"]), kind)

    def table(self, name: str, ext: str = "md") -> Path | None:
        rel = self.manifest["tables"].get(name)
        return self.path(rel[: -len(".md")] + f".{ext}") if rel else None

    def figures(self, kind: str) -> list[Path]:
        return [self.path(p) for p in self.manifest["figures"].get(kind, [])]

    def frame(self, kind: str) -> pd.DataFrame:
        """The tidy frame figure `kind` was drawn from (empty when not planned)."""
        paths = [self.path(p) for p in self.manifest["frames"].get(kind, [])]
        if kind == "fig2":
            return long_histories(_concat_csvs(paths))
        return _concat_csvs(paths)


def _concat_csvs(paths) -> pd.DataFrame:
    """The CSVs at `paths` as one frame (empty when there are none)."""
    frames = [pd.read_csv(p) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _distinct(df: pd.DataFrame, column: str) -> list[str]:
    return sorted(str(v) for v in df[column].dropna().unique()) if column in df else []


def provenance(inputs: Inputs, config: dict, annotations: str | None = None) -> str:
    frames = [inputs.summary(k) for k in records.KINDS]
    planned = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(
        len(f) for f in frames) else pd.DataFrame()
    runs = inputs.summary("runs")
    packages = json.loads(runs.packages.dropna().iloc[0]) if "packages" in runs and \
        runs.packages.notna().any() else {}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    lines = ["## Provenance", "",
             f"- Config hash (SHA-256 of the resolved config, first 16 hex): `{config_hash}`",
             f"- Records read: {len(planned)}, exactly the jobs this configuration plans "
             "(results/summary/*.csv; nothing else under results/ is read)",
             f"- Device(s): {', '.join(_distinct(planned, 'device')) or 'unknown'}",
             f"- Code version(s): {'; '.join(_distinct(planned, 'code')) or 'unknown'}",
             "- Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()), "",
             "Compute time per stage (sum of the planned records' wall times):", "",
             records.compute_by_stage(inputs.path(inputs.manifest["summary"])).to_markdown(
                 index=False), "",
             assumptions_section(config, annotations), "",
             "Per-net settings (they override the values above for that net):", "",
             *[f"- {net}: `{json.dumps(spec, sort_keys=True)}`"
               for net, spec in config.get("nets", {}).items()]]
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for a Markdown table cell (a '|' would end the cell)."""
    return text.replace("|", "\\|")


def assumptions_section(config: dict, annotations: str | None) -> str:
    """The values the configuration file marks ASSUMPTION (analysis.assumptions), as a table of
    key, value used here and the comment that says why; `annotations`: the file's text."""
    head = ("Assumptions: choices the paper does not fix, with the values used here (every "
            "key of this configuration that the annotated configuration file, config/config.yaml, "
            "marks ASSUMPTION; 'why' is that file's comment):")
    if annotations is None:
        return (f"{head}\n\n_no annotated configuration file was given to the report: the "
                "assumptions are not listed here (see the comments of config/config.yaml)_")
    found = annotated_assumptions(annotations, config)
    if not found:
        return f"{head}\n\n_the configuration file marks no value ASSUMPTION_"
    table = pd.DataFrame([{"config key": a.key, "value": _cell(json.dumps(a.value)),
                           "why": _cell(a.comment)} for a in found])
    return f"{head}\n\n{table.to_markdown(index=False)}"


def figure_findings(inputs: Inputs) -> dict[str, tuple[str, str | None]]:
    """Per figure kind: what the paper reported, and the computed line on what ours shows (None
    when the configuration plans no such figure)."""
    return {prefix: (paper_says, findings.finding(prefix, inputs.frame(prefix))
                     if inputs.figures(prefix) else None)
            for prefix, _, paper_says in FIGURES}


def figure_section(inputs: Inputs, report_dir: Path,
                   found: dict[str, tuple[str, str | None]] | None = None) -> str:
    found = figure_findings(inputs) if found is None else found
    lines = ["## Figures", ""]
    for prefix, title, paper_says in FIGURES:
        pngs = inputs.figures(prefix)
        lines.append(f"### {title}")
        lines.append(f"Paper: {paper_says}.")
        if not pngs:
            lines += ["", "_not run in this configuration_", ""]
            continue
        lines += ["", f"Ours: {found[prefix][1]}.", ""]
        for png in pngs:
            rel = os.path.relpath(png, report_dir)
            lines.append(f"- [{png.stem}]({rel}) ([pdf]({rel[:-4]}.pdf))")
        lines.append("")
    return "\n".join(lines)


def verdict_table(inputs: Inputs,
                  fit_tolerance: float = protocol.FIT_TOLERANCE_PTS) -> pd.DataFrame:
    runs = protocol.trained(inputs.summary("runs"))
    sharp = inputs.summary("sharpness")
    sharp = sharp[pd.to_numeric(sharp.sharpness, errors="coerce").notna()] \
        if "sharpness" in sharp else sharp
    remedies = inputs.table("remedies", "csv")
    rows = [verdicts.lb_generalizes_worse(runs, protocol.fit_check(runs, fit_tolerance))
            if not runs.empty else
            verdicts.Verdict("LB test accuracy is below SB", verdicts.NOT_RUN, "no runs"),
            *([verdicts.lb_is_sharper(sharp, "sharpness", "paper's estimator (L-BFGS-B)"),
               verdicts.lb_is_sharper(sharp, "sharpness_best", "best of both maximizers")]
              if not sharp.empty else
              [verdicts.Verdict("LB minima are sharper", verdicts.NOT_RUN, "no sharpness")]),
            verdicts.batch_threshold(inputs.frame("fig4")),
            verdicts.warm_start_recovers(inputs.frame("fig5")),
            verdicts.sharpness_rises_for_lb_only(inputs.frame("fig6")),
            verdicts.remedies_leave_lb_sharp(pd.read_csv(remedies) if remedies else
                                             pd.DataFrame()),
            correlation.sharpness_beats_norm(_table_csv(inputs, "correlation")),
            reparam.contrast_survives_reparam(_table_csv(inputs, "reparam"))]
    return pd.DataFrame([v.row() for v in rows])


def _table_csv(inputs: Inputs, name: str) -> pd.DataFrame:
    """A planned table's CSV (empty when the configuration does not plan it, or it has no rows)."""
    path = inputs.table(name, "csv")
    if path is None or not path.exists() or path.stat().st_size <= 1:
        return pd.DataFrame()
    return pd.read_csv(path, dtype={"remedy": str})


def shortfall_section(sharp: pd.DataFrame, factor: float) -> str:
    """Records where the paper's estimator (10 L-BFGS-B iterations) falls short of the best value
    found in the same box (either maximizer) by more than `factor`."""
    from sharpminima.analysis.tables import shortfall
    if sharp.empty or "sharpness_best" not in sharp:
        return "_no second maximizer in these records_"
    measured = sharp[pd.to_numeric(sharp.sharpness, errors="coerce").notna()]
    short = measured[shortfall(measured, factor)]
    head = (f"Metric 2.1 asks for the maximum over the box; the paper's estimator is 10 L-BFGS-B "
            f"iterations, whose first steps scale with |grad f| (tiny at a near-zero-loss "
            f"minimizer). Every record also holds projected sign ascent in the same box. "
            f"{len(short)} of {len(measured)} records: the best value found exceeds the paper's "
            f"estimate by more than {factor:g}x.")
    if short.empty:
        return head
    cols = ["net", "regime", "seed", "space", "eps", "sharpness", "sharpness_sign_ascent",
            "sharpness_best", "grad_norm"]
    rows = short[[c for c in cols if c in short]].assign(
        ratio=pd.to_numeric(short.sharpness_best) / pd.to_numeric(short.sharpness).clip(1e-12))
    rows = rows.rename(columns={"sharpness": "L-BFGS-B (paper)", "sharpness_sign_ascent":
                                "sign ascent", "sharpness_best": "best", "grad_norm": "|grad f|"})
    return head + "\n\n" + rows.to_markdown(index=False, floatfmt=".4g")


def build(inputs: Inputs, report_dir: Path, config: dict, annotations: str | None = None,
          found: dict[str, tuple[str, str | None]] | None = None) -> str:
    """REPORT.md from the planned records (`inputs`) and the resolved `config`; `annotations`: the
    text of the configuration file whose comments mark the assumptions (None: not listed);
    `found`: figure_findings(inputs) when the caller has it already."""
    scale = config.get("scale", "full")
    datasets = sorted({v["dataset"] for v in config.get("nets", {}).values()})
    tolerance = config_value(config, "protocol.fit_tolerance_pts") or protocol.FIT_TOLERANCE_PTS
    runs = inputs.summary("runs")
    parts = [
        "# sharpminima: reproduction report",
        "",
        "Keskar et al. 2017, *On Large-Batch Training for Deep Learning: Generalization Gap and "
        "Sharp Minima* (ICLR). Every number below was computed by this pipeline from the records "
        "of the jobs this configuration plans; the paper's numbers stand beside ours.",
        "",
        f"**Scale: {scale}.** {SCALE_NOTE.get(scale, '')} Data: {', '.join(datasets)}"
        + (" (fashion_mnist stands in for the paper's MNIST/CIFAR)" if "fashion_mnist" in datasets
           else "") + ".",
        "",
        "## Verdicts",
        "",
        verdict_table(inputs, tolerance).to_markdown(index=False),
        "",
        "## Training fit (the paper's protocol)", "",
        protocol.fit_section(runs, tolerance), "",
        "## Diverged runs", "", protocol.divergence_section(runs), "",
        "## Table 2: accuracy", "", md_table(inputs.table("table2")), "",
        "## Table 3: sharpness, full space", "", md_table(inputs.table("table3")), "",
        "## Table 4: sharpness, random subspace", "", md_table(inputs.table("table4")), "",
        "## The box maximum, checked", "",
        shortfall_section(inputs.summary("sharpness"),
                          config_value(config, "sharpness.shortfall_factor") or 2.0), "",
        "## Hessian spectrum", "", md_table(inputs.table("hessian")), "",
        "## Remedies", "", md_table(inputs.table("remedies")), "",
        "## Dynamic sampling", "", md_table(inputs.table("dynamic")), "",
        "## Beyond the paper: the reparametrization test", "",
        md_table(inputs.table("reparam")), "",
        "## Beyond the paper: does sharpness predict the generalization gap?", "",
        md_table(inputs.table("correlation")), "",
        figure_section(inputs, report_dir, found),
        provenance(inputs, config, annotations),
        "",
    ]
    return "\n".join(parts)


def table_caption(path: Path | None) -> str:
    """The caption of a table's Markdown file: its text before the table itself."""
    text = md_table(path)
    return text.split("\n|", 1)[0].strip() if text.lstrip()[:1] != "|" else ""


def write(inputs: Inputs, out_md: Path, config: dict, annotations: str | None = None,
          out_html: Path | None = None, out_rst: Path | None = None) -> None:
    """REPORT.md at `out_md`; with `out_html` the same report as one self-contained HTML file;
    with `out_rst` the text that Snakemake's HTML report includes (report_html.snakemake_rst:
    its landing page, the figures' paper-says/ours-shows lines, the tables' captions). Paths
    inside the reports are relative to `out_md`'s folder, where all three belong."""
    from sharpminima.analysis import report_html
    from sharpminima.core.atomic import write_text
    report_dir = Path(out_md).parent
    found = figure_findings(inputs)
    md = build(inputs, report_dir, config, annotations, found)
    write_text(out_md, md)
    if out_html is not None:
        write_text(out_html, report_html.page(md, Path(out_html).parent))
    if out_rst is not None:
        captions = {name: table_caption(inputs.table(name)) for name in inputs.manifest["tables"]}
        write_text(out_rst, report_html.snakemake_rst(md, report_dir, found, captions))


START, END = "<!-- demo-verdicts:start -->", "<!-- demo-verdicts:end -->"


def readme_with_verdicts(readme: str, report_md: str, command: str) -> str:
    """README text with the report's verdict table placed between the demo-verdict markers."""
    section = report_md.split("## Verdicts", 1)[1].split("\n## ", 1)[0].strip()
    scale = next((line for line in report_md.splitlines() if line.startswith("**Scale:")), "")
    body = (f"What the demo concluded (regenerated by `{command}` from "
            f"`results/report/REPORT.md`, not edited by hand). {scale}\n\n{section}")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}"
