"""Fine-tune page, step 2: model, strategy and hyper-parameters, with size and time up front."""
from __future__ import annotations

import json

import streamlit as st

from playground._format import format_duration
from playground.finetune.data import Dataset, load_dataset
from playground.errors import PlaygroundError
from playground.finetune.loop import STRATEGIES, TrainConfig, count_parameters, estimate, suggested_image_size
from playground.models.registry import DEFAULT_MODEL, MODELS, model_status

__all__ = ["settings_form", "estimate_panel", "remember", "keep", "LEARNING_RATES"]

LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]


def remember(defaults: dict[str, object]) -> None:
    """Give widgets their values from session state, surviving reruns where they are not drawn.

    Streamlit drops a widget's state when a run does not draw it (e.g. while a
    job is shown); a shadow copy brings the user's last values back.
    """
    for key, default in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = st.session_state.get(f"{key}__kept", default)


def keep(keys) -> None:
    """Save the shadow copies :func:`remember` restores from."""
    for key in keys:
        if key in st.session_state:
            st.session_state[f"{key}__kept"] = st.session_state[key]


def _lr_slider(key: str, label: str, help: str, disabled: bool = False) -> float:
    return st.select_slider(label, LEARNING_RATES, key=key, format_func=lambda v: f"{v:.0e}", help=help,
                            disabled=disabled)


def settings_form(key: str, ds: Dataset) -> TrainConfig:
    """The settings widgets (kept in session state); returns the chosen configuration."""
    usable = [s for s in model_status() if s.name in MODELS and s.available]
    names = [s.name for s in usable] or [DEFAULT_MODEL]
    defaults = {f"{key}_model": DEFAULT_MODEL if DEFAULT_MODEL in names else names[0], f"{key}_strategy": "head",
                f"{key}_epochs": 5, f"{key}_batch": 32, f"{key}_lr_head": 1e-3, f"{key}_lr_backbone": 1e-4,
                f"{key}_augment": False, f"{key}_val": 0.2, f"{key}_seed": 0, f"{key}_image_size": 224}
    remember(defaults)
    model = st.selectbox("Model", names, key=f"{key}_model", format_func=lambda n: MODELS[n].title,
                         help="Pretrained on ImageNet; only models whose weights are on this machine are listed.")
    strategy = st.radio("Strategy", list(STRATEGIES), captions=list(STRATEGIES.values()), key=f"{key}_strategy")
    # A bundled set suggests its own image size (digits are tiny); uploads start at the model's size.
    if st.session_state.get(f"{key}_sized_for") != ds.name:
        st.session_state[f"{key}_sized_for"] = ds.name
        st.session_state[f"{key}_image_size"] = suggested_image_size(ds.name, model)
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input("Epochs", 1, 500, key=f"{key}_epochs")
    batch = c2.number_input("Batch size", 1, 1024, key=f"{key}_batch")
    image_size = c3.number_input("Image size (px)", 32, 640, key=f"{key}_image_size",
                                 help="Images are resized and centre-cropped to this square, as at prediction time.")
    c1, c2 = st.columns(2)
    with c1:
        lr_head = _lr_slider(f"{key}_lr_head", "Head learning rate",
                             "The new final layer learns from scratch: 1e-3 is usual.")
    with c2:
        lr_backbone = _lr_slider(f"{key}_lr_backbone", "Backbone learning rate",
                                 "Pretrained layers move slowly so they keep what they know: 1e-4 is usual.",
                                 disabled=strategy == "head")
    c1, c2 = st.columns(2)
    val = c1.slider("Validation share", 0.1, 0.5, step=0.05, key=f"{key}_val",
                    help="Held out from each class (stratified) to measure accuracy.")
    seed = c2.number_input("Seed", 0, 2**31 - 1, key=f"{key}_seed",
                           help="Same seed, same data and settings: the same result on a CPU.")
    augment = st.toggle("Augmentation: random crops and horizontal flips", key=f"{key}_augment",
                        help="Each epoch sees shifted and mirrored copies of the training images. "
                             "Turns off the cached-features shortcut of the head strategy.")
    keep(defaults)
    return TrainConfig(model=model, strategy=strategy, epochs=int(epochs), batch_size=int(batch),
                       image_size=int(image_size), lr_head=lr_head, lr_backbone=lr_backbone, augment=augment,
                       val_fraction=float(val), seed=int(seed))


@st.cache_data(show_spinner=False, max_entries=32)
def _counts(model: str, strategy: str, classes: int) -> tuple[int, int]:
    return count_parameters(model, strategy, classes)


@st.cache_data(show_spinner="Timing a few training steps on this machine...", max_entries=64)
def _estimate(config_json: str, root: str, items: int) -> dict:
    """Estimate keyed on the settings and the dataset folder (``items`` changes with its contents)."""
    return estimate(TrainConfig.from_dict(json.loads(config_json)), load_dataset(root)).to_dict()


def estimate_panel(cfg: TrainConfig, ds: Dataset) -> bool:
    """Trainable parameters and an estimated duration; False (with the message) for bad settings."""
    try:
        cfg.validate()
        trainable, total = _counts(cfg.model, cfg.strategy, len(ds.classes))
        est = _estimate(json.dumps(cfg.to_dict(), sort_keys=True), str(ds.root), len(ds.items))
    except PlaygroundError as exc:
        st.error(str(exc), icon=":material/error:")
        return False
    c1, c2 = st.columns(2)
    c1.metric("Trainable parameters", f"{trainable:,}", help=f"of {total:,} in the model ({trainable / total:.1%})",
              border=True)
    c2.metric("Estimated time", f"~{format_duration(est['seconds'])}", border=True,
              help=f"An estimate, measured before starting: {est['method']}.")
    how = ("backbone features computed once, then only the head trains" if cfg.uses_feature_cache
           else f"{cfg.epochs} epoch(s) of the full loop")
    st.caption(f":material/timer: {how}; decoding ~{format_duration(est['decode_seconds'])}, "
               f"compute ~{format_duration(est['compute_seconds'])} on {est['device'].upper()}. "
               "Other jobs and load on this machine change it.")
    return True
