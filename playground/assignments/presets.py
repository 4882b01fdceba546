"""Ready-made assignments from the primer's practice questions, one click for the teacher to add.

Targets that depend on a start design (half its parameters, its receptive field) are worked out from that
design with :func:`playground.analyze`, so they stay right if the design is changed here.
"""
from __future__ import annotations

from typing import Any

from playground.assignments.check import _field_row
from playground.assignments.model import Assignment, parse_assignment
from playground.design.analysis import analyze

__all__ = ["PRESETS", "preset", "accuracy_available"]

Layer = dict[str, Any]


def _conv(out: int, k: int = 3, stride: int = 1, padding: int | str = 1) -> Layer:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": stride, "padding": padding,
            "bias": False}


def _unit(out: int) -> list[Layer]:
    return [_conv(out), {"type": "batchnorm2d"}, {"type": "relu"}]


def _field_budget() -> dict[str, Any]:
    start = {"input": [3, 64, 64], "layers": [*_unit(16), *_unit(16)]}
    return {"title": "Field of view on a budget",
            "instructions": "Make the last feature map see at least 32 x 32 pixels of the 64 x 64 input, using "
                            "no more than five convolutions. Stacking plain 3 x 3 convolutions adds only 2 px each: "
                            "find what grows the field faster.",
            "input": [3, 64, 64], "start": start,
            "criteria": [
                {"metric": "receptive_field", "at_least": 32,
                 "hint": "Stride or pooling multiplies how far each later layer reaches; dilation spreads a kernel."},
                {"metric": "conv_layers", "at_most": 5, "hint": "Blocks count their convolutions too."},
                {"metric": "params", "at_most": 50_000, "hidden": True,
                 "hint": "A wide field does not need wide layers: keep the channel counts small."}]}


def _halve_params() -> dict[str, Any]:
    start = {"input": [3, 32, 32], "layers": [*_unit(32), *_unit(64), *_unit(64), *_unit(128),
                                               {"type": "global_avgpool"}, {"type": "flatten"},
                                               {"type": "linear", "out_features": 10}]}
    report = analyze(start)
    row = _field_row(report, None)
    field = min(row.receptive_field) if row is not None and row.receptive_field is not None else 1
    return {"title": "Half the parameters, the same view",
            "instructions": "This network works but is heavy. Keep what its last feature map sees (the receptive "
                            "field) and its 10 outputs, with at most half the parameters. Depthwise-separable "
                            "convolutions (MobileNet's dwsep) are the tool to try.",
            "input": [3, 32, 32], "start": start,
            "criteria": [
                {"metric": "params", "at_most": report.total_params // 2,
                 "hint": "A dwsep layer costs about k² + out parameters per input channel instead of k² · out."},
                {"metric": "receptive_field", "at_least": field,
                 "hint": "A dwsep layer has a 3 x 3 depthwise convolution: it grows the field like a 3 x 3 conv."},
                {"metric": "output_shape", "equals": [10], "hint": "Keep the classifier head: 10 outputs."},
                {"metric": "layer_types_used", "at_least": ["dwsep"]}]}


def _same_padding() -> dict[str, Any]:
    return {"title": "Keep it 32 x 32",
            "instructions": "Stack three 3 x 3 convolutions on a 32 x 32 image so that the output is still 32 x 32. "
                            "PyTorch pads nothing by default (valid padding): each 3 x 3 convolution trims 2 px.",
            "input": [3, 32, 32], "start": {"input": [3, 32, 32], "layers": [_conv(16, padding=0)]},
            "criteria": [
                {"metric": "conv_layers", "at_least": 3},
                {"metric": "output_shape", "equals": [32, 32], "hint": "padding 1 (or \"same\") keeps the size."},
                {"metric": "layer_types_forbidden", "equals": ["maxpool2d", "avgpool2d", "upsample"],
                 "hint": "No pooling or upsampling: padding alone does it."},
                {"metric": "receptive_field", "at_least": 7, "hidden": True,
                 "hint": "Every convolution should be 3 x 3: each one adds 2 px of view."}]}


def _shapes_accuracy() -> dict[str, Any]:
    return {"title": "90% on shapes, small",
            "instructions": "Design a network that learns the bundled shapes dataset (5 classes) from scratch: at "
                            "least 90% validation accuracy after 10 epochs, with no more than 20,000 parameters. "
                            "Accuracy is measured when your teacher runs the grading: each design really trains.",
            "input": [3, 32, 32], "start": {"input": [3, 32, 32], "layers": [
                *_unit(16), {"type": "maxpool2d", "kernel_size": 2}, {"type": "global_avgpool"}, {"type": "flatten"},
                {"type": "linear", "out_features": 5}]},
            "criteria": [
                {"metric": "val_accuracy", "at_least": 0.9, "dataset": "shapes", "epochs": 10},
                {"metric": "params", "at_most": 20_000}]}


def accuracy_available() -> bool:
    """Whether designs can be trained from scratch here (the accuracy criteria need it)."""
    import importlib.util

    return importlib.util.find_spec("playground.finetune.scratch") is not None


# title -> the file-format dict; the accuracy one only where designs can be trained
PRESETS: dict[str, Any] = {p()["title"]: p for p in (_field_budget, _halve_params, _same_padding)}
if accuracy_available():
    PRESETS[_shapes_accuracy()["title"]] = _shapes_accuracy


def preset(title: str) -> Assignment:
    """The ready-made assignment with this title (KeyError if there is none)."""
    return parse_assignment(PRESETS[title]())
