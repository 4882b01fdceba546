"""Fine-tune page, step 2 for a design trained from scratch: which design, its head, the settings, the cost.

The design comes from the Designer's "Train this design" link (``/finetune?design=<share code>``), a
pasted share link or spec JSON, or a preset. A design whose output does not fit the classes shows the
proposed fix, applied only when the box is ticked. The cost (minutes at a rate measured for this design
in a limited child process, never in the server; training memory) is shown before Start, and a run over
the class's minutes per job is refused with what would fit.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlparse

import streamlit as st

from playground._format import human_bytes
from playground.design.presets import PRESETS, default_spec
from playground.errors import PlaygroundError
from playground.finetune.config import LIMITS
from playground.finetune.data import Dataset
from playground.finetune.design_config import DESIGN_DEFAULTS, OPTIMIZERS, DesignConfig
from playground.finetune.head import check_head
from playground.spec.parse import SpecError
from playground.spec.share import decode_share
from playground.ui.text import md_text, show_error

__all__ = ["DESIGN_QUERY", "DESIGN_B_QUERY", "design_picker", "design_settings", "training_settings",
           "design_cost_panel"]

DESIGN_QUERY = "design"  # /finetune?design=<share code>: the Designer's "Train this design" link
DESIGN_B_QUERY = "design_b"  # /finetune?design=<A>&design_b=<B>: "train both" from a design comparison
_SOURCES = ("the linked design", "paste a share link or JSON", "a preset")
_RATES = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2, 5e-2, 1e-1)


def _from_text(text: str) -> dict[str, Any]:
    """A pasted share link, share code or spec JSON -> the spec dict; SpecError says what is wrong."""
    text = text.strip()
    if text.startswith("{"):
        try:
            spec = json.loads(text)
        except ValueError as exc:
            raise SpecError(f"that is not valid JSON ({exc})") from None
        if not isinstance(spec, dict):
            raise SpecError("a design is a JSON object with \"input\" and \"layers\"")
        return spec
    token = parse_qs(urlparse(text).query).get("spec", [text])[0] if "?" in text else text
    return decode_share(token)


def design_picker(key: str) -> dict[str, Any] | None:
    """The design to train (a spec dict, not yet checked), or None with the reason shown."""
    linked = st.query_params.get(DESIGN_QUERY)
    sources = list(_SOURCES) if linked else list(_SOURCES[1:])
    source = st.radio("Design", sources, key=f"{key}_source", horizontal=True)
    try:
        if source == _SOURCES[0]:
            return decode_share(str(linked))
        if source == _SOURCES[2]:
            names = ["Designer default", *PRESETS]
            name = st.selectbox("Preset", names, key=f"{key}_preset")
            return default_spec() if name == "Designer default" else dict(PRESETS[name])
        text = st.text_area("Share link, share code or spec JSON", key=f"{key}_text", height=100,
                            help="The Designer's Share tab has the link; its Export tab the JSON.")
        return _from_text(text) if text.strip() else None
    except SpecError as exc:
        show_error(exc, icon=":material/error:")
        return None


def design_settings(key: str, ds: Dataset, spec: dict[str, Any]) -> DesignConfig | None:
    """The head check (with its fix offered) and the training settings; the config, or None with why."""
    try:
        head = check_head(spec, len(ds.classes))
    except PlaygroundError as exc:  # SpecError or "no weights to learn"
        show_error(exc, icon=":material/error:")
        return None
    if not head.ok:
        st.warning(md_text(head.problem), icon=":material/warning:")
        if not st.checkbox(f"Fix the head: {head.fix}", key=f"{key}_fix_head"):
            return None
        spec = head.fixed or spec
    try:
        return DesignConfig.of(spec, **training_settings(key))
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return None


def training_settings(key: str) -> dict[str, Any]:
    """The from-scratch settings widgets (epochs, batch size, optimizer, learning rate, augmentation):
    keyword arguments of :meth:`DesignConfig.of`."""
    c1, c2, c3 = st.columns(3)
    epochs = int(c1.number_input("Epochs", 1, int(LIMITS["epochs"].hi), DESIGN_DEFAULTS["epochs"], key=f"{key}_ep"))
    batch = int(c2.number_input("Batch size", 1, int(LIMITS["batch_size"].hi), DESIGN_DEFAULTS["batch_size"],
                                key=f"{key}_bs"))
    optimizer = c3.radio("Optimizer", list(OPTIMIZERS), key=f"{key}_opt", help="; ".join(OPTIMIZERS.values()))
    lr = st.select_slider("Learning rate", _RATES, value=DESIGN_DEFAULTS["lr_head"], key=f"{key}_lr",
                          format_func=lambda v: f"{v:g}", help="AdamW: 1e-3 to 3e-3; SGD: 0.05 or so.")
    augment = st.toggle("Augmentation: random crops and horizontal flips", key=f"{key}_aug")
    return {"epochs": epochs, "batch_size": batch, "lr": float(lr), "optimizer": str(optimizer),
            "augment": bool(augment)}


@st.cache_data(show_spinner=False, max_entries=64)
def _cost(config_json: str, root: str, items: int, calibrated: int) -> dict[str, Any]:
    """The cost of a config on a dataset (a probe of the design in the sandbox, once per design and batch;
    ``calibrated``: the calibration file's stamp, so a finished run's own timing replaces the probe's)."""
    from playground.finetune.data import load_dataset
    from playground.finetune.design_config import settings_from_dict
    from playground.finetune.jobs.design_jobs import prepare_design

    cfg = settings_from_dict(json.loads(config_json))
    assert isinstance(cfg, DesignConfig)
    _, cost = prepare_design(load_dataset(root), cfg)
    return cost.to_dict() | {"describe": cost.describe()}


def design_cost_panel(cfg: DesignConfig, ds: Dataset, label: str = "") -> bool:
    """The time and memory before Start; False (with the figure and what would fit) when over the class's limit."""
    from playground.finetune.calibration import calibration_stamp
    from playground.finetune.design_cost import DesignCost, check_cost

    with st.spinner("Timing a few training steps of this design..."):
        try:
            data = _cost(json.dumps(cfg.to_dict(), sort_keys=True), str(ds.root), len(ds.items),
                         calibration_stamp())
        except PlaygroundError as exc:
            show_error(exc, icon=":material/error:")
            return False
    st.caption(md_text(f"{label}Estimated time: {data['describe']}."))
    if data["memory_bytes"]:
        st.caption(f"Training memory at batch {cfg.batch_size}: about {human_bytes(data['memory_bytes'])}.")
    cost = DesignCost(data["macs_per_image"], data["train_images"], data["val_images"], data["epochs"],
                      data["macs_per_second"], data["measured"], data["memory_bytes"], data["source"])
    try:
        check_cost(cost)
    except PlaygroundError as exc:
        show_error(exc, icon=":material/timer_off:")
        return False
    return True


PRETRAINED, FROM_SCRATCH = "a pretrained model", "a design, from scratch"


def training_mode(key: str) -> str:
    """What to train: a pretrained model (fine-tuning) or a design from scratch (the default with a design link)."""
    options = [PRETRAINED, FROM_SCRATCH]
    return str(st.radio("Train", options, key=f"{key}_mode", horizontal=True,
                        index=1 if st.query_params.get(DESIGN_QUERY) else 0))


def design_section(key: str, ds: Dataset, who: Any, start_key: str) -> str | None:
    """The design, its settings and cost, and Start; the new job's id once started, else None."""
    from playground.finetune.jobs.design_jobs import submit_design
    from playground.ui.finetune.job import manager
    from playground.ui.owner import client_address, name_input

    spec = design_picker(key)
    cfg = design_settings(key, ds, spec) if spec is not None else None
    if cfg is None or not design_cost_panel(cfg, ds):
        return None
    name = name_input() if who.classroom else None
    if (name or not who.classroom) and st.button("Start", type="primary", icon=":material/play_arrow:",
                                                 key=start_key):
        try:  # the head is fixed in cfg already; the cost is checked again (the class limit may have changed)
            job = submit_design(manager(), ds, cfg, owner=who.owner, owner_name=name, client=client_address())
        except PlaygroundError as exc:
            show_error(exc, icon=":material/error:")
            return None
        return job.id
    return None
