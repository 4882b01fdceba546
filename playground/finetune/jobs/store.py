"""The on-disk job folder: :class:`Job` (one folder read) and :class:`JobStore` (all of them).

A job folder (``<home>/jobs/<job_id>/``) holds everything about one job, and
this module is the only one that names the paths inside it:

- ``config.json``   what to run (training settings, dataset name, owner id and display name); never changes;
                    read into a :class:`Job`'s typed fields (:class:`TrainConfig`, :class:`JobDataset`)
- ``state.json``    queued | running | done | failed | cancelled | interrupted, latest progress
                    (rewritten atomically: temporary file + os.replace)
- ``metrics.jsonl`` one line per training batch and per epoch
- ``results.json``  validation results when done (confusion matrix, misclassified images...)
- ``worker.log``    the worker's output, tracebacks included
- ``data/``         the job's own copy of its dataset (hard links to the upload)
- ``artifacts/``    the fine-tuned model folder (see playground.models.finetuned)
- ``cancel``        present once a cancel was requested (holding who asked); the worker checks it every batch
- ``last_used``     touched when the job's model is used (Predict, the CLI); retention counts from it

No processes here, and no torch at import time.
"""
from __future__ import annotations

import builtins  # JobStore.list shadows the builtin in the class body's annotations
import json
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playground._fileio import disk_full, overwrite_json_in_place, write_json_atomic
from playground.errors import PlaygroundError
from playground.finetune.config import TrainConfig, TrainingError
from playground.finetune.design_config import settings_from_dict
from playground.finetune.jobs.jobfiles import config_problem, set_aside, state_problem
from playground.paths import home_dir

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "JOB_ID",
    "JOBS_FOLDER",
    "JobError",
    "JobDataset",
    "Job",
    "JobStore",
    "read_json",
]

STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset(STATES) - ACTIVE_STATES
# What a job id may be (ids can come from a URL): lowercase letters, digits and dashes, at most as
# long as the ids new_id() makes, e.g. 20250101-120000-a1b2c3. Never '.', '/' or empty.
JOB_ID = re.compile(r"^[0-9a-z][0-9a-z-]{0,21}$")
JOBS_FOLDER = "jobs"  # under the data directory
_ID_EXAMPLE = "20250101-120000-a1b2c3"


class JobError(PlaygroundError):
    """A job request that cannot be honoured (unknown id, limit reached...)."""


