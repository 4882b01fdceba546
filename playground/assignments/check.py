"""Checking a design against an assignment's criteria: pure functions of the spec and ``analyze(spec)``.

The server calls :func:`check` on every submission from the design it stored, never trusting numbers a page
sent. What a student may see is :meth:`CheckResult.public`: per criterion pass / not yet, the measured value
of their own design and the hint, and the target only when the criterion is not hidden.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playground.assignments.model import LAYER_TYPE_METRICS, METRICS, OPS, Assignment, Criterion
from playground.design.analysis import LayerReport, Report, analyze
from playground.spec.parse import SpecError, parse_spec

__all__ = ["CriterionResult", "CheckResult", "check", "measure", "conv_count", "criterion_label", "leaky_hints",
           "PASS", "FAIL", "PENDING"]

PASS, FAIL, PENDING = "pass", "fail", "pending"  # pending: needs a training run that has not happened
_HEAD_TYPES = frozenset({"global_avgpool", "adaptive_avgpool2d", "flatten"})


@dataclass(frozen=True)
class CriterionResult:
    """One criterion against one design: its status and the design's own value (never the hidden target)."""

    index: int
    metric: str
    status: str          # PASS | FAIL | PENDING
    label: str           # what is asked, as a student may read it (no target when hidden)
    measured: str        # the design's value, as text
    hint: str
    hidden: bool

    @property
    def passed(self) -> bool:
        """Whether the design meets this criterion."""
        return self.status == PASS

    def to_dict(self) -> dict[str, Any]:
        """JSON for storage and for the student's page (holds no target of a hidden criterion)."""
        return {"index": self.index, "metric": self.metric, "status": self.status, "label": self.label,
                "measured": self.measured, "hint": self.hint, "hidden": self.hidden}


@dataclass(frozen=True)
class CheckResult:
    """A design against every criterion: ``error`` is set (and nothing passes) when the design is invalid."""

    results: tuple[CriterionResult, ...]
    error: str | None = None

    @property
    def passed(self) -> int:
        """How many criteria pass."""
        return sum(r.passed for r in self.results)

    @property
    def total(self) -> int:
        """How many criteria there are."""
        return len(self.results)

    @property
    def complete(self) -> bool:
        """Every criterion passes (and there is at least one)."""
        return self.total > 0 and self.passed == self.total

    def public(self) -> dict[str, Any]:
        """What the student's page gets: statuses, their own values and hints, no hidden targets."""
        return {"error": self.error, "passed": self.passed, "total": self.total,
                "results": [r.to_dict() for r in self.results]}


def _fmt(value: Any) -> str:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    if isinstance(value, (int, float)):
        return f"{value:,}"
    return str(value)


def criterion_label(c: Criterion, *, reveal: bool) -> str:
    """What a criterion asks: "parameters at most 20,000"; with ``reveal=False`` a hidden one says only
    what is measured ("parameters: hidden target")."""
    what = METRICS[c.metric]
    if c.metric == "receptive_field" and c.layer is not None:
        what += f" at layer {c.layer}"
    if c.metric == "val_accuracy":
        what += f" on {c.dataset} after {c.epochs} epochs"
    if c.hidden and not reveal:
        return f"{what}: hidden target"
    if c.metric == "layer_types_forbidden":
        return f"{what}: {_fmt(c.target)}"
    if c.metric == "layer_types_used":
        word = {"at_least": "include", "at_most": "only from", "equals": "exactly"}[c.op]
        return f"{what}: {word} {_fmt(c.target)}"
    target = f"{c.target:.0%}" if c.metric == "val_accuracy" else _fmt(c.target)
    return f"{what} {OPS[c.op]} {target}"


def leaky_hints(assignment: Assignment) -> list[int]:
    """Indices of hidden criteria whose hint spells out their target (students see hints): for the teacher's warning."""
    out = []
    for i, c in enumerate(assignment.criteria):
        if not c.hidden or not c.hint:
            continue
        values = c.target if isinstance(c.target, list) else [c.target]
        spelled = {form for v in values for form in (str(v), _fmt(v))} - {""}
        if any(form in c.hint for form in spelled if len(form) > 1 or not form.isdigit()):
            out.append(i)
    return out


def conv_count(report: Report) -> int:
    """Convolutions in the design, inside blocks and branches too (a ``dwsep`` is two, a ``residual`` two or
    three with its shortcut): what a student could otherwise hide inside one named block."""
    from playground.design.expand import EXPANDABLE, expand_block

    def count(layers: list[dict[str, Any]]) -> int:
        n = 0
        for layer in layers:
            if layer.get("type") in ("conv2d", "conv_transpose2d"):
                n += 1
            elif layer.get("type") == "branch":
                n += sum(count(path) for path in layer.get("paths", []))
        return n

    total = 0
    for row in report.rows():
        if row.type in ("conv2d", "conv_transpose2d"):
            total += 1
        elif row.type in EXPANDABLE:
            total += count(expand_block(row.layer, row.input_shape[0], deep=True))
    return total


