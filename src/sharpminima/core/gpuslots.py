"""Pin each GPU job to its own device on a multi-GPU host.

Snakemake's ``gpu`` resource is only a counter when run locally: ``--resources gpu=4`` lets four
GPU jobs run at once, but it never sets CUDA_VISIBLE_DEVICES, so all four would land on device 0.
Each GPU job therefore calls :func:`acquire_gpu_slot` before it touches CUDA::

    from sharpminima.core.gpuslots import acquire_gpu_slot
    acquire_gpu_slot()          # sets CUDA_VISIBLE_DEVICES=i for a free device i (or does nothing)
    import torch                # importing torch is fine; no torch.cuda call may come before

Slot i is owned by whoever holds ``fcntl.flock(LOCK_EX)`` on ``<lock_dir>/gpu<i>.lock``. The lock's
file descriptor stays open for the life of the process, so the kernel frees the slot when the
process exits, crashes or is SIGKILLed; no stale lock files to clean up. (Children created by
fork without exec, e.g. DataLoader workers, share the descriptor and keep the slot until they exit
too, which is what they should do.)

Nothing is done (return None) when CUDA_VISIBLE_DEVICES is already set (SLURM sets it for jobs
with ``--gpus``) or when there are no slots (CPU-only host).

Environment:
  SHARPMINIMA_GPU_SLOTS     number of slots (default: the number of NVIDIA GPUs, counted without
                            initializing CUDA; 0 if none)
  SHARPMINIMA_GPU_LOCK_DIR  lock directory (default: <tmp>/sharpminima-gpu-locks; all jobs on the
                            host must use the same directory)
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["acquire_gpu_slot", "count_gpus", "default_lock_dir", "held_slot", "GpuSlotTimeout"]

log = logging.getLogger(__name__)

ENV_SLOTS = "SHARPMINIMA_GPU_SLOTS"
ENV_LOCK_DIR = "SHARPMINIMA_GPU_LOCK_DIR"

# slot -> open file descriptor holding its flock. Module-level on purpose: the descriptor must
# outlive the caller's frame, so the lock lasts exactly as long as the process.
_held: dict[int, int] = {}


class GpuSlotTimeout(TimeoutError):
    """All GPU slots stayed busy for longer than the timeout."""


def default_lock_dir() -> Path:
    env = os.environ.get(ENV_LOCK_DIR)
    return Path(env) if env else Path(tempfile.gettempdir()) / "sharpminima-gpu-locks"


def count_gpus() -> int:
    """Number of NVIDIA GPUs on this host, WITHOUT initializing CUDA in this process.

    torch.cuda.device_count() is avoided on purpose: it initializes the CUDA driver, which reads
    CUDA_VISIBLE_DEVICES once, so setting it afterwards would have no effect (and the count is
    cached). Reads /proc/driver/nvidia/gpus (one entry per GPU), else runs `nvidia-smi -L`.
    """
    proc = Path("/proc/driver/nvidia/gpus")
    try:
        n = sum(1 for _ in proc.iterdir())
        if n:
            return n
    except OSError:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            pass
    return 0


def _resolve_n_slots(n_slots: int | None) -> int:
    if n_slots is None:
        env = os.environ.get(ENV_SLOTS, "").strip()
        if env:
            try:
                n_slots = int(env)
            except ValueError:
                raise ValueError(f"{ENV_SLOTS} must be an integer, got {env!r}") from None
        else:
            n_slots = count_gpus()
    if n_slots < 0:
        raise ValueError(f"n_slots must be >= 0, got {n_slots}")
    return n_slots


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    # note who holds it, for error messages (the lock itself is what counts)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holders(lock_dir: Path, n: int) -> str:
    parts = []
    for i in range(n):
        try:
            pid = (lock_dir / f"gpu{i}.lock").read_text().strip() or "?"
        except OSError:
            pid = "?"
        parts.append(f"gpu{i}: pid {pid}")
    return ", ".join(parts)


def held_slot() -> int | None:
    """The slot this process holds, if any."""
    return next(iter(_held), None)


def acquire_gpu_slot(
    lock_dir: str | os.PathLike | None = None,
    n_slots: int | None = None,
    timeout: float = 3600.0,
    poll_interval: float = 0.2,
) -> int | None:
    """Claim a free GPU slot i, set CUDA_VISIBLE_DEVICES=i, and return i.

    Returns None and changes nothing when CUDA_VISIBLE_DEVICES is already set (e.g. by SLURM)
    or when there are 0 slots. n_slots: the argument, else $SHARPMINIMA_GPU_SLOTS, else the
    number of GPUs (count_gpus()). lock_dir: the argument, else default_lock_dir(); created if
    missing. If every slot is busy, polls every poll_interval seconds and raises GpuSlotTimeout
    after timeout seconds. Calling it again in a process that holds a slot returns that slot.
    Call it before any torch.cuda call.
    """
    if _held:
        return held_slot()
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return None
    n = _resolve_n_slots(n_slots)
    if n == 0:
        return None
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        for i in range(n):
            fd = _try_lock(lock_dir / f"gpu{i}.lock")
            if fd is not None:
                _held[i] = fd
                os.environ["CUDA_VISIBLE_DEVICES"] = str(i)
                log.info("pinned to GPU slot %d of %d (lock %s)", i, n, lock_dir / f"gpu{i}.lock")
                return i
        if time.monotonic() >= deadline:
            raise GpuSlotTimeout(
                f"all {n} GPU slots in {lock_dir} stayed busy for {timeout:g} s "
                f"({_holders(lock_dir, n)}). More GPU jobs run at once than there are slots: "
                f"lower `--resources gpu=N` to at most {n}, or set {ENV_SLOTS}."
            )
        if not waited:
            log.warning("all %d GPU slots in %s are busy; waiting up to %g s", n, lock_dir, timeout)
            waited = True
        time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
