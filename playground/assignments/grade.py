"""Accuracy criteria: train each submitted design from scratch on the criterion's bundled dataset and record
the validation accuracy. Training never runs in the app server: this runs where the teacher calls it (the CLI's
``playground assignment grade``), and the students' pages show the new result on their next run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playground.assignments import db
from playground.assignments.check import PENDING, check
from playground.assignments.db import Submission
from playground.errors import PlaygroundError

__all__ = ["pending", "grade"]

Loader = Callable[[str], Any]  # dataset name -> playground.finetune.data.Dataset


def pending(assignment_id: str | None = None) -> list[Submission]:
    """Submissions with an accuracy criterion still waiting for training, oldest first."""
    return [s for s in db.submissions(assignment_id)
            if any(r.get("status") == PENDING for r in s.result.get("results", []))]


def grade(sub: Submission, *, load: Loader | None = None, device: str | None = None) -> Submission:
    """Train ``sub``'s design for each of its assignment's accuracy criteria, check it again with the measured
    accuracies and store the result; returns the updated submission. A design that cannot be trained (no
    head with one output per class, say) fails that criterion with the reason as its value."""
    from playground.finetune.data import bundled
    from playground.finetune.scratch import train_design

    loader = load or bundled
    assignment = db.get_assignment(sub.assignment_id).assignment
    accuracies: dict[int, float | str] = {}
    for i, c in enumerate(assignment.criteria):
        if c.metric != "val_accuracy" or c.dataset is None:
            continue
        try:
            result = train_design(sub.design, loader(c.dataset), epochs=c.epochs, device=device)
        except PlaygroundError as exc:
            accuracies[i] = f"cannot train: {exc}"
            continue
        accuracies[i] = float(result.val_accuracy)
    checked = check(assignment, sub.design, accuracies)
    db.record_result(sub.id, checked.public())  # against the criteria as they are now (the teacher may have edited)
    return Submission(sub.id, sub.assignment_id, sub.owner, sub.name, sub.design, checked.public(), checked.passed,
                      checked.total, sub.created)
