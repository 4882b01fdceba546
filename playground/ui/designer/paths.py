"""The designer's editing of branches: a branch's merge and paths (add, remove), an empty path's box (insert
into it), and "wrap in residual" on any chosen layer. Drawn inside the chosen layer's box by
:mod:`playground.ui.designer.layers`; every change goes through :class:`playground.design.editor.Design`, so
Undo takes each back.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from playground.design.editor import Design
from playground.design.tree import Slot, channels_in, paths_of
from playground.design.view import DesignView
from playground.spec.branch import MERGES
from playground.ui.designer import session as ss
from playground.ui.text import md_text

__all__ = ["render_branch_controls", "render_path_box", "render_wrap", "merge_key", "wrap_count_key", "ADD_PATH",
           "WRAP", "path_key", "branch_key", "REMOVE_PATH", "INSERT_PATH", "on_merge", "on_add_path", "on_remove_path",
           "on_wrap", "on_insert_path"]

ADD_PATH, WRAP = "ap", "wr"           # a branch's "Add path" and any layer's "Wrap in residual" (layers.row_key)
REMOVE_PATH, INSERT_PATH = "rp", "ip"  # per-path buttons (path_key)
_MERGE_HELP = {"add": "add: the paths' maps summed (a residual connection); every path gives the same shape",
               "concat": "concat: the paths' channels side by side (Inception); same height and width",
               "mul": "mul: the paths' maps multiplied (a squeeze-and-excitation gate)"}


def merge_key(layer_id: int) -> str:
    """Widget key of a branch's merge box."""
    return f"dz.merge.{layer_id}"


def wrap_count_key(layer_id: int) -> str:
    """Widget key of the "how many layers to wrap" box of a layer."""
    return f"dz.wrapn.{layer_id}"


def branch_key(action: str, layer_id: int) -> str:
    """Widget key of button ``action`` (ADD_PATH, WRAP) of the layer with this id."""
    return f"dz.{action}.{layer_id}"


def path_key(action: str, layer_id: int, path: int) -> str:
    """Widget key of button ``action`` (REMOVE_PATH, INSERT_PATH) of path ``path`` of the branch with this id."""
    return f"dz.{action}.{layer_id}.{path}"


# -- callbacks -------------------------------------------------------------------------------------------------

def on_merge(layer_id: int, key: str) -> None:
    """The merge box of a branch changed."""
    if st.session_state.get(key) in MERGES:
        ss.design().set_field(layer_id, "merge", st.session_state[key])


def on_add_path(layer_id: int) -> None:
    """Add an identity path to the branch and choose it, ready to insert layers into."""
    d = ss.design()
    d.add_path(layer_id)
    ss.select_layer((layer_id, len(d.sub[layer_id]) - 1))


def on_remove_path(layer_id: int, path: int) -> None:
    """Remove a path of the branch (not its last one: the message says to remove the branch)."""
    try:
        ss.design().remove_path(layer_id, path)
    except ValueError as exc:
        ss.notify("error", f"Cannot remove the path: {md_text(exc)}.")
        return
    ss.select_layer(layer_id)


def on_wrap(layer_id: int, key: str) -> None:
    """Wrap the layer (and the layers after it, as many as widget ``key`` says) in a residual connection."""
    count = st.session_state.get(key) or 1
    ss.select_layer(ss.design().wrap(layer_id, int(count)))


def on_insert_path(choice: str, layer_id: int, path: int, view: DesignView) -> None:
    """Insert the layer type or block ``choice`` into path ``path`` (at its end) of the branch with this id."""
    d = ss.design()
    slot = d.locate(layer_id)
    channels = channels_in(view, None, len(d.sub[layer_id][path]), (slot.name, path))
    try:
        new_ids = d.insert(ss.new_layers(choice, channels), into=(layer_id, path))
    except ValueError as exc:
        ss.notify("error", f"Cannot add: {exc}.")
        return
    ss.select_layer(new_ids[0])


# -- drawing ---------------------------------------------------------------------------------------------------

def render_branch_controls(slot: Slot, layer: dict[str, Any], *, locked: bool) -> None:
    """A branch's merge (a choice), and its paths: how many layers each holds, add one, remove one."""
    merge = layer.get("merge", "add")
    st.selectbox("Merge", MERGES, index=MERGES.index(merge) if merge in MERGES else None,
                 placeholder="choose a merge", key=merge_key(slot.layer_id), on_change=on_merge,
                 args=(slot.layer_id, merge_key(slot.layer_id)), disabled=locked, help=" · ".join(_MERGE_HELP.values()))
    paths = paths_of(layer)
    if paths is None:
        return  # not a list of lists: the JSON and the parser's message say what is wrong
    sizes = [f"path {p}: " + (f"{len(path)} layer{'s' if len(path) != 1 else ''}" if path else "identity")
             for p, path in enumerate(paths)]
    st.caption(" · ".join(sizes) + ". Choose a path's layer in the list above to edit it.")
    if locked:
        return
    bar = st.container(horizontal=True, gap="small")
    bar.button("Add path", icon=":material/add_road:", key=branch_key(ADD_PATH, slot.layer_id), on_click=on_add_path,
               args=(slot.layer_id,), help="A new path, empty at first (the identity): choose it to insert layers")
    for p in range(len(paths)):
        bar.button(f"Remove path {p}", icon=":material/remove_road:", key=path_key(REMOVE_PATH, slot.layer_id, p),
                   on_click=on_remove_path, args=(slot.layer_id, p), disabled=len(paths) == 1,
                   help="Remove this path and its layers (a branch keeps at least one path)")


def render_path_box(d: Design, row: ss.PathRow, view: DesignView, choice: str, *, locked: bool) -> None:
    """The box of a chosen empty path: it is the identity; insert a layer or block into it, or remove it."""
    branch_id, p = row
    slot = d.locate(branch_id)
    with st.container(border=True):
        st.markdown(f"`{slot.name}` branch · **path {p}**: identity (the branch's input itself)")
        if locked:
            return
        bar = st.container(horizontal=True, gap="small")
        bar.button(f"Insert {choice} into path {p}", icon=":material/add:", key=path_key(INSERT_PATH, branch_id, p),
                   on_click=on_insert_path, args=(choice, branch_id, p, view), type="primary",
                   help="Change what is inserted in the add bar above")
        n_paths = len(d.sub.get(branch_id, []))
        bar.button(f"Remove path {p}", icon=":material/remove_road:", key=path_key(REMOVE_PATH, branch_id, p),
                   on_click=on_remove_path, args=(branch_id, p), disabled=n_paths <= 1)


def render_wrap(slot: Slot, bar: Any) -> None:
    """"Wrap in residual" for the chosen layer and, as the box next to it says, the layers after it."""
    left = len(slot.layers) - slot.index
    if left > 1:
        bar.number_input("Layers to wrap", min_value=1, max_value=left, value=1, step=1,
                         key=wrap_count_key(slot.layer_id), width=130,
                         help="This layer and the ones after it in its list")
    bar.button("Wrap in residual", icon=":material/call_split:", key=branch_key(WRAP, slot.layer_id), on_click=on_wrap,
               args=(slot.layer_id, wrap_count_key(slot.layer_id)),
               help="Put these layers on one path of an add branch whose other path is the identity (a skip "
                    "connection), in one step; Undo takes it back")
