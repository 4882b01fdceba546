"""Measure real architectures from their PyTorch definitions: params, MACs, depth, receptive field.

The model is built from torchvision's definition on the ``meta`` device (no weights, no memory,
no download), traced with :mod:`torch.fx`, and every node's output shape is found by running the
graph on a meta tensor (:class:`torch.fx.passes.shape_prop.ShapeProp`). The numbers then come
from walking the graph once:

- **params**: each module's or parameter's count, the first time the graph uses it;
- **MACs** (multiply-accumulates, one image): convolutions ``H_out·W_out·C_out·(C_in/groups)·kh·kw``,
  linear layers ``in·out`` per output row, attention's projections as linear layers, and the
  activation-by-activation products of attention (``QKᵀ`` and ``AV``) counted separately as
  ``attention_macs``. Normalisation, activations, pooling and additions count 0;
- **receptive field** per node with the Distill formulas (Araujo, Norris & Sim, 2019), kept exact per
  unit through transposed convs, upsampling and pixel shuffles (:mod:`playground.arch.grid`). Where
  branches meet (a residual ``add``, an Inception or U-Net ``cat``) the field is the largest of the
  branches, and the merge is flagged *misaligned* when the branches' jump or start differ;
- **squeeze-and-excitation gates**: each multiply of a C×H×W map by a C×1×1 weight pooled from it;
- **depth**: conv and linear layers on the longest path through the graph (so ResNet-50 is 50).

Entry point: :func:`analyze_architecture` (a catalogue or torchvision name), or :func:`analyze_module`
for any ``nn.Module``. The walk itself lives in :mod:`playground.arch.graph`, the report objects in
:mod:`playground.arch.report`.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from playground.arch.graph import propagate_shapes, walk_graph
from playground.arch.landmarks import LANDMARKS, designer_spec, torchvision_metrics
from playground.arch.nodes import Walk
from playground.arch.report import ArchLayer, ArchReport, caveats, group_stages
from playground.arch.user_model import ArchitectureError
from playground.arch.user_model import first_line as _first_line

__all__ = [
    "ArchitectureError",
    "MAX_ARCH_SIDE",
    "analyze_architecture",
    "analyze_module",
    "load_user_model",
    "build_architecture",
    "resolve_name",
    "macs_vs_resolution",
    "resnet50_flops_explained",
    "catalogue",
]

MAX_ARCH_SIDE = 4096  # larger inputs are refused: the graph would be analysed, but nobody needs it


# --------------------------------------------------------------------------- public entry points


def analyze_module(model: Any, input_shape: Sequence[int] = (3, 224, 224), name: str = "model") -> ArchReport:
    """Analyse any ``nn.Module`` taking one ``(1, C, H, W)`` image batch (built on any device; meta is fastest).

    Raises :class:`ArchitectureError` when the module cannot take that input. A module torch.fx cannot
    trace is measured by one eager forward pass instead (:mod:`playground.arch.eager`; the notes say what
    that cannot give).
    """
    shape = _check_shape(input_shape)
    model = model.eval()
    try:
        gm = _trace(model, name)
    except _Untraceable as exc:
        from playground.arch.eager import analyze_eager

        _one_input(None, model, name)
        return analyze_eager(model, shape, name, str(exc))
    _one_input(gm, model, name)
    _propagate(gm, model, shape, name)
    layers, walk = _walk(gm, name)
    return _report(model, name, shape, layers, walk)


def load_user_model(ref: str, args: Any = None) -> Any:
    """Import ``path/to/model.py:ClassName`` and build it with ``args`` (a list of positional arguments or a
    dict of keyword arguments). Runs the user's code: for the CLI and Python only, never for a browser.

    Any failure in that code (import error, missing class, bad arguments) is an :class:`ArchitectureError`
    naming the file and what failed, in one line.
    """
    from pathlib import Path

    from playground.arch.user_model import import_user_file

    path_text, sep, class_name = ref.rpartition(":")
    path = Path(path_text)
    if not sep or not class_name or path.suffix != ".py":
        raise ArchitectureError(f"{ref!r}: give the model as path/to/model.py:ClassName")
    module = import_user_file(path)
    cls = getattr(module, class_name, None)
    if cls is None:
        names = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise ArchitectureError(f"{path} defines no {class_name!r}" + (f"; it defines {', '.join(names)}" if names
                                                                         else ""))
    positional, keywords = (list(args), {}) if isinstance(args, list) else ([], dict(args or {}))
    if not isinstance(args, (list, dict, type(None))):
        raise ArchitectureError("--args must be a JSON list (positional) or object (keyword arguments)")
    try:
        model = cls(*positional, **keywords)
    except Exception as exc:
        raise ArchitectureError(f"{path}:{class_name}({_describe_args(args)}) failed: "
                                f"{type(exc).__name__}: {_first_line(exc)}") from None
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ArchitectureError(f"{path}:{class_name} is a {type(model).__name__}, not a torch.nn.Module")
    return model


def _describe_args(args: Any) -> str:
    text = "" if args is None else str(args)
    return text if len(text) <= 60 else text[:57] + "..."


def _trace(model: Any, name: str) -> Any:
    """The module as a torch.fx GraphModule (traced safely beside other sessions' PyTorch work)."""
    from playground.arch.tracing import trace

    try:
        return trace(model)
    except Exception as exc:  # torch.fx raises many kinds for data-dependent Python control flow
        raise _Untraceable(_first_line(exc)) from None


class _Untraceable(Exception):
    """torch.fx could not trace a forward(); the message says why."""


def _one_input(gm: Any, model: Any, name: str) -> None:
    """ArchitectureError when forward() needs more inputs than the one image batch this analysis gives it."""
    from playground.arch.shape_advice import extra_inputs

    extra = extra_inputs(gm, model)
    if extra:
        raise ArchitectureError(f"{name}: its forward() needs {len(extra) + 1} inputs (also {', '.join(extra)}); "
                                "this analysis gives it one image batch, so wrap it in a module taking one")


def _propagate(gm: Any, model: Any, shape: tuple[int, int, int], name: str) -> None:
    """Every node's output shape for one empty image, on the model's device (meta when it has no parameters)."""
    import torch

    from playground.arch.shape_advice import explain_shape_failure

    c, h, w = shape
    device = next((p.device for p in model.parameters()), torch.device("meta"))
    try:
        propagate_shapes(gm, torch.empty(1, c, h, w, device=device))
    except Exception as exc:
        raise ArchitectureError(f"{name} cannot take a {c}×{h}×{w} input: {explain_shape_failure(exc, gm)}") from None


def _walk(gm: Any, name: str) -> tuple[list[ArchLayer], Walk]:
    try:
        return walk_graph(gm)
    except Exception as exc:  # a construct the walk does not know: say so rather than crash the CLI/page
        raise ArchitectureError(
            f"{name}: its graph uses an operation this analysis cannot measure ({type(exc).__name__}: "
            f"{_first_line(exc)})"
        ) from exc


def _report(model: Any, name: str, shape: tuple[int, int, int], layers: list[ArchLayer], walk: Walk) -> ArchReport:
    """The totals, the last spatial map's field, stages and notes of one walk."""
    spatial = [layer for layer in layers if layer.receptive_field is not None]
    last = spatial[-1] if spatial else None
    unused = sum(p.numel() for p in model.parameters() if id(p) not in walk.seen)
    return ArchReport(
        model=name,
        input_shape=shape,
        layers=tuple(layers),
        total_params=sum(p.numel() for p in model.parameters()),  # parameters() yields a shared one once
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        conv_macs=walk.macs["conv"],
        linear_macs=walk.macs["linear"],
        attention_macs=walk.macs["attention"],
        depth=max(walk.depth.values(), default=0),
        conv_layers=walk.layer_counts["conv"],
        linear_layers=walk.layer_counts["linear"],
        receptive_field=last.receptive_field if last else None,
        jump=last.jump if last else None,
        start=last.start if last else None,
        rf_layer=last.name if last else None,
        misaligned=tuple(layer.name for layer in layers if layer.misaligned),
        global_context=walk.found.global_context(),
        notes=tuple(caveats(walk.found, unused, last)),
        stages=group_stages(layers),
        se_gates=len(walk.found.gated),
    )


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in input_shape)
    except (TypeError, ValueError):
        raise ArchitectureError(
            f"input shape {tuple(input_shape) if isinstance(input_shape, (list, tuple)) else input_shape!r} "
            "must be three integers C,H,W such as 3,224,224"
        ) from None
    if min(c, h, w) < 1:
        raise ArchitectureError(f"input shape {c}×{h}×{w}: every size must be at least 1")
    if max(h, w) > MAX_ARCH_SIDE:
        raise ArchitectureError(
            f"input {h}×{w} is larger than this tool analyses; use a side of at most {MAX_ARCH_SIDE}")
    return c, h, w


