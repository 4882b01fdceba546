"""The value objects of an architecture measurement, and how they are grouped and explained.

:class:`ArchReport` is what :func:`playground.arch.measure.analyze_architecture` returns: one
:class:`ArchLayer` per traced node that makes a tensor, the layers grouped into :class:`ArchStage`
rows by feature-map size (:func:`group_stages`), and plain-word caveats about what the graph walk
met (:func:`caveats`, from the walk's :class:`Findings`). No torch here: these are plain data.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from playground._format import format_dims

__all__ = [
    "FloatPair",
    "ArchLayer",
    "ArchStage",
    "ArchReport",
    "Findings",
    "group_stages",
    "caveats",
]

FloatPair = tuple[float, float]  # (h, w) of a receptive field, jump or start, in input pixels

SELF_ATTENTION = "self-attention"
WINDOW_ATTENTION = "window attention"
SQUEEZE_EXCITATION = "squeeze-excitation"
_SHOWN_NODES = 3  # node names quoted in a caveat before the list is cut


def _json_pair(value: FloatPair | None, as_int: bool) -> list[float] | None:
    """(h, w) as a JSON list: whole pixels for fields and jumps, floats for starts; None stays None.

    A jump is fractional after upsampling past the input's resolution (0.5: two units per pixel), and stays so.
    """
    if value is None:
        return None
    return [int(v) if as_int and float(v).is_integer() else float(v) for v in value]


@dataclass(frozen=True)
class ArchLayer:
    """One node of the traced graph that produces a tensor (a layer, a merge, a parameter)."""

    index: int
    name: str  # module path (``layer1.0.conv1``) or scope + function (``layer1.0.add``)
    type: str  # ``conv2d``, ``batchnorm2d``, ``add``, ``cat``, ``multiheadattention``, ``parameter``...
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int
    macs: int  # all multiply-accumulates of this node, attention_macs included
    attention_macs: int  # the QKᵀ and AV products (0 for convolutions and linear layers)
    receptive_field: FloatPair | None  # (h, w) in input pixels; None once spatial layout is gone
    jump: FloatPair | None
    start: FloatPair | None
    misaligned: bool = False  # a merge whose branches' jump or start differ
    feature_size: tuple[int, int] | None = None  # (H, W) of the map while the layout is spatial

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN.md per-layer JSON plus ``name``, ``attention_macs`` and ``misaligned``."""

        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "attention_macs": self.attention_macs,
            "receptive_field": _json_pair(self.receptive_field, True),
            "jump": _json_pair(self.jump, True),
            "start": _json_pair(self.start, False),
            "misaligned": self.misaligned,
        }


@dataclass(frozen=True)
class ArchStage:
    """Consecutive layers working at one feature-map size (or on tokens, or in the head)."""

    label: str  # "56×56", "197 tokens", "head"
    first: str
    last: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    receptive_field: FloatPair | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "label": self.label,
            "first": self.first,
            "last": self.last,
            "output_shape": list(self.output_shape),
            "params": self.params,
            "macs": self.macs,
            "receptive_field": _json_pair(self.receptive_field, True),
        }


