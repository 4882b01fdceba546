"""CNN Playground: the router. Each page lives in app_pages/ (not pages/: see README); the sidebar is shared."""
import streamlit as st

from playground.housekeeping import run_housekeeping
from playground.serverstart import start_server
from playground.ui.finetune.job import manager
from playground.ui.owner import classroom_mode, current_owner, is_teacher, write_cookies
from playground.ui.sidebar import render_sidebar
from playground.ui.teacher import TEACHER_PAGE, teacher_sidebar
from playground.ui.text import md_text

st.set_page_config(page_title="CNN Playground", page_icon="🧠", layout="wide")

# Once per process (`python -m playground serve` did it before the port opened; `streamlit run` has no
# earlier hook): open-file limit, this data folder's server lock, the job manager (queued jobs start).
_refused = start_server(class_mode=classroom_mode())
if _refused:  # another server serves this data folder: say so on every page rather than run jobs twice
    st.error(md_text(_refused), icon=":material/block:")
    st.stop()
manager()
run_housekeeping()  # old uploads and finished jobs go: at most every few minutes, on its own thread

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/design.py", title="Designer", icon=":material/architecture:", url_path="design"),
    st.Page("app_pages/predict.py", title="Predict", icon=":material/image_search:", url_path="predict"),
    st.Page("app_pages/finetune.py", title="Fine-tune", icon=":material/model_training:", url_path="finetune"),
    st.Page("app_pages/architectures.py", title="Architectures", icon=":material/account_tree:",
            url_path="architectures"),
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/school:", url_path="concepts"),
    st.Page("app_pages/assignment.py", title="Assignments", icon=":material/assignment:", url_path="assignment"),
]
if classroom_mode():  # /teacher always answers (with the passcode form); only the teacher sees it listed
    PAGES.append(st.Page(TEACHER_PAGE, title="Teacher", icon=":material/admin_panel_settings:", url_path="teacher",
                         visibility="visible" if is_teacher() else "hidden"))

page = st.navigation(PAGES)
render_sidebar()
teacher_sidebar()
current_owner()  # this browser's owner secret, made on its first visit...
write_cookies()  # ...and kept in its cookie (before the page runs: a page may st.rerun())
page.run()
