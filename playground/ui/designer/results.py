"""The designer's results: the error banner, totals, plain-word warnings and the per-layer table."""
from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import streamlit as st

from playground._format import format_dims, format_pair, human, human_bytes
from playground.design.view import DesignView
from playground.ui.designer.diagram import render_diagram
from playground.ui.replay import arrow_table, replayed
from playground.ui.text import md_text

__all__ = ["render_status", "render_totals", "render_warnings", "render_table", "table_rows", "spec_key",
           "render_summary", "SHAPES_HIDE_MORE"]

# Said wherever the output shapes take MACs and activation sizes with them (a link with ?hide=shapes)
SHAPES_HIDE_MORE = ("MACs and activation sizes are hidden with the output shapes on this link: divided by a "
                    "layer's weights, or by 4 bytes, they would give the shapes away.")


def spec_key(view: DesignView) -> str:
    """The design as canonical JSON: the cache key of its replayed results (and all they depend on)."""
    return json.dumps(view.spec, sort_keys=True, separators=(",", ":"), default=str)


def render_summary(view: DesignView, *, selected: Collection[int | str], hidden: frozenset[str]) -> None:
    """Status, totals and warnings, replayed while the design and the link's hidden panels are unchanged
    (a rerun that changed neither rebuilds nothing), then the diagram. The diagram has widgets of its own
    (stages to unfold), which cannot be replayed: it comes after them and replays its picture itself."""
    key = spec_key(view)
    _summary(key, tuple(sorted(hidden)), view)
    render_diagram(view, key, selected=selected, show_shapes="shapes" not in hidden)


@replayed
def _summary(key: str, hidden: tuple[str, ...], _view: DesignView) -> None:
    view = _view  # the caller's analysis of the design ``key`` names (not part of the cache key)
    render_status(view)
    if "totals" not in hidden:
        render_totals(view, show_shapes="shapes" not in hidden)
    if "warnings" not in hidden:
        render_warnings(view, frozenset(hidden))


def render_status(view: DesignView) -> None:
    """Say which part of the design the numbers cover when a layer is broken."""
    err = view.error
    if err is None:
        return
    if err.layer_index is None:  # the message itself sits under the input fields
        st.warning("The input size needs a fix (see the message under it); nothing can be worked out until then.",
                   icon=":material/construction:")
        return
    if view.n_valid == 0:
        covered = "Nothing can be worked out until it is fixed."
    elif view.n_valid == 1:
        covered = "The numbers cover layer 0, the part of the design before it."
    else:
        covered = f"The numbers cover layers 0–{view.n_valid - 1}, the part of the design before it."
    # The message is repeated here: in a long design the broken row may be scrolled out of view.
    st.warning(f"**Needs a fix** (its settings are shown under the layer list) — {md_text(err)}. {covered}",
               icon=":material/construction:")


def render_totals(view: DesignView, *, show_shapes: bool = True) -> None:
    """Parameters, MACs, FLOPs, fp32 model size and activation memory for one image.

    While a layer is broken they are the valid part's, and say so; with no valid layer there are none.
    Without ``show_shapes`` only parameters and model size: MACs and activations are sums of output
    sizes (a one-conv design's MACs ÷ its weights is H·W; its activations ÷ 4 bytes is C·H·W)."""
    r = view.report
    if r is None:
        return
    if view.error is not None:
        if view.n_valid == 0:
            st.caption("No totals yet: layer 0 needs a fix.")
            return
        st.caption(f"Totals of layers 0–{view.n_valid - 1}, the valid part before the broken layer:"
                   if view.n_valid > 1 else "Totals of layer 0, the valid part before the broken layer:")
    # A wrapping row: five numbers side by side when there is room, fewer per line when narrow.
    box = st.container(horizontal=True, gap="small")
    box.metric("Parameters", human(r.total_params), help=f"{r.total_params:,} (all trainable)", width="content")
    if show_shapes:
        box.metric("MACs", human(r.total_macs), help=f"{r.total_macs:,} multiply-accumulates per image",
                   width="content")
        box.metric("FLOPs", human(r.total_flops), help=f"{r.total_flops:,} = 2 × MACs", width="content")
    box.metric("Model size", human_bytes(r.model_bytes), help="parameters × 4 bytes (fp32)", width="content")
    if show_shapes:
        box.metric("Activations", human_bytes(r.total_activation_bytes),
                   help="every layer's output for one image, fp32, summed", width="content")
    else:
        st.caption(SHAPES_HIDE_MORE)


