"""The designer's editing column: input size, one compact row per layer, the add-layer bar.

Each layer row is an expander whose title is the layer and its output shape; its fields
are drawn only while it is open (lazy expanders), so a 30-layer design reruns fast.
"""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

from playground._format import format_dims
from playground.design.editor import LAYER_TYPE_NAMES, Design, EditorField, fields_of, format_value
from playground.design.presets import PRESETS
from playground.design.view import DesignView
from playground.spec.parse import SpecError, parse_layer
from playground.ui.designer import session as ss

__all__ = ["render_toolbar", "render_input", "render_layers", "render_add_bar", "row_key", "MOVE_UP", "MOVE_DOWN",
           "COPY", "REMOVE", "ADD_TYPE_KEY", "ADD_KEY", "PRESET_KEY", "UNDO_KEY"]

# Widget keys of the add bar and the toolbar
ADD_TYPE_KEY, ADD_KEY = "dz.addtype", "dz.add"
PRESET_KEY, UNDO_KEY = "dz.preset", "dz.undo"
MOVE_UP, MOVE_DOWN, COPY, REMOVE = "up", "dn", "cp", "rm"  # a layer row's buttons (see row_key)

_FIELDS_PER_ROW = 3
_ROWS_BEFORE_SCROLL = 9    # more layers than this: the list scrolls in a box ...
_LIST_HEIGHT = 500         # ... this many pixels tall (about 9 closed rows, or an open conv row and then some)


def row_key(action: str, layer_id: int) -> str:
    """Widget key of button ``action`` (MOVE_UP, MOVE_DOWN, COPY or REMOVE) of the layer with this id."""
    return f"dz.{action}.{layer_id}"


def render_input(d: Design, view: DesignView, *, locked: bool) -> None:
    """The input size row (channels, height, width) and any error about it."""
    cols = st.columns(3)
    for dim, (col, label) in enumerate(zip(cols, ("Input channels", "Height", "Width"))):
        value = format_value(d.input[dim]) if dim < len(d.input) else ""
        col.text_input(label, value=value, key=ss.in_key(dim, d.input_rev), on_change=ss.on_input, args=(dim,),
                       disabled=locked)
    if view.error is not None and view.error.layer_index is None:
        st.error(str(view.error), icon=":material/error:")


def _title(i: int, layer: dict[str, Any], view: DesignView, show_shapes: bool) -> tuple[str, str | None]:
    """Expander title and icon for layer ``i``."""
    if i < view.n_valid:
        desc = view.parsed.layers[i].describe()  # type: ignore[union-attr]
        shape = f" → **{format_dims(view.output_shape(i))}**" if show_shapes else ""
        return f"`{i}` {desc}{shape}", None
    kind = layer.get("type", "layer")
    if view.error is not None and view.error.layer_index == i:
        return f"`{i}` {kind} — needs a fix", ":material/error:"
    try:  # after the broken layer: no shapes, but the layer's own settings still have a label
        kind = parse_layer(layer, i).describe()
    except SpecError:
        pass
    return f"`{i}` {kind} → ?", None


def _field_widget(layer_id: int, layer: dict[str, Any], f: EditorField, *, locked: bool) -> None:
    value = layer.get(f.name)
    # The design gives each widget its first value; after that the widget keeps what the user typed.
    # (A layer changed behind its widgets' back gets a fresh id, hence fresh widgets: see Design.undo.)
    if f.kind == "bool" and (value is None or isinstance(value, bool)):
        key = ss.wkey(layer_id, f.name)
        st.checkbox(f.label, value=f.default if value is None else value, key=key,
                    on_change=ss.on_field, args=(layer_id, f.name, "bool", key), disabled=locked)
        return
    # Anything that is not a clean bool is edited as text, so a bad value from a link or a file
    # shows as typed and the spec's message explains it. (A bool shown as text has its own key.)
    key = ss.wkey(layer_id, f.name) + (".text" if f.kind == "bool" else "")
    text = format_value(value) if not isinstance(value, (dict, bool)) else json.dumps(value)
    st.text_input(f.label, value=text, placeholder=f.placeholder, key=key, on_change=ss.on_field,
                  args=(layer_id, f.name, f.kind, key), disabled=locked)


