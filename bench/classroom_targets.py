"""The classroom issue's targets, checked against one run of bench_classroom.py.

Each target names the pages it applies to, what is measured and the limit; :func:`check` gives one
line per target that could be checked (pages not measured in the run are left out), saying "met"
or "NOT met" with the figures. The targets are the issue's, on the 2-core machine with 30 sessions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["TARGETS", "Target", "check"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Target:
    what: str  # as the issue words it
    pages: tuple[str, ...]  # bench page names it applies to
    value: Callable[[Row], float | None]  # the figure of one page's row
    limit: float
    unit: str = "s"


def _cpu(row: Row) -> float:
    return row["cpu_per_run_s"]


def _first_p95(row: Row) -> float | None:
    return row["first"].get("p95_s")


def _rerun_p95(row: Row) -> float | None:
    return row["rerun"].get("p95_s")


def _x_blank(row: Row) -> float | None:
    return row.get("cpu_x_blank")


DESIGNER = ("Designer", "Designer-VGG16", "Designer-ResNet50")
OTHERS = ("Home", "Architectures", "Concepts", "Fine-tune")
TARGETS = (
    Target("server CPU per page run, Designer", DESIGNER, _cpu, 0.03),
    Target("server CPU per page run, Predict", ("Predict",), _cpu, 0.04),
    Target("server CPU per page run, every other page", OTHERS, _cpu, 0.05),
    Target("server CPU within 2x of the blank app", DESIGNER + ("Predict",) + OTHERS, _x_blank, 2.0, "x"),
    Target("Designer first view p95", DESIGNER, _first_p95, 1.5),
    Target("Designer rerun p95", DESIGNER, _rerun_p95, 1.5),
    Target("Predict first view p95, every session on the same sample", ("Predict",), _first_p95, 3.0),
    Target("Predict first prediction p95, every session a photo of its own", ("Predict-upload",), _first_p95, 6.0),
    Target("Assignment: the class submits in the same second, check back p95", ("Assignment-submit",), _first_p95, 2.0),
)
LEAK_LIMIT = 1.10  # RSS after 1,000 page runs within 10% of RSS after 100


def check(results: dict[str, Any]) -> list[str]:
    """One line per target the run measured: met / NOT met, with each page's figure."""
    rows = {row["page"]: row for row in results["pages"]}
    lines = []
    for t in TARGETS:
        figures = [(page, t.value(rows[page])) for page in t.pages if page in rows]
        if not figures:
            continue
        ok = all(v is not None and v <= t.limit for _, v in figures)
        shown = ", ".join(f"{page} {'-' if v is None else f'{v:.3g}'}" for page, v in figures)
        lines.append(f"{'met    ' if ok else 'NOT met'}  {t.what} <= {t.limit:g} {t.unit}: {shown}")
    leak = results.get("leak")
    if leak and leak.get("ratio") is not None:
        ok = leak["ratio"] <= LEAK_LIMIT
        lines.append(f"{'met    ' if ok else 'NOT met'}  RSS after {max(map(int, leak['rss_mib']))} runs within 10% of "
                     f"after {min(map(int, leak['rss_mib']))}: ratio {leak['ratio']:.3f}")
    return lines
