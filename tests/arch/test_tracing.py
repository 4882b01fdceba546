"""torch.fx tracing beside other threads' forward passes (a class server: one student's Architectures
page traces while another's prediction runs)."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch
from torch import fx, nn

from playground.arch.tracing import trace


class _Gate(nn.Module):
    """Holds the trace open (its forward waits) until the other thread has run its forward passes."""

    def __init__(self, inside: threading.Event, release: threading.Event) -> None:
        super().__init__()
        self.inside, self.release = inside, release

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inside.set()
        assert self.release.wait(30)
        return x


def _traced_while_another_thread_runs(tracer: Callable[[nn.Module], fx.GraphModule]) -> tuple[
        fx.GraphModule | None, list[BaseException], torch.Tensor | None]:
    inside, release = threading.Event(), threading.Event()
    traced = nn.Sequential(nn.Conv2d(3, 4, 3), _Gate(inside, release), nn.ReLU())
    other = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten())  # another session's model, not part of the trace
    errors: list[BaseException] = []
    result: list[torch.Tensor] = []

    def other_thread() -> None:
        assert inside.wait(30)  # the trace is under way: Module.__call__ is patched now
        try:
            with torch.no_grad():
                result.append(other(torch.ones(1, 3, 4, 4)))
        except BaseException as exc:  # noqa: BLE001 - what the other session would have seen
            errors.append(exc)
        finally:
            release.set()

    worker = threading.Thread(target=other_thread)
    worker.start()
    try:
        gm = tracer(traced)
    finally:
        release.set()
        worker.join(30)
    return gm, errors, (result[0] if result else None)


def test_plain_fx_breaks_another_threads_forward_pass() -> None:
    """The bug this module exists for: vanilla symbolic_trace captures other threads' module calls."""
    gm, errors, out = _traced_while_another_thread_runs(fx.symbolic_trace)
    assert errors or out is None or not isinstance(out, torch.Tensor)


def test_a_trace_leaves_other_threads_alone_and_records_only_its_own_graph() -> None:
    gm, errors, out = _traced_while_another_thread_runs(trace)
    assert not errors
    assert out is not None and out.shape == (1, 2 * 4 * 4)
    # conv and relu (the gate is traced through: it returns its input): nothing of the other model
    assert [n.target for n in gm.graph.nodes if n.op == "call_module"] == ["0", "2"]


def test_traces_from_many_threads_at_once_are_each_whole() -> None:
    from playground.arch.measure import analyze_module

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.Flatten())
    expected = analyze_module(model, (3, 16, 16), name="net")
    reports, errors = [], []

    def run() -> None:
        try:
            reports.append(analyze_module(model, (3, 16, 16), name="net"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(reports) == 6
    assert all(r.total_params == expected.total_params and r.total_macs == expected.total_macs for r in reports)


@pytest.mark.parametrize("leaf", [True, False])
def test_extra_leaves(leaf: bool) -> None:
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 1, 1), nn.ReLU()))
    gm = trace(model, leaf=(lambda m, _q: isinstance(m, nn.Sequential) and m is not model) if leaf else None)
    targets = [n.target for n in gm.graph.nodes if n.op == "call_module"]
    assert targets == (["0"] if leaf else ["0.0", "0.1"])
