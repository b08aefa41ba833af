"""GPU slot pinning (sharpminima.core.gpuslots) with fake slots: no GPU needed, a few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gpuslot_helpers import release_held_slots
from sharpminima.core import gpuslots

SRC = str(Path(__file__).resolve().parents[1] / "src")

# acquire a slot, report it and the resulting CUDA_VISIBLE_DEVICES, then hold it until killed
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from sharpminima.core.gpuslots import acquire_gpu_slot
    slot = acquire_gpu_slot(sys.argv[1], timeout=float(sys.argv[2]), poll_interval=0.05)
    print(slot, os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"), flush=True)
    time.sleep(60)
    """
)


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv(gpuslots.ENV_SLOTS, raising=False)
    monkeypatch.delenv(gpuslots.ENV_LOCK_DIR, raising=False)
    release_held_slots()
    yield
    release_held_slots()


@pytest.fixture
def spawn(tmp_path):
    procs = []

    def _spawn(n_slots=2, timeout=5.0):
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        env[gpuslots.ENV_SLOTS] = str(n_slots)
        env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
        p = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "locks"), str(timeout)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield _spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()
        p.stdout.close()
        p.stderr.close()


def _slot_of(p: subprocess.Popen) -> tuple[int, str]:
    line = p.stdout.readline()
    assert line, f"child printed nothing; rc={p.wait()} stderr={p.stderr.read()}"
    slot, cvd = line.split()
    return int(slot), cvd


def test_concurrent_processes_get_distinct_slots(spawn):
    a, b = spawn(), spawn()
    (sa, cva), (sb, cvb) = _slot_of(a), _slot_of(b)
    assert {sa, sb} == {0, 1}
    assert (cva, cvb) == (str(sa), str(sb))


def test_sigkill_frees_the_slot_and_a_waiter_gets_it(spawn):
    a, b = spawn(), spawn()
    sa, _ = _slot_of(a)
    _slot_of(b)
    c = spawn(timeout=8.0)  # both slots busy: c waits
    time.sleep(0.3)
    assert c.poll() is None
    a.send_signal(signal.SIGKILL)
    a.wait()
    t0 = time.monotonic()
    sc, cvc = _slot_of(c)
    assert (sc, cvc) == (sa, str(sa))
    assert time.monotonic() - t0 < 3


def test_new_process_after_sigkill_gets_the_slot(spawn):
    a = spawn(n_slots=1)
    assert _slot_of(a)[0] == 0
    a.kill()
    a.wait()
    assert _slot_of(spawn(n_slots=1))[0] == 0


def test_times_out_with_clear_error_when_all_busy(spawn, tmp_path):
    a = spawn(n_slots=1)
    _slot_of(a)
    t0 = time.monotonic()
    with pytest.raises(gpuslots.GpuSlotTimeout, match=r"all 1 GPU slots .* busy .*pid \d+"):
        gpuslots.acquire_gpu_slot(tmp_path / "locks", n_slots=1, timeout=0.3, poll_interval=0.05)
    assert time.monotonic() - t0 < 2
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_preset_cuda_visible_devices_is_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks", n_slots=4) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert not (tmp_path / "locks").exists()
    assert gpuslots.held_slot() is None


def test_zero_slots_changes_nothing(tmp_path, monkeypatch):
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks", n_slots=0) is None
    monkeypatch.setenv(gpuslots.ENV_SLOTS, "0")
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks") is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    assert not (tmp_path / "locks").exists()


def test_no_gpus_detected_means_no_slots(tmp_path, monkeypatch):
    monkeypatch.setattr(gpuslots, "count_gpus", lambda: 0)
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks") is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_slot_count_from_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.setattr(gpuslots, "count_gpus", lambda: pytest.fail("must not count GPUs"))
    monkeypatch.setenv(gpuslots.ENV_SLOTS, "3")
    monkeypatch.setenv(gpuslots.ENV_LOCK_DIR, str(tmp_path / "envlocks"))
    assert gpuslots.acquire_gpu_slot() == 0
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert (tmp_path / "envlocks" / "gpu0.lock").exists()
    # a second call in the same process keeps its slot
    assert gpuslots.acquire_gpu_slot() == 0
    release_held_slots()
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv(gpuslots.ENV_SLOTS, "bogus")
    with pytest.raises(ValueError, match=gpuslots.ENV_SLOTS):
        gpuslots.acquire_gpu_slot(tmp_path / "locks")
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks", n_slots=2) == 0  # argument wins


def test_in_process_lock_conflicts_with_other_descriptions(tmp_path, monkeypatch):
    """flock is per open file description: a second acquisition attempt sees slot 0 busy."""
    assert gpuslots.acquire_gpu_slot(tmp_path / "locks", n_slots=2) == 0
    fd = gpuslots._try_lock(tmp_path / "locks" / "gpu0.lock")
    assert fd is None
    fd1 = gpuslots._try_lock(tmp_path / "locks" / "gpu1.lock")
    assert fd1 is not None
    os.close(fd1)
