"""The Designer's "Compare" tab: the design being edited (A) beside a second design (B).

B comes from a preset, a torchvision architecture, a pasted link or JSON, or this design as it was
before the edits (Undo's memory). It lives in the session (:data:`OTHER_KEY`) and in the address bar
as ``?vs=<token>`` (the same token as ``?spec=``), so the link carries both designs: opening one
opens this tab. Everything numeric comes from :mod:`playground.design.compare`; nothing is worked
out until the tab is open. The teacher's hide flags hide a quantity for both designs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st

from playground.design.compare import Comparison, compare, compare_query, read_design_text
from playground.design.editor import UNDO_DEPTH, Design
from playground.design.presets import PRESET_NOTES, PRESETS, preset
from playground.design.view import DesignView, compute
from playground.spec.parse import SpecError
from playground.spec.share import encode_share
from playground.ui.designer import session as ss
from playground.ui.designer.diagram import diagram_svg
from playground.ui.designer.results import SHAPES_HIDE_MORE
from playground.ui.designer.share import TeacherFlags, visible_panels
from playground.ui.replay import arrow_table
from playground.ui.text import md_text

__all__ = ["PANEL", "OTHER_KEY", "Other", "other", "set_other", "init_compare", "render_compare", "compare_link"]

PANEL = "Compare"         # the results tab (playground.ui.designer.share.PANELS)
OTHER_KEY = "dz.cmp"      # the session's design B (an Other), or None
_SEEN = "dz.cmp.seen"     # the ?vs= token last read from or written to the address bar
_BAD = "dz.cmp.bad"       # a ?vs= token that failed to open: left in the address bar, not retried
_PASTE = "dz.cmp.paste"   # the text area for a link or JSON
_PASTE_ERROR = "dz.cmp.err"  # why the last paste was refused (shown under the text area)
_SOURCES = ("A preset", "A torchvision architecture", "A link or JSON", "This design before the edits")


@dataclass(frozen=True)
class Other:
    """Design B: its spec, where it came from (plain text, shown as text), and its share token."""

    spec: dict[str, Any]
    label: str
    token: str | None        # None when B is too large for a link
    token_error: str | None


def other() -> Other | None:
    """The design B of this session, if one is chosen."""
    return st.session_state.get(OTHER_KEY)


def set_other(spec: dict[str, Any] | None, label: str = "") -> None:
    """Choose ``spec`` as design B (None: stop comparing)."""
    if spec is None:
        st.session_state[OTHER_KEY] = None
        return
    try:
        token, error = encode_share(spec), None
    except SpecError as exc:
        token, error = None, str(exc)
    st.session_state[OTHER_KEY] = Other(spec, label, token, error)


def init_compare(flags: TeacherFlags) -> None:
    """Read ``?vs=`` (a link opened, or changed in the address bar: B is loaded and the Compare tab
    opened) and keep it equal to design B. A bad token is reported once and left in the address bar."""
    token = st.query_params.get("vs")
    chosen = other()
    if token and token not in (st.session_state.get(_SEEN), st.session_state.get(_BAD)) and (
            chosen is None or chosen.token != token):
        try:
            spec = ss.load_token(token)
        except SpecError as exc:
            st.session_state[_BAD] = token
            ss.notify("error", f"Could not open the second design (`vs=`) of this link: {md_text(exc)}. "
                               "The Compare tab can take another one.")
            return
        set_other(spec, f"design B of the link{_named(spec)}")
        if PANEL in visible_panels(flags):
            st.session_state[ss.TAB_KEY] = PANEL
        chosen = other()
    want = chosen.token if chosen is not None else None
    if want and want != token:
        st.query_params["vs"] = want
    elif not want and token and token != st.session_state.get(_BAD):  # stopped comparing (a bad link stays)
        del st.query_params["vs"]
    st.session_state[_SEEN] = want


def _named(spec: dict[str, Any]) -> str:
    name = spec.get("name")
    return f" ({name})" if isinstance(name, str) and name else ""


# -- choosing B (callbacks: they run before the script, so the rerun already compares) --------------

def _on_preset(key: str) -> None:
    name = st.session_state.get(key)
    if name in PRESETS:
        set_other(preset(name), f"the {name} preset")


def _on_architecture(key: str) -> None:
    from playground.arch.landmarks import designer_spec  # imports torchvision only when one is chosen

    name = st.session_state.get(key)
    spec = designer_spec(name) if isinstance(name, str) and name in ss.ARCHITECTURES else None
    if spec is not None and isinstance(name, str):
        set_other({"name": ss.ARCHITECTURES[name], **spec}, f"torchvision's {ss.ARCHITECTURES[name]}")


def _on_paste() -> None:
    try:
        spec = read_design_text(str(st.session_state.get(_PASTE) or ""))
    except SpecError as exc:
        st.session_state[_PASTE_ERROR] = str(exc)
        return
    st.session_state[_PASTE_ERROR] = None
    set_other(spec, f"the pasted design{_named(spec)}")


def _on_before(design: Design, oldest: bool) -> None:
    snap = design.undo_stack[0] if oldest else design.undo_stack[-1]
    spec: dict[str, Any] = {"name": snap.name} if snap.name is not None else {}
    spec.update(input=copy.deepcopy(snap.input), layers=copy.deepcopy(snap.layers))  # the snapshot stays Undo's
    set_other(spec, "this design before the edits Undo remembers" if oldest
              else f"this design before the last edit ({snap.label})")


def _on_stop() -> None:
    set_other(None)


def _on_swap(chosen: Other) -> None:
    """Edit B and compare it with A: B becomes the design (Undo brings A back), A the second design."""
    before = ss.design().spec()
    try:
        ss.replace_design(chosen.spec, "swap with the compared design")
    except SpecError as exc:  # B was checked when it was chosen; said rather than raised all the same
        ss.notify("error", f"Cannot edit design B: {md_text(exc)}.")
        return
    set_other(before, "the design you were editing")
    ss.notify("info", "Swapped: you are editing what was B, compared with the design you had (Undo brings it back).")


def _render_picker(design: Design) -> None:
    source = st.radio("Compare with", _SOURCES, horizontal=True, key="dz.cmp.source")
    if source == _SOURCES[0]:
        st.selectbox("Preset", list(PRESETS), index=None, placeholder="Choose a preset…", key="dz.cmp.preset",
                     on_change=_on_preset, args=("dz.cmp.preset",), format_func=lambda n: f"{n} — {PRESET_NOTES[n]}")
    elif source == _SOURCES[1]:
        st.selectbox("Architecture (as torchvision builds it)", list(ss.ARCHITECTURES), index=None,
                     placeholder="Choose an architecture…", key="dz.cmp.arch",
                     format_func=lambda n: ss.ARCHITECTURES[n], on_change=_on_architecture, args=("dz.cmp.arch",))
    elif source == _SOURCES[2]:
        st.text_area("A Designer link, or a design's JSON", key=_PASTE, height=100,
                     placeholder='https://…/design?spec=…   or   {"input": [3, 32, 32], "layers": [...]}')
        st.button("Compare with this", on_click=_on_paste, icon=":material/compare_arrows:", key="dz.cmp.go")
        if problem := st.session_state.get(_PASTE_ERROR):
            st.error(f"{md_text(problem[:1].upper() + problem[1:])}. The comparison is unchanged.")
    else:
        if not design.undo_stack:
            st.info("No edits to compare with yet: once you change the design, this compares it with how it was.")
            return
        st.caption(f"Undo remembers your last changes (up to {UNDO_DEPTH}). *Before the edits* is the design as it was "
                   "before the oldest of them — the design you opened, if you have made fewer changes; "
                   "*before the last edit* takes back only the latest change.")
        left, right = st.columns(2)
        left.button("Before the edits", on_click=_on_before, args=(design, True), key="dz.cmp.oldest",
                    icon=":material/history:", width="stretch")
        right.button(f"Before the last edit ({md_text(design.undo_label)})", on_click=_on_before, args=(design, False),
                     key="dz.cmp.last", icon=":material/undo:", width="stretch")


# -- showing the comparison ----------------------------------------------------------------------------

def compare_link(token_a: str, token_b: str, flags: TeacherFlags) -> str:
    """The full link that reopens this comparison (with the teacher's flags)."""
    base = st.context.url or "/design"
    return f"{base}?{compare_query(token_a, token_b, **flags.params())}"


def _coverage(view: DesignView, which: str) -> None:
    """Say when a design's numbers cover only its valid part (or nothing)."""
    if view.error is None:
        return
    part = (f"layers 0–{view.n_valid - 1}, the part before it" if view.n_valid > 1 else
            "layer 0, the part before it" if view.n_valid == 1 else "nothing yet")
    st.warning(f"Design {which} needs a fix — {md_text(view.error)}. Its numbers cover {part}.",
               icon=":material/construction:")


def _table(rows: list[dict[str, str]]) -> None:
    st.dataframe(arrow_table(rows), hide_index=True, width="stretch", height=min(38 + 35 * len(rows), 600))


def _render_tables(cmp: Comparison, flags: TeacherFlags) -> None:
    shapes, table = flags.shows("shapes"), flags.shows("table")
    st.markdown("**Totals** — B / A: B's figure divided by A's (0.50× is half of A's, 2.00× twice as much).")
    # A plain table (six rows of text): readable as it is, and by a screen reader or a browser test
    st.table(arrow_table(cmp.totals_rows(totals=flags.shows("totals"), shapes=shapes, fields=table)),
             hide_index=True, width="content")
    if not shapes:
        st.caption(SHAPES_HIDE_MORE)
    if not table:
        st.caption("Per-stage and per-layer figures are hidden on this link (it hides the per-layer table).")
        return
    st.markdown("**By stage** — runs of layers with the same map size, paired where both designs have that size"
                if shapes else "**By stage** — runs of layers with the same map size, paired in order")
    _table(cmp.stage_rows(shapes=shapes))
    pairs = cmp.layer_pairs
    if pairs.how == "position":
        how = f"aligned by position: both have {pairs.matched} layers, layer i of A beside layer i of B"
    elif pairs.matched:
        how = (f"aligned by position only where the layer types agree: the first and last layers of the same "
               f"types ({pairs.matched} pairs); the {pairs.unmatched} between are shown on their own")
    else:
        how = "the designs neither start nor end with the same layer types: each layer is shown on its own"
    st.markdown(f"**By layer** — {how}. Δ is B − A; a branch or a named block is one row with its paths' totals.")
    _table(cmp.layer_rows(shapes=shapes))


def render_compare(view: DesignView, flags: TeacherFlags) -> None:
    """The Compare tab: the picker for B, then totals, stage and layer deltas, both diagrams, the links."""
    chosen = other()
    with st.expander("Design B: choose the design to compare with", expanded=chosen is None,
                     icon=":material/compare_arrows:"):
        if flags.locked:
            st.caption("This link is read-only, but B is yours to choose: it changes nothing in the design.")
        _render_picker(ss.design())
    if chosen is None:
        st.caption("A is the design above; choose B to see both analysed side by side.")
        return
    view_b = compute(chosen.spec)  # only here: the tab is open
    left, middle, right = st.columns([4, 1, 1], vertical_alignment="center")
    name_a = view.spec.get("name")
    left.markdown(f"**A**: this design{md_text(f' ({name_a})') if isinstance(name_a, str) and name_a else ''} · "
                  f"**B**: {md_text(chosen.label)}")
    if not flags.locked:  # swapping edits the design: not on a read-only link
        middle.button("Swap", on_click=_on_swap, args=(chosen,), key="dz.cmp.swap", icon=":material/swap_horiz:",
                      width="stretch", help="Edit B in the designer, compared with the design you have now")
    right.button("Stop comparing", on_click=_on_stop, key="dz.cmp.stop", icon=":material/close:", width="stretch")
    _coverage(view, "A")
    _coverage(view_b, "B")
    if view.report is None or view_b.report is None:
        st.info("Nothing to compare until both input sizes are valid.")
        return
    _render_tables(compare(view.report, view_b.report), flags)
    shapes = flags.shows("shapes")
    for column, which, v in zip(st.columns(2), "AB", (view, view_b)):
        with column:
            st.markdown(f"**{which}**")
            if v.parsed is not None:
                st.image(diagram_svg(v, show_shapes=shapes), width="stretch")
    _render_links(view, view_b, chosen, flags)


def _render_links(view: DesignView, view_b: DesignView, chosen: Other, flags: TeacherFlags) -> None:
    if view.token is None or chosen.token is None:
        st.caption(f"This comparison cannot be shared as a link: {md_text(view.token_error or chosen.token_error)}.")
        return
    st.markdown("**Link to this comparison** — the address bar holds it too (`vs=` is design B).")
    st.code(compare_link(view.token, chosen.token, flags), language=None, wrap_lines=True)
    if view.valid and view_b.valid:  # the Fine-tune page trains both, from scratch
        st.markdown(f"[:material/model_training: Train both from scratch](/finetune?"
                    f"{urlencode({'design': view.token, 'design_b': chosen.token})})")
