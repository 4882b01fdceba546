"""Fixtures shared by the whole suite."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playground.finetune.jobs.manager import JobManager

# Tests must never download: torchvision weights and hub look-ups go to an empty
# temporary cache unless a test sets TORCH_HOME itself.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / ".no-torch-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Under pytest-xdist (.ci/run starts one worker per core), PyTorch in every worker would start a
# thread per core too: twice as many busy threads as cores, and OpenMP's spinning workers steal each
# other's time (tests/finetune/test_loop.py, tests/models and tests/design on two workers: 85 s with
# the default, 33 s with one thread each). Set before any test imports torch; the app servers and
# training workers the tests start set their own counts as in production.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _playground_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PLAYGROUND_HOME so jobs and uploads never leak between tests."""
    home = tmp_path_factory.mktemp("playground-home")
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    return home


@pytest.fixture()
def fake_jobs(monkeypatch: pytest.MonkeyPatch, _playground_home: Path) -> Iterator[JobManager]:
    """The job manager the pages get (``get_manager``), whose jobs never really train: its runner
    (``tests.support.job_support.FakeRunner``) only records starts. Shut down and forgotten afterwards."""
    from playground.finetune.jobs import manager as jobs_manager
    from tests.support.job_support import FakeRunner

    monkeypatch.setattr(jobs_manager, "make_runner", lambda name=None: FakeRunner())
    manager = jobs_manager.get_manager(_playground_home)  # the one the page's st.cache_resource hands out too
    yield manager
    jobs_manager._MANAGERS.pop(_playground_home.resolve(), None)
    manager.shutdown()
