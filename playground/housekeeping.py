"""Retention: the data directory's ``uploads/`` and ``jobs/`` do not grow without end on a class server.

Every zip a student uploads is extracted under ``uploads/<hash>`` and every job keeps its data, curves
and model under ``jobs/<id>``; nothing else ever removes them. :func:`apply_retention` does, by a
:class:`RetentionPolicy`:

1. anything not used for ``max_age_days`` goes (an upload's age counts from when it was last staged,
   a job's from its last state change or the last use of its model on Predict, whichever is later);
2. then, while the two folders together hold more than ``max_total_bytes``, the least recently used
   *uploads* go first. Jobs never go to make room: a job is one student's work (a kept model among
   it), and deleting a classmate's to fit someone's upload is not the sweep's call. Instead a new
   upload is refused while the folder is full (:func:`check_room`, with the figures), and each
   student's jobs have a disk quota (:mod:`playground.finetune.jobs.limits`);
3. stagings left by an interrupted extraction (``uploads/.<hash>-*``) go once they are stale, and so do
   the temporary files a failed write left in a finished job's folder (``.state.json.*.tmp`` after a
   full disk, ``.artifacts.tmp/``): :func:`remove_leftovers`.

A queued or running job is never removed (its state is read through the job store), nor a job folder
still being created, nor anything else in the data directory (bundled datasets, class settings).
Deleting an upload never breaks a job: each job holds its own copy of its data (hard links).

The server calls :func:`run_housekeeping` on every page run: it sweeps at most once every
``HOUSEKEEPING_INTERVAL_S`` per process, on a background thread, so no page waits for it.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from playground._format import human_bytes
from playground.classroom import saved_settings
from playground.errors import PlaygroundError
from playground.finetune.archive import STAGING_PREFIX
from playground.finetune.data import INDEX_FILE
from playground.finetune.jobs.store import JOB_ID, JOBS_FOLDER, JobError, JobStore
from playground.paths import home_dir

__all__ = [
    "RetentionPolicy",
    "Removed",
    "HousekeepingReport",
    "apply_retention",
    "run_housekeeping",
    "policy_in_force",
    "remove_leftovers",
    "RetentionError",
    "check_room",
    "RETENTION_DAYS_ENV",
    "MAX_DATA_GB_ENV",
    "DEFAULT_RETENTION_DAYS",
    "DEFAULT_MAX_DATA_GB",
    "HOUSEKEEPING_INTERVAL_S",
    "STALE_SECONDS",
]

RETENTION_DAYS_ENV = "PLAYGROUND_RETENTION_DAYS"
MAX_DATA_GB_ENV = "PLAYGROUND_MAX_DATA_GB"
DEFAULT_RETENTION_DAYS = 14.0  # a fortnight: a week's lesson, and the next one, can still use it
DEFAULT_MAX_DATA_GB = 20.0  # of uploads + jobs: a few full-size class datasets and their jobs
HOUSEKEEPING_INTERVAL_S = 10 * 60  # the server sweeps at most this often
# A staging or a job folder without a state yet is "in progress" until nothing in it changed for this
# long: extracting and checking a 20,000-image zip takes minutes, never hours.
STALE_SECONDS = 6 * 3600
UPLOADS_FOLDER = "uploads"
_DAY = 86_400.0
_GB = 1024**3
_UPLOAD_NAME = re.compile(r"^[0-9a-f]{8,64}$")  # uploads/<sha256 prefix>, as archive.stage_upload names them

log = logging.getLogger(__name__)


class RetentionError(PlaygroundError):
    """A retention setting in the environment that cannot be used."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long, and how much, the data directory keeps of uploads and jobs."""

    max_age_days: float = DEFAULT_RETENTION_DAYS
    max_total_bytes: int = int(DEFAULT_MAX_DATA_GB * _GB)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetentionPolicy:
        """The policy ``PLAYGROUND_RETENTION_DAYS`` and ``PLAYGROUND_MAX_DATA_GB`` set (defaults: 14, 20).

        Raises RetentionError naming the variable for a value that is not a positive number."""
        env = os.environ if environ is None else environ
        days = _positive(env, RETENTION_DAYS_ENV, DEFAULT_RETENTION_DAYS)
        gigabytes = _positive(env, MAX_DATA_GB_ENV, DEFAULT_MAX_DATA_GB)
        return cls(max_age_days=days, max_total_bytes=int(gigabytes * _GB))


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):  # written so that NaN fails too
        raise RetentionError(f"{name}={text!r} is not a positive number; unset it for the default ({default:g})")
    return value


