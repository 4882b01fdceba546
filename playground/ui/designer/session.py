"""The designer's session glue: where the Design lives in ``st.session_state``, widget keys,
loading a design from the share link, keeping the URL equal to the share link, and the
callbacks every edit goes through.

Widgets never hold the truth: each one takes its first value from the Design (``value=``)
and its ``on_change`` callback writes the parsed value back. Programmatic changes
(preset, undo, upload, rewrite) drop the affected widget keys, so those widgets start
again from the Design.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import streamlit as st

from playground.design.blocks import BLOCKS, fit_position, new_block
from playground.design.editor import Design, FieldKind, new_layer, parse_text, spec_from_text, spec_structure_error
from playground.design.from_torchvision import TORCHVISION_DESIGNS, design_title
from playground.design.presets import PRESET_NOTES, PRESETS, default_spec, preset
from playground.design.tree import channels_in, error_address, id_at, paths_of
from playground.design.view import DesignView
from playground.spec.parse import SpecError
from playground.spec.share import decode_share
from playground.ui.text import md_text

__all__ = ["design", "init_design", "sync_url", "wkey", "list_key", "in_key", "selected_id", "notify",
           "show_notices", "on_field", "on_input", "on_select", "on_add", "on_remove", "on_move", "on_duplicate",
           "on_undo", "on_preset", "replace_design", "select_layer", "JUST_ADDED", "DESIGN_KEY", "SELECTED_KEY",
           "TAB_KEY", "FIT", "new_layers", "on_insert", "on_move_to", "on_change_type", "on_clear", "on_paste",
           "on_architecture", "ARCHITECTURES", "selected_indices", "on_expand", "selected_path", "PathRow",
           "on_insert_near", "broken_id", "load_architecture", "designer_design", "load_token"]

FIT = -1  # the "where it fits" insertion position (before the head; see editor.fit_position)

# Architectures the layer spec expresses exactly (playground.arch.landmarks.designer_spec keys): the classic
# stacks first, then every CNN of torchvision (names are data: listing them imports nothing).
ARCHITECTURES: dict[str, str] = {"alexnet": "AlexNet", "vgg16": "VGG-16", "vgg19": "VGG-19",
                                 "resnet18": "ResNet-18", "resnet50": "ResNet-50", "resnet152": "ResNet-152",
                                 "mobilenet_v1": "MobileNet-V1"}
ARCHITECTURES.update({name: design_title(name) for name in TORCHVISION_DESIGNS if name not in ARCHITECTURES})

DESIGN_KEY = "dz.design"    # the session's Design
SELECTED_KEY = "dz.selected"  # id of the layer whose editor is shown under the list (None: none)
TAB_KEY = "dz.tab"          # the open results tab (Layers, Plots, ...) below the editor
_TOKEN = "dz.token"         # the share token last written to the URL
_NOTICES = "dz.notices"     # (kind, text) shown once on the next run
_KEEP_URL = "dz.keep_url"   # design revision at which a damaged ?spec= link failed: keep it in the URL till an edit
_SELECT_REV = "dz.selrev"   # counts the page's own choices of a layer (see list_key)
JUST_ADDED = "dz.added"     # True for the run right after "Add layer" (the list scrolls to it)
_ACTIVE = "dz.active"       # whose design the per-design keys hold now (the ``key`` a page gave init_design)
_STASH = "dz.stash"         # key -> the per-design state of every other page's design, kept meanwhile


def _per_design() -> tuple[str, ...]:
    """The state that belongs to one design: the design, its chosen layer, its URL token and damaged-link mark."""
    return DESIGN_KEY, SELECTED_KEY, _TOKEN, _KEEP_URL


def _use(key: str) -> None:
    """Make the per-design keys hold the design of ``key``'s page, stashing the one they held, so the
    Designer's design and another page's (an assignment's) never mix. Every function here keeps using the
    per-design keys: a page's widget callbacks run before its next run, while those keys still hold its design."""
    active = st.session_state.get(_ACTIVE, DESIGN_KEY)
    if active == key:
        return
    stash: dict[str, dict[str, Any]] = st.session_state.setdefault(_STASH, {})
    stash[active] = {name: st.session_state[name] for name in _per_design() if name in st.session_state}
    for name in _per_design():
        st.session_state.pop(name, None)
    for name, value in stash.pop(key, {}).items():
        st.session_state[name] = value
    st.session_state[_ACTIVE] = key


def designer_design() -> Design | None:
    """The Designer page's own design, wherever it is kept now (None before this session opened the Designer)."""
    if st.session_state.get(_ACTIVE, DESIGN_KEY) == DESIGN_KEY:
        return st.session_state.get(DESIGN_KEY)
    kept: Design | None = st.session_state.get(_STASH, {}).get(DESIGN_KEY, {}).get(DESIGN_KEY)
    return kept


def wkey(layer_id: int, name: str) -> str:
    """Widget key of field ``name`` of the layer with this id."""
    return f"dz.f.{layer_id}.{name}"


def in_key(dim: int, rev: int) -> str:
    """Widget key of input dimension ``dim`` (0 = channels) at the design's ``input_rev``."""
    return f"dz.in.{rev}.{dim}"


def list_key(ids: Sequence[int]) -> str:
    """Widget key of the layer list: a fresh widget whenever the layers change or the page (not the
    list itself) chooses a layer, so the list always starts from the design's state. A click in the
    list keeps the widget, and with it the list's scroll position."""
    return f"dz.sel.{zlib.crc32(repr(tuple(ids)).encode()):08x}.{st.session_state.get(_SELECT_REV, 0)}"


def design() -> Design:
    """The design of this session (call :func:`init_design` first)."""
    return st.session_state[DESIGN_KEY]


def notify(kind: str, text: str) -> None:
    """Queue a message ("success" | "info" | "warning" | "error") for the top of the next run.

    ``text`` is markdown: wrap every user-supplied part (names, messages quoting values) in ``md_text``."""
    st.session_state.setdefault(_NOTICES, []).append((kind, text))


def show_notices() -> None:
    """Draw and forget the queued messages.

    They go into a container that exists on every run: a message that shows on one run and
    not the next would otherwise shift every element below it, and Streamlit would rebuild
    them, e.g. the scrolling layer list, which jumps back to its top."""
    with st.container():
        for kind, text in st.session_state.pop(_NOTICES, []):
            getattr(st, kind)(text)


def load_token(token: str) -> dict[str, Any]:
    """The spec in a share token; SpecError when the link is malformed or not an editable spec."""
    spec = decode_share(token)
    problem = spec_structure_error(spec)
    if problem:
        raise SpecError(f"this share link does not hold a design ({problem}); ask for the link again")
    return spec


def init_design(key: str = DESIGN_KEY) -> Design:
    """Create the session's design on its first run (from ``?spec=`` or the default), or load
    a share link opened into a live session (e.g. "Open in designer" from another page).

    ``key``: whose design this page edits; a page other than the Designer with a design of its own (an
    assignment) passes its own key, so the two never mix (see :func:`_use`)."""
    _use(key)
    token = st.query_params.get("spec")
    current: Design | None = st.session_state.get(DESIGN_KEY)
    if current is not None and (not token or token == st.session_state.get(_TOKEN)):
        return current
    spec = None
    failed = False
    if token:
        try:
            spec = load_token(token)
        except SpecError as exc:
            failed = True
            fallback = "Showing the default design instead." if current is None else "Your design is unchanged."
            notify("error", f"Could not open the design in this link: {md_text(exc)}. {fallback} The address "
                            "bar keeps the link until you edit, so you can send it to your teacher.")
    if current is None:
        st.session_state[DESIGN_KEY] = Design.from_spec(spec if spec is not None else default_spec())
        select_layer(None)
    elif spec is not None:
        replace_design(spec, "open a shared link")
        notify("info", "Opened the design from the link. Undo brings back the one you had.")
    if failed:
        st.session_state[_KEEP_URL] = design().revision
    st.session_state[_TOKEN] = token
    return design()


def sync_url(view: DesignView) -> None:
    """Keep ``?spec=`` equal to the current design, so the address bar is always the share link.

    Except after a damaged link: it stays in the address bar until the student's first edit, so they
    can still copy it and send it to whoever gave it to them."""
    keep = st.session_state.get(_KEEP_URL)
    if keep is not None and keep == design().revision:
        st.session_state[_TOKEN] = st.query_params.get("spec")
        return
    st.session_state.pop(_KEEP_URL, None)
    if view.token and st.query_params.get("spec") != view.token:
        st.query_params["spec"] = view.token
    st.session_state[_TOKEN] = view.token or st.query_params.get("spec")


# -- which layer is chosen ---------------------------------------------------------------------

PathRow = tuple[int, int]
"""A line of the layer list for an empty path: (the branch's id, the path), chosen to insert into it."""


def selected_id() -> int | None:
    """The id of the chosen layer (at any depth), if it is still in the design."""
    chosen = st.session_state.get(SELECTED_KEY)
    return chosen if isinstance(chosen, int) and chosen in design().all_ids() else None


def selected_path() -> PathRow | None:
    """The chosen empty path (branch id, path), if that path is still there and still empty."""
    chosen = st.session_state.get(SELECTED_KEY)
    if not (isinstance(chosen, tuple) and len(chosen) == 2 and chosen[0] in design().all_ids()):
        return None
    paths = paths_of(design().locate(chosen[0]).layer)
    return chosen if paths is not None and 0 <= chosen[1] < len(paths) and not paths[chosen[1]] else None


def selected_indices() -> set[int]:
    """The top-level position of the chosen layer (or of the branch holding it), as a set (the diagram outlines
    it); empty when none is chosen."""
    chosen = selected_id()
    if chosen is None:
        path = selected_path()
        return set() if path is None else {design().position(path[0])}
    return {design().position(chosen)}


def broken_id(d: Design, view: DesignView) -> int | None:
    """The id of the layer the design's first error is about (inside branches too), or None."""
    address = error_address(view.error) if view.error is not None else None
    return None if address is None else id_at(d.layers, d.ids, d.sub, address)


def select_layer(layer_id: int | PathRow | None) -> None:
    """Choose a layer from the page (an add, a copy, an error): the list follows on the next run."""
    st.session_state[SELECTED_KEY] = layer_id
    st.session_state[_SELECT_REV] = st.session_state.get(_SELECT_REV, 0) + 1


# -- callbacks (run before the script, so the rerun already shows the change) ---------------

def on_field(layer_id: int, name: str, kind: FieldKind, key: str) -> None:
    """The widget ``key`` for a layer field changed: parse its text (or bool) into the spec."""
    raw = st.session_state[key]
    value = raw if isinstance(raw, bool) else parse_text(str(raw), kind)
    design().set_field(layer_id, name, value)


def on_input(dim: int) -> None:
    d = design()
    d.set_input(dim, parse_text(str(st.session_state[in_key(dim, d.input_rev)]), "int"))


def on_select(key: str) -> None:
    """The layer list (widget ``key``) changed: show that layer's editor."""
    st.session_state[SELECTED_KEY] = st.session_state.get(key)


def new_layers(choice: str, channels: int | None) -> list[dict[str, Any]]:
    """The layers a choice of the add bar stands for: a block name or a layer type."""
    return new_block(choice, channels) if choice in BLOCKS else [new_layer(choice, channels)]


def on_insert(choice: str, at: int, view: DesignView) -> None:
    """Insert the layer type or block ``choice`` at position ``at`` (FIT: where it fits), its width
    following the channels that reach that position; the first new layer is chosen."""
    d = design()
    first = BLOCKS[choice](16)[0]["type"] if choice in BLOCKS else choice
    at = fit_position(d.layers, first) if at == FIT else at
    try:
        new_ids = d.insert(new_layers(choice, view.channels_into(at)), at)
    except ValueError as exc:
        notify("error", f"Cannot add: {exc}.")
        return
    select_layer(new_ids[0])  # the new layer is the one being worked on (the diagram outlines it)
    st.session_state[JUST_ADDED] = at >= len(d.layers) - len(new_ids)  # the list scrolls to a new last row


def on_add(type_key: str, where_key: str, view: DesignView) -> None:
    """The add bar's button: its chosen type/block at its chosen position."""
    on_insert(st.session_state[type_key], st.session_state.get(where_key, FIT), view)


def on_move_to(layer_id: int, key: str) -> None:
    design().move_to(layer_id, int(st.session_state[key]))


def on_change_type(layer_id: int, key: str, view: DesignView) -> None:
    d = design()
    slot = d.locate(layer_id)
    new_id = d.change_type(layer_id, st.session_state[key], channels_in(view, slot, slot.index))
    if new_id != layer_id and st.session_state.get(SELECTED_KEY) == layer_id:
        select_layer(new_id)


def on_insert_near(choice: str, layer_id: int, offset: int, view: DesignView) -> None:
    """Insert the layer type or block ``choice`` above (offset 0) or below (1) the layer, in its own list (a
    path's layers too), its width following the channels reaching there; the first new layer is chosen."""
    d = design()
    slot = d.locate(layer_id)
    try:
        new_ids = d.insert_near(layer_id, new_layers(choice, channels_in(view, slot, slot.index + offset)), offset)
    except ValueError as exc:
        notify("error", f"Cannot add: {exc}.")
        return
    select_layer(new_ids[0])


def on_clear() -> None:
    design().clear()
    notify("info", "New empty design: same input size, no layers. Undo brings the layers back.")


def on_paste(key: str) -> None:
    """Load the JSON text in widget ``key`` as the design."""
    text = str(st.session_state.get(key) or "")
    try:
        spec = spec_from_text(text)
        replace_design(spec, "paste a design")
    except SpecError as exc:
        notify("error", f"{md_text(exc)}. Your design is unchanged.")
        return
    notify("success", "Loaded the pasted design. Undo brings back the one you had.")


def load_architecture(name: str) -> None:
    """Load torchvision's ``name`` (an ARCHITECTURES key) as the design; Undo brings back the one before."""
    from playground.arch.landmarks import designer_spec

    spec = designer_spec(name)
    if spec is None:
        return
    replace_design({"name": ARCHITECTURES[name], **spec}, f"load {ARCHITECTURES[name]}")
    notify("success", f"Loaded torchvision's {ARCHITECTURES[name]} as a layer spec (its parameters and MACs match "
                      "torchvision's; blocks such as mbconv stand for their branches). Undo brings back the design "
                      "you had.")


def on_architecture(key: str) -> None:
    """Load the torchvision architecture chosen in widget ``key`` (an ARCHITECTURES key)."""
    name = st.session_state.get(key)
    if not isinstance(name, str) or name not in ARCHITECTURES:
        return
    st.session_state[key] = None
    load_architecture(name)


def on_expand(layer_id: int, view: DesignView) -> None:
    """Spell a named block out as its branch and layers (one level; Undo brings the block back)."""
    d = design()
    slot = d.locate(layer_id)
    channels = channels_in(view, slot, slot.index)
    if channels is None and slot.parent is None and view.parsed is not None:
        channels = view.parsed.input[0]  # the first layer: the image's channels reach it
    if channels is None:
        notify("error", "Cannot expand: the channels reaching this block are unknown until the layers above are "
                        "valid.")
        return
    try:
        new_ids = d.expand(layer_id, channels)
    except (ValueError, SpecError) as exc:
        notify("error", f"Cannot expand: {md_text(exc)}.")
        return
    select_layer(new_ids[0])
    notify("info", f"Expanded layer {slot.name} into its branch (same parameters, MACs and field). Undo brings the "
                   "block back.")


def on_remove(layer_id: int) -> None:
    """Remove the layer; when it was the chosen one, the layer that takes its place in its list is chosen (so
    removing several in a row, or editing the next one, needs no extra click), or the branch around an emptied
    path."""
    d = design()
    slot, was_chosen = d.locate(layer_id), st.session_state.get(SELECTED_KEY) == layer_id
    d.remove(layer_id)
    if was_chosen:
        select_layer(slot.ids[min(slot.index, len(slot.ids) - 1)] if slot.ids else slot.parent)


def on_move(layer_id: int, delta: int) -> None:
    design().move(layer_id, delta)


def on_duplicate(layer_id: int) -> None:
    select_layer(design().duplicate(layer_id))


def on_undo() -> None:
    d = design()
    label = d.undo_label
    chosen = st.session_state.get(SELECTED_KEY)
    for old, new in d.undo().items():  # a restored layer stays chosen under its new id
        if old == chosen:
            select_layer(new)
    notify("info", f"Undid: {label}.")


def replace_design(spec: dict[str, Any], label: str) -> None:
    """Replace the whole design, keeping the old one on the undo stack."""
    design().replace(spec, label)
    select_layer(None)


def on_preset(name_key: str) -> None:
    """The toolbar's "Start from" box: a preset, or a torchvision architecture (one choice imports it)."""
    name = st.session_state.get(name_key)
    if not name:
        return
    st.session_state[name_key] = None  # so the same preset can be picked again later
    if name not in PRESETS and name in ARCHITECTURES:
        load_architecture(name)
        return
    replace_design(preset(name), f"load {name}")
    notify("success", f"Loaded the {name} preset — {PRESET_NOTES[name]} Undo brings back the design you had.")
