"""The landmark-architecture catalogue: data, not logic.

Each entry names a torchvision builder (built without weights by :mod:`playground.arch.measure`),
the year and key idea, the depth as the paper counts it, and ImageNet results *as the paper reports
them*, with the evaluation protocol spelled out (single model or ensemble, which split, which crops).
Where a paper reports only top-1, top-5 stays ``None``: nothing here is estimated.

``designer_spec(key)`` gives, for every model the designer's layer spec can express (all the CNNs; not
the transformers), a spec with exactly the reference parameter count and MACs, to open through a share
link (AlexNet and MobileNet-V1 are the designer's own presets).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playground.design.presets import preset

__all__ = [
    "Result",
    "Landmark",
    "LANDMARKS",
    "designer_spec",
    "torchvision_metrics",
    "vgg_spec",
    "resnet_spec",
]


@dataclass(frozen=True)
class Result:
    """One ImageNet (ILSVRC-2012 classes) result from the literature, with how it was measured."""

    top1_error: float | None  # percent
    top5_error: float | None  # percent; None when the paper does not report it
    protocol: str  # split, crops, single model or ensemble
    ensemble: bool
    source: str  # where in the paper


@dataclass(frozen=True)
class Landmark:
    """One catalogue entry."""

    key: str  # torchvision builder name (or a name of our own for spec-built models)
    title: str
    family: str
    year: int
    key_idea: str
    paper: str
    published_depth: str
    results: tuple[Result, ...]  # the first is the headline figure
    native_resolution: int = 224  # the input side the headline result was measured at
    tv_weights: str | None = None  # torchvision weights enum entry holding its reproduced accuracy
    builder_kwargs: dict[str, Any] = field(default_factory=dict)
    spec: Callable[[], dict[str, Any]] | None = None  # for models torchvision lacks: built from a layer spec
    note: str = ""  # where torchvision's definition differs from the paper

    @property
    def headline(self) -> Result:
        """The figure a summary table quotes (ensembles included; see ``Result.ensemble``)."""
        return self.results[0]


# --------------------------------------------------------------------------- designer specs


def _conv(out: int, k: int, stride: int = 1, padding: int = 0, bias: bool = True) -> dict[str, Any]:
    return {"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": stride, "padding": padding,
            "dilation": 1, "groups": 1, "bias": bias}


# channels per conv, "M" = 2×2 max-pool (torchvision's cfgs "A", "B", "D" and "E")
_VGG_CFGS: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def vgg_spec(depth: int = 16, classes: int = 1000) -> dict[str, Any]:
    """torchvision's VGG-11/13/16/19 (no batch norm) as a layer spec, for 224×224 inputs.

    The adaptive 7×7 average pool is left out: at 224×224 the map is already 7×7, so it is a no-op.
    """
    layers: list[dict[str, Any]] = []
    for item in _VGG_CFGS[depth]:
        if item == "M":
            layers.append({"type": "maxpool2d", "kernel_size": 2, "stride": 2})
        else:
            layers += [_conv(int(item), 3, padding=1), {"type": "relu"}]
    layers.append({"type": "flatten"})
    for _ in range(2):
        layers += [{"type": "linear", "out_features": 4096}, {"type": "relu"}, {"type": "dropout", "p": 0.5}]
    layers.append({"type": "linear", "out_features": classes})
    return {"input": [3, 224, 224], "layers": layers}


_RESNET_LAYERS = {18: ("residual", [2, 2, 2, 2]), 34: ("residual", [3, 4, 6, 3]),
                  50: ("bottleneck", [3, 4, 6, 3]), 101: ("bottleneck", [3, 4, 23, 3]),
                  152: ("bottleneck", [3, 8, 36, 3])}


def resnet_spec(depth: int = 50, classes: int = 1000) -> dict[str, Any]:
    """torchvision's ResNet-18/34/50/101/152 as a layer spec (residual / bottleneck blocks)."""
    block, counts = _RESNET_LAYERS[depth]
    expansion = 4 if block == "bottleneck" else 1
    layers: list[dict[str, Any]] = [
        _conv(64, 7, stride=2, padding=3, bias=False),
        {"type": "batchnorm2d"},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
    ]
    for stage, count in enumerate(counts):
        width = 64 * 2**stage * expansion
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append({"type": block, "out_channels": width, "stride": stride})
    layers += [{"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": classes}]
    return {"input": [3, 224, 224], "layers": layers}


_DESIGNER_SPECS: dict[str, Callable[[], dict[str, Any]]] = {
    "vgg16": lambda: vgg_spec(16),
    "vgg19": lambda: vgg_spec(19),
    "resnet18": lambda: resnet_spec(18),
    "resnet50": lambda: resnet_spec(50),
    "resnet152": lambda: resnet_spec(152),
    "alexnet": lambda: preset("AlexNet-like"),
    "mobilenet_v1": lambda: preset("MobileNet-V1-style"),
}


