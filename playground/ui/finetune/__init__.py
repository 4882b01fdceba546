"""Streamlit widgets of the Fine-tune page, and the session-state keys its widgets use."""
from __future__ import annotations

__all__ = [
    "DATA",
    "FORM",
    "START_BUTTON",
    "NEW_BUTTON",
    "DATA_SOURCE",
    "DATA_UPLOAD",
    "EPOCHS",
    "IMAGE_SIZE",
    "cancel_key",
    "open_key",
]

DATA = "ft_data"  # namespace of the data picker's widgets
FORM = "ft"  # namespace of the settings widgets
START_BUTTON, NEW_BUTTON = "ft_start", "ft_new"
# Widgets of a namespace, as parts of their keys (playground.ui.widget_state.widget_key).
DATA_SOURCE, DATA_UPLOAD = "source", "upload"
EPOCHS, IMAGE_SIZE = "epochs", "image_size"


def cancel_key(job_id: str) -> str:
    """Key of the Cancel button of a running or queued job."""
    return f"ft_cancel_{job_id}"


def open_key(job_id: str) -> str:
    """Key of the Open button of a job in the "Your jobs" list."""
    return f"ft_open_{job_id}"
