"""The catalogue: honest literature figures, and designer specs equal to the real models."""
from __future__ import annotations

import pytest
import torchvision

from playground.arch.landmarks import LANDMARKS, designer_spec, resnet_spec, torchvision_metrics, vgg_spec
from playground.arch.measure import analyze_architecture
from playground.design.analysis import analyze
from playground.design.presets import PRESETS
from playground.spec.share import decode_share, encode_share

DESIGNER_KEYS = ["alexnet", "vgg16", "vgg19", "resnet18", "resnet50", "resnet152", "mobilenet_v1"]


def test_entries_are_complete_and_never_invent_a_top5() -> None:
    for key, entry in LANDMARKS.items():
        assert entry.key == key and 2012 <= entry.year <= 2022 and entry.key_idea and entry.paper
        assert entry.results, key
        for result in entry.results:
            assert result.top1_error is not None or result.top5_error is not None
            if result.top5_error is None:
                assert "top-5 not reported" in result.protocol, key
            if result.ensemble:
                assert "ensemble" in result.protocol, key


def test_primer_headline_figures() -> None:
    headline = {key: entry.headline for key, entry in LANDMARKS.items()}
    assert (headline["alexnet"].top5_error, headline["alexnet"].ensemble) == (15.3, True)
    assert (headline["vgg16"].top5_error, headline["vgg16"].ensemble) == (7.3, True)
    assert (headline["googlenet"].top5_error, headline["googlenet"].ensemble) == (6.67, True)
    assert (headline["resnet152"].top5_error, headline["resnet152"].ensemble) == (3.57, True)
    assert (headline["efficientnet_b7"].top5_error, headline["efficientnet_b7"].ensemble) == (2.9, False)
    for top1_only in ("convnext_tiny", "vit_b_16", "mobilenet_v2", "mobilenet_v3_large", "resnet18"):
        assert headline[top1_only].top5_error is None and headline[top1_only].top1_error is not None


def test_secondary_results_and_their_protocols() -> None:
    """VGG's post-submission 6.8 % and ResNet-50's two single-model protocols, each in its own table."""
    vgg = {r.top5_error: r for r in LANDMARKS["vgg16"].results}
    assert vgg[7.3].ensemble and vgg[6.8].ensemble and "after the competition" in vgg[6.8].protocol
    assert LANDMARKS["vgg19"].results == LANDMARKS["vgg16"].results
    r50 = {r.source: (r.top1_error, r.top5_error, r.protocol) for r in LANDMARKS["resnet50"].results}
    assert r50["Table 3"][:2] == (22.85, 6.71) and "10-crop" in r50["Table 3"][2]
    assert r50["Table 4"][:2] == (20.74, 5.25) and "multi-scale" in r50["Table 4"][2]
    r152 = {r.source: (r.top1_error, r.top5_error) for r in LANDMARKS["resnet152"].results}
    assert r152["Table 3"] == (21.43, 5.71) and r152["Table 4"] == (19.38, 4.49)


def test_torchvision_names_and_metadata_exist() -> None:
    names = set(torchvision.models.list_models(module=torchvision.models))
    for key, entry in LANDMARKS.items():
        assert (key in names) == (entry.spec is None), key
        metrics = torchvision_metrics(key)
        if entry.tv_weights:
            assert 0 < metrics["top1_error"] < 50 and 0 < metrics["top5_error"] < metrics["top1_error"]
        else:
            assert metrics is None


@pytest.mark.parametrize("key", DESIGNER_KEYS)
def test_designer_spec_is_the_real_model(key: str) -> None:
    """What "Open in designer" opens has the torchvision model's params, MACs and receptive field."""
    spec = designer_spec(key)
    report = analyze(spec)
    real = analyze_architecture(key)
    assert report.total_params == real.total_params
    assert report.total_macs == real.conv_linear_macs
    # the last feature map: the layer before global pooling / flatten (the designer gives a global pool
    # the field of everything it averages; archstats ends spatial tracking there)
    head = next(i for i, layer in enumerate(report.layers) if layer.type in ("global_avgpool", "flatten"))
    last_map = report.layers[head - 1]
    assert tuple(last_map.receptive_field) == real.receptive_field
    assert decode_share(encode_share(spec)) == spec


def test_generators_match_the_designer_presets_where_both_exist() -> None:
    assert analyze(vgg_spec(16)).to_dict() == analyze(PRESETS["VGG-16"]).to_dict()
    assert analyze(resnet_spec(18)).to_dict() == analyze(PRESETS["ResNet-18-style"]).to_dict()
    assert designer_spec("vit_b_16") is None  # self-attention: no layer-spec equivalent
    assert analyze(designer_spec("efficientnet_b0")).total_params == analyze_architecture("efficientnet_b0").total_params