@dataclass(frozen=True)
class ArchReport:
    """What :func:`~playground.arch.measure.analyze_architecture` measured.

    ``str(report)`` is a table, ``to_dict()`` JSON.
    """

    model: str
    input_shape: tuple[int, int, int]
    layers: tuple[ArchLayer, ...]
    total_params: int  # each parameter once, however many modules share it
    trainable_params: int  # those with requires_grad (a frozen stem is not counted)
    conv_macs: int
    linear_macs: int
    attention_macs: int
    depth: int  # conv + linear layers on the longest path
    conv_layers: int  # conv layers executed (all branches)
    linear_layers: int
    receptive_field: FloatPair | None  # of the last spatial feature map
    jump: FloatPair | None
    start: FloatPair | None
    rf_layer: str | None  # the node that map comes from
    misaligned: tuple[str, ...]  # merges whose branches disagree in jump or start
    global_context: str | None  # "squeeze-excitation" / "self-attention" when some units see everything
    notes: tuple[str, ...]
    stages: tuple[ArchStage, ...] = field(default=())
    se_gates: int = 0  # squeeze-and-excitation multiplies: a map times a per-channel weight pooled from it

    @property
    def total_macs(self) -> int:
        """Every multiply-accumulate counted: conv + linear + attention."""
        return self.conv_macs + self.linear_macs + self.attention_macs

    @property
    def conv_linear_macs(self) -> int:
        """The MACs most tools quote: convolutions and linear layers only."""
        return self.conv_macs + self.linear_macs

    @property
    def total_flops(self) -> int:
        """FLOPs counting a multiply and an add separately: 2 × MACs."""
        return 2 * self.total_macs

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN.md analyze JSON (``input_shape``, ``layers``, ``total_params``, ``total_macs``) plus extras."""

        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "layers": [layer.to_dict() for layer in self.layers],
            "total_params": self.total_params,
            "total_trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "conv_macs": self.conv_macs,
            "linear_macs": self.linear_macs,
            "attention_macs": self.attention_macs,
            "depth": self.depth,
            "conv_layers": self.conv_layers,
            "linear_layers": self.linear_layers,
            "receptive_field": _json_pair(self.receptive_field, True),
            "jump": _json_pair(self.jump, True),
            "start": _json_pair(self.start, False),
            "rf_layer": self.rf_layer,
            "misaligned": list(self.misaligned),
            "global_context": self.global_context,
            "se_gates": self.se_gates,
            "notes": list(self.notes),
            "stages": [stage.to_dict() for stage in self.stages],
        }

    def __str__(self) -> str:
        rows = [("Layer", "Type", "Output shape", "Params", "MACs", "RF")]
        for layer in self.layers:
            rf = format_dims(layer.receptive_field, missing="")
            rows.append(
                (
                    layer.name,
                    layer.type,
                    format_dims(layer.output_shape),
                    f"{layer.params:,}" if layer.params else "",
                    f"{layer.macs:,}" if layer.macs else "",
                    rf + (" !" if layer.misaligned else ""),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            for row in rows
        ]
        rule = "-" * len(lines[0])
        c, h, w = self.input_shape
        rf = format_dims(self.receptive_field, missing="n/a")
        summary = [
            f"{self.model}: input {c}×{h}×{w}",
            f"Total params: {self.total_params:,}" + (f" ({self.trainable_params:,} trainable)"
                                                      if self.trainable_params != self.total_params else ""),
            f"Total MACs: {self.total_macs:,} (conv {self.conv_macs:,}, linear {self.linear_macs:,}, "
            f"attention {self.attention_macs:,})",
            f"Depth (conv + linear on the longest path): {self.depth}",
            f"Receptive field of the last feature map{f' ({self.rf_layer})' if self.rf_layer else ''}: {rf}",
        ]
        summary += [f"Note: {note}" for note in self.notes]
        return "\n".join([lines[0], rule, *lines[1:], rule, *summary])


# --------------------------------------------------------------------------- what the walk met


@dataclass
class Findings:
    """Node names (or kinds) the graph walk met that the numbers alone do not explain."""

    misaligned: list[str] = field(default_factory=list)  # merges whose branches' jump or start differ
    gated: list[str] = field(default_factory=list)  # map × per-channel weight pooled from it (squeeze-excitation)
    ended: list[str] = field(default_factory=list)  # unexpected places where spatial tracking stopped
    uneven: list[str] = field(default_factory=list)  # adaptive pools with windows of different sizes
    uncounted: list[str] = field(default_factory=list)  # products whose MACs could not be counted
    attention: list[str] = field(default_factory=list)  # kinds of attention met

    def global_context(self) -> str | None:
        """Why some units see the whole image: attention (of which kind), SE gates, or None."""
        if self.attention:
            return WINDOW_ATTENTION if set(self.attention) == {WINDOW_ATTENTION} else SELF_ATTENTION
        return SQUEEZE_EXCITATION if self.gated else None


def caveats(found: Findings, unused: int, last: ArchLayer | None) -> list[str]:
    """Plain-word caveats about what the walk met: attention, gates, misaligned merges, untracked ops."""
    out: list[str] = []
    if SELF_ATTENTION in found.attention:
        out.append(
            "Self-attention lets every token attend to every other, so from the first attention layer on each "
            "output depends on the whole image; the field shown is that of the last map before it."
        )
    elif found.attention:
        out.append(
            "Window attention mixes the tokens of each window (shifted every other block), which the "
            "convolution formulas do not describe; the field shown is that of the last map before it."
        )
    if found.gated:
        out.append(
            f"{len(found.gated)} squeeze-and-excitation gates scale each channel by a weight computed from the "
            "whole feature map, so strictly every unit sees the whole image; the field shown follows the "
            "convolution path."
        )
    if found.misaligned:
        out.append(
            f"{len(found.misaligned)} merges join branches whose grids are misaligned (different jump or start); "
            "the larger field is shown."
        )
    if found.uneven:
        out.append(f"Adaptive pooling at {found.uneven[0]} averages windows of unequal sizes, which have no single "
                   "kernel and stride: the field shown is that of the map it pools.")
    if found.ended:
        out.append(f"Spatial tracking stopped at {', '.join(found.ended[:_SHOWN_NODES])} "
                   "(an operation not modelled here).")
    if found.uncounted:
        out.append(f"The products at {', '.join(found.uncounted[:_SHOWN_NODES])} are not counted in the MACs.")
    if unused:
        out.append(f"{unused:,} parameters are not used by the forward pass in eval mode (counted in the total).")
    if last is None:
        out.append("No spatial feature map: the receptive field is not defined.")
    return out


# --------------------------------------------------------------------------- stages


def group_stages(layers: Sequence[ArchLayer]) -> tuple[ArchStage, ...]:
    """Group consecutive layers by feature-map size (tokens, head after it).

    Pooled nodes inside a stage (a squeeze-excitation branch) stay in that stage; a run of free
    reshapes between the maps and the tokens joins the group after it.
    """
    runs = _runs(zip(_stage_keys(layers), layers))
    return tuple(_stage(key, group) for key, group in _absorb_free_runs(runs))


def _stage_keys(layers: Sequence[ArchLayer]) -> list[str]:
    """Each layer's stage label: its map size, the stage it sits inside, its token count, or "head"."""
    last_spatial_index = max((layer.index for layer in layers if layer.feature_size is not None), default=-1)
    keys: list[str] = []
    current = None
    for layer in layers:
        if layer.feature_size is not None:
            key = format_dims(layer.feature_size)
        elif layer.index < last_spatial_index and current is not None:
            key = current
        elif len(layer.output_shape) == 2 and layer.output_shape[0] > 1:
            key = f"{layer.output_shape[0]} tokens"
        else:
            key = "head"
        current = key
        keys.append(key)
    return keys


