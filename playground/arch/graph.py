"""The torch.fx walk behind :mod:`playground.arch.measure`: shapes first, then one pass over the graph.

:func:`propagate_shapes` runs the traced graph on an empty (meta) tensor to record every node's
output shape; :func:`walk_graph` then visits the nodes in topological order, hands each to its
handler (:mod:`playground.arch.ops`) and turns what it returns into one :class:`ArchLayer` per
tensor-producing node, while the :class:`~playground.arch.nodes.Walk` tallies MACs, layers, depth
and what the notes should say.
"""
from __future__ import annotations

import contextlib
import operator
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from playground.arch.nodes import (
    GLOBAL,
    INPUT_FIELD,
    Field,
    NodeInput,
    Step,
    Walk,
    display_name,
    shape_of,
    spatial_size,
)
from playground.arch.ops import TUPLE_HANDLERS, handler_for
from playground.arch.report import ArchLayer

__all__ = ["ShapeError", "propagate_shapes", "walk_graph"]

_SPLITS = {"chunk", "split", "tensor_split", "split_with_sizes"}


class ShapeError(Exception):
    """A node of the graph failed on the example input (too small a map, a channel mismatch...)."""

    def __init__(self, node: str, cause: BaseException) -> None:
        super().__init__(f"{node}: {cause}")
        self.node = node
        self.cause = cause


# --------------------------------------------------------------------------- shape propagation


@lru_cache(maxsize=1)
def _shape_propagator() -> type:
    """ShapeProp that skips shape-preserving modules (built on first use: it needs torch)."""
    import torch
    from torch import nn
    from torch.fx import Interpreter
    from torch.fx.node import map_aggregate
    from torch.fx.passes.shape_prop import ShapeProp, _extract_tensor_metadata

    # Their output has their input's shape: skipping them keeps every shape exact and saves most
    # of the propagation time (batch norm on meta tensors is slow to decompose).
    same_shape = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.Dropout, nn.Identity,
                  nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh,
                  nn.LeakyReLU)

    class ShapeOnly(ShapeProp):
        def call_module(self, target: Any, args: Any, kwargs: Any) -> Any:
            if isinstance(self.fetch_attr(target), same_shape) and len(args) == 1 and not kwargs:
                return args[0]
            return super().call_module(target, args, kwargs)

        def run_node(self, n: Any) -> Any:
            # ShapeProp.run_node prints the whole traceback to stderr (traceback.print_exc) before
            # re-raising, which a CLI user or the server log then sees above the one-line message.
            # Without a fake mode (never used here) its work is: run the node, record tensor_meta.
            try:
                result = Interpreter.run_node(self, n)
            except Exception as exc:
                raise ShapeError(str(n.target) if n.op == "call_module" else n.name, exc) from exc
            found_tensor = False

            def extract(obj: Any) -> Any:
                nonlocal found_tensor
                if isinstance(obj, torch.Tensor):
                    found_tensor = True
                    return _extract_tensor_metadata(obj)
                return obj

            meta = map_aggregate(result, extract)
            if found_tensor:
                n.meta["tensor_meta"] = meta
            n.meta["type"] = type(result)
            return result

    return ShapeOnly


def propagate_shapes(gm: Any, example: Any) -> None:
    """Record each node's output shape in ``node.meta`` by running ``gm`` on ``example``.

    Raises :class:`ShapeError` naming the node that cannot take what reaches it.
    """
    import torch

    with torch.no_grad():
        _shape_propagator()(gm).propagate(example)


# --------------------------------------------------------------------------- graph walking


def walk_graph(gm: Any) -> tuple[list[ArchLayer], Walk]:
    """One pass in topological order: field state, params, MACs and path depth per node."""
    walk = Walk(gm)
    layers: list[ArchLayer] = []
    for node in gm.graph.nodes:
        layer = _visit(node, walk, len(layers))
        if layer is not None:
            layers.append(layer)
    return layers, walk


