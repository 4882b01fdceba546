"""Fixtures shared by the whole suite."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests must never download: torchvision weights and hub look-ups go to an empty
# temporary cache unless a test sets TORCH_HOME itself.
os.environ.setdefault("TORCH_HOME", str(Path(__file__).parent / ".no-torch-home"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _playground_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own PLAYGROUND_HOME so jobs and uploads never leak between tests."""
    home = tmp_path_factory.mktemp("playground-home")
    monkeypatch.setenv("PLAYGROUND_HOME", str(home))
    return home
