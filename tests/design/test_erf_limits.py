"""The effective receptive field's guards: the issue's costly links refused before any work, the map bounded."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from playground.design.erf import ERFError, effective_receptive_field
from playground.design.workload import spec_workload

HUGE_MAP = {"input": [1, 4096, 4096], "layers": [{"type": "avgpool2d", "kernel_size": 4096}]}
HUGE_WINDOWS = {"input": [1, 900, 900], "layers": [{"type": "avgpool2d", "kernel_size": 450, "stride": 1}] * 2}


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    pytest.skip("no /proc/self/status here")


def test_pooling_windows_and_maps_are_counted() -> None:
    """analyze counts pooling as 0 MACs; the workload counts each window read, forward and backward."""
    work = spec_workload(HUGE_WINDOWS)
    assert work.ops >= 3 * 451 * 451 * 450 * 450  # the first pool alone: 451² outputs × 450² window
    assert work.heaviest == "layer 0 (avgpool2d)"
    assert spec_workload(HUGE_MAP).input_bytes == 2 * 4096 * 4096 * 4  # the input and its gradient


@pytest.mark.parametrize("spec, figure", [(HUGE_MAP, "MB|GB"), (HUGE_WINDOWS, r"\d+\.\d G operations")])
def test_issue_links_refused_at_once_without_memory_growth(spec: dict, figure: str) -> None:
    effective_receptive_field({"input": [1, 16, 16], "layers": [{"type": "avgpool2d", "kernel_size": 2}]},
                              samples=1)  # warm: imports and the fork server are not the guard's cost
    before, start = _rss(), time.perf_counter()
    with pytest.raises(ERFError, match="over what this tool spends") as caught:
        effective_receptive_field(spec)
    elapsed = time.perf_counter() - start
    grown = _rss() - before
    assert elapsed < 1.0, elapsed  # refused from the analysis: nothing ran (it took 64 s / 280 s before)
    assert grown < 20 * 2**20, grown  # the 4096² map alone is 134 MB as float64
    message = str(caught.value)
    assert "smaller input" in message and "avgpool2d" in message
    assert __import__("re").search(figure, message), message


def test_a_wide_input_returns_a_bounded_map() -> None:
    """A field wider than MAX_MAP_SIDE still measures, but hands back a block-summed map."""
    from playground.design import erf

    spec = {"input": [1, 300, 300], "layers": [{"type": "avgpool2d", "kernel_size": 150, "stride": 150}]}
    r = effective_receptive_field(spec, samples=1)
    assert r.input_hw == (300, 300) and r.map_scale == 3
    assert len(r.grad) <= erf.MAX_MAP_SIDE and len(r.grad[0]) <= erf.MAX_MAP_SIDE
    assert sum(map(sum, r.grad)) == pytest.approx(1.0)
    assert r.theoretical == (150, 150) and r.effective[0] <= 150  # measured on the full map, in pixels


def test_the_child_process_is_limited() -> None:
    """What slips past the cost model meets the child's memory limit, not the server's memory."""
    from playground.sandbox import SandboxError, run_limited

    with pytest.raises(SandboxError, match="memory limit"):
        run_limited(_allocate, 2**30, memory_bytes=256 * 2**20, cpu_seconds=10, wall_seconds=30)
    with pytest.raises(SandboxError, match="longer than 1 s"):
        run_limited(time.sleep, 30, memory_bytes=256 * 2**20, cpu_seconds=10, wall_seconds=1)
    with pytest.raises(SandboxError, match="session that asked for it has gone"):
        run_limited(time.sleep, 30, memory_bytes=256 * 2**20, cpu_seconds=10, wall_seconds=30, alive=lambda: False)
    assert run_limited(sum, [1, 2, 3], memory_bytes=256 * 2**20, cpu_seconds=10, wall_seconds=30) == 6


def test_the_child_cpu_time_is_limited() -> None:
    from playground.sandbox import SandboxError, run_limited

    with pytest.raises(SandboxError, match="1 s of CPU time"):
        run_limited(_spin, memory_bytes=256 * 2**20, cpu_seconds=1, wall_seconds=60)


def _allocate(n: int) -> int:
    import torch

    return int(torch.ones(n, dtype=torch.float64).sum())  # 8 GB for 2**30


def _spin() -> None:
    while True:
        pass


def test_the_figure_of_a_block_summed_map_is_drawn_in_input_pixels() -> None:
    from playground.ui.designer.erf import erf_figure

    spec = {"input": [1, 300, 300], "layers": [{"type": "avgpool2d", "kernel_size": 150, "stride": 150}]}
    r = effective_receptive_field(spec, samples=1)
    fig = erf_figure(r)
    heat = fig.data[0]
    assert (heat.dx, heat.dy, heat.x0) == (3, 3, 1.0)  # each cell covers 3 input pixels, centred on them
    theoretical = fig.layout.shapes[0]
    assert theoretical.x1 - theoretical.x0 == 150  # the field is drawn at its size in pixels, not cells
    assert len(str(fig.to_json())) < 1_000_000  # what the browser receives stays small (369 MB before)
