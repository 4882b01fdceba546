"""The Architectures page's error plots: no model's name is drawn over another's (ResNet-50 sat on
ConvNeXt-Tiny, the MobileNets on each other)."""
from __future__ import annotations

import itertools
import math

import pytest

from playground.arch.measure import catalogue
from playground.ui.architectures.figures import error_bubbles, label_box, label_positions, to_pixels


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return catalogue()


def _overlaps(points: list[tuple[float, float, str]], x_range: tuple[float, float],
              y_range: tuple[float, float]) -> list[tuple[str, str]]:
    positions = label_positions(points, x_range, y_range)
    boxes = [label_box(px, py, text, pos) for (px, py), (_, _, text), pos
             in zip(to_pixels(points, x_range, y_range), points, positions)]
    return [(points[i][2], points[j][2]) for i, j in itertools.combinations(range(len(points)), 2)
            if min(boxes[i][2], boxes[j][2]) > max(boxes[i][0], boxes[j][0])
            and min(boxes[i][3], boxes[j][3]) > max(boxes[i][1], boxes[j][1])]


@pytest.mark.parametrize("x", ["params", "paper_macs", "tv_macs"])
@pytest.mark.parametrize("error", ["paper_top5_error", "paper_top1_error", "tv_top5_error", "tv_top1_error"])
def test_no_two_labels_overlap(rows: list[dict], x: str, error: str) -> None:
    shown = [r for r in rows if r.get(error) is not None and r.get(x)]
    if len(shown) < 2:
        pytest.skip(f"fewer than two models have {error} and {x}")
    points = [(math.log10(r[x]), r[error], r["title"]) for r in shown]
    logs = [p[0] for p in points]
    x_range, y_range = (min(logs) - 0.3, max(logs) + 0.3), (0.0, 1.15 * max(p[1] for p in points))
    assert _overlaps(points, x_range, y_range) == []
    fig = error_bubbles(shown, x, x, error, error)  # the figure uses the same placement
    drawn = {t: p for trace in fig.data for t, p in zip(trace.text, trace.textposition)}
    assert drawn == {r["title"]: pos for r, pos in zip(shown, label_positions(points, x_range, y_range))}


def test_the_old_alternating_placement_overlapped(rows: list[dict]) -> None:
    """The check can fail: labels alternating above/below along x, as before, did overlap."""
    shown = [r for r in rows if r.get("tv_top5_error") is not None]
    points = sorted((math.log10(r["params"]), r["tv_top5_error"], r["title"]) for r in shown)
    logs = [p[0] for p in points]
    x_range, y_range = (min(logs) - 0.3, max(logs) + 0.3), (0.0, 1.15 * max(p[1] for p in points))
    px = to_pixels(points, x_range, y_range)
    boxes = [label_box(x, y, t, "top center" if i % 2 == 0 else "bottom center")
             for i, ((x, y), (_, _, t)) in enumerate(zip(px, points))]
    assert any(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
               for a, b in itertools.combinations(boxes, 2))
