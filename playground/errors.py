"""The one exception family every user-facing failure belongs to.

The CLI and the pages catch :class:`PlaygroundError` and show its message as one
line; anything else is a bug and may show a traceback.
"""
from __future__ import annotations

__all__ = ["PlaygroundError"]


class PlaygroundError(Exception):
    """A problem with the user's input or environment, explained in one line.

    Subclasses (``SpecError``, ``ImageError``, ``DatasetError``,
    ``ModelUnavailable``...) add context; the message alone must tell the user
    what is wrong and what to do.
    """
