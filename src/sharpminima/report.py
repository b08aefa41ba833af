"""REPORT.md: every table and figure, the paper beside us, a computed verdict per claim, provenance.

Built only from the pipeline's records (tables, JSON records, figures), never from checkpoints.
Renders on a code-hosting site: tables inline, figures linked relative to the report.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

from sharpminima import findings, verdicts
from sharpminima.figures import read_histories
from sharpminima.tables import SCALE_NOTE

# Choices the paper leaves open: (config key path, why it is a choice). Printed with their values.
ASSUMPTIONS = [
    ("train.max_epochs", "cap on training: the paper trains 'until the loss ceased to improve'"),
    ("train.patience", "stopping rule: epochs without improvement of the training loss"),
    ("train.min_delta", "stopping rule: relative improvement that counts"),
    ("train.lr", "Adam learning rate (paper silent; authors' code: Keras default)"),
    ("train.betas", "Adam betas (paper silent; authors' code: Keras default)"),
    ("train.adam_eps", "Adam epsilon (paper silent; authors' code: Keras default)"),
    ("train.bn", "batch-norm statistics at evaluation (authors' code: batch statistics)"),
    ("train.eval_chunk", "examples per BN-normalized evaluation chunk (authors: 5000)"),
    ("sharpness.a_dist", "distribution of the random subspace matrix A (paper silent)"),
    ("sharpness.a_seed", "seed of A (the same A for every run of a net)"),
    ("sharpness.train_size", "training examples in f for sharpness (paper: all)"),
    ("landscape.pair_seed", "seed of the random draw of the SB/LB pair for Figs. 3 and 7"),
]

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
]


def _get(config: dict, dotted: str):
    node = config
    for k in dotted.split("."):
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def md_table(path: Path) -> str:
    """A table's Markdown file, caption included, as written by the table rules."""
    return path.read_text().strip() if path.exists() else f"_{path.name}: not produced_"


