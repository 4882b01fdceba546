"""Share and export: teacher flags from the URL, the share link, PyTorch code, ONNX, JSON download/upload."""
from __future__ import annotations

import io
import json
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

import streamlit as st

from playground.design.editor import spec_structure_error
from playground.design.onnx_export import OPSET, export_refusal, onnx_available, onnx_bytes_limited
from playground.design.view import DesignView
from playground.spec.parse import SpecError, load_json_bytes
from playground.ui.designer import session as ss
from playground.ui.text import md_text, server_details_visible

__all__ = ["HIDE_FLAGS", "PANELS", "visible_panels", "panel_notes", "TeacherFlags", "teacher_flags", "share_url",
           "render_share", "render_export", "render_upload", "read_design_json", "strip_comments"]

# ?hide=<comma list>: panels a teacher can hide from students (README documents them).
# A hidden quantity is hidden everywhere on the page, not just in its own panel.
HIDE_FLAGS: dict[str, str] = {
    "totals": "the totals (parameters, MACs, FLOPs, model size, activations), also in the savings panel and code",
    "table": "the per-layer table and per-layer counts (parameters, MACs, memory) wherever they appear",
    "shapes": "output shapes everywhere: beside each layer, table, diagram, code, size plot, receptive-field photo",
    "warnings": "the plain-word warnings",
    "savings": "the depthwise-separable savings panel",
    "plots": "the plots",
    "rf": "the receptive field on a photo",
    "memory": "the training-memory panel (a question to answer yourself: how much memory does it need?)",
    "code": "the PyTorch code and JSON export",
}
_ON = ("1", "true", "yes", "on")

# An ONNX file holds every weight (4 bytes each) and sits in the server's memory while it downloads: above
# this (AlexNet-sized, ~250 MB) the page points to the command line instead.
MAX_ONNX_DOWNLOAD_PARAMS = 64_000_000

# The results tabs, in order, and the hide flags that each one needs shown. A panel that would give
# away a hidden quantity goes with it: the photo's grid of unit centres counts out every output's
# size (shapes); the memory panel's per-layer bytes are the table's, sum to the totals and are
# C·H·W·4 bytes (shapes).
PANELS: dict[str, tuple[str, ...]] = {
    "Layers": ("table",), "Depthwise savings": ("savings",), "Plots": ("plots",),
    "Receptive field": ("rf", "shapes"), "Memory": ("memory", "totals", "table", "shapes"), "Compare": (),
    "Share & export": (),
}
# Panels shown while at least one of these is shown: the comparison hides each hidden quantity for both
# designs, and goes when nothing numeric is left to compare.
_ANY_OF: dict[str, tuple[str, ...]] = {"Compare": ("totals", "table", "shapes")}
# Why a panel goes with a quantity that is not its own: said on the page, so no tab vanishes unexplained
_GIVES_AWAY = {
    "Receptive field": "its photo's grid of unit centres counts out every layer's output size",
    "Memory": "its per-layer activation bytes are each layer's output size × 4 bytes, and sum to the totals",
}


@dataclass(frozen=True)
class TeacherFlags:
    """What the link hides (``?hide=totals,table``) and whether editing is off (``?lock=1``)."""

    hide: frozenset[str] = frozenset()
    locked: bool = False
    unknown: tuple[str, ...] = ()

    def shows(self, panel: str) -> bool:
        """Whether ``panel`` (a HIDE_FLAGS name) may be shown on this link."""
        return panel not in self.hide

    def params(self) -> dict[str, str]:
        """The query parameters that reproduce these flags (empty ones left out)."""
        out = {}
        if self.hide:
            out["hide"] = ",".join(name for name in HIDE_FLAGS if name in self.hide)
        if self.locked:
            out["lock"] = "1"
        return out


def visible_panels(flags: TeacherFlags) -> list[str]:
    """The results tabs this link shows (see :data:`PANELS`)."""
    return [label for label, needs in PANELS.items() if all(flags.shows(flag) for flag in needs)
            and any(flags.shows(flag) for flag in _ANY_OF.get(label, ("",)))]


