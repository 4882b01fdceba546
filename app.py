"""CNN Playground: the router. Each page lives in app_pages/ (not pages/: see README); the sidebar is shared."""
import streamlit as st

from playground.ui.common import render_sidebar

st.set_page_config(page_title="CNN Playground", page_icon=":material/grid_on:", layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/design.py", title="Designer", icon=":material/architecture:", url_path="design"),
    st.Page("app_pages/predict.py", title="Predict", icon=":material/image_search:", url_path="predict"),
    st.Page("app_pages/finetune.py", title="Fine-tune", icon=":material/model_training:", url_path="finetune"),
    st.Page("app_pages/architectures.py", title="Architectures", icon=":material/account_tree:",
            url_path="architectures"),
    st.Page("app_pages/concepts.py", title="Concepts", icon=":material/school:", url_path="concepts"),
]

page = st.navigation(PAGES)
render_sidebar()
page.run()
