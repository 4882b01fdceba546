"""``python -m playground analyze SPEC.json [--json]``: shapes, parameters, MACs and receptive fields.

Also ``analyze --model NAME [--input 3,H,W]`` for a landmark architecture (graph
analysis of the real torch model, see ``playground.arch.measure``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from playground.cli._io import print_json
from playground.spec.parse import SpecError, SpecSource

if TYPE_CHECKING:
    from playground.arch.report import ArchReport
    from playground.design.analysis import Report

__all__ = ["HELP", "add_arguments", "run", "parse_input_shape", "read_spec_arg"]

HELP = "Analyse a layer spec: output shape, params, MACs, receptive field per layer (instant, no PyTorch)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``analyze``."""
    parser.add_argument("spec", nargs="?", metavar="SPEC.json",
                        help="layer spec JSON file ('-' reads standard input)")
    parser.add_argument("--json", action="store_true", help="print JSON (only JSON on stdout)")
    parser.add_argument("--input", metavar="C,H,W",
                        help="input shape, e.g. 3,224,224 (overrides the spec's input; default for --model)")
    parser.add_argument("--model", metavar="NAME",
                        help="analyse a landmark architecture instead of a spec (see the Architectures page)")


def parse_input_shape(text: str) -> tuple[int, int, int]:
    """'3,224,224' -> (3, 224, 224); SpecError otherwise."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpecError(f"--input must be three positive numbers C,H,W such as 3,224,224, got '{text}'")
    return int(parts[0]), int(parts[1]), int(parts[2])


def read_spec_arg(arg: str) -> str | Path:
    """A SPEC.json argument as parse_spec input: a Path, or the JSON text of stdin for '-'."""
    if arg == "-":
        return sys.stdin.read()
    return Path(arg)


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON with --json); SpecError becomes exit status 2 in the dispatcher."""
    shape = parse_input_shape(args.input) if args.input else None
    result: ArchReport | Report
    if args.model:
        if args.spec:
            raise SpecError("give either SPEC.json or --model NAME, not both")
        from playground.arch.measure import analyze_architecture  # imports torch: only on this path

        result = analyze_architecture(args.model, shape or (3, 224, 224))
    elif args.spec:
        from playground.design.analysis import analyze
        from playground.spec.parse import parse_spec

        spec: SpecSource = read_spec_arg(args.spec)
        if shape is not None:
            data = parse_spec(spec).to_dict()  # validate the file first, then swap its input
            data["input"] = list(shape)
            spec = data
        result = analyze(spec)
    else:
        raise SpecError("give a SPEC.json file to analyse (or --model NAME); "
                        "see `python -m playground analyze --help`")
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
    return 0
