"""Several models on the same photo: what each predicts, where each looks, and what each costs.

:func:`compare_models` runs every model on one photo and returns one :class:`Compared` per model:
its top-k, a Grad-CAM of one class shared by all (the first model's top class, or the caller's),
its measured latency on this machine and its size (:class:`ModelCost`). The models must share one
label set (the zoo's ImageNet models do), so that "the same class" means the same thing.

Costs come from two places, and say which (``ModelCost.method``): torchvision architectures are
measured by the Architectures analysis (:mod:`playground.arch`, a torch.fx graph walk); modules it
cannot trace, such as EfficientNet-Lite (its TensorFlow "same" padding depends on the input size),
are counted with forward hooks on a weightless (meta-device) copy. Both count MACs the same way
(DESIGN.md: conv ``H_out·W_out·C_out·(C_in/groups)·kh·kw``, linear ``in·out``), and a test checks
that the two agree on MobileNet-V2.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from time import perf_counter

import torch
from PIL import Image
from torch import nn

from playground.errors import PlaygroundError
from playground.models.inference import GradCam, Prediction, grad_cam, predict
from playground.models.registry import MODELS, LoadedModel, replace_head

__all__ = [
    "ModelCost",
    "Latency",
    "Compared",
    "CompareError",
    "ARCH_ANALYSIS",
    "MODULE_HOOKS",
    "LATENCY_RUNS",
    "count_macs",
    "model_cost",
    "measure_latency",
    "shared_class",
    "check_comparable",
    "compare_models",
]

ARCH_ANALYSIS = "Architectures analysis (torch.fx graph)"
MODULE_HOOKS = "counted on the module (forward hooks)"
LATENCY_RUNS = 5  # timed forward passes per model, after one untimed warm-up pass
_TORCHVISION = "torchvision.models"


class CompareError(PlaygroundError):
    """Models that cannot be compared side by side (too few, or different label sets)."""


@dataclass(frozen=True)
class ModelCost:
    """Size and compute of one model for one image at its own input size."""

    params: int
    macs: int
    input_side: int  # the crop the model sees
    method: str  # ARCH_ANALYSIS or MODULE_HOOKS


@dataclass(frozen=True)
class Latency:
    """Forward-pass time of one image, measured here: the median of ``runs_ms`` (warm)."""

    median_ms: float
    runs_ms: tuple[float, ...]
    device: str


@dataclass(frozen=True)
class Compared:
    """One model's column of a comparison."""

    name: str
    prediction: Prediction
    cam: GradCam
    cost: ModelCost
    latency: Latency


def count_macs(model: nn.Module, input_side: int) -> int:
    """Multiply-accumulates of one ``(1, 3, side, side)`` image, from forward hooks on every conv
    and linear layer. Run on a meta-device copy where possible: no memory, no arithmetic."""
    total = 0

    def conv_hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        total += out[0].numel() * (module.in_channels // module.groups) * kh * kw  # per output element

    def linear_hook(module: nn.Module, _inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += out[0].numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.inference_mode():
            model.eval()(torch.empty(1, 3, input_side, input_side, device=device))
    finally:
        for h in handles:
            h.remove()
    return total


@lru_cache(maxsize=32)
def _cost(arch: str, num_classes: int, side: int) -> ModelCost:
    entry = MODELS[arch]
    builder = getattr(entry.builder, "func", entry.builder)
    if builder.__module__.startswith(_TORCHVISION) and num_classes == len(entry.categories):
        from playground.arch.measure import analyze_architecture  # heavy (torch.fx); only when asked

        report = analyze_architecture(arch, (3, side, side))
        return ModelCost(report.total_params, report.conv_linear_macs, side, ARCH_ANALYSIS)
    with torch.device("meta"):  # weightless copy: shapes only
        model = entry.builder()
        if num_classes != len(entry.categories):
            model = replace_head(model, entry, num_classes)
    params = sum(p.numel() for p in model.parameters())
    return ModelCost(params, count_macs(model, side), side, MODULE_HOOKS)


def model_cost(loaded: LoadedModel) -> ModelCost:
    """Parameters and MACs of a loaded model at its input size (cached per architecture)."""
    return _cost(loaded.entry.name, len(loaded.categories), loaded.preprocess.crop)


def measure_latency(loaded: LoadedModel, runs: int = LATENCY_RUNS) -> Latency:
    """Median forward time of one image on the model's device: one warm-up pass, then ``runs`` timed
    ones (each waits for the device). The server runs it on its compute thread, which keeps other
    sessions' work out of the measurement and the measurement out of their way."""
    side = loaded.preprocess.crop
    x = torch.zeros(1, 3, side, side, device=loaded.device)  # the cost does not depend on the pixels
    cuda = loaded.device.type == "cuda"
    times = []
    with torch.inference_mode():
        for i in range(runs + 1):
            start = perf_counter()
            loaded.model(x)
            if cuda:
                torch.cuda.synchronize(loaded.device)
            if i:  # the first pass is the warm-up
                times.append((perf_counter() - start) * 1e3)
    return Latency(statistics.median(times), tuple(times), loaded.device.type)


def check_comparable(models: list[LoadedModel]) -> None:
    """Raise CompareError unless there are two or more models with the same label set."""
    if len(models) < 2:
        raise CompareError("pick two or more models to compare")
    first = models[0]
    for m in models[1:]:
        if m.categories != first.categories:
            raise CompareError(
                f"{m.name} and {first.name} have different classes; compare models trained on the same classes "
                "(the zoo's ImageNet models all are)")


def shared_class(first: Prediction, class_index: int | None, num_classes: int) -> int:
    """The class every model's Grad-CAM explains: ``class_index`` if given, else the first model's top-1."""
    index = first.top[0][1] if class_index is None else int(class_index)
    if not 0 <= index < num_classes:
        raise CompareError(f"class index {index} is outside 0..{num_classes - 1}")
    return index


def compare_models(models: list[LoadedModel], img: Image.Image, class_index: int | None = None,
                   top_k: int = 5, latency_runs: int = LATENCY_RUNS) -> list[Compared]:
    """The same photo through every model: top-k, Grad-CAM of one shared class, latency and cost."""
    check_comparable(models)
    preds = [predict(m, img, top_k=top_k) for m in models]
    index = shared_class(preds[0], class_index, len(models[0].categories))
    return [Compared(m.name, p, grad_cam(m, img, class_index=index), model_cost(m),
                     measure_latency(m, runs=latency_runs)) for m, p in zip(models, preds)]
