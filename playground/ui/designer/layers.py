"""The designer's editing column: toolbar (preset, new, import, undo), input size, the layer list,
the chosen layer's editor, the add bar (one-click blocks where they fit, or any type at any position).

The list is one radio group, a line per layer (the layer and its output shape); the chosen layer's
fields and actions (type, position, insert above/below, copy, remove) are drawn under it. One
element for the whole list, where an expander per layer cost Streamlit a keyed widget each on every
run: 40 of them took 9.7 ms of server CPU per run against 2.4 ms for the radio (measured with 40 rows
under `streamlit run`), and the Designer is the page a whole class edits at once.
"""
from __future__ import annotations

import contextlib
import json
from typing import Any

import streamlit as st

from playground._format import format_dims
from playground.design.blocks import BLOCK_HELP, BLOCKS
from playground.design.editor import LAYER_TYPE_NAMES, Design, EditorField, fields_of, format_value
from playground.design.expand import EXPANDABLE
from playground.design.presets import PRESETS
from playground.design.view import DesignView
from playground.spec.parse import SpecError, parse_layer
from playground.ui.designer import session as ss
from playground.ui.text import md_text
from playground.ui.widget_state import keep, remember

__all__ = ["render_toolbar", "render_input", "render_layers", "render_editor", "render_add_bar", "row_key",
           "MOVE_UP", "MOVE_DOWN", "COPY", "REMOVE", "ABOVE", "BELOW", "EXPAND", "ADD_TYPE_KEY", "ADD_KEY",
           "PRESET_KEY", "UNDO_KEY", "NEW_KEY",
           "ARCH_KEY", "PASTE_KEY", "PASTE_LOAD_KEY", "IMPORT_KEY", "quick_key", "where_key", "type_key",
           "position_key"]

# Widget keys of the add bar and the toolbar
ADD_TYPE_KEY, ADD_KEY = "dz.addtype", "dz.add"
PRESET_KEY, UNDO_KEY, NEW_KEY = "dz.preset", "dz.undo", "dz.new"
ARCH_KEY, PASTE_KEY, PASTE_LOAD_KEY = "dz.arch", "dz.paste", "dz.paste.load"
IMPORT_KEY = "dz.import"  # the import expander (its content is drawn only while it is open)
MOVE_UP, MOVE_DOWN, COPY, REMOVE, ABOVE, BELOW = "up", "dn", "cp", "rm", "ia", "ib"  # a row's buttons (row_key)
EXPAND = "ex"  # a named block's Expand button
ADD_CHOICES: tuple[str, ...] = (*LAYER_TYPE_NAMES, *BLOCKS)  # what the add bar and "insert above/below" offer


def quick_key(block: str) -> str:
    """Widget key of the one-click add button of ``block`` (a BLOCKS name)."""
    return f"dz.q.{list(BLOCKS).index(block)}"


def where_key(n_layers: int) -> str:
    """Widget key of the add bar's position box; it starts again at "where it fits" when the count changes."""
    return f"dz.where.{n_layers}"


def type_key(layer_id: int) -> str:
    """Widget key of a layer row's type box."""
    return f"dz.ty.{layer_id}"


def position_key(layer_id: int, index: int) -> str:
    """Widget key of a layer row's position box (it starts again when the layer moves)."""
    return f"dz.pos.{layer_id}.{index}"

_FIELDS_PER_ROW = 3
_TYPE_LABEL_CHARS = 24     # a layer type quoted in a position label (a link may hold any text there)
_ROWS_BEFORE_SCROLL = 18   # more layers than this (the default design's count): the list scrolls in a box ...
_LIST_HEIGHT = 500         # ... this many pixels tall (about 18 lines)


def row_key(action: str, layer_id: int) -> str:
    """Widget key of button ``action`` (MOVE_UP, MOVE_DOWN, COPY or REMOVE) of the layer with this id."""
    return f"dz.{action}.{layer_id}"


def render_input(d: Design, view: DesignView, *, locked: bool) -> None:
    """The input size row (channels, height, width) and any error about it."""
    # A horizontal container, not st.columns(3): one layout element instead of four on every run.
    row = st.container(horizontal=True, gap="small", wrap=False)  # three equal boxes on one line
    for dim, label in enumerate(("Input channels", "Height", "Width")):
        value = format_value(d.input[dim]) if dim < len(d.input) else ""
        row.text_input(label, value=value, key=ss.in_key(dim, d.input_rev), on_change=ss.on_input, args=(dim,),
                       disabled=locked)
    if view.error is not None and view.error.layer_index is None:
        st.error(md_text(view.error), icon=":material/error:")


