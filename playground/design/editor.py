"""The designer's editor model: the design being edited (stable layer ids, undo) and its fields.

Plain Python (tested without streamlit). The page keeps one :class:`Design` in
``st.session_state`` and it is the single source of truth: widgets take their first
value from it and their callbacks write into it. Widget keys are built from layer ids:
an id stays with its layer through moves and edits, so moving or removing a layer never
hands one layer's widget state to another; and a layer whose contents change behind its
widgets' back (undo, replace) gets a fresh id, so its widgets start again from the design.

Every change goes through one method and can be undone: insert a layer or block anywhere, remove,
duplicate, move (a step or to any position), change a layer's type keeping the settings that still
apply, set a field or the input, expand a named block into its branch, replace the whole design, clear
it. Layers enter the editor only through :meth:`Design.from_spec` / :meth:`Design.replace`, which refuse
over :data:`MAX_LAYERS` layers before copying anything (a short share link can inflate to 330,000 empty
layers).

Which fields a layer type shows, and their defaults, come from the typed layer specs in
:mod:`playground.spec.layers` (one dataclass per layer type), so the editor offers exactly
what a spec accepts. Validation is *not* done here: whatever the user typed goes into the
spec and :mod:`playground.spec.parse` says what is wrong with it, so there is one set of rules
and messages.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from playground.design.fields import (
    LAYER_TYPE_NAMES,
    EditorField,
    FieldKind,
    fields_of,
    format_value,
    new_layer,
    parse_text,
    retype,
)
from playground.spec.keys import _n
from playground.spec.parse import MAX_LAYERS, SpecError, load_json_bytes

__all__ = ["Design", "Snapshot", "UNDO_DEPTH", "spec_structure_error", "too_many_layers", "spec_from_text",
           "EditorField", "FieldKind", "fields_of", "LAYER_TYPE_NAMES", "new_layer", "parse_text", "format_value",
           "retype"]

UNDO_DEPTH = 30  # changes the Undo button can take back


def too_many_layers(count: int) -> str | None:
    """The parser's message for a design over :data:`MAX_LAYERS` layers, or None when it fits.

    Checked wherever layers enter the editor (share link, upload, paste) *before* anything is
    copied or drawn: a short link can inflate to hundreds of thousands of empty layers."""
    return f"{_n(count)} layers is over the {MAX_LAYERS} layer limit" if count > MAX_LAYERS else None


def spec_structure_error(spec: Any) -> str | None:
    """Why ``spec`` cannot even be edited (not an object with an input list and a list of at most
    :data:`MAX_LAYERS` layer objects), or None. Bad *values* are fine: the analysis explains those per layer."""
    if not isinstance(spec, dict):
        return "it is not a spec object"
    if not isinstance(spec.get("input"), list):
        return '"input" is not a list like [3, 224, 224]'
    layers = spec.get("layers", [])
    if not isinstance(layers, list):
        return '"layers" is not a list of layer objects'
    too_many = too_many_layers(len(layers))  # before looking at each one
    if too_many:
        return too_many
    if not all(isinstance(layer, dict) for layer in layers):
        return '"layers" is not a list of layer objects'
    if spec.get("name") is not None and not isinstance(spec["name"], str):
        return '"name" is not text'
    return None


@dataclass(frozen=True)
class Snapshot:
    """A design as it was before a change, with the change's name for the Undo button."""

    label: str
    input: list[Any]
    layers: list[dict[str, Any]]
    ids: list[int]
    name: str | None