def resolve_name(name: str) -> str:
    """Map a user's spelling (``ResNet-50``, ``resnet50``, ``vit-b/16``) to a catalogue or torchvision name."""

    def norm(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    if name in LANDMARKS:
        return name
    wanted = norm(name)
    for key, entry in LANDMARKS.items():
        if wanted in (norm(key), norm(entry.title)):
            return key
    known = _torchvision_classifiers()
    if name.lower() in known:
        return name.lower()
    matches = [key for key in known if norm(key) == wanted]  # regnet_x_1_6gf vs regnet_x_16gf: ambiguous
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ArchitectureError(f"{name!r} could mean {' or '.join(matches)}; give the exact name")
    raise ArchitectureError(
        f"unknown architecture {name!r}; choose one of {', '.join(LANDMARKS)} or another torchvision "
        "classification model name (torchvision.models.list_models)"
    )


@lru_cache(maxsize=1)
def _torchvision_classifiers() -> tuple[str, ...]:
    import torchvision

    return tuple(torchvision.models.list_models(module=torchvision.models))


def build_architecture(name: str, input_shape: Sequence[int] = (3, 224, 224), device: str = "meta") -> Any:
    """Build the named architecture without weights (on the meta device unless told otherwise)."""
    key = resolve_name(name)
    c, h, w = _check_shape(input_shape)
    entry = LANDMARKS.get(key)
    kwargs = dict(entry.builder_kwargs) if entry else {}
    if key.startswith("vit_"):  # checked before importing torch, so a bad size fails fast
        kwargs["image_size"] = _vit_side(key, h, w)  # the position embedding is sized for the input
    import torch

    def build() -> Any:
        if entry is not None and entry.spec is not None:
            from playground.design.build import build_model

            spec = entry.spec()
            spec["input"] = [c, h, w]
            return build_model(spec).eval()
        import torchvision

        return torchvision.models.get_model(key, weights=None, **kwargs).eval()

    with warnings.catch_warnings():
        # GoogLeNet / Inception warn that their default init will change: no weights are used here
        warnings.simplefilter("ignore", FutureWarning)
        try:
            with torch.device(device):
                return build()
        except (NotImplementedError, RuntimeError):
            if device != "meta":
                raise
        # A few builders compute their layout with tensors (RegNet's widths), which meta cannot read back.
        return build()


def _vit_side(key: str, h: int, w: int) -> int:
    """The side of a square input a ViT can cut into whole patches (``vit_b_16``: multiples of 16)."""
    patch = int(key.rsplit("_", 1)[1])
    if h != w or h % patch:
        side = max(patch, min(h, w) - min(h, w) % patch)
        raise ArchitectureError(f"{key} needs a square input whose side is a multiple of {patch} "
                                f"(got {h}×{w}); try 3,{side},{side}")
    return h


@lru_cache(maxsize=128)
def _analyze_cached(key: str, input_shape: tuple[int, int, int]) -> ArchReport:
    if input_shape[0] != 3:
        raise ArchitectureError(f"{key} takes 3-channel (RGB) images; got {input_shape[0]} channels")
    model = build_architecture(key, input_shape)
    return analyze_module(model, input_shape, name=key)


def analyze_architecture(name: str, input_shape: Sequence[int] = (3, 224, 224)) -> ArchReport:
    """Measure a catalogue or torchvision architecture (no weights): params, MACs, depth, receptive field.

    >>> r = analyze_architecture("resnet50")
    >>> r.total_params, r.conv_linear_macs, r.receptive_field
    (25557032, 4089184256, (427.0, 427.0))
    """
    key = resolve_name(name)
    return _analyze_cached(key, _check_shape(input_shape))


def macs_vs_resolution(name: str, sides: Sequence[int]) -> list[dict[str, int]]:
    """MACs of one architecture at several square input sizes (for the CNN-vs-ViT curve)."""
    rows = []
    for side in sides:
        report = analyze_architecture(name, (3, side, side))
        rows.append(
            {
                "side": side,
                "pixels": side * side,
                "total_macs": report.total_macs,
                "conv_linear_macs": report.conv_linear_macs,
                "attention_macs": report.attention_macs,
            }
        )
    return rows


def resnet50_flops_explained() -> dict[str, int]:
    """ResNet-50's MACs as torchvision builds it (v1.5) and as the 2015 paper did (v1), both measured.

    torchvision puts the downsampling stride on the 3×3 conv of each stage's first bottleneck;
    the paper put it on the first 1×1, which then works on a 4× smaller map.
    """
    import torch
    import torchvision

    with torch.device("meta"):
        v1 = torchvision.models.resnet50(weights=None)
    for stage in (v1.layer2, v1.layer3, v1.layer4):
        block = stage[0]
        block.conv1.stride, block.conv2.stride = (2, 2), (1, 1)  # stride back on the 1×1, as in He et al.
    v1_report = analyze_module(v1, (3, 224, 224), name="resnet50 (v1)")
    v15_report = analyze_architecture("resnet50")
    return {
        "v1_5_macs": v15_report.conv_linear_macs,
        "v1_macs": v1_report.conv_linear_macs,
        "v1_5_flops": 2 * v15_report.conv_linear_macs,
        "v1_params": v1_report.total_params,
        "v1_5_params": v15_report.total_params,
    }


def catalogue(side: int = 224) -> list[dict[str, Any]]:
    """One row per catalogue model, measured at ``side``×``side``, with the literature's figures beside it."""
    rows = []
    for key, entry in LANDMARKS.items():
        report = analyze_architecture(key, (3, side, side))
        paper = entry.headline
        tv = torchvision_metrics(key) or {}
        paper_side, tv_side = entry.native_resolution, tv.get("resolution", side)
        # errors are plotted against the cost at the resolution they were measured at (EfficientNet-B7: 600)
        paper_macs = analyze_architecture(key, (3, paper_side, paper_side)).total_macs
        tv_macs = analyze_architecture(key, (3, tv_side, tv_side)).total_macs
        rows.append({
            "key": key,
            "title": entry.title,
            "family": entry.family,
            "year": entry.year,
            "key_idea": entry.key_idea,
            "params": report.total_params,
            "macs": report.total_macs,
            "conv_linear_macs": report.conv_linear_macs,
            "paper_side": paper_side,
            "paper_macs": paper_macs,
            "tv_side": tv_side,
            "tv_macs": tv_macs,
            "depth": report.depth,
            "published_depth": entry.published_depth,
            "receptive_field": None if report.receptive_field is None else int(report.receptive_field[0]),
            "paper_top1_error": paper.top1_error,
            "paper_top5_error": paper.top5_error,
            "ensemble": paper.ensemble,
            "protocol": paper.protocol,
            "citation": f"{entry.paper}, {paper.source}",
            "tv_top1_error": tv.get("top1_error"),
            "tv_top5_error": tv.get("top5_error"),
            "designer": designer_spec(key) is not None,
        })
    return rows
