"""Training memory of a layer spec or a module: parameters, gradients, optimizer state, saved activations.

torchinfo's "forward/backward pass size" adds up every layer's output, which is far from what
autograd keeps: on ResNet-18 at batch 8 it says 318 MB, while the tensors autograd actually saves
for backward are 214 MiB (169 MiB of activations plus 45 MiB of weights it refers to, which are
the parameters themselves). This module measures the real graph instead.

How: the model is built on PyTorch's ``meta`` device (shapes only: no memory, no arithmetic) and
one training forward pass at the real batch runs under :func:`torch.autograd.graph.saved_tensors_hooks`,
which sees every tensor autograd saves. Saved tensors are deduplicated by their storage (a ReLU's
output saved by it and by the next conv is stored once) and parameters' storages are left out
(they are counted as parameters). The meta device gives exactly the CPU figure (checked in the
tests), costs milliseconds even for ResNet-50 at 224 px, and needs no scaling by batch. Mixed
precision (``bf16``) runs the same pass on the CPU under autocast, at batch 1 and 2, and scales the
per-image part exactly by batch: autocast does not act on meta tensors.

The inference peak is the parameters plus the largest input + output of one layer (leaf module)
in a no-grad fp32 pass: what must be alive at once when nothing is kept for backward.

Saved tensors are not all a training pass holds: a frozen part (the backbone of the head and
last-block strategies) saves nothing, yet its activations exist while it runs, and for the head
strategy they dwarf what is saved (ResNet-18, batch 8: 0.02 MB saved, ~60 MB in flight). So the
same meta pass also follows every tensor an operator creates (a ``TorchDispatchMode``; a weak
reference says when it is freed) and keeps the peak of those alive and *not* saved: the
``transient_bytes``, part of the training total.

A fine-tuning model by name, with a strategy's frozen layers, is measured the same way by
:mod:`playground.finetune.memory` (next to the strategies), through :func:`measure_memory`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground.errors import PlaygroundError

__all__ = ["MemoryEstimate", "MemoryEstimateError", "memory_estimate", "measure_memory", "check_settings",
           "available_memory", "input_shape_of", "Factory", "Prepare", "OPTIMIZER_STATES", "PRECISIONS", "MAX_BATCH",
           "MAX_MEASURE_MACS"]

# Extra fp32 values each optimizer keeps per trainable parameter (AdamW: exp_avg and exp_avg_sq;
# SGD with momentum: the momentum buffer; plain SGD: nothing).
OPTIMIZER_STATES: dict[str, int] = {"adamw": 2, "adam": 2, "sgd": 1, "sgd-plain": 0}
PRECISIONS = ("fp32", "bf16")
MAX_BATCH = 4096
# bf16 runs real CPU arithmetic (batch 1 + 2): refuse what would hold a server core for seconds.
MAX_MEASURE_MACS = 6_000_000_000
_FP32 = 4

Factory = Callable[[str], Any]  # device -> the model built on it (a fresh one per call)
Prepare = Callable[[Any], None]  # puts a built model in its training state (freezing, train/eval modes)


class MemoryEstimateError(PlaygroundError):
    """A batch, optimizer, precision or model the memory estimate cannot use (message says which)."""


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes needed to train (and to run) a model at one batch size; ``str()`` is a short table."""

    model: str
    batch: int
    strategy: str | None
    optimizer: str
    precision: str
    input_shape: tuple[int, int, int]
    total_params: int
    trainable_params: int
    parameters_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    inference_peak_bytes: int
    method: str
    transient_bytes: int = 0  # the forward pass's peak of tensors alive but not saved (a frozen part's)

    @property
    def training_bytes(self) -> int:
        """Parameters + gradients + optimizer state + saved activations + the peak of those in flight."""
        return (self.parameters_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes
                + self.transient_bytes)

    def to_dict(self) -> dict[str, Any]:
        """JSON: every field, the training total, and how the activations were found."""
        return {"model": self.model, "batch": self.batch, "strategy": self.strategy, "optimizer": self.optimizer,
                "precision": self.precision, "input_shape": list(self.input_shape),
                "total_params": self.total_params, "trainable_params": self.trainable_params,
                "parameters_bytes": self.parameters_bytes, "gradients_bytes": self.gradients_bytes,
                "optimizer_bytes": self.optimizer_bytes, "activations_bytes": self.activations_bytes,
                "transient_bytes": self.transient_bytes,
                "training_bytes": self.training_bytes, "inference_peak_bytes": self.inference_peak_bytes,
                "method": self.method}

    def __str__(self) -> str:
        from playground._format import human_bytes

        rows = [("parameters", self.parameters_bytes), ("gradients", self.gradients_bytes),
                (f"optimizer ({self.optimizer})", self.optimizer_bytes),
                ("activations saved for backward", self.activations_bytes),
                ("activations in flight, not saved", self.transient_bytes), ("training total", self.training_bytes),
                ("inference peak", self.inference_peak_bytes)]
        head = (f"{self.model}, batch {self.batch}, {self.precision}"
                + (f", strategy {self.strategy}" if self.strategy else ""))
        width = max(len(label) for label, _ in rows)
        return "\n".join([head, *(f"  {label.ljust(width)}  {human_bytes(n)}" for label, n in rows)])


