"""Every torchvision CNN as a design: parameters against torchvision's, MACs against the graph analysis.

    python bench/designs_table.py [--no-graph] [NAME ...]

For each torchvision classifier, :func:`playground.design.from_torchvision.torchvision_spec` gives the
layer spec; its parameters (``analyze``, analytic) are compared with torchvision's weights metadata
(``weights.meta["num_params"]``, less the auxiliary classifiers the design leaves out) and its MACs with
the graph analysis of the torchvision model itself (``analyze_module``: torch.fx trace, meta device) at
the same input size. Then the models the spec cannot express, and why. Prints a table; exit status 1
when any design is not exact. ``--no-graph`` skips the tracing (seconds per model).
"""
from __future__ import annotations

import argparse
import sys
import time

from playground.design.from_torchvision import TORCHVISION_DESIGNS, not_expressible
from playground.design.torchvision_check import check_design


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="torchvision names (default: all)")
    parser.add_argument("--no-graph", action="store_true", help="skip the graph analysis (MACs not compared)")
    args = parser.parse_args()
    names = args.names or list(TORCHVISION_DESIGNS)
    head = f"{'model':<20} {'input':>5} {'params (design)':>16} {'torchvision':>13} {'aux':>10} " \
           f"{'MACs (design)':>16} {'graph analysis':>16}  exact"
    print(head)
    print("-" * len(head))
    exact = 0
    start = time.perf_counter()
    for name in names:
        row = check_design(name, graph=not args.no_graph)
        graph = "-" if row.graph_macs is None else f"{row.graph_macs:,}"
        aux = f"-{row.aux_params:,}" if row.aux_params else ""
        print(f"{name:<20} {row.side:>5} {row.params:>16,} {row.torchvision_params:>13,} {aux:>10} "
              f"{row.macs:>16,} {graph:>16}  {'yes' if row.exact else 'NO'}", flush=True)
        exact += row.exact
    print("-" * len(head))
    print(f"{exact} of {len(names)} designs exact ({time.perf_counter() - start:.0f} s); aux: the auxiliary "
          "classifier counted in torchvision's num_params, which the design (as torchvision evaluates) leaves out")
    if not args.names:
        by_reason: dict[str, list[str]] = {}
        for name, why in not_expressible().items():
            by_reason.setdefault(why, []).append(name)
        print("\nnot expressible as a layer spec:")
        for why, group in by_reason.items():
            print(f"  {', '.join(group)}: {why}")
    return 0 if exact == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
