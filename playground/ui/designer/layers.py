"""The designer's editing column: toolbar (preset, new, import, undo), input size, the layer list,
the chosen layer's editor, the add bar (one-click blocks where they fit, or any type at any position).

The list is one radio group, a line per layer (the layer and its output shape); a branch's paths follow
its line, indented, each path's layers (or "identity") selectable in the same group. The chosen layer's
fields and actions (type, position, insert above/below, copy, remove, wrap in residual; a branch's merge
and paths, see :mod:`playground.ui.designer.paths`) are drawn under it, the same at any depth. One
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
from playground.design.tree import EmptyPath, Slot, lines, rows_by_name
from playground.design.view import DesignView
from playground.spec.parse import SpecError, parse_layer
from playground.ui.designer import paths as branch_ui
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
_INDENT = "\u2003\u2003"    # an em space pair per level of branch (markdown keeps them; plain spaces it drops)
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


def _title(slot: Slot, layer: dict[str, Any], view: DesignView, show_shapes: bool, broken: int | None,
           rows: dict[str, Any]) -> tuple[str, str | None]:
    """List line and icon for the layer at ``slot`` (inside a path: indented, with its path and its name)."""
    prefix = "" if slot.parent is None else f"{_INDENT * slot.depth}path {slot.path} · "
    row = rows.get(slot.name) if slot.parent is not None else None
    if slot.parent is None and slot.index < view.n_valid:
        desc, shape = view.parsed.layers[slot.index].describe(), view.output_shape(slot.index)  # type: ignore[union-attr]
    elif row is not None:
        desc, shape = row.description, row.output_shape
    else:
        kind = md_text(layer.get("type", "layer"))  # any text a link or file put there: shown, never interpreted
        if broken == slot.layer_id:
            return f"{prefix}`{slot.name}` {kind} — needs a fix", ":material/error:"
        with contextlib.suppress(SpecError):  # after the broken layer: no shapes, but its own settings still label it
            kind = parse_layer(layer, slot.index).describe()  # validated values only
        return f"{prefix}`{slot.name}` {kind}{' → ?' if show_shapes else ''}", None
    if broken == slot.layer_id:  # a valid-looking branch whose merge fails
        return f"{prefix}`{slot.name}` {desc} — needs a fix", ":material/error:"
    return f"{prefix}`{slot.name}` {desc}{f' → **{format_dims(shape)}**' if show_shapes else ''}", None


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


def _layer_body(d: Design, slot: Slot, layer: dict[str, Any], view: DesignView, *, locked: bool,
                show_numbers: bool, show_shapes: bool = True) -> None:
    layer_id = slot.layer_id
    err = view.error if view.error is not None and ss.broken_id(d, view) == layer_id else None
    if err is not None:
        st.error(md_text(err), icon=":material/error:")
    kind = layer.get("type")
    if not locked:
        _type_and_position(slot, kind, view)
    fields = fields_of(kind) if isinstance(kind, str) and kind in LAYER_TYPE_NAMES else ()
    if kind == "branch":
        branch_ui.render_branch_controls(slot, layer, locked=locked)
        fields = tuple(f for f in fields if f.name != "merge")  # the merge is a choice, drawn above
    if not fields and isinstance(kind, str) and kind in LAYER_TYPE_NAMES and kind != "branch":
        st.caption("No settings: this layer has nothing to choose.")
    elif not fields and kind != "branch":
        st.code(json.dumps(slot.layer), language="json")  # as it came (a link may hold a bare number)
        st.caption("Pick one of the layer types above, or remove this layer.")
    for start in range(0, len(fields), _FIELDS_PER_ROW):
        cols = st.columns(_FIELDS_PER_ROW)
        for col, f in zip(cols, fields[start:start + _FIELDS_PER_ROW]):
            with col:
                _field_widget(layer_id, layer, f, locked=locked)
    row = rows_by_name(view).get(slot.name) if slot.parent is not None else (
        view.report.layers[slot.index] if view.report is not None and slot.index < view.n_valid else None)
    if show_numbers and row is not None:
        # MACs ÷ weights and activations ÷ 4 bytes give a hidden output shape away: the params only then
        st.caption(f"{row.params:,} parameters · {row.macs:,} MACs · "
                   f"{row.activation_bytes / 1e6:.3g} MB of activations (fp32)" if show_shapes else
                   f"{row.params:,} parameters")
    if locked:
        return
    # A wrapping row of content-wide buttons: in a narrow column they wrap instead of clipping their labels.
    bar = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
    if kind in EXPANDABLE:
        bar.button("Expand", icon=":material/account_tree:", key=row_key(EXPAND, layer_id), on_click=ss.on_expand,
                   args=(layer_id, view), help="Replace this block by the branch and layers it stands for (same "
                                               "parameters, MACs and field); Undo brings it back")
    bar.button("Up", icon=":material/arrow_upward:", key=row_key(MOVE_UP, layer_id), on_click=ss.on_move,
               args=(layer_id, -1), disabled=slot.index == 0, help="Move this layer up (within its list)")
    bar.button("Down", icon=":material/arrow_downward:", key=row_key(MOVE_DOWN, layer_id), on_click=ss.on_move,
               args=(layer_id, 1), disabled=slot.index == len(slot.layers) - 1,
               help="Move this layer down (within its list)")
    bar.button("Copy", icon=":material/content_copy:", key=row_key(COPY, layer_id), on_click=ss.on_duplicate,
               args=(layer_id,), help="Insert a copy below")
    bar.button("Remove", icon=":material/delete:", key=row_key(REMOVE, layer_id), on_click=ss.on_remove,
               args=(layer_id,))
    choice = _add_choice()
    bar.button(f"Insert {choice} above", icon=":material/vertical_align_top:", key=row_key(ABOVE, layer_id),
               on_click=ss.on_insert_near, args=(choice, layer_id, 0, view),
               help="Change what is inserted in the add bar above")
    bar.button(f"Insert {choice} below", icon=":material/vertical_align_bottom:", key=row_key(BELOW, layer_id),
               on_click=ss.on_insert_near, args=(choice, layer_id, 1, view),
               help="Change what is inserted in the add bar above")
    branch_ui.render_wrap(slot, bar)


def _add_choice() -> str:
    """What "insert above/below" inserts: the add bar's choice."""
    choice = st.session_state.get(ADD_TYPE_KEY)
    return choice if choice in ADD_CHOICES else ADD_CHOICES[0]


