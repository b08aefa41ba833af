"""Where a Snakemake run's time went: per rule, the jobs and the sum of their wall times.

Reads a Snakemake main log (`.snakemake/log/*.snakemake.log`). A job's wall time runs from the
timestamp above its "rule NAME:" block to the timestamp above its "Finished jobid: N" line, so it
includes the job's process start (interpreter, imports, data loading), which the records'
own wall_s leave out. With J job slots, the run's wall time is at least the sum over J.

    python bench/job_times.py .snakemake/log/<run>.snakemake.log
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")


def job_times(lines: list[str]) -> dict[str, list[float]]:
    """Rule -> the wall seconds of each of its finished jobs."""
    now, rule, started, rule_of = None, None, {}, {}
    walls: dict[str, list[float]] = defaultdict(list)
    for line in lines:
        if m := STAMP.match(line):
            now = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            rule = m.group(1)
        elif (m := JOBID.match(line)) and rule:
            started[m.group(1)], rule_of[m.group(1)], rule = now, rule, None
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            job = m.group(1)
            walls[rule_of[job]].append((now - started[job]).total_seconds())
    return dict(walls)


def table(walls: dict[str, list[float]]) -> str:
    total = sum(sum(w) for w in walls.values())
    rows = ["| rule | jobs | wall s (sum) | share |", "|---|---:|---:|---:|"]
    for rule, w in sorted(walls.items(), key=lambda kv: -sum(kv[1])):
        rows.append(f"| {rule} | {len(w)} | {sum(w):.0f} | {sum(w) / total:.0%} |")
    jobs = sum(len(w) for w in walls.values())
    rows.append(f"| all | {jobs} | {total:.0f} | 100% |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="a Snakemake main log")
    args = parser.parse_args()
    print(table(job_times(args.log.read_text().splitlines())))


if __name__ == "__main__":
    main()