def _layer_body(d: Design, i: int, layer_id: int, layer: dict[str, Any], view: DesignView, *, locked: bool) -> None:
    err = view.error if view.error is not None and view.error.layer_index == i else None
    if err is not None:
        st.error(str(err), icon=":material/error:")
    kind = layer.get("type")
    fields = fields_of(kind) if isinstance(kind, str) and kind in LAYER_TYPE_NAMES else ()
    if not fields and isinstance(kind, str) and kind in LAYER_TYPE_NAMES:
        st.caption("No settings: this layer has nothing to choose.")
    elif not fields:
        st.code(json.dumps(layer), language="json")
        st.caption("Remove this layer and add one of the layer types below.")
    for start in range(0, len(fields), _FIELDS_PER_ROW):
        cols = st.columns(_FIELDS_PER_ROW)
        for col, f in zip(cols, fields[start:start + _FIELDS_PER_ROW]):
            with col:
                _field_widget(layer_id, layer, f, locked=locked)
    if i < view.n_valid and view.report is not None:
        row = view.report.layers[i]
        st.caption(f"{row.params:,} parameters · {row.macs:,} MACs · "
                   f"{row.activation_bytes / 1e6:.3g} MB of activations (fp32)")
    if locked:
        return
    # A wrapping row of content-wide buttons: in a narrow column they wrap instead of clipping their labels.
    bar = st.container(horizontal=True, gap="small")
    bar.button("Up", icon=":material/arrow_upward:", key=row_key(MOVE_UP, layer_id), on_click=ss.on_move,
               args=(layer_id, -1), disabled=i == 0, help="Move this layer up")
    bar.button("Down", icon=":material/arrow_downward:", key=row_key(MOVE_DOWN, layer_id), on_click=ss.on_move,
               args=(layer_id, 1), disabled=i == len(d.layers) - 1, help="Move this layer down")
    bar.button("Copy", icon=":material/content_copy:", key=row_key(COPY, layer_id), on_click=ss.on_duplicate,
               args=(layer_id,), help="Insert a copy below")
    bar.button("Remove", icon=":material/delete:", key=row_key(REMOVE, layer_id), on_click=ss.on_remove,
               args=(layer_id,))


def render_layers(d: Design, view: DesignView, *, locked: bool, show_shapes: bool) -> None:
    """One expander per layer: title = layer + output shape; body (when open) = its fields and actions."""
    if not d.layers:
        st.info("No layers yet: add one below, or load a preset.")
    err = view.error
    # A long stack scrolls inside its own box, so the results below stay within reach.
    # Right after "Add layer" it scrolls to the bottom, where the new (open) row is.
    just_added = st.session_state.pop(ss.JUST_ADDED, False)
    box = (st.container(height=_LIST_HEIGHT, autoscroll=just_added or None) if len(d.layers) > _ROWS_BEFORE_SCROLL
           else st.container())
    with box:
        _layer_rows(d, view, locked=locked, show_shapes=show_shapes)
    if err is not None and err.layer_index is not None and err.layer_index >= len(d.layers):
        st.error(str(err), icon=":material/error:")  # defensive: an error past the last row


def _layer_rows(d: Design, view: DesignView, *, locked: bool, show_shapes: bool) -> None:
    err = view.error
    for i, (layer_id, layer) in enumerate(zip(d.ids, d.layers)):
        if not isinstance(layer, dict):
            layer = {}
        if err is not None and err.layer_index == i and st.session_state.get("dz.auto") != (layer_id, str(err)):
            # Open the broken layer once per new error, so its message is in view.
            st.session_state["dz.auto"] = (layer_id, str(err))
            ss.open_layer(layer_id)
        title, icon = _title(i, layer, view, show_shapes)
        with st.expander(title, expanded=ss.is_open(layer_id), key=ss.okey(layer_id), icon=icon,
                         on_change=ss.on_toggle, args=(layer_id,)) as box:
            if box.open:
                _layer_body(d, i, layer_id, layer, view, locked=locked)


def render_add_bar(view: DesignView) -> None:
    """Pick a layer type and append it (its width follows the current channel count)."""
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    left.selectbox("Layer type", LAYER_TYPE_NAMES, key=ADD_TYPE_KEY)
    right.button("Add layer", icon=":material/add:", key=ADD_KEY, on_click=ss.on_add,
                 # The first layer starts at 16 wide rather than copying the image's 3 (or 1) channels.
                 args=(ADD_TYPE_KEY, view.channels_at_end if view.n_valid else None), width="stretch",
                 type="primary")



def render_toolbar(d: Design) -> None:
    """Load a preset (replaces the design; Undo brings it back) and Undo."""
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    left.selectbox("Start from a preset", list(PRESETS), index=None, placeholder="Choose a classic network…",
                   key=PRESET_KEY, on_change=ss.on_preset, args=(PRESET_KEY,),
                   help="Replaces the current design; Undo brings it back.")
    label = d.undo_label
    right.button("Undo", icon=":material/undo:", key=UNDO_KEY, on_click=ss.on_undo, disabled=label is None,
                 help=f"Undo: {label}" if label else "Nothing to undo yet", width="stretch")
