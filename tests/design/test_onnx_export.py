"""ONNX export of a design: the file onnxruntime runs computes what the PyTorch model computes.

Each export takes well under a second to a couple of seconds (the presets are exported at a small input, which
shrinks their linear layers and so the file).
"""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from playground.design.build import build_model
from playground.design.onnx_export import (
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    OnnxUnavailable,
    export_refusal,
    onnx_bytes,
    onnx_bytes_limited,
    to_onnx,
)
from playground.design.presets import preset
from playground.errors import PlaygroundError
from playground.spec.parse import SpecError

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

# The TorchScript exporter is chosen on purpose (see playground.design.onnx_export); its notices are not news.
pytestmark = [pytest.mark.filterwarnings("ignore:.*legacy TorchScript-based ONNX export:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")]


def _session(data: bytes) -> Any:
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"])


def _same_outputs(spec: dict[str, Any], data: bytes, batch: int = 2) -> None:
    """The ONNX file and the PyTorch model with the same weights agree on one random batch.

    The weights are fixed by seeding before both builds: to_onnx builds its own model.
    """
    torch.manual_seed(0)
    model = build_model(spec).eval()
    x = torch.randn(batch, *spec["input"])  # (B, C, H, W)
    with torch.no_grad():
        expected = model(x).numpy()
    (got,) = _session(data).run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def _seeded_bytes(spec: dict[str, Any]) -> bytes:
    torch.manual_seed(0)  # the same default init as _same_outputs' model
    return onnx_bytes(spec)


@pytest.mark.timeout(120)  # one to four seconds each on a busy 2-core machine
@pytest.mark.parametrize("name, side", [
    ("LeNet-5", 32), ("ResNet-18-style", 32), ("MobileNet-V1-style", 32), ("AlexNet-like", 64),
])
def test_presets_run_in_onnxruntime_as_in_pytorch(name: str, side: int) -> None:
    spec = preset(name)
    spec["input"] = [spec["input"][0], side, side]  # a small input: small linear layers, a quick export
    data = _seeded_bytes(spec)
    _same_outputs(spec, data, batch=2)  # the batch dimension is free: exported at 1, run at 2
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", *spec["input"]]


# add (residual), concat (two paths side by side), mul (an SE gate: C×H×W times C×1×1), nested and identity paths
BRANCHES: dict[str, Any] = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"}, {"type": "relu"},
    {"type": "branch", "merge": "add", "paths": [
        [{"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "relu"}], []]},
    {"type": "branch", "merge": "concat", "paths": [
        [{"type": "conv2d", "out_channels": 8, "kernel_size": 1}],
        [{"type": "branch", "merge": "add", "paths": [
            [{"type": "maxpool2d", "kernel_size": 3, "stride": 1, "padding": 1}], []]}]]},
    {"type": "branch", "merge": "mul", "paths": [[], [
        {"type": "global_avgpool"}, {"type": "conv2d", "out_channels": 6, "kernel_size": 1}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 24, "kernel_size": 1}, {"type": "sigmoid"}]]},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def test_a_design_with_add_concat_and_mul_branches() -> None:
    try:
        build_model(BRANCHES)
    except (KeyError, NotImplementedError, SpecError) as exc:  # branches parse before they build
        pytest.skip(f"branch designs cannot be built yet: {type(exc).__name__}: {exc}")
    _same_outputs(BRANCHES, _seeded_bytes(BRANCHES))


def test_to_a_path_or_a_buffer(tmp_path: Path) -> None:
    spec = preset("LeNet-5")
    path = tmp_path / "lenet.onnx"
    to_onnx(spec, path)
    buffer = io.BytesIO()
    to_onnx(json.dumps(spec), buffer)  # any spec source: a dict, JSON text, a parsed Spec
    assert path.read_bytes()[:2] == buffer.getvalue()[:2] and len(path.read_bytes()) > 200_000  # 61,706 weights


def test_missing_onnx_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed: find_spec answers None
    with pytest.raises(OnnxUnavailable, match="needs the 'onnx' package; install it with: pip install onnx") as info:
        onnx_bytes(preset("LeNet-5"))
    assert isinstance(info.value, PlaygroundError)
    with pytest.raises(SpecError, match="layer 0"):  # a bad spec is reported first, whatever is installed
        onnx_bytes({"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 20}]})


def test_a_server_refuses_a_huge_traced_pass_before_any_work() -> None:
    """A student's link may ask for 65,536 channels at 8,192 px: the traced forward pass alone would need
    terabytes. The server's export checks the pass first and refuses with the figures, allocating nothing."""
    import resource

    huge = {"input": [3, 8192, 8192], "layers": [{"type": "conv2d", "out_channels": 256, "kernel_size": 3}]}
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refusal = export_refusal(huge)
    assert refusal is not None and "operations" in refusal and "use a smaller input" in refusal
    with pytest.raises(PlaygroundError, match="over what the server spends"):
        onnx_bytes_limited(huge)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB: nothing was allocated
    assert export_refusal(preset("LeNet-5")) is None


def test_the_server_export_runs_in_a_limited_child_and_gives_the_same_file() -> None:
    import onnx

    spec = preset("LeNet-5")
    data = onnx_bytes_limited(spec)
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == [INPUT_NAME]
    assert len(data) == len(onnx_bytes(spec))  # the same graph and weights' size as an export here
