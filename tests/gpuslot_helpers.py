"""GPU slot test helpers (test-only): a real process keeps its slot until it exits, a test
process must drop it between tests."""

from __future__ import annotations

import os

from sharpminima.core import gpuslots


def release_held_slots() -> None:
    """Close the lock files of the slots this process holds and forget them."""
    for fd in gpuslots._held.values():
        os.close(fd)
    gpuslots._held.clear()
