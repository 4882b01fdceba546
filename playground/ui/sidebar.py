"""The sidebar every page shares: the compute this server uses, where jobs run, and the data folder."""
from __future__ import annotations

import os

import streamlit as st

from playground.paths import home_dir
from playground.ui.text import md_text, server_details_visible

__all__ = ["render_sidebar", "compute_device_label", "runner_label"]


@st.cache_resource(show_spinner=False)
def compute_device_label() -> str:
    """One line: the device of the server's own work (``PLAYGROUND_SERVER_DEVICE``, see
    :func:`playground.finetune.device.server_device`) and the GPUs left to the jobs. A server on the
    CPU only counts the GPUs (a driver query): it names none, as that would create a CUDA context."""
    from playground.errors import PlaygroundError
    from playground.finetune.device import describe_compute, gpu_count, server_device

    try:
        where = server_device()
    except PlaygroundError as exc:
        return str(exc)
    name = None
    if where.startswith("cuda"):
        import torch  # here, not at the top: importing this module should not load torch

        name = torch.cuda.get_device_name(torch.device(where))
    return describe_compute(where, os.cpu_count() or 1, gpu_count(), name)


@st.cache_data(ttl=30, show_spinner=False)  # the cluster's size changes rarely; asking costs a round trip
def runner_label() -> str:
    """Where fine-tuning jobs run: local worker processes, or the Ray cluster with its CPUs and GPUs."""
    from playground.errors import PlaygroundError
    from playground.finetune.jobs.runners import LOCAL_DESCRIPTION, describe_runner, runner_name

    try:
        if runner_name() == "local":  # no need to create the manager just to say so
            return LOCAL_DESCRIPTION
        from playground.finetune.jobs.manager import get_manager

        return describe_runner(get_manager().runner)
    except PlaygroundError as exc:
        return str(exc)


def render_sidebar() -> None:
    """Draw the shared sidebar."""
    if not server_details_visible():
        return  # a student on a class server: the machine's CPUs, GPUs and cluster are the teacher's business
    lines = [f":material/memory: {md_text(compute_device_label())}", f":material/lan: Jobs: {md_text(runner_label())}"]
    lines.append(f":material/folder: Data: {md_text(home_dir())}")
    # One element, not three: every element costs the server a message on every run of every page.
    st.sidebar.caption("  \n".join(lines))

