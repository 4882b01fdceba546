"""``python -m playground export SPEC.json [-o FILE]``: standalone PyTorch source for a spec."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.errors import PlaygroundError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Write PyTorch source (class Net(nn.Module)) for a layer spec; it needs only torch."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``export``."""
    parser.add_argument("spec", metavar="SPEC.json", help="layer spec JSON file ('-' reads standard input)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the code to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    """Print (or write) the code; an invalid spec becomes exit status 2 in the dispatcher."""
    from playground.cli.analyze import read_spec_arg
    from playground.spec.parse import parse_spec

    spec = parse_spec(read_spec_arg(args.spec))  # fail fast, before importing torch
    from playground.design.build import to_pytorch_code

    code = to_pytorch_code(spec)
    if args.output:
        try:
            Path(args.output).write_text(code, encoding="utf-8")
        except OSError as exc:
            raise PlaygroundError(f"cannot write '{args.output}': {exc.strerror or exc}") from None
        sys.stderr.write(f"wrote {args.output}\n")
    else:
        sys.stdout.write(code)
    return 0
