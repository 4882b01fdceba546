"""``python -m playground export SPEC.json [-o FILE] [--onnx FILE]``: standalone PyTorch source, or ONNX, for a spec."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playground.errors import PlaygroundError

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Write PyTorch source (class Net(nn.Sequential)) for a layer spec; it needs only torch. --onnx writes ONNX."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``export``."""
    parser.add_argument("spec", metavar="SPEC.json", help="layer spec JSON file ('-' reads standard input)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the code to FILE instead of stdout")
    from playground.design.onnx_export import INPUT_NAME, OPSET  # no torch: the parser stays quick to build

    parser.add_argument("--onnx", metavar="FILE",
                        help=f"write the network as an ONNX model (opset {OPSET}, untrained weights, input "
                             f"'{INPUT_NAME}' of shape (batch, C, H, W)) to FILE instead of printing the code "
                             "(with -o the code is written too); needs the onnx package")


def run(args: argparse.Namespace) -> int:
    """Print (or write) the code, or write the ONNX file; an invalid spec becomes exit status 2 in the dispatcher."""
    from playground.cli.analyze import read_spec_arg
    from playground.spec.parse import parse_spec

    spec = parse_spec(read_spec_arg(args.spec))  # fail fast, before importing torch
    if args.onnx:
        from playground.design.onnx_export import onnx_bytes

        _write(args.onnx, onnx_bytes(spec))  # built in memory first: a bad path is one clear message
        if not args.output:
            return 0
    from playground.design.build import to_pytorch_code

    code = to_pytorch_code(spec)
    if args.output:
        _write(args.output, code.encode("utf-8"))
    else:
        sys.stdout.write(code)
    return 0


def _write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` and say so on stderr; an unwritable path is a one-line error."""
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise PlaygroundError(f"cannot write '{path}': {exc.strerror or exc}") from None
    sys.stderr.write(f"wrote {path}\n")
