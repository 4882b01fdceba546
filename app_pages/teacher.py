"""Teacher: every job in the class with its owner, the class settings and the data folder's disk use."""
import streamlit as st

from playground.ui.assignments.teacher_view import assignments_panel
from playground.ui.owner import classroom_mode, is_teacher, lock_teacher
from playground.ui.teacher import LOCK_BUTTON, disk_panel, jobs_panel, settings_panel, students_panel, unlock_form

st.title(":material/admin_panel_settings: Teacher")
st.write("See and control every student's jobs, set the class limits, and keep an eye on the data folder.")

if not classroom_mode():
    st.info("No class passcode is set, so this is a single-user install where everyone can do everything. "
            "To host a class, put `class_passcode` in `.streamlit/secrets.toml` (or set "
            "`PLAYGROUND_CLASS_PASSCODE`) and restart the app.", icon=":material/info:")
elif not is_teacher():
    unlock_form()
else:
    if st.button("Lock teacher mode", icon=":material/lock:", key=LOCK_BUTTON):
        lock_teacher()
        st.rerun()
    students_panel()
    jobs_panel()
    st.divider()
    assignments_panel()
    st.divider()
    settings_panel()
    st.divider()
    disk_panel()
