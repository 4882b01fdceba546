"""What the editor can open: a spec's structure (an input list and at most :data:`MAX_LAYERS` layer objects, at
most :data:`MAX_TOTAL_LAYERS` counting those inside branches, nested at most
:data:`~playground.design.tree.MAX_EDIT_DEPTH` deep), checked before anything is copied; and pasted JSON text.

Bad *values* are fine here: the analysis explains each at its layer. Re-exported by
:mod:`playground.design.editor`, where these were first defined. Plain Python.
"""
from __future__ import annotations

from typing import Any

from playground.design.tree import MAX_EDIT_DEPTH, count_layers
from playground.spec.keys import _n
from playground.spec.parse import MAX_LAYERS, MAX_TOTAL_LAYERS, SpecError, load_json_bytes

__all__ = ["too_many_layers", "spec_structure_error", "check_structure", "spec_from_text"]


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
    total, depth = count_layers(layers, MAX_TOTAL_LAYERS)  # inside branches too, before giving each an id
    if total > MAX_TOTAL_LAYERS:
        return f"over {_n(MAX_TOTAL_LAYERS)} layers counting those inside branches"
    if depth > MAX_EDIT_DEPTH:
        return f"branches nest over {MAX_EDIT_DEPTH} deep"
    if spec.get("name") is not None and not isinstance(spec["name"], str):
        return '"name" is not text'
    return None


def check_structure(spec: Any) -> None:
    """SpecError when ``spec`` cannot be opened by the editor (see :func:`spec_structure_error`)."""
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