def check_settings(batch: int, optimizer: str, precision: str) -> None:
    """Raise :class:`MemoryEstimateError` for a batch, optimizer or precision no estimate can use."""
    if not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise MemoryEstimateError(f"batch size must be a whole number from 1 to {MAX_BATCH} (got {batch!r})")
    if optimizer not in OPTIMIZER_STATES:
        raise MemoryEstimateError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}")
    if precision not in PRECISIONS:
        raise MemoryEstimateError(f"precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")


def memory_estimate(spec_or_module: Any, batch: int = 1, strategy: str | None = None, optimizer: str = "adamw",
                    precision: str = "fp32", input_shape: tuple[int, int, int] | None = None) -> MemoryEstimate:
    """Memory to train ``spec_or_module`` at ``batch``: a layer spec (dict, JSON, path, Spec) or an ``nn.Module``
    (with ``input_shape``). ``strategy`` must stay None: strategies apply to the fine-tuning models by name
    (:func:`playground.finetune.memory.memory_estimate` takes those, and everything this takes).

    Parameters, gradients and optimizer state are counted exactly; the activations come from the real
    autograd graph (see the module docstring). Raises :class:`MemoryEstimateError` or ``SpecError``.
    """
    check_settings(batch, optimizer, precision)
    factory, name, shape = _resolve(spec_or_module, strategy, input_shape)
    return measure_memory(factory, name, shape, batch, optimizer=optimizer, precision=precision)


