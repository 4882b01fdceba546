"""Reading a spec's JSON from a dict, text, bytes or a file: the one decoder, with its size limit.

Strict JSON (no NaN/Infinity), UTF-8 (a BOM is allowed), at most :data:`MAX_SPEC_BYTES`. What comes
out is a plain JSON value; :mod:`playground.spec.parse` validates it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from playground.spec.error import SpecError
from playground.spec.keys import _n

__all__ = ["MAX_SPEC_BYTES", "load_json_bytes", "load_source"]

MAX_SPEC_BYTES = 1_000_000  # JSON text or file


def load_source(source: Any) -> Any:
    """dict / JSON text / file path -> plain JSON value."""
    if isinstance(source, dict):
        return source
    if isinstance(source, Path):
        return _read_file(source)
    if isinstance(source, (bytes, bytearray)):
        source = bytes(source).decode("utf-8", errors="replace")
    if isinstance(source, str):
        text = source.strip()
        if not text.startswith(("{", "[")) and len(text) < 4096 and _is_file(text):
            return _read_file(Path(text))
        return _loads(text, "spec")
    raise SpecError(f"a spec must be a dict, JSON text or a file path, got {type(source).__name__}")


def _is_file(text: str) -> bool:
    try:
        return Path(text).is_file()
    except (OSError, ValueError):  # odd characters, name too long
        return False


def _read_file(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec file '{path}': {exc.strerror or exc}") from None
    return load_json_bytes(data, f"spec file '{path}'")


def load_json_bytes(data: bytes, what: str) -> Any:
    """The JSON value in a spec file's bytes (a file or an upload), unchecked beyond JSON itself.

    The one place spec file bytes are decoded: size limit, UTF-8 (a BOM is allowed), no
    NaN/Infinity. Raises :class:`SpecError` starting with ``what`` (e.g. ``'net.json'``).
    """
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{what} is over {_n(MAX_SPEC_BYTES)} bytes; a spec is a small JSON file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpecError(f"{what} is not UTF-8 text; save it as a JSON file") from None
    return _loads(text, what)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _loads(text: str, what: str) -> Any:
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"{what} is over {_n(MAX_SPEC_BYTES)} characters; a spec is a small JSON document")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deeply nested"
        raise SpecError(f"{what} is not valid JSON: {msg}{where}") from None