def _runs(keyed: Iterable[tuple[str, ArchLayer]]) -> list[tuple[str, list[ArchLayer]]]:
    """Consecutive (key, layer) pairs with the same key, as (key, layers)."""
    groups: list[tuple[str, list[ArchLayer]]] = []
    for key, layer in keyed:
        if groups and groups[-1][0] == key:
            groups[-1][1].append(layer)
        else:
            groups.append((key, [layer]))
    return groups


def _absorb_free_runs(groups: list[tuple[str, list[ArchLayer]]]) -> list[tuple[str, list[ArchLayer]]]:
    """A run with no MACs and no map (reshapes, class-token handling) joins the run after it."""
    merged: list[tuple[str, list[ArchLayer]]] = []
    pending: list[ArchLayer] = []
    for i, (key, group) in enumerate(groups):
        free = not any(layer.macs or layer.feature_size for layer in group)
        if free and i + 1 < len(groups):
            pending += group  # e.g. ViT's reshape/permute between the patch map and the tokens
            continue
        merged.append((key, pending + group))
        pending = []
    return merged


def _stage(key: str, group: list[ArchLayer]) -> ArchStage:
    spatial = [layer for layer in group if layer.receptive_field is not None]
    return ArchStage(
        label=key,
        first=group[0].name,
        last=group[-1].name,
        output_shape=group[-1].output_shape,
        params=sum(layer.params for layer in group),
        macs=sum(layer.macs for layer in group),
        receptive_field=spatial[-1].receptive_field if spatial else None,
    )