def _title(i: int, layer: dict[str, Any], view: DesignView, show_shapes: bool) -> tuple[str, str | None]:
    """Expander title and icon for layer ``i``."""
    if i < view.n_valid:
        desc = view.parsed.layers[i].describe()  # type: ignore[union-attr]
        shape = f" → **{format_dims(view.output_shape(i))}**" if show_shapes else ""
        return f"`{i}` {desc}{shape}", None
    kind = md_text(layer.get("type", "layer"))  # any text a link or file put there: shown, never interpreted
    if view.error is not None and view.error.layer_index == i:
        return f"`{i}` {kind} — needs a fix", ":material/error:"
    with contextlib.suppress(SpecError):  # after the broken layer: no shapes, but its own settings still label it
        kind = parse_layer(layer, i).describe()  # validated values only
    return f"`{i}` {kind}{' → ?' if show_shapes else ''}", None


def _field_widget(layer_id: int, layer: dict[str, Any], f: EditorField, *, locked: bool) -> None:
    value = layer.get(f.name)
    # The design gives each widget its first value; after that the widget keeps what the user typed.
    # (A layer changed behind its widgets' back gets a fresh id, hence fresh widgets: see Design.undo.)
    if f.kind == "bool" and (isinstance(value, bool) or (value is None and f.default is not None)):
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


def _layer_body(d: Design, i: int, layer_id: int, layer: dict[str, Any], view: DesignView, *, locked: bool,
                show_numbers: bool, show_shapes: bool = True) -> None:
    err = view.error if view.error is not None and view.error.layer_index == i else None
    if err is not None:
        st.error(md_text(err), icon=":material/error:")
    kind = layer.get("type")
    if not locked:
        _type_and_position(d, i, layer_id, kind, view)
    fields = fields_of(kind) if isinstance(kind, str) and kind in LAYER_TYPE_NAMES else ()
    if kind == "branch":
        _branch_body(layer, i, view)
    if not fields and isinstance(kind, str) and kind in LAYER_TYPE_NAMES:
        st.caption("No settings: this layer has nothing to choose.")
    elif not fields:
        st.code(json.dumps(layer), language="json")
        st.caption("Pick one of the layer types above, or remove this layer.")
    for start in range(0, len(fields), _FIELDS_PER_ROW):
        cols = st.columns(_FIELDS_PER_ROW)
        for col, f in zip(cols, fields[start:start + _FIELDS_PER_ROW]):
            with col:
                _field_widget(layer_id, layer, f, locked=locked)
    if show_numbers and i < view.n_valid and view.report is not None:
        row = view.report.layers[i]
        # MACs ÷ weights and activations ÷ 4 bytes give a hidden output shape away: the params only then
        st.caption(f"{row.params:,} parameters · {row.macs:,} MACs · "
                   f"{row.activation_bytes / 1e6:.3g} MB of activations (fp32)" if show_shapes else
                   f"{row.params:,} parameters")
    if locked:
        return
    # A wrapping row of content-wide buttons: in a narrow column they wrap instead of clipping their labels.
    bar = st.container(horizontal=True, gap="small")
    if kind in EXPANDABLE:
        bar.button("Expand", icon=":material/account_tree:", key=row_key(EXPAND, layer_id), on_click=ss.on_expand,
                   args=(layer_id, view), help="Replace this block by the branch and layers it stands for (same "
                                               "parameters, MACs and field); Undo brings it back")
    bar.button("Up", icon=":material/arrow_upward:", key=row_key(MOVE_UP, layer_id), on_click=ss.on_move,
               args=(layer_id, -1), disabled=i == 0, help="Move this layer up")
    bar.button("Down", icon=":material/arrow_downward:", key=row_key(MOVE_DOWN, layer_id), on_click=ss.on_move,
               args=(layer_id, 1), disabled=i == len(d.layers) - 1, help="Move this layer down")
    bar.button("Copy", icon=":material/content_copy:", key=row_key(COPY, layer_id), on_click=ss.on_duplicate,
               args=(layer_id,), help="Insert a copy below")
    bar.button("Remove", icon=":material/delete:", key=row_key(REMOVE, layer_id), on_click=ss.on_remove,
               args=(layer_id,))
    choice = st.session_state.get(ADD_TYPE_KEY) or ADD_CHOICES[0]
    bar.button(f"Insert {choice} above", icon=":material/vertical_align_top:", key=row_key(ABOVE, layer_id),
               on_click=ss.on_insert, args=(choice, i, view), help="Change what is inserted in the add bar below")
    bar.button(f"Insert {choice} below", icon=":material/vertical_align_bottom:", key=row_key(BELOW, layer_id),
               on_click=ss.on_insert, args=(choice, i + 1, view), help="Change what is inserted in the add bar below")


