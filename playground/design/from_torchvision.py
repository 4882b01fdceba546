"""Every CNN in torchvision as an exact, editable design: ``torchvision_spec("efficientnet_b0")``.

The model is built from torchvision's own definition without weights (parameters on the ``meta``
device: no memory, no download), and its modules are read in the order its ``forward`` runs them
(:data:`FAMILIES`: which children, and the functional steps ``forward`` adds between them, such as
DenseNet's final ReLU or ``torch.flatten``); :mod:`playground.design.torchvision_blocks` converts each
module. The result is a layer spec whose parameter count equals torchvision's weights metadata
(``weights.meta["num_params"]``) and whose MACs equal the graph analysis of the torchvision model at the
same input size (:mod:`playground.design.torchvision_check`): ``bench/designs_table.py`` prints the table, the
tests check it.

Not expressible: the transformers (ViT, Swin, MaxViT) — self-attention has no layer-spec equivalent.
Inception-v3 and GoogLeNet come without their training-time auxiliary classifiers (as torchvision
evaluates them); their input normalisation (``transform_input``, no parameters) is left out.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from playground.design.torchvision_blocks import NotExpressible, convert
from playground.errors import PlaygroundError

__all__ = ["torchvision_spec", "TORCHVISION_DESIGNS", "NOT_EXPRESSIBLE", "not_expressible", "FAMILIES",
           "NotExpressible", "build_meta", "native_side", "design_title", "num_params", "aux_params", "DesignError"]

# class name -> its forward, in order: child attribute names, or layer dicts for the functional steps
_HEAD = ({"type": "flatten"},)
FAMILIES: dict[str, tuple[str | dict[str, Any], ...]] = {
    "AlexNet": ("features", "avgpool", *_HEAD, "classifier"),
    "VGG": ("features", "avgpool", *_HEAD, "classifier"),
    "ResNet": ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", *_HEAD, "fc"),
    "GoogLeNet": ("conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
                  "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
                  "inception5a", "inception5b", "avgpool", *_HEAD, "dropout", "fc"),
    "Inception3": ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                   "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                   "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "avgpool", "dropout", *_HEAD, "fc"),
    "DenseNet": ("features", {"type": "relu"}, {"type": "global_avgpool"}, *_HEAD, "classifier"),
    "SqueezeNet": ("features", "classifier", *_HEAD),
    "ShuffleNetV2": ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", {"type": "global_avgpool"},
                     *_HEAD, "fc"),  # x.mean([2, 3])
    "MNASNet": ("layers", {"type": "global_avgpool"}, *_HEAD, "classifier"),  # x.mean([2, 3])
    "MobileNetV2": ("features", {"type": "global_avgpool"}, *_HEAD, "classifier"),
    "MobileNetV3": ("features", "avgpool", *_HEAD, "classifier"),
    "EfficientNet": ("features", "avgpool", *_HEAD, "classifier"),
    "RegNet": ("stem", "trunk_output", "avgpool", *_HEAD, "fc"),
    "ConvNeXt": ("features", "avgpool", "classifier"),
}

NOT_EXPRESSIBLE: dict[str, str] = {
    "vit_": "self-attention over patch tokens (a Transformer): no layer-spec equivalent",
    "swin_": "shifted-window self-attention (a Transformer): no layer-spec equivalent",
    "maxvit_": "block and grid self-attention (a Transformer hybrid): no layer-spec equivalent",
}
"""Name prefix -> why those torchvision classifiers cannot be designs."""


_BUILD_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}


class DesignError(PlaygroundError):
    """A name that is not a torchvision classifier, or one the layer spec cannot express (message says why)."""


@lru_cache(maxsize=1)
def _classifiers() -> tuple[str, ...]:
    import torchvision

    return tuple(sorted(torchvision.models.list_models(module=torchvision.models)))


def _why_not(name: str) -> str | None:
    return next((why for prefix, why in NOT_EXPRESSIBLE.items() if name.startswith(prefix)), None)


def not_expressible() -> dict[str, str]:
    """Every torchvision classifier that is not a design, with the reason (imports torchvision)."""
    return {name: _why_not(name) or "no converter yet" for name in _classifiers() if name not in TORCHVISION_DESIGNS}


TORCHVISION_DESIGNS: tuple[str, ...] = (
    "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
    "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "googlenet", "inception_v3", "densenet121",
    "densenet161", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0", "mnasnet0_5", "mnasnet0_75", "mnasnet1_0",
    "mnasnet1_3", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", *(f"efficientnet_b{i}" for i in range(8)),
    "efficientnet_v2_s", "efficientnet_v2_m", "efficientnet_v2_l", "regnet_x_400mf", "regnet_x_800mf",
    "regnet_x_1_6gf", "regnet_x_3_2gf", "regnet_x_8gf", "regnet_x_16gf", "regnet_x_32gf", "regnet_y_400mf",
    "regnet_y_800mf", "regnet_y_1_6gf", "regnet_y_3_2gf", "regnet_y_8gf", "regnet_y_16gf", "regnet_y_32gf",
    "regnet_y_128gf", "convnext_tiny", "convnext_small", "convnext_base", "convnext_large",
)
"""Every torchvision classification model the layer spec expresses exactly (all but the transformers), by
family; data, so listing them imports nothing (a test checks it against ``torchvision.models.list_models``)."""


@contextmanager
def _meta_parameters() -> Iterator[None]:
    """Parameters and buffers born on the ``meta`` device, other tensors on the CPU: RegNet works its widths
    out with real tensors, which ``torch.device("meta")`` would leave unreadable. Thread-local (a torch
    function mode), so other sessions' PyTorch work is untouched."""
    import torch
    from torch.overrides import TorchFunctionMode

    factories = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn}

    class MetaParameters(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = dict(kwargs or {})
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            return func(*args, **kwargs)

    with MetaParameters():
        yield


def build_meta(name: str) -> Any:
    """torchvision's ``name`` built without weights, parameters on the meta device (eval mode)."""
    import torchvision

    with warnings.catch_warnings(), _meta_parameters():
        warnings.simplefilter("ignore")  # GoogLeNet / Inception warn that their default init will change
        return torchvision.models.get_model(name, weights=None, **_BUILD_KWARGS.get(name, {})).eval()


def native_side(name: str) -> int:
    """The input side torchvision evaluates ``name``'s first weights at (its centre crop)."""
    import torchvision

    weights = list(torchvision.models.get_model_weights(name))[0]
    return int(weights.transforms().crop_size[0])


def num_params(name: str) -> int:
    """torchvision's own parameter count for ``name`` (its weights' metadata: no download)."""
    import torchvision

    return int(list(torchvision.models.get_model_weights(name))[0].meta["num_params"])


_TITLES = (  # (pattern, title template) for design_title, first match wins
    (r"resnet(\d+)", "ResNet-{0}"), (r"resnext(\d+)_(\w+)", "ResNeXt-{0} {1}"),
    (r"wide_resnet(\d+)_2", "Wide ResNet-{0}-2"), (r"vgg(\d+)_bn", "VGG-{0} (BN)"), (r"vgg(\d+)", "VGG-{0}"),
    (r"densenet(\d+)", "DenseNet-{0}"), (r"squeezenet(\d)_(\d)", "SqueezeNet {0}.{1}"),
    (r"shufflenet_v2_x(\d)_(\d)", "ShuffleNet-V2 {0}.{1}×"), (r"mnasnet(\d)_(\d+)", "MNASNet {0}.{1}"),
    (r"mobilenet_v(\d)_(\w+)", "MobileNet-V{0}-{1}"), (r"mobilenet_v(\d)", "MobileNet-V{0}"),
    (r"efficientnet_v2_(\w)", "EfficientNet-V2-{0}"), (r"efficientnet_(\w+)", "EfficientNet-{0}"),
    (r"regnet_(\w)_(\d+)_(\d)gf", "RegNet-{0} {1}.{2}GF"), (r"regnet_(\w)_(\d+)(\w\w)", "RegNet-{0} {1}{2}"),
    (r"convnext_(\w+)", "ConvNeXt-{0}"), (r"googlenet", "GoogLeNet"), (r"inception_v3", "Inception-v3"),
    (r"alexnet", "AlexNet"),
)


def design_title(name: str) -> str:
    """A display name: ``efficientnet_b0`` -> ``EfficientNet-B0``, ``regnet_y_1_6gf`` -> ``RegNet-Y 1.6GF``."""
    import re

    for pattern, template in _TITLES:
        found = re.fullmatch(pattern, name)
        if found:
            parts = [p.upper() if len(p) <= 2 else p.capitalize() if p.isalpha() else p for p in found.groups()]
            return template.format(*parts)
    return name


@lru_cache(maxsize=64)
def _spec(name: str) -> dict[str, Any]:
    why = _why_not(name)
    if why is not None:
        raise DesignError(f"{name}: {why}")
    if name not in TORCHVISION_DESIGNS:
        raise DesignError(f"unknown torchvision classifier {name!r}; choose one of {', '.join(TORCHVISION_DESIGNS)}")
    model = build_meta(name)
    recipe = FAMILIES.get(type(model).__name__)
    if recipe is None:
        raise DesignError(f"{name}: no recipe for torchvision's {type(model).__name__} yet")
    layers: list[dict[str, Any]] = []
    for step in recipe:
        layers += [copy.deepcopy(step)] if isinstance(step, dict) else convert(getattr(model, step))
    side = native_side(name)
    return {"name": design_title(name), "input": [3, side, side], "layers": layers}


def torchvision_spec(name: str, side: int | None = None) -> dict[str, Any]:
    """The layer spec of torchvision's ``name`` (a fresh copy to edit), on a ``side``×``side`` input (default:
    the size its weights were evaluated at). DesignError for a transformer or an unknown name."""
    spec = copy.deepcopy(_spec(name))
    if side is not None:
        spec["input"] = [3, int(side), int(side)]
    return spec


def aux_params(name: str) -> int:
    """Parameters of the auxiliary classifiers counted in ``name``'s weights metadata (Inception-v3's
    ``AuxLogits``; GoogLeNet's weights come without theirs), which the design leaves out."""
    if name != "inception_v3":
        return 0
    import torchvision

    with warnings.catch_warnings(), _meta_parameters():
        warnings.simplefilter("ignore")
        model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    return sum(p.numel() for p in model.AuxLogits.parameters())
