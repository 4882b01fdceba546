"""Fine-tune page: two runs compared (curves overlaid, final figures in a table), and the picker of two runs.

The figures come from :mod:`playground.finetune.runs_compare` (the job store); this module only draws
them. ``?compare=<id>,<id>`` opens the view of two runs (what "train both" and the Concepts page's
experiments link to); while either still trains, it shows their progress and redraws itself when both
have ended. Run names are plain text: the legend and the table show them literally.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from playground.classroom import Viewer
from playground.errors import PlaygroundError
from playground.finetune.jobs.store import Job, JobStore
from playground.finetune.runs_compare import (
    COMPARE_QUERY,
    RunComparison,
    comparable_jobs,
    compare_param,
    compare_runs,
    run_label,
)
from playground.ui.plot_axes import set_integer_x
from playground.ui.text import md_text, plotly_text, show_error

__all__ = ["compare_figures", "compare_view", "compare_picker", "COMPARE_PICK_A", "COMPARE_PICK_B", "COMPARE_OPEN"]

COMPARE_PICK_A, COMPARE_PICK_B = "ft_cmp_a", "ft_cmp_b"  # the picker's two selectboxes
COMPARE_OPEN = "ft_cmp_open"  # the "Compare two runs" expander (its content is drawn only while it is open)
_COLOURS = ("#1f6feb", "#d1495b")  # run A, run B
_WAIT_POLL_SECONDS = 2.0  # how often the view re-reads two runs that are still training


def compare_figures(cmp: RunComparison) -> tuple[go.Figure, go.Figure]:
    """(loss, accuracy) per epoch, both runs overlaid: training dashed, validation solid."""
    figures = []
    for title, train_key, val_key in (("Loss", "train_loss", "val_loss"),
                                      ("Accuracy", "train_accuracy", "val_accuracy")):
        fig = go.Figure()
        for run, colour, letter in zip(cmp.runs, _COLOURS, "AB"):
            name = plotly_text(f"{letter}: {run.label}")
            fig.add_trace(go.Scatter(x=run.epochs, y=run.curves[val_key], mode="lines+markers",
                                     name=f"{name} (validation)", line=dict(color=colour)))
            fig.add_trace(go.Scatter(x=run.epochs, y=run.curves[train_key], mode="lines",
                                     name=f"{name} (training)", line=dict(color=colour, dash="dash")))
        set_integer_x(fig, [e for run in cmp.runs for e in run.epochs] or [1], title_text="epoch")
        if title == "Accuracy":
            fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
        fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10),
                          legend=dict(orientation="h", y=-0.3))
        figures.append(fig)
    return figures[0], figures[1]


def _table(cmp: RunComparison) -> None:
    rows = cmp.table()
    for row, letter in zip(rows, "AB"):
        row["run"] = f"{letter}: {row['run']}"
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "final validation accuracy": st.column_config.NumberColumn(format="percent"),
        "parameters": st.column_config.NumberColumn(format="localized"),
        "training time (s)": st.column_config.NumberColumn(format="%.1f"),
        "images/s": st.column_config.NumberColumn(format="%.0f")})


def _render(cmp: RunComparison, key: str) -> None:
    loss, accuracy = compare_figures(cmp)
    left, right = st.columns(2)
    left.plotly_chart(loss, width="stretch", config={"displayModeBar": False}, key=f"{key}_loss")
    right.plotly_chart(accuracy, width="stretch", config={"displayModeBar": False}, key=f"{key}_acc")
    _table(cmp)
    a, b = cmp.runs
    diff = a.val_accuracy - b.val_accuracy
    if abs(diff) < 1e-9:
        st.caption("Both runs reached the same validation accuracy.")
    else:
        better, worse = ("A", "B") if diff > 0 else ("B", "A")
        st.caption(f"Run {better} ended {abs(diff):.1%} (percentage points) above run {worse} in validation "
                   "accuracy. A gap of a point or two on a few hundred validation images can be luck: run both "
                   "again with another seed before trusting it.")


def _waiting(store: JobStore, ids: tuple[str, str]) -> None:
    """Two runs of which at least one is still queued or training: their state, re-read every few seconds."""
    jobs = [store.get(i) for i in ids]
    for job, letter in zip(jobs, "AB"):
        st.markdown(md_text(f"{letter}: {run_label(job)}: {job.status}"))
    if any(j.active for j in jobs):
        st.caption("The comparison appears here when both runs have finished.")
    else:
        st.rerun()  # both ended since the page was drawn: draw the comparison


def compare_view(store: JobStore, ids: tuple[str, str], who: Viewer, key: str = "ft_cmp") -> None:
    """The comparison of two runs, or why there is none yet (a run still training, not the viewer's, ...);
    ``key``: the namespace of its charts' keys (one per view on a page)."""
    try:
        jobs = [store.get(i) for i in ids]
        if any(j.active for j in jobs):
            st.fragment(_waiting, run_every=_WAIT_POLL_SECONDS)(store, ids)
            return
        cmp = compare_runs(store, ids[0], ids[1], by=who)
    except PlaygroundError as exc:
        show_error(f"Cannot compare these runs: {exc}", icon=":material/error:")
        return
    _render(cmp, key)


def _option(job: Job) -> str:
    return run_label(job)


def compare_picker(store: JobStore, jobs: list[Job], who: Viewer) -> None:
    """Choose two finished runs (your own; all of them for the teacher) and see them compared."""
    choices = comparable_jobs(jobs, store, who)
    if len(choices) < 2:
        st.caption("Two finished runs are needed: yours appear here as they finish.")
        return
    by_id = {j.id: j for j in choices}
    ids = list(by_id)
    c1, c2 = st.columns(2)
    a = c1.selectbox("Run A", ids, index=0, key=COMPARE_PICK_A, format_func=lambda i: _option(by_id[i]))
    b = c2.selectbox("Run B", ids, index=1, key=COMPARE_PICK_B, format_func=lambda i: _option(by_id[i]))
    if a == b:
        st.caption("Choose two different runs.")
        return
    compare_view(store, (str(a), str(b)), who, key="ft_cmp_pick")
    st.caption(md_text(f"Link to this comparison: ?{COMPARE_QUERY}={compare_param(str(a), str(b))}"))