def _visit(node: Any, walk: Walk, index: int) -> ArchLayer | None:
    """Record one node's state and depth; the layer it makes, or None (inputs, constants, non-tensors)."""
    inputs = _input_nodes(node)
    depth_in = max((walk.depth.get(x, 0) for x in inputs), default=0)
    walk.depth[node] = depth_in
    if node.op == "placeholder":
        walk.states[node] = INPUT_FIELD
        return None
    if node.op in ("output", "get_attr"):
        return None  # a parameter is counted by the first node that uses it
    first = inputs[0] if inputs else None
    if node.target is operator.getitem and first in walk.tuple_outputs:
        walk.states[node] = walk.states.get(first)  # attention's (out, weights)[0]: transparent
        return None
    module = walk.gm.get_submodule(node.target) if node.op == "call_module" else None
    op = _op_name(node, module)
    handler = handler_for(module, op)
    out_shape = shape_of(node)
    if out_shape is None and op in _SPLITS:
        _split(node, first, walk)  # a tuple of pieces; getitem then takes one
        return None
    if out_shape is None and handler not in TUPLE_HANDLERS:
        return None  # shapes, asserts, ints: not tensors
    n = NodeInput(node, module, op, tuple(inputs), tuple(walk.states.get(x) for x in inputs), out_shape or (), walk)
    step = handler(n)
    params = _graph_params(walk, inputs) + (walk.new_params(module.parameters()) if module is not None else 0)
    _tally(walk, node, step, depth_in)
    return _layer(index, display_name(node, op), op, step, step.out_shape or n.out_shape, params,
                  misaligned=bool(walk.found.misaligned) and walk.found.misaligned[-1] == node.name)


def _tally(walk: Walk, node: Any, step: Step, depth_in: int) -> None:
    """Add a node's MACs and layers to the totals, and record its state and path depth."""
    if step.kind:
        walk.macs[step.kind] += step.macs
    walk.macs["attention"] += step.attention
    if step.kind in walk.layer_counts:
        walk.layer_counts[step.kind] += step.layers
    walk.states[node] = step.state
    walk.depth[node] = depth_in + step.layers


def _layer(index: int, name: str, op: str, step: Step, shape: tuple[int, ...], params: int,
           misaligned: bool) -> ArchLayer:
    fld = step.state if isinstance(step.state, Field) else None
    return ArchLayer(
        index=index,
        name=name,
        type=op,
        output_shape=tuple(shape[1:]),
        params=params,
        macs=step.macs + step.attention,
        attention_macs=step.attention + (step.macs if step.kind == "attention" else 0),
        receptive_field=fld.rf if fld else None,
        jump=fld.jump if fld else None,
        start=fld.start if fld else None,
        misaligned=misaligned,
        feature_size=spatial_size(shape, fld) if fld else None,
    )


def _input_nodes(node: Any) -> list[Any]:
    from torch.fx.node import Node, map_arg

    found: list[Any] = []
    map_arg((node.args, node.kwargs), lambda n: found.append(n) if isinstance(n, Node) else None)
    return found


def _op_name(node: Any, module: Any | None) -> str:
    if module is not None:
        return type(module).__name__.lower()
    if node.op == "call_method":
        return str(node.target)
    return getattr(node.target, "__name__", str(node.target)).lstrip("_")


def _graph_params(walk: Walk, inputs: Sequence[Any]) -> int:
    """Parameters a node reaches through get_attr (LayerNorm2d's weight, layer scales, ViT's class token)."""
    found = []
    for x in inputs:
        if x.op == "get_attr":
            with contextlib.suppress(AttributeError):  # a buffer, not a parameter
                found.append(walk.gm.get_parameter(x.target))
    return walk.new_params(found)


def _split(node: Any, source: Any, walk: Walk) -> None:
    """chunk / split into a tuple: along channels every piece keeps the field (ShuffleNet's two halves);
    along H or W the layout is cut, which this analysis does not model (said in the notes)."""
    state = walk.states.get(source)
    if isinstance(state, Field):
        rank = len(shape_of(source) or ())
        dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
        if rank and int(dim) % rank in state.axes:
            walk.found.ended.append(node.name)
            state = GLOBAL
    walk.states[node] = state
    walk.tuple_outputs.add(node)