def _now() -> float:
    return time.time()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def read_json(path: Path) -> Any:
    """A JSON file's content, or None while it is missing, being replaced, or damaged."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class JobDataset:
    """What a job trains on, as its config.json names it (the images are in the job's data/ folder)."""

    name: str | None = None
    classes: tuple[str, ...] = ()
    images: int | None = None  # how many, validation included

    @classmethod
    def from_dict(cls, data: object) -> JobDataset:
        """config.json's ``dataset``; a missing or damaged one gives empty fields, never an error."""
        if not isinstance(data, dict):
            return cls()
        name, classes, images = data.get("name"), data.get("classes"), data.get("images")
        return cls(name if isinstance(name, str) else None,
                   tuple(c for c in classes if isinstance(c, str)) if isinstance(classes, list) else (),
                   images if isinstance(images, int) and not isinstance(images, bool) else None)

    def to_dict(self) -> dict[str, Any]:
        """What config.json holds under ``dataset``."""
        return {"name": self.name, "classes": list(self.classes), "images": self.images}


def _read_train(data: object) -> TrainConfig | None:
    """config.json's ``train`` as a TrainConfig; None when there is none or it does not parse."""
    if not isinstance(data, dict):
        return None
    try:
        return settings_from_dict(data)  # a TrainConfig, or a design's DesignConfig
    except TrainingError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class Job:
    """A job as read from disk: its config, its latest state, and the paths in its folder.

    The config's fields are read into typed attributes when the job is built: :attr:`train`,
    :attr:`dataset`, :attr:`owner`, :attr:`owner_name`, :attr:`created`. ``config`` stays the
    file's content, as written.
    """

    id: str
    dir: Path
    config: dict[str, Any]
    state: dict[str, Any]
    # What to run; None for a job without training settings, or with ones that no longer parse
    # (e.g. a model since removed): :meth:`train_config` then says why.
    train: TrainConfig | None = field(init=False)
    dataset: JobDataset = field(init=False)
    owner: str | None = field(init=False)  # the starter's owner id (playground.classroom.owner_id)
    owner_name: str | None = field(init=False)  # the name they chose for the teacher's list
    created: datetime | None = field(init=False)  # when the folder was made (UTC)

    def __post_init__(self) -> None:
        config: dict[str, Any] = self.config if isinstance(self.config, dict) else {}  # damaged: no fields
        self.train = _read_train(config.get("train"))
        self.dataset = JobDataset.from_dict(config.get("dataset"))
        self.owner, self.owner_name = _text(config.get("owner")), _text(config.get("owner_name"))
        try:
            self.created = datetime.fromisoformat(config.get("created", ""))
        except (TypeError, ValueError):
            self.created = None

    def train_config(self) -> TrainConfig:
        """The settings to run: :attr:`train`; TrainingError, saying why, when there are none that can be used."""
        if self.train is not None:
            return self.train
        data = self.config.get("train") if isinstance(self.config, dict) else None
        if not isinstance(data, dict):
            raise TrainingError("this job has no training settings")
        return settings_from_dict(data)  # raises, naming the bad setting

    @property
    def status(self) -> str:
        """One of STATES."""
        return self.state.get("state", "failed")

    @property
    def progress(self) -> dict[str, Any]:
        """The latest progress the worker reported (phase, epoch, step...)."""
        return self.state.get("progress") or {}

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.status in ACTIVE_STATES

    @property
    def config_file(self) -> Path:
        return self.dir / "config.json"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def metrics_file(self) -> Path:
        return self.dir / "metrics.jsonl"

    @property
    def results_file(self) -> Path:
        return self.dir / "results.json"

    @property
    def log_file(self) -> Path:
        return self.dir / "worker.log"

    @property
    def last_used_file(self) -> Path:
        """Touched when the job's model is used (retention counts "unused" from its time)."""
        return self.dir / "last_used"

    @property
    def cancel_file(self) -> Path:
        return self.dir / "cancel"

    @property
    def data_dir(self) -> Path:
        """The job's own copy of its dataset."""
        return self.dir / "data"

    @property
    def artifacts(self) -> Path:
        """The fine-tuned model folder, once the job is done."""
        return self.dir / "artifacts"

    @property
    def artifacts_scratch(self) -> Path:
        """Where the model folder is written before it is renamed into place."""
        return self.dir / ".artifacts.tmp"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"id": self.id, "dir": str(self.dir), "config": self.config, "state": self.state}