def measure_memory(factory: Factory, name: str, shape: tuple[int, int, int], batch: int, *,
                   prepare: Prepare | None = None, strategy: str | None = None, optimizer: str = "adamw",
                   precision: str = "fp32") -> MemoryEstimate:
    """The estimate of the model ``factory`` builds (see the module docstring for how), its settings already
    checked (:func:`check_settings`). ``prepare`` puts it in its training state (default: ``train()``);
    ``strategy`` names that preparation in the estimate (``full`` when it is not named; None without one).
    """
    strategy_name = (strategy or "full") if prepare is not None else None
    model = factory("meta")
    if prepare is not None:
        prepare(model)
    else:
        model.train()
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    transient = _transient_bytes(model, (batch, *shape))
    if precision == "fp32":
        activations = _saved_bytes(model, (batch, *shape), "meta", None)
        method = "measured: autograd's saved tensors in one training pass at this batch on the meta device"
    else:
        _check_cost(factory, shape, name)
        cpu = factory("cpu")
        if prepare is not None:
            prepare(cpu)
        else:
            cpu.train()
        one = _saved_bytes(cpu, (1, *shape), "cpu", "bf16")
        two = _saved_bytes(cpu, (2, *shape), "cpu", "bf16")
        activations = one + (two - one) * (batch - 1)  # fixed part (bf16 weight copies) + per image × batch
        method = ("measured: autograd's saved tensors under CPU bf16 autocast at batch 1 and 2, scaled by batch "
                  "(CUDA autocast's op lists differ slightly: not measured on a GPU)")
    peak = _largest_layer_io(model.eval(), shape) * batch  # activations scale exactly with batch
    return MemoryEstimate(
        model=name, batch=batch, strategy=strategy_name, optimizer=optimizer, precision=precision,
        input_shape=shape, total_params=total, trainable_params=trainable, parameters_bytes=param_bytes,
        gradients_bytes=grad_bytes, optimizer_bytes=OPTIMIZER_STATES[optimizer] * trainable * _FP32,
        activations_bytes=activations, inference_peak_bytes=param_bytes + peak, method=method,
        transient_bytes=transient)


# --------------------------------------------------------------------------- building the model

def _resolve(obj: Any, strategy: str | None, input_shape: tuple[int, int, int] | None
             ) -> tuple[Factory, str, tuple[int, int, int]]:
    """(build on a device, display name, input shape) for a spec or a module; a strategy is refused."""
    import torch
    from torch import nn

    if isinstance(obj, nn.Module):
        if input_shape is None:
            raise MemoryEstimateError("give input_shape=(C, H, W) for a module")
        if strategy is not None:
            raise MemoryEstimateError(
                "strategies apply to the fine-tuning models by name (e.g. 'resnet18'), not a module")
        module = obj

        def from_module(device: str) -> Any:
            import copy

            return copy.deepcopy(module).to(device)  # the caller's module keeps its device and modes

        return from_module, type(obj).__name__, input_shape_of(input_shape)
    if strategy is not None:
        raise MemoryEstimateError("strategies apply to the fine-tuning models by name (e.g. 'resnet18'), not a spec")
    from playground.design.build import build_model
    from playground.spec.parse import parse_spec

    spec = parse_spec(obj)
    if input_shape is not None:
        data = spec.to_dict()
        data["input"] = list(input_shape_of(input_shape))
        spec = parse_spec(data)

    def from_spec(device: str) -> Any:
        with torch.device(device):
            return build_model(spec)

    return from_spec, spec.name or "spec", spec.input


def input_shape_of(shape: Any) -> tuple[int, int, int]:
    """``shape`` as (C, H, W) whole numbers of at least 1, or :class:`MemoryEstimateError`."""
    try:
        c, h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise MemoryEstimateError(f"input shape must be three whole numbers (C, H, W), got {shape!r}") from None
    if min(c, h, w) < 1:
        raise MemoryEstimateError(f"input shape {c}×{h}×{w}: every size must be at least 1")
    return c, h, w


def _check_cost(factory: Factory, shape: tuple[int, int, int], name: str) -> None:
    """Refuse a bf16 measurement that would run more than MAX_MEASURE_MACS on the CPU."""
    from playground.arch.measure import analyze_module

    macs = analyze_module(factory("meta"), shape, name=name).total_macs * 3  # batch 1 + batch 2
    if macs > MAX_MEASURE_MACS:
        raise MemoryEstimateError(
            f"{name}: measuring bf16 memory at {shape[1]}×{shape[2]} would cost {macs / 1e9:.0f} G "
                           "multiply-accumulates on the CPU here; use fp32 (measured on the meta device) "
                           "or a smaller image")


# --------------------------------------------------------------------------- the measurements

def _storage_key(t: Any) -> int:
    """One id per storage: meta tensors have no data pointer, but every storage has its own C++ object."""
    return int(t.untyped_storage()._cdata)


