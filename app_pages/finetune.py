"""Fine-tune: train a pretrained CNN on your own classes, as a background job."""
import streamlit as st

from playground.errors import PlaygroundError
from playground.finetune.jobs.worker import submit_finetune
from playground.ui.finetune import DATA, FORM, NEW_BUTTON, START_BUTTON
from playground.ui.finetune.data import dataset_picker, dataset_summary
from playground.ui.finetune.form import estimate_panel, settings_form
from playground.ui.finetune.job import job_list, job_view, manager, tab_session

st.title(":material/model_training: Fine-tune")
st.write("Teach a pretrained CNN your own classes: pick a dataset, a strategy and settings, and train it "
         "in a background job with live curves; then try the result on the Predict page.")

job_id = st.query_params.get("job")
# One id per browser tab (kept across a reload of a ?job= link): the job limit and "Your jobs" use it.
session = tab_session(job_id)

if job_id:
    if st.button("New job", icon=":material/add:", key=NEW_BUTTON):
        del st.query_params["job"]
        st.rerun()
    job_view(job_id, session)
else:
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("1. Data")
        dataset = dataset_picker(DATA)
        ready = dataset is not None and dataset_summary(dataset)
    with right:
        st.subheader("2. Model and settings")
        if not ready:
            st.caption("Choose a usable dataset first.")
        else:
            config = settings_form(FORM, dataset)
            if config is not None and estimate_panel(config, dataset) and st.button(
                    "Start", type="primary", icon=":material/play_arrow:", key=START_BUTTON):
                try:
                    job = submit_finetune(manager(), dataset, config, session=session)
                except PlaygroundError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    st.query_params["job"] = job.id
                    st.rerun()

st.divider()
job_list(session, job_id)