def designer_spec(key: str) -> dict[str, Any] | None:
    """The designer spec for a catalogue or torchvision model, or None when the spec cannot express it
    (the transformers). Every torchvision CNN comes in exactly (same parameters and MACs), through
    :func:`playground.design.from_torchvision.torchvision_spec`, at the input size its weights were
    evaluated at; the generators above give the classic stacks at 224×224."""
    make = _DESIGNER_SPECS.get(key)
    if make:
        return make()
    from playground.design.from_torchvision import TORCHVISION_DESIGNS, torchvision_spec

    return torchvision_spec(key) if key in TORCHVISION_DESIGNS else None


# --------------------------------------------------------------------------- the catalogue

_KRIZHEVSKY = ("Krizhevsky, Sutskever & Hinton, “ImageNet Classification with Deep Convolutional Neural Networks”, "
               "NIPS 2012")
_SIMONYAN = ("Simonyan & Zisserman, “Very Deep Convolutional Networks for Large-Scale Image Recognition”, "
             "ICLR 2015 (arXiv 2014)")
_SZEGEDY = "Szegedy et al., “Going Deeper with Convolutions”, CVPR 2015 (arXiv 2014)"
_HE = "He, Zhang, Ren & Sun, “Deep Residual Learning for Image Recognition”, CVPR 2016 (arXiv 2015)"
_HOWARD17 = ("Howard et al., “MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications”, "
             "arXiv 2017")
_SANDLER = "Sandler et al., “MobileNetV2: Inverted Residuals and Linear Bottlenecks”, CVPR 2018"
_HOWARD19 = "Howard et al., “Searching for MobileNetV3”, ICCV 2019"
_TAN = "Tan & Le, “EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks”, ICML 2019"
_LIU = "Liu et al., “A ConvNet for the 2020s”, CVPR 2022"
_DOSOVITSKIY = ("Dosovitskiy et al., “An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale”, "
                "ICLR 2021")

_VGG_IDEA = ("Depth from uniformity: only 3×3 convolutions (two of them see as far as one 5×5 with fewer "
             "weights and an extra non-linearity), channels doubling after each 2×2 max-pool.")
_VGG_RESULTS = (
    Result(None, 7.3, "ILSVRC-2014 test set; the submitted ensemble of 7 VGG networks (dense evaluation)", True,
           "Section 4.4 and Table 7"),
    Result(None, 6.8, "ILSVRC-2014 test set, after the competition; ensemble of the two best networks (16 and 19 "
           "layers), dense and multi-crop evaluation combined", True, "Section 4.4 and Table 7"),
)
_RESNET_IDEA = ("Residual connections: each block learns a correction F(x) that is added to its input, so the "
                "signal and its gradient pass straight through the identity path and 50–152-layer networks train.")
_EFFNET_IDEA = ("Compound scaling: depth, width and input resolution grow together by fixed ratios from a "
                "searched baseline (B0: MBConv blocks with squeeze-and-excitation); B1–B7 are scaled copies.")

