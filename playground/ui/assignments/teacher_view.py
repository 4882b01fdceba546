"""The teacher's Assignments panel: create (ready-made, form or JSON), edit, copy, open/close, delete, and the
class's progress (students × assignments) with read-only design links and a CSV download.

Drawn only in teacher mode (the Teacher page calls :func:`assignments_panel`). The teacher sees hidden targets;
every string a student chose (display names) and every teacher string is shown as text.
"""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

from playground.assignments import db
from playground.assignments.check import criterion_label, leaky_hints
from playground.assignments.model import METRICS, OPS, Assignment, Criterion, parse_assignment, target_from_text
from playground.assignments.presets import PRESETS, accuracy_available, preset
from playground.assignments.progress import design_link, progress, progress_csv, progress_matrix
from playground.errors import PlaygroundError
from playground.ui.designer import session as ss
from playground.ui.text import md_text, show_error

__all__ = ["assignments_panel", "PRESET_SELECT", "ADD_PRESET", "NEW_JSON", "CREATE_JSON", "CSV_BUTTON",
           "action_key", "student_link"]

PRESET_SELECT, ADD_PRESET = "as.t.preset", "as.t.add_preset"
NEW_JSON, CREATE_JSON = "as.t.new_json", "as.t.create_json"
CSV_BUTTON = "as.t.csv"
_CRITERIA_COLUMNS = ("metric", "compare", "target", "hidden", "hint", "layer", "dataset", "epochs")


def action_key(action: str, assignment_id: str) -> str:
    """Key of a per-assignment widget: open, leaderboard, copy, delete, delete_ok, json, save_json, form, expander."""
    return f"as.t.{action}.{assignment_id}"


def _base() -> str:
    """This server's address up to the app's root (the Teacher page's URL without its last part)."""
    try:
        url = st.context.url or ""
    except Exception:  # no browser connection (bare mode)
        url = ""
    parts = urlsplit(url)
    root = parts.path.rsplit("/", 1)[0] if parts.path else ""
    return f"{parts.scheme}://{parts.netloc}{root}" if parts.netloc else root


def student_link(assignment_id: str) -> str:
    """The link students open to work on the assignment."""
    return f"{_base()}/assignment?id={assignment_id}"


def _rows(assignment: Assignment | None) -> list[dict[str, Any]]:
    if assignment is None:
        return [{"metric": "params", "compare": "at_most", "target": "20000", "hidden": False, "hint": "",
                 "layer": "", "dataset": "", "epochs": ""}]
    return [{"metric": c.metric, "compare": c.op, "target": json.dumps(c.target), "hidden": c.hidden, "hint": c.hint,
             "layer": "" if c.layer is None else str(c.layer), "dataset": c.dataset or "",
             "epochs": "" if c.epochs is None else str(c.epochs)} for c in assignment.criteria]


def _criterion_dict(row: dict[str, Any]) -> dict[str, Any] | None:
    metric = str(row.get("metric") or "").strip()
    if not metric:
        return None  # an empty row the editor added
    out: dict[str, Any] = {"metric": metric, str(row.get("compare") or "at_most"): target_from_text(
        metric, str(row.get("target") or ""))}
    if row.get("hidden"):
        out["hidden"] = True
    if str(row.get("hint") or "").strip():
        out["hint"] = str(row["hint"])
    for name in ("layer", "epochs"):
        if str(row.get(name) or "").strip():
            out[name] = target_from_text("params", str(row[name]))
    if str(row.get("dataset") or "").strip():
        out["dataset"] = str(row["dataset"]).strip()
    return out


