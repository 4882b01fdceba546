"""The classroom: who owns a job, the teacher's passcode, and the class settings on disk.

A hosted playground serves a class from one box. Each browser gets a random
*owner secret* (kept in a cookie by :mod:`playground.ui.owner`); a job stores
only the secret's SHA-256 (:func:`owner_id`), never the secret, so a job link
shared with the class proves nothing about who owns it. The teacher unlocks
control of every job and the class settings with a passcode
(``st.secrets["class_passcode"]`` or ``PLAYGROUND_CLASS_PASSCODE``; checking it and the
teacher's sessions are :mod:`playground.teacher_access`'s); with no passcode the install is
single-user and everything is allowed, as before.

Class settings (per-student job limit, caps on epochs and image size, whether
students see each other's jobs, retention) live in ``<home>/class_settings.json``,
written atomically. No streamlit and no torch here.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playground._fileio import write_json_atomic
from playground.errors import PlaygroundError
from playground.finetune.config import LIMITS, Range, TrainConfig
from playground.paths import home_dir

__all__ = [
    "PASSCODE_ENV",
    "PASSCODE_SECRET",
    "SETTINGS_FILE",
    "OWNER_COOKIE",
    "NAME_COOKIE",
    "TEACHER_COOKIE",
    "COOKIE_MAX_AGE_SECONDS",
    "DISPLAY_NAME_MAX",
    "SETTING_RANGES",
    "ClassroomError",
    "ClassSettings",
    "saved_settings",
    "Viewer",
    "new_owner_secret",
    "valid_secret",
    "owner_id",
    "clean_display_name",
    "class_passcode",
    "class_mode",
    "note_secrets_passcode",
    "SINGLE_USER",
    "load_settings",
    "save_settings",
    "effective_limits",
    "check_caps",
    "disk_usage",
]

PASSCODE_ENV = "PLAYGROUND_CLASS_PASSCODE"
PASSCODE_SECRET = "class_passcode"  # the key in .streamlit/secrets.toml
SETTINGS_FILE = "class_settings.json"  # under the data directory
OWNER_COOKIE, NAME_COOKIE, TEACHER_COOKIE = "playground_owner", "playground_name", "playground_teacher"
COOKIE_MAX_AGE_SECONDS = 400 * 24 * 3600  # the longest Max-Age browsers keep (Chrome caps cookies at 400 days)
DISPLAY_NAME_MAX = 40
_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,128}$")  # what secrets.token_urlsafe(32) makes (43 characters)
_SECRET_BYTES = 32


class ClassroomError(PlaygroundError):
    """A class setting, passcode or display name that cannot be used, with what to do."""


# --------------------------------------------------------------------------- owners


def new_owner_secret() -> str:
    """A fresh random owner secret for a browser (URL-safe text, never put in a link)."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def valid_secret(value: object) -> bool:
    """Whether ``value`` (e.g. a cookie the browser sent) looks like a secret :func:`new_owner_secret` made."""
    return isinstance(value, str) and bool(_SECRET.match(value))


def owner_id(secret: str) -> str:
    """What a job stores about its owner: the SHA-256 of the secret (hex), which cannot be turned back."""
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_display_name(name: object) -> str:
    """A student's chosen name, tidied: one line, no control characters, at most DISPLAY_NAME_MAX characters.

    Raises ClassroomError when nothing is left. It is shown as text everywhere (never as markdown).
    """
    text = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in str(name or ""))
    text = " ".join(text.split())
    if not text:
        raise ClassroomError("type a name for the teacher to know your jobs by, e.g. your first name")
    return text[:DISPLAY_NAME_MAX]


@dataclass(frozen=True)
class Viewer:
    """Who is asking to see or change a job: an owner id (or None), and whether they are the teacher.

    ``classroom`` is False on a single-user install (no passcode), where everyone may do everything.
    """

    owner: str | None = None
    teacher: bool = False
    classroom: bool = False

    def owns(self, config: dict[str, Any]) -> bool:
        """Whether the job whose config.json is ``config`` was started by this viewer."""
        return self.owner is not None and config.get("owner") == self.owner

    def can_control(self, config: dict[str, Any]) -> bool:
        """Cancel, delete, download the model, see the images: the owner, the teacher, or anyone single-user."""
        return not self.classroom or self.teacher or self.owns(config)

    def can_view(self, config: dict[str, Any], settings: ClassSettings) -> bool:
        """See the job's status and curves (read-only) when the class settings let students see each other's."""
        return self.can_control(config) or settings.students_see_others


# --------------------------------------------------------------------------- the teacher


def class_passcode(secret_value: object = None) -> str | None:
    """The class passcode: ``secret_value`` (what ``st.secrets`` holds) or else the environment; None when unset."""
    for value in (secret_value, os.environ.get(PASSCODE_ENV)):
        if isinstance(value, str | int) and str(value).strip():
            return str(value).strip()
    return None


_SECRETS_PASSCODE: list[bool] = [False]  # set by the server when st.secrets holds a passcode (see below)


def note_secrets_passcode(present: bool) -> None:
    """Tell the library that ``st.secrets`` holds a class passcode (the environment it reads itself)."""
    _SECRETS_PASSCODE[0] = present


def class_mode() -> bool:
    """Whether this server hosts a class: a passcode in the environment or (as noted) in st.secrets."""
    return _SECRETS_PASSCODE[0] or class_passcode(None) is not None


# --------------------------------------------------------------------------- class settings

