"""The Predict page's model list and picker: every model, whether it can be used here, and which one to use.

The list is kept a few seconds for every session (it reads every job folder's meta.json); a fine-tune
is labelled by its job (:mod:`playground.ui.predict.model_labels`); ``?model=`` picks a catalogue
model or a finished fine-tune, never a folder on the server.
"""
from __future__ import annotations

from datetime import tzinfo

import streamlit as st

from playground.catalog import JOB_PREFIX, finetuned_status, model_status
from playground.classroom import ClassSettings, Viewer, load_settings
from playground.models.registry import DEFAULT_MODEL, MODELS, ModelStatus
from playground.paths import home_dir
from playground.ui.owner import viewer
from playground.ui.predict import MODEL_PICKER
from playground.ui.predict.model_labels import FinetuneInfo, browser_timezone, finetune_infos, finetune_label
from playground.ui.text import md_text, server_details_visible
from playground.ui.widget_state import widget_key

__all__ = ["model_picker", "model_rows", "refresh_model_list", "visible_to", "MODEL_LIST_TTL_S", "BAD_LINK_MODEL",
           "NOT_SHARED_MODEL"]

# The model list reads every job folder's meta.json: once per this many seconds for all sessions,
# not on every click (a fine-tune that just finished shows up within it).
MODEL_LIST_TTL_S = 10.0
BAD_LINK_MODEL = ("Cannot use the model from the link: a link can name a model from the list (by its "
                  "short name, e.g. `efficientnet_lite0`) or a finished fine-tune as `job:<id>`. Showing the "
                  "default model instead.")
NOT_SHARED_MODEL = ("Cannot use the model from the link: it is another student's fine-tune, and the teacher has "
                    "turned off seeing each other's jobs. Showing the default model instead.")
_MAX_SHOWN_REF = 80  # characters of a bad ?model= value quoted back


@st.cache_data(ttl=MODEL_LIST_TTL_S, show_spinner=False)
def _model_rows(home: str) -> list[ModelStatus]:
    """Every model and whether it can be used (per data directory: tests switch it; so ``home`` is
    part of the cache key, not an underscored argument Streamlit would leave out of it)."""
    return model_status()


def model_rows() -> list[ModelStatus]:
    """Every model and whether it can be used, as the Predict page lists them (kept a few seconds,
    shared by all sessions); :func:`refresh_model_list` forgets them."""
    return _model_rows(str(home_dir()))


def refresh_model_list() -> None:
    """Forget the cached model list, so a model that just became usable (downloaded weights) shows at once."""
    _model_rows.clear()


def _query_model() -> str | None:
    value = st.query_params.get("model")
    return value.strip() or None if isinstance(value, str) else None


def _link_status(wanted: str, rows: list[ModelStatus]) -> ModelStatus | None:
    """The status of a ``?model=`` value: catalogue names and ``job:<id>`` only, never a folder
    path (a link must not load, or tell the existence of, folders on the server's disk)."""
    for r in rows:
        if r.name == wanted:
            return r
    if wanted.startswith(JOB_PREFIX):
        status = finetuned_status(wanted)
        return status if status.available else None
    return None


def visible_to(who: Viewer, settings: ClassSettings, ref: str, info: FinetuneInfo | None) -> bool:
    """Whether ``who`` may list and use model ``ref``: every zoo model; a fine-tune when its job could be
    seen on the Fine-tune page (:meth:`~playground.classroom.Viewer.can_view`): with sharing off, another
    student's model, its dataset's name and its accuracy are theirs alone. A job that cannot be read
    (``info`` None) is nobody's, so only those who may see every job see it."""
    if ref in MODELS:
        return True
    return who.can_view({"owner": info.owner if info is not None else None}, settings)


def model_picker(key: str) -> str | None:
    """Choose a usable model (zoo or fine-tuned); honours ``?model=<catalogue name | job:<id>>``.

    Lists only the fine-tunes this session may see (:func:`visible_to`) and refuses a link to any other;
    shows why unavailable models cannot be used (with server paths and admin commands only to whoever
    runs the server: :func:`playground.ui.text.server_details_visible`), and one message for a
    ``?model=`` that is not usable. Returns the chosen model reference.
    """
    wanted = _query_model()
    all_rows = model_rows()
    refs = tuple(r.name for r in all_rows if r.name.startswith(JOB_PREFIX))
    if wanted and wanted.startswith(JOB_PREFIX) and wanted not in refs:
        refs += (wanted,)
    # Fine-tunes are told apart by their job (dataset, strategy, accuracy, date, id), not by their classes
    infos = finetune_infos(str(home_dir()), refs)
    who, settings = viewer(), load_settings(home_dir())
    rows = [r for r in all_rows if visible_to(who, settings, r.name, infos.get(r.name))]
    usable = {r.name: r for r in rows if r.available}
    if wanted and wanted not in usable:
        status = _link_status(wanted, rows)
        if status is not None and status.available and not visible_to(who, settings, wanted, infos.get(wanted)):
            st.error(NOT_SHARED_MODEL, icon=":material/lock:")
            wanted = None
        elif status is not None and status.available:
            usable[wanted] = status
        elif status is not None and status.name in MODELS:  # a catalogue model this server lacks
            reason = status.reason if server_details_visible() else "its weights are not on this server"
            st.error(f"Cannot use the model from the link: {reason}", icon=":material/error:")
            wanted = None
        else:
            st.error(f"{BAD_LINK_MODEL} (The link asked for: {md_text(wanted[:_MAX_SHOWN_REF])})",
                     icon=":material/error:")
            wanted = None
    options = list(usable)
    picker = widget_key(key, MODEL_PICKER)
    if picker not in st.session_state or st.session_state[picker] not in usable:
        st.session_state[picker] = wanted or (DEFAULT_MODEL if DEFAULT_MODEL in usable else options[0])
    tz = browser_timezone()
    choice = st.selectbox("Model", options, key=picker, format_func=lambda n: _label(usable[n], infos.get(n), tz))
    missing = [r for r in rows if not r.available]
    if missing:
        with st.expander(f":material/info: {len(missing)} more model(s) not available here"):
            if server_details_visible():
                for r in missing:
                    st.markdown(f"**{md_text(r.name)}**: {md_text(r.reason)}")
            else:  # the reasons name the server's folders and the commands of whoever runs it
                st.markdown(", ".join(f"**{md_text(r.title)}**" for r in missing))
                st.caption("Their weights are not on this server; the teacher can add them.")
    return choice


def _label(status: ModelStatus, info: FinetuneInfo | None, tz: tzinfo | None) -> str:
    if status.name in MODELS:
        return status.title
    if info is not None:
        return finetune_label(info, tz)
    return f"{status.title} · {status.name}"  # a folder given by path: its name is all there is