def _type_and_position(slot: Slot, kind: Any, view: DesignView) -> None:
    """Change the layer's type (keeping the settings that still apply) or move it anywhere in its list in one
    step (the top level, or its path)."""
    left, right = st.columns([3, 2])
    known = isinstance(kind, str) and kind in LAYER_TYPE_NAMES
    layer_id, i = slot.layer_id, slot.index
    left.selectbox("Type", LAYER_TYPE_NAMES, index=LAYER_TYPE_NAMES.index(kind) if known else None,
                   placeholder="choose a type", key=type_key(layer_id), on_change=ss.on_change_type,
                   args=(layer_id, type_key(layer_id), view),
                   help="Settings the new type also has are kept (e.g. conv2d → dwsep keeps width, kernel, stride)")
    right.number_input("Position" if slot.parent is None else f"Position in path {slot.path}", min_value=0,
                       max_value=max(0, len(slot.layers) - 1), value=i, step=1,
                       key=position_key(layer_id, i), on_change=ss.on_move_to,
                       args=(layer_id, position_key(layer_id, i)),
                       help="Move this layer to another place in its list in one step")


def render_layers(d: Design, view: DesignView, *, show_shapes: bool) -> None:
    """The layer list: a line per layer (the layer and its output shape), a branch's paths indented under it;
    a click chooses the layer whose editor :func:`render_editor` draws. A new error chooses the broken layer,
    inside a branch too."""
    if not d.layers:
        st.info("No layers yet: add one below, or load a preset.")
        return
    err = view.error
    broken = ss.broken_id(d, view)
    if err is not None and broken is not None and st.session_state.get("dz.auto") != (broken, str(err)):
        # Choose the broken layer once per new error, so its message and fields are in view.
        st.session_state["dz.auto"] = (broken, str(err))
        ss.select_layer(broken)
    _layer_list(d, view, broken, show_shapes=show_shapes)
    if err is not None and err.layer_index is not None and err.layer_index >= len(d.layers):
        st.error(md_text(err), icon=":material/error:")  # defensive: an error past the last row