@contextmanager
def _saving(found: dict[int, int]) -> Iterator[None]:
    import torch

    def pack(t: Any) -> Any:
        found[_storage_key(t)] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield


def _saved_bytes(model: Any, shape: tuple[int, ...], device: str, precision: str | None) -> int:
    """Bytes of the storages autograd saves in one training forward pass, parameters left out."""
    import torch

    params = {_storage_key(p) for p in model.parameters()}
    found: dict[int, int] = {}
    x = torch.zeros(shape, device=device)  # (B, C, H, W): values do not change what is saved
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else _nothing()
    try:
        with _saving(found), autocast:
            out = model(x)
    except Exception as exc:  # a module whose forward fails on this input: one line, not a traceback
        raise MemoryEstimateError(f"the model cannot take a {'×'.join(map(str, shape))} input: "
                           f"{_first_line(exc)}") from None
    del out
    return sum(n for key, n in found.items() if key not in params)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _transient_bytes(model: Any, shape: tuple[int, ...]) -> int:
    """The peak bytes of tensors alive but not saved for backward in one fp32 training forward pass on the
    meta device (parameters and the input left out): a frozen part's activations while it runs."""
    import weakref

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    skip = {_storage_key(p) for p in model.parameters()} | {_storage_key(b) for b in model.buffers()}
    # A freed storage's address is soon reused: each creation gets its own number.
    live: dict[int, tuple[int, int]] = {}  # storage -> (number, bytes), of the tensors not yet freed
    events: list[tuple[int, int]] = []  # (number, +bytes on creation / -bytes when freed); (0, 0): a moment
    saved: set[int] = set()

    def free(key: int, number: int) -> None:
        if key in live and live[key][0] == number:
            events.append((number, -live.pop(key)[1]))

    class Follow(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    key = _storage_key(t)
                    if key not in skip and key not in live:
                        live[key] = (len(events) + 1, t.untyped_storage().nbytes())
                        events.append(live[key])
                        weakref.finalize(t, free, key, live[key][0])  # when the tensor goes, so does its storage
            events.append((0, 0))
            return out

    def pack(t: Any) -> Any:
        found = live.get(_storage_key(t))
        if found is not None:
            saved.add(found[0])
        return t

    x = torch.zeros(shape, device="meta")  # (B, C, H, W)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), Follow():
            out = model(x)
    except Exception as exc:  # the saved-tensor pass reports the same failure with its message
        raise MemoryEstimateError(f"the model cannot take a {'×'.join(map(str, shape))} input: "
                                  f"{_first_line(exc)}") from None
    del out
    # Replayed once the pass is over: a tensor saved later (a conv's output, saved by the next BN) is
    # an activation from its creation on, not something in flight.
    unsaved = peak = 0
    for key, delta in events:
        if key not in saved:
            unsaved += delta
            peak = max(peak, unsaved)
    return peak


def _largest_layer_io(model: Any, shape: tuple[int, int, int]) -> int:
    """Bytes of the largest (input + output) of one leaf module for one image, no grad."""
    import torch

    best = [0]

    def hook(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
        outs = output if isinstance(output, (tuple, list)) else (output,)
        size = sum(_tensor_bytes(t) for t in (*inputs, *outs))
        best[0] = max(best[0], size)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return best[0] or _tensor_numel(shape) * _FP32


def _tensor_bytes(t: Any) -> int:
    return int(t.numel() * t.element_size()) if hasattr(t, "element_size") else 0


def _tensor_numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


# --------------------------------------------------------------------------- free memory

def available_memory(device: str = "cpu") -> int | None:
    """Bytes free now: ``torch.cuda.mem_get_info`` of that GPU (``cuda:N``; ``cuda``: the current one),
    ``MemAvailable`` on Linux CPUs; None if unknown. Asking a GPU creates a CUDA context on it: a
    server that keeps off the GPU leaves the question to the job (playground.ui.designer.memory)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(found.group(1)) * 1024 if found else None
