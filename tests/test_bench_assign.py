"""The classroom bench's assignment scenario, small: students click Submit together over the websocket,
every click is stored once under its own owner, and each tab shows the server's check."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest

from tests.support.bench_loader import load_bench_classroom

pytestmark = pytest.mark.slow  # a real app server driven by the classroom benchmark

SESSIONS = 4


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_classroom()


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