def _branch_body(layer: dict[str, Any], i: int, view: DesignView) -> None:
    """A branch's paths, read-only for now: each path's layers, with the report's numbers when valid."""
    row = view.report.layers[i] if view.report is not None and i < view.n_valid else None
    if row is None:
        st.code(json.dumps(layer.get("paths"), indent=1)[:4000], language="json")
        return
    for p, path in enumerate(row.children):
        lines = [f"`{x.name}` {md_text(x.description)} → {format_dims(x.output_shape)}" for x in path]
        st.markdown(f"**path {p}**: " + (" · ".join(lines) if lines else "identity (the input itself)"))
    st.caption("Editing inside a branch comes later: change it in the JSON (Share & export) and paste it back.")


def _type_and_position(d: Design, i: int, layer_id: int, kind: Any, view: DesignView) -> None:
    """Change the layer's type (keeping the settings that still apply) or move it anywhere in one step."""
    left, right = st.columns([3, 2])
    known = isinstance(kind, str) and kind in LAYER_TYPE_NAMES
    left.selectbox("Type", LAYER_TYPE_NAMES, index=LAYER_TYPE_NAMES.index(kind) if known else None,
                   placeholder="choose a type", key=type_key(layer_id), on_change=ss.on_change_type,
                   args=(layer_id, type_key(layer_id), view),
                   help="Settings the new type also has are kept (e.g. conv2d → dwsep keeps width, kernel, stride)")
    right.number_input("Position", min_value=0, max_value=max(0, len(d.layers) - 1), value=i, step=1,
                       key=position_key(layer_id, i), on_change=ss.on_move_to,
                       args=(layer_id, position_key(layer_id, i)),
                       help="Move this layer to another place in the list in one step")


def render_layers(d: Design, view: DesignView, *, show_shapes: bool) -> None:
    """The layer list: a line per layer (the layer and its output shape); a click chooses the layer
    whose editor :func:`render_editor` draws. A new error chooses the broken layer."""
    if not d.layers:
        st.info("No layers yet: add one below, or load a preset.")
        return
    err = view.error
    if err is not None and err.layer_index is not None and err.layer_index < len(d.layers):
        broken = d.ids[err.layer_index]
        if st.session_state.get("dz.auto") != (broken, str(err)):
            # Choose the broken layer once per new error, so its message and fields are in view.
            st.session_state["dz.auto"] = (broken, str(err))
            ss.select_layer(broken)
    _layer_list(d, view, ss.selected_id(), show_shapes=show_shapes)
    if err is not None and err.layer_index is not None and err.layer_index >= len(d.layers):
        st.error(md_text(err), icon=":material/error:")  # defensive: an error past the last row


def render_editor(d: Design, view: DesignView, *, locked: bool, show_shapes: bool, show_numbers: bool = True) -> None:
    """The chosen layer's settings and actions, in a box under the list and the add bar."""
    chosen = ss.selected_id()
    if chosen is None:
        if d.layers:
            st.caption("Choose a layer in the list to see its settings" + ("." if locked else " and change them."))
        return
    i = d.position(chosen)
    layer = d.layers[i] if isinstance(d.layers[i], dict) else {}
    with st.container(border=True):
        st.markdown(_title(i, layer, view, show_shapes)[0])
        _layer_body(d, i, chosen, layer, view, locked=locked, show_numbers=show_numbers, show_shapes=show_shapes)