def _records(results: Path, folder: str) -> list[dict]:
    out = []
    for p in sorted((results / folder).rglob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def compute_by_stage(results: Path) -> pd.DataFrame:
    """Total compute seconds per stage, summed from the records' own wall times."""
    totals: dict[str, list] = defaultdict(lambda: [0.0, 0])
    for folder in sorted(p.name for p in results.iterdir() if p.is_dir()):
        for rec in _records(results, folder):
            wall = rec.get("wall_s")
            if isinstance(wall, (int, float)):
                totals[folder][0] += wall
                totals[folder][1] += 1
    return pd.DataFrame([{"stage": k, "records": n, "compute_s": round(s, 1)}
                         for k, (s, n) in totals.items()])


def provenance(results: Path, config: dict) -> str:
    runs = _records(results, "runs")
    prov = [r["provenance"] for r in runs if "provenance" in r]
    devices = sorted({p["device"] for p in prov})
    codes = sorted({json.dumps(p["code"], sort_keys=True) for p in prov})
    packages = prov[0]["packages"] if prov else {}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    lines = ["## Provenance", "",
             f"- Config hash (SHA-256 of the resolved config, first 16 hex): `{config_hash}`",
             f"- Device(s): {', '.join(devices) or 'unknown'}",
             f"- Code version(s): {'; '.join(codes) or 'unknown'}",
             "- Packages: " + ", ".join(f"{k} {v}" for k, v in packages.items()), "",
             "Compute time per stage (sum of the records' wall times):", "",
             compute_by_stage(results).to_markdown(index=False), "",
             "Assumptions: choices the paper does not fix, with the values used here:", "",
             pd.DataFrame([{"config key": k, "value": json.dumps(_get(config, k)), "why": why}
                           for k, why in ASSUMPTIONS]).to_markdown(index=False), "",
             "Per-net settings (they override the values above for that net):", "",
             *[f"- {net}: `{json.dumps(spec, sort_keys=True)}`"
               for net, spec in config.get("nets", {}).items()]]
    return "\n".join(lines)


# Where each figure's tidy data lives under results/ (glob patterns; fig4-6: _frames)
FIGURE_DATA = {
    "fig3": "landscape/*/linear.csv",
    "fig7": "landscape/*/curvilinear.csv",
    "slice2d": "landscape/*/*/slice2d.csv",
    "noise_spread": "sweeps/trajectory/*/noise_spread.csv",
    "noise_scale": "sweeps/trajectory/*/noise_scale.csv",
}


def figure_frame(results: Path, kind: str) -> pd.DataFrame:
    """The tidy frame figure `kind` was drawn from, for every net (empty when not run)."""
    if kind == "fig2":
        paths = [p for r in ("SB", "LB") for p in sorted(results.glob(f"runs/*/{r}/*/history.csv"))]
        return read_histories(paths) if paths else pd.DataFrame()
    if kind in FIGURE_DATA:
        return _concat_csvs(results.glob(FIGURE_DATA[kind]))
    return _frames(results, kind)


def figure_section(results: Path, report_dir: Path) -> str:
    figures = results / "figures"
    lines = ["## Figures", ""]
    for prefix, title, paper_says in FIGURES:
        pngs = sorted(figures.glob(f"{prefix}_*.png"))
        lines.append(f"### {title}")
        lines.append(f"Paper: {paper_says}.")
        if not pngs:
            lines += ["", "_not run in this configuration_", ""]
            continue
        lines += ["", f"Ours: {findings.finding(prefix, figure_frame(results, prefix))}.", ""]
        for png in pngs:
            rel = os.path.relpath(png, report_dir)
            lines.append(f"- [{png.stem}]({rel}) ([pdf]({rel[:-4]}.pdf))")
        lines.append("")
    return "\n".join(lines)


def _concat_csvs(paths) -> pd.DataFrame:
    """The CSVs at `paths` as one frame (empty when there are none)."""
    paths = sorted(paths)
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()


def _frames(results: Path, kind: str) -> pd.DataFrame:
    """Every per-net sweep frame of one kind (fig4, fig5, fig6), concatenated."""
    return _concat_csvs(results.glob(f"sweeps/**/{kind}.csv"))


def verdict_table(results: Path) -> pd.DataFrame:
    runs = pd.DataFrame(_records(results, "runs"))
    sharp = pd.DataFrame(_records(results, "sharpness"))
    remedies = results / "tables/remedies.csv"
    rows = [verdicts.lb_generalizes_worse(runs) if not runs.empty else
            verdicts.Verdict("LB test accuracy is below SB", verdicts.NOT_RUN, "no runs"),
            verdicts.lb_is_sharper(sharp) if not sharp.empty else
            verdicts.Verdict("LB minima are sharper", verdicts.NOT_RUN, "no sharpness"),
            verdicts.batch_threshold(_frames(results, "fig4")),
            verdicts.warm_start_recovers(_frames(results, "fig5")),
            verdicts.sharpness_rises_for_lb_only(_frames(results, "fig6")),
            verdicts.remedies_leave_lb_sharp(pd.read_csv(remedies) if remedies.exists()
                                             else pd.DataFrame())]
    return pd.DataFrame([v.row() for v in rows])


def build(results: Path, report_dir: Path, config: dict) -> str:
    scale = config.get("scale", "full")
    datasets = sorted({v["dataset"] for v in config.get("nets", {}).values()})
    v = verdict_table(results)
    tables = results / "tables"
    parts = [
        "# sharpminima: reproduction report",
        "",
        "Keskar et al. 2017, *On Large-Batch Training for Deep Learning: Generalization Gap and "
        "Sharp Minima* (ICLR). Every number below was computed by this pipeline from its own "
        "records; the paper's numbers stand beside ours.",
        "",
        f"**Scale: {scale}.** {SCALE_NOTE.get(scale, '')} Data: {', '.join(datasets)}"
        + (" (fashion_mnist stands in for the paper's MNIST/CIFAR)" if "fashion_mnist" in datasets
           else "") + ".",
        "",
        "## Verdicts",
        "",
        v.to_markdown(index=False),
        "",
        "## Table 2: accuracy", "", md_table(tables / "table2.md"), "",
        "## Table 3: sharpness, full space", "", md_table(tables / "table3.md"), "",
        "## Table 4: sharpness, random subspace", "", md_table(tables / "table4.md"), "",
        "## Hessian spectrum", "", md_table(tables / "hessian.md"), "",
        "## Remedies", "", md_table(tables / "remedies.md"), "",
        "## Dynamic sampling", "", md_table(tables / "dynamic.md"), "",
        figure_section(results, report_dir),
        provenance(results, config),
        "",
    ]
    return "\n".join(parts)


START, END = "<!-- demo-verdicts:start -->", "<!-- demo-verdicts:end -->"


def readme_with_verdicts(readme: str, report_md: str, command: str) -> str:
    """README text with the report's verdict table placed between the demo-verdict markers."""
    section = report_md.split("## Verdicts", 1)[1].split("\n## ", 1)[0].strip()
    scale = next((l for l in report_md.splitlines() if l.startswith("**Scale:")), "")
    body = (f"What the demo concluded (regenerated by `{command}` from "
            f"`results/report/REPORT.md`, not edited by hand). {scale}\n\n{section}")
    head, rest = readme.split(START, 1)
    return f"{head}{START}\n{body}\n{END}{rest.split(END, 1)[1]}"