def panel_notes(flags: TeacherFlags) -> list[str]:
    """One sentence per results tab this link leaves out although its own flag is not set: which hidden
    quantity took it, and how it would have given that away (markdown)."""
    notes = []
    for label, needs in PANELS.items():
        own, others = needs[:1], [flag for flag in needs[1:] if not flags.shows(flag)]
        if others and all(flags.shows(flag) for flag in own):
            notes.append(f"**{label}** is hidden too, as this link hides the {' and the '.join(others)}: "
                         f"{_GIVES_AWAY.get(label, 'it would show them')}.")
    for label, shown in _ANY_OF.items():
        if not any(flags.shows(flag) for flag in shown):
            notes.append(f"**{label}** is hidden too, as this link hides the {', the '.join(shown)}: nothing to "
                         "compare would be left.")
    return notes


def teacher_flags(query: Mapping[str, str]) -> TeacherFlags:
    """Read ``hide`` and ``lock`` from the query parameters; unknown names are reported, not fatal."""
    names = [n.strip().lower() for n in str(query.get("hide", "")).split(",") if n.strip()]
    known = frozenset(n for n in names if n in HIDE_FLAGS)
    unknown = tuple(n for n in names if n not in HIDE_FLAGS)
    return TeacherFlags(known, str(query.get("lock", "")).strip().lower() in _ON, unknown)


def share_url(token: str, flags: TeacherFlags = TeacherFlags()) -> str:
    """The full link that reopens this design (with the flags), from the browser's own address."""
    base = st.context.url or "/design"
    return f"{base}?{urlencode({'spec': token, **flags.params()})}"


def render_share(view: DesignView, flags: TeacherFlags) -> None:
    """The share link (copy button on the code box) and a builder for teacher links."""
    if view.token is None:
        st.warning(view.token_error or "This design cannot be shared as a link; download it as JSON instead.")
        return
    st.markdown("**Share link** — the address bar always holds it too; the copy button is at the box's right.")
    st.code(share_url(view.token, flags), language=None, wrap_lines=True)
    if view.valid:  # the Fine-tune page opens with this design in "from scratch" mode
        st.markdown(f"[:material/model_training: Train this design from scratch](/finetune?"
                    f"{urlencode({'design': view.token})})")
    if flags.locked or not server_details_visible():  # a teacher's tool: not for students (a read-only
        return                                          # link, or a class server's student)
    with st.expander("Teacher link: hide panels or lock editing", icon=":material/school:"):
        hide = st.multiselect("Hide from students", list(HIDE_FLAGS), format_func=lambda n: f"{n}: {HIDE_FLAGS[n]}",
                              key="dz.t.hide")
        lock = st.checkbox("Read-only (students can look but not edit)", key="dz.t.lock")
        st.code(share_url(view.token, TeacherFlags(frozenset(hide), lock)), language=None, wrap_lines=True)


def strip_comments(code: str) -> str:
    """``code`` without its comments and docstrings (they quote shapes and parameter counts), still
    valid Python that defines the same network."""
    drop_rows: set[int] = set()
    cut: dict[int, int] = {}  # row -> column where a trailing comment starts
    prev = tokenize.NEWLINE
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            cut[tok.start[0]] = tok.start[1]
        elif tok.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL):
            drop_rows.update(range(tok.start[0], tok.end[0] + 1))  # a statement that is only a string: a docstring
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            prev = tok.type
    out = []
    for row, line in enumerate(code.splitlines(), start=1):
        if row in drop_rows:
            continue
        kept = line[:cut[row]].rstrip() if row in cut else line
        if kept.strip() or not line.strip():  # a line that was only a comment goes
            out.append(kept)
    return "\n".join(out) + "\n"