LANDMARKS: dict[str, Landmark] = {
    "alexnet": Landmark(
        key="alexnet", title="AlexNet", family="AlexNet", year=2012, paper=_KRIZHEVSKY,
        key_idea="A deep CNN trained on GPUs won ImageNet by a wide margin: ReLU for fast training, dropout "
                 "in the big fully connected layers, overlapping max-pooling and data augmentation.",
        published_depth="8 weight layers (5 conv + 3 fully connected)",
        results=(
            Result(36.7, 15.3, "ILSVRC-2012 test set; ensemble of 7 CNNs, two of them pre-trained on the "
                   "larger ImageNet Fall-2011 release (top-1 is on validation)", True, "Table 2"),
            Result(40.7, 18.2, "ILSVRC-2012 validation; one CNN", False, "Table 2"),
        ),
        tv_weights="AlexNet_Weights.IMAGENET1K_V1",
        note="torchvision follows the single-GPU variant of Krizhevsky's later “One weird trick” paper "
             "(64-192-384-256-256 channels), hence 61.1 M parameters rather than the paper's 60 M.",
    ),
    "vgg16": Landmark(
        key="vgg16", title="VGG-16", family="VGG", year=2014, paper=_SIMONYAN, key_idea=_VGG_IDEA,
        published_depth="16 weight layers (13 conv + 3 fully connected)", results=_VGG_RESULTS,
        tv_weights="VGG16_Weights.IMAGENET1K_V1",
    ),
    "vgg19": Landmark(
        key="vgg19", title="VGG-19", family="VGG", year=2014, paper=_SIMONYAN, key_idea=_VGG_IDEA,
        published_depth="19 weight layers (16 conv + 3 fully connected)", results=_VGG_RESULTS,
        tv_weights="VGG19_Weights.IMAGENET1K_V1",
    ),
    "googlenet": Landmark(
        key="googlenet", title="GoogLeNet", family="Inception", year=2014, paper=_SZEGEDY,
        key_idea="Inception modules: 1×1, 3×3 and 5×5 convolutions and a pooling branch side by side, with "
                 "1×1 convolutions shrinking channels first so the module stays cheap; global average "
                 "pooling instead of big fully connected layers.",
        published_depth="22 layers with parameters (27 counting pooling)",
        results=(
            Result(None, 6.67, "ILSVRC-2014 test set; ensemble of 7 models, 144 crops per image", True, "Table 2"),
            Result(None, 10.07, "ILSVRC-2014 validation; one model, one crop", False, "Table 3"),
        ),
        tv_weights="GoogLeNet_Weights.IMAGENET1K_V1",
        builder_kwargs={"aux_logits": False, "init_weights": True},
        note="torchvision adds batch norm and uses a 3×3 conv where the paper's 5×5 branch is (as the "
             "ported TensorFlow weights do); the two training-time auxiliary classifiers are left out.",
    ),
    "resnet18": Landmark(
        key="resnet18", title="ResNet-18", family="ResNet", year=2015, paper=_HE, key_idea=_RESNET_IDEA,
        published_depth="18 layers (basic blocks of two 3×3 convs)",
        results=(Result(27.88, None, "ILSVRC-2012 validation; one model, 10-crop (top-5 not reported)", False,
                        "Table 2"),),
        tv_weights="ResNet18_Weights.IMAGENET1K_V1",
    ),
    "resnet50": Landmark(
        key="resnet50", title="ResNet-50", family="ResNet", year=2015, paper=_HE, key_idea=_RESNET_IDEA +
        " Bottleneck blocks (1×1 → 3×3 → 1×1) keep the deep versions affordable.",
        published_depth="50 layers (bottleneck blocks)",
        results=(
            Result(22.85, 6.71, "ILSVRC-2012 validation; one model, 10-crop", False, "Table 3"),
            Result(20.74, 5.25, "ILSVRC-2012 validation; one model, multi-scale fully convolutional testing",
                   False, "Table 4"),
        ),
        tv_weights="ResNet50_Weights.IMAGENET1K_V1",
        note="torchvision's ResNet-50 is “v1.5”: the stride-2 of each stage's first block sits on the 3×3 "
             "conv, not the first 1×1 as in the paper, which costs more MACs (4.09 G vs 3.86 G).",
    ),
    "resnet152": Landmark(
        key="resnet152", title="ResNet-152", family="ResNet", year=2015, paper=_HE, key_idea=_RESNET_IDEA +
        " Bottleneck blocks (1×1 → 3×3 → 1×1) keep the deep versions affordable.",
        published_depth="152 layers (bottleneck blocks)",
        results=(
            Result(None, 3.57, "ILSVRC-2015 test set; ensemble of 6 models of different depths (the winning entry)",
                   True, "Table 5"),
            Result(21.43, 5.71, "ILSVRC-2012 validation; one model, 10-crop", False, "Table 3"),
            Result(19.38, 4.49, "ILSVRC-2012 validation; one model, multi-scale fully convolutional testing",
                   False, "Table 4"),
        ),
        tv_weights="ResNet152_Weights.IMAGENET1K_V1",
    ),
    "mobilenet_v1": Landmark(
        key="mobilenet_v1", title="MobileNet-V1", family="MobileNet", year=2017, paper=_HOWARD17,
        key_idea="Depthwise-separable convolutions everywhere: a per-channel 3×3 filter followed by a 1×1 "
                 "that mixes channels, 8–9× cheaper than a full 3×3; width and resolution multipliers trade "
                 "accuracy for speed.",
        published_depth="28 layers (depthwise and pointwise counted separately)",
        results=(Result(29.4, None, "ImageNet validation; 1.0 MobileNet-224, one model (top-1 70.6%; top-5 not "
                        "reported)", False, "Table 8"),),
        spec=lambda: preset("MobileNet-V1-style"),
        note="torchvision has no MobileNet-V1: this one is built from the designer's layer spec (dwsep blocks).",
    ),
    "mobilenet_v2": Landmark(
        key="mobilenet_v2", title="MobileNet-V2", family="MobileNet", year=2018, paper=_SANDLER,
        key_idea="Inverted residuals with linear bottlenecks: a 1×1 expands a thin tensor, a depthwise 3×3 "
                 "filters it, a linear 1×1 projects it back, and the skip joins the thin ends.",
        published_depth="17 inverted-residual blocks between a 3×3 stem and a 1×1 head conv",
        results=(Result(28.0, None, "ImageNet validation; one model, 224×224 (top-1 72.0%; top-5 not reported)",
                        False, "Table 4"),),
        tv_weights="MobileNet_V2_Weights.IMAGENET1K_V1",
    ),
    "mobilenet_v3_large": Landmark(
        key="mobilenet_v3_large", title="MobileNet-V3-Large", family="MobileNet", year=2019, paper=_HOWARD19,
        key_idea="Found by hardware-aware architecture search: MobileNet-V2 blocks plus squeeze-and-excitation "
                 "and the cheap hard-swish activation, with a slimmed last stage.",
        published_depth="15 bottleneck blocks",
        results=(Result(24.8, None, "ImageNet validation; one model, 224×224 (top-1 75.2%; top-5 not reported)",
                        False, "Table 3"),),
        tv_weights="MobileNet_V3_Large_Weights.IMAGENET1K_V1",
    ),
    "efficientnet_b0": Landmark(
        key="efficientnet_b0", title="EfficientNet-B0", family="EfficientNet", year=2019, paper=_TAN,
        key_idea=_EFFNET_IDEA, published_depth="16 MBConv blocks",
        results=(Result(23.7, 6.8, "ImageNet validation; one model, 224×224 (top-1 76.3%, top-5 93.2% in the "
                        "ICML version; later arXiv revisions report 77.1% / 93.3%)", False, "Table 2"),),
        tv_weights="EfficientNet_B0_Weights.IMAGENET1K_V1",
    ),
    "efficientnet_b7": Landmark(
        key="efficientnet_b7", title="EfficientNet-B7", family="EfficientNet", year=2019, paper=_TAN,
        key_idea=_EFFNET_IDEA, published_depth="55 MBConv blocks", native_resolution=600,
        results=(Result(15.6, 2.9, "ImageNet validation; one model, 600×600 (top-1 84.4%, top-5 97.1% in the "
                        "ICML version; later arXiv revisions report 84.3% / 97.0%)", False, "Table 2"),),
        tv_weights="EfficientNet_B7_Weights.IMAGENET1K_V1",
    ),
    "convnext_tiny": Landmark(
        key="convnext_tiny", title="ConvNeXt-Tiny", family="ConvNeXt", year=2022, paper=_LIU,
        key_idea="A ResNet modernised step by step with Transformer-era choices (patchify stem, 7×7 depthwise "
                 "convs, inverted bottlenecks, LayerNorm, GELU, fewer norms and activations): pure convolution "
                 "that matches Swin Transformers.",
        published_depth="18 ConvNeXt blocks in stages of 3-3-9-3",
        results=(Result(17.9, None, "ImageNet-1K validation; one model, 224×224, trained on ImageNet-1K only "
                        "(top-1 82.1%; top-5 not reported)", False, "Table 1"),),
        tv_weights="ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
    ),
    "vit_b_16": Landmark(
        key="vit_b_16", title="ViT-B/16", family="ViT", year=2020, paper=_DOSOVITSKIY,
        key_idea="No convolution beyond the first: the image is cut into 16×16 patches, each becomes a token, "
                 "and a standard Transformer encoder mixes them with self-attention. Little built-in locality, "
                 "so it needs large-scale pre-training.",
        published_depth="12 Transformer encoder blocks", native_resolution=384,
        results=(Result(16.03, None, "ImageNet validation; one model pre-trained on ImageNet-21k and fine-tuned at "
                        "384×384 (top-1 83.97%; 77.91% when trained on ImageNet-1k alone; top-5 not reported)",
                        False, "Table 5"),),
        tv_weights="ViT_B_16_Weights.IMAGENET1K_V1",
    ),
}


def torchvision_metrics(key: str) -> dict[str, Any] | None:
    """The accuracy torchvision measured for its own weights of this model (no download: package metadata).

    Single model, single centre crop, ImageNet-1K validation: one protocol for every entry.
    """
    entry = LANDMARKS.get(key)
    if entry is None or entry.tv_weights is None:
        return None
    import torchvision

    weights = torchvision.models.get_weight(entry.tv_weights)
    meta = weights.meta
    metrics = meta["_metrics"]["ImageNet-1K"]
    return {
        "weights": entry.tv_weights,
        "top1_error": round(100.0 - metrics["acc@1"], 3),
        "top5_error": round(100.0 - metrics["acc@5"], 3),
        "num_params": meta["num_params"],
        "gmacs": meta["_ops"],  # torchvision's “GFLOPS” column counts multiply-adds
        "resolution": int(weights.transforms().crop_size[0]),
        "recipe": meta.get("recipe", ""),
    }