class JobStore:
    """Reads and writes job folders under ``<home>/jobs``; no processes involved."""

    def __init__(self, home: str | Path | None = None) -> None:
        self.home = Path(home or home_dir())  # the data directory (class settings live there too)
        self.root = self.home / JOBS_FOLDER

    @classmethod
    def of(cls, job_dir: str | Path) -> tuple[JobStore, str]:
        """The store a job folder belongs to, and the job's id (what a worker is given)."""
        path = Path(job_dir)
        return cls(path.parent.parent), path.name

    def job_dir(self, job_id: str) -> Path:
        """The folder of ``job_id``; raises JobError for a malformed id (it may come from a URL)."""
        if not isinstance(job_id, str) or not JOB_ID.match(job_id):
            raise JobError(f"{job_id!r} is not a job id (expected e.g. {_ID_EXAMPLE})")
        return self.root / job_id

    def folder(self, job_id: str) -> Job:
        """The paths of a job's folder, without reading it (config and state left empty)."""
        return Job(job_id, self.job_dir(job_id), {}, {})

    def new_id(self) -> str:
        """A fresh id: creation time (sortable) + 6 random hex digits."""
        return datetime.now().strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)

    def create(self, config: dict[str, Any], prepare: Callable[[Job], object] | None = None) -> Job:
        """Make a new job folder with ``config``, run ``prepare(job)`` (e.g. copy the data in),
        then mark it ``queued``. If ``prepare`` raises, the folder is removed and the error re-raised."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            job = self.folder(self.new_id())
            try:
                job.dir.mkdir()
                break
            except FileExistsError:
                continue
        config = dict(config, job_id=job.id, created=_iso(_now()))
        write_json_atomic(job.config_file, config)
        if prepare is not None:
            try:
                prepare(job)
            except BaseException:
                shutil.rmtree(job.dir, ignore_errors=True)
                raise
        state = {"state": "queued", "message": "waiting for a free worker", "created": _now(), "updated": _now()}
        write_json_atomic(job.state_file, state)
        return Job(job.id, job.dir, config, state)

    def get(self, job_id: str) -> Job:
        """Read one job; JobError when it does not exist."""
        job = self.folder(job_id)
        config = read_json(job.config_file)
        if config is None:
            raise JobError(f"no job {job_id} in {self.root}; it may have been deleted")
        state = read_json(job.state_file)
        if state is None:
            state = {"state": "failed", "message": "the job folder is incomplete (no readable state.json)"}
        # One malformed folder (a hand edit, a bad restore) must never take a page down: set it aside.
        problem = config_problem(config) or state_problem(state)
        if problem is not None:
            set_aside(job.dir, problem)
            raise JobError(f"job {job_id} was malformed ({problem}); it was set aside for the teacher")
        return Job(job_id, job.dir, config, state)

    def ids(self) -> Iterator[str]:
        """Every job id on disk, newest first."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.iterdir(), reverse=True):
            if JOB_ID.match(path.name):
                yield path.name

    def list(self, owner: str | None = None) -> list[Job]:
        """Every job (newest first), or only those of ``owner`` (an owner id, see playground.classroom)."""
        jobs = []
        for job_id in self.ids():
            try:
                job = self.get(job_id)
            except JobError:
                continue
            if owner is None or job.owner == owner:
                jobs.append(job)
        return jobs

    def delete(self, job_id: str) -> None:
        """Remove a job's folder (the caller makes sure it is not running)."""
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def update(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into state.json (atomically) and return the new state."""
        path = self.folder(job_id).state_file
        state = read_json(path)
        state = state if isinstance(state, dict) else {}
        state.update(changes, updated=_now())
        try:
            write_json_atomic(path, state)
        except OSError as exc:
            if not (disk_full(exc) and state.get("state") in FINAL_STATES):
                raise
            # The disk is full and this is how the job ended: record that much over the old file's
            # bytes, so the job is not left "running" forever (its progress details are dropped).
            keep = ("state", "message", "created", "started", "finished", "updated", "manager")
            overwrite_json_in_place(path, {k: state[k] for k in keep if k in state})
        return state

    def finish(self, job_id: str, status: str, message: str, *, only_from: frozenset[str] = ACTIVE_STATES) -> bool:
        """Move a job to a final state unless it already left ``only_from``; True if it moved."""
        state = read_json(self.folder(job_id).state_file)
        if not isinstance(state, dict) or state.get("state") not in only_from:
            return False
        self.update(job_id, state=status, message=message, finished=_now())
        return True

    def request_cancel(self, job_id: str, by: str = "") -> None:
        """Leave the flag the worker checks every batch; ``by`` (who asked: "owner", "teacher",
        "time limit N", or "" for a local caller) is its content, for the final message."""
        path = self.folder(job_id).cancel_file
        try:
            path.write_text(by)
        except OSError:
            path.touch()  # a full disk: the flag matters more than who raised it

    def cancel_by(self, job_id: str) -> str:
        """Who asked for the cancel (see :meth:`request_cancel`); "" when unknown."""
        try:
            return self.folder(job_id).cancel_file.read_text().strip()
        except OSError:
            return ""

    def cancel_requested(self, job_id: str) -> bool:
        """Whether a cancel was asked for."""
        return self.folder(job_id).cancel_file.exists()

    def metrics(self, job_id: str) -> builtins.list[dict[str, Any]]:
        """Every line of metrics.jsonl (a torn last line, mid-append, is ignored)."""
        lines = []
        try:
            text = self.folder(job_id).metrics_file.read_text()
        except OSError:
            return []
        for line in text.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def results(self, job_id: str) -> dict[str, Any] | None:
        """results.json of a finished job, or None."""
        return read_json(self.folder(job_id).results_file)

    def artifact_dirs(self) -> builtins.list[Path]:
        """The artifacts/ folder of every job that has one."""
        return [self.folder(job_id).artifacts for job_id in self.ids() if self.folder(job_id).artifacts.is_dir()]
