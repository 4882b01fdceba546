"""Fine-tune page, step 2: model, strategy and hyper-parameters, with size and time up front."""
from __future__ import annotations

import json
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from playground._format import format_duration
from playground.classroom import effective_limits, load_settings
from playground.errors import PlaygroundError
from playground.finetune.calibration import calibration_stamp
from playground.finetune.config import DEFAULTS, LEARNING_RATES, LIMITS, STRATEGIES, VAL_FRACTION_CHOICES, TrainConfig
from playground.finetune.data import Dataset, load_dataset
from playground.finetune.estimate import estimate
from playground.finetune.runtime import suggested_image_size
from playground.finetune.strategy import count_parameters
from playground.models.registry import DEFAULT_MODEL, MODELS, ModelStatus, zoo_rows
from playground.ui.alive import session_alive
from playground.ui.finetune import EPOCHS, IMAGE_SIZE
from playground.ui.text import show_error
from playground.ui.widget_state import keep, remember, widget_key

__all__ = ["settings_form", "estimate_panel"]
# The settings drawn as number inputs: (setting, widget part, label, help).
_NUMBERS = (
    ("epochs", EPOCHS, "Epochs", None),
    ("batch_size", "batch", "Batch size", None),
    ("image_size", IMAGE_SIZE, "Image size (px)",
     "Images are resized and centre-cropped to this square, as at prediction time."),
)


def _lr_slider(key: str, label: str, help: str, disabled: bool = False) -> float:
    return st.select_slider(label, LEARNING_RATES, key=key, format_func=lambda v: f"{v:.0e}", help=help,
                            disabled=disabled)


def _number(column: DeltaGenerator, key: str, setting: str, part: str, label: str, help: str | None) -> int:
    allowed = effective_limits(load_settings())[setting]  # LIMITS, with the teacher's class caps on top
    widget = widget_key(key, part)
    value = st.session_state.get(widget)
    if isinstance(value, int | float) and value not in allowed:  # from before the cap, or a suggested size
        st.session_state[widget] = int(min(max(value, allowed.lo), allowed.hi))
    chosen = int(column.number_input(label, int(allowed.lo), int(allowed.hi), key=widget, help=help))
    # The range in words: a number typed past it only gets a red outline and is not taken
    capped = allowed.hi < LIMITS[setting].hi
    column.caption(f"{int(allowed.lo):,} to {int(allowed.hi):,}" + (" (the class's limit)" if capped else ""))
    return chosen


@st.cache_data(ttl=30, show_spinner=False)  # a weights package installed while the server runs shows up within 30 s
def zoo_status() -> list[ModelStatus]:
    """The zoo models and whether each can be used now, shared by every session for 30 s: the check asks the
    import system where each weights package lives, which cost a page run on a class server more than
    drawing its form."""
    return zoo_rows()


def settings_form(key: str, ds: Dataset) -> TrainConfig | None:
    """The settings widgets (kept in session state); returns the chosen configuration, or None
    (with the reason shown) when it cannot be used."""
    usable = [s for s in zoo_status() if s.available]
    names = [s.name for s in usable] or [DEFAULT_MODEL]
    defaults = {f"{key}_model": DEFAULT_MODEL if DEFAULT_MODEL in names else names[0],
                f"{key}_strategy": DEFAULTS["strategy"], f"{key}_lr_head": DEFAULTS["lr_head"],
                f"{key}_lr_backbone": DEFAULTS["lr_backbone"], f"{key}_augment": DEFAULTS["augment"],
                f"{key}_val": DEFAULTS["val_fraction"], f"{key}_seed": DEFAULTS["seed"]}
    defaults.update({widget_key(key, part): DEFAULTS[setting] for setting, part, _, _ in _NUMBERS})
    remember(defaults)
    model = st.selectbox("Model", names, key=f"{key}_model", format_func=lambda n: MODELS[n].title,
                         help="Pretrained on ImageNet; only models whose weights are on this machine are listed.")
    strategy = st.radio("Strategy", list(STRATEGIES), captions=list(STRATEGIES.values()), key=f"{key}_strategy")
    # A bundled set suggests its own image size (digits are tiny); uploads start at the model's size.
    if st.session_state.get(f"{key}_sized_for") != ds.name:
        st.session_state[f"{key}_sized_for"] = ds.name
        st.session_state[widget_key(key, IMAGE_SIZE)] = suggested_image_size(ds.name, model)
    numbers = {setting: _number(column, key, setting, part, label, help)
               for column, (setting, part, label, help) in zip(st.columns(len(_NUMBERS)), _NUMBERS)}
    c1, c2 = st.columns(2)
    with c1:
        lr_head = _lr_slider(f"{key}_lr_head", "Head learning rate",
                             f"The new final layer learns from scratch: {DEFAULTS['lr_head']:.0e} is usual.")
    with c2:
        lr_backbone = _lr_slider(f"{key}_lr_backbone", "Backbone learning rate",
                                 "Pretrained layers move slowly so they keep what they know: "
                                 f"{DEFAULTS['lr_backbone']:.0e} is usual.",
                                 disabled=strategy == "head")
    c1, c2 = st.columns(2)
    low, high, step = VAL_FRACTION_CHOICES
    val = c1.slider("Validation share", low, high, step=step, key=f"{key}_val",
                    help="Held out from each class (stratified) to measure accuracy.")
    seed = c2.number_input("Seed", int(LIMITS["seed"].lo), int(LIMITS["seed"].hi), key=f"{key}_seed",
                           help="Same seed, same data and settings: the same result on a CPU.")
    augment = st.toggle("Augmentation: random crops and horizontal flips", key=f"{key}_augment",
                        help="Each epoch sees shifted and mirrored copies of the training images. "
                             "Turns off the cached-features shortcut of the head strategy.")
    keep(defaults)
    try:
        return TrainConfig(model=model, strategy=strategy, epochs=numbers["epochs"], batch_size=numbers["batch_size"],
                           image_size=numbers["image_size"], lr_head=lr_head, lr_backbone=lr_backbone,
                           augment=augment, val_fraction=float(val), seed=int(seed))
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")  # may quote the user's files and class names
        return None


