"""playground.models.compare: MACs counted two ways agree, latency is measured, one class explained by all."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from playground.arch.measure import analyze_architecture
from playground.catalog import load_model
from playground.models.compare import (
    ARCH_ANALYSIS,
    LATENCY_RUNS,
    MODULE_HOOKS,
    CompareError,
    compare_models,
    count_macs,
    model_cost,
)
from playground.samples import load_sample
from tests.support.model_data import write_finetuned


def test_hook_count_matches_the_architectures_analysis_on_mobilenet_v2() -> None:
    with torch.device("meta"):
        model = torchvision.models.mobilenet_v2()
    report = analyze_architecture("mobilenet_v2", (3, 224, 224))
    assert count_macs(model, 224) == report.conv_linear_macs == 300_774_272


def test_hook_count_by_hand() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1), nn.Conv2d(8, 8, 3, padding=1, groups=8),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    # 16x16 -> 8x8: 8*8*8*3*3*3 + 8*8*8*1*3*3 + 8*4
    assert count_macs(model, 16) == 8 * 8 * 8 * 27 + 8 * 8 * 8 * 9 + 32


@pytest.fixture(scope="module")
def pair():
    return [load_model("efficientnet_lite0"), load_model("mobilenet_v2")]


def test_costs_say_how_they_were_counted(pair) -> None:
    lite, mobile = (model_cost(m) for m in pair)
    # EfficientNet-Lite0: 4.65 M parameters and 0.385 G MACs at 224 (as published for the TF model)
    assert (lite.params, lite.macs, lite.input_side, lite.method) == (4_652_008, 385_187_552, 224, MODULE_HOOKS)
    assert (mobile.params, mobile.macs, mobile.method) == (3_504_872, 300_774_272, ARCH_ANALYSIS)


def test_compare_two_models_on_one_photo(pair) -> None:
    coffee = load_sample("Coffee cup")
    rows = compare_models(pair, coffee)
    assert [r.name for r in rows] == ["efficientnet_lite0", "mobilenet_v2"]
    for r in rows:
        probs = [p for _, _, p in r.prediction.top]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert r.cam.class_index == rows[0].prediction.top[0][1] == 967  # the first model's top class, for all
        assert len(r.latency.runs_ms) == LATENCY_RUNS and r.latency.median_ms > 0 and r.latency.device == "cpu"
    cup = compare_models(pair, coffee, class_index=968, latency_runs=1)
    assert [r.cam.label for r in cup] == ["cup", "cup"]
    assert cup[0].cam.probability != cup[1].cam.probability


def test_models_with_other_classes_cannot_be_compared(pair, tmp_path) -> None:
    write_finetuned(tmp_path / "fruit")
    with pytest.raises(CompareError, match="different classes"):
        compare_models([pair[0], load_model(tmp_path / "fruit")], load_sample("Coffee cup"))
    with pytest.raises(CompareError, match="two or more"):
        compare_models(pair[:1], load_sample("Coffee cup"))
