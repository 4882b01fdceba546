"""``SpecError``: a spec that cannot be built, explained in one line that names where.

Raised by every part of :mod:`playground.spec` (loading, parsing, share links) and re-exported by
:mod:`playground.spec.parse`, its historical home.
"""
from __future__ import annotations

from typing import Any

from playground.errors import PlaygroundError

__all__ = ["SpecError", "Location"]

Location = tuple[tuple[int, int, "str | None"], ...]
"""Where inside a branch: ``((path, layer, type), ...)``, outermost first (nested branches add steps)."""


class SpecError(PlaygroundError):
    """A spec that cannot be built, explained in one line.

    ``layer_index`` is the 0-based layer at fault (None: the whole spec or its
    input), ``layer_type`` its type, ``key`` the offending key when there is one.
    ``str(err)`` starts with ``layer 3 (conv2d): `` when ``layer_index`` is set. Inside a
    branch, ``inner`` holds ``(path, layer, type)`` steps and the message names them all:
    ``layer 4 (branch), path 1, layer 0 (conv2d): ...``.
    """

    def __init__(self, reason: str, *, layer_index: int | None = None,
                 layer_type: str | None = None, key: str | None = None, inner: Location = ()) -> None:
        if layer_index is None:
            message = reason
        else:
            message = _where(layer_index, layer_type)
            for path, index, type_ in inner:
                message += f", path {path}, {_where(index, type_)}"
            message += f": {reason}"
        super().__init__(message)
        self.reason = reason
        self.layer_index = layer_index
        self.layer_type = layer_type
        self.key = key
        self.inner = tuple(inner)

    @property
    def where(self) -> str | None:
        """The path-qualified index of the layer at fault, as the analysis rows name it (``"4.1.0"``)."""
        if self.layer_index is None:
            return None
        return ".".join([str(self.layer_index), *(f"{p}.{i}" for p, i, _ in self.inner)])

    def __reduce__(self) -> tuple[Any, ...]:  # keep attributes across pickling (worker processes)
        return (_rebuild_spec_error, (self.reason, self.layer_index, self.layer_type, self.key, self.inner))


def _where(index: int, type_: str | None) -> str:
    return f"layer {index}" if type_ is None else f"layer {index} ({type_})"


def _rebuild_spec_error(reason: str, index: int | None, type_: str | None, key: str | None,
                        inner: Location = ()) -> SpecError:
    return SpecError(reason, layer_index=index, layer_type=type_, key=key, inner=inner)
