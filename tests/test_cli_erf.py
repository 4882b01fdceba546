"""`python -m playground erf` as a user runs it: the JSON shape, the default layer, one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from playground.design.erf import effective_receptive_field
from tests.conftest import REPO

SPEC = {"input": [3, 32, 32], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "global_avgpool"},
    {"type": "flatten"}, {"type": "linear", "out_features": 2}]}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playground", "erf", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=180)


def test_json_shape_and_default_layer(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(SPEC))
    result = cli(str(path), "--json", "--samples", "2")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    data = json.loads(result.stdout)
    assert {"layer", "theoretical", "effective", "mass", "samples"} <= set(data)
    assert data["layer"] == 2 and data["theoretical"] == [5, 5] and data["mass"] == 0.95 and data["samples"] == 2
    assert data == effective_receptive_field(SPEC, samples=2).to_dict()  # the library's numbers
    table = cli(str(path), "--layer", "0")
    assert table.returncode == 0 and "layer 0: theoretical field 3×3 px" in table.stdout


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text(json.dumps(SPEC))
    for args, words in (([str(path), "--layer", "5"], "layer 5 (linear) has no spatial output"),
                        ([str(path), "--layer", "9"], "layer 9 does not exist"),
                        ([str(tmp_path / "missing.json")], "missing.json"),
                        ([str(path), "--samples", "0"], "--samples")):
        result = cli(*args)
        assert result.returncode == 2 and result.stdout == ""
        assert words in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
