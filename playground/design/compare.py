"""Two designs side by side (pure Python, no streamlit): totals with their ratios, per-stage and
per-layer deltas.

Every figure is read from each design's own :class:`~playground.design.analysis.Report` (what
``analyze()`` gives), so the comparison can never disagree with the single-design views. Rows are
the spec's top-level layers: a ``branch`` or a named block is one row holding the totals of its
paths, as in the designer's table.

Stages are runs of consecutive layers with the same output map size (``32×32``; 1-D layers are the
``head``). Two designs' stages are paired where their sequences of map sizes agree (a longest
matching, :class:`difflib.SequenceMatcher`); a stage present in only one design is shown alone.
Layers are paired by position when both designs have as many layers; otherwise the longest common
prefix and suffix of layer types are paired and the layers between are shown alone. Which of the two
was used is part of the result, so the page says it rather than implying a finer alignment.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from playground._format import format_dims, format_pair, human_bytes
from playground.design.analysis import LayerReport, Report
from playground.design.editor import spec_from_text, spec_structure_error
from playground.spec.base import Shape
from playground.spec.parse import SpecError
from playground.spec.share import decode_share, encode_share
from playground.spec.window import Pair

__all__ = ["Totals", "Stage", "Pairing", "Comparison", "compare", "totals_of", "stages_of", "ratio",
           "format_ratio", "format_delta", "compare_query", "compare_url", "last_field", "read_design_text", "HEAD"]

HEAD = "head"  # the stage label of the 1-D layers after flatten (and of a design with no map at all)


def ratio(a: float, b: float) -> float | None:
    """``b / a``; 1.0 when both are 0 (the same), None when only ``a`` is 0 (no finite ratio)."""
    if a == 0:
        return 1.0 if b == 0 else None
    return b / a


def format_ratio(value: float | None) -> str:
    """A ratio as the page writes it: ``2.31×``, ``0.05×``, ``1,234×``; ``–`` for None (A is 0)."""
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    if value >= 0.01 or value == 0:
        return f"{value:.2f}×"
    return f"{value:.2g}×"


def format_delta(a: int | None, b: int | None, *, as_bytes: bool = False) -> str:
    """B − A with its sign (``+1,024``, ``−3.2 MB``, ``0``); ``–`` when either side is missing."""
    if a is None or b is None:
        return "–"
    diff = b - a
    if diff == 0:
        return "0"
    sign = "+" if diff > 0 else "−"
    return sign + (human_bytes(abs(diff)) if as_bytes else f"{abs(diff):,}")


def last_field(report: Report) -> Pair | None:
    """The receptive field of the last layer that tracks one (the classifier head after ``flatten``
    sees everything its last map saw), or None when no layer has one."""
    for row in reversed(report.layers):
        if row.receptive_field is not None:
            return row.receptive_field
    return None


@dataclass(frozen=True)
class Totals:
    """One design's totals: what the comparison sets side by side."""

    params: int
    macs: int
    activation_bytes: int       # every top-level layer's output for one image, fp32, summed
    output_shape: Shape | None
    receptive_field: Pair | None  # of the last layer that tracks one (see :func:`last_field`)
    layers: int                 # top-level layers (a branch or a named block counts once)


def totals_of(report: Report) -> Totals:
    """The totals of one analysed design."""
    return Totals(report.total_params, report.total_macs, report.total_activation_bytes, report.output_shape,
                  last_field(report), len(report.layers))


@dataclass(frozen=True)
class Stage:
    """Consecutive top-level layers with the same output map size."""

    label: str                  # "32×32", or "head" for the 1-D layers
    first: int                  # index of its first and last layer
    last: int
    output_shape: Shape
    params: int
    macs: int
    activation_bytes: int
    receptive_field: Pair | None  # of its last layer with a tracked field

    @property
    def span(self) -> str:
        """Its layers as text: ``"4"`` or ``"4–7"``."""
        return str(self.first) if self.first == self.last else f"{self.first}–{self.last}"


def _stage_label(row: LayerReport) -> str:
    shape = row.output_shape
    return format_dims(shape[1:]) if len(shape) == 3 else HEAD


def stages_of(report: Report) -> tuple[Stage, ...]:
    """The design's stages: runs of top-level layers with the same output map size."""
    runs: list[tuple[str, list[LayerReport]]] = []
    for row in report.layers:
        label = _stage_label(row)
        if runs and runs[-1][0] == label:
            runs[-1][1].append(row)
        else:
            runs.append((label, [row]))
    out = []
    for label, rows in runs:
        fields = [r.receptive_field for r in rows if r.receptive_field is not None]
        out.append(Stage(label, rows[0].index, rows[-1].index, rows[-1].output_shape,
                         sum(r.params for r in rows), sum(r.macs for r in rows),
                         sum(r.activation_bytes for r in rows), fields[-1] if fields else None))
    return tuple(out)


