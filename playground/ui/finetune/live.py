"""Fine-tune page, a running job: progress with the time left, its phases, and Cancel with a
confirmation that says what stopping now keeps (the best epoch so far, as a usable model)."""
from __future__ import annotations

import time
from collections.abc import Callable

import streamlit as st

from playground._format import format_duration
from playground.classroom import Viewer
from playground.errors import PlaygroundError
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import Job
from playground.ui.finetune import cancel_key
from playground.ui.text import show_error

__all__ = ["live_view", "time_left", "confirm_cancel_key", "keep_training_key"]


def live_view(mgr: JobManager, job_id: str, who: Viewer, curves: Callable[[str, str], None]) -> None:
    """A queued or running job: progress with the time left, the phases, the curves (``curves(job_id,
    key)`` draws them), and Cancel for its owner; the whole page reruns once the job has ended."""
    job = mgr.get(job_id)
    if not job.active:
        st.rerun()  # the whole page: results replace the live view
    _progress(job, mgr.queue_position(job_id))
    curves(job_id, "ft_live_curves")
    if not who.can_control(job.config):
        return  # a classmate's job: watch, no controls
    _cancel_controls(mgr, job, who)


def time_left(job: Job, now: float | None = None) -> str:
    """The text " · ~1m 05s left" from the worker's last figure, counted down since it wrote it;
    a note while there is none yet (the first steps are being timed)."""
    eta, updated = job.progress.get("eta_seconds"), job.state.get("updated")
    if not isinstance(eta, int | float):
        return " · estimating the time left"
    since = (now or time.time()) - updated if isinstance(updated, int | float) else 0.0
    return f" · ~{format_duration(max(0.0, eta - max(0.0, since)))} left"


def _phases(job: Job) -> None:
    """The run's phases in order, the current one in bold, the finished ones ticked."""
    cached = job.train is not None and job.train.uses_feature_cache
    names = ["loading model", "decoding images"] + (["extracting features"] if cached else []) + ["training"]
    current = job.progress.get("phase")
    at = names.index(current) if current in names else -1
    shown = [f"**{name}**" if i == at else f":material/check: {name}" if i < at else name
             for i, name in enumerate(names)]
    note = (" Once the features are extracted, the head trains in seconds: its curves appear then."
            if cached and at < len(names) - 1 else "")
    st.caption(" → ".join(shown) + " → saving the model." + note)


def _progress(job: Job, position: int | None) -> None:
    p = job.progress
    if job.status == "queued":
        st.progress(0.0, text=f"Queued{f' (position {position})' if position else ''}: waiting for a free worker")
        return
    if p.get("phase") == "training" and p.get("total_steps"):
        ips = p.get("images_per_sec")
        text = (f"Epoch {p['epoch']}/{p['epochs']} · step {p['step']}/{p['steps_per_epoch']} · "
                f"loss {p['loss']:.3f} · batch accuracy {p['accuracy']:.0%}"
                + (f" · {ips:,.0f} images/s" if ips else "") + time_left(job))
        st.progress(min(1.0, p["global_step"] / p["total_steps"]), text=text)
    else:
        done, total = p.get("phase_done", 0), p.get("phase_total") or 1
        left = time_left(job) if "eta_seconds" in p else ""
        st.progress(min(1.0, done / total),
                    text=f"{p.get('phase', 'starting').capitalize()}... ({done:,}/{total:,}){left}")
    _phases(job)


def confirm_cancel_key(job_id: str) -> str:
    """Key of the "Cancel the run" button that confirms a cancel."""
    return f"ft_cancel_confirm_{job_id}"


def keep_training_key(job_id: str) -> str:
    """Key of the "Keep training" button that takes a cancel back."""
    return f"ft_keep_training_{job_id}"


def _asking_key(job_id: str) -> str:
    return f"ft_cancel_asking_{job_id}"


def _what_cancel_keeps(mgr: JobManager, job: Job) -> str:
    """What stopping now would keep: the best epoch so far (from the metrics), or nothing."""
    if job.status == "queued":
        return "It leaves the queue; nothing has been trained yet."
    epochs = [m for m in mgr.store.metrics(job.id) if m.get("event") == "epoch"]
    if not epochs:
        return "No epoch has finished yet, so no model would be kept."
    best = max(epochs, key=lambda e: (e["val_accuracy"], -e["val_loss"]))
    return (f"The best epoch so far is kept as a usable model: epoch {best['epoch']} of "
            f"{best.get('epochs', '?')}, validation accuracy {best['val_accuracy']:.1%}.")


def _cancel_controls(mgr: JobManager, job: Job, who: Viewer) -> None:
    """Cancel, then a confirmation that says what would be kept ("Cancel the run" / "Keep training")."""
    asking = _asking_key(job.id)

    def ask(value: bool) -> None:  # a callback: set before the (fragment) rerun the click starts
        st.session_state[asking] = value

    if not st.session_state.get(asking):
        st.button("Cancel", icon=":material/stop_circle:", key=cancel_key(job.id), on_click=ask, args=(True,))
        return
    with st.container(border=True):
        st.markdown(f"**Stop this run?** {_what_cancel_keeps(mgr, job)}")
        left, right = st.columns(2)
        confirmed = left.button("Cancel the run", type="primary", icon=":material/stop_circle:",
                                key=confirm_cancel_key(job.id))
        right.button("Keep training", icon=":material/play_arrow:", key=keep_training_key(job.id),
                     on_click=ask, args=(False,))
    if not confirmed:
        return
    st.session_state[asking] = False
    try:
        still_active = mgr.cancel(job.id, by=who).active
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return
    if not still_active:
        st.rerun()  # a queued job is cancelled at once
    st.toast("Cancelling: the job stops after the current batch.", icon=":material/stop_circle:")
