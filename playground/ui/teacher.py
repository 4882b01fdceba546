"""The teacher's widgets: the passcode form, every job with its owner's name, the class settings, disk use.

Only drawn for a session that gave the class passcode (:func:`playground.ui.owner.is_teacher`);
every string a student chose (display names, dataset names) is shown as text.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import StreamlitPageNotFoundError

from playground._format import human_bytes
from playground.classroom import SETTING_RANGES, ClassroomError, ClassSettings, disk_usage, load_settings, save_settings
from playground.errors import PlaygroundError
from playground.finetune.jobs.jobfiles import set_aside_folders
from playground.finetune.jobs.limits import queue_paused, set_queue_paused
from playground.finetune.jobs.store import Job
from playground.housekeeping import policy_in_force
from playground.paths import home_dir
from playground.ui.finetune.job import job_row, manager
from playground.ui.owner import classroom_mode, is_teacher, lock_teacher, unlock_teacher, viewer
from playground.ui.text import md_text, show_error

__all__ = ["TEACHER_PAGE", "PASSCODE_INPUT", "UNLOCK_BUTTON", "LOCK_BUTTON", "SAVE_SETTINGS", "PAUSE_BUTTON",
           "unlock_form", "teacher_sidebar", "jobs_panel", "students_panel", "settings_panel", "disk_panel",
           "teacher_cancel_key", "teacher_delete_key", "teacher_fail_key", "cancel_student_key", "cancel_address_key"]

TEACHER_PAGE = "app_pages/teacher.py"
PASSCODE_INPUT, UNLOCK_BUTTON, LOCK_BUTTON, SAVE_SETTINGS = "teacher_passcode", "teacher_unlock", "teacher_lock", \
    "teacher_save"
PAUSE_BUTTON = "teacher_pause"  # pauses or resumes the queue
_SETTING_KEY = "teacher_set_"  # + a ClassSettings field: the settings form's widgets
_LISTED_JOBS = 200  # a class's worth of jobs, several times over
_DISK_CACHE_SECONDS = 30  # walking the data folder is not free; the teacher does not need it live


def teacher_cancel_key(job_id: str) -> str:
    """Key of the teacher's Cancel button of a job."""
    return f"teacher_cancel_{job_id}"


def teacher_delete_key(job_id: str) -> str:
    """Key of the teacher's Delete button of a finished job."""
    return f"teacher_delete_{job_id}"


def teacher_fail_key(job_id: str) -> str:
    """Key of the teacher's "Mark failed" button of a running job (one that nothing will end)."""
    return f"teacher_fail_{job_id}"


def cancel_student_key(owner: str) -> str:
    """Key of the "Cancel all" button of one student (an owner id)."""
    return f"teacher_cancel_owner_{owner[:16]}"


def cancel_address_key(address: str) -> str:
    """Key of the "Cancel all" button of one computer (a client address)."""
    return f"teacher_cancel_address_{address}"


def unlock_form(key: str = PASSCODE_INPUT) -> None:
    """The passcode box and button; on the right passcode this session becomes the teacher's (then a rerun)."""
    with st.form(f"{key}_form", border=False):
        given = st.text_input("Class passcode", type="password", key=key,
                              help="Set by whoever runs this server (class_passcode in .streamlit/secrets.toml "
                                   "or PLAYGROUND_CLASS_PASSCODE).")
        submitted = st.form_submit_button("Unlock teacher mode", icon=":material/key:",
                                          key=UNLOCK_BUTTON if key == PASSCODE_INPUT else f"{key}_unlock")
    if not submitted:
        return
    try:
        ok = unlock_teacher(given)
    except ClassroomError as exc:
        show_error(exc, icon=":material/lock_clock:")
        return
    if not ok:
        st.error("That is not the class passcode.", icon=":material/lock:")
        return
    st.rerun()


def teacher_sidebar() -> None:
    """A small "Teacher" expander in the sidebar (classroom installs only): the unlock form, or a link and Lock."""
    if not classroom_mode():
        return
    with st.sidebar.expander(":material/school: Teacher", expanded=False):
        if not is_teacher():
            unlock_form("teacher_sidebar_passcode")
            return
        with contextlib.suppress(StreamlitPageNotFoundError):  # outside the router (a page run on its own)
            st.page_link(TEACHER_PAGE, label="Teacher page", icon=":material/admin_panel_settings:")
        if st.button("Lock teacher mode", icon=":material/lock:", key="teacher_sidebar_lock"):
            lock_teacher()
            st.rerun()


