"""Each torchvision design against torchvision: parameters against its weights' metadata, MACs against the
graph analysis of the real model (:func:`playground.arch.measure.analyze_module`) at the same input size.

One row per model (:class:`DesignCheck`); ``bench/designs_table.py`` prints them all and the tests assert
them. Kept apart from :mod:`playground.design.from_torchvision` because the graph analysis imports the
landmark catalogue, which itself opens designs through that module.
"""
from __future__ import annotations

from dataclasses import dataclass

from playground.design.analysis import analyze
from playground.design.from_torchvision import aux_params, build_meta, num_params, torchvision_spec

__all__ = ["DesignCheck", "check_design"]


@dataclass(frozen=True)
class DesignCheck:
    """One row of the table: the design against torchvision's count and against the graph analysis."""

    name: str
    side: int
    params: int
    torchvision_params: int  # weights.meta["num_params"]
    aux_params: int  # of those, the training-time auxiliary classifiers the design leaves out (Inception-v3)
    macs: int
    graph_macs: int | None  # None: not measured

    @property
    def exact(self) -> bool:
        """Parameters equal torchvision's (less its auxiliary classifiers), MACs the graph analysis's (if measured)."""
        return self.params == self.torchvision_params - self.aux_params and self.graph_macs in (None, self.macs)


def check_design(name: str, *, graph: bool = True, side: int | None = None) -> DesignCheck:
    """Analyse the design of ``name`` and compare it with torchvision (``graph``: also trace the real model
    and compare MACs at the same input; seconds, not milliseconds)."""
    spec = torchvision_spec(name, side)
    report = analyze(spec)
    graph_macs = None
    if graph:
        from playground.arch.measure import analyze_module

        shape = tuple(spec["input"])
        graph_macs = analyze_module(build_meta(name), shape, name=name).conv_linear_macs
    return DesignCheck(name, spec["input"][1], report.total_params, num_params(name), aux_params(name),
                       report.total_macs, graph_macs)