@dataclass(frozen=True)
class Pairing:
    """Which rows of A and B face each other: index pairs, None on the side that has no counterpart."""

    pairs: tuple[tuple[int | None, int | None], ...]
    how: str  # "position" | "prefix and suffix" (layers); "map size" (stages)
    matched: int  # pairs with both sides

    @property
    def unmatched(self) -> int:
        """Rows shown alone (present in one design only)."""
        return len(self.pairs) - self.matched


def _pair_layers(a: Sequence[LayerReport], b: Sequence[LayerReport]) -> Pairing:
    if len(a) == len(b):
        return Pairing(tuple((i, i) for i in range(len(a))), "position", len(a))
    types_a, types_b = [r.type for r in a], [r.type for r in b]
    prefix = 0
    while prefix < min(len(a), len(b)) and types_a[prefix] == types_b[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(a), len(b)) - prefix
           and types_a[len(a) - 1 - suffix] == types_b[len(b) - 1 - suffix]):
        suffix += 1
    pairs: list[tuple[int | None, int | None]] = [(i, i) for i in range(prefix)]
    pairs += [(i, None) for i in range(prefix, len(a) - suffix)]
    pairs += [(None, j) for j in range(prefix, len(b) - suffix)]
    pairs += [(len(a) - suffix + k, len(b) - suffix + k) for k in range(suffix)]
    return Pairing(tuple(pairs), "prefix and suffix", prefix + suffix)


