"""Two training runs side by side: their per-epoch curves and final figures, read from the job store.

:func:`run_summary` turns one ended job's folder (results.json, whose ``history`` holds one record per
epoch, and config.json) into a :class:`RunSummary`; :func:`compare_runs` gives two of them, and
:func:`comparable_jobs` the jobs a viewer may pick from: finished ones (or cancelled ones that kept
their best epoch) that the viewer controls (their own; the teacher's are all; everyone's on a
single-user install), since a run's figures are its owner's. The Fine-tune page's compare view and the
Concepts page's one-click experiments draw from this. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playground.classroom import Viewer
from playground.finetune.jobs.store import Job, JobError, JobStore

__all__ = ["RunSummary", "RunComparison", "run_summary", "compare_runs", "comparable_jobs", "run_label",
           "COMPARE_QUERY", "compare_param", "parse_compare_param"]

COMPARE_QUERY = "compare"  # /finetune?compare=<job id>,<job id>: the compare view of two runs
_CURVES = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


def run_label(job: Job) -> str:
    """A run's name in a legend or a table (plain text: show it as text): its id, model and dataset."""
    t = job.train
    model = "?" if t is None else "a design" if t.model == "design" else t.model
    return f"{job.id} · {model} · {job.dataset.name or '?'}"


@dataclass(frozen=True)
class RunSummary:
    """One ended run: its per-epoch curves and its final figures (as its job page shows them)."""

    job_id: str
    label: str  # run_label: plain text
    status: str
    epochs: list[int]  # 1, 2, ... one per epoch that ran
    curves: dict[str, list[float]]  # train_loss, val_loss, train_accuracy, val_accuracy: one value per epoch
    val_accuracy: float  # the kept model's (the best epoch of a cancelled run)
    total_params: int
    trainable_params: int
    train_seconds: float
    images_per_sec: float  # training images x epochs run / training time, everything included
    train_images: int
    val_images: int

    def row(self) -> dict[str, Any]:
        """The run's line in the comparison table."""
        return {"run": self.label, "final validation accuracy": self.val_accuracy, "parameters": self.total_params,
                "training time (s)": self.train_seconds, "images/s": self.images_per_sec,
                "epochs": len(self.epochs)}


@dataclass(frozen=True)
class RunComparison:
    """Two runs to compare: ``a`` and ``b``."""

    a: RunSummary
    b: RunSummary

    @property
    def runs(self) -> tuple[RunSummary, RunSummary]:
        """Both runs, a first."""
        return self.a, self.b

    def table(self) -> list[dict[str, Any]]:
        """One row per run: final validation accuracy, parameters, training time, images/s."""
        return [self.a.row(), self.b.row()]


def _usable(job: Job, results: dict[str, Any] | None) -> bool:
    return bool(results) and (job.status == "done" or (job.status == "cancelled" and job.artifacts.is_dir()))


def run_summary(store: JobStore, job_id: str) -> RunSummary:
    """The curves and figures of an ended job; JobError when it does not exist or has no results yet."""
    job = store.get(job_id)
    results = store.results(job_id)
    if not _usable(job, results):
        raise JobError(f"job {job_id} has no results to compare yet (it is {job.status})")
    assert results is not None  # _usable checked it
    history = [h for h in results.get("history") or [] if isinstance(h, dict)]
    curves = {k: [float(h.get(k) or 0.0) for h in history] for k in _CURVES}
    seconds = float(results.get("train_seconds") or 0.0)
    train_images = int(results.get("train_images") or 0)
    # Epochs that ran (a cancelled run's kept model may be of an earlier one than the last).
    ran = len(history) or int(results.get("epochs") or 0)
    return RunSummary(
        job_id=job.id, label=run_label(job), status=job.status,
        epochs=[int(h.get("epoch", i + 1)) for i, h in enumerate(history)], curves=curves,
        val_accuracy=float(results.get("val_accuracy") or 0.0),
        total_params=int(results.get("total_params") or 0),
        trainable_params=int(results.get("trainable_params") or 0), train_seconds=seconds,
        images_per_sec=train_images * ran / seconds if seconds > 0 else 0.0, train_images=train_images,
        val_images=int(results.get("val_images") or 0))


def compare_runs(store: JobStore, a: str, b: str, by: Viewer | None = None) -> RunComparison:
    """Both runs' summaries; JobError when one is missing, unfinished, the same job twice, or (``by``
    given) not the viewer's to compare."""
    if a == b:
        raise JobError("choose two different runs to compare")
    if by is not None:
        for job_id in (a, b):
            if not by.can_control(store.get(job_id).config):
                raise JobError(f"job {job_id} is another student's: only your own runs can be compared")
    return RunComparison(run_summary(store, a), run_summary(store, b))


def comparable_jobs(jobs: list[Job], store: JobStore, by: Viewer) -> list[Job]:
    """The jobs of ``jobs`` that ``by`` may compare (their own; all for the teacher) and that have results."""
    return [j for j in jobs if by.can_control(j.config) and _usable(j, store.results(j.id))]


def compare_param(a: str, b: str) -> str:
    """The ``?compare=`` value naming two jobs."""
    return f"{a},{b}"


def parse_compare_param(value: str | None) -> tuple[str, str] | None:
    """The two job ids of a ``?compare=`` value, or None when it does not name two (ids are checked by the store)."""
    parts = [p.strip() for p in (value or "").split(",")]
    if len(parts) != 2 or not all(parts):
        return None
    return parts[0], parts[1]
