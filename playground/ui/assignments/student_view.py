"""The student's side of an assignment: its banner, the live check while editing, Submit, history, leaderboard.

Nothing here ever receives a hidden target: the page gets :meth:`CheckResult.public` (pass / not yet, the
design's own values, hints), and a submission is checked again on the server from the stored design
(:func:`playground.assignments.db.submit`) under the owner id of this browser's cookie.
"""
from __future__ import annotations

import time
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from playground.assignments import db
from playground.assignments.check import PASS, PENDING, CheckResult, check
from playground.assignments.db import StoredAssignment
from playground.assignments.grade import collect, queue_training, training_status
from playground.assignments.progress import leaderboard
from playground.design.editor import Design
from playground.errors import PlaygroundError
from playground.ui.designer import session as ss
from playground.ui.owner import classroom_mode, current_owner, display_name, name_input
from playground.ui.text import md_text, show_error

__all__ = ["instructions_markdown", "render_open_list", "render_banner", "start_design", "render_check",
           "render_submit", "render_history", "render_leaderboard", "SUBMIT_BUTTON", "CURRENT_KEY", "DESIGN_KEY"]

SUBMIT_BUTTON = "as.submit"
CURRENT_KEY = "as.current"  # session_state: the assignment whose start design this session has loaded
DESIGN_KEY = "as.design"  # session_state: the design being edited on the Assignment page (never the Designer's)
_ICONS = {PASS: ":material/check_circle:", PENDING: ":material/hourglass_empty:"}
_NOT_YET = ":material/radio_button_unchecked:"


def instructions_markdown(text: str) -> str:
    """A teacher's instructions as markdown that shows only paragraphs and "- " bullet lists: every character
    of every line is literal (md_text), so no link, image, emphasis or HTML can come from the text."""
    blocks: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        if all(line.startswith(("- ", "* ")) for line in lines):
            blocks.append("\n".join(f"- {md_text(line[2:].strip())}" for line in lines))
        else:
            blocks.append(md_text(" ".join(lines)))
    return "\n\n".join(blocks)


def render_open_list(*, heading: bool) -> int:
    """Links to every open assignment (under a heading when ``heading``); returns how many there are."""
    open_ones = db.list_assignments(open_only=True)
    if open_ones and heading:
        st.subheader(":material/assignment: Open assignments")
    for a in open_ones:
        try:
            st.page_link("app_pages/assignment.py", label=md_text(a.title), icon=":material/assignment:",
                         query_params={"id": a.id})
        except StreamlitPageNotFoundError:  # outside the router (a page run on its own): a plain link
            st.markdown(f":material/assignment: [{md_text(a.title)}](assignment?id={a.id})")
    return len(open_ones)


def render_banner(stored: StoredAssignment) -> None:
    """The assignment's title, instructions and input size; says so when it is closed."""
    a = stored.assignment
    with st.container(border=True):
        st.subheader(f":material/assignment: {md_text(a.title)}")
        if a.instructions:
            st.markdown(instructions_markdown(a.instructions))
        st.caption(f"Designs for this assignment take a {'×'.join(map(str, a.input))} input.")
    if not stored.is_open:
        st.warning("This assignment is closed: you can still try designs here, but submissions are not accepted.",
                   icon=":material/lock:")


def start_design(stored: StoredAssignment) -> Design:
    """This session's assignment design (kept under :data:`DESIGN_KEY`, apart from the Designer's own), with
    the assignment's start design loaded on the first visit to it (a link that carries ``?spec=`` keeps its
    own design; Undo brings back the design the student had before). Returns the design to edit."""
    first = st.session_state.get(CURRENT_KEY) != stored.id
    had = CURRENT_KEY in st.session_state  # this session has edited an assignment's design before
    st.session_state[CURRENT_KEY] = stored.id
    design = ss.init_design(DESIGN_KEY)
    if not first or st.query_params.get("spec"):
        return design  # a rerun, or a reload of this page: the address bar holds the student's own design
    spec = stored.assignment.start_spec()
    if had:
        ss.replace_design(spec, "start the assignment")
        ss.notify("info", "Loaded the assignment's start design. Undo brings back the design you had.")
    else:
        st.session_state[ss.DESIGN_KEY] = Design.from_spec(spec)  # this page's design (init_design chose it)
        ss.select_layer(None)
    return ss.design()


