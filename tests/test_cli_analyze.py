"""`python -m playground analyze|export` as a user runs them: stdout, exit status, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from playground.design.analysis import analyze
from tests.conftest import REPO

SPEC = {"name": "cli demo", "input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"},
    {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2}, {"type": "avgpool2d", "kernel_size": 2},
    {"type": "dwsep", "out_channels": 16}, {"type": "residual", "out_channels": 16, "stride": 2},
    {"type": "bottleneck", "out_channels": 32}, {"type": "leaky_relu"}, {"type": "gelu"}, {"type": "silu"},
    {"type": "relu6"}, {"type": "sigmoid"}, {"type": "tanh"},
    # graph designs: the new layer types, the named blocks and a branch
    {"type": "layernorm2d"}, {"type": "groupnorm", "num_groups": 4}, {"type": "hardswish"}, {"type": "hardsigmoid"},
    {"type": "identity"}, {"type": "layer_scale"}, {"type": "drop_path"}, {"type": "channel_shuffle", "groups": 2},
    {"type": "inverted_residual", "out_channels": 32, "se": True}, {"type": "mbconv", "out_channels": 32},
    {"type": "fused_mbconv", "out_channels": 32}, {"type": "se", "squeeze_channels": 8},
    {"type": "inception", "ch1x1": 8, "ch3x3red": 8, "ch3x3": 8, "ch5x5red": 8, "ch5x5": 8, "pool_proj": 8},
    {"type": "convnext_block"}, {"type": "dense_layer", "growth_rate": 8},
    {"type": "branch", "merge": "add", "paths": [[{"type": "conv2d", "out_channels": 40, "kernel_size": 1}], []]},
    {"type": "conv_transpose2d", "out_channels": 16, "kernel_size": 2, "stride": 2},
    {"type": "upsample", "scale_factor": 2}, {"type": "adaptive_avgpool2d", "output_size": 4},
    {"type": "global_avgpool"}, {"type": "flatten"},
    {"type": "dropout", "p": 0.1}, {"type": "linear", "out_features": 10}]}


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playground", *args], capture_output=True, text=True,
                          cwd=REPO, input=stdin, timeout=120)


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(SPEC))
    return path


def test_every_layer_type_answers_as_json(spec_file: Path) -> None:
    from playground.spec.layers import LAYER_TYPES

    assert {layer["type"] for layer in SPEC["layers"]} == set(LAYER_TYPES)
    result = cli("analyze", str(spec_file), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)  # only JSON on stdout
    assert data.pop("memory")["parameters_bytes"] == 4 * analyze(SPEC).total_params
    assert data == analyze(SPEC).to_dict()
    assert result.stderr == ""


def test_table_and_input_override(spec_file: Path) -> None:
    result = cli("analyze", str(spec_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "cli demo" and "FLOPs = 2 × MACs" in result.stdout
    assert "bottleneck 32" in result.stdout and f"{analyze(SPEC).total_params:,}" in result.stdout
    bigger = cli("analyze", str(spec_file), "--input", "3,64,64", "--json")
    assert json.loads(bigger.stdout)["input_shape"] == [3, 64, 64]
    assert json.loads(bigger.stdout)["total_macs"] == analyze({**SPEC, "input": [3, 64, 64]}).total_macs
    piped = cli("analyze", "-", "--json", stdin=json.dumps(SPEC))
    assert json.loads(piped.stdout)["total_params"] == analyze(SPEC).total_params


def test_export_prints_runnable_code(spec_file: Path, tmp_path: Path) -> None:
    result = cli("export", str(spec_file))
    assert result.returncode == 0, result.stderr
    namespace: dict[str, Any] = {}
    exec(compile(result.stdout, "net.py", "exec"), namespace)
    net = namespace["Net"]()
    assert sum(p.numel() for p in net.parameters()) == analyze(SPEC).total_params
    out = tmp_path / "net.py"
    from playground.cli import main  # in-process: torch is already imported here

    assert main(["export", str(spec_file), "-o", str(out)]) == 0
    assert out.read_text() == result.stdout
    assert main(["export", str(spec_file), "-o", str(tmp_path / "no" / "dir.py")]) == 2


@pytest.mark.parametrize("args, needle", [
    (["analyze", "{missing}"], "cannot read spec file"),
    (["export", "{missing}"], "cannot read spec file"),
    (["analyze", "{bad_json}"], "not valid JSON"),
    (["analyze", "{bad_layer}", "--json"], "layer 1 (conv2d): kernel 40×40 is larger than its padded 32×32 input"),
    (["export", "{bad_layer}"], "layer 1 (conv2d)"),
    (["analyze"], "give a SPEC.json file"),
    (["analyze", "{bad_layer}", "--input", "3,x,4"], "--input must be three positive numbers"),
    (["analyze", "{bad_layer}", "--model", "resnet18"], "not both"),
    (["analyze", "--bogus"], "unrecognized arguments"),
])
def test_errors_are_one_line_and_status_2(args: list[str], needle: str, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"input": [3, 32, 32], "layers": [')
    (tmp_path / "layer.json").write_text(json.dumps({"input": [3, 32, 32], "layers": [
        {"type": "relu"}, {"type": "conv2d", "out_channels": 4, "kernel_size": 40}]}))
    paths = {"missing": tmp_path / "nope.json", "bad_json": tmp_path / "bad.json", "bad_layer": tmp_path / "layer.json"}
    result = cli(*[a.format(**paths) for a in args])
    assert result.returncode == 2
    assert result.stdout == ""
    assert needle in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
