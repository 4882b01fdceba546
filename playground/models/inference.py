"""Run a loaded model on a photo: top-k, Grad-CAM, feature maps, first-layer filters.

A loaded model is shared by every session of the app, so nothing here mutates
it: hooks are attached per call inside a context manager that always removes
them (and only records activations from its own thread), Grad-CAM takes the
gradient of the class score with ``torch.autograd.grad`` with respect to the
activation only (no ``.grad`` is left on any parameter), and everything else
runs under ``torch.inference_mode``.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from playground.errors import PlaygroundError
from playground.models.registry import LoadedModel

__all__ = [
    "Prediction",
    "GradCam",
    "FeatureMaps",
    "Filters",
    "predict",
    "grad_cam",
    "feature_maps",
    "first_layer_filters",
    "capture_activation",
    "layer_names",
    "LayerError",
]


@dataclass(frozen=True)
class Prediction:
    """Top-k classes, most probable first: ``top`` is [(label, class_index, probability)].
    ``timings`` are milliseconds: preprocess, forward, total."""

    top: list[tuple[str, int, float]]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dicts(self) -> list[dict[str, object]]:
        """The CLI/JSON form: [{"label", "class_index", "probability"}]."""
        return [{"label": label, "class_index": idx, "probability": prob} for label, idx, prob in self.top]


@dataclass(frozen=True)
class GradCam:
    """Where the model looked for one class (Selvaraju et al., 2017).

    ``heatmap`` is (crop, crop) in [0, 1] over ``image`` (the crop the model saw);
    ``overlay`` is that image with the heatmap blended on top.
    """

    layer: str
    class_index: int
    label: str
    probability: float
    heatmap: np.ndarray = field(repr=False)
    image: Image.Image = field(repr=False)
    overlay: Image.Image = field(repr=False)


@dataclass(frozen=True)
class FeatureMaps:
    """The strongest channels of one layer's output for one image.

    ``shape`` is the layer output (C, H, W); ``channels`` the shown channel indices,
    strongest first, with their mean positive activation in ``strengths``;
    ``maps`` their raw values (n, H, W); ``grid`` them as one picture.
    """

    layer: str
    shape: tuple[int, int, int]
    channels: list[int]
    strengths: list[float]
    maps: np.ndarray = field(repr=False)
    grid: Image.Image = field(repr=False)


@dataclass(frozen=True)
class Filters:
    """The first convolution's kernels as pictures: ``shape`` is (out, in, kh, kw)."""

    layer: str
    shape: tuple[int, int, int, int]
    grid: Image.Image = field(repr=False)


class LayerError(PlaygroundError):
    """A layer name that the model does not have."""


def layer_names(loaded: LoadedModel) -> tuple[str, ...]:
    """Layers offered for feature maps and Grad-CAM, input to output."""
    return loaded.entry.feature_layers


@contextmanager
def capture_activation(model: nn.Module, layer: str) -> Iterator[dict[str, torch.Tensor]]:
    """Record ``layer``'s output during forward passes in this block; the hook is always removed.

    The model may be running in other threads at the same time (one cached model
    serves every session), so the hook ignores forward passes from other threads.
    """
    try:
        module = model.get_submodule(layer)
    except AttributeError:
        raise LayerError(f"layer {layer!r} does not exist in this model") from None
    store: dict[str, torch.Tensor] = {}
    owner = threading.get_ident()

    def hook(_module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if threading.get_ident() == owner:
            store["output"] = output

    handle = module.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


def _input(loaded: LoadedModel, img: Image.Image) -> torch.Tensor:
    return loaded.preprocess(img).unsqueeze(0).to(loaded.device)  # (1, 3, crop, crop)


def predict(loaded: LoadedModel, img: Image.Image, top_k: int = 5) -> Prediction:
    """The ``top_k`` most probable classes for an RGB image (softmax over the model's outputs)."""
    start = perf_counter()
    x = _input(loaded, img)  # (1, 3, crop, crop)
    prepared = perf_counter()
    with torch.inference_mode():
        probs = loaded.model(x).float().softmax(dim=1)[0]  # (K,)
        values, indices = probs.topk(max(1, min(top_k, probs.numel())))
        # .tolist() waits for the device: on a GPU the forward pass is asynchronous, so the
        # clock must stop after this, not after the launch.
        pairs = list(zip(values.tolist(), indices.tolist()))
    done = perf_counter()
    top = [(loaded.categories[i], i, p) for p, i in pairs]
    return Prediction(top, {
        "preprocess_ms": (prepared - start) * 1e3,
        "forward_ms": (done - prepared) * 1e3,
        "total_ms": (done - start) * 1e3,
    })


def grad_cam(loaded: LoadedModel, img: Image.Image, class_index: int | None = None,
             layer: str | None = None, alpha: float = 0.5) -> GradCam:
    """Grad-CAM for ``class_index`` (default: the top class) at ``layer`` (default: the entry's).

    Channel weights are the spatial mean of d score / d activation; the map is the
    ReLU of the weighted sum of channels, upsampled to the input crop and scaled to [0, 1].
    """
    layer = layer or loaded.entry.cam_layer
    x = _input(loaded, img).requires_grad_(True)  # so the activation has a graph even if params are frozen
    with torch.enable_grad(), capture_activation(loaded.model, layer) as store:
        logits = loaded.model(x)  # (1, K)
        if "output" not in store or not isinstance(store["output"], torch.Tensor) or store["output"].dim() != 4:
            raise LayerError(f"layer {layer!r} does not produce a (C, H, W) feature map")
        act = store["output"]  # (1, C, h, w)
        index = int(logits[0].argmax()) if class_index is None else int(class_index)
        if not 0 <= index < logits.shape[1]:
            raise LayerError(f"class index {index} is outside 0..{logits.shape[1] - 1}")
        (grads,) = torch.autograd.grad(logits[0, index], act)  # (1, C, h, w); touches no param .grad
    with torch.no_grad():
        weights = grads.mean(dim=(2, 3), keepdim=True)  # (1, C, 1, 1)
        cam = F.relu((weights * act).sum(dim=1, keepdim=True))  # (1, 1, h, w)
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]  # (crop, crop)
        top = float(cam.max())
        heat = (cam / top if top > 0 else torch.zeros_like(cam)).float().cpu().numpy()
        prob = float(logits.float().softmax(dim=1)[0, index])
    image = loaded.preprocess.crop_image(img)
    overlay = Image.blend(image, Image.fromarray(_colormap(heat, _JET)), alpha)
    return GradCam(layer, index, loaded.categories[index], prob, heat, image, overlay)


