"""Every model this playground can use, by one reference: a zoo name, ``job:<id>``, or a fine-tuned folder.

The zoo is data (:mod:`playground.models.registry`), a fine-tuned model folder is a
format (:mod:`playground.models.finetuned`), and a fine-tuning job keeps its model in
its artifacts folder (:mod:`playground.finetune.jobs.store`). This module sits above
all three and is the one place that joins them: it parses ``job:<id>`` references,
loads a model from any reference (:func:`load_model`) and says which models can be
used now (:func:`model_status`). Below it, only the job worker names a ``job:<id>``
(for its model's README), with the spelling in :mod:`playground.jobref`.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch

from playground.finetune.jobs.store import JobError, JobStore
from playground.jobref import JOB_PREFIX, job_id_of, job_ref
from playground.models.finetuned import META_FILE, folder_status, load_finetuned
from playground.models.registry import MODELS, LoadedModel, ModelStatus, load_zoo_model, zoo_rows
from playground.models.weights import ModelUnavailable

__all__ = [
    "JOB_PREFIX",
    "job_ref",
    "job_id_of",
    "load_model",
    "model_status",
    "finetuned_dir",
    "finetuned_dirs",
    "finetuned_status",
    "note_model_use",
]

_USE_NOTED: dict[str, float] = {}  # job id -> when this process last touched its last_used file
_NOTE_EVERY_S = 60.0  # a page run may use a model many times a second: touch the file at most this often

# --------------------------------------------------------------------------- fine-tuned folders


def finetuned_dir(ref: str | Path) -> Path:
    """The folder a model reference points at: ``job:<id>`` -> that job's artifacts, else the path."""
    text = str(ref)
    job_id = job_id_of(text)
    if job_id is not None:
        try:
            return JobStore().folder(job_id).artifacts
        except JobError as exc:
            raise ModelUnavailable(f"{text}: not a valid job id ({exc})") from None
    return Path(text).expanduser()


def finetuned_dirs() -> list[Path]:
    """Fine-tuned model folders written by jobs (artifacts with a meta.json), oldest first."""
    folders = [d for d in JobStore().artifact_dirs() if (d / META_FILE).is_file()]
    return sorted(folders, key=lambda p: p.stat().st_mtime)


def finetuned_status(ref: str | Path) -> ModelStatus:
    """Whether a fine-tuned model reference (``job:<id>`` or a folder) can be loaded, and what it is."""
    label = str(ref)
    try:
        folder = finetuned_dir(ref)
    except ModelUnavailable as exc:
        return ModelStatus(label, "fine-tuned model", False, str(exc))
    return folder_status(folder, label)


def note_model_use(ref: str | Path) -> None:
    """Record that a ``job:<id>`` model was just used (its job's ``last_used`` file is touched), so
    retention counts "unused" from its last use on Predict, not from when its job finished."""
    job_id = job_id_of(str(ref))
    now = time.monotonic()
    if job_id is None or now - _USE_NOTED.get(job_id, -_NOTE_EVERY_S) < _NOTE_EVERY_S:
        return
    _USE_NOTED[job_id] = now
    try:
        job = JobStore().folder(job_id)
        if job.dir.is_dir():
            job.last_used_file.touch()
    except (JobError, OSError):
        pass  # a bad id is refused where the model is loaded; a read-only folder only loses the date


# --------------------------------------------------------------------------- any model


def load_model(name_or_dir: str | Path, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Build a model and load its weights: a zoo name (see ``MODELS``), ``job:<id>``, or the path
    of a fine-tuned model folder. Returns it in eval mode on ``device`` (default CPU).

    Raises :class:`ModelUnavailable` saying what is missing and how to get it.
    """
    ref = str(name_or_dir)
    if ref in MODELS:
        return load_zoo_model(ref, device=device)
    folder = finetuned_dir(ref)
    if not folder.is_dir():
        raise ModelUnavailable(
            f"{ref}: no such model; use one of {', '.join(MODELS)}, job:<id> or a fine-tuned model folder "
            "(see `python -m playground models`)"
        )
    loaded = load_finetuned(folder, ref)
    note_model_use(ref)
    loaded.model.to(device)
    return loaded


def model_status() -> list[ModelStatus]:
    """Every zoo model and every fine-tuned job model, and whether it can be used now (and why not)."""
    return zoo_rows() + [finetuned_status(job_ref(folder.parent.name)) for folder in finetuned_dirs()]
