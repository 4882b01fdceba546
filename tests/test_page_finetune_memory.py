"""The Fine-tune page shows the training memory for the chosen model, strategy and batch size before Start."""
from __future__ import annotations

from pathlib import Path

from playground._format import human_bytes
from playground.finetune.memory import memory_estimate
from playground.ui.designer.memory import fits_message
from playground.ui.finetune import FORM, IMAGE_SIZE
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import metrics, run_page


def test_memory_estimate_before_start(_playground_home: Path) -> None:
    at = run_page("finetune", timeout=180)
    assert not at.exception
    size = int(at.number_input(key=widget_key(FORM, IMAGE_SIZE)).value or 0)
    batch = int(at.number_input(key=widget_key(FORM, "batch")).value or 0)
    expected = memory_estimate("efficientnet_lite0", int(batch), "head", input_shape=(3, size, size), num_classes=10)
    shown = metrics(at)
    assert shown["Training total"] == human_bytes(expected.training_bytes)
    assert shown["Saved activations"] == human_bytes(expected.activations_bytes)
    at = at.radio(key=f"{FORM}_strategy").set_value("full").run()
    full = memory_estimate("efficientnet_lite0", int(batch), "full", input_shape=(3, size, size), num_classes=10)
    assert metrics(at)["Training total"] == human_bytes(full.training_bytes) != shown["Training total"]


def test_the_warning_names_the_free_memory() -> None:
    assert fits_message(1) is None
    message = fits_message(10**15)  # a petabyte: more than any machine has free
    assert message is not None and "more than the" in message and "smaller batch size" in message
