"""Assignment: design a network to meet the teacher's criteria, checked live, and submit it."""
import streamlit as st

from playground.assignments import db
from playground.design.view import compute
from playground.errors import PlaygroundError
from playground.ui.assignments import student_view as sv
from playground.ui.designer import session as ss
from playground.ui.designer.layers import render_add_bar, render_editor, render_input, render_layers, render_toolbar
from playground.ui.designer.results import render_summary
from playground.ui.text import show_error

st.title(":material/assignment: Assignment")
st.caption("Edit the design until every criterion is met, then submit it. Hidden criteria say only whether "
           "they are met; the server checks every submission again.")

assignment_id = st.query_params.get("id")
if not assignment_id:
    if not sv.render_open_list(heading=False):
        st.info("No assignment is open right now. Your teacher will share a link.", icon=":material/info:")
    st.stop()

try:
    stored = db.get_assignment(assignment_id)
except PlaygroundError as exc:
    show_error(exc)
    st.stop()

sv.render_banner(stored)
design = sv.start_design(stored)  # its own design: the Designer's (/design) is left as it is
view = compute(design.spec())
ss.sync_url(view)
ss.show_notices()

edit_col, check_col = st.columns([5, 7], gap="large")
with edit_col:
    render_toolbar(design)
    render_input(design, view, locked=False)
    render_layers(design, view, show_shapes=True)
    render_add_bar(design, view)
    render_editor(design, view, locked=False, show_shapes=True)
with check_col:
    sv.render_check(sv.live_check(stored, design.spec()))
    sv.render_submit(stored, design.spec())
    render_summary(view, selected=ss.selected_indices(), hidden=frozenset())
    sv.render_history(stored)
    sv.render_leaderboard(stored)