def render_check(result: CheckResult) -> None:
    """Every criterion as this design meets it now: pass / not yet, the design's value, the hint."""
    public = result.public()
    st.markdown(f"**Criteria: {public['passed']} of {public['total']} met**")
    if public["error"]:
        st.warning(md_text(public["error"]), icon=":material/error:")
    for r in public["results"]:
        icon = _ICONS.get(r["status"], _NOT_YET)
        word = {PASS: "met", PENDING: "waits for training"}.get(r["status"], "not yet")
        st.markdown(f"{icon} {md_text(r['label'])} — {word} (yours: {md_text(r['measured'])})")
        if r["status"] != PASS and r["hint"]:
            st.caption(f":material/lightbulb: {md_text(r['hint'])}")


def _name() -> str | None:
    if classroom_mode():
        return name_input()
    return display_name() or "me"


def render_submit(stored: StoredAssignment, spec: dict[str, Any]) -> None:
    """The name box (in a class) and Submit: the server stores the design and checks it again from what it stored."""
    if not stored.is_open:
        return
    name = _name()
    if not st.button("Submit this design", icon=":material/send:", type="primary", key=SUBMIT_BUTTON,
                     disabled=name is None):
        return
    try:
        sub = db.submit(stored.id, current_owner(), name or "me", spec)
    except PlaygroundError as exc:
        show_error(exc)
        return
    st.success(f"Submitted: {sub.passed} of {sub.total} criteria met (checked on the server).",
               icon=":material/task_alt:")
    if any(c.metric == "val_accuracy" for c in stored.assignment.criteria):
        _start_training(sub, name)


def _start_training(sub: db.Submission, name: str | None) -> None:
    """Queue the training job of each accuracy criterion (from the design the server stored), owned by this
    browser; a refused one says why, with the figure, and the other criteria stand as checked."""
    from playground.ui.finetune.job import manager  # the job manager only where something trains
    from playground.ui.owner import client_address

    try:
        queued = queue_training(sub, manager(), owner_name=name, client=client_address())
    except PlaygroundError as exc:
        show_error(f"Your design is submitted, but its training could not start: {exc}")
        return
    for q in queued:
        if q.refused is not None:
            show_error(f"Your design is submitted, but its training for criterion {q.index + 1} was refused: "
                       f"{q.refused}. The other criteria count as checked.", icon=":material/timer_off:")
        else:
            st.info(f"Training your design for criterion {q.index + 1} (job {q.job_id}): its accuracy on the "
                    "hidden test images shows under Your submissions when it finishes.",
                    icon=":material/model_training:")


def render_history(stored: StoredAssignment) -> None:
    """This browser's own submissions, newest first; the best one counts. Finished training jobs are measured
    and recorded first (:func:`playground.assignments.grade.collect`: once, whoever loads first)."""
    try:
        mine = collect(db.history(stored.id, current_owner()))
    except PlaygroundError as exc:
        show_error(exc)
        return
    if not mine:
        st.caption("No submissions yet. Your best submission is the one that counts.")
        return
    best = max(mine, key=lambda s: (s.passed, -s.created))
    accuracy = [i for i, c in enumerate(stored.assignment.criteria) if c.metric == "val_accuracy"]
    rows = [{"when": time.strftime("%H:%M:%S", time.localtime(s.created)), "criteria met": f"{s.passed} / {s.total}",
             **{f"criterion {i + 1}": training_status(s, i) for i in accuracy},
             "best": "★" if s.id == best.id else ""} for s in mine]
    st.markdown(f"**Your submissions** ({len(mine)}; the best counts: {best.passed} of {best.total})")
    for i in accuracy:  # the latest submission's training, in words (the table below has every one's)
        st.markdown(f":material/model_training: Latest submission, criterion {i + 1}: "
                    f"{md_text(training_status(mine[0], i))}")
    st.dataframe(rows, hide_index=True, width="stretch")


def render_leaderboard(stored: StoredAssignment) -> None:
    """Display names and scores only, when the teacher turned the leaderboard on."""
    if not stored.leaderboard:
        return
    rows = [{"rank": i + 1, "name": name, "criteria met": f"{passed} / {total}"}
            for i, (name, passed, total) in enumerate(leaderboard(stored.id))]
    st.markdown("**Leaderboard**")
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("Nobody has submitted yet.")


def live_check(stored: StoredAssignment, spec: dict[str, Any]) -> CheckResult:
    """The check of the design being edited (the same function the server runs on a submission)."""
    return check(stored.assignment, spec)
