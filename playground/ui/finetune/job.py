"""Fine-tune page, step 3: one job (live progress, then results) and the list of jobs.

Everything shown is read from the job's folder on disk, so a reload, another
tab or a restarted server shows the same thing. The manager object lives in
``st.cache_resource`` only as a handle to :func:`playground.finetune.jobs.manager.get_manager`.
A job belongs to the browser that started it (:mod:`playground.ui.owner`): others who open
its link get a read-only view (or none, per the class settings); only its owner and the
teacher see Cancel, the download, the images and "Run again". :func:`job_row` is a job's line in
every job list (the Teacher page's too).
"""
from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots
from streamlit.errors import StreamlitPageNotFoundError

from playground._format import format_duration
from playground.catalog import JOB_PREFIX
from playground.classroom import ClassSettings, Viewer, load_settings
from playground.errors import PlaygroundError
from playground.finetune.jobs.design_jobs import resubmit
from playground.finetune.jobs.manager import JobManager, get_manager
from playground.finetune.jobs.store import Job
from playground.models.finetuned import EXAMPLE_FILE
from playground.paths import home_dir
from playground.ui.finetune import open_key
from playground.ui.finetune.live import live_view
from playground.ui.finetune.thumbnails import thumbnail
from playground.ui.owner import client_address, display_name, viewer
from playground.ui.plot_axes import set_integer_x
from playground.ui.text import md_text, plotly_text, show_error

__all__ = ["manager", "job_viewer", "job_view", "job_list", "job_row", "row_status", "curves_figure",
           "confusion_figure", "artifacts_zip", "STATUS_ICONS"]

STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/progress_activity:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "cancelled": ":material/cancel:",
    "interrupted": ":material/pause_circle:",
}
_POLL_SECONDS = 1.0  # how often the live view of a running job refreshes
_LISTED_JOBS = 30  # rows in each job list
_ROW_POLL_SECONDS = 3.0  # how often an active job's row in a list re-reads its job (one small file)
_MISCLASSIFIED_SHOWN, _THUMBS_PER_ROW = 24, 8  # misclassified validation images shown, per row
_LOG_LINES = 60  # the end of a failed job's worker log


@st.cache_resource(show_spinner=False)
def _manager(home: str) -> JobManager:
    return get_manager(home)


def manager() -> JobManager:
    """The job manager of this server's data directory."""
    return _manager(str(home_dir()))


def job_viewer(job_id: str | None) -> Viewer:
    """Who this session is (owner id, teacher or not); see :func:`playground.ui.owner.current_owner`
    for how a single-user install's fresh browser takes the owner of the ``?job=`` it opens."""

    def owner_of_link() -> str | None:
        try:
            owner = manager().get(job_id).owner if job_id else None
        except PlaygroundError:
            return None  # a bad ?job= is reported by job_view
        return owner or None

    return viewer(adopt=owner_of_link)


def _settings() -> ClassSettings:
    return load_settings(home_dir())


def _throughput(results: dict[str, Any]) -> float:
    """Training images per second over the whole run. (The steps-only rate of a head run on cached
    features is tens of thousands: true, but not what a student waited for.)"""
    seconds = results.get("train_seconds") or 0.0
    # Epochs that ran (a cancelled run's kept model may be of an earlier one than the last).
    epochs = len(results.get("history") or []) or results.get("epochs", 0)
    return results.get("train_images", 0) * epochs / seconds if seconds > 0 else 0.0


def _count(n: int) -> str:
    """3,383,818 -> '3.38 M' (metrics have room for a few characters)."""
    return f"{n / 1e6:.2f} M" if n >= 1_000_000 else f"{n:,}"


# --------------------------------------------------------------------------- charts