def render_editor(d: Design, view: DesignView, *, locked: bool, show_shapes: bool, show_numbers: bool = True) -> None:
    """The chosen layer's settings and actions (at any depth), or the chosen empty path's, in a box under the
    list and the add bar."""
    chosen = ss.selected_id()
    if chosen is None:
        path = ss.selected_path()
        if path is not None:
            branch_ui.render_path_box(d, path, view, _add_choice(), locked=locked)
        elif d.layers:
            st.caption("Choose a layer in the list to see its settings" + ("." if locked else " and change them."))
        return
    slot = d.locate(chosen)
    layer = slot.layer if isinstance(slot.layer, dict) else {}
    with st.container(border=True):
        title = _title(slot, layer, view, show_shapes, ss.broken_id(d, view), rows_by_name(view))[0]
        st.markdown(title.replace(_INDENT, ""))
        _layer_body(d, slot, layer, view, locked=locked, show_numbers=show_numbers, show_shapes=show_shapes)


def _layer_list(d: Design, view: DesignView, broken: int | None, *, show_shapes: bool) -> None:
    titles: dict[Any, str] = {}
    rows = rows_by_name(view) if any(d.sub.values()) else {}
    for line in lines(d.layers, d.ids, d.sub):
        if isinstance(line, EmptyPath):  # a line of its own: choose it to insert into the path
            name = f"{d.locate(line.branch_id).name}.{line.path}"  # unique: lines are told apart by their text
            titles[(line.branch_id, line.path)] = f"{_INDENT * line.depth}path {line.path} · `{name}` identity"
            continue
        layer = line.layer
        title, icon = _title(line, layer if isinstance(layer, dict) else {}, view, show_shapes, broken, rows)
        titles[line.layer_id] = f"{icon} {title}" if icon else title
    options = list(titles)
    chosen = st.session_state.get(ss.SELECTED_KEY)
    # A long stack scrolls inside its own box, so the results below stay within reach.
    # Right after "Add layer" it scrolls to the bottom, where the new (chosen) row is.
    just_added = st.session_state.pop(ss.JUST_ADDED, False)
    box = (st.container(height=_LIST_HEIGHT, autoscroll=just_added or None) if len(options) > _ROWS_BEFORE_SCROLL
           else st.container())
    key = ss.list_key(options)
    box.radio("Layers", options, index=options.index(chosen) if chosen in titles else None, key=key,
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


def _start_label(name: str) -> str:
    # The constructor's own name (torchvision.models.vgg16): what an engineer knows it by, and never a
    # preset's name with more around it (e.g. "VGG-16"), so choosing a preset by its name stays unambiguous.
    return name if name in PRESETS else f"torchvision.models.{name}"


def render_toolbar(d: Design) -> None:
    """Load a preset (replaces the design; Undo brings it back), start empty, Undo; import a design."""
    bar = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
    # Presets, then every torchvision CNN: importing one is a single choice (the Import expander has them too).
    bar.selectbox("Start from a preset", [*PRESETS, *(a for a in ss.ARCHITECTURES if a not in PRESETS)], index=None,
                  placeholder="Choose a classic network…", key=PRESET_KEY, on_change=ss.on_preset,
                  args=(PRESET_KEY,), width=220, format_func=_start_label,
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
