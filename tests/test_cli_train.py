"""`python -m playground train SPEC.json DATA`: JSON on stdout, a model folder `predict --model` uses,
the head refused with its fix (applied by --fix-head), one-line errors with exit status 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.cli import main
from tests.support.finetune_data import tiny_digits

DESIGN = {"input": [1, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 2}]}


def test_train_json_then_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tiny_digits(tmp_path / "digits", classes=2, per_class=8)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(DESIGN))
    out = tmp_path / "model"
    code = main(["train", str(spec), str(ds.root), "--epochs", "2", "--batch-size", "4", "--optimizer", "sgd",
                 "--lr", "0.05", "--seed", "1", "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)  # stdout is exactly one JSON document
    assert result["classes"] == ["0", "1"] and result["epochs"] == 2 and len(result["history"]) == 2
    assert result["optimizer"] == "sgd" and result["lr"] == 0.05 and result["head_fixed"] is False
    assert result["design"]["input"] == [1, 16, 16] and result["params"] == 4 * 9 + 4 + 4 * 64 * 2 + 2
    assert result["train_images"] + result["val_images"] == 16 and result["estimated_seconds"] > 0
    assert "epoch 2/2: train loss" in captured.err and "estimate:" in captured.err
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "meta.json", "README.md", "load_example.py",
                                               "model.py"}
    assert main(["predict", str(ds.path(ds.items[0])), "--model", str(out), "--json", "--top", "2"]) == 0
    (prediction,) = json.loads(capsys.readouterr().out)
    assert sum(p["probability"] for p in prediction["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_a_wrong_head_is_refused_then_fixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = tiny_digits(tmp_path / "digits", classes=3, per_class=6)
    spec = tmp_path / "two.json"
    spec.write_text(json.dumps(DESIGN))  # 2 outputs, 3 classes
    assert main(["train", str(spec), str(ds.root), "--epochs", "1", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    assert captured.err.strip().splitlines()[-1] == (
        "error: the design outputs (2,), but the data has 3 classes: a classifier ends in 3 values; to set the "
        "last linear layer's out_features to 3, use --fix-head (on the page: tick 'fix the head')")
    assert main(["train", str(spec), str(ds.root), "--epochs", "1", "--json", "--fix-head",
                 "--out", str(tmp_path / "m")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["head_fixed"] is True and result["design"]["layers"][-1]["out_features"] == 3


@pytest.mark.parametrize("spec, args, message", [
    ('{"input": [3, 16, 16], "layers": [{"type": "conv2d"}]}', [], "error: layer 0 (conv2d)"),
    ('{"input": [4, 16, 16], "layers": [{"type": "flatten"}, {"type": "linear", "out_features": 2}]}', [],
     "error: the design's input has 4 channels"),
    ('{"input": [3, 16, 16], "layers": [{"type": "relu"}]}', [], "error: this design has no weights to learn"),
    ("not json", [], "error: "),
    (json.dumps(DESIGN), ["--optimizer", "adam"], "argument --optimizer: invalid choice: 'adam'"),
    (json.dumps(DESIGN), ["--epochs", "0"], "argument --epochs: must be from 1 to 500"),
])
def test_errors_are_one_line_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str,
                                           args: list[str], message: str) -> None:
    ds = tiny_digits(tmp_path / "digits", classes=2, per_class=4)
    (tmp_path / "spec.json").write_text(spec)
    try:
        code = main(["train", str(tmp_path / "spec.json"), str(ds.root), *args])
    except SystemExit as exc:  # argparse errors
        code = exc.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "Traceback" not in captured.err
    assert message in captured.err.strip().splitlines()[-1]
