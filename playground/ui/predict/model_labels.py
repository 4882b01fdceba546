"""What the Predict page says about a fine-tuned model: its label in the model picker, and what it knows.

A class's fine-tunes all read "efficientnet_lite0 fine-tuned on 10 classes (0, 1, 2, 3, ...)" in the
model list; what tells them apart is the job: the dataset, the strategy, the validation accuracy, when
it finished and its id. :func:`finetune_label` writes that as one line,
``digits · head · 94% · 2 Dec 14:05 · a1b2c3 · efficientnet_lite0``, from the job's ``config.json`` and
its model folder's ``meta.json`` (read, never written). :func:`knows_note` says in one sentence what the
model has seen, so a student does not expect a digits model to read a photo of a cat.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from playground.catalog import JOB_PREFIX
from playground.errors import PlaygroundError
from playground.finetune.jobs.store import JobStore
from playground.models.finetuned import META_FILE
from playground.paths import home_dir
from playground.ui.text import md_text

__all__ = ["FinetuneInfo", "finetune_info", "finetune_infos", "finetune_label", "knows_note", "show_knows",
           "browser_timezone",
           "KNOWN_DATASETS", "INFO_TTL_S"]

INFO_TTL_S = 10.0  # as the model list (playground.ui.predict.models.MODEL_LIST_TTL_S): a new fine-tune shows within it
SEP = " · "
_SHORT_ID = 6  # characters of a job id shown: the random tail of 20250101-120000-a1b2c3
# What a bundled dataset's model has seen, in the words a student needs (keyed by playground.finetune.data.BUNDLED).
KNOWN_DATASETS = {
    "digits": "trained on 8×8 scanned handwritten digits from scikit-learn (dark ink on white, filling the "
              "frame); ordinary photos are far from what it has seen",
}


@dataclass(frozen=True)
class FinetuneInfo:
    """A fine-tuning job's model as the picker describes it; every field None when the job does not say."""

    ref: str  # job:<id>
    job_id: str
    dataset: str | None  # the dataset's name: a bundled name or the student's zip name
    architecture: str | None
    strategy: str | None
    val_accuracy: float | None
    created: datetime | None  # when the model folder was written (aware, UTC)
    classes: tuple[str, ...]
    images: int | None  # usable images in the dataset (train + validation)
    val_images: int | None
    owner: str | None = None  # the owner id in the job's config.json: who may see the model on a class server


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _created(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def finetune_info(ref: str, home: str | Path | None = None) -> FinetuneInfo | None:
    """The job behind a ``job:<id>`` reference, read from its folder; None for any other reference or a
    job that is gone. Damaged files give None fields, never an error (the picker must still draw)."""
    if not ref.startswith(JOB_PREFIX):
        return None
    job_id = ref[len(JOB_PREFIX):]
    try:
        job = JobStore(home).get(job_id)
    except PlaygroundError:
        return None
    meta = _json(job.artifacts / META_FILE)
    metrics = _dict(meta.get("metrics"))
    classes = meta.get("classes")
    if not isinstance(classes, list):
        classes = list(job.dataset.classes)
    val_images = _num(metrics.get("val_images"))
    return FinetuneInfo(
        ref=ref, job_id=job_id, dataset=job.dataset.name or None,
        architecture=meta.get("architecture") if isinstance(meta.get("architecture"), str) else None,
        strategy=meta.get("strategy") if isinstance(meta.get("strategy"), str) else None,
        val_accuracy=_num(metrics.get("val_accuracy")), created=_created(meta.get("created")),
        classes=tuple(str(c) for c in classes if isinstance(c, str)),
        images=job.dataset.images,
        val_images=int(val_images) if val_images is not None else None,
        owner=job.owner or None,
    )


@st.cache_data(ttl=INFO_TTL_S, show_spinner=False, max_entries=64)
def finetune_infos(home: str, refs: tuple[str, ...]) -> dict[str, FinetuneInfo]:
    """:func:`finetune_info` of every job reference in ``refs``, read once per ``INFO_TTL_S`` for every
    session (a rerun of the page reads no job folder)."""
    infos = {ref: finetune_info(ref, home) for ref in refs}
    return {ref: info for ref, info in infos.items() if info is not None}


def browser_timezone() -> tzinfo | None:
    """The reader's time zone as their browser reports it (None when it does not, or names none known)."""
    name = st.context.timezone
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _when(created: datetime, tz: tzinfo | None, now: datetime) -> str:
    local = created.astimezone(tz)  # tz None: the server's local time
    year = "" if local.year == now.astimezone(tz).year else f" {local.year}"
    return f"{local.day} {local:%b}{year} {local:%H:%M}"


def finetune_label(info: FinetuneInfo, tz: tzinfo | None = None, now: datetime | None = None) -> str:
    """One line telling this fine-tune from the others: dataset · strategy · accuracy · date · short id ·
    architecture. Plain text (a selectbox option is not markdown); parts the job lacks are left out."""
    # The architecture last: what tells a class's fine-tunes apart comes first, before a narrow box cuts it off
    parts = [info.dataset, info.strategy,
             f"{info.val_accuracy:.0%}" if info.val_accuracy is not None else None,
             _when(info.created, tz, now or datetime.now(UTC)) if info.created else None,
             info.job_id.rsplit("-", 1)[-1][-_SHORT_ID:], info.architecture]
    return SEP.join(p for p in parts if p)


def knows_note(info: FinetuneInfo) -> str:
    """One markdown sentence on what the model has seen (user strings escaped), for beside its predictions."""
    known = KNOWN_DATASETS.get(info.dataset or "")
    if known:
        return f"This model was {known}."
    shown = ", ".join(md_text(c) for c in info.classes[:6]) + (", ..." if len(info.classes) > 6 else "")
    size = f"{info.images:,} images in " if info.images else ""
    source = f" {md_text(info.dataset)}:" if info.dataset else ""
    return (f"This model was fine-tuned on{source} {size}{len(info.classes)} classes ({shown}). It can only "
            "answer with one of them, and photos unlike its training images are far from what it has seen.")


def show_knows(ref: str) -> None:
    """A caption under a fine-tuned model's predictions saying what it has seen (nothing for the zoo's)."""
    if not ref.startswith(JOB_PREFIX):
        return
    info = finetune_infos(str(home_dir()), (ref,)).get(ref)
    if info is not None:
        st.caption(f":material/info: {knows_note(info)}")