# What the teacher may set each number to.
SETTING_RANGES: dict[str, Range] = {
    "job_limit": Range(1, 10, whole=True),
    "address_limit": Range(1, 100, whole=True),
    "max_epochs": LIMITS["epochs"],
    "max_image_size": LIMITS["image_size"],
    "max_job_minutes": Range(1, 24 * 60, whole=True),
    "disk_quota_mb": Range(10, 1_000_000, whole=True),
    "retention_days": Range(1, 365, whole=True),
}
_LABELS = {"job_limit": "jobs per student", "address_limit": "jobs per computer", "max_epochs": "maximum epochs",
           "max_image_size": "maximum image size", "max_job_minutes": "minutes per job",
           "disk_quota_mb": "disk per student (MB)", "retention_days": "retention (days)"}


@dataclass(frozen=True)
class ClassSettings:
    """What the teacher decides for the class. The defaults are a class's until the teacher saves
    others; a single-user install uses :data:`SINGLE_USER` (no caps but LIMITS, no time limit)."""

    job_limit: int = 2  # queued or running per student (per browser)
    # Queued or running per client address, whatever cookies it sends: dropping the cookie makes a new
    # "student", not a new computer. Above job_limit so two students sharing a lab PC (or a NAT) fit.
    address_limit: int = 4
    # Conservative caps: 30 epochs at 320 px is minutes to an hour on one CPU worker for a class
    # dataset; LIMITS' 500 epochs at 640 px was estimated at 271 h.
    max_epochs: int = 30
    max_image_size: int = 320
    max_job_minutes: int = 45  # a lesson: the manager stops a job that runs longer (and says why)
    disk_quota_mb: int = 2000  # the job folders one student (or one address) may hold
    students_see_others: bool = True  # a job link opened by a classmate shows a read-only view
    retention_days: int = 14  # days unused before finished jobs and uploads go (playground.housekeeping's default)

    def __post_init__(self) -> None:
        for name, allowed in SETTING_RANGES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ClassroomError(f"{_LABELS[name]} must be {allowed.describe()} (got {value!r})")
        if not isinstance(self.students_see_others, bool):
            raise ClassroomError(f"students_see_others must be true or false (got {self.students_see_others!r})")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what class_settings.json holds)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassSettings:
        """Build from a dict, ignoring unknown keys; raises ClassroomError on a bad value."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


# A single-user install: everything LIMITS allows, and a "time limit" no job reaches.
SINGLE_USER = ClassSettings(job_limit=2, address_limit=100, max_epochs=int(LIMITS["epochs"].hi),
                            max_image_size=int(LIMITS["image_size"].hi), max_job_minutes=24 * 60,
                            disk_quota_mb=1_000_000)


def _settings_path(home: str | Path | None) -> Path:
    return Path(home or home_dir()) / SETTINGS_FILE


def saved_settings(home: str | Path | None = None) -> ClassSettings | None:
    """The class settings the teacher saved, or None when none were ever saved (the defaults apply)."""
    return load_settings(home) if _settings_path(home).exists() else None


def load_settings(home: str | Path | None = None) -> ClassSettings:
    """The class settings on disk; when there are none, a class's defaults (:func:`class_mode`) or
    :data:`SINGLE_USER`. A field that is unreadable (a hand-edited file) falls back to its default
    rather than locking the class out."""
    import json

    defaults = ClassSettings() if class_mode() else SINGLE_USER
    try:
        data = json.loads(_settings_path(home).read_text())
    except (OSError, ValueError):
        return defaults
    if not isinstance(data, dict):
        return defaults
    good: dict[str, Any] = {}
    for key, value in data.items():
        try:
            ClassSettings.from_dict({key: value})
        except (ClassroomError, TypeError):
            continue
        good[key] = value
    return dataclasses.replace(defaults, **{k: v for k, v in good.items()
                                            if k in {f.name for f in dataclasses.fields(ClassSettings)}})


def save_settings(settings: ClassSettings, home: str | Path | None = None) -> None:
    """Write the class settings atomically (readers see the old file or the new one)."""
    write_json_atomic(_settings_path(home), settings.to_dict())


def effective_limits(settings: ClassSettings | None = None) -> dict[str, Range]:
    """The training settings' ranges with the class caps applied on top of
    :data:`playground.finetune.config.LIMITS` (which stays the one statement of what can work)."""
    settings = settings or load_settings()
    limits = dict(LIMITS)
    for name, cap in (("epochs", settings.max_epochs), ("image_size", settings.max_image_size)):
        limits[name] = limits[name]._replace(hi=min(limits[name].hi, cap))
    return limits


def check_caps(train: TrainConfig, settings: ClassSettings) -> None:
    """Raise ClassroomError when a job's training settings exceed the class caps."""
    for name, limits in effective_limits(settings).items():
        value = getattr(train, name)
        # Caps are maxima: a design's input may be smaller than any fine-tuning size (playground.finetune.scratch).
        if name in ("epochs", "image_size") and value not in limits and value > limits.lo:
            label = name.replace("_", " ")
            raise ClassroomError(f"{label} {value!r} is over this class's limit: the teacher allows "
                                 f"{limits.describe()}; choose a smaller value")


# --------------------------------------------------------------------------- disk


def disk_usage(home: str | Path | None = None) -> dict[str, int]:
    """Bytes used under the data directory, per top-level entry (jobs, uploads, models...), largest first.

    A file hard-linked in several places (a job's copy of an upload) is counted once, where first met.
    """
    root = Path(home or home_dir())
    seen: set[tuple[int, int]] = set()
    usage: dict[str, int] = {}
    for top in sorted(root.iterdir()) if root.is_dir() else []:
        total = 0
        stack = [top]
        while stack:
            path = stack.pop()
            try:
                st = path.lstat()
            except OSError:
                continue  # deleted meanwhile
            if path.is_dir() and not path.is_symlink():
                with contextlib.suppress(OSError):  # unreadable or deleted meanwhile
                    stack.extend(path.iterdir())
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
        usage[top.name] = total
    return dict(sorted(usage.items(), key=lambda kv: -kv[1]))