def _field_row(report: Report, layer: int | None) -> LayerReport | None:
    if layer is not None:
        return report.layers[layer] if layer < len(report.layers) else None
    found = None
    for row in report.layers:  # the last feature map before the head: a global pool sees everything by design
        if row.type in _HEAD_TYPES:
            break
        if row.receptive_field is not None:
            found = row
    return found


def measure(c: Criterion, spec: Mapping[str, Any], report: Report) -> Any:
    """The design's value for criterion ``c`` (None when it has none, e.g. no receptive field after flatten)."""
    if c.metric == "params":
        return report.total_params
    if c.metric == "macs":
        return report.total_macs
    if c.metric == "receptive_field":
        row = _field_row(report, c.layer)
        return None if row is None or row.receptive_field is None else min(row.receptive_field)
    if c.metric == "conv_layers":
        return conv_count(report)
    if c.metric == "layers":
        return len(report.layers)
    if c.metric == "output_shape":
        return list(report.output_shape or ())
    if c.metric == "input_size":
        shape = list(report.input_shape or ())
        return shape if isinstance(c.target, list) else min(shape[1:])
    if c.metric in LAYER_TYPE_METRICS:
        return sorted({row.type for row in report.rows()})
    return None  # val_accuracy: measured by training, not by the analysis


def _compare(c: Criterion, value: Any) -> bool:
    if value is None:
        return False
    if c.metric == "layer_types_forbidden":
        return not set(c.target) & set(value)
    if c.metric == "layer_types_used":
        used, wanted = set(value), set(c.target)
        return {"at_least": wanted <= used, "at_most": used <= wanted, "equals": used == wanted}[c.op]
    if isinstance(c.target, list):  # shapes: [C, H, W] whole, [H, W] the spatial size, [F] a flat output
        if len(c.target) == 2:
            return len(value) == 3 and value[1:] == c.target
        return bool(value == c.target)
    return {"at_most": value <= c.target, "at_least": value >= c.target, "equals": value == c.target}[c.op]


def _shown(c: Criterion, value: Any) -> str:
    if value is None:
        return "not measured yet (needs training)" if c.metric == "val_accuracy" else "none"
    if c.metric == "layer_types_forbidden" and not c.hidden:
        used = [t for t in c.target if t in value]
        return "uses " + ", ".join(used) if used else "uses none of them"
    if c.metric in LAYER_TYPE_METRICS:  # the design's own types: says nothing about a hidden list
        return ", ".join(value) or "none"
    return f"{value:.1%}" if c.metric == "val_accuracy" else _fmt(value)


def check(assignment: Assignment, spec: Any, accuracies: Mapping[int, float | str] | None = None) -> CheckResult:
    """Every criterion of ``assignment`` against the design ``spec`` (a plain JSON value, untrusted).

    The spec is validated with the Designer's limits before any work. A design whose input differs from
    the assignment's fails everything with a message saying so. ``accuracies`` holds measured validation
    accuracy per criterion index (from a training run; text: why it could not train); a ``val_accuracy``
    criterion without one is pending.
    """
    def failed(message: str) -> CheckResult:
        return CheckResult(tuple(CriterionResult(i, c.metric, PENDING if c.metric == "val_accuracy" else FAIL,
                                                 criterion_label(c, reveal=False), "-", c.hint, c.hidden)
                                 for i, c in enumerate(assignment.criteria)), message)

    if not isinstance(spec, dict):
        return failed("the design is not a layer spec (a JSON object with input and layers)")
    try:
        parsed = parse_spec(spec)
    except SpecError as exc:
        return failed(f"the design is not valid yet: {exc}")
    if tuple(parsed.input) != assignment.input:
        return failed(f"this assignment's designs take a {_fmt(assignment.input)} input; this design takes "
                      f"{_fmt(parsed.input)}: set the input back to {_fmt(assignment.input)}")
    report = analyze(parsed)
    out = []
    for i, c in enumerate(assignment.criteria):
        if c.metric == "val_accuracy":
            value: Any = (accuracies or {}).get(i)
            if isinstance(value, str):  # the design could not be trained: why, as its value
                out.append(CriterionResult(i, c.metric, FAIL, criterion_label(c, reveal=False), value, c.hint,
                                           c.hidden))
                continue
            status = PENDING if value is None else (PASS if _compare(c, value) else FAIL)
        else:
            value = measure(c, spec, report)
            status = PASS if _compare(c, value) else FAIL
        out.append(CriterionResult(i, c.metric, status, criterion_label(c, reveal=False), _shown(c, value), c.hint,
                                   c.hidden))
    return CheckResult(tuple(out))
