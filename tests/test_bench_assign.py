"""The classroom bench's assignment scenario, small: students click Submit together over the websocket,
every click is stored once under its own owner, and each tab shows the server's check."""
from __future__ import annotations

import importlib.util
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # a real app server driven by the classroom benchmark

BENCH = Path(__file__).resolve().parent.parent / "bench"
SESSIONS = 4


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_classroom", BENCH / "bench_classroom.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_classroom"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_class_submits_together_and_nothing_is_lost(bench: ModuleType) -> None:
    import classroom_assign as ca

    opts = bench.BenchOptions(sessions=SESSIONS, reruns=1, pages=[ca.PAGE], timeout_s=240.0, blank=False)
    # In a thread of its own, as test_bench_classroom does: the harness runs its own asyncio loop, and the
    # browser tests' Playwright may have left one running in this worker's main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        results = pool.submit(bench.run_benchmark, opts).result()
    (row,) = results["pages"]
    assert not results.get("timed_out") and row["problems"] == [] and row["exceptions"] == []
    assert row["first"]["finished"] == SESSIONS and row["rerun"]["finished"] == SESSIONS
    assert row["submissions"] == {"clicks": SESSIONS + 1, "stored": SESSIONS + 1, "distinct_owners": SESSIONS + 1}
    assert row["first"]["p95_s"] > 0  # the click's run was timed
