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
from os import PathLike
from typing import IO

from playground.errors import PlaygroundError
from playground.spec.parse import SpecSource, parse_spec

__all__ = ["OPSET", "INPUT_NAME", "OUTPUT_NAME", "OnnxUnavailable", "onnx_available", "to_onnx", "onnx_bytes"]

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