def _owner_label(job: Job) -> str:
    name, owner, client = job.owner_name, job.owner, job.config.get("client")
    short = f" ({owner[:6]})" if owner else ""
    where = f" from {client}" if isinstance(client, str) else ""
    if name:
        return md_text(f"{name}{short}{where}")
    return md_text(f"no name{short}{where}") if short else "started from Python or the CLI"


def jobs_panel() -> None:
    """Every job, newest first, with its owner's name and queue position; Cancel for active ones, Delete for others."""
    mgr, who = manager(), viewer()
    jobs = mgr.list()
    order = mgr.queue_order()
    active = [j for j in jobs if j.active]
    st.subheader(f"Jobs ({len(active)} queued or running, {len(jobs)} in all)")
    paused = queue_paused(mgr.store.home)
    if paused:
        st.warning("The queue is paused: running jobs go on, queued ones wait.", icon=":material/pause_circle:")
    if st.button("Resume the queue" if paused else "Pause the queue", key=PAUSE_BUTTON,
                 icon=":material/play_arrow:" if paused else ":material/pause:"):
        _act(partial(set_queue_paused, mgr.store.home, not paused))
    if not jobs:
        st.caption("No jobs yet.")
    for job in jobs[:_LISTED_JOBS]:
        place = f" · position {order.index(job.id) + 1} in the queue" if job.id in order else ""
        # Button columns wide enough for "Cancel" / "Mark failed" at a 1400 px window (1 of 12 cut them to "C…")
        c1, c2, c3, c4 = st.columns([4, 3, 2, 2], vertical_alignment="center")
        c1.markdown(job_row(job, owner=_owner_label(job), epochs=True) + place)
        c2.caption(md_text(f"{job.status}: {job.state.get('message', '')}"))
        if job.active:
            if c3.button("Cancel", key=teacher_cancel_key(job.id), icon=":material/stop_circle:"):
                _act(partial(mgr.cancel, job.id, by=who))
            if job.status == "running" and c4.button("Mark failed", key=teacher_fail_key(job.id),
                                                     icon=":material/report:",
                                                     help="For a job stuck as running that nothing will end "
                                                          "(e.g. after a full disk); its worker is stopped."):
                _act(partial(mgr.force_fail, job.id, by=who))
        elif c3.button("Delete", key=teacher_delete_key(job.id), icon=":material/delete:"):
            _act(partial(mgr.delete, job.id, by=who))
    if len(jobs) > _LISTED_JOBS:
        st.caption(f"...and {len(jobs) - _LISTED_JOBS} older jobs.")


def students_panel() -> None:
    """Who has jobs queued or running, by student and by computer, with "Cancel all" for each."""
    mgr, who = manager(), viewer()
    active = [j for j in mgr.list() if j.active]
    if not active:
        return
    st.subheader("Students with jobs queued or running")
    by_owner: dict[str, list[Job]] = {}
    by_address: dict[str, list[Job]] = {}
    for job in active:
        if job.owner:
            by_owner.setdefault(job.owner, []).append(job)
        client = job.config.get("client")
        if isinstance(client, str):
            by_address.setdefault(client, []).append(job)
    for owner, jobs in sorted(by_owner.items(), key=lambda kv: -len(kv[1])):
        c1, c2 = st.columns([8, 3], vertical_alignment="center")
        c1.markdown(f"{_owner_label(jobs[0])}: {len(jobs)} job(s)")
        if c2.button("Cancel all from this student", key=cancel_student_key(owner), icon=":material/block:"):
            _act(partial(mgr.cancel_all, owner=owner, by=who))
    for address, jobs in sorted(by_address.items(), key=lambda kv: -len(kv[1])):
        names = sorted({j.owner_name or "no name" for j in jobs})
        c1, c2 = st.columns([8, 3], vertical_alignment="center")
        c1.markdown(md_text(f"computer {address}: {len(jobs)} job(s), from {', '.join(names)}"))
        if c2.button("Cancel all from this computer", key=cancel_address_key(address), icon=":material/block:"):
            _act(partial(mgr.cancel_all, client=address, by=who))