def feature_maps(loaded: LoadedModel, img: Image.Image, layer: str, count: int = 16,
                 tile: int = 96) -> FeatureMaps:
    """The ``count`` most active channels of ``layer`` for this image, as a grid of heat tiles."""
    x = _input(loaded, img)
    with torch.inference_mode(), capture_activation(loaded.model, layer) as store:
        loaded.model(x)
        out = store.get("output")
        if not isinstance(out, torch.Tensor) or out.dim() != 4:
            raise LayerError(f"layer {layer!r} does not produce a (C, H, W) feature map")
        act = out[0].float().cpu()  # (C, H, W)
    strength = act.clamp(min=0).mean(dim=(1, 2))  # (C,): how strongly each channel fires
    order = strength.argsort(descending=True)[: min(count, act.shape[0])]
    maps = act[order].numpy()  # (n, H, W)
    tiles = [Image.fromarray(_colormap(_unit(m), _VIRIDIS)).resize(_tile_size(m.shape, tile), Image.Resampling.NEAREST)
             for m in maps]
    c, h, w = act.shape
    return FeatureMaps(layer, (c, h, w), order.tolist(), strength[order].tolist(), maps, _grid(tiles))


def _first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """The first ``nn.Conv2d`` applied to the image (name, module): its filters see RGB pixels."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError("the model has no Conv2d layer")


def first_layer_filters(loaded: LoadedModel, tile: int = 40) -> Filters:
    """The first conv layer's kernels, each scaled to [0, 1] on its own and shown as RGB
    (3 input channels) or grey: the edge and colour detectors the network learned."""
    name, conv = _first_conv(loaded.model)
    w = conv.weight.detach().float().cpu()  # (out, in, kh, kw)
    tiles = []
    for kernel in w:
        pix = kernel if kernel.shape[0] == 3 else kernel.mean(dim=0, keepdim=True)  # (3 or 1, kh, kw)
        arr = (_unit(pix.numpy()) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)  # (kh, kw, 3 or 1)
        im = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).convert("RGB")
        tiles.append(im.resize(_tile_size(arr.shape[:2], tile), Image.Resampling.NEAREST))
    out_channels, in_channels, kh, kw = w.shape
    return Filters(name, (out_channels, in_channels, kh, kw), _grid(tiles, cols=8))


# -- pictures ---------------------------------------------------------------------------------

# Anchor colours of two standard colour maps, interpolated linearly between anchors.
_VIRIDIS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32)
_JET = np.array([[0, 0, 143], [0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0], [128, 0, 0]], np.float32)


def _unit(arr: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] (all zeros when the array is constant)."""
    lo, hi = float(arr.min()), float(arr.max())
    return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr, dtype=np.float32)


def _colormap(values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 colours."""
    pos = np.clip(values, 0.0, 1.0) * (len(anchors) - 1)
    lo = np.minimum(pos.astype(np.int64), len(anchors) - 2)
    frac = (pos - lo)[..., None]
    return (anchors[lo] * (1 - frac) + anchors[lo + 1] * frac + 0.5).astype(np.uint8)


def _tile_size(shape: tuple[int, ...], tile: int) -> tuple[int, int]:
    """Integer upscale of an (h, w) map to about ``tile`` pixels, keeping pixels square."""
    h, w = shape[-2], shape[-1]
    scale = max(1, round(tile / max(h, w)))
    return w * scale, h * scale


def _grid(tiles: list[Image.Image], cols: int | None = None, gap: int = 2) -> Image.Image:
    """Lay equal-sized tiles out row by row on white, ``gap`` pixels apart."""
    cols = cols or max(1, math.ceil(math.sqrt(len(tiles))))
    rows = max(1, math.ceil(len(tiles) / cols))
    tw, th = tiles[0].size if tiles else (1, 1)
    sheet = Image.new("RGB", (cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap), (255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * (tw + gap), (i // cols) * (th + gap)))
    return sheet