@dataclass
class Design:
    """A spec (input + layers) being edited, with one stable id per layer."""

    input: list[Any]
    layers: list[dict[str, Any]]
    name: str | None = None
    ids: list[int] = field(default_factory=list)
    next_id: int = 0
    input_rev: int = 0  # bumped when the input changes other than through its own fields
    undo_stack: list[Snapshot] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.layers):
            self.ids = self._fresh_ids(len(self.layers))

    revision: int = 0   # counts every change (edits and undos): "has the user edited since ...?"

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Design:
        """A design holding a deep copy of ``spec`` (``{"input": [C, H, W], "layers": [...], "name"?}``).

        Raises SpecError when the structure cannot be edited (see :func:`spec_structure_error`), e.g.
        over :data:`MAX_LAYERS` layers, before copying anything; values inside may be invalid,
        that is what the analysis reports.
        """
        _check_structure(spec)
        return cls(list(copy.deepcopy(spec["input"])), copy.deepcopy(list(spec.get("layers", []))), spec.get("name"))

    def _fresh_ids(self, n: int) -> list[int]:
        ids = list(range(self.next_id, self.next_id + n))
        self.next_id += n
        return ids

    # -- reading -------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """The design as a spec dict (a copy: editing it does not change the design)."""
        out: dict[str, Any] = {"name": self.name} if self.name is not None else {}
        out.update(input=copy.deepcopy(self.input), layers=copy.deepcopy(self.layers))
        return out

    def position(self, layer_id: int) -> int:
        """Index of the layer with this id (ValueError when it no longer exists)."""
        return self.ids.index(layer_id)

    @property
    def can_undo(self) -> bool:
        """Whether there is a change to undo."""
        return bool(self.undo_stack)

    @property
    def undo_label(self) -> str | None:
        """The name of the change :meth:`undo` would take back (None: nothing to undo)."""
        return self.undo_stack[-1].label if self.undo_stack else None

    # -- changing ------------------------------------------------------------------------
    def checkpoint(self, label: str) -> None:
        """Remember the current design so :meth:`undo` can bring it back (before an edit)."""
        self.revision += 1
        self.undo_stack.append(Snapshot(label, copy.deepcopy(self.input), copy.deepcopy(self.layers), list(self.ids),
                                        self.name))
        del self.undo_stack[:-UNDO_DEPTH]
        # An edited preset is no longer the preset: say so in its name (exported code uses it).
        if self.name and not self.name.endswith(" (edited)"):
            self.name += " (edited)"

    def undo(self) -> dict[int, int]:
        """Restore the design before the last checkpoint.

        A restored layer whose contents differ from what its id showed a moment ago (or that
        was removed) gets a fresh id: widgets keyed by the old id may still hold other values. Returns
        {old id: new id} for those, so the page can carry over which layer is chosen.
        """
        if not self.undo_stack:
            return {}
        snap = self.undo_stack.pop()
        self.revision += 1
        shown = dict(zip(self.ids, self.layers))
        if snap.input != self.input:
            self.input_rev += 1
        self.input, self.layers, self.name = snap.input, snap.layers, snap.name
        renamed: dict[int, int] = {}
        self.ids = []
        for old, layer in zip(snap.ids, self.layers):
            if shown.get(old) != layer:  # changed, or brought back after a removal
                (renamed[old],) = self._fresh_ids(1)
            self.ids.append(renamed.get(old, old))
        return renamed

    def replace(self, spec: dict[str, Any], label: str) -> None:
        """Replace the whole design (preset, upload, share link, paste), keeping a way back.

        SpecError (before anything changes) when ``spec`` cannot be edited, e.g. too many layers."""
        _check_structure(spec)
        self.checkpoint(label)
        self.input = list(copy.deepcopy(spec["input"]))
        self.layers = copy.deepcopy(list(spec.get("layers", [])))
        self.name = spec.get("name")
        self.ids = self._fresh_ids(len(self.layers))
        self.input_rev += 1

    def clear(self) -> None:
        """A new empty design: no layers, the same input size (Undo brings the layers back)."""
        self.checkpoint("new empty design")
        self.layers, self.ids, self.name = [], [], None

    def insert(self, layers: list[dict[str, Any]], at: int | None = None, label: str | None = None) -> list[int]:
        """Insert copies of ``layers`` (a layer or a block) at position ``at`` (the end by default,
        clamped to the list); returns their new ids. ValueError when the design would pass
        :data:`MAX_LAYERS`."""
        if len(self.layers) + len(layers) > MAX_LAYERS:
            raise ValueError(f"the design already has {len(self.layers)} layers; {MAX_LAYERS} is the limit")
        what = layers[0].get("type", "layer") if len(layers) == 1 else f"{len(layers)} layers"
        self.checkpoint(label or f"add {what}")
        at = len(self.layers) if at is None else max(0, min(at, len(self.layers)))
        new_ids = self._fresh_ids(len(layers))
        self.layers[at:at] = copy.deepcopy(layers)
        self.ids[at:at] = new_ids
        return new_ids

    def add(self, layer: dict[str, Any], at: int | None = None) -> int:
        """Insert ``layer`` (at the end by default); returns its new id."""
        (new_id,) = self.insert([layer], at)
        return new_id

    def remove(self, layer_id: int) -> None:
        """Delete the layer with this id."""
        i = self.position(layer_id)
        self.checkpoint(f"remove layer {i} ({self.layers[i].get('type')})")
        del self.layers[i], self.ids[i]

    def duplicate(self, layer_id: int) -> int:
        """Insert a copy right below the layer; returns the copy's id."""
        i = self.position(layer_id)
        (new_id,) = self.insert([self.layers[i]], i + 1, f"duplicate layer {i}")
        return new_id

    def move(self, layer_id: int, delta: int) -> None:
        """Move a layer up (delta < 0) or down; a move past either end does nothing."""
        i = self.position(layer_id)
        if 0 <= i + delta < len(self.layers):
            self.move_to(layer_id, i + delta)

    def move_to(self, layer_id: int, position: int) -> None:
        """Move a layer to ``position`` (clamped to the list), in one step however far."""
        i = self.position(layer_id)
        j = max(0, min(position, len(self.layers) - 1))
        if i == j:
            return
        self.checkpoint(f"move layer {i}")
        self.layers.insert(j, self.layers.pop(i))
        self.ids.insert(j, self.ids.pop(i))

    def change_type(self, layer_id: int, layer_type: str, channels: int | None = None) -> int:
        """Make the layer a ``layer_type``, keeping the settings that type also has (see :func:`retype`).

        Returns the layer's new id: its contents changed behind its widgets' back."""
        i = self.position(layer_id)
        new = retype(self.layers[i], layer_type, channels)
        if new == self.layers[i]:
            return layer_id
        self.checkpoint(f"change layer {i} to {layer_type}")
        self.layers[i] = new
        (self.ids[i],) = self._fresh_ids(1)
        return self.ids[i]

    def expand(self, layer_id: int, channels: int) -> list[int]:
        """Replace a named block (``mbconv``, ``residual``...) by the branch and layers it stands for, given the
        ``channels`` reaching it (:func:`playground.design.expand.expand_block`); returns the new layers' ids.
        ValueError when the layer is not a named block, SpecError when its settings are invalid."""
        from playground.design.expand import expand_block

        i = self.position(layer_id)
        layers = expand_block(self.layers[i], channels)
        if len(self.layers) - 1 + len(layers) > MAX_LAYERS:
            raise ValueError(f"the design already has {len(self.layers)} layers; {MAX_LAYERS} is the limit")
        self.checkpoint(f"expand layer {i} ({self.layers[i].get('type')})")
        new_ids = self._fresh_ids(len(layers))
        self.layers[i:i + 1] = layers
        self.ids[i:i + 1] = new_ids
        return new_ids

    def set_field(self, layer_id: int, name: str, value: Any) -> None:
        """Set one key of a layer; None removes it (back to the default)."""
        i = self.position(layer_id)
        layer = self.layers[i]
        if layer.get(name) == value:
            return
        self.checkpoint(f"edit layer {i} {name}")
        if value is None:
            layer.pop(name, None)
        else:
            layer[name] = value

    def set_input(self, dim: int, value: Any) -> None:
        """Set input dimension ``dim`` (0 = channels, 1 = height, 2 = width)."""
        if dim < len(self.input) and self.input[dim] == value:
            return
        self.checkpoint("edit input size")
        while len(self.input) <= dim:
            self.input.append(None)
        self.input[dim] = value


def _check_structure(spec: Any) -> None:
    problem = spec_structure_error(spec)
    if problem:
        raise SpecError(f"this is not a design the editor can open: {problem}")


def spec_from_text(text: str) -> dict[str, Any]:
    """The design in pasted JSON text (what "Download JSON" gives); SpecError with a one-line reason.

    Decoded by the spec files' one decoder (size limit, strict JSON); only the structure is checked
    here, bad values load and the designer explains each at its layer."""
    spec = load_json_bytes(text.encode("utf-8"), "the pasted text")
    problem = spec_structure_error(spec)
    if problem:
        raise SpecError(f"the pasted text is not a design: {problem}")
    return spec
