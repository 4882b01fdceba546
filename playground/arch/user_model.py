"""Import a user's own model file (``path/to/model.py``) and list the ``nn.Module`` classes it defines.

Runs the user's code: for the CLI and Python only, never for a browser. Every failure is an
:class:`~playground.arch.measure.ArchitectureError` naming the file and what failed, in one line.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from playground.errors import PlaygroundError

__all__ = ["ArchitectureError", "import_user_file", "module_classes", "first_line"]


class ArchitectureError(PlaygroundError):
    """An architecture name, input size or module of your own that cannot be analysed (message says what to do).

    Defined here, the lowest module of arch/ that raises it, so the modules measure.py uses need not import
    measure.py back (``playground.arch.measure.ArchitectureError`` is the same class)."""

_MESSAGE_CHARS = 200  # an exception's first line is cut there in a one-line message


def first_line(exc: BaseException) -> str:
    """The exception's first line (cut to a readable length), or its type's name when it has no text."""
    text = str(exc).strip().splitlines()
    return text[0][:_MESSAGE_CHARS] if text else type(exc).__name__


def import_user_file(path: Path) -> ModuleType:
    """The Python file at ``path``, imported as a fresh module; ArchitectureError when that fails."""

    if not path.is_file():
        raise ArchitectureError(f"{path}: no such Python file")
    spec = importlib.util.spec_from_file_location(f"_user_model_{abs(hash(str(path.resolve())))}", path)
    if spec is None or spec.loader is None:
        raise ArchitectureError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # the user's module may fail in any way, SystemExit included
        raise ArchitectureError(f"{path}: importing it failed: {type(exc).__name__}: {first_line(exc)}") from None
    return module


def module_classes(module: ModuleType) -> list[str]:
    """Names of the ``nn.Module`` subclasses ``module`` itself defines, sorted."""
    import torch

    return sorted(n for n, v in vars(module).items()
                  if isinstance(v, type) and issubclass(v, torch.nn.Module) and v.__module__ == module.__name__)