def curves_figure(metrics: list[dict[str, Any]]) -> go.Figure:
    """Loss and accuracy against training step: every batch (thin) and each epoch's validation (dots)."""
    batches = [m for m in metrics if m.get("event") == "batch"]
    epochs = [m for m in metrics if m.get("event") == "epoch"]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"), horizontal_spacing=0.08)
    steps = [b["global_step"] for b in batches]
    per_epoch = batches[0]["steps_per_epoch"] if batches else 1
    val_steps = [e["epoch"] * per_epoch for e in epochs]
    for col, key, val_key in ((1, "loss", "val_loss"), (2, "accuracy", "val_accuracy")):
        fig.add_trace(go.Scatter(x=steps, y=[b[key] for b in batches], mode="lines", name=f"train {key} (batch)",
                                 line=dict(width=1, color="#9ab8e6"), showlegend=col == 1, legendgroup="train"),
                      row=1, col=col)
        fig.add_trace(go.Scatter(x=val_steps, y=[e[val_key] for e in epochs], mode="lines+markers",
                                 name="validation (epoch)", line=dict(color="#d1495b"), showlegend=col == 1,
                                 legendgroup="val"), row=1, col=col)
    set_integer_x(fig, steps or [1], title_text="step")  # steps are counted: no "1.5"
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def confusion_figure(confusion: list[list[int]], classes: list[str]) -> go.Figure:
    """Heatmap of true (rows) vs predicted (columns) validation counts (class names as literal text)."""
    names = [plotly_text(c) for c in classes]
    fig = go.Figure(go.Heatmap(z=confusion, x=names, y=names, colorscale="Blues", text=confusion,
                               texttemplate="%{text}", hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    fig.update_layout(height=max(260, 30 * len(classes) + 120), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="predicted", type="category"),
                      yaxis=dict(title="true", type="category", autorange="reversed"))
    return fig


def artifacts_zip(job: Job, by: Viewer | None = None) -> bytes:
    """The model folder as a zip (built when the user clicks download); JobError unless ``by`` may have it."""
    folder = manager().model_folder(job.id, by=by)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"finetuned-{job.id}/{path.name}")
    return buf.getvalue()


# --------------------------------------------------------------------------- one job


def _settings_line(job: Job) -> str:
    d, t = job.dataset, job.train
    data = (f"**{md_text(d.name if d.name is not None else '?')}** "
            f"({d.images if d.images is not None else '?'} images, {len(d.classes)} classes)")
    if t is None:  # no usable training settings (see Job.train)
        return data
    return (f"{data} · {md_text(t.model)} · {md_text(t.strategy)} · {t.epochs} epoch(s) · batch {t.batch_size} · "
            f"{t.image_size} px · lr {t.lr_head:.0e}/{t.lr_backbone:.0e}{' · augmentation' if t.augment else ''}")


def _live(job_id: str, who: Viewer) -> None:
    """Polled every second while the job is queued or running."""
    live_view(manager(), job_id, who, _curves)


def _curves(job_id: str, key: str) -> None:
    metrics = manager().store.metrics(job_id)
    if metrics:
        st.plotly_chart(curves_figure(metrics), width="stretch", config={"displayModeBar": False},
                        key=f"{key}_{job_id}")


def _predict_link(job_id: str) -> None:
    """A link to the Predict page with this job's model selected (``?model=job:<id>``)."""
    try:
        st.page_link("app_pages/predict.py", label="Use on the Predict page", icon=":material/image_search:",
                     query_params={"model": f"{JOB_PREFIX}{job_id}"})
    except StreamlitPageNotFoundError:  # the page runs on its own (AppTest), outside the app's router
        st.markdown(f"[:material/image_search: Use on the Predict page](predict?model=job%3A{job_id})")


FEW_VAL_IMAGES = 30  # below this many validation images, one image moves the accuracy by over 3 points


def few_images_note(val_images: int) -> str | None:
    """Why an accuracy measured on ``val_images`` images says little, when they are few (else None)."""
    if not 0 < val_images < FEW_VAL_IMAGES:
        return None
    return (f"Measured on only {val_images} validation image{'s' if val_images != 1 else ''}: each one is "
            f"{100 / val_images:.0f} percentage points, so the accuracy can swing a lot by luck (which images "
            "landed in the validation set). Add images per class, or a larger validation share, to trust it.")


def _few_images_caution(results: dict[str, Any]) -> None:
    count = results.get("val_images")
    if not isinstance(count, int):  # results written before the count was kept: the confusion matrix holds it
        confusion = results.get("confusion") or []
        count = sum(sum(row) for row in confusion if isinstance(row, list))
    note = few_images_note(int(count))
    if note:
        st.warning(note, icon=":material/warning:")