def _form(key: str, initial: Assignment | None) -> Assignment | None:
    """Title, instructions, input, criteria (an editable table) and the start design; the Assignment on Save."""
    with st.form(key, border=False):
        title = st.text_input("Title", value=initial.title if initial else "", max_chars=120, key=f"{key}.title")
        text = st.text_area("Instructions (plain text; blank lines make paragraphs, lines starting \"- \" a list)",
                            value=initial.instructions if initial else "", max_chars=4000, key=f"{key}.text")
        size = st.text_input("Input C, H, W", value=", ".join(map(str, initial.input)) if initial else "3, 32, 32",
                             key=f"{key}.input")
        metrics = list(METRICS) if accuracy_available() else [m for m in METRICS if m != "val_accuracy"]
        rows = st.data_editor(_rows(initial), num_rows="dynamic", hide_index=True, key=f"{key}.criteria",
                              column_order=_CRITERIA_COLUMNS, column_config={
                                  "metric": st.column_config.SelectboxColumn("metric", options=metrics, required=True),
                                  "compare": st.column_config.SelectboxColumn("compare", options=list(OPS)),
                                  "target": st.column_config.TextColumn("target", help="32, [32, 32], dwsep, conv2d"),
                                  "hidden": st.column_config.CheckboxColumn("hidden", help="students see only met / "
                                                                            "not yet and the hint")})
        use_design = st.checkbox("Start students from the design open in my Designer (otherwise: "
                                 + ("keep the current start design)" if initial else "an empty stack)"),
                                 key=f"{key}.use_design", disabled=ss.designer_design() is None)
        if not st.form_submit_button("Save", icon=":material/save:", key=f"{key}.save"):
            return None
    try:
        dims = [int(part) for part in size.replace("×", ",").replace("x", ",").split(",") if part.strip()]
    except ValueError:
        dims = []
    mine = ss.designer_design() if use_design else None  # the Designer's own, never an assignment's
    start = mine.spec() if mine is not None else (initial.start if initial else None)
    data: dict[str, Any] = {"title": title, "instructions": text, "input": dims,
                            "criteria": [c for c in map(_criterion_dict, rows) if c is not None]}
    if start is not None:
        data["start"] = start
    try:
        return parse_assignment(data)
    except PlaygroundError as exc:
        show_error(f"Not saved: {exc}.")
        return None


def _add_section() -> None:
    st.markdown("**Add an assignment** (new ones start closed: open them when the class is ready)")
    ready, form, paste = st.tabs(["Ready-made", "Form", "JSON file"])
    with ready:
        st.selectbox("From the primer's practice questions", list(PRESETS), key=PRESET_SELECT)
        if not accuracy_available():
            st.caption("Accuracy challenges (e.g. 90% on shapes) wait for training designs from scratch.")
        if st.button("Add it", icon=":material/add:", key=ADD_PRESET):
            db.create_assignment(preset(st.session_state[PRESET_SELECT]))
            st.rerun()
    with form:
        made = _form("as.t.new", None)
        if made is not None:
            db.create_assignment(made)
            st.rerun()
    with paste:
        st.text_area("Paste an assignment file (the format of `playground assignment export`)", key=NEW_JSON,
                     height=160)
        if st.button("Create", icon=":material/upload_file:", key=CREATE_JSON):
            _create_from_json(st.session_state.get(NEW_JSON) or "")


def _create_from_json(text: str) -> None:
    from playground.assignments.model import load_assignment

    try:
        db.create_assignment(load_assignment(text))
    except PlaygroundError as exc:
        show_error(f"Not created: {exc}.")
        return
    st.rerun()


def _criteria_table(criteria: tuple[Criterion, ...]) -> None:
    rows = [{"#": i, "criterion": criterion_label(c, reveal=True), "hidden": "hidden" if c.hidden else "shown",
             "hint": c.hint} for i, c in enumerate(criteria)]
    st.dataframe(rows, hide_index=True, width="stretch")


