"""Predict's "Try a validation image": a fine-tuning job's own held-out images, with their true labels.

A digits model that scores 94% on its job page answers "1" to any photo, because photos are nothing
like the 8×8 scans it learnt from. Its held-out images are what that 94% was measured on, so Predict
offers them: pick one, see the true label beside the prediction.

The held-out set is not stored: the loop draws it from the job's own copy of its dataset
(``data/dataset.json``) with :func:`playground.finetune.data.stratified_split` and the job's
``val_fraction`` and ``seed`` (``config.json``). :func:`heldout_set` makes the same call on the same
files, read-only. The images are the student's own: only the job's owner and the teacher see them
(:meth:`playground.classroom.Viewer.can_control`, as on the Fine-tune page).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import streamlit as st
from PIL import Image

from playground.catalog import JOB_PREFIX
from playground.classroom import Viewer
from playground.errors import PlaygroundError
from playground.finetune.data import INDEX_FILE, load_dataset, stratified_split
from playground.finetune.jobs.store import JobStore
from playground.images import load_image
from playground.models.inference import Prediction
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key

__all__ = ["HeldOut", "HeldOutPick", "HeldOutUnavailable", "heldout_set", "heldout_picker", "show_verdict",
           "HELDOUT_TOGGLE", "HELDOUT_IMAGE", "HELDOUT_WIDTH", "NOT_YOURS"]

# This module's widgets, as parts of their keys (playground.ui.widget_state.widget_key)
HELDOUT_TOGGLE, HELDOUT_IMAGE = "heldout", "heldout_image"
HELDOUT_WIDTH = 224  # pixels: a validation image as shown (about what the model sees; digits are 32 px files)
NOT_YOURS = ("Only the student who started this fine-tune (and the teacher) can try its validation images: "
             "they are that student's own.")


class HeldOutUnavailable(PlaygroundError):
    """This model has no held-out images to offer here; the message says why."""


@dataclass(frozen=True)
class HeldOut:
    """A job's validation images: paths below ``root`` with their class index, in the split's order."""

    job_id: str
    root: Path
    classes: tuple[str, ...]
    items: tuple[tuple[str, int], ...]
    val_fraction: float
    seed: int
    config: dict  # the job's config.json (who owns it)
    names: tuple[str, ...]  # what the picker lists: each image's path and true class (made once, not per rerun)


@dataclass(frozen=True)
class HeldOutPick:
    """The validation image picked: the image, a short name and its true class."""

    image: Image.Image
    name: str
    label: str
    class_index: int


def heldout_set(ref: str, home: str | Path | None = None) -> HeldOut:
    """The validation images of the job behind ``job:<id>``, exactly as its training loop drew them.

    Raises HeldOutUnavailable for a model that is not a job's, or a job whose data is gone or unreadable.
    """
    if not ref.startswith(JOB_PREFIX):
        raise HeldOutUnavailable(f"{ref} is not a fine-tuning job's model, so it has no held-out images here")
    try:
        job = JobStore(home).get(ref[len(JOB_PREFIX):])
        cfg = job.train_config()
        dataset = load_dataset(job.data_dir)
        split = stratified_split(dataset, cfg.val_fraction, cfg.seed)  # the call playground.finetune.runtime makes
    except PlaygroundError as exc:
        raise HeldOutUnavailable(f"{ref}: its held-out images cannot be read ({exc})") from None
    items = tuple((dataset.items[i].path, dataset.items[i].label) for i in split.val)
    names = tuple(f"{path} (true: {dataset.classes[label]})" for path, label in items)
    return HeldOut(job.id, dataset.root, tuple(dataset.classes), items, cfg.val_fraction, cfg.seed, job.config, names)


@st.cache_resource(show_spinner=False, max_entries=32)
def _cached_set(ref: str, home: str, stamp: float) -> HeldOut | str:
    """:func:`heldout_set` once per job and dataset index (``stamp``: its modification time), for every
    session; the reason as text when there is none."""
    try:
        return heldout_set(ref, home)
    except PlaygroundError as exc:
        return str(exc)


def _stamp(ref: str, home: str) -> float:
    try:
        return (JobStore(home).folder(ref[len(JOB_PREFIX):]).data_dir / INDEX_FILE).stat().st_mtime
    except (OSError, PlaygroundError):
        return 0.0


@lru_cache(maxsize=64)
def _image(path: str, mtime_ns: int) -> Image.Image:
    # The same object on every rerun: serving's digest (and with it every cached result) is per object.
    return load_image(path, name=Path(path).name)


def _load(held: HeldOut, rel: str) -> Image.Image:
    path = (held.root / rel).resolve()
    if not path.is_relative_to(held.root.resolve()):  # dataset.json is the server's, but never leave the folder
        raise HeldOutUnavailable(f"{rel}: outside the job's data folder")
    return _image(str(path), path.stat().st_mtime_ns)


def heldout_picker(key: str, ref: str, home: str, who: Viewer) -> HeldOutPick | None:
    """A toggle "Try a validation image" (on by default) and, when on, a picker over the job's held-out
    images; returns the pick, or None to use the ordinary photo picker (the model is no job's, its data
    is gone, the toggle is off, or ``who`` may not see the images)."""
    if not ref.startswith(JOB_PREFIX):
        return None
    held = _cached_set(ref, home, _stamp(ref, home))
    if isinstance(held, str) or not held.items:
        return None
    toggle = widget_key(key, HELDOUT_TOGGLE)
    on = st.toggle(":material/fact_check: Try a validation image", value=True, key=toggle,
                   help=f"The {len(held.items):,} images ({held.val_fraction:.0%}) this job held out: it never "
                        "trained on them, and its validation accuracy was measured on them.")
    if not on:
        return None
    if not who.can_control(held.config):
        st.caption(f":material/lock: {NOT_YOURS}")
        return None
    picker = widget_key(key, HELDOUT_IMAGE)
    options = list(range(len(held.items)))
    if st.session_state.get(picker) not in options:
        st.session_state[picker] = 0
    pick, again = st.columns([4, 1], vertical_alignment="bottom")
    index = pick.selectbox("Validation image", options, key=picker, format_func=held.names.__getitem__)
    again.button(":material/shuffle:", key=widget_key(key, f"{HELDOUT_IMAGE}_random"), help="Another one, at random",
                 on_click=lambda: st.session_state.__setitem__(picker, random.randrange(len(options))))
    rel, label = held.items[index]
    try:
        img = _load(held, rel)
    except (PlaygroundError, OSError) as exc:
        st.error(md_text(exc), icon=":material/broken_image:")
        return None
    return HeldOutPick(img, rel, held.classes[label], label)


def show_verdict(pick: HeldOutPick, pred: Prediction) -> None:
    """The true label beside the model's answer: right or wrong, at what probability."""
    top, index, p = pred.top[0]
    right = index == pick.class_index  # the model's classes are its dataset's, in the same order
    icon = ":material/check_circle:" if right else ":material/cancel:"
    colour = "green" if right else "red"
    st.markdown(f"{icon} True label **{md_text(pick.label)}**; the model says **{md_text(top)}** ({p:.0%}): "
                f":{colour}[{'right' if right else 'wrong'}].")