@dataclass(frozen=True)
class Removed:
    """One folder housekeeping removed (or, in a dry run, would remove)."""

    kind: str  # "upload", "job" or "staging"
    name: str  # the folder's name: an upload's hash or a job id
    bytes: int
    age_days: float
    reason: str  # "unused for 15.2 days (limit 14)", "over the 20 GB limit", "interrupted staging"


@dataclass
class HousekeepingReport:
    """What a sweep removed and what the two folders hold afterwards."""

    removed: list[Removed] = field(default_factory=list)
    kept_bytes: int = 0
    policy: RetentionPolicy = field(default_factory=RetentionPolicy)

    @property
    def freed_bytes(self) -> int:
        """Bytes the removed folders held."""
        return sum(r.bytes for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"removed": [asdict(r) for r in self.removed], "freed_bytes": self.freed_bytes,
                "kept_bytes": self.kept_bytes, "policy": asdict(self.policy)}


@dataclass
class _Entry:
    kind: str
    name: str
    path: Path
    used: float  # when it was last used (epoch seconds)
    bytes: int
    removable: bool  # False for an active job or one still in progress


def apply_retention(
    home: str | Path | None = None,
    policy: RetentionPolicy | None = None,
    *,
    now: float | None = None,
    dry_run: bool = False,
) -> HousekeepingReport:
    """Remove what ``policy`` (default: from the environment) says is too old or too much, oldest first.

    ``home`` is the data directory (default: playground.paths.home_dir()). With ``dry_run`` nothing
    is deleted and the report lists what would be. Returns the report."""
    home = Path(home) if home is not None else home_dir()
    policy = policy or RetentionPolicy.from_env()
    now = time.time() if now is None else now
    entries = sorted(_entries(home, now), key=lambda e: e.used)  # least recently used first
    total = sum(e.bytes for e in entries)
    report = HousekeepingReport(policy=policy)
    for entry in entries:
        age_days = (now - entry.used) / _DAY
        if not entry.removable:
            continue
        if entry.kind == "staging":
            reason = "interrupted staging"
        elif age_days > policy.max_age_days:
            reason = f"unused for {age_days:.1f} days (limit {policy.max_age_days:g})"
        elif total > policy.max_total_bytes and entry.kind == "upload":  # never a job (see the module doc)
            reason = f"uploads and jobs over the {policy.max_total_bytes / _GB:g} GB limit"
        else:
            continue
        if not dry_run:
            shutil.rmtree(entry.path, ignore_errors=True)
            if entry.path.exists():  # a file we may not delete: leave it counted, say so in the log
                log.warning("housekeeping could not remove %s", entry.path)
                continue
            log.info("housekeeping removed %s %s (%d bytes): %s", entry.kind, entry.name, entry.bytes, reason)
        total -= entry.bytes
        report.removed.append(Removed(entry.kind, entry.name, entry.bytes, round(age_days, 2), reason))
    report.kept_bytes = total
    return report


def _entries(home: Path, now: float) -> Iterator[_Entry]:
    """Every upload, staging and job folder, with its last use, size and whether it may go."""
    uploads = home / UPLOADS_FOLDER
    for path in _folders(uploads):
        size, newest = _usage(path)
        if path.name.startswith(STAGING_PREFIX):
            yield _Entry("staging", path.name, path, newest, size, removable=now - newest > STALE_SECONDS)
        elif _UPLOAD_NAME.match(path.name):
            index = path / INDEX_FILE
            used = _mtime(index) if index.exists() else newest
            yield _Entry("upload", path.name, path, used, size, removable=True)
    store = JobStore(home)
    for path in _folders(home / JOBS_FOLDER):
        if not JOB_ID.match(path.name):
            continue
        size, newest = _usage(path)
        try:
            job = store.get(path.name)
        except JobError:  # no readable config.json: being created right now, or debris
            yield _Entry("job", path.name, path, newest, size, removable=now - newest > STALE_SECONDS)
            continue
        if not job.state_file.exists():  # created, data still being copied in (no state yet)
            yield _Entry("job", path.name, path, newest, size, removable=now - newest > STALE_SECONDS)
            continue
        used = _number(job.state.get("finished")) or _number(job.state.get("updated")) or _mtime(job.state_file)
        used = max(used, _mtime(job.last_used_file))  # its model used on Predict since (catalog.note_model_use)
        yield _Entry("job", path.name, path, used, size, removable=not job.active)