# Where the per-image costs come from, said after the estimate's parts.
_SOURCE_NOTES = {"run": " (as measured by the last job with these settings here)",
                 "probe": " (from a few steps timed here)",
                 "probe, corrected": " (from a few steps timed here, corrected by earlier jobs)",
                 "server cpu": " (an upper bound: timed on the server's CPU, which leaves the GPU to the jobs; a "
                               "finished GPU job's own figures replace it)"}


@st.cache_data(show_spinner=False, max_entries=32)
def _counts(model: str, strategy: str, classes: int) -> tuple[int, int]:
    return count_parameters(model, strategy, classes)


@st.cache_data(show_spinner="Timing a few training steps on this machine...", max_entries=64)
def _estimate(config_json: str, root: str, items: int, calibrated: int) -> dict[str, Any]:
    """Estimate keyed on the settings and the dataset folder (``items`` changes with its contents),
    and on the calibration file's stamp (``calibrated``: a finished job's own timing replaces the probe's)."""
    # The probe runs in a limited child process, stopped if this session goes (the tab closes).
    return estimate(TrainConfig.from_dict(json.loads(config_json)), load_dataset(root),
                    alive=session_alive()).to_dict()


def estimate_panel(cfg: TrainConfig, ds: Dataset) -> bool:
    """Trainable parameters and an estimated duration; False (with the message) for bad settings."""
    try:
        trainable, total = _counts(cfg.model, cfg.strategy, len(ds.classes))
        est = _estimate(json.dumps(cfg.to_dict(), sort_keys=True), str(ds.root), len(ds.items),
                        calibration_stamp())  # one stat() per run
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")  # may quote the user's files and class names
        return False
    c1, c2 = st.columns(2)
    c1.metric("Trainable parameters", f"{trainable:,}", help=f"of {total:,} in the model ({trainable / total:.1%})",
              border=True)
    bound = "≤ " if est["source"] == "server cpu" else "~"  # a GPU job timed on the server's CPU: at most that
    c2.metric("Estimated time", f"{bound}{format_duration(est['seconds'])}", border=True,
              help=f"The whole job, start to finish, from {est['method']}. Once it runs, the job page "
                   "counts the time left down from its own measured steps.")
    how = ("backbone features computed once, then only the head trains" if cfg.uses_feature_cache
           else f"{cfg.epochs} epoch(s) of the full loop")
    st.caption(f":material/timer: {how}: starting ~{format_duration(est['overhead_seconds'])}, "
               f"decoding ~{format_duration(est['decode_seconds'])}, "
               f"compute ~{format_duration(est['compute_seconds'])} on {est['device'].upper()}"
               f"{_SOURCE_NOTES.get(est['source'], '')}. Jobs ahead in the queue come on top.")
    _memory_panel(cfg, len(ds.classes), est["device"])
    return True


def _memory_panel(cfg: TrainConfig, classes: int, device: str) -> None:
    """Memory to train this model, strategy and batch size (measured graph), warning if it will not fit."""
    from playground.ui.designer.memory import model_memory, render_estimate

    data = model_memory(cfg.model, cfg.strategy, cfg.batch_size, cfg.image_size, classes)
    if isinstance(data, str):
        st.caption(f"Memory estimate unavailable: {data}")
        return
    st.markdown(f"**Memory** at batch {cfg.batch_size}, {cfg.image_size}×{cfg.image_size} px (AdamW, fp32)")
    render_estimate(data, device)
