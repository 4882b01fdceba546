"""`python -m playground analyze path/to/model.py:ClassName`: your own nn.Module, measured like the landmarks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO

NET = '''
import torch
from torch import nn


class Branchy(nn.Module):
    """A stem, then two branches (3×3 and 5×5) concatenated, then a classifier."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 8, 5, padding=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.cat([self.a(x), self.b(x)], 1)
        return self.fc(torch.flatten(self.pool(y), 1))


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc(x)
'''


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "playground", "analyze", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=180)


@pytest.fixture()
def net_file(tmp_path: Path) -> Path:
    path = tmp_path / "mynet.py"
    path.write_text(NET)
    return path


def test_branchy_net_json(net_file: Path) -> None:
    result = cli(f"{net_file}:Branchy", "--args", '{"classes": 4}', "--input", "3,32,32", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    data = json.loads(result.stdout)
    namespace: dict = {}
    exec(compile(NET, "mynet.py", "exec"), namespace)
    model = namespace["Branchy"](classes=4)
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    # conv MACs, by hand: 32·32 positions × (8·3·9 stem + 8·8·9 + 8·8·25 branches); linear 16·4
    assert data["conv_macs"] == 32 * 32 * (8 * 3 * 9 + 8 * 8 * 9 + 8 * 8 * 25) and data["linear_macs"] == 64
    assert data["receptive_field"] == [7, 7]  # the 5×5 branch after the 3×3 stem: the largest over all paths
    assert data["depth"] == 3
    memory = data["memory"]
    assert memory["parameters_bytes"] == 4 * data["total_params"] and memory["activations_bytes"] > 0
    # Training holds the weights, their gradients, AdamW's two moments, the activations saved for backward and,
    # at the peak, the tensors in flight that nothing saves (transient_bytes).
    assert memory["training_bytes"] == (memory["parameters_bytes"] + memory["gradients_bytes"]
                                        + memory["optimizer_bytes"] + memory["activations_bytes"]
                                        + memory["transient_bytes"])
    assert torch.Size([1, 4]) == model(torch.zeros(1, 3, 32, 32)).shape
    table = cli(f"{net_file}:Branchy", "--input", "3,32,32")
    assert table.returncode == 0 and "Receptive field" in table.stdout and "memory (batch 1" in table.stdout


@pytest.mark.parametrize(("target", "extra", "words"), [
    ("{file}:Nope", [], "defines no 'Nope'; it defines Branchy, Broken"),
    ("{file}:Branchy", ["--args", "[1, 2, 3]"], "Branchy([1, 2, 3]) failed: TypeError"),
    ("{file}:Branchy", ["--args", "{oops"], "--args is not valid JSON"),
    ("{file}:Broken", ["--input", "3,8,8"], "cannot take a 3×8×8 input"),
    ("{bad}:Net", [], "importing it failed: ZeroDivisionError"),
    ("{missing}:Net", [], "no such Python file"),
])
def test_user_code_errors_are_one_line(net_file: Path, target: str, extra: list[str], words: str) -> None:
    bad = net_file.with_name("bad.py")
    bad.write_text("x = 1 / 0\n")
    ref = target.format(file=net_file, bad=bad, missing=net_file.with_name("nothere.py"))
    result = cli(ref, *extra)
    assert result.returncode == 2 and result.stdout == ""
    assert words in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