def _folders(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _usage(root: Path) -> tuple[int, float]:
    """(bytes, newest modification time) of a folder tree.

    A hard-linked file (a job's copy of its upload) counts 1/links of its size in each place, so the
    folders' sizes add up to the disk they really use."""
    size, newest = 0, _mtime(root)
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            size += st.st_size // max(st.st_nlink, 1)
            newest = max(newest, st.st_mtime)
    return size, newest


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


# --------------------------------------------------------------------------- the server's call

_lock = threading.Lock()
_last_run: dict[str, float] = {}  # data directory -> when this process last started a sweep


def run_housekeeping(*, home: str | Path | None = None, wait: bool = False,
                     interval_s: float = HOUSEKEEPING_INTERVAL_S) -> HousekeepingReport | None:
    """Apply the retention policy from the environment, at most once every ``interval_s`` per process.

    Cheap to call on every page run: when a sweep is not due it only reads the clock. With ``wait``
    False (the server's call) the sweep runs on a daemon thread and None is returned; with ``wait``
    True it runs here and its report is returned (None when it was not due). A bad setting in the
    environment is logged and the defaults are used, so a typo never takes the pages down."""
    root = Path(home) if home is not None else home_dir()
    key = str(root)
    with _lock:
        now = time.monotonic()
        if key in _last_run and now - _last_run[key] < interval_s:
            return None
        _last_run[key] = now
    if not wait:
        threading.Thread(target=_sweep, args=(root,), name="playground-housekeeping", daemon=True).start()
        return None
    return _sweep(root)


def policy_in_force(home: str | Path | None = None) -> tuple[RetentionPolicy, str]:
    """The policy the sweep applies now, and where its age limit comes from (for the Teacher page):
    the teacher's saved retention wins over the environment; a bad environment value gives the defaults."""
    root = Path(home) if home is not None else home_dir()
    try:
        policy, source = RetentionPolicy.from_env(), f"{RETENTION_DAYS_ENV} or its default"
    except RetentionError as exc:
        log.warning("%s", exc)
        policy, source = RetentionPolicy(), f"the default: {exc}"
    settings = saved_settings(root)
    if settings is not None:
        policy = RetentionPolicy(max_age_days=float(settings.retention_days), max_total_bytes=policy.max_total_bytes)
        source = "the class setting saved on this page"
    return policy, source


def check_room(home: str | Path | None = None, policy: RetentionPolicy | None = None) -> None:
    """Raise RetentionError, with the figures, when ``uploads/`` and ``jobs/`` already hold the most
    the policy allows: an upload is refused rather than making room out of classmates' jobs."""
    root = Path(home) if home is not None else home_dir()
    policy = policy or policy_in_force(root)[0]
    used = sum(_usage(path)[0] for folder in (UPLOADS_FOLDER, JOBS_FOLDER) for path in _folders(root / folder))
    if used >= policy.max_total_bytes:
        raise RetentionError(f"the server's data folder is full: uploads and jobs hold {human_bytes(used)} of "
                             f"{human_bytes(policy.max_total_bytes)} ({MAX_DATA_GB_ENV}); ask the teacher to delete "
                             "old jobs before uploading, or pick a dataset already on the server")


def remove_leftovers(home: str | Path | None = None) -> list[Path]:
    """Remove the temporary files and folders that failed writes left in finished jobs' folders (an
    active job may be writing them now); returns what was removed."""
    store = JobStore(home)
    removed: list[Path] = []
    for job_id in list(store.ids()):
        try:
            job = store.get(job_id)
        except JobError:
            continue
        if job.active:
            continue
        for path in sorted({job.artifacts_scratch, *job.dir.glob(".*.tmp")}):  # .artifacts.tmp matches both
            if not path.exists():
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            if not path.exists():
                removed.append(path)
    return removed


def _sweep(root: Path) -> HousekeepingReport | None:
    policy, _source = policy_in_force(root)
    try:
        for path in remove_leftovers(root):
            log.info("housekeeping removed a leftover temporary file %s", path)
        return apply_retention(root, policy)
    except OSError as exc:  # a vanished or unreadable data directory: try again next time
        log.warning("housekeeping failed: %s", exc)
        return None
