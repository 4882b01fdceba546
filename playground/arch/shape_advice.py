"""Explain why a model cannot take the example input, with advice that fits the actual cause.

Only a map that became too small for a kernel or pool earns "try a larger image"; a Linear layer
whose size does not match what reaches it is named with both sizes; a ``forward()`` that needs
more than one input is told so (this analysis gives it one image batch).
"""
from __future__ import annotations

import inspect
import re
from typing import Any

from playground.arch.user_model import first_line

__all__ = ["explain_shape_failure", "extra_inputs"]

# PyTorch's words when a map is smaller than a kernel, a pool window or a padding (CPU, CUDA and meta)
_TOO_SMALL = re.compile(
    r"kernel size can't be greater than actual input size|output size is too small|"
    r"input image \(.*\) smaller than kernel|padding size should be less than|"
    r"pad should be (at most|smaller than)|input size.*must be (greater|larger)|too small", re.IGNORECASE)
# a Linear's matmul on a wrong feature count: "(1x64 and 10x2)" on CPU/CUDA, "[1, 64] X [10, 2]" on meta
_MATMUL = (re.compile(r"\((\d+)x(\d+) and (\d+)x(\d+)\)"), re.compile(r"\[(\d+), (\d+)\] X \[(\d+), (\d+)\]"))
_LARGER = "try a larger image such as 3×224×224"


def explain_shape_failure(exc: BaseException, gm: Any = None) -> str:
    """One line: the failing layer (when known), what went wrong and, only when it helps, what to try."""
    from playground.arch.graph import ShapeError

    node = exc.node if isinstance(exc, ShapeError) else None
    cause = exc.cause if isinstance(exc, ShapeError) else (exc.__cause__ or exc)
    message = first_line(cause)
    where = f"layer {node}: " if node else ""
    module = _module_of(gm, node)
    in_features = getattr(module, "in_features", None)
    for pattern in _MATMUL:
        found = pattern.search(message)
        if found and in_features is not None:
            got = int(found.group(2))
            return (f"{where}{type(module).__name__} expects {in_features} input features but gets {got}; "
                    f"set its in_features to {got} (or change what feeds it)")
        if found:
            return f"{where}{message} (a matrix product whose inner sizes {found.group(2)} and " \
                   f"{found.group(3)} differ)"
    if _TOO_SMALL.search(message):
        return f"{where}{message}; the feature map became too small, {_LARGER}"
    return f"{where}{message}"


def _module_of(gm: Any, node: str | None) -> Any:
    """The submodule a graph node calls (None for a function or an unknown node)."""
    if gm is None or node is None:
        return None
    for n in gm.graph.nodes:
        if n.name == node and n.op == "call_module":
            try:
                return gm.get_submodule(n.target)
            except AttributeError:
                return None
    return None


def extra_inputs(gm: Any = None, model: Any = None) -> list[str]:
    """Names of the inputs ``forward()`` requires besides the first (none when it takes one image)."""
    if gm is not None:
        required = [n.target for n in gm.graph.nodes if n.op == "placeholder" and not n.args]
        return [str(t).lstrip("*") for t in required[1:]]
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return []
    required = [p.name for p in params if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return required[1:]