def _layer_list(d: Design, view: DesignView, chosen: int | None, *, show_shapes: bool) -> None:
    titles = {}
    for i, (layer_id, layer) in enumerate(zip(d.ids, d.layers)):
        title, icon = _title(i, layer if isinstance(layer, dict) else {}, view, show_shapes)
        titles[layer_id] = f"{icon} {title}" if icon else title
    # A long stack scrolls inside its own box, so the results below stay within reach.
    # Right after "Add layer" it scrolls to the bottom, where the new (chosen) row is.
    just_added = st.session_state.pop(ss.JUST_ADDED, False)
    box = (st.container(height=_LIST_HEIGHT, autoscroll=just_added or None) if len(d.layers) > _ROWS_BEFORE_SCROLL
           else st.container())
    key = ss.list_key(d.ids)
    box.radio("Layers", d.ids, index=None if chosen is None else d.position(chosen), key=key,
              format_func=titles.__getitem__, on_change=ss.on_select, args=(key,), label_visibility="collapsed")


def _where_label(d: Design, position: int) -> str:
    if position == ss.FIT:
        return "where it fits"
    if position == 0:
        return "at the top"
    kind = d.layers[position - 1].get("type", "?")  # option labels are plain text, never markdown
    return f"after layer {position - 1} ({str(kind)[:_TYPE_LABEL_CHARS]})"


def render_add_bar(d: Design, view: DesignView) -> None:
    """One-click blocks (placed where they fit: before the head, or the head at the end), and any
    layer type or block at any position. New widths follow the channels reaching that position."""
    quick = st.container(horizontal=True, gap="small", vertical_alignment="center")
    quick.caption("Add where it fits:")
    for name in BLOCKS:
        quick.button(name, key=quick_key(name), on_click=ss.on_insert, args=(name, ss.FIT, view),
                     help=f"{BLOCK_HELP[name]}; goes before the head (the head itself at the end)")
    pick = st.container(horizontal=True, gap="small", vertical_alignment="bottom", wrap=False)
    pick.selectbox("Layer or block", ADD_CHOICES, key=ADD_TYPE_KEY,
                   format_func=lambda c: f"block: {c}" if c in BLOCKS else c)
    where = where_key(len(d.layers))
    pick.selectbox("Where", [ss.FIT, *range(len(d.layers) + 1)], key=where,
                  format_func=lambda p: _where_label(d, p))
    st.button("Add layer", icon=":material/add:", key=ADD_KEY, on_click=ss.on_add,
              args=(ADD_TYPE_KEY, where, view), width="stretch", type="primary")


def render_toolbar(d: Design) -> None:
    """Load a preset (replaces the design; Undo brings it back), start empty, Undo; import a design."""
    bar = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
    bar.selectbox("Start from a preset", list(PRESETS), index=None, placeholder="Choose a classic network…",
                  key=PRESET_KEY, on_change=ss.on_preset, args=(PRESET_KEY,), width=220,
                  help="Replaces the current design; Undo brings it back.")
    bar.button("New empty", icon=":material/note_add:", key=NEW_KEY, on_click=ss.on_clear,
               help="Remove every layer (the input size stays); Undo brings them back")
    label = d.undo_label
    bar.button("Undo", icon=":material/undo:", key=UNDO_KEY, on_click=ss.on_undo, disabled=label is None,
               help=f"Undo: {label}" if label else "Nothing to undo yet")
    # Drawn only while open (most runs never open it); pasted text is kept while it is closed.
    with st.expander("Import a design: a torchvision architecture, or pasted JSON", icon=":material/input:",
                     key=IMPORT_KEY, on_change="rerun") as box:
        if not box.open:
            keep([PASTE_KEY])  # the text of the last run, before this run drops it
            return
        remember({PASTE_KEY: ""})
        st.selectbox("torchvision architecture", list(ss.ARCHITECTURES), index=None,
                     format_func=ss.ARCHITECTURES.__getitem__, placeholder="Choose one to load…", key=ARCH_KEY,
                     on_change=ss.on_architecture, args=(ARCH_KEY,),
                     help="Those the layer spec expresses exactly (same parameter count as torchvision)")
        st.text_area("Spec JSON", key=PASTE_KEY, height=120,
                     placeholder='{"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 16, '
                                 '"kernel_size": 3}]}')
        st.button("Load pasted JSON", icon=":material/upload:", key=PASTE_LOAD_KEY, on_click=ss.on_paste,
                  args=(PASTE_KEY,))
        keep([PASTE_KEY])
