"""Command-line entry point: one sub-module per command, dispatched here.

Each command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Errors a user can fix are :class:`PlaygroundError`:
they become one line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from playground.errors import PlaygroundError

__all__ = ["main", "COMMANDS"]

# Command name -> module under playground.cli. Modules are imported lazily so
# that `analyze` does not pay for importing torch.
COMMANDS: dict[str, str] = {
    "analyze": "playground.cli.analyze",
    "export": "playground.cli.export",
    "predict": "playground.cli.predict",
    "finetune": "playground.cli.finetune",
    "train": "playground.cli.train",
    "models": "playground.cli.models",
    "erf": "playground.cli.erf",
    "assignment": "playground.cli.assignment",
    "serve": "playground.cli.serve",
}


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and one line, like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    parser = _Parser(prog="python -m playground", description="CNN Playground command line.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    modules: dict[str, Any] = {}  # command -> its module (HELP, add_arguments, run)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        modules[name] = module
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
    return parser, modules


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    parser, modules = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"] and argv[1:2] not in (["-h"], ["--help"]):
        # Everything after `serve` is Streamlit's (--server.port 8501...): argparse would claim the options.
        args = argparse.Namespace(command="serve", streamlit_args=argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except PlaygroundError as exc:
        from playground._format import visible  # messages quote user-supplied names: no escapes run

        sys.stderr.write(f"error: {visible(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        # The reader went away (`... --json | head`): not an error worth a traceback.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
