"""The Architectures page's three panels: the catalogue table, one model's panel, CNN vs ViT
(their figures are in :mod:`playground.ui.architectures.figures`)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from playground._format import format_dims, format_pair, human
from playground.arch.landmarks import LANDMARKS, designer_spec, torchvision_metrics
from playground.arch.measure import (
    ArchitectureError,
    analyze_architecture,
    catalogue,
    macs_vs_resolution,
    resnet50_flops_explained,
)
from playground.arch.report import ArchReport
from playground.concepts import designer_url
from playground.ui.architectures import METRIC_KEY, MODEL_KEY, OTHER_KEY, SIDE_KEY, SOURCE_KEY
from playground.ui.architectures.figures import error_bubbles, per_pixel_curve, resolution_curve
from playground.ui.replay import arrow_table, replayed
from playground.ui.text import show_error

__all__ = ["render_catalogue", "render_model", "render_cnn_vs_vit", "MISSING", "VIT_SIDES", "BASE_SIDE",
           "PANEL_WIDGETS"]

BASE_SIDE = 224  # the input side every model is compared at (ImageNet's usual crop)
# The widgets of the catalogue and the one-model panel and their defaults, in tab order: kept while the
# tab is closed (playground.ui.tabs.lazy_tabs); the widgets take their defaults from here.
PANEL_WIDGETS: tuple[dict[str, object], ...] = (
    {METRIC_KEY: "Top-5", SOURCE_KEY: "Paper"},
    {MODEL_KEY: "resnet50", OTHER_KEY: "resnet34", SIDE_KEY: BASE_SIDE},
)

# Square input sides for the CNN-vs-ViT sweep: multiples of 16 (ViT-B/16's patch), 224 to 1024.
VIT_SIDES = tuple(range(224, 1025, 80))


@st.cache_data(show_spinner="Building every architecture (no weights) and tracing its graph…")
def _catalogue() -> list[dict[str, Any]]:
    return catalogue(BASE_SIDE)


@st.cache_data(show_spinner="Measuring MACs at each resolution…")
def _sweep(name: str, sides: tuple[int, ...]) -> list[dict[str, int]]:
    return macs_vs_resolution(name, sides)


MISSING = "—"  # what an empty cell shows; the column's help says why it is empty


def _designer_link(key: str) -> str | None:
    """The Designer link of a catalogue model the spec can express (None otherwise)."""
    spec = designer_spec(key)
    return designer_url(spec) if spec is not None else None


def _catalogue_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalogue rows (from :func:`playground.arch.measure.catalogue`) as the table's records."""
    return [{
        "Model": r["title"], "Year": r["year"], "Params": r["params"], "GMACs @224": r["macs"] / 1e9,
        "Depth": r["depth"], "Receptive field": r["receptive_field"],
        "Top-5 err. (paper)": r["paper_top5_error"], "Top-1 err. (paper)": r["paper_top1_error"],
        "Top-5 err. (torchvision)": r["tv_top5_error"],
        "Designer": _designer_link(r["key"]) if r["designer"] else None,
        "How measured (paper)": r["protocol"], "Depth as the paper counts": r["published_depth"],
        "Key idea": r["key_idea"],
    } for r in rows]