def render_warnings(view: DesignView, hidden: frozenset[str] = frozenset()) -> None:
    """Warnings (worth changing) and notes (facts worth knowing), leaving out any that would quote a
    quantity the teacher's link hides."""
    for advice in view.advice:
        if advice.reveals & hidden:
            continue
        show = st.warning if advice.level == "warning" else st.info
        show(md_text(advice.message), icon=":material/lightbulb:" if advice.level == "warning" else
             ":material/info:")


def table_rows(view: DesignView, *, show_shapes: bool = True) -> list[dict[str, Any]]:
    """One dict per analysed layer (plus the input), the columns of the layer table; the layers inside a
    branch follow it, their "#" path-qualified (layer 4, path 1, layer 0 is ``4.1.0``)."""
    r = view.report
    if r is None:
        return []
    rows = []
    first: dict[str, Any] = {"#": "", "layer": "input"}
    if show_shapes:
        first["output shape"] = format_dims(r.input_shape or ())
    rows.append({**first, "params": 0, "MACs": 0, "field": "1", "jump": "1", "start": "0", "activations": ""})
    for x in r.rows():  # a branch's rows follow it, indented and named by path ("4.1.0")
        row: dict[str, Any] = {"#": x.name, "layer": "\u2003" * x.depth + ("↳ " if x.depth else "") + x.description}
        if show_shapes:
            row["output shape"] = format_dims(x.output_shape)
        row.update({"params": x.params, "MACs": x.macs, "field": format_pair(x.receptive_field, missing="–"),
                    "jump": format_pair(x.jump, missing="–"), "start": format_pair(x.start, "{:g}", missing="–"),
                    "activations": human_bytes(x.activation_bytes)})
        rows.append(row)
    if not show_shapes:  # activations ÷ 4 bytes ÷ C is H·W; a conv's MACs ÷ its weights is H·W too
        rows = [{k: v for k, v in row.items() if k not in _SHAPE_DERIVED} for row in rows]
    return rows


_SHAPE_DERIVED = ("MACs", "activations")  # the table's columns that give away a hidden output shape


def render_table(view: DesignView, *, show_shapes: bool) -> None:
    """The per-layer table: shape, params, MACs, receptive field / jump / start, activation memory."""
    _table(spec_key(view), show_shapes, view)


@replayed
def _table(key: str, show_shapes: bool, _view: DesignView) -> None:
    rows = table_rows(_view, show_shapes=show_shapes)  # _view: the analysis of ``key``, not hashed
    if not rows:
        st.info("Nothing to analyse until the input size is valid.")
        return
    # Tall enough for every row of a typical design (35 px per row), then it scrolls.
    num = st.column_config.NumberColumn
    st.dataframe(arrow_table(rows), hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 740),
                 column_config={"#": st.column_config.TextColumn(width=40, pinned=True),
                                "layer": st.column_config.TextColumn(pinned=True),
                                "params": num(format="localized", help="weights and biases of this layer"),
                                "MACs": num(format="localized", help="multiply-accumulates for one image"),
                                "field": st.column_config.TextColumn(help="receptive field (input pixels)"),
                                "jump": st.column_config.TextColumn(help="input pixels between neighbouring units"),
                                "start": st.column_config.TextColumn(help="centre of the top-left unit's field"),
                                "activations": st.column_config.TextColumn(help="this layer's output, fp32")})
    st.caption("**field**: the receptive field, how many input pixels one unit sees; **jump**: input pixels "
               "between neighbouring units; **start**: the input coordinate at the centre of the top-left "
               "unit's field (negative when it reaches into the padding)"
               + ("; **activations**: the layer's output for one image in fp32. " if show_shapes else ". ")
               + "Rows such as **4.1.0** are inside a branch: layer 4, path 1, layer 0; the branch's own row "
               "holds the totals of its paths and, where paths merge, the largest field.")
    if not show_shapes:
        st.caption(SHAPES_HIDE_MORE)
