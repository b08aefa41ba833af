"""Where a Snakemake run's time went: per rule, the jobs and the sum of their wall times.

Reads a Snakemake main log (`.snakemake/log/*.snakemake.log`). A job's wall time runs from the
timestamp above its "rule NAME:" block to the timestamp above its "Finished jobid: N" line, so it
includes the job's process start (interpreter, imports, data loading), which the records'
own wall_s leave out. With J job slots, the run's wall time is at least the sum over J.

    python bench/job_times.py .snakemake/log/<run>.snakemake.log [--jobs train]
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


WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def jobs(lines: list[str]) -> list[tuple[str, str, float]]:
    """(rule, wildcards, wall seconds) of each finished job, in the order they finished."""
    now, rule, job, started, named = None, None, None, {}, {}
    done = []
    for line in lines:
        if m := STAMP.match(line):
            now = datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            rule, job = m.group(1), None
        elif (m := JOBID.match(line)) and rule:
            job = m.group(1)
            started[job], named[job], rule = now, [rule, ""], None
        elif (m := WILDCARDS.match(line)) and job is not None:
            named[job][1] = m.group(1)
        elif (m := FINISHED.match(line)) and m.group(1) in started:
            j = m.group(1)
            done.append((*named[j], (now - started[j]).total_seconds()))
    return done


def job_times(lines: list[str]) -> dict[str, list[float]]:
    """Rule -> the wall seconds of each of its finished jobs."""
    walls: dict[str, list[float]] = defaultdict(list)
    for rule, _, wall in jobs(lines):
        walls[rule].append(wall)
    return dict(walls)


def job_table(lines: list[str], rule: str) -> str:
    """Each finished job of `rule`, slowest first, with its wildcards."""
    rows = [f"| {rule} job (wildcards) | wall s |", "|---|---:|"]
    for _, wildcards, wall in sorted((j for j in jobs(lines) if j[0] == rule),
                                     key=lambda j: -j[2]):
        rows.append(f"| {wildcards or '-'} | {wall:.0f} |")
    return "\n".join(rows)


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
    parser.add_argument("--jobs", metavar="RULE", action="append", default=[],
                        help="also list each job of RULE with its wildcards (repeatable)")
    args = parser.parse_args()
    lines = args.log.read_text().splitlines()
    print(table(job_times(lines)))
    for rule in args.jobs:
        print("\n" + job_table(lines, rule))


if __name__ == "__main__":
    main()