def _results(job: Job, who: Viewer) -> None:
    results = manager().store.results(job.id) or {}
    classes = list(job.dataset.classes)
    kept, stopped = results.get("kept_epoch"), results.get("stopped") or {}
    if kept:
        st.info(f"The kept model is epoch {kept} of {stopped.get('epochs', '?')}: the best validation accuracy "
                "before the run was cancelled. Everything below is about that model.", icon=":material/bookmark:")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Validation accuracy", f"{results.get('val_accuracy', 0):.1%}", border=True)
    c2.metric("Training time", format_duration(results.get("train_seconds")), border=True)
    c3.metric("Images/s", f"{_throughput(results):,.0f}", border=True,
              help="Training images x epochs / training time, everything included (feature extraction, "
                   f"validation). The optimiser steps alone ran at {results.get('images_per_sec', 0):,.0f} images/s"
                   + (" on cached backbone features." if results.get("feature_cache") else "."))
    c4.metric("Trainable parameters", _count(results.get("trainable_params", 0)), border=True,
              help=f"{results.get('trainable_params', 0):,} of {results.get('total_params', 0):,}")
    _few_images_caution(results)
    mine = who.can_control(job.config)
    if mine:  # the model and the student's own images stay with the student (and the teacher)
        st.download_button("Download the model (zip)", data=lambda: artifacts_zip(job, who),
                           file_name=f"finetuned-{job.id}.zip", mime="application/zip", icon=":material/download:",
                           on_click="ignore", key=f"ft_dl_{job.id}")
        _predict_link(job.id)
    _curves(job.id, "ft_curves")
    left, right = st.columns(2)
    with left:
        st.markdown("**Confusion matrix** (validation)")
        st.plotly_chart(confusion_figure(results.get("confusion", []), classes), width="stretch",
                        config={"displayModeBar": False}, key=f"ft_confusion_{job.id}")
    with right:
        st.markdown("**Accuracy per class** (validation)")
        per_class = results.get("per_class_accuracy", {})
        names = [plotly_text(c) for c in per_class]
        fig = go.Figure(go.Bar(x=names, y=list(per_class.values()), marker_color="#1f6feb"))
        fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10), yaxis=dict(range=[0, 1], tickformat=".0%"),
                          xaxis_type="category")
        st.plotly_chart(fig, width="stretch", config={"displayModeBar": False}, key=f"ft_per_class_{job.id}")
    if not mine:
        st.caption(":material/lock: Only the student who started this job (and the teacher) can see its images, "
                   "download the model or run it again.")
        return
    wrong = results.get("misclassified", [])
    st.markdown(f"**Misclassified validation images** ({len(wrong)})")
    if not wrong:
        st.caption("None: every validation image was classified correctly.")
    shown = wrong[:_MISCLASSIFIED_SHOWN]
    for start in range(0, len(shown), _THUMBS_PER_ROW):
        cols = st.columns(_THUMBS_PER_ROW)
        for col, item in zip(cols, shown[start : start + _THUMBS_PER_ROW]):
            try:
                col.image(thumbnail(str(job.data_dir / item["path"])), width=80,
                          caption=md_text(f"{item['true']} → {item['predicted']} ({item['confidence']:.0%})"))
            except PlaygroundError:
                col.caption(md_text(f"{item['path']}: {item['true']} → {item['predicted']}"))
    if len(wrong) > len(shown):
        st.caption(f"...and {len(wrong) - len(shown)} more.")
    with st.expander(":material/code: Load it in plain PyTorch"):
        example = job.artifacts / EXAMPLE_FILE
        if example.is_file():
            st.code(example.read_text(), language="python")


def _run_again(job: Job, who: Viewer) -> None:
    if not who.can_control(job.config):
        return  # it would train on a classmate's images
    if st.button("Run again with the same settings", icon=":material/replay:", key=f"ft_again_{job.id}"):
        try:
            # A design's cost is checked again (class limit, memory) before it is queued.
            new = resubmit(manager(), job, owner=who.owner, owner_name=display_name(), client=client_address())
        except PlaygroundError as exc:
            show_error(exc, icon=":material/error:")
            return
        st.query_params["job"] = new.id
        st.rerun()


