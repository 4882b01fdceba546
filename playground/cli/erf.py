"""``python -m playground erf SPEC.json [--layer N] [--json]``: effective vs theoretical receptive field.

Luo et al. (NIPS 2016): the gradient of a central unit with respect to the input, measured on the
built network at PyTorch's default init (see :mod:`playground.design.erf`).
"""
from __future__ import annotations

import argparse

from playground.cli._io import bounded, print_json
from playground.cli.analyze import read_spec_arg

__all__ = ["HELP", "add_arguments", "run"]

HELP = "Effective receptive field (gradient of a central unit, Luo et al. 2016) beside the theoretical one."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``erf``."""
    from playground.design.erf import DEFAULT_SAMPLES, MAX_ERF_SAMPLES

    parser.add_argument("spec", metavar="SPEC.json", help="layer spec JSON file ('-' reads standard input)")
    parser.add_argument("--layer", type=bounded(int, 0), metavar="N",
                        help="layer index (default: the last spatial layer before global pooling)")
    parser.add_argument("--samples", type=bounded(int, 1, MAX_ERF_SAMPLES), default=DEFAULT_SAMPLES,
                        help=f"random inits and inputs to average (default {DEFAULT_SAMPLES})")
    parser.add_argument("--seed", type=bounded(int, 0), default=0, help="random seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print JSON (only JSON on stdout)")


def run(args: argparse.Namespace) -> int:
    """Print one line (or JSON with --json); errors become exit status 2 in the dispatcher."""
    from playground.design.erf import effective_receptive_field

    result = effective_receptive_field(read_spec_arg(args.spec), args.layer, samples=args.samples, seed=args.seed)
    if args.json:
        print_json(result.to_dict())
    else:
        print(result)
    return 0
