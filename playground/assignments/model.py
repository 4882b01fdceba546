"""An assignment as data: its title, instructions, input size, start design and criteria, read from the JSON
file format a teacher can write by hand (and written back to it).

```json
{"title": "Field of view on a budget",
 "instructions": "Reach a receptive field of 32 px with at most five convolutions.",
 "input": [3, 64, 64],
 "start": {"input": [3, 64, 64], "layers": [...]},
 "criteria": [{"metric": "receptive_field", "at_least": 32, "hint": "..."},
              {"metric": "conv_layers", "at_most": 5, "hidden": true, "hint": "..."}]}
```

Each criterion names one ``metric`` (:data:`METRICS`) and exactly one of ``at_most`` / ``at_least`` /
``equals``. A ``hidden`` criterion's target never leaves the server (see :mod:`playground.assignments.check`).
:func:`parse_assignment` is the one place such a file becomes an :class:`Assignment`; a bad file raises
:class:`AssignmentError` with one line naming the field. No streamlit, no torch.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from playground.errors import PlaygroundError
from playground.spec.load import load_json_bytes
from playground.spec.parse import SpecError, parse_spec

__all__ = ["Assignment", "Criterion", "AssignmentError", "METRICS", "OPS", "parse_assignment", "load_assignment",
           "target_from_text", "MAX_TITLE", "MAX_INSTRUCTIONS", "MAX_HINT", "MAX_CRITERIA", "LAYER_TYPE_METRICS",
           "SHAPE_METRICS", "ACCURACY_DATASETS"]

MAX_TITLE = 120
MAX_INSTRUCTIONS = 4_000
MAX_HINT = 300
MAX_CRITERIA = 20
MAX_DATASET_NAME = 64
MAX_EPOCHS = 50
# val_accuracy: dataset -> the side its pictures are generated at (None: scanned digits, a fixed hidden part)
ACCURACY_DATASETS: dict[str, int | None] = {"digits": None, "shapes": 32, "shapes64": 64}

# metric -> what it measures, as a student reads it (the check's label starts with it)
METRICS: dict[str, str] = {
    "params": "parameters",
    "macs": "MACs per image",
    "receptive_field": "receptive field (px)",
    "conv_layers": "convolutions",
    "layers": "layers",
    "output_shape": "output shape",
    "input_size": "input size (px)",
    "layer_types_used": "layer types used",
    "layer_types_forbidden": "layer types not used",
    "val_accuracy": "validation accuracy",
}
OPS: dict[str, str] = {"at_most": "at most", "at_least": "at least", "equals": "exactly"}
LAYER_TYPE_METRICS = frozenset({"layer_types_used", "layer_types_forbidden"})
SHAPE_METRICS = frozenset({"output_shape"})  # compared as a list: [C, H, W], [H, W] or [F]
_KEYS = frozenset({"metric", *OPS, "hidden", "hint", "layer", "dataset", "epochs"})
_FILE_KEYS = frozenset({"title", "instructions", "input", "start", "criteria"})


class AssignmentError(PlaygroundError):
    """An assignment file, criterion or submission that cannot be used, naming the field and the fix."""


@dataclass(frozen=True)
class Criterion:
    """One thing a design must meet: ``metric`` ``op`` ``target`` (e.g. params at_most 20000).

    ``target`` is an int or float for numbers, a list of ints for ``output_shape`` (and ``input_size``
    with ``equals``), a list of layer type names for the layer-type metrics.
    """

    metric: str
    op: str
    target: Any
    hidden: bool = False
    hint: str = ""
    layer: int | None = None      # receptive_field: which layer (0-based; default: the last one with a field)
    dataset: str | None = None    # val_accuracy: the bundled dataset it trains on
    epochs: int | None = None     # val_accuracy: how long it trains

    def to_dict(self) -> dict[str, Any]:
        """The criterion in the file format (only the keys that are set)."""
        out: dict[str, Any] = {"metric": self.metric, self.op: self.target}
        if self.hidden:
            out["hidden"] = True
        if self.hint:
            out["hint"] = self.hint
        for name in ("layer", "dataset", "epochs"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass(frozen=True)
class Assignment:
    """A challenge: the instructions, the input size every design must keep, a start design, the criteria."""

    title: str
    instructions: str
    input: tuple[int, int, int]
    criteria: tuple[Criterion, ...]
    start: dict[str, Any] | None = field(default=None, compare=False)

    def start_spec(self) -> dict[str, Any]:
        """The design a student starts from: ``start``, or an empty stack at the assignment's input."""
        return self.start if self.start is not None else {"input": list(self.input), "layers": []}

    def to_dict(self) -> dict[str, Any]:
        """The assignment in the file format (hidden targets included: this is the teacher's copy)."""
        out: dict[str, Any] = {"title": self.title, "instructions": self.instructions, "input": list(self.input)}
        if self.start is not None:
            out["start"] = self.start
        out["criteria"] = [c.to_dict() for c in self.criteria]
        return out

    def to_json(self) -> str:
        """The file's text, indented for a person to read and edit."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def _text(value: Any, where: str, limit: int, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise AssignmentError(f"{where} must be text, e.g. \"{where}\": \"...\"")
    if len(value) > limit:
        raise AssignmentError(f"{where} is over {limit:,} characters; shorten it")
    return value.strip()


def _int(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AssignmentError(f"{where} must be a whole number from {low:,} to {high:,}, got {json.dumps(value)}")
    return value


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > 1e18:
        raise AssignmentError(f"{where} must be a number, got {json.dumps(value)}")
    return value


def _target(metric: str, op: str, value: Any, where: str) -> Any:
    from playground.spec.layers import LAYER_TYPES

    if metric in LAYER_TYPE_METRICS:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise AssignmentError(f'{where} must be a list of layer types, e.g. ["dwsep", "conv2d"]')
        unknown = [v for v in value if v not in LAYER_TYPES]
        if unknown:
            raise AssignmentError(f"{where} names unknown layer type {unknown[0]!r}; known: {', '.join(LAYER_TYPES)}")
        return list(dict.fromkeys(value))
    if metric in SHAPE_METRICS or (metric == "input_size" and op == "equals" and isinstance(value, list)):
        if op != "equals":
            raise AssignmentError(f'{where}: {metric} can only be compared with "equals", e.g. "equals": [32, 32]')
        if not isinstance(value, list) or not 1 <= len(value) <= 3:
            raise AssignmentError(f"{where} must be a shape: [C, H, W], [H, W] or [features], got {json.dumps(value)}")
        return [_int(v, where, 1, 10**9) for v in value]
    if metric == "val_accuracy":
        number = _number(value, where)
        if not 0 <= number <= 1:
            raise AssignmentError(f"{where} is a fraction from 0 to 1 (0.9 for 90%), got {json.dumps(value)}")
        return number
    number = _number(value, where)
    if number < 0:
        raise AssignmentError(f"{where} must not be negative, got {json.dumps(value)}")
    return int(number) if float(number).is_integer() else number  # 2e4 in a file means 20,000


def _criterion(raw: Any, i: int) -> Criterion:
    where = f"criteria[{i}]"
    if not isinstance(raw, dict):
        raise AssignmentError(f'{where} must be an object, e.g. {{"metric": "params", "at_most": 20000}}')
    extra = sorted(set(raw) - _KEYS)
    if extra:
        raise AssignmentError(f"{where} has unknown key {extra[0]!r}; allowed: {', '.join(sorted(_KEYS))}")
    metric = raw.get("metric")
    if metric not in METRICS:
        raise AssignmentError(f"{where}.metric must be one of {', '.join(METRICS)}, got {json.dumps(metric)}")
    ops = [op for op in OPS if op in raw]
    if len(ops) != 1:
        raise AssignmentError(f'{where} needs exactly one of "at_most", "at_least", "equals" with the target')
    op = ops[0]
    target = _target(metric, op, raw[op], f"{where}.{op}")
    hidden = raw.get("hidden", False)
    if not isinstance(hidden, bool):
        raise AssignmentError(f"{where}.hidden must be true or false")
    hint = _text(raw.get("hint"), f"{where}.hint", MAX_HINT, required=False)
    layer = raw.get("layer")
    if layer is not None:
        if metric != "receptive_field":
            raise AssignmentError(f'{where}.layer only applies to "receptive_field"')
        layer = _int(layer, f"{where}.layer", 0, 10_000)
    dataset, epochs = raw.get("dataset"), raw.get("epochs")
    if metric == "val_accuracy":
        dataset = _text(dataset, f"{where}.dataset", MAX_DATASET_NAME, required=True)
        if dataset not in ACCURACY_DATASETS:  # each has a hidden test split (playground.assignments.hidden)
            raise AssignmentError(f"{where}.dataset must be one of {', '.join(ACCURACY_DATASETS)} (the bundled sets "
                                  f"with a hidden test split), got {json.dumps(dataset)}")
        epochs = _int(epochs if epochs is not None else 5, f"{where}.epochs", 1, MAX_EPOCHS)
    elif dataset is not None or epochs is not None:
        raise AssignmentError(f'{where}.dataset and .epochs only apply to "val_accuracy"')
    return Criterion(metric, op, target, hidden, hint, layer, dataset, epochs)


def _input(value: Any) -> tuple[int, int, int]:
    if not isinstance(value, list) or len(value) != 3:
        raise AssignmentError(f"input must be [C, H, W], e.g. [3, 64, 64], got {json.dumps(value)}")
    c, h, w = (_int(v, "input", 1, 8_192) for v in value)
    return c, h, w


def parse_assignment(data: Any) -> Assignment:
    """An Assignment from the file format's JSON value; AssignmentError (one line, naming the field) if bad."""
    if not isinstance(data, dict):
        raise AssignmentError('an assignment is a JSON object with "title", "instructions", "input" and "criteria"')
    extra = sorted(set(data) - _FILE_KEYS)
    if extra:
        raise AssignmentError(f"unknown key {extra[0]!r}; an assignment has {', '.join(sorted(_FILE_KEYS))}")
    title = _text(data.get("title"), "title", MAX_TITLE, required=True)
    instructions = _text(data.get("instructions"), "instructions", MAX_INSTRUCTIONS, required=False)
    shape = _input(data.get("input"))
    raw_criteria = data.get("criteria", [])
    if not isinstance(raw_criteria, list) or len(raw_criteria) > MAX_CRITERIA:
        raise AssignmentError(f"criteria must be a list of at most {MAX_CRITERIA} criteria")
    criteria = tuple(_criterion(raw, i) for i, raw in enumerate(raw_criteria))
    start = data.get("start")
    if start is not None:
        if not isinstance(start, dict):  # never text: parse_spec would read a string as a file path
            raise AssignmentError('start must be a design object, e.g. {"input": [3, 64, 64], "layers": []}')
        try:
            parsed = parse_spec(start)  # limits first: a start design is a spec like any other
        except SpecError as exc:
            raise AssignmentError(f"start is not a valid design: {exc}") from None
        if tuple(parsed.input) != shape:
            raise AssignmentError(f"start.input {list(parsed.input)} differs from input {list(shape)}; make them equal")
        start = {"input": list(shape), "layers": start.get("layers", [])}
    return Assignment(title, instructions, shape, criteria, start)


def load_assignment(data: bytes | str) -> Assignment:
    """An Assignment from a file's bytes or text (size-limited, strict JSON)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        value = load_json_bytes(raw, "the assignment file")
    except SpecError as exc:
        raise AssignmentError(str(exc)) from None
    return parse_assignment(value)


def target_from_text(metric: str, text: str) -> Any:
    """A target typed in a form cell: JSON (``32``, ``[32, 32]``, ``0.9``), or for the layer-type metrics a comma
    list (``dwsep, conv2d``). What comes out is checked by :func:`parse_assignment` like a file's value."""
    text = str(text or "").strip()
    if metric in LAYER_TYPE_METRICS and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    try:
        return json.loads(text.replace("_", "")) if text else None
    except ValueError:
        return text  # parse_assignment names the field and what it expects
