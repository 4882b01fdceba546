"""Whether a design can be trained as a classifier of N classes, and the one change that would make it one.

:func:`check_head` reads the design's output shape (the analysis, no forward pass). A classifier
ends in one number per class; when a design does not, it says so and proposes the smallest fix
as a new spec: set the last linear layer's ``out_features``, add a linear layer after a 1-D
output, or add ``global_avgpool`` + ``flatten`` + ``linear`` after a feature map. The fix is only
a proposal: the CLI applies it with ``--fix-head``, the page with a checkbox. A design with no
weights at all cannot learn, and says so.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from playground._format import format_shape
from playground.design.analysis import analyze
from playground.finetune.config import TrainingError

__all__ = ["HeadCheck", "check_head", "require_head"]


@dataclass(frozen=True)
class HeadCheck:
    """The verdict on a design's output for ``classes`` classes: ``ok``, else what is wrong
    (``problem``) and the proposed design (``fixed``) with what the fix does (``fix``)."""

    ok: bool
    classes: int
    problem: str = ""
    fix: str = ""
    fixed: dict[str, Any] | None = None

    @property
    def message(self) -> str:
        """The problem and the offer, as one line ("" when ok)."""
        return "" if self.ok else f"{self.problem}; fix: {self.fix}"


def _linear(n: int) -> dict[str, Any]:
    return {"type": "linear", "out_features": n}


def check_head(spec: dict[str, Any], classes: int) -> HeadCheck:
    """Whether ``spec`` outputs one value per class (``classes`` of them), and if not, the fix.

    Raises TrainingError for a design that no head fixes: one with no weights at all.
    (A spec that does not parse raises SpecError, naming the layer.)
    """
    report = analyze(spec)
    out = report.output_shape
    layers = list(spec.get("layers", []))
    if report.total_params == 0:
        raise TrainingError("this design has no weights to learn (only pooling, activations or reshapes); "
                            "add a conv2d or linear layer")
    if out is not None and len(out) == 1 and out[0] == classes:
        return HeadCheck(True, classes)
    fixed = copy.deepcopy(spec)
    shape = format_shape(out) if out is not None else "nothing"
    problem = f"the design outputs {shape}, but the data has {classes} classes: a classifier ends in {classes} values"
    last = layers[-1] if layers else None
    if out is not None and len(out) == 1 and isinstance(last, dict) and last.get("type") == "linear":
        fixed["layers"][-1] = dict(last, out_features=classes)
        fix = f"set the last linear layer's out_features to {classes}"
    elif out is not None and len(out) == 1:
        fixed["layers"].append(_linear(classes))
        fix = f"add a linear layer with {classes} outputs at the end"
    else:
        fixed["layers"] += [{"type": "global_avgpool"}, {"type": "flatten"}, _linear(classes)]
        fix = f"add global_avgpool, flatten and a linear layer with {classes} outputs at the end"
    return HeadCheck(False, classes, problem, fix, fixed)


def require_head(spec: dict[str, Any], classes: int, *, fix: bool = False) -> dict[str, Any]:
    """``spec`` if it is a classifier of ``classes`` classes; with ``fix``, the fixed spec; else TrainingError
    with the problem and the fix on offer."""
    check = check_head(spec, classes)
    if check.ok:
        return spec
    if fix and check.fixed is not None:
        return check.fixed
    raise TrainingError(f"{check.problem}; to {check.fix}, use --fix-head (on the page: tick 'fix the head')")