def job_view(job_id: str, who: Viewer) -> None:
    """Everything about one job: live while it runs, results when it is done (read-only for classmates)."""
    mgr = manager()
    try:
        job = mgr.get(job_id)
    except PlaygroundError as exc:
        show_error(f"Cannot show this job: {exc}", icon=":material/error:")
        return
    if not who.can_view(job.config, _settings()):
        st.info("This job belongs to another student, and the teacher has turned off seeing each other's jobs.",
                icon=":material/lock:")
        return
    st.subheader(f"{STATUS_ICONS.get(job.status, '')} Job {job.id}: {job.status}")
    if who.classroom and not who.owns(job.config):
        st.caption(":material/visibility: Another student's job" + (" (you are the teacher)" if who.teacher else
                                                                   ": you can watch it, not change it."))
    st.markdown(_settings_line(job))
    if job.active:
        st.fragment(_live, run_every=_POLL_SECONDS)(job_id, who)
        return
    message = md_text(job.state.get("message", ""))
    if job.status == "done":
        st.success(f"Done: {message}.", icon=":material/check_circle:")
        _results(job, who)
        return
    if job.status == "failed":
        st.error(f"Failed: {message}", icon=":material/error:")
        log = job.log_file
        if log.is_file() and who.can_control(job.config):
            with st.expander("Worker log"):
                st.code("\n".join(log.read_text(errors="replace").splitlines()[-_LOG_LINES:]) or "(empty)")
    else:
        st.warning(f"{job.status.capitalize()}: {message}", icon=STATUS_ICONS[job.status])
        if job.status == "cancelled" and job.artifacts.is_dir() and mgr.store.results(job_id):
            # A cancelled run that kept its best epoch: that model's results, usable like a finished one's.
            _results(job, who)
            _run_again(job, who)
            return
    _curves(job_id, "ft_curves")
    _run_again(job, who)


# --------------------------------------------------------------------------- lists


def job_row(job: Job, *, owner: str | None = None, epochs: bool = False) -> str:
    """A job's line in a job list, as markdown (every user string shown as text): status icon, id,
    when it was created (local time), dataset, model / strategy. ``owner``: the owner's label (markdown
    already) to put first, in bold; ``epochs``: add the number of epochs (the Teacher page's list)."""
    t = job.train
    when = job.created.astimezone().strftime("%d %b %H:%M") if job.created else ""
    who = f"**{owner}** · " if owner is not None else ""
    row = (f"{STATUS_ICONS.get(job.status, '')} {who}`{job.id}` · {when} · {md_text(job.dataset.name)} · "
           f"{md_text(t.model if t else None)} / {md_text(t.strategy if t else None)}")
    return row + (f" · {t.epochs if t else None} epoch(s)" if epochs else "")


def row_status(job: Job) -> str:
    """A job's short status for its row in a list (plain text): a running job's latest progress, as its
    live panel shows it (the state's message stays "starting a worker process" for the whole run), else
    the state's message."""
    p = job.progress
    if job.status == "running" and p.get("phase") == "training" and p.get("epochs"):
        total = p.get("total_steps")
        share = f" · {min(1.0, p.get('global_step', 0) / total):.0%}" if total else ""
        return f"training: epoch {p.get('epoch', '?')}/{p['epochs']}{share}"
    if job.status == "running" and p.get("phase"):
        done, total = p.get("phase_done"), p.get("phase_total")
        counts = f" ({done:,}/{total:,})" if isinstance(done, int) and isinstance(total, int) and total else ""
        return f"{p['phase']}{counts}"
    return str(job.state.get("message", ""))


def _row(job: Job, key: str, current: str | None) -> None:
    c1, c2, c3 = st.columns([5, 4, 1], vertical_alignment="center")
    c1.markdown(job_row(job))
    c2.caption(md_text(row_status(job)))
    if c3.button("Open", key=key, disabled=job.id == current):
        st.query_params["job"] = job.id
        st.rerun()


def _active_row(job_id: str, key: str, current: str | None) -> None:
    """A queued or running job's row, re-read every few seconds: while a job trains only its live
    panel reruns, so a row drawn once would say "starting a worker process" for the whole run."""
    try:
        job = manager().get(job_id)
    except PlaygroundError:
        return  # deleted meanwhile: the next page run drops the row
    _row(job, key, current)


def _rows(jobs: list[Job], key_of: Callable[[str], str], current: str | None) -> None:
    for job in jobs[:_LISTED_JOBS]:
        if job.active:
            st.fragment(_active_row, run_every=_ROW_POLL_SECONDS)(job.id, key_of(job.id), current)
        else:
            _row(job, key_of(job.id), current)


def job_list(who: Viewer, current: str | None) -> None:
    """This browser's jobs, and every job on this server in an expander (when classmates may see them)."""
    everyone = manager().list()  # one pass over the job folders serves both lists
    mine = [job for job in everyone if who.owns(job.config)]
    st.subheader("Your jobs")
    if mine:
        _rows(mine, open_key, current)
    else:
        st.caption("No jobs started from this tab yet.")
    if who.classroom and not who.teacher and not _settings().students_see_others:
        return  # the teacher turned off seeing each other's jobs
    if everyone:
        with st.expander(f"All jobs on this server ({len(everyone)})", expanded=not mine):
            _rows(everyone, lambda job_id: f"ft_open_all_{job_id}", current)
