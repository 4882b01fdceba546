"""Shared support for job tests: a fake runner for the job manager, and a class's owners, passcode
and finished jobs as the Fine-tune and Teacher pages see them."""
from __future__ import annotations

import json
from pathlib import Path

from playground.classroom import new_owner_secret, owner_id
from playground.finetune.config import TrainConfig
from playground.finetune.jobs.store import JobStore
from playground.finetune.jobs.submit import job_config

__all__ = ["A_ID", "A_SECRET", "B_ID", "B_SECRET", "LINK_NAME", "PASSCODE", "FakeRunner", "done_job",
           "job_settings"]

PASSCODE = "correct horse battery"
A_SECRET, B_SECRET = new_owner_secret(), new_owner_secret()  # two browsers (what their cookies hold)
A_ID, B_ID = owner_id(A_SECRET), owner_id(B_SECRET)
LINK_NAME = "[free answers](https://evil.example)"


class FakeRunner:
    """Records starts; a test ends a worker by setting its exit code."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int | None]] = []
        self.exits: dict[str, int | None] = {}
        self.terminated: list[str] = []

    def start(self, job_dir: Path, device: int | None) -> str:
        """Record the start of the job in ``job_dir`` on ``device``."""
        self.started.append((job_dir.name, device))
        return "fake"

    def poll(self) -> dict[str, int | None]:
        """The exit codes set since the last poll, by job id."""
        ended, self.exits = self.exits, {}
        return ended

    def terminate(self, job_id: str) -> None:
        """Record that ``job_id`` was asked to stop."""
        self.terminated.append(job_id)

    def shutdown(self) -> None:
        """Nothing to stop."""


def job_settings() -> dict:
    """A job's settings: bundled digits, one epoch at 48 px."""
    return job_config(TrainConfig(epochs=1, image_size=48), "digits", [str(d) for d in range(10)], 1797)


def done_job(home: Path, owner: str) -> str:
    """A finished job of ``owner`` with a model folder and results (as the worker leaves them)."""
    store = JobStore(home)
    job = store.create(dict(job_settings(), owner=owner, owner_name="Ada"))
    job.artifacts.mkdir()
    (job.artifacts / "meta.json").write_text("{}")
    store.folder(job.id).results_file.write_text(json.dumps({
        "val_accuracy": 0.5, "train_seconds": 2.0, "train_images": 8, "epochs": 1, "confusion": [[1, 1], [0, 2]],
        "per_class_accuracy": {"0": 0.5, "1": 1.0},
        "misclassified": [{"path": "0/a.png", "true": "0", "predicted": "1", "confidence": 0.6}]}))
    store.finish(job.id, "done", "validation accuracy 50.0%")
    return job.id