def render_export(view: DesignView, flags: TeacherFlags = TeacherFlags()) -> None:
    """PyTorch code (copy + download) and the design as JSON, minding what the link hides: without
    totals the code has no comments; without shapes no code at all (its Linear sizes give them away)."""
    if not view.valid:
        st.info("Fix the broken layer to export code; the JSON below keeps the design as it is.")
        st.download_button("Download JSON", json.dumps(view.spec, indent=2), file_name="design.json",
                           mime="application/json", icon=":material/download:", key="dz.dl.json")
        return
    from playground.design.build import to_pytorch_code  # imports torch: only when this panel is open

    parsed = view.parsed  # a valid design: the whole spec, already parsed by compute()
    assert parsed is not None
    canonical = json.dumps(parsed.to_dict(), indent=2)
    if not flags.shows("shapes"):
        st.info("The PyTorch code is hidden on this link: its layer sizes would give away the output shapes.")
        st.download_button("Download JSON", canonical, file_name="design.json", mime="application/json",
                           icon=":material/download:", key="dz.dl.json")
        return
    code = to_pytorch_code(parsed)
    if not flags.shows("totals"):
        code = strip_comments(code)
    st.code(code, language="python", line_numbers=True)
    left, middle, right = st.columns(3)
    left.download_button("Download net.py", code, file_name="net.py", mime="text/x-python",
                         icon=":material/download:", key="dz.dl.py", width="stretch")
    middle.download_button("Download JSON", canonical, file_name="design.json", mime="application/json",
                           icon=":material/download:", key="dz.dl.json", width="stretch")
    with right:
        _render_onnx(view, canonical)


def _render_onnx(view: DesignView, canonical: str) -> None:
    """The ONNX download: the file is built only when clicked (a deferred download), never on a page run."""
    params = view.report.total_params if view.report is not None else 0
    if not onnx_available():
        st.caption("ONNX export needs the `onnx` package on the server (`pip install onnx`).")
    elif params > MAX_ONNX_DOWNLOAD_PARAMS:
        st.caption(f"At {params:,} parameters the ONNX file is too large to download here; on your computer: "
                   "`playground export design.json --onnx net.onnx`.")
    elif (refusal := _export_refusal(canonical)) is not None:
        st.caption(refusal[0].upper() + refusal[1:] + ".")  # our words and validated layer types only
    else:
        st.download_button("Download ONNX", data=lambda: _onnx_file(canonical), file_name="net.onnx",
                           mime="application/octet-stream", icon=":material/download:", on_click="ignore",
                           key="dz.dl.onnx", width="stretch",
                           help=f"The network in ONNX (opset {OPSET}) with untrained weights, for Netron or an "
                                "ONNX runtime. Built when you click: a large network takes a few seconds.")


@lru_cache(maxsize=8)
def _export_refusal(spec_json: str) -> str | None:
    """Why the server will not export this design (its traced pass over budget), checked before offering the
    button: pure arithmetic, kept for the reruns of the same design."""
    return export_refusal(json.loads(spec_json))


@lru_cache(maxsize=2)
def _onnx_file(spec_json: str) -> bytes:
    """A design's ONNX file, built in a limited child process (never in the server's own), kept for the next
    click on the same design (a class often downloads one preset; the same bytes are then also stored once by
    Streamlit's media files, which key by content)."""
    return onnx_bytes_limited(json.loads(spec_json))


def read_design_json(data: bytes, name: str) -> dict:
    """The design in an uploaded JSON file; ValueError with a one-line reason when it is not one.

    The bytes are decoded by :func:`playground.spec.parse.load_json_bytes`, the one decoder of spec
    files (size, UTF-8, strict JSON). Beyond that only the structure is checked: a file with
    bad values still loads, and the designer shows each problem at its layer.
    """
    try:
        spec = load_json_bytes(data, f"'{name}'")
    except SpecError as exc:
        raise ValueError(f"{exc}; fix the file or download a fresh one from this page") from None
    problem = spec_structure_error(spec)
    if problem:
        raise ValueError(f"'{name}' is not a design: {problem}")
    return spec


def _on_upload() -> None:
    upload = st.session_state.get("dz.upload")
    if upload is None:
        return
    try:
        spec = read_design_json(upload.getvalue(), upload.name)
    except ValueError as exc:
        ss.notify("error", f"{md_text(exc)}. Your design is unchanged.")
        return
    ss.replace_design(spec, f"load {upload.name}")
    ss.notify("success", f"Loaded '{md_text(upload.name)}'. Undo brings back the design you had.")


def render_upload() -> None:
    st.file_uploader("Load a design from JSON", type=["json"], key="dz.upload", on_change=_on_upload,
                     help='A spec file: {"input": [C, H, W], "layers": [...]} (what "Download JSON" gives)')

