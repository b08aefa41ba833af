"""A committed reference record of one finished run: its report, tables (.md) and figures (.png).

The one place where results enter git (docs/reference/<name>/), so a reader sees a reproduction
without running anything. The record opens with what produced it: the command, the commit, the
machine and the measured wall time (written by workflow/scripts/timed_run.sh as run.json).
Figure links are rewritten to the copied PNGs, which the Markdown also shows inline; PDFs stay out.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from sharpminima.core.atomic import write_text

LINK = re.compile(r"^- \[(?P<stem>[^\]]+)\]\((?P<rel>[^)]+)\.png\) \(\[pdf\]\([^)]+\)\)$")


def header(run: dict) -> str:
    wall = run["wall_s"]
    return "\n".join([
        f"> **Reference record** of `{run['command']}`, produced at commit `{run['commit']}`"
        f"{' (with uncommitted changes)' if run.get('dirty') else ''} on {run['machine']}, "
        f"{run['started']} UTC; wall time {wall / 60:.1f} min ({wall:.0f} s) for the whole "
        "pipeline, set-up excluded.",
        *(["> Phases: " + "; ".join(f"{k} {v / 60:.1f} min" for k, v in run["phases"].items())]
          if run.get("phases") else []),
        *([f"> {run['note']}."] if run.get("note") else []),
        f"> Regenerate: `{run['command']}`, then `make reference-cpu`. Everything below is the "
        "run's own `results/report/REPORT.md`, its tables and figures, copied unedited except "
        "for the figure links.", "", ""])


def rewrite_links(report: str) -> str:
    """Figure list items -> a link to the copied PNG and the PNG inline."""
    out = []
    for line in report.splitlines():
        m = LINK.match(line)
        if m:
            name = f"figures/{m['stem']}.png"
            out += [f"- [{m['stem']}]({name})", "", f"  ![{m['stem']}]({name})", ""]
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def write(results: Path, run_json: Path, out_dir: Path) -> list[Path]:
    """Copy the report (with the header), every table's .md and every linked PNG to out_dir."""
    results, out_dir = Path(results), Path(out_dir)
    run = json.loads(Path(run_json).read_text())
    report = (results / "report/REPORT.md").read_text()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "tables").mkdir(parents=True)
    (out_dir / "figures").mkdir()
    written = []
    for line in report.splitlines():
        m = LINK.match(line)
        if m:
            src = (results / "report" / f"{m['rel']}.png").resolve()
            written.append(Path(shutil.copy2(src, out_dir / "figures" / f"{m['stem']}.png")))
    manifest = json.loads((results / "summary/manifest.json").read_text())
    for rel in sorted(manifest["tables"].values()):  # the run's planned tables only
        md = results.parent / rel
        written.append(Path(shutil.copy2(md, out_dir / "tables" / md.name)))
    write_text(out_dir / "REPORT.md", header(run) + rewrite_links(report))
    write_text(out_dir / "run.json", json.dumps(run, indent=2, sort_keys=True) + "\n")
    return [out_dir / "REPORT.md", *written]
