"""Every CNN of torchvision as a design: parameters against torchvision's weights metadata for every name
(analytic, cheap), MACs against the graph analysis of the real model for a representative subset (the full
sweep is ``-m slow``), the names against torchvision's list, and the converter's reasons for the rest."""
from __future__ import annotations

import pytest
import torchvision

from playground.arch.landmarks import designer_spec
from playground.design.analysis import analyze
from playground.design.from_torchvision import (
    TORCHVISION_DESIGNS,
    DesignError,
    design_title,
    not_expressible,
    torchvision_spec,
)
from playground.design.torchvision_check import check_design
from playground.spec.share import decode_share, encode_share

# One per family: plain stacks, residual, grouped, Inception (named and spelled out), dense, Fire, split +
# shuffle, inverted residuals with and without SE, MBConv / Fused-MBConv, RegNet's branches, ConvNeXt.
SUBSET = ["alexnet", "vgg11_bn", "resnet18", "resnext50_32x4d", "googlenet", "inception_v3", "densenet121",
          "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small",
          "efficientnet_b0", "efficientnet_v2_s", "regnet_y_400mf", "regnet_x_400mf", "convnext_tiny"]


def test_the_names_are_torchvisions_cnns() -> None:
    classifiers = set(torchvision.models.list_models(module=torchvision.models))
    assert set(TORCHVISION_DESIGNS) | set(not_expressible()) == classifiers
    assert all(name.startswith(("vit_", "swin_", "maxvit_")) for name in not_expressible())
    assert all("self-attention" in why for why in not_expressible().values())
    assert set(SUBSET) <= set(TORCHVISION_DESIGNS) and len(set(TORCHVISION_DESIGNS)) == len(TORCHVISION_DESIGNS)


@pytest.mark.parametrize("name", TORCHVISION_DESIGNS)
def test_parameters_equal_torchvisions_metadata(name: str) -> None:
    row = check_design(name, graph=False)
    assert row.params == row.torchvision_params - row.aux_params, name
    assert row.aux_params == (3_326_696 if name == "inception_v3" else 0)  # its AuxLogits head, left out


@pytest.mark.parametrize("name", SUBSET)
def test_macs_equal_the_graph_analysis(name: str) -> None:
    row = check_design(name)
    assert row.exact and row.macs == row.graph_macs, row


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in TORCHVISION_DESIGNS if n not in SUBSET])
def test_macs_equal_the_graph_analysis_for_every_design(name: str) -> None:
    row = check_design(name)
    assert row.exact and row.macs == row.graph_macs, row


def test_designs_are_editable_specs_that_share_and_open() -> None:
    spec = torchvision_spec("efficientnet_b0")
    assert spec["name"] == "EfficientNet-B0" and spec["input"] == [3, 224, 224]
    assert [layer["type"] for layer in spec["layers"]].count("mbconv") == 16  # named blocks, not primitives
    assert decode_share(encode_share(spec)) == spec and designer_spec("efficientnet_b0") == spec
    spec["layers"].pop()  # a private copy: the cached design is unchanged
    assert torchvision_spec("efficientnet_b0") != spec
    assert torchvision_spec("inception_v3")["input"] == [3, 299, 299]
    assert torchvision_spec("resnet50", side=128)["input"] == [3, 128, 128]
    assert analyze(torchvision_spec("densenet121")).output_shape == (1000,)
    with pytest.raises(DesignError, match="self-attention"):
        torchvision_spec("vit_b_16")
    with pytest.raises(DesignError, match="unknown torchvision classifier"):
        torchvision_spec("resnet19")
    assert [design_title(n) for n in ("regnet_y_1_6gf", "shufflenet_v2_x1_0", "vgg16_bn", "wide_resnet50_2")] == [
        "RegNet-Y 1.6GF", "ShuffleNet-V2 1.0×", "VGG-16 (BN)", "Wide ResNet-50-2"]
