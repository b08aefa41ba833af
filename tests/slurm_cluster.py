"""A real single-node SLURM cluster for tests (wraps tests/slurm/cluster_up.sh / cluster_down.sh).

Usage in a test::

    from slurm_cluster import slurm_cluster, slurm_unavailable_reason

    @pytest.mark.slurm
    def test_something(tmp_path):
        reason = slurm_unavailable_reason()
        if reason:
            pytest.skip(reason)
        with slurm_cluster(n_fake_gpus=2) as cluster:
            subprocess.run(cluster.snakemake_command(["--cores", "1"]), cwd=tmp_path, ...)

``slurm_cluster`` starts slurmctld + slurmd + munged on 127.0.0.1 (partition ``debug``, the host as
the only node, ``n_fake_gpus`` fake GPUs so SLURM sets CUDA_VISIBLE_DEVICES in ``gpu=1`` jobs), and
always stops them again and deletes /etc/slurm/slurm.conf, even when the body raises.
Only one cluster can be up per machine at a time (fixed ports, /etc/slurm/slurm.conf).

Needs root on Debian/Ubuntu. ``slurm_unavailable_reason()`` says why not (or None); it installs
the Debian packages (slurmctld slurmd slurm-client munge, ~10 s) when they are missing, unless
SHARPMINIMA_SLURM_NO_INSTALL=1. SHARPMINIMA_SKIP_SLURM=1 disables SLURM tests outright.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

SLURM_DIR = Path(__file__).resolve().parent / "slurm"
UP_SCRIPT = SLURM_DIR / "cluster_up.sh"
DOWN_SCRIPT = SLURM_DIR / "cluster_down.sh"
MARKER = "# written by sharpminima tests/slurm/cluster_up.sh"
PACKAGES = {"slurmctld": "slurmctld", "slurmd": "slurmd", "sinfo": "slurm-client",
            "munged": "munge"}
DEFAULT_STATE_DIR = Path("/tmp/sharpminima-slurm")

# Flags every Snakemake call against this cluster needs (there is no accounting: sacct fails and
# the plugin would hang; the 2 s first status check replaces the 40 s default).
SNAKEMAKE_STATUS_FLAGS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
]
SNAKEMAKE_SLURM_FLAGS = [
    "--executor", "slurm",
    *SNAKEMAKE_STATUS_FLAGS,
    "--default-resources", "slurm_partition=debug", "runtime=10",
    "--latency-wait", "5",
]


def _missing_binaries() -> list[str]:
    return [
        b for b in PACKAGES
        if shutil.which(b) is None and not os.access(f"/usr/sbin/{b}", os.X_OK)
    ]


@functools.lru_cache(maxsize=1)
def slurm_unavailable_reason() -> str | None:
    """Why a test SLURM cluster cannot be started here, or None if it can.

    Installs the missing Debian packages with apt-get as a side effect (once per process).
    """
    if os.environ.get("SHARPMINIMA_SKIP_SLURM") == "1":
        return "SHARPMINIMA_SKIP_SLURM=1"
    if not sys.platform.startswith("linux"):
        return f"SLURM test cluster needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "SLURM test cluster needs root (starts slurmctld/slurmd/munged, writes /etc/slurm)"
    if shutil.which("timeout") is None:
        return "coreutils 'timeout' not found"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and MARKER not in conf.read_text(errors="replace"):
        return f"{conf} belongs to a real SLURM installation; refusing to touch it"
    for daemon in ("slurmctld", "slurmd"):
        if subprocess.run(["pgrep", "-x", daemon], capture_output=True).returncode == 0 and \
                not (DEFAULT_STATE_DIR / f"{daemon}.pid").exists():
            return f"a {daemon} not started by tests/slurm/cluster_up.sh is running"
    missing = _missing_binaries()
    if not missing:
        return None
    pkgs = sorted({PACKAGES[b] for b in missing})
    if shutil.which("apt-get") is None:
        return f"SLURM packages missing ({' '.join(pkgs)}) and no apt-get to install them"
    if os.environ.get("SHARPMINIMA_SLURM_NO_INSTALL") == "1":
        return f"SLURM packages missing ({' '.join(pkgs)}) and SHARPMINIMA_SLURM_NO_INSTALL=1"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs]
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return f"apt-get install {' '.join(pkgs)} timed out"
    if r.returncode != 0:
        return f"apt-get install {' '.join(pkgs)} failed: {r.stderr.strip()[-500:]}"
    missing = _missing_binaries()
    if missing:
        return f"still missing after apt-get install: {' '.join(missing)}"
    return None


@dataclass
class SlurmCluster:
    """What a running test cluster looks like to a test."""

    state_dir: Path  # pid files, slurmctld.log, slurmd.log, spool dirs
    n_fake_gpus: int
    partition: str = "debug"
    up_seconds: float = 0.0
    snakemake_flags: list[str] = field(default_factory=lambda: list(SNAKEMAKE_SLURM_FLAGS))

    def snakemake_command(self, extra: list[str] = (), *, limit_s: int = 600,
                          profile: str | os.PathLike | None = None) -> list[str]:
        """Full argv: `timeout -k 60 -s INT <limit_s> python -m snakemake <flags> <extra>`.

        Without profile: the flags of SNAKEMAKE_SLURM_FLAGS (executor, squeue status, partition
        debug, runtime 10). With profile (e.g. "workflow/profiles/slurm"): `--workflow-profile
        <profile>` plus only the status flags this cluster needs (its default partition is
        `debug`), so the profile's default-resources/set-resources stay in force.
        Run it in the foreground (subprocess.run); SIGINT makes Snakemake scancel its jobs.
        """
        if profile is None:
            flags = self.snakemake_flags
        else:
            flags = ["--workflow-profile", str(profile), *SNAKEMAKE_STATUS_FLAGS]
        return ["timeout", "-k", "60", "-s", "INT", str(limit_s),
                sys.executable, "-m", "snakemake", *flags, *extra]

    def logs(self, lines: int = 40) -> str:
        """The tail of the daemons' logs, for assertion messages."""
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            p = self.state_dir / name
            text = (p.read_text(errors="replace").splitlines()[-lines:] if p.exists()
                    else ["(missing)"])
            out.append(f"----- {p} -----\n" + "\n".join(text))
        return "\n".join(out)


