"""Submitting a fine-tuning job from the server: its config.json, the class caps, its copy of the data.

What the pages, the CLI and Python callers use to start a job; the job then runs in a worker
(:mod:`playground.finetune.jobs.worker`) that a runner starts. No torch at import time.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.finetune.jobs.store import Job, JobDataset

if TYPE_CHECKING:
    from playground.finetune.config import TrainConfig
    from playground.finetune.data import Dataset
    from playground.finetune.jobs.manager import JobManager

__all__ = ["submit_finetune", "job_config"]


def job_config(train: TrainConfig, dataset_name: str, classes: list[str], images: int) -> dict[str, Any]:
    """The config.json of a fine-tuning job (the job folder adds id, owner and creation time)."""
    kind = "design" if train.model == "design" else "finetune"  # a DesignConfig: a design trained from scratch
    return {"kind": kind, "train": train.to_dict(),
            "dataset": JobDataset(dataset_name, tuple(classes), images).to_dict()}


def submit_finetune(manager: JobManager, dataset: Dataset, train: TrainConfig, *, owner: str | None = None,
                    owner_name: str | None = None, session: str | None = None, client: str | None = None) -> Job:
    """Queue a fine-tuning job: its config plus its own copy of ``dataset`` in the job's data folder.

    ``owner`` / ``owner_name`` / ``client``: see :meth:`JobManager.submit`. Raises ClassroomError when the settings
    exceed the class caps the teacher set (maximum epochs, image size).
    """
    from playground.classroom import check_caps, load_settings
    from playground.finetune.data import link_dataset

    dataset.check_trainable()
    check_caps(train, load_settings(manager.store.home))
    config = job_config(train, dataset.name, dataset.classes, len(dataset.items))
    prior = _prior_costs(train, manager.store.home)
    if prior is not None:
        config["prior_costs"] = prior  # travels with the job (to a Ray worker too): the first time left
    return manager.submit(config, owner=owner if owner is not None else session, owner_name=owner_name,
                          client=client, prepare=lambda job: link_dataset(dataset, job.data_dir))


def _prior_costs(train: TrainConfig, home: Path) -> dict[str, Any] | None:
    """The per-image costs remembered for these settings on this machine (never a new probe), or None."""
    from playground.finetune.calibration import calibration_key, costs_for
    from playground.finetune.runtime import resolve_device

    known = costs_for(calibration_key(train, resolve_device(train).type), home)
    return known[0].to_dict() if known else None
