"""Concepts page: a lesson's one-click experiment, both variants trained on the bundled shapes, then compared.

:func:`experiment_panel` is the one call a lesson makes. The button queues both designs of
:mod:`playground.finetune.experiments` as ordinary training jobs (this browser's, under the class's
limits). The panel finds this browser's latest runs of the experiment in the job store, so after a
reload it still shows them: their state while they train (re-read every few seconds), then the
comparison (curves overlaid, the table), with a link to the same comparison on the Fine-tune page.
"""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from playground.classroom import Viewer
from playground.errors import PlaygroundError
from playground.finetune.experiments import EXPERIMENT_DATA, EXPERIMENTS, Experiment, experiment_runs, start_experiment
from playground.finetune.jobs.store import Job
from playground.finetune.runs_compare import COMPARE_QUERY, compare_param, run_label
from playground.ui.text import md_text, show_error

__all__ = ["experiment_panel", "start_key"]

_POLL_SECONDS = 3.0  # how often the panel re-reads two runs that are still training


def start_key(experiment_key: str) -> str:
    """Key of an experiment's "Train both" button."""
    return f"cx_train_{experiment_key}"


def _compare_link(ids: tuple[str, str]) -> None:
    label, icon = "Open the comparison on the Fine-tune page", ":material/compare_arrows:"
    value = compare_param(*ids)
    try:
        st.page_link("app_pages/finetune.py", label=label, icon=icon, query_params={COMPARE_QUERY: value})
    except StreamlitPageNotFoundError:  # the page runs on its own (AppTest), outside the app's router
        st.markdown(f"[{icon} {label}](finetune?{COMPARE_QUERY}={value.replace(',', '%2C')})")


def _pair(exp: Experiment, who: Viewer) -> tuple[Job, Job] | None:
    from playground.ui.finetune.job import manager

    return experiment_runs(manager().list(), exp, who.owner if who.classroom else None)


def _status(exp: Experiment, pair: tuple[Job, Job]) -> None:
    for job, (name, _spec) in zip(pair, exp.variants):
        st.caption(md_text(f"{name}: {run_label(job)}: {job.status}"))


def _waiting(exp: Experiment, who: Viewer) -> None:
    """Re-read every few seconds while a run trains; the whole page redraws once both have ended."""
    pair = _pair(exp, who)
    if pair is None or not any(job.active for job in pair):
        st.rerun()  # ended (or deleted): the page draws the comparison, and stops polling
    assert pair is not None
    _status(exp, pair)
    st.caption("The comparison appears here when both runs have finished.")


def _runs(exp: Experiment, who: Viewer) -> None:
    """This browser's latest runs of ``exp``: their state while they train, their comparison once both ended."""
    from playground.ui.finetune.compare_runs import compare_view
    from playground.ui.finetune.job import manager

    pair = _pair(exp, who)
    if pair is None:
        return
    if any(job.active for job in pair):
        st.fragment(_waiting, run_every=_POLL_SECONDS)(exp, who)
        return
    _status(exp, pair)
    ids = (pair[0].id, pair[1].id)
    compare_view(manager().store, ids, who, key=f"cx_cmp_{exp.key}")
    _compare_link(ids)


def experiment_panel(experiment_key: str) -> None:
    """The experiment ``experiment_key`` of :data:`~playground.finetune.experiments.EXPERIMENTS`: its
    question, the button that trains both variants, and their comparison when they have run."""
    from playground.ui.finetune.job import job_viewer, manager
    from playground.ui.owner import client_address, name_input

    exp = EXPERIMENTS[experiment_key]
    with st.container(border=True):
        st.markdown(f"**:material/science: Experiment: {exp.title}.** {exp.question}")
        names = " and ".join(f"*{name}*" for name, _ in exp.variants)
        s = exp.settings
        st.caption(f"Trains {names} from scratch on the bundled shapes ({EXPERIMENT_DATA}: 5 classes, 32 px), "
                   f"{s['epochs']} epochs each, batch {s['batch_size']}, the same seed: two jobs, under this "
                   "class's limits.")
        who = job_viewer(None)
        name = name_input() if who.classroom else None
        if (name or not who.classroom) and st.button("Train both and compare", icon=":material/play_arrow:",
                                                     key=start_key(exp.key)):
            try:
                with st.spinner("Checking both designs against the limits..."):
                    start_experiment(manager(), exp, owner=who.owner, owner_name=name, client=client_address())
            except PlaygroundError as exc:
                show_error(exc, icon=":material/error:")
        _runs(exp, who)
