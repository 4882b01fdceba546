"""Fine-tune page, "train both": two designs on the same data with the same settings, then their comparison.

Opened by a design comparison's link (``/finetune?design=<A>&design_b=<B>``). Both designs' heads are
checked (a fix offered once, for both, applied only when ticked), one set of settings applies to both,
each design's cost is shown, and Start queues the two jobs only when both pass the class's limits
(:func:`playground.finetune.jobs.design_jobs.submit_designs`); the page then shows the compare view.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from playground.errors import PlaygroundError
from playground.finetune.data import Dataset
from playground.finetune.design_config import DesignConfig
from playground.finetune.head import check_head
from playground.spec.parse import SpecError
from playground.spec.share import decode_share
from playground.ui.finetune.design_form import DESIGN_B_QUERY, DESIGN_QUERY, design_cost_panel, training_settings
from playground.ui.text import md_text, show_error

__all__ = ["wants_both", "train_both_section", "BOTH_START", "BOTH_FIX"]

BOTH_START, BOTH_FIX = "ft_both_start", "ft_both_fix"


def wants_both() -> bool:
    """Whether the page was opened to train two designs (both query parameters present)."""
    return bool(st.query_params.get(DESIGN_QUERY)) and bool(st.query_params.get(DESIGN_B_QUERY))


def _specs() -> list[dict[str, Any]] | None:
    specs = []
    for letter, name in (("A", DESIGN_QUERY), ("B", DESIGN_B_QUERY)):
        try:
            specs.append(decode_share(str(st.query_params.get(name))))
        except SpecError as exc:
            show_error(f"Design {letter} cannot be used: {exc}", icon=":material/error:")
            return None
    return specs


def _heads(specs: list[dict[str, Any]], classes: int) -> list[dict[str, Any]] | None:
    """Both specs with heads that fit the classes (fixed when the box is ticked), or None with why."""
    problems, fixed = [], []
    for letter, spec in zip("AB", specs):
        try:
            head = check_head(spec, classes)
        except PlaygroundError as exc:
            show_error(f"Design {letter}: {exc}", icon=":material/error:")
            return None
        if not head.ok:
            problems.append(f"Design {letter}: {head.problem} Fix: {head.fix}.")
        fixed.append(head.fixed if not head.ok and head.fixed else spec)
    if not problems:
        return specs
    for problem in problems:
        st.warning(md_text(problem), icon=":material/warning:")
    if not st.checkbox("Fix the heads as proposed", key=BOTH_FIX):
        return None
    return fixed


def train_both_section(key: str, ds: Dataset, who: Any) -> list[str] | None:
    """Two designs, one set of settings, both costs, and Start; the two new job ids once started."""
    from playground.finetune.jobs.design_jobs import submit_designs
    from playground.ui.finetune.job import manager
    from playground.ui.owner import client_address, name_input

    st.markdown("**Train both designs** of the comparison on this data, with the same settings, and compare "
                "their curves when they finish.")
    specs = _specs()
    specs = _heads(specs, len(ds.classes)) if specs is not None else None
    if specs is None:
        return None
    settings = training_settings(key)
    try:
        cfgs = [DesignConfig.of(spec, **settings) for spec in specs]
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")
        return None
    fits = [design_cost_panel(cfg, ds, label=f"Design {letter}: ") for cfg, letter in zip(cfgs, "AB")]
    if not all(fits):
        return None
    name = name_input() if who.classroom else None
    if (name or not who.classroom) and st.button("Start both", type="primary", icon=":material/play_arrow:",
                                                 key=BOTH_START):
        try:  # each checked again (the class limit may have changed); none is queued unless both fit
            jobs = submit_designs(manager(), ds, cfgs, owner=who.owner, owner_name=name, client=client_address())
        except PlaygroundError as exc:
            show_error(exc, icon=":material/error:")
            return None
        return [job.id for job in jobs]
    return None
