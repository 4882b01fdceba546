"""Spec -> ONNX file: the designed network, built by :func:`~playground.design.build.build_model`, in ONNX.

The export uses PyTorch's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) at
opset :data:`OPSET`. Of PyTorch 2.14's two exporters it is the lighter: it needs only the ``onnx``
package, where the default (``dynamo=True``, through ``torch.export``) also needs ``onnxscript`` and
``onnx_ir`` and takes about a second where this takes tens of milliseconds, which matters when a
class clicks "Download" at once. Every layer a spec can hold (conv, pool, norm, activations, blocks,
linear) maps to standard ONNX operators, so nothing the new exporter adds is needed here.

The weights are PyTorch's default initialisation: the file carries the architecture (open it in
Netron, or check a runtime or a deployment pipeline), not a trained model. The batch dimension is
dynamic; channels and spatial size are the spec's input.
"""
from __future__ import annotations

import importlib.util
import io
import threading
import warnings
from collections.abc import Callable
from os import PathLike
from typing import IO

from playground.errors import PlaygroundError
from playground.spec.parse import SpecSource, parse_spec

__all__ = ["OPSET", "INPUT_NAME", "OUTPUT_NAME", "OnnxUnavailable", "onnx_available", "to_onnx", "onnx_bytes",
           "export_refusal", "onnx_bytes_limited", "MAX_EXPORT_OPS", "MAX_EXPORT_BYTES"]

# Opset 17 (2022): read by every onnxruntime since 1.13 and by the common converters (TensorRT, OpenVINO,
# onnx2tf), and it has every operator these layers need; a newer opset would only narrow who can load the file.
OPSET = 17
INPUT_NAME = "image"  # (batch, C, H, W)
OUTPUT_NAME = "output"  # (batch, ...) the last layer's output

# torch.onnx keeps its export state in module globals (the opset, "in export"): two exports from two
# sessions' threads at once would read each other's, so they take turns.
_EXPORT_LOCK = threading.Lock()

# The TorchScript exporter says on every call that it is no longer the default: it is chosen on purpose (see
# above). A standing filter for that one message, rather than catch_warnings, which swaps the process-wide
# filters while other threads run.
warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export", category=DeprecationWarning)


class OnnxUnavailable(PlaygroundError):
    """The ``onnx`` package, which PyTorch's exporter writes the file with, is not installed."""


def onnx_available() -> bool:
    """Whether :func:`to_onnx` can run here (the ``onnx`` package is installed)."""
    return importlib.util.find_spec("onnx") is not None


def to_onnx(spec: SpecSource, path_or_buffer: str | PathLike[str] | IO[bytes]) -> None:
    """Write the spec's network as an ONNX model (opset :data:`OPSET`) to a path or a binary file object.

    The graph's input is ``image`` of shape ``(batch, C, H, W)`` (the spec's C, H, W; any batch), its output
    ``output``. Raises :class:`~playground.spec.parse.SpecError` for an invalid spec and
    :class:`OnnxUnavailable` when the ``onnx`` package is missing (``pip install onnx``).
    """
    parsed = parse_spec(spec)  # an invalid spec fails here, before the onnx check and before torch is imported
    if not onnx_available():
        raise OnnxUnavailable("exporting to ONNX needs the 'onnx' package; install it with: pip install onnx")
    import torch

    from playground.design.build import build_model

    model = build_model(parsed).eval()  # eval: batch norm uses its running statistics, dropout is off
    example = torch.zeros(1, *parsed.input)  # (1, C, H, W): only its shape matters
    with _EXPORT_LOCK, torch.no_grad():
        # the TorchScript exporter also writes to a binary file object; the annotation speaks for the dynamo one
        torch.onnx.export(
            model, (example,), path_or_buffer, dynamo=False, opset_version=OPSET,  # type: ignore[arg-type]
            input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )


def onnx_bytes(spec: SpecSource) -> bytes:
    """:func:`to_onnx` into memory: the file's bytes (for a download button)."""
    buffer = io.BytesIO()
    to_onnx(spec, buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- for a class server
# Exporting traces one forward pass at the spec's input size and serialises the weights: a student's link
# (up to 65,536 channels at 8,192 px) could ask for terabytes. The server checks the forward pass's work and
# bytes first (the same cost model as the effective field) and exports in a limited child process.
MAX_EXPORT_OPS = 20_000_000_000  # forward operations: a few seconds of one core
MAX_EXPORT_BYTES = 1024**3  # every layer's output of the traced pass, plus the input
_EXPORT_MEMORY = 3 * 1024**3  # the child's limit over its start size: the pass, the weights, the file, copies
_EXPORT_CPU_S = 60
_EXPORT_WALL_S = 120.0


def export_refusal(spec: SpecSource) -> str | None:
    """Why a server would not export ``spec`` (its forward pass over the budget, with the figures), or None.

    Pure arithmetic on the spec (no torch): call it before offering the export."""
    from playground._format import human_bytes
    from playground.design.workload import human_ops, spec_workload

    work = spec_workload(spec)
    forward_ops = work.ops // 3  # the workload counts forward + backward (twice the forward)
    held = work.activation_bytes + work.input_bytes // 2
    if forward_ops <= MAX_EXPORT_OPS and held <= MAX_EXPORT_BYTES:
        return None
    return (f"exporting traces one forward pass: {human_ops(forward_ops)} operations and {human_bytes(held)} of "
            f"feature maps here (the heaviest is {work.heaviest}), over what the server spends "
            f"({human_ops(MAX_EXPORT_OPS)}, {human_bytes(MAX_EXPORT_BYTES)}); use a smaller input or export it on "
            "your computer: `playground export design.json --onnx net.onnx`")


def onnx_bytes_limited(spec: SpecSource, alive: Callable[[], bool] | None = None) -> bytes:
    """:func:`onnx_bytes` as a server runs it: refused before any work when :func:`export_refusal` says so
    (a :class:`~playground.errors.PlaygroundError`), else in a child process under memory, CPU-time and wall
    limits, stopped when ``alive()`` turns False (the session that asked has gone)."""
    from playground.sandbox import run_limited

    refusal = export_refusal(spec)
    if refusal is not None:
        raise PlaygroundError(refusal)
    data = parse_spec(spec).to_dict()
    return run_limited(onnx_bytes, data, memory_bytes=_EXPORT_MEMORY, cpu_seconds=_EXPORT_CPU_S,
                       wall_seconds=_EXPORT_WALL_S, alive=alive, what="exporting the design to ONNX")
