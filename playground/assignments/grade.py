"""Accuracy criteria: train a submitted design from scratch on the criterion's dataset, measure it on the
hidden test split (:mod:`playground.assignments.hidden`) and record the accuracy on the submission.

A design trains in one of two places, and is measured and recorded the same way after either:

- a training job that the student's Submit queued (:func:`queue_training`: the Fine-tune page's checks and
  the class limits, the job owned by the student); :func:`collect` records it once the job has finished.
  The pages call :func:`collect` when they load (idempotent: a criterion is measured once, and two pages
  recording at once write once), never from a thread of their own;
- the process that calls :func:`grade`: ``playground assignment grade`` (the CLI) trains the submissions
  that have no job (submitted before jobs existed, or from an import), never the app server.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playground.assignments import db
from playground.assignments.check import PENDING, check
from playground.assignments.db import Submission
from playground.assignments.model import Assignment
from playground.errors import PlaygroundError

if TYPE_CHECKING:
    from playground.finetune.jobs.manager import JobManager

__all__ = ["pending", "untrained", "grade", "queue_training", "collect", "training_status", "Queued",
           "NOT_TRAINED"]

Loader = Callable[[str], Any]  # dataset name -> the playground.finetune.data.Dataset to train on
NOT_TRAINED = "not trained"  # how the measured value of a criterion whose design could not train starts


@dataclass(frozen=True)
class Queued:
    """What Submit did for one accuracy criterion: the job it queued, or why it queued none."""

    index: int
    job_id: str | None
    refused: str | None = None


def _accuracy_indices(assignment: Assignment) -> list[int]:
    return [i for i, c in enumerate(assignment.criteria) if c.metric == "val_accuracy" and c.dataset is not None]


def _pending_indices(sub: Submission) -> list[int]:
    return [int(r["index"]) for r in sub.result.get("results", []) if r.get("status") == PENDING]


def pending(assignment_id: str | None = None) -> list[Submission]:
    """Submissions with an accuracy criterion still waiting for its measurement, oldest first."""
    return [s for s in db.submissions(assignment_id) if _pending_indices(s)]


def untrained(assignment_id: str | None = None) -> list[Submission]:
    """Pending submissions with a criterion no job trains: what ``playground assignment grade`` trains."""
    return [s for s in pending(assignment_id)
            if any("job" not in s.training.get(str(i), {}) for i in _pending_indices(s))]


def _record(sub: Submission, assignment: Assignment, new: dict[int, float | str]) -> Submission:
    """Check ``sub`` again with the accuracies measured before and ``new`` ones, and store the result (only
    if nobody recorded it meanwhile: then the stored submission is returned as it is)."""
    if not new:
        return sub
    accuracies: dict[int, float | str] = {int(k): v["accuracy"] for k, v in sub.training.items() if "accuracy" in v}
    accuracies.update(new)
    checked = check(assignment, sub.design, accuracies)  # against the criteria as they are now
    db.record_training(sub.id, new, checked.public(), replaces=sub.result)
    return db.get_submission(sub.id)


def grade(sub: Submission, *, load: Loader | None = None, device: str | None = None) -> Submission:
    """Train ``sub``'s design here for each of its pending accuracy criteria that no job trains, measure it on
    the hidden test split and store the result; returns the updated submission. A design that cannot be
    trained (no head with one output per class, say) fails that criterion with the reason as its value."""
    from playground.assignments.hidden import hidden_accuracy, training_set
    from playground.finetune.scratch import train_design

    loader = load or training_set
    assignment = db.get_assignment(sub.assignment_id).assignment
    new: dict[int, float | str] = {}
    for i in _accuracy_indices(assignment):
        if i not in _pending_indices(sub) or "job" in sub.training.get(str(i), {}):
            continue
        c = assignment.criteria[i]
        assert c.dataset is not None  # _accuracy_indices
        try:
            result = train_design(sub.design, loader(c.dataset), epochs=c.epochs, device=device)
            new[i] = hidden_accuracy(result.model, list(result.classes), result.preprocess, c.dataset)
        except PlaygroundError as exc:
            new[i] = f"{NOT_TRAINED}: {exc}"
    return _record(sub, assignment, new)


def queue_training(sub: Submission, manager: JobManager, *, owner_name: str | None = None,
                   client: str | None = None) -> list[Queued]:
    """Queue a training job of ``sub``'s design for each of its assignment's accuracy criteria, owned by the
    submission's owner, under every check the Fine-tune page makes before Start (the head fits the classes,
    the estimated time fits the class's minutes per job, the class caps, the owner's and the server's job
    limits). A refused criterion fails with the reason as its value (the other criteria stand); returns
    what happened per criterion."""
    assignment = db.get_assignment(sub.assignment_id).assignment
    if sub.result.get("error") or not _accuracy_indices(assignment):  # an invalid design: its check says why
        return []
    from playground.assignments.hidden import training_set
    from playground.finetune.jobs.design_jobs import submit_design
    from playground.finetune.scratch import design_config
    out: list[Queued] = []
    refused: dict[int, float | str] = {}
    for i in _accuracy_indices(assignment):
        c = assignment.criteria[i]
        assert c.dataset is not None  # _accuracy_indices
        try:
            cfg = design_config(sub.design, epochs=c.epochs)
            job = submit_design(manager, training_set(c.dataset), cfg, owner=sub.owner, owner_name=owner_name,
                                client=client)
        except PlaygroundError as exc:
            refused[i] = f"{NOT_TRAINED}: {exc}"
            out.append(Queued(i, None, str(exc)))
            continue
        db.attach_job(sub.id, i, job.id)
        out.append(Queued(i, job.id))
    _record(db.get_submission(sub.id), assignment, refused)
    return out


# Measuring runs the student's network over the hidden images: a limited child process does it, never the server
# (the design passed the class's training limits, so a pass over 1,000 images is far less than its training).
_MEASURE_MEMORY = 2 << 30
_MEASURE_CPU_S = 120
_MEASURE_WALL_S = 180.0


def _measure_job(job_id: str, dataset: str) -> float | str | None:
    """The hidden-split accuracy of the model a finished job left; text when it ended without one; None while
    it is still queued or running. The measurement runs in a limited child process (:mod:`playground.sandbox`)."""
    from playground.finetune.jobs.store import JobStore
    from playground.paths import home_dir
    from playground.sandbox import run_limited

    try:
        job = JobStore().get(job_id)
    except PlaygroundError:
        return f"{NOT_TRAINED}: its training job was deleted; submit again"
    if job.active:
        return None
    if job.status != "done":
        return f"{NOT_TRAINED}: the training job {job.status} ({job.state.get('message') or 'no reason given'})"
    return run_limited(_measure_in_child, str(job.artifacts), job_id, dataset, str(home_dir()),
                       memory_bytes=_MEASURE_MEMORY, cpu_seconds=_MEASURE_CPU_S, wall_seconds=_MEASURE_WALL_S,
                       what=f"measuring job {job_id} on the hidden test images")


def _measure_in_child(artifacts: str, job_id: str, dataset: str, home: str) -> float:
    """In the limited child: load the job's model and measure it on the hidden split of ``dataset``."""
    import os
    from pathlib import Path

    os.environ["PLAYGROUND_HOME"] = home  # the child comes from a fork server started with the first caller's env
    from playground.assignments.hidden import hidden_accuracy
    from playground.models.finetuned import load_finetuned

    loaded = load_finetuned(Path(artifacts), f"job {job_id}")
    return hidden_accuracy(loaded.model, list(loaded.categories), loaded.preprocess, dataset)


