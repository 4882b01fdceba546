"""Fine-tune: train a pretrained CNN on your own classes, as a background job."""
import streamlit as st

from playground.errors import PlaygroundError
from playground.finetune.jobs.submit import submit_finetune
from playground.finetune.runs_compare import COMPARE_QUERY, compare_param, parse_compare_param
from playground.ui.finetune import DATA, FORM, NEW_BUTTON, START_BUTTON
from playground.ui.finetune.compare_runs import COMPARE_OPEN, compare_picker, compare_view
from playground.ui.finetune.data import dataset_picker, dataset_summary, shows_own_photos
from playground.ui.finetune.design_form import (
    DESIGN_B_QUERY,
    DESIGN_QUERY,
    FROM_SCRATCH,
    design_section,
    training_mode,
)
from playground.ui.finetune.form import estimate_panel, settings_form
from playground.ui.finetune.job import job_list, job_view, job_viewer, manager
from playground.ui.finetune.train_both import train_both_section, wants_both
from playground.ui.owner import client_address, name_input
from playground.ui.text import show_error

st.title(":material/model_training: Fine-tune")
st.write("Teach a pretrained CNN your own classes, or train a design of your own from scratch: pick a dataset, "
         "a model and settings, and train it in a background job with live curves; then try the result on the "
         "Predict page.")

_PICKED_JOBS = 50  # the newest jobs offered to compare (each one's results are read)
job_id = st.query_params.get("job")
# Who this browser is (its owner secret, kept in a cookie; never in the URL): jobs, limits and controls use it.
who = job_viewer(job_id)

compared = parse_compare_param(st.query_params.get(COMPARE_QUERY))
if compared and not job_id:  # two runs side by side (from "train both", an experiment, or a shared link)
    st.subheader(":material/compare_arrows: Two runs compared")
    if st.button("New job", icon=":material/add:", key=NEW_BUTTON):
        del st.query_params[COMPARE_QUERY]
        st.rerun()
    compare_view(manager().store, compared, who)
elif job_id:
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
        if not ready or dataset is None:  # (ready says the dataset is there)
            st.caption("Choose a usable dataset first.")
        else:
            both = wants_both()  # a design comparison's "train both" link
            scratch = both or training_mode(FORM) == FROM_SCRATCH  # a Designer design instead of a pretrained model
            pair = train_both_section(f"{FORM}_both", dataset, who) if both else None
            if pair:
                st.query_params[COMPARE_QUERY] = compare_param(pair[0], pair[1])
                st.query_params.pop(DESIGN_QUERY, None)
                st.query_params.pop(DESIGN_B_QUERY, None)
                st.rerun()
            started = design_section(f"{FORM}_design", dataset, who, START_BUTTON) if scratch and not both else None
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
if not compared:
    # Drawn only while open: the picker lists the jobs and reads up to _PICKED_JOBS results files, which a
    # collapsed st.expander would still do on every run of the page a class uses most.
    with st.expander(":material/compare_arrows: Compare two runs", key=COMPARE_OPEN, on_change="rerun") as box:
        if box.open:
            compare_picker(manager().store, manager().list()[:_PICKED_JOBS], who)
