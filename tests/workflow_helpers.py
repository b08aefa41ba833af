"""Run the real Snakefile in a subprocess, as users do, on a config of the test's making."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT


def snakemake(workdir: Path, configfile: Path, *args: str, timeout: int = 900,
              check: bool = True, env: dict | None = None,
              snakefile: Path = ROOT / "Snakefile") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile),
           "--directory", str(workdir), "--configfile", str(configfile), *args]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path, configfile: Path, *args: str) -> dict[str, int]:
    """Job counts per rule from a dry run ({} when nothing is to be done)."""
    proc = snakemake(workdir, configfile, "-n", "--quiet", "rules", *args)
    text = proc.stdout + proc.stderr
    counts = {}
    if "Job stats:" in text:
        table = text.split("Job stats:")[1]
        for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M):
            if m.group(1) != "total":
                counts[m.group(1)] = int(m.group(2))
    return counts


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def planned_outputs(workdir: Path, configfile: Path, *args: str, env: dict | None = None,
                    snakefile: Path = ROOT / "Snakefile") -> dict[str, list[str]]:
    """Per rule, the outputs a dry run would produce ({} when nothing is to be done)."""
    proc = snakemake(workdir, configfile, "-n", "--workflow-profile", "none", *args, env=env,
                     snakefile=snakefile)
    plan: dict[str, list[str]] = {}
    rule = None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            rule = m.group(1)
            plan.setdefault(rule, [])
        elif rule and line.strip().startswith("output:"):
            plan[rule] += line.split("output:", 1)[1].strip().split(", ")
    plan.pop("all", None)
    return plan