def _pair_stages(a: Sequence[Stage], b: Sequence[Stage]) -> Pairing:
    labels_a, labels_b = [s.label for s in a], [s.label for s in b]
    pairs: list[tuple[int | None, int | None]] = []
    matched = 0
    ops = difflib.SequenceMatcher(None, labels_a, labels_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            pairs += [(i1 + k, j1 + k) for k in range(i2 - i1)]
            matched += i2 - i1
        else:  # a map size one design has and the other has not: each shown alone
            pairs += [(i, None) for i in range(i1, i2)] + [(None, j) for j in range(j1, j2)]
    return Pairing(tuple(pairs), "map size", matched)


@dataclass(frozen=True)
class Comparison:
    """Design A against design B: both reports, their totals, stages, and how their rows pair up."""

    a: Report
    b: Report
    totals_a: Totals
    totals_b: Totals
    stages_a: tuple[Stage, ...]
    stages_b: tuple[Stage, ...]
    stage_pairs: Pairing
    layer_pairs: Pairing

    def totals_rows(self, *, totals: bool = True, shapes: bool = True, fields: bool = True) -> list[dict[str, str]]:
        """The totals table, one dict per quantity (``quantity``, ``A``, ``B``, ``B / A``), all text.

        ``totals``: parameters and (with ``shapes``) MACs and activation memory; ``shapes``: the output
        shape, MACs and activations (sums of output sizes that would give the shapes away); ``fields``:
        the last receptive field. The layer count is always there."""
        ta, tb = self.totals_a, self.totals_b
        rows = []

        def add(name: str, a: str, b: str, r: str) -> None:
            rows.append({"quantity": name, "A": a, "B": b, "B / A": r})

        if totals:
            add("Parameters", f"{ta.params:,}", f"{tb.params:,}", format_ratio(ratio(ta.params, tb.params)))
            if shapes:
                add("MACs", f"{ta.macs:,}", f"{tb.macs:,}", format_ratio(ratio(ta.macs, tb.macs)))
                add("Activations (fp32)", human_bytes(ta.activation_bytes), human_bytes(tb.activation_bytes),
                    format_ratio(ratio(ta.activation_bytes, tb.activation_bytes)))
        if shapes:
            same = "same" if ta.output_shape == tb.output_shape else "differs"
            add("Output shape", format_dims(ta.output_shape), format_dims(tb.output_shape), same)
        if fields:
            fa, fb = ta.receptive_field, tb.receptive_field
            field_ratio = "–"
            if fa is not None and fb is not None:  # per side: one number when both sides grow alike
                rh, rw = format_ratio(ratio(fa[0], fb[0])), format_ratio(ratio(fa[1], fb[1]))
                field_ratio = rh if rh == rw else f"{rh} by {rw}"
            add("Receptive field (last)", format_pair(fa, missing="–"), format_pair(fb, missing="–"), field_ratio)
        add("Layers (top level)", str(ta.layers), str(tb.layers), format_ratio(ratio(ta.layers, tb.layers)))
        return rows

    def stage_rows(self, *, shapes: bool = True) -> list[dict[str, str]]:
        """The per-stage table (text cells): map size, layers, shapes, params, MACs, field and memory of
        each stage in A and B and B − A. Without ``shapes``: no shapes, MACs or memory columns (and the
        stages are numbered instead of named by their map size)."""
        out = []
        for n, (i, j) in enumerate(self.stage_pairs.pairs):
            sa = self.stages_a[i] if i is not None else None
            sb = self.stages_b[j] if j is not None else None
            known = sa or sb
            assert known is not None
            row = {"stage": known.label if shapes else str(n), "layers A": sa.span if sa else "–",
                   "layers B": sb.span if sb else "–"}
            row.update(_shape_cells(sa, sb) if shapes else {})
            row.update(_deltas(sa, sb, shapes))
            out.append(row)
        return out

    def layer_rows(self, *, shapes: bool = True) -> list[dict[str, str]]:
        """The per-layer table (text cells) over :attr:`layer_pairs`: each layer of A beside its
        counterpart in B, with shapes, params, MACs, field and memory, and B − A."""
        out = []
        for i, j in self.layer_pairs.pairs:
            la = self.a.layers[i] if i is not None else None
            lb = self.b.layers[j] if j is not None else None
            row = {"# A": str(i) if i is not None else "–", "layer A": la.description if la else "–",
                   "# B": str(j) if j is not None else "–", "layer B": lb.description if lb else "–"}
            row.update(_shape_cells(la, lb) if shapes else {})
            row.update(_deltas(la, lb, shapes))
            out.append(row)
        return out


def _shape_cells(a: LayerReport | Stage | None, b: LayerReport | Stage | None) -> dict[str, str]:
    """Both output shapes as table cells ("–" where a side has none)."""
    return {"shape A": format_dims(a.output_shape) if a else "–", "shape B": format_dims(b.output_shape) if b else "–"}


def _deltas(a: LayerReport | Stage | None, b: LayerReport | Stage | None, shapes: bool) -> dict[str, str]:
    """Params, MACs, field and memory of two facing rows (a stage or a layer each), and B − A."""
    def get(x: LayerReport | Stage | None, name: str) -> int | None:
        return None if x is None else int(getattr(x, name))

    def num(v: int | None) -> str:
        return "–" if v is None else f"{v:,}"

    row = {"params A": num(get(a, "params")), "params B": num(get(b, "params")),
           "Δ params": format_delta(get(a, "params"), get(b, "params"))}
    if shapes:
        row.update({"MACs A": num(get(a, "macs")), "MACs B": num(get(b, "macs")),
                    "Δ MACs": format_delta(get(a, "macs"), get(b, "macs"))})
    row.update({"field A": format_pair(a.receptive_field, missing="–") if a is not None else "–",
                "field B": format_pair(b.receptive_field, missing="–") if b is not None else "–"})
    if shapes:
        ma, mb = get(a, "activation_bytes"), get(b, "activation_bytes")
        row.update({"memory A": human_bytes(ma) if ma is not None else "–",
                    "memory B": human_bytes(mb) if mb is not None else "–",
                    "Δ memory": format_delta(ma, mb, as_bytes=True)})
    return row


def compare(a: Report, b: Report) -> Comparison:
    """Compare two analysed designs (``analyze(spec)`` each, or the designer view's report)."""
    stages_a, stages_b = stages_of(a), stages_of(b)
    return Comparison(a, b, totals_of(a), totals_of(b), stages_a, stages_b, _pair_stages(stages_a, stages_b),
                      _pair_layers(a.layers, b.layers))


def compare_query(token_a: str, token_b: str, **extra: str) -> str:
    """The query string that opens the designer on design A compared with B: ``spec=A&vs=B`` (+ ``extra``)."""
    return urlencode({"spec": token_a, "vs": token_b, **extra})


def compare_url(spec_a: dict[str, Any], spec_b: dict[str, Any]) -> str:
    """Relative link that opens the designer on ``spec_a`` compared with ``spec_b``
    (``design?spec=<A>&vs=<B>``); SpecError when a spec is too large for a link."""
    return f"design?{compare_query(encode_share(spec_a), encode_share(spec_b))}"


def read_design_text(text: str) -> dict[str, Any]:
    """The design in pasted text: a Designer link (its ``spec=`` design), a bare share token, or the
    design's JSON. SpecError with one clear reason otherwise (the share token's and the JSON's own
    limits apply: :func:`~playground.spec.share.decode_share`, :func:`~playground.design.editor.spec_from_text`).
    Only the structure is checked; bad values are shown at their layer, as in the designer."""
    text = text.strip()
    if not text:
        raise SpecError("nothing was pasted: paste a Designer link, or a design's JSON")
    if text.startswith("{"):
        return spec_from_text(text)
    if "=" in text or "?" in text or "/" in text:  # a link: its query holds the token
        tokens = parse_qs(urlsplit(text).query).get("spec")
        if not tokens:
            raise SpecError("the pasted link holds no design (it has no spec= part); copy the link from the "
                            "Designer's address bar or its Share tab")
        text = tokens[0]
    spec = decode_share(text)
    problem = spec_structure_error(spec)
    if problem:
        raise SpecError(f"this share link does not hold a design ({problem}); ask for the link again")
    return spec
