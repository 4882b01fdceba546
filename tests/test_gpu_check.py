"""bench/gpu_check.py on a machine without CUDA: it says so, lists what it skipped, and exits 0.
Its target logic is checked on made-up figures. (On a GPU machine, run it: it measures.)"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a fresh process running the GPU check
def test_without_cuda_it_says_what_it_skipped_and_exits_0(tmp_path: Path) -> None:
    # An empty CUDA_VISIBLE_DEVICES hides any GPU, so this checks the CUDA-absent path everywhere.
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PLAYGROUND_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("CUDA: absent (torch ")
    gpu_check = _load()
    for section in gpu_check.SECTIONS:
        assert f"  - {section}" in lines
    assert lines[-1] == "Targets: not checked here. GPU figures: not measured."


def test_targets_are_met_or_not_met_with_their_figures(capsys: pytest.CaptureFixture[str]) -> None:
    gpu_check = _load()
    rows = {("full", "mixed"): (3500.0, 3700.0, "bfloat16")}
    memory = {("resnet18", "full"): (1_050, 1_000), ("mobilenet_v2", "head"): (880, 1_000)}
    gpu_check.targets(rows, memory)
    out = capsys.readouterr().out
    assert "bf16 >= 3,000 images/s: met (3,500)" in out
    assert "0.9x the hand-written loop: met (0.95x)" in out
    assert "within 10% of max_memory_allocated: NOT met (worst -12.0%, mobilenet_v2 head)" in out
    gpu_check.targets({("full", "mixed"): (2000.0, 4000.0, "float16")}, None)
    out = capsys.readouterr().out
    assert "NOT met (2,000) (this GPU ran float16: it has no native bf16)" in out and "NOT met (0.50x)" in out
    assert "memory estimate within 10% of max_memory_allocated: not measured (skipped)" in out
