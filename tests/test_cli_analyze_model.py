"""`python -m playground analyze --model NAME [--input 3,H,W] [--json]`, run as a user would."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playground.arch.measure import analyze_architecture
from playground.cli import main

REPO = Path(__file__).resolve().parent.parent


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "playground", "analyze", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_json_for_resnet50() -> None:
    done = _cli("--model", "ResNet-50", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)  # only JSON on stdout
    assert data["input_shape"] == [3, 224, 224]
    assert data["total_params"] == 25_557_032 and data["total_macs"] == 4_089_184_256
    assert data["receptive_field"] == [427, 427]
    assert data.pop("memory")["parameters_bytes"] == 4 * 25_557_032  # analyze --json adds the training memory
    assert data == json.loads(json.dumps(analyze_architecture("resnet50").to_dict()))
    first = data["layers"][0]
    assert (first["name"], first["type"], first["output_shape"], first["params"]) == ("conv1", "conv2d",
                                                                                     [64, 112, 112], 9408)
    assert (first["receptive_field"], first["jump"], first["start"]) == ([7, 7], [2, 2], [0.0, 0.0])


def test_table_at_another_resolution(capsys: pytest.CaptureFixture[str]) -> None:
    # the same dispatcher in this process (torch is already loaded here): the table path
    assert main(["analyze", "--model", "alexnet", "--input", "3,320,320"]) == 0
    out = capsys.readouterr().out
    report = analyze_architecture("alexnet", (3, 320, 320))
    assert f"Total MACs: {report.total_macs:,}" in out
    assert "alexnet: input 3×320×320" in out and "195×195" in out


def test_bad_input_is_one_line_and_status_2() -> None:
    done = _cli("--model", "vit_b_16", "--input", "3,200,200", "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "multiple of 16" in done.stderr and "Traceback" not in done.stderr


def test_too_small_input_is_one_line_naming_the_layer_without_traceback() -> None:
    # torch.fx's ShapeProp used to print a 40-line traceback to stderr before the one-line error
    done = _cli("--model", "alexnet", "--input", "3,32,32")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: alexnet cannot take a 3×32×32 input: layer features.12: ")
    assert "Output size is too small" in done.stderr and "try a larger image" in done.stderr


def test_a_torchvision_model_as_its_exact_design(tmp_path: Path) -> None:
    saved = tmp_path / "effnet.json"
    done = _cli("--model", "efficientnet_b0", "--design", "--save-spec", str(saved), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["total_params"] == 5_288_548 and data["total_macs"] == analyze_architecture(
        "efficientnet_b0").conv_linear_macs
    assert [layer["type"] for layer in data["layers"]].count("mbconv") == 16
    spec = json.loads(saved.read_text())
    assert spec["name"] == "EfficientNet-B0" and spec["input"] == [3, 224, 224]
    table = _cli("--model", "googlenet", "--design", "--input", "3,128,128")
    assert table.returncode == 0 and "inception 256" in table.stdout and "(3, 128, 128)" in table.stdout
    refused = _cli("--model", "vit_b_16", "--design")
    assert refused.returncode == 2 and refused.stderr.startswith("error: vit_b_16: self-attention")