def _down(env: dict[str, str]) -> float:
    t0 = time.monotonic()
    subprocess.run(["bash", str(DOWN_SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    return time.monotonic() - t0


@contextlib.contextmanager
def slurm_cluster(n_fake_gpus: int = 2, state_dir: str | os.PathLike | None = None,
                  up_timeout_s: int = 60) -> Iterator[SlurmCluster]:
    """Start the test cluster, yield a SlurmCluster, and always tear it down.

    Raises RuntimeError (with the daemons' logs) if it does not come up.
    Call slurm_unavailable_reason() first and skip when it returns a reason.
    """
    state = Path(state_dir) if state_dir else DEFAULT_STATE_DIR
    env = dict(os.environ, SHARPMINIMA_SLURM_STATE=str(state), SLURM_UP_TIMEOUT=str(up_timeout_s))
    t0 = time.monotonic()
    try:
        r = subprocess.run(["bash", str(UP_SCRIPT), str(n_fake_gpus)], env=env,
                           capture_output=True, text=True, timeout=up_timeout_s + 600)
        if r.returncode != 0:
            raise RuntimeError(f"cluster_up.sh failed (rc={r.returncode}):\n{r.stderr}\n{r.stdout}")
        cluster = SlurmCluster(state_dir=Path(r.stdout.strip().splitlines()[-1]),
                               n_fake_gpus=n_fake_gpus, up_seconds=time.monotonic() - t0)
        yield cluster
    finally:
        _down(env)


def declared_rules(root: str | os.PathLike) -> dict[str, dict]:
    """Every rule of the workflow (Snakefile, workflow/rules/*.smk), read from its source: name ->
    {"gpu": tagged `gpu=1`, "local": listed in a `localrules:`, "text": its block}."""
    import re
    from pathlib import Path
    root = Path(root)
    texts = [(root / "Snakefile").read_text()]
    texts += [p.read_text() for p in sorted((root / "workflow/rules").glob("*.smk"))]
    rules, local = {}, set()
    for text in texts:
        for block in re.split(r"\n(?=\S)", text):
            m = re.match(r"rule (\w+):", block)
            if m:
                rules[m.group(1)] = {"gpu": bool(re.search(r"^\s+gpu=1,", block, re.M)),
                                     "text": block}
            elif block.startswith("localrules:"):
                local |= set(re.findall(r"^\s+(\w+),", block, re.M))
    for name, rule in rules.items():
        rule["local"] = name in local
    return rules
