"""torch.fx tracing that is safe in a server process where many threads run PyTorch.

While it traces, torch.fx patches ``torch.nn.Module.__call__`` and ``__getattr__`` on the class,
for the whole process. On a class server that is a cross-session bug: another student's forward
pass in another thread at that moment (a prediction, a Designer measurement) goes through the
tracer, and fails with "module is not installed as a submodule" or is recorded into a graph that
is not its own; and two traces at once restore each other's patches in the wrong order, leaving
a dead tracer's wrapper installed. So here: one trace at a time (a process-wide lock), with a
tracer that hands every other thread's module calls and attribute reads straight back to
PyTorch's own.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from torch import fx, nn

__all__ = ["ThreadSafeTracer", "trace"]

_TRACE_LOCK = threading.Lock()  # fx's patches are process-wide: never two traces at once


class ThreadSafeTracer(fx.Tracer):
    """An ``fx.Tracer`` that records only its own thread's calls; ``leaf(module, qualname)`` may add leaves."""

    def __init__(self, leaf: Callable[[nn.Module, str], bool] | None = None) -> None:
        super().__init__()
        self._leaf = leaf
        self._owner = threading.get_ident()

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (self._leaf is not None and self._leaf(m, module_qualified_name)) or super().is_leaf_module(
            m, module_qualified_name)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        if threading.get_ident() != self._owner:  # someone else's forward pass: run it, record nothing
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if threading.get_ident() != self._owner:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def trace(model: nn.Module, leaf: Callable[[nn.Module, str], bool] | None = None) -> fx.GraphModule:
    """``torch.fx.symbolic_trace(model)``, safe beside other threads' PyTorch work (see the module doc)."""
    with _TRACE_LOCK:
        tracer = ThreadSafeTracer(leaf)
        graph = tracer.trace(model)
    return fx.GraphModule(tracer.root, graph, model.__class__.__name__)
