"""Training memory: parameters, gradients, optimizer state and saved activations at a chosen batch size.

Shared by the Designer (a spec) and the Fine-tune page (a model, a strategy), so both show the same
numbers with the same warning when they would not fit in this machine's free memory.
"""
from __future__ import annotations

import json
from typing import Any

import streamlit as st

from playground._format import human_bytes
from playground.design.memory import OPTIMIZER_STATES, MemoryEstimate, available_memory, memory_estimate
from playground.errors import PlaygroundError
from playground.finetune import memory as finetune_memory

__all__ = ["BATCH_KEY", "PRECISION_KEY", "OPTIMIZER_KEY", "render_memory", "render_estimate", "fits_message",
           "model_memory", "BATCH_CHOICES"]

BATCH_KEY, PRECISION_KEY, OPTIMIZER_KEY = "dz.mem.batch", "dz.mem.precision", "dz.mem.optimizer"
BATCH_CHOICES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@st.cache_data(show_spinner="Measuring the training graph...", max_entries=256)
def _spec_memory(spec_json: str, batch: int, optimizer: str, precision: str) -> dict[str, Any] | str:
    try:
        return memory_estimate(json.loads(spec_json), batch, optimizer=optimizer, precision=precision).to_dict()
    except PlaygroundError as exc:
        return str(exc)


@st.cache_data(show_spinner="Measuring the training graph...", max_entries=256)
def _model_memory(model: str, strategy: str, batch: int, image_size: int, classes: int) -> dict[str, Any] | str:
    try:
        return finetune_memory.memory_estimate(model, batch, strategy, input_shape=(3, image_size, image_size),
                                               num_classes=classes).to_dict()
    except PlaygroundError as exc:
        return str(exc)


def model_memory(model: str, strategy: str, batch: int, image_size: int, classes: int) -> dict[str, Any] | str:
    """A fine-tuning model's estimate (AdamW, fp32) as JSON, or the reason there is none; cached."""
    return _model_memory(model, strategy, batch, image_size, classes)


def fits_message(training_bytes: int, device: str = "cpu") -> str | None:
    """A warning when ``training_bytes`` exceed the device's free memory now (None when it fits or is unknown).

    Not for a GPU: which GPU a job gets is settled when it starts, and reading one here would create a
    CUDA context in the server beside the jobs. The job checks its own GPU (its out-of-memory message
    says how much was free there)."""
    if device.startswith("cuda"):
        return None
    free = available_memory(device)
    if free is None or training_bytes <= free:
        return None
    return (f"Training needs about {human_bytes(training_bytes)}, more than the {human_bytes(free)} free on this "
            "machine now: use a smaller batch size or image size, or a cheaper strategy.")


def render_estimate(data: dict[str, Any], device: str = "cpu") -> None:
    """The numbers of one estimate as metrics, its method, and the does-it-fit warning."""
    # A wrapping row of metrics as wide as their text: three equal columns in the Fine-tune page's narrow
    # form cut both the labels ("Saved activ…") and the values ("13.9…")
    row = st.container(horizontal=True, gap="small")
    row.metric("Training total", human_bytes(data["training_bytes"]), border=True, width="content",
               help="Weights + gradients + optimizer state + activations saved for backward + the "
                    "peak of activations in flight (a frozen backbone's, which it does not keep).")
    row.metric("Saved activations", human_bytes(data["activations_bytes"]), border=True, width="content",
               help="What autograd keeps from the forward pass until backward: grows with the batch.")
    row.metric("Inference peak", human_bytes(data["inference_peak_bytes"]), border=True, width="content",
               help="Weights plus the largest input + output of one layer, with nothing kept for backward.")
    st.caption(f"Weights {human_bytes(data['parameters_bytes'])} · gradients {human_bytes(data['gradients_bytes'])} "
               f"({data['trainable_params']:,} trainable of {data['total_params']:,} parameters) · "
               f"{data['optimizer']} state {human_bytes(data['optimizer_bytes'])} · activations in flight, not "
               f"saved {human_bytes(data.get('transient_bytes', 0))}. How: {data['method']}.")
    warning = fits_message(data["training_bytes"], device)
    if warning:
        st.warning(warning, icon=":material/memory:")


def render_memory(spec: dict[str, Any] | None) -> None:
    """The designer's memory panel: batch size, optimizer and precision, then the estimate."""
    if spec is None or not spec.get("layers"):
        st.info("Add a valid layer to estimate the training memory.")
        return
    cols = st.columns([3, 2, 2])
    batch = cols[0].select_slider("Batch size", BATCH_CHOICES, value=32, key=BATCH_KEY)
    optimizer = cols[1].selectbox("Optimizer", list(OPTIMIZER_STATES), key=OPTIMIZER_KEY,
                                  help="AdamW and Adam keep two values per trainable weight, SGD with momentum "
                                       "one, plain SGD none.")
    precision = cols[2].radio("Precision", ["fp32", "bf16"], horizontal=True, key=PRECISION_KEY,
                              help="bf16: mixed precision (autocast); the weights and optimizer stay fp32.")
    result = _spec_memory(json.dumps(spec, sort_keys=True), int(batch), optimizer, precision)
    if isinstance(result, str):
        st.info(result, icon=":material/info:")
        return
    render_estimate(result)


def estimate_of(data: dict[str, Any]) -> MemoryEstimate:
    """The JSON of an estimate back as the object (for callers that want its properties)."""
    fields = {k: v for k, v in data.items() if k != "training_bytes"}
    fields["input_shape"] = tuple(fields["input_shape"])
    return MemoryEstimate(**fields)
