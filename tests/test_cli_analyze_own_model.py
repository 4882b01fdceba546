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


class NonZero(nn.Module):
    """A data-dependent output shape: the memory step (on meta) cannot size it, the analysis can."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x).flatten()
        return y[torch.nonzero(y > 0).squeeze(1)]


class WrongFc(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(10, 2)

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x, y):
        return self.conv(x) + y


class BigKernel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 7)

    def forward(self, x):
        return self.conv(x)


class Gated(nn.Module):
    """Data-dependent control flow (an if on a tensor): torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, groups=8)
        self.fc = nn.Linear(8, 5)

    def trunk(self, x):
        return self.conv(x)

    def forward(self, x):
        y = self.trunk(x)
        if y.sum() > 0:
            y = torch.relu(y)
        return self.fc(self.dw(y).mean((2, 3)))


class Ungated(Gated):
    """The same net without the branch: torch.fx traces it."""

    def forward(self, x):
        return self.fc(self.dw(self.trunk(x)).mean((2, 3)))


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
    ("{file}:Nope", [], "defines no 'Nope'; it defines BigKernel, Branchy, Broken"),
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


def test_data_dependent_shape_keeps_the_report(net_file: Path) -> None:
    """(a) The memory step cannot size torch.nonzero on meta: the report stands, memory says why it is missing."""
    result = cli(f"{net_file}:NonZero", "--input", "3,6,6", "--json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    data = json.loads(result.stdout)
    assert data["total_params"] == 4 * 3 * 9 + 4 and data["conv_macs"] == 4 * 4 * 4 * 3 * 9
    memory = data["memory"]
    assert memory["activations_bytes"] is None and "data-dependent" in memory["not_measured"]
    assert memory["parameters_bytes"] == 4 * data["total_params"]
    table = cli(f"{net_file}:NonZero", "--input", "3,6,6")
    assert table.returncode == 0 and "Total MACs" in table.stdout
    assert "memory: not measured (" in table.stdout and "cannot take" not in table.stdout + table.stderr


@pytest.mark.parametrize(("cls", "words", "larger"), [
    ("WrongFc", "layer fc: Linear expects 10 input features but gets 64", False),
    ("TwoInputs", "forward() needs 2 inputs (also y)", False),
    ("BigKernel", "Kernel size can't be greater than actual input size", True),
])
def test_shape_advice_fits_the_cause(net_file: Path, cls: str, words: str, larger: bool) -> None:
    """(b) "Try a larger image" only when the map became too small; a Linear mismatch names both sizes."""
    result = cli(f"{net_file}:{cls}", "--input", "3,6,6")
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert words in result.stderr, result.stderr
    assert ("try a larger image" in result.stderr) == larger, result.stderr


def test_python_file_without_class_says_the_form(net_file: Path, tmp_path: Path) -> None:
    """(c) `analyze file.py` is not a JSON spec: say FILE.py:ClassName and list the file's nn.Module classes."""
    result = cli(str(net_file))
    assert result.returncode == 2 and "not valid JSON" not in result.stderr, result.stderr
    assert "FILE.py:ClassName" in result.stderr and "defines BigKernel, Branchy, Broken, Gated" in result.stderr
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1 / 0\n")
    broken = cli(str(bad))
    assert broken.returncode == 2 and "FILE.py:ClassName" in broken.stderr and "ZeroDivisionError" in broken.stderr
    assert len(broken.stderr.strip().splitlines()) == 1


def test_untraceable_module_falls_back_to_eager(net_file: Path) -> None:
    """(d) torch.fx cannot trace an if on a tensor: one eager pass with hooks gives params, shapes and MACs."""
    from playground.arch.measure import analyze_module

    namespace: dict = {}
    exec(compile(NET, "mynet.py", "exec"), namespace)
    gated, ungated = namespace["Gated"](), namespace["Ungated"]()
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(gated)
    eager = analyze_module(gated, (3, 6, 6), name="Gated")
    graph = analyze_module(ungated, (3, 6, 6), name="Ungated")
    assert eager.total_params == sum(p.numel() for p in gated.parameters()) == graph.total_params
    # by hand: 6·6·8·3·9 (stem), 4·4·8·1·9 (depthwise, groups=8), 8·5 (fc)
    assert eager.conv_macs == 6 * 6 * 8 * 3 * 9 + 4 * 4 * 8 * 9 == graph.conv_macs
    assert eager.linear_macs == 8 * 5 == graph.linear_macs
    assert [layer.output_shape for layer in eager.layers] == [(8, 6, 6), (8, 4, 4), (5,)]
    assert eager.receptive_field is None and any("receptive field" in note for note in eager.notes)
    assert any("functional ops" in note for note in eager.notes)
    result = cli(f"{net_file}:Gated", "--input", "3,6,6", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["conv_macs"] == eager.conv_macs and data["total_params"] == eager.total_params