def collect(subs: Iterable[Submission]) -> list[Submission]:
    """Record the accuracy of every finished training job among ``subs`` (pending criteria with a job only;
    a criterion already measured is never measured again); returns ``subs`` as stored now, in order."""
    out: list[Submission] = []
    assignments: dict[str, Assignment] = {}
    for sub in subs:
        waiting = [i for i in _pending_indices(sub) if "job" in sub.training.get(str(i), {})]
        if not waiting:
            out.append(sub)
            continue
        if sub.assignment_id not in assignments:
            assignments[sub.assignment_id] = db.get_assignment(sub.assignment_id).assignment
        assignment = assignments[sub.assignment_id]
        new: dict[int, float | str] = {}
        for i in waiting:
            c = assignment.criteria[i] if i < len(assignment.criteria) else None
            if c is None or c.metric != "val_accuracy" or c.dataset is None:
                continue  # the teacher changed the criteria since: the result stays as it was checked
            try:
                value = _measure_job(sub.training[str(i)]["job"], c.dataset)
            except PlaygroundError as exc:
                value = f"{NOT_TRAINED}: {exc}"
            if value is not None:
                new[i] = value
        out.append(_record(sub, assignment, new))
    return out


def training_status(sub: Submission, index: int) -> str:
    """One accuracy criterion of a submission as its student and the teacher read it: "training… (queued)",
    "accuracy 93.1% (pass)", "accuracy 41.0% (not yet)", "not trained: …", or "waits for grading"."""
    row = next((r for r in sub.result.get("results", []) if r.get("index") == index), None)
    if row is None:
        return ""
    if row.get("status") != PENDING:
        measured = str(row.get("measured", ""))
        if measured.startswith(NOT_TRAINED):
            return measured
        return f"accuracy {measured} ({'pass' if row.get('status') == 'pass' else 'not yet'})"
    job_id = sub.training.get(str(index), {}).get("job")
    if job_id is None:
        return "waits for grading"
    try:
        from playground.finetune.jobs.store import JobStore

        job = JobStore().get(job_id)
    except PlaygroundError:
        return "training…"
    return f"training… ({job.status})" if job.active else "training… (finished: measuring)"
