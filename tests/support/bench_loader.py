"""Load bench/bench_classroom.py for the tests that drive it (bench/ is not a package)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["BENCH", "load_bench_classroom"]

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_classroom() -> ModuleType:
    """bench_classroom.py, loaded from its path with bench/ on sys.path (it imports its sibling modules)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_classroom", BENCH / "bench_classroom.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_classroom"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
