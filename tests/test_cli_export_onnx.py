"""`python -m playground export SPEC.json --onnx FILE`: the ONNX file runs, the code export is unchanged."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from playground.cli import main
from playground.design.build import build_model
from playground.design.presets import preset

ort = pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.filterwarnings("ignore:.*legacy TorchScript-based ONNX export:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")]


@pytest.fixture()
def lenet(tmp_path: Path) -> Path:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(preset("LeNet-5")))
    return path


def test_onnx_file_is_written_and_runs(lenet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "net.onnx"
    torch.manual_seed(0)
    assert main(["export", str(lenet), "--onnx", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"wrote {out}\n"  # the file instead of the code
    torch.manual_seed(0)  # the same default init as the exported model
    model = build_model(preset("LeNet-5")).eval()
    x = torch.randn(3, 1, 32, 32)  # (B, C, H, W): any batch
    (got,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})
    np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4, rtol=1e-4)
    code = tmp_path / "net.py"  # with -o the code is written as well
    assert main(["export", str(lenet), "--onnx", str(out), "-o", str(code)]) == 0
    assert "class Net(" in code.read_text()
    assert main(["export", str(lenet)]) == 0 and "class Net(" in capsys.readouterr().out  # unchanged


def test_onnx_errors_are_one_line(lenet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["export", str(lenet), "--onnx", str(tmp_path / "no" / "dir.onnx")]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot write '{tmp_path / 'no' / 'dir.onnx'}'")
    monkeypatch.setitem(sys.modules, "onnx", None)  # not installed
    assert main(["export", str(lenet), "--onnx", str(tmp_path / "net.onnx")]) == 2
    err = capsys.readouterr().err
    assert err == "error: exporting to ONNX needs the 'onnx' package; install it with: pip install onnx\n"
