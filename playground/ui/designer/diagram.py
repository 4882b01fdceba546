"""The network diagram beside the layer list: the classic CNN figure, redrawn on every edit.

Feature maps are pseudo-3D blocks (face: the map's rows and columns, depth: its channels, log scales),
1-D layers thin bars, branches lanes side by side joined at their merge, and long designs fold their
stages to one block each ("×N blocks"); the pills above the picture unfold them in one click, and the
stage holding the chosen layer is always unfolded. The chosen layer is outlined, its centre unit marked
and, on the input and every map feeding it, the region that unit sees. The geometry and both renderers
are pure (:mod:`playground.design.diagram_model`, ``diagram_layout``, ``diagram_render``); this module
adds the widgets, the caches and the downloads.

The picture holds no user text at all: only layer types from the spec's fixed set, numbers and fixed
words, shown with ``st.image``, which draws it as a picture, never as page markup. With
``show_shapes=False`` (a teacher's ``hide=shapes`` link) every block has the same size, no shape is
written, no field is marked and stages are fixed runs of layers, so the picture gives nothing away.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from typing import Any

import streamlit as st

from playground.design.diagram_layout import TYPE_COLOURS, Layout, layout_tree
from playground.design.diagram_model import MAX_DRAWN, chosen_field, diagram_tree, foldable, selected_names, stages
from playground.design.diagram_render import PNG_MAX_PIXELS, to_png, to_svg
from playground.design.expand import EXPANDABLE
from playground.design.view import DesignView
from playground.ui.replay import replayed

__all__ = ["diagram_svg", "diagram_png", "diagram_layout", "render_diagram", "TYPE_COLOURS", "UNFOLD_KEY",
           "DOWNLOAD_KEY", "OPEN_KEY"]

UNFOLD_KEY = "dz.diagram.unfold"   # + a digest of the stages: new stages, a fresh widget
OPEN_KEY = "dz.diagram.open"
DOWNLOAD_KEY = "dz.diagram.download"  # the expander holding the SVG / PNG downloads
_PNG_MEMORY, _PNG_CPU_S, _PNG_WALL_S = 1 << 30, 30, 60.0  # the PNG's child process: ample for 40 megapixels
_CACHE_ENTRIES = 64  # one entry per design × options; an SVG is a few tens of KB
_Options = tuple[tuple[str, ...], bool, tuple[int, ...], bool]  # selected, show_shapes, unfolded, open_blocks


def diagram_layout(view: DesignView, *, selected: Collection[int | str] = frozenset(), show_shapes: bool = True,
                   unfolded: Collection[int] = (), open_blocks: bool = False) -> Layout:
    """The diagram's geometry (see :func:`diagram_svg` for the options)."""
    tree = diagram_tree(view, selected=selected, show_shapes=show_shapes, unfolded=unfolded,
                        open_blocks=open_blocks)
    return layout_tree(tree, show_shapes=show_shapes)


def diagram_svg(view: DesignView, *, selected: Collection[int | str] = frozenset(), show_shapes: bool = True,
                unfolded: Collection[int] = (), open_blocks: bool = False) -> str:
    """The SVG of the design (see the module doc).

    ``selected``: the layers to outline, as top-level indices or path-qualified names (``"4.1.0"``); the
    first one found is the chosen layer whose field is traced. ``unfolded``: numbers of the stages to draw
    layer by layer (a long design folds the others); ``open_blocks``: draw named blocks' insides.
    """
    return to_svg(diagram_layout(view, selected=selected, show_shapes=show_shapes, unfolded=unfolded,
                                 open_blocks=open_blocks))


def diagram_png(view: DesignView, *, selected: Collection[int | str] = frozenset(), show_shapes: bool = True,
                unfolded: Collection[int] = (), open_blocks: bool = False) -> bytes:
    """The same picture as :func:`diagram_svg`, as PNG bytes drawn with Pillow (twice the SVG's size)."""
    return to_png(diagram_layout(view, selected=selected, show_shapes=show_shapes, unfolded=unfolded,
                                 open_blocks=open_blocks))


def _has_blocks(view: DesignView) -> bool:
    return view.report is not None and any(r.type in EXPANDABLE for r in view.report.rows())