def _whole(container: DeltaGenerator, name: str, label: str, value: int, help: str) -> int:
    allowed = SETTING_RANGES[name]
    return int(container.number_input(label, int(allowed.lo), int(allowed.hi), value=value,
                                      key=f"{_SETTING_KEY}{name}", help=help))


def _sweep_days() -> str:
    """The retention the housekeeping applies now (the saved setting wins over the environment), in words."""
    policy, source = policy_in_force(home_dir())
    return f"{policy.max_age_days:g} days ({md_text(source)})"


def settings_panel() -> None:
    """The class settings form; saved to the data folder (every session uses them from their next run)."""
    current = load_settings(home_dir())
    st.subheader("Class settings")
    with st.form("teacher_settings", border=True):
        c1, c2, c3, c4 = st.columns(4)
        d1, d2, d3, _ = st.columns(4)
        values = {
            "job_limit": _whole(c1, "job_limit", "Jobs per student", current.job_limit,
                                "Queued or running at once, per browser."),
            "address_limit": _whole(d1, "address_limit", "Jobs per computer", current.address_limit,
                                    "Queued or running at once from one address, whatever browser or cookie: "
                                    "what a student who clears cookies still meets."),
            "max_epochs": _whole(c2, "max_epochs", "Maximum epochs", current.max_epochs,
                                 "The Fine-tune form offers no more than this."),
            "max_image_size": _whole(c3, "max_image_size", "Maximum image size (px)", current.max_image_size,
                                     "Larger images cost quadratically more time and memory."),
            "max_job_minutes": _whole(d2, "max_job_minutes", "Minutes per job", current.max_job_minutes,
                                      "A job running longer is stopped (keeping its best epoch) and says why."),
            "disk_quota_mb": _whole(d3, "disk_quota_mb", "Disk per student (MB)", current.disk_quota_mb,
                                    "A student whose jobs hold this much must delete some before starting more."),
            "retention_days": _whole(c4, "retention_days", "Keep jobs and uploads (days)", current.retention_days,
                                     "How long finished jobs and uploads stay after their last use."),
        }
        see = st.toggle("Students see each other's jobs (read-only)", value=current.students_see_others,
                        key=f"{_SETTING_KEY}students_see_others",
                        help="Off: a classmate's job link shows nothing, and the list of all jobs is hidden.")
        st.caption(f":material/auto_delete: The server's housekeeping now removes what is unused for "
                   f"{_sweep_days()}.")
        if not st.form_submit_button("Save settings", icon=":material/save:", key=SAVE_SETTINGS):
            return
    try:
        settings = ClassSettings(**values, students_see_others=bool(see))
        save_settings(settings, home_dir())
    except (ClassroomError, OSError) as exc:
        show_error(f"Could not save the class settings: {exc}", icon=":material/error:")
        return
    st.success("Saved: students get the new settings on their next click.", icon=":material/check_circle:")


@st.cache_data(ttl=_DISK_CACHE_SECONDS, show_spinner=False)
def _disk(home: str) -> dict[str, int]:
    return disk_usage(home)


def disk_panel() -> None:
    """Bytes used under the data folder, per top-level folder."""
    home = str(home_dir())
    usage = _disk(home)
    st.subheader("Disk use")
    st.caption(f":material/folder: {md_text(home)}: {human_bytes(sum(usage.values()))} in all "
               f"(checked at most every {_DISK_CACHE_SECONDS} s)")
    if usage:
        st.dataframe({"folder": list(usage), "size": [human_bytes(n) for n in usage.values()]}, hide_index=True)
    aside = set_aside_folders(Path(home))
    if aside:  # malformed job folders, moved out of jobs/ so no page breaks on them
        st.warning(f"{len(aside)} malformed job folder(s) set aside in set-aside/ (no page lists them):",
                   icon=":material/folder_off:")
        st.dataframe({"folder": [name for name, _ in aside], "why": [why for _, why in aside]}, hide_index=True)


def _act(action: Callable[[], object]) -> None:
    """Run a teacher's cancel/delete; show why it was refused, or rerun to show the new state."""
    try:
        action()
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
    else:
        st.rerun()
