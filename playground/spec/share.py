"""Share links: a spec as a compact URL-safe token, and back, with limits against tampering.

The token is compact JSON -> zlib -> base64url without padding. Decoding is the one place a
query string becomes a spec dict; the dict is plain JSON, validated afterwards by
:func:`playground.spec.parse.parse_spec` like any other spec.
"""
from __future__ import annotations

import base64
import binascii
import json
import zlib

from playground.spec.keys import _n
from playground.spec.parse import Spec, SpecError, _reject_constant

__all__ = ["encode_share", "decode_share", "MAX_SHARE_TOKEN", "MAX_SHARE_JSON"]

MAX_SHARE_TOKEN = 32_768  # characters of a share token
MAX_SHARE_JSON = 1_000_000  # bytes a share token may inflate to

_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def encode_share(spec: dict | Spec) -> str:
    """A compact URL-safe token for a spec: compact JSON -> zlib -> base64url without padding."""
    data = spec.to_dict() if isinstance(spec, Spec) else spec
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"this spec cannot be shared: it is not plain JSON ({exc})") from None
    token = base64.urlsafe_b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii").rstrip("=")
    if len(token) > MAX_SHARE_TOKEN:
        raise SpecError(f"this spec is too large to share as a link ({_n(len(token))} characters); "
                        f"export it as a JSON file instead")
    return token


def decode_share(token: str) -> dict:
    """The spec dict inside a share token; SpecError if the token is malformed or tampered with.

    The result is plain JSON, not yet validated: pass it to ``parse_spec`` or
    ``analyze_prefix``.
    """
    bad = "this share link is damaged or incomplete ({}); ask for the link again or load the spec as JSON"
    if not isinstance(token, str) or not token:
        raise SpecError(bad.format("it is empty"))
    token = token.strip()
    if len(token) > MAX_SHARE_TOKEN:
        raise SpecError(bad.format(f"over {_n(MAX_SHARE_TOKEN)} characters"))
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if any(c not in _B64URL for c in token):
            raise ValueError("characters outside base64url")
    except (binascii.Error, ValueError):
        raise SpecError(bad.format("not base64url text")) from None
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(raw, MAX_SHARE_JSON + 1)
    except zlib.error:
        raise SpecError(bad.format("not compressed data")) from None
    if len(text) > MAX_SHARE_JSON or inflater.unconsumed_tail:
        raise SpecError(bad.format(f"it inflates to over {_n(MAX_SHARE_JSON)} bytes"))
    if not inflater.eof:
        raise SpecError(bad.format("it is truncated"))
    try:
        data = json.loads(text.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise SpecError(bad.format("not JSON inside")) from None
    if not isinstance(data, dict):
        raise SpecError(bad.format("not a spec object inside"))
    return data
