import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # tests/fakedata.py and helpers importable
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole tiny DAG, run once per session: (workdir, configfile, process)."""
    from test_integration import run_tiny_dag
    return run_tiny_dag(tmp_path_factory)


@pytest.fixture
def one_torch_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine the OpenMP
    barrier waits for descheduled threads (10x slower tests); restored after each test.
    Modules that want it: `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