def _one(stored: db.StoredAssignment, counts: dict[str, int]) -> None:
    a, key = stored.assignment, stored.id
    state = "open" if stored.is_open else "closed"
    # keyed: it stays open while its label changes (Open / Close, a new submission)
    with st.expander(f"{md_text(a.title)} — {state}, {counts.get(key, 0)} submissions", icon=":material/assignment:",
                     key=action_key("expander", key)):
        st.code(student_link(key), language=None)
        cols = st.columns(4)
        if cols[0].button("Close" if stored.is_open else "Open", key=action_key("open", key),
                          icon=":material/lock:" if stored.is_open else ":material/lock_open:"):
            db.set_open(key, not stored.is_open)
            st.rerun()
        if cols[1].toggle("Leaderboard", value=stored.leaderboard, key=action_key("leaderboard", key),
                          help="Students see display names and scores") != stored.leaderboard:
            db.set_leaderboard(key, not stored.leaderboard)
            st.rerun()
        if cols[2].button("Copy", icon=":material/content_copy:", key=action_key("copy", key)):
            db.copy_assignment(key)
            st.rerun()
        sure = cols[3].checkbox("Really delete", key=action_key("delete_ok", key))
        if cols[3].button("Delete", icon=":material/delete:", key=action_key("delete", key), disabled=not sure):
            db.delete_assignment(key)
            st.rerun()
        _criteria_table(a.criteria)
        for i in leaky_hints(a):
            st.warning(f"The hint of hidden criterion {i} spells out its target, and students see hints.",
                       icon=":material/visibility:")
        edited = _form(action_key("form", key), a)
        if edited is not None:
            db.update_assignment(key, edited)
            st.rerun()
        st.text_area("Edit as JSON (hidden targets included: keep this file from students)",
                     value=a.to_json(), key=action_key("json", key), height=200)
        if st.button("Save JSON", key=action_key("save_json", key)):
            _save_json(key, st.session_state.get(action_key("json", key)) or "")


def _save_json(assignment_id: str, text: str) -> None:
    from playground.assignments.model import load_assignment

    try:
        db.update_assignment(assignment_id, load_assignment(text))
    except PlaygroundError as exc:
        show_error(f"Not saved: {exc}.")
        return
    st.rerun()


def _progress_section(assignments: list[db.StoredAssignment]) -> None:
    st.markdown("**Progress** — each student's best submission (most criteria met; the earliest among equals)")
    from playground.assignments.grade import collect, pending, untrained

    try:
        collect(pending())  # finished training jobs: measured on the hidden split and recorded, once
    except PlaygroundError as exc:
        show_error(exc)
    rows = progress(assignments)
    if not rows:
        st.caption("No submissions yet.")
        return
    waiting = len(untrained())
    if waiting:  # no job trains these (e.g. submitted before jobs existed): the teacher starts it on the server
        st.info(f"{waiting} submissions wait for an accuracy check without a training job. Run "
                "`python -m playground assignment grade` on the server (each design really trains; a GPU makes it "
                "much faster).", icon=":material/schedule:")
    st.dataframe(progress_matrix(rows), hide_index=True, width="stretch")
    st.caption("Each submission: student, assignment, best result, when, and the design read-only in the Designer.")
    base = _base() + "/design"
    table = [{"student": r.name, "assignment": r.title, "best": f"{r.best.passed} / {r.best.total}",
              "criteria": r.criteria, "accuracy": r.accuracy, "submissions": r.count,
              "last": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.last)),
              "design": design_link(r.best.design, base=base)} for r in rows]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "design": st.column_config.LinkColumn("design", display_text="open read-only",
                                              help="The best submission in the Designer, locked"),
        "criteria": st.column_config.TextColumn("criteria", help="✓ met, ✗ not yet, … waits for training")})
    st.download_button("Download CSV", progress_csv(rows, base=base), file_name="assignments_progress.csv",
                       mime="text/csv", icon=":material/download:", key=CSV_BUTTON)


def assignments_panel() -> None:
    """The whole Assignments section of the Teacher page."""
    st.subheader(":material/assignment: Assignments")
    try:
        assignments = db.list_assignments()
        counts = db.submission_counts()
    except PlaygroundError as exc:
        show_error(exc)
        return
    _add_section()
    if not assignments:
        st.caption("No assignments yet.")
    for stored in assignments:
        _one(stored, counts)
    _progress_section(assignments)