def _catalogue_columns(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Formats, and help naming the models whose cell is empty and why."""
    def without(key: str) -> str:
        return ", ".join(r["title"] for r in rows if r[key] is None) or "none"

    number, percent = st.column_config.NumberColumn, "%.2f %%"
    return {
        # Wide enough for the longest name ("MobileNet-V3-Large") and for "Open in designer" at a 1400 px window
        "Model": st.column_config.TextColumn(pinned=True, width=150),  # in view while the wide columns scroll
        "Params": number(format="localized"),
        "GMACs @224": number(format="%.3f"),
        "Receptive field": number(
            format="localized",
            help="Input pixels seen by one unit of the last feature map, largest over all paths. ViT: one 16×16 "
                 "patch, before self-attention lets every token see the whole image; squeeze-and-excitation "
                 "gates (MobileNet-V3, EfficientNet) also see the whole image."),
        "Top-5 err. (paper)": number(format=percent, help=f"{MISSING}: the paper reports only top-1 "
                                                          f"({without('paper_top5_error')})."),
        "Top-1 err. (paper)": number(format=percent, help=f"{MISSING}: the headline is a competition test-set "
                                                          "top-5, which has no top-1 "
                                                          f"({without('paper_top1_error')}). AlexNet's top-1 is "
                                                          "on validation."),
        "Designer": st.column_config.LinkColumn(
            display_text="Open in designer", width=130,
            help=f"Opens the designer on this exact network as a layer spec (224×224 input). {MISSING}: the "
                 "designer's layer spec cannot express it (Inception branches, inverted residuals with "
                 "squeeze-and-excitation, ConvNeXt blocks, attention)."),
        "Top-5 err. (torchvision)": number(format=percent, help="torchvision's own weights: one model, one centre "
                                                                f"crop, ImageNet validation. {MISSING}: torchvision "
                                                                f"has no such model ({without('tv_top5_error')})."),
    }


def _table_height(n_rows: int) -> int:
    """Pixels for a dataframe showing all ``n_rows`` rows without an inner scrollbar."""
    return 35 * (n_rows + 1) + 3


def render_catalogue() -> None:
    """The table of every model at 224×224, the two error plots, the sources and the FLOPs note."""
    _render_table()
    metric, source = _error_choice()
    _render_error_plots(metric, source)
    _render_sources()
    _render_flops_note()


@replayed
def _render_table() -> None:
    rows = _catalogue()
    # Fits a 1400 px window: the model name stays pinned while the wide columns scroll beside it.
    st.dataframe(arrow_table(_catalogue_records(rows)), hide_index=True, height=_table_height(len(rows)),
                 column_config=_catalogue_columns(rows), placeholder=MISSING, width="stretch")
    st.caption(
        "Params, MACs (conv + linear + attention matmuls), depth (conv and linear layers on the longest path) "
        "and the receptive field of the last feature map are measured now on torchvision's definitions. "
        "Errors: *paper* is the headline figure as published (protocols differ, see “How measured”; "
        f"{MISSING} where the paper does not give it); *torchvision* is its own weights, one model, one centre crop."
    )


def _error_choice() -> tuple[str, str]:
    """The error (top-5/top-1) and source (paper/torchvision) the plots show, as the user picks them."""
    c1, c2 = st.columns(2)
    metric = c1.segmented_control("Error", ["Top-5", "Top-1"], key=METRIC_KEY) or "Top-5"
    source = c2.segmented_control("Source", ["Paper", "torchvision weights"], key=SOURCE_KEY) or "Paper"
    return metric, source


@replayed
def _render_error_plots(metric: str, source: str) -> None:
    """Error against parameters and against MACs, for the error and source the user picks."""
    rows = _catalogue()
    prefix = "paper" if source == "Paper" else "tv"
    error_key = f"{prefix}_top{metric[-1]}_error"
    by_params, by_macs = _error_figures(metric, source)
    left, right = st.columns(2)
    left.plotly_chart(by_params, key="arch_params_plot")
    right.plotly_chart(by_macs, key="arch_macs_plot")
    odd = [f"{r['title']} {r[prefix + '_side']}×{r[prefix + '_side']}" for r in rows
           if r[prefix + "_side"] != BASE_SIDE and r[error_key] is not None]
    if odd:
        st.caption(":material/straighten: MACs are counted at the input size the error was measured at: 224×224, "
                   f"except {', '.join(odd)}.")
    missing = [r["title"] for r in rows if r[error_key] is None]
    if missing:
        st.caption(f":material/info: Not plotted (no {metric.lower()} figure from this source): {', '.join(missing)}.")


@lru_cache(maxsize=8)
def _error_figures(metric: str, source: str) -> tuple[go.Figure, go.Figure]:
    """The two error plots, built once per (error, source) for every session: building and validating
    a plotly figure costs more server CPU than the rest of the page (st.plotly_chart only reads it)."""
    prefix = "paper" if source == "Paper" else "tv"
    error_key = f"{prefix}_top{metric[-1]}_error"
    points = [dict(r, ensemble=r["ensemble"] and source == "Paper") for r in _catalogue()]
    title = f"ImageNet {metric.lower()} error ({source.lower()})"
    return (error_bubbles(points, "params", "Parameters", error_key, title),
            error_bubbles(points, f"{prefix}_macs", "MACs at the evaluation resolution", error_key, title))


@st.cache_data(show_spinner=False)
def _flops_explained() -> dict[str, int]:
    # It builds and traces two ResNet-50s (seconds): once per server, not on every run of the page.
    return resnet50_flops_explained()


@lru_cache(maxsize=1)
def _vit_figures() -> tuple[go.Figure, go.Figure]:
    """The CNN-vs-ViT curves, built once for every session (see _error_figures)."""
    cnn, vit = _sweep("resnet50", VIT_SIDES), _sweep("vit_b_16", VIT_SIDES)
    return (resolution_curve(cnn, vit, "ResNet-50", "ViT-B/16"), per_pixel_curve(cnn, vit, "ResNet-50", "ViT-B/16"))


@replayed
def _render_sources() -> None:
    with st.expander("Sources", icon=":material/menu_book:"):
        st.markdown("\n".join(
            f"- **{entry.title}**: {entry.paper}. "
            + " ".join(f"{_errors(result, capital=True)} ({result.source}: {result.protocol})."
                       for result in entry.results)
            for entry in LANDMARKS.values()
        ))
        st.caption("The first figure of each model is the one in the table and plots.")


@replayed
def _render_flops_note() -> None:
    with st.expander("Why do papers say ResNet-50 is 3.8 GFLOPs, while tools say 4.09 G?",
                     icon=":material/help:"):
        f = _flops_explained()
        st.markdown(
            f"""Two things differ, and both are measured here on the real graph.

1. **Which ResNet-50.** torchvision builds “ResNet v1.5”: in the first bottleneck of stages 2–4 the stride-2
   sits on the 3×3 conv. He et al. (2015) put it on the first 1×1 conv, so the 3×3 conv after it works on a
   map 4× smaller.
   The same network with the stride moved back costs **{f['v1_macs']:,}** MACs ({f['v1_macs'] / 1e9:.2f} G,
   the paper's “3.8 × 10⁹”), against **{f['v1_5_macs']:,}** ({f['v1_5_macs'] / 1e9:.2f} G) for v1.5,
   with exactly the same {f['v1_5_params']:,} parameters.
2. **What a “FLOP” is.** The paper, and tools such as torchvision's model table, count *multiply-adds*
   (one multiply and one add = 1). Counting them as two floating-point operations gives
   {f['v1_5_flops'] / 1e9:.2f} GFLOPs for the same v1.5 network. Batch norm, ReLU and the additions of the
   skip connections are left out by both conventions."""
        )


def _designer_button(key: str) -> None:
    spec = designer_spec(key)
    if spec is None:
        st.caption(":material/block: The designer's layer spec cannot express this model: it is a Transformer, "
                   "and self-attention has no layer-spec equivalent (every CNN opens as an exact design).")
        return
    st.link_button("Open in designer", designer_url(spec), icon=":material/architecture:",
                   help="Opens the designer on this exact network as a layer spec (same parameters and MACs), at the "
                        "input size its weights were evaluated at.")


_OTHER = "other"  # the selectbox entry for any torchvision classifier outside the catalogue


def _pick_model() -> tuple[str, int]:
    keys = [*LANDMARKS, _OTHER]
    c1, c2 = st.columns([2, 1])
    key = c1.selectbox("Model", keys, key=MODEL_KEY,
                       format_func=lambda k: LANDMARKS[k].title if k in LANDMARKS else "Another torchvision model…")
    if key == _OTHER:
        key = c1.text_input("torchvision model name", key=OTHER_KEY,
                            help="Any name from torchvision.models.list_models(), e.g. densenet121, swin_t, "
                                 "regnet_y_400mf, inception_v3 (built without weights).").strip()
    side = int(c2.number_input("Input side (pixels)", min_value=32, max_value=2048, step=16, key=SIDE_KEY,
                               help="Square input; ViT needs a multiple of 16."))
    return key, side


def _errors(result: Any, capital: bool = False) -> str:
    """'top-1 error 22.85%, top-5 error 6.71%' (only the figures the paper gives)."""
    parts = [f"top-1 error {result.top1_error:g}%" if result.top1_error is not None else "",
             f"top-5 error {result.top5_error:g}%" if result.top5_error is not None else ""]
    text = ", ".join(p for p in parts if p)
    return text[:1].upper() + text[1:] if capital else text


def _render_literature(key: str) -> None:
    entry = LANDMARKS.get(key)
    if entry is None:
        return
    st.markdown(f"**{entry.title}** ({entry.year}). {entry.key_idea}")
    for result in entry.results:
        st.markdown(f"- {_errors(result)}: {result.protocol} — *{entry.paper}*, {result.source}.")
    tv = torchvision_metrics(key)
    if tv:
        crop = tv["resolution"]
        st.markdown(f"- torchvision's weights (`{tv['weights']}`), one model, one {crop}×{crop} crop: "
                    f"top-1 error {tv['top1_error']:.2f}%, top-5 error {tv['top5_error']:.2f}%.")
    if entry.note:
        st.caption(f":material/info: {entry.note}")


def _aligned_note(report: ArchReport) -> str:
    """' Every merge ... same grid.' when the graph has merges (residual adds, Inception concats), else ''."""
    merges = sum(layer.type in ("add", "iadd", "cat", "concat") and layer.receptive_field is not None
                 for layer in report.layers)
    return f" All {merges} merges join branches on the same grid (same jump and start)." if merges else ""


def render_model() -> None:
    """One model: numbers at 224 and at a chosen resolution, per-stage table, every layer."""
    key, side = _pick_model()
    try:
        at224 = analyze_architecture(key)
        report = analyze_architecture(key, (3, side, side))
    except ArchitectureError as exc:
        show_error(exc, icon=":material/error:")  # it may quote what the user typed
        return
    _render_metrics(at224, report, side)
    _render_literature(report.model)
    if report.attention_macs:
        st.caption(f"MACs: conv {report.conv_macs:,} + linear {report.linear_macs:,} + attention QKᵀ/AV "
                   f"{report.attention_macs:,}.")
    for note in report.notes:
        st.caption(f":material/info: {note}")
    _designer_button(report.model)
    st.subheader("Per stage")
    _render_stages(report)
    with st.expander(f"Every layer ({len(report.layers)} nodes of the traced graph)", icon=":material/table:"):
        _render_layers(report)


def _render_metrics(at224: ArchReport, report: ArchReport, side: int) -> None:
    """Parameters, MACs at 224 (and at ``side`` when it differs), depth, receptive field at ``side``."""
    entry = LANDMARKS.get(report.model)
    rf = None if report.receptive_field is None else [int(v) for v in report.receptive_field]
    cells = iter(st.columns(5 if side != BASE_SIDE else 4))
    next(cells).metric("Parameters", human(at224.total_params), help=f"{at224.total_params:,}")
    next(cells).metric(f"MACs at {BASE_SIDE}×{BASE_SIDE}", human(at224.total_macs), help=f"{at224.total_macs:,}")
    if side != BASE_SIDE:
        next(cells).metric(f"MACs at {side}×{side}", human(report.total_macs), help=f"{report.total_macs:,}")
    next(cells).metric("Depth", report.depth, help="Conv and linear layers on the longest path through the graph."
                       + (f" The paper counts: {entry.published_depth}." if entry else ""))
    next(cells).metric("Receptive field", format_pair(rf, missing="n/a"),
                       help=f"Of the last feature map ({report.rf_layer}), at {side}×{side}; largest field over "
                            "all paths." + (f" {len(report.misaligned)} merges join branches on misaligned grids "
                                            "(see the note below)." if report.misaligned else _aligned_note(report)))


def _render_stages(report: ArchReport) -> None:
    number = st.column_config.NumberColumn
    st.dataframe(
        [{"Stage": s.label, "From": s.first, "To": s.last, "Output shape": format_dims(s.output_shape),
          "Params": s.params, "MACs": s.macs,
          "Receptive field": None if s.receptive_field is None else int(s.receptive_field[0])}
         for s in report.stages],
        hide_index=True, height=_table_height(len(report.stages)), placeholder=MISSING,
        column_config={"Params": number(format="localized"), "MACs": number(format="localized"),
                       "Receptive field": number(help=f"Of the stage's last map, largest over all paths; {MISSING} "
                                                      "once the layout is no longer spatial (after global pooling, "
                                                      "flattening or tokenising).")},
    )


def _render_layers(report: ArchReport) -> None:
    number = st.column_config.NumberColumn
    st.dataframe(
        [{"Layer": layer.name, "Type": layer.type, "Output shape": format_dims(layer.output_shape),
          "Params": layer.params, "MACs": layer.macs,
          "RF": None if layer.receptive_field is None else int(layer.receptive_field[0]),
          "Jump": None if layer.jump is None else int(layer.jump[0]),
          "Misaligned": layer.misaligned} for layer in report.layers],
        hide_index=True, height=400, placeholder=MISSING,
        column_config={"Params": number(format="localized"), "MACs": number(format="localized"),
                       "RF": number(help=f"Receptive field; {MISSING} once the layout is no longer spatial."),
                       "Misaligned": st.column_config.CheckboxColumn(
                           help="A merge whose branches' grids differ in jump or start: the larger field "
                                "is kept.")},
    )


def render_cnn_vs_vit() -> None:
    """MACs of ResNet-50 and ViT-B/16 as the input grows: linear in pixels vs quadratic in tokens."""
    cnn, vit = _sweep("resnet50", VIT_SIDES), _sweep("vit_b_16", VIT_SIDES)
    by_side, per_pixel = _vit_figures()
    st.plotly_chart(by_side, key="arch_vit_curve")
    first, last = (cnn[0], vit[0]), (cnn[-1], vit[-1])
    tokens = lambda side: (side // 16) ** 2 + 1  # noqa: E731 - patches plus the class token
    st.markdown(
        f"""From {VIT_SIDES[0]}² to {VIT_SIDES[-1]}² pixels (×{last[0]['pixels'] / first[0]['pixels']:.1f}):
ResNet-50 goes from {first[0]['total_macs'] / 1e9:.2f} to {last[0]['total_macs'] / 1e9:.1f} GMACs
(×{last[0]['total_macs'] / first[0]['total_macs']:.1f}, the same factor as the pixels: every conv costs a
fixed amount per output position). ViT-B/16 goes from {first[1]['total_macs'] / 1e9:.2f} to
{last[1]['total_macs'] / 1e9:.1f} GMACs (×{last[1]['total_macs'] / first[1]['total_macs']:.1f}): its
projections and MLPs grow with the number of tokens ({tokens(VIT_SIDES[0])} → {tokens(VIT_SIDES[-1])}),
but attention compares every token with every other, so QKᵀ and AV grow with its square — from
{first[1]['attention_macs'] / first[1]['total_macs']:.0%} of the total to
{last[1]['attention_macs'] / last[1]['total_macs']:.0%}."""
    )
    st.plotly_chart(per_pixel, key="arch_vit_per_pixel")
    st.caption("Counted: every conv and linear layer (ViT's Q, K, V and output projections included) plus "
               "attention's two activation products; softmax, norms and additions are not counted. "
               "ViT's position embedding is resized with the input, as fine-tuning at a higher resolution does.")
