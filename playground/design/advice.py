"""Plain-word warnings about a design, and the depthwise-separable rewrite the designer offers.

``advise(spec, report)`` looks at a valid spec and its analysis and returns what a
teacher would point at: a stride that skips pixels, an even kernel with ``same``
padding, a classifier whose final maps see under half the input, a flatten+linear head
holding most of the parameters. A *warning* fires only when it would change what a careful
engineer does (a one-layer lesson stack has no classifier to judge; VGG-16's last maps see
212 of 224 pixels, which is fine); where the parameters sit is a *note*, a fact rather than
a fault. ``replace_with_dwsep`` rewrites a conv2d as the MobileNet
``dwsep`` block and says in words what else changes.

Pure Python on top of ``playground.spec`` / ``playground.design.analysis``; no torch, no streamlit.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from playground._format import format_pair
from playground.design.analysis import LayerReport, Report
from playground.spec.branch import Branch
from playground.spec.layers import AvgPool2d, Conv2d, Flatten, GlobalAvgPool, Linear, MaxPool2d
from playground.spec.parse import Spec, SpecSource, parse_spec

__all__ = ["Advice", "advise", "where", "FC_HEAVY_SHARE", "RF_SHORT_SHARE", "DwsepChange", "dwsep_blocker",
           "replace_with_dwsep", "replace_all_with_dwsep"]

# A flatten+linear holding more than this share of all parameters earns the global-pooling suggestion.
FC_HEAVY_SHARE = 0.5
# A classifier's last map whose units see under this share of the input side cannot relate opposite
# halves of the object before the head: worth more layers. (VGG-16: 212/224 = 0.95, no warning.)
RF_SHORT_SHARE = 0.5


@dataclass(frozen=True)
class Advice:
    """One warning: a stable code (for tests and filters), the layer it is about, the words."""

    code: str            # "stride_skips" | "even_same" | "misaligned" | "rf_short" | "fc_heavy"
    layer_index: int | None
    message: str
    level: str = "warning"                    # "warning": worth changing; "note": a fact worth knowing
    reveals: frozenset[str] = frozenset()     # teacher-hideable quantities the message quotes ("totals", ...)



def _pair_text(pair: Sequence[int]) -> str:
    return format_pair(pair, sep="x")


def where(row: LayerReport) -> str:
    """A row named as SpecError names layers: ``layer 3 (conv2d)``, or inside a branch
    ``layer 4 (branch), path 1, layer 0 (conv2d)`` (only branches hold rows)."""
    if not row.key:
        return f"layer {row.index} ({row.type})"
    parts = row.key.split(".")
    steps = [f"layer {parts[0]} (branch)"]
    for k in range(1, len(parts), 2):
        last = k + 2 >= len(parts)
        steps.append(f"path {parts[k]}, layer {parts[k + 1]} ({row.type if last else 'branch'})")
    return ", ".join(steps)


def _stride_skips(row: LayerReport) -> Advice | None:
    layer, shape = row.layer, row.input_shape
    if not isinstance(layer, (Conv2d, MaxPool2d, AvgPool2d)) or len(shape) != 3:
        return None
    (window,) = layer.windows((shape[1], shape[2]))
    span, stride = window.span, window.stride
    gaps = [(name, s - k, s) for name, k, s in zip(("rows", "columns"), span, stride) if s > k]
    if not gaps:
        return None
    missed = " and ".join(f"{gap} of every {s} {name}" for name, gap, s in gaps)
    what = "kernel" if window.dilation == (1, 1) else "dilated kernel's span"
    return Advice("stride_skips", row.index,
                  f"{where(row)}: the stride ({_pair_text(stride)}) is larger than the {what} "
                  f"({_pair_text(span)}), so the window jumps over pixels: {missed} of its input never reach any "
                  f"output. Make the kernel at least as large as the stride, or downsample with pooling.")


def _even_same(row: LayerReport) -> Advice | None:
    layer = row.layer
    if not isinstance(layer, Conv2d) or layer.padding != "same":
        return None
    left, right = layer.pads()
    if left == right:
        return None
    return Advice("even_same", row.index,
                  f"{where(row)}: an even kernel ({_pair_text(layer.kernel_size)}) with padding 'same' cannot "
                  f"pad both sides equally, so PyTorch puts the extra zero row/column at the bottom/right and the "
                  f"output shifts half a pixel towards the top-left. An odd kernel keeps it centred.")


def _misaligned(row: LayerReport) -> Advice | None:
    if not row.misaligned:
        return None
    what = "its paths" if isinstance(row.layer, Branch) else f"the {row.type} block's paths"
    return Advice("misaligned", row.index,
                  f"{where(row)}: {what} see fields whose centres or steps differ (different strides, or padding "
                  f"that is not (k − 1)/2 per kernel), so the merged map adds up units that look at different "
                  f"places. Give every path the same total stride and centred padding (odd kernels).")


def _rf_short(spec: Spec, report: Report) -> Advice | None:
    # The last layer that still has a spatial map: the one before global pooling or flatten.
    last = None
    for i, (layer, row) in enumerate(zip(spec.layers, report.layers)):
        if isinstance(layer, (GlobalAvgPool, Flatten)) or row.receptive_field is None:
            break
        last = i
    # Only a classifier (a global pool or flatten after the maps) has "final maps" to judge.
    if last is None or not any(isinstance(layer, (GlobalAvgPool, Flatten)) for layer in spec.layers[last + 1:]):
        return None
    rf = report.layers[last].receptive_field
    _, h, w = spec.input
    if rf is None or (rf[0] >= RF_SHORT_SHARE * h and rf[1] >= RF_SHORT_SHARE * w):
        return None
    return Advice("rf_short", last,
                  f"layer {last} ({spec.layers[last].type}) is the last layer with a spatial map, and each of its "
                  f"units sees only {rf[0]}x{rf[1]} pixels of the {h}x{w} input, under half of it, so the head "
                  f"cannot relate opposite sides of the object. Add conv layers, "
                  f"stride or pooling before it, or use a smaller input.", reveals=frozenset({"table", "rf"}))


def _fc_heavy(spec: Spec, report: Report) -> list[Advice]:
    total = report.total_params
    out: list[Advice] = []
    for f, layer in enumerate(spec.layers):
        before = spec.shapes[f]
        if not isinstance(layer, Flatten) or len(before) != 3 or before[1] * before[2] == 1:
            continue  # a 1x1 map flattens to what global pooling would give anyway
        # The first linear after the flatten (dropout or activations may sit between).
        j = next((j for j in range(f + 1, len(spec.layers)) if isinstance(spec.layers[j], Linear)), None)
        if j is None or total <= 0 or report.layers[j].params / total <= FC_HEAVY_SHARE:
            continue
        linear: Linear = spec.layers[j]  # type: ignore[assignment]
        c, h, w = before
        params = report.layers[j].params
        gap = c * linear.out_features + (linear.out_features if linear.bias else 0)
        out.append(Advice("fc_heavy", j,
                          f"layer {j} (linear) holds {params / total:.0%} of all parameters ({params:,}): it "
                          f"connects each of the {c}x{h}x{w} = {c * h * w:,} flattened values to every one of its "
                          f"{linear.out_features:,} outputs. Global average pooling before the flatten would leave "
                          f"{c:,} values and cut this layer to {gap:,} parameters (and let the network take any "
                          f"input size).", level="note", reveals=frozenset({"totals", "table", "shapes"})))
    return out


def _rows(rows: Sequence[LayerReport], covered: bool) -> Iterator[tuple[LayerReport, bool]]:
    """Every row, with whether other paths merged beside it see what it skips (a strided 1×1 shortcut is
    how ResNets downsample their shortcut: not worth a warning)."""
    for row in rows:
        yield row, covered
        for path in row.children:
            yield from _rows(path, covered or len(row.children) > 1)


def advise(spec: Spec | SpecSource, report: Report) -> list[Advice]:
    """Warnings about a valid ``spec`` given ``report = analyze(spec)``, ordered by layer.

    The designer passes the valid prefix (``parse_spec_prefix``) of a design whose
    later layer is broken.
    """
    spec = parse_spec(spec)
    found = [a for row, covered in _rows(report.layers, False)
             for a in (None if covered else _stride_skips(row), _even_same(row), _misaligned(row)) if a]
    found += [a for a in [_rf_short(spec, report)] if a]
    found += _fc_heavy(spec, report)
    return sorted(found, key=lambda a: -1 if a.layer_index is None else a.layer_index)


# -- the depthwise-separable rewrite ---------------------------------------------------------


@dataclass(frozen=True)
class DwsepChange:
    """The rewritten spec and, in words, everything that changed besides the conv itself."""

    spec: dict[str, Any]
    notes: list[str]


def dwsep_blocker(layer: Any) -> str | None:
    """Why this parsed layer cannot become a ``dwsep`` block, or None when it can."""
    if not isinstance(layer, Conv2d):
        return "only conv2d layers can be replaced"
    if layer.groups != 1:
        return "it is already a grouped convolution"
    if layer.kernel_size == (1, 1):
        return "a 1x1 conv has nothing to separate (it is already a pointwise conv)"
    if layer.dilation != (1, 1):
        return "the dwsep block has no dilation"
    return None


def _canon(pair: tuple[int, int]) -> int | list[int]:
    return pair[0] if pair[0] == pair[1] else list(pair)


def _rewrite(layers: list[dict[str, Any]], parsed: list[Any], i: int, notes: list[tuple[int, str]]) -> None:
    """Replace conv ``i`` (and the BN -> ReLU it absorbs) in ``layers`` in place, noting what changes."""
    conv: Conv2d = parsed[i]
    k = conv.kernel_size
    want = ((k[0] - 1) // 2, (k[1] - 1) // 2)  # the block always pads (k-1)//2 on every side
    if conv.pads() != (want, want):
        was = conv.padding if isinstance(conv.padding, str) else _canon(conv.padding)
        notes.append((i, f"padding becomes {_pair_text(want)} on every side (the block always pads (k-1)/2; it "
                     f"was {was!r}), which can change the output size"))
    if conv.bias:
        notes.append((i, "the conv's bias goes (the block's BatchNorm supplies the shift)"))
    # The block ends in BatchNorm -> ReLU, so a BatchNorm and/or ReLU right after the conv merge into it.
    bn = i + 1 < len(parsed) and parsed[i + 1].type == "batchnorm2d"
    relu = i + 1 + bn < len(parsed) and parsed[i + 1 + bn].type == "relu"
    absorbed = int(bn) + int(relu)
    notes.append((i, {
        (True, True): "the BatchNorm and ReLU after it are now the block's own",
        (True, False): "the BatchNorm after it is now the block's own; the block adds ReLUs",
        (False, True): "the ReLU after it is now the block's own; the block adds BatchNorms",
        (False, False): "the block adds BatchNorm + ReLU after each of its two convs",
    }[(bn, relu)]))
    block = {"type": "dwsep", "out_channels": conv.out_channels, "kernel_size": _canon(k),
             "stride": _canon(conv.stride)}
    layers[i:i + 1 + absorbed] = [block]


def replace_with_dwsep(spec: dict[str, Any], index: int) -> DwsepChange:
    """Rewrite conv2d ``index`` of a valid spec as a ``dwsep`` block (ValueError says why it cannot)."""
    return _replace(spec, [index])


def replace_all_with_dwsep(spec: dict[str, Any]) -> DwsepChange:
    """Rewrite every replaceable conv2d of a valid spec; the others stay as they are."""
    parsed = parse_spec(spec).layers
    return _replace(spec, [i for i, layer in enumerate(parsed) if dwsep_blocker(layer) is None])


def _replace(spec: dict[str, Any], indices: list[int]) -> DwsepChange:
    parsed = list(parse_spec(spec).layers)
    layers = copy.deepcopy(list(spec["layers"]))
    notes: list[tuple[int, str]] = []
    # Right to left, so what one rewrite absorbs does not shift the next index.
    for i in sorted(set(indices), reverse=True):
        reason = dwsep_blocker(parsed[i]) if 0 <= i < len(parsed) else "there is no such layer"
        if reason:
            raise ValueError(f"layer {i} cannot become a depthwise-separable block: {reason}")
        _rewrite(layers, parsed, i, notes)
    return DwsepChange({**copy.deepcopy(spec), "layers": layers}, _group(notes))


def _group(notes: list[tuple[int, str]]) -> list[str]:
    """One line per kind of change, naming every layer (of the design before the change) it applies to."""
    by_text: dict[str, list[int]] = {}
    for i, text in sorted(notes):
        by_text.setdefault(text, []).append(i)
    return [f"layer{'s' if len(ix) > 1 else ''} {', '.join(map(str, ix))}: {text}" for text, ix in by_text.items()]
