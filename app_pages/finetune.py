"""Fine-tune: train a pretrained CNN on your own classes, as a background job."""
import streamlit as st

from playground.errors import PlaygroundError
from playground.finetune.jobs.submit import submit_finetune
from playground.ui.finetune import DATA, FORM, NEW_BUTTON, START_BUTTON
from playground.ui.finetune.data import dataset_picker, dataset_summary, shows_own_photos
from playground.ui.finetune.design_form import DESIGN_QUERY, FROM_SCRATCH, design_section, training_mode
from playground.ui.finetune.form import estimate_panel, settings_form
from playground.ui.finetune.job import job_list, job_view, job_viewer, manager
from playground.ui.owner import client_address, name_input
from playground.ui.text import show_error

st.title(":material/model_training: Fine-tune")
st.write("Teach a pretrained CNN your own classes, or train a design of your own from scratch: pick a dataset, "
         "a model and settings, and train it in a background job with live curves; then try the result on the "
         "Predict page.")

job_id = st.query_params.get("job")
# Who this browser is (its owner secret, kept in a cookie; never in the URL): jobs, limits and controls use it.
who = job_viewer(job_id)

if job_id:
    if st.button("New job", icon=":material/add:", key=NEW_BUTTON):
        del st.query_params["job"]
        st.rerun()
    job_view(job_id, who)
else:
    left, right = st.columns([1, 1], gap="large")
    with left:
        st.subheader("1. Data")
        dataset = dataset_picker(DATA)
        ready = dataset is not None and dataset_summary(dataset, samples=not shows_own_photos(DATA))
    with right:
        st.subheader("2. Model and settings")
        if not ready:
            st.caption("Choose a usable dataset first.")
        else:
            scratch = training_mode(FORM) == FROM_SCRATCH  # a Designer design instead of a pretrained model
            started = design_section(f"{FORM}_design", dataset, who, START_BUTTON) if scratch else None
            if started:
                st.query_params["job"] = started
                st.query_params.pop(DESIGN_QUERY, None)
                st.rerun()
            config = None if scratch else settings_form(FORM, dataset)
            if config is not None and estimate_panel(config, dataset):
                name = name_input() if who.classroom else None
                if (name or not who.classroom) and st.button(
                        "Start", type="primary", icon=":material/play_arrow:", key=START_BUTTON):
                    try:
                        job = submit_finetune(manager(), dataset, config, owner=who.owner, owner_name=name,
                                             client=client_address())
                    except PlaygroundError as exc:
                        show_error(exc, icon=":material/error:")
                    else:
                        st.query_params["job"] = job.id
                        st.rerun()

st.divider()
job_list(who, job_id)