def render_diagram(view: DesignView, key: str, *, selected: Collection[int | str] = (), show_shapes: bool = True
                   ) -> None:
    """The stage pills, the picture (replayed while nothing it shows changed), its caption and downloads.

    ``key``: the design as canonical JSON (:func:`playground.ui.designer.results.spec_key`, which the page has
    computed already for its replayed summary): the cache key of the picture."""
    if view.report is None or view.parsed is None:
        return
    names = selected_names(selected)
    layers = view.report.layers
    folds = foldable(stages(layers, show_shapes=show_shapes), len(layers))
    unfolded: list[int] = []
    if folds:
        digest = hashlib.sha1(json.dumps([s.label for s in folds]).encode()).hexdigest()[:10]
        labels = {s.number: s.label for s in folds}
        run = "a run of layers at one map size" if show_shapes else "a run of layers"
        unfolded = st.pills("Unfold stages", list(labels), selection_mode="multi", format_func=labels.__getitem__,
                            key=f"{UNFOLD_KEY}.{digest}",
                            help=f"Each folded block stands for {run}; choose one to draw its layers (the stage of "
                                 "the layer chosen in the list is always drawn).") or []
    open_blocks = bool(_has_blocks(view) and st.toggle(
        "Open the named blocks", key=OPEN_KEY, help="Draw each named block (bottleneck, mbconv, inception...) "
        "as the layers and paths it stands for."))
    options = (tuple(sorted(names)), show_shapes, tuple(sorted(unfolded)), open_blocks)
    _picture(key, options, view)
    what = ("faces: each map's rows × columns, depth: its channels (log scales); thin bars: 1-D layers"
            if show_shapes else "sizes and shapes hidden on this link: every block is drawn the same")
    chosen = next((r for r in view.report.rows() if r.name in names), None)
    marks = (" Orange: the part of the input and of each earlier map that the centre unit (yellow) of the chosen "
             "layer sees: its receptive field." if show_shapes and chosen is not None and chosen_field(chosen)
             else "")
    merges = ("; ⊕ add, ‖ concat, ⊗ multiply join a branch's paths"
              if open_blocks or any(r.children for r in view.report.layers) else "")
    big = (f" At most {MAX_DRAWN} layers are drawn one by one: past that, the largest stages stay folded."
           if sum(1 for _ in view.report.rows()) > MAX_DRAWN else "")
    st.caption(f"The network, input at the top ({what}){merges}; outlined: the layer chosen in the list.{marks}{big}")
    # Drawn only while open (a class rarely downloads): a page run pays for one expander, not two buttons,
    # and both files are made only when their button is clicked.
    with st.expander("Download the diagram (SVG, PNG)", icon=":material/download:", key=DOWNLOAD_KEY,
                     on_change="rerun") as box:
        if not box.open:
            return
        row = st.container(horizontal=True, gap="small")
        row.download_button("SVG", lambda: _svg_text(key, options, view), file_name="network.svg",
                            mime="image/svg+xml", on_click="ignore", icon=":material/download:", key="dz.diagram.svg",
                            help="The diagram as a vector picture")
        if not _png_fits(_svg_text(key, options, view)):
            st.caption("This picture is too large for a PNG: fold some stages, or download the SVG.")
            return
        row.download_button("PNG", lambda: _png_bytes(options, view), file_name="network.png", mime="image/png",
                            on_click="ignore", icon=":material/download:", key="dz.diagram.png",
                            help="The diagram as a picture, twice the size shown (for slides)")


def _options(options: _Options) -> dict[str, Any]:
    names, show_shapes, unfolded, open_blocks = options
    return {"selected": names, "show_shapes": show_shapes, "unfolded": unfolded, "open_blocks": open_blocks}


@st.cache_data(show_spinner=False, max_entries=_CACHE_ENTRIES)
def _svg_text(key: str, options: _Options, _view: DesignView) -> str:
    """The SVG of the design ``key`` names (``_view``: its analysis, not hashed) with ``options``."""
    return diagram_svg(_view, **_options(options))


def _png_bytes(options: _Options, view: DesignView) -> bytes:
    """The PNG, drawn only when its download is clicked, in a limited child process: up to 40 megapixels and
    a second or two of Pillow's time for a 400-layer picture, which the server's own process never spends."""
    from playground.sandbox import run_limited

    return run_limited(_png_in_child, view.spec, options, memory_bytes=_PNG_MEMORY, cpu_seconds=_PNG_CPU_S,
                       wall_seconds=_PNG_WALL_S, what="drawing the diagram as a PNG")


def _png_in_child(spec: dict[str, Any], options: _Options) -> bytes:
    from playground.design.view import compute

    return diagram_png(compute(spec), **_options(options))


def _png_fits(svg: str) -> bool:
    """Whether the picture (the SVG's own size) can be drawn as a PNG under PNG_MAX_PIXELS (at least at 1x)."""
    size = re.search(r'<svg[^>]*\bwidth="([\d.]+)"[^>]*\bheight="([\d.]+)"', svg)
    return size is None or float(size[1]) * float(size[2]) <= PNG_MAX_PIXELS


@replayed
def _picture(key: str, options: _Options, _view: DesignView) -> None:
    # At its own size (never stretched, so labels keep theirs); only a figure wider than the column shrinks.
    st.image(_svg_text(key, options, _view), width="content")
