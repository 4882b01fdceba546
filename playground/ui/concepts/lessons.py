"""The Concepts page's lessons: one render function per lesson, and the widgets each one keeps.

Every number shown comes from :mod:`playground.concepts` (which asks the designer's analysis), and
every lesson ends with a link that opens the designer on the same stack. The Plotly figures
at the end are pure (arrays in, figure out).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground import concepts as C
from playground._format import format_dims
from playground.design.analysis import Report
from playground.design.compare import compare_url
from playground.design.rfview import fit_photo
from playground.ui.concepts import (
    DW_IN_KEY,
    DW_K_KEY,
    DW_OUT_KEY,
    ERF_DEPTH_KEY,
    ERF_KIND_KEY,
    KERNEL_PRESET_KEY,
    PAD_KERNEL_KEY,
    PAD_SIZE_KEY,
    RF_DEPTH_KEY,
    RF_DILATION_KEY,
    RF_STRIDE_KEY,
    SKIP_DEPTH_KEY,
    TRAINED_ERF_LAYER_KEY,
)
from playground.ui.concepts.erf_trained import DEFAULT_TRAINED_ERF_LAYER
from playground.ui.concepts.experiments import experiment_panel
from playground.ui.concepts.figures import (
    apply_conv,
    apply_maxpool,
    conv_as_dense,
    gray_photo,
    memo_dense_matrix,
    memo_gradient_lines,
    memo_image_map,
    rf_picture,
)
from playground.ui.pictures import show_image
from playground.ui.plot_axes import set_integer_x
from playground.ui.replay import replayed

__all__ = ["render_convolution", "render_padding_stride", "render_receptive_field", "render_effective_field",
           "DESIGNER_PADDING",
           "render_dwsep", "render_skip", "shape_text", "LESSON_WIDGETS", "KERNEL_EDITS"]

KERNEL_EDITS = "cc_kernel_edits"  # not a widget: the edited 3×3 grid per preset, kept while its tab is closed
# The widgets of each lesson and their defaults, in tab order: kept while the lesson's tab is closed
# (playground.ui.tabs.lazy_tabs); the widgets take their defaults from here, not from their own arguments.
LESSON_WIDGETS: tuple[dict[str, object], ...] = (
    {KERNEL_PRESET_KEY: "Sobel x (vertical edges)"},
    {PAD_SIZE_KEY: 32, PAD_KERNEL_KEY: 3},
    {RF_DEPTH_KEY: 3, RF_STRIDE_KEY: 1, RF_DILATION_KEY: 1},
    {ERF_DEPTH_KEY: 8, ERF_KIND_KEY: C.ERF_KINDS[0]},
    {DW_IN_KEY: 128, DW_OUT_KEY: 128, DW_K_KEY: 3},
    {SKIP_DEPTH_KEY: 30},
    {TRAINED_ERF_LAYER_KEY: DEFAULT_TRAINED_ERF_LAYER},
)

_DESIGN = ":material/architecture:"


# The Designer's new conv2d differs from PyTorch's default (design/fields.py): said where the default is taught
DESIGNER_PADDING = ("In the Designer, a conv2d you add starts with padding 1: *same* padding for its 3×3 kernel, so a "
                    "new layer keeps the map's size while you build. PyTorch's own default, which a layer written "
                    "without `padding` gets (in the Designer's JSON too), is 0: *valid*.")


def shape_text(report: Report) -> str:
    """'30×30' for a (C, 30, 30) output; the whole shape when it is not a feature map."""
    shape = C.output_of(report)
    return format_dims(shape[1:] if len(shape) == 3 else shape)


def _designer(label: str, spec: dict[str, Any], key: str) -> None:
    st.link_button(label, C.designer_url(spec), icon=_DESIGN, key=key,
                   help="Opens the designer on exactly this stack (share link).")


Link = tuple[str, dict[str, Any], str]  # a designer link: label, spec, widget key


def _designer_pair(*links: Link, compare: str | None = None) -> None:
    """Side-by-side designer links, one per (label, spec, widget key); with ``compare`` (what the two
    links open), a link to the designer's Compare tab with the first two side by side."""
    for column, link in zip(st.columns(len(links)), links):
        with column:
            _designer(*link)
    if compare:
        st.markdown(f"[{_DESIGN} Compare {compare} side by side in the designer]"
                    f"({compare_url(links[0][1], links[1][1])})")


def _kernel_editor() -> np.ndarray:
    """Preset picker plus an editable 3×3 grid; the grid resets when the preset changes."""
    preset = st.selectbox("Kernel preset", list(C.KERNELS), key=KERNEL_PRESET_KEY)
    edits = st.session_state.setdefault(KERNEL_EDITS, {})
    # The edited grid, not the preset's, so an edit survives the tab being closed (the editor's own
    # state does not); its identity is the key and the shape, so the edits in progress stay too.
    grid = np.array(edits.get(preset, C.KERNELS[preset]), dtype=np.float64)
    edited = st.data_editor(grid, key=f"cc_kernel_{preset}", hide_index=True, placeholder="—",
                            column_config={str(i): st.column_config.NumberColumn(f"col {i}", format="%.3f")
                                           for i in range(3)})
    kernel = np.asarray(edited, dtype=np.float64).reshape(3, 3)
    if np.isnan(kernel).any():
        st.warning("Empty cells (—) count as 0.", icon=":material/warning:")
        kernel = np.nan_to_num(kernel)
    edits[preset] = kernel.tolist()
    st.session_state["cc_kernel"] = kernel  # the stride lesson reuses the same kernel
    return kernel


def _kernel_key(kernel: np.ndarray) -> tuple[float, ...]:
    """The kernel as a cache key of plain floats."""
    return tuple(float(v) for v in np.asarray(kernel, dtype=np.float64).ravel())


def render_convolution(photo: Image.Image, digest: str) -> None:
    """An editable 3×3 kernel on the photo, then the same mapping as a conv and as a dense layer."""
    left, right = st.columns([1, 2])
    with left:
        kernel = _kernel_editor()
        st.caption("Each output pixel is the sum of the 3×3 patch under the kernel, weighted by these 9 "
                   "numbers (PyTorch's `conv2d`, no padding). Edit any cell.")
    with right:
        _convolution_maps(digest, _kernel_key(kernel), photo)
    # Link buttons count as widgets, which Streamlit never replays: the replayed parts return them.
    _designer_pair(*_parameter_sharing(digest, _kernel_key(kernel), photo))


@replayed
def _convolution_maps(digest: str, kernel_values: tuple[float, ...], _photo: Image.Image) -> None:
    """The photo and its feature map (``digest`` stands for the photo in the cache key)."""
    gray = gray_photo(_photo)
    out = apply_conv(gray, np.array(kernel_values).reshape(3, 3))
    a, b = st.columns(2)
    a.plotly_chart(memo_image_map(gray, "Input"), key="cc_conv_in")
    b.plotly_chart(memo_image_map(out, "Feature map", signed=bool((out < 0).any())), key="cc_conv_out")


@replayed
def _parameter_sharing(digest: str, kernel_values: tuple[float, ...], _photo: Image.Image) -> tuple[Link, ...]:
    gray = gray_photo(_photo)
    kernel = np.array(kernel_values).reshape(3, 3)
    st.subheader("Parameter sharing")
    h, w = gray.shape
    share = C.parameter_sharing(h, w)
    conv, dense = share["conv"], share["dense"]
    st.write(f"The feature map above is a mapping from {h}×{w} input values to {shape_text(conv.report)} output "
             "values. A convolution does it with one 3×3 kernel reused at every position; a fully connected "
             "layer computing the same map needs one weight per (input, output) pair.")
    m = st.columns(3)
    m[0].metric("Conv 3×3 parameters", f"{conv.report.total_params:,}", help="9 weights + 1 bias")
    m[0].caption("9 weights + 1 bias: the 9 of a 3×3 kernel, plus the one number added to every output "
                 "(PyTorch's `bias=True` default).")
    m[1].metric("Fully connected parameters", f"{dense.report.total_params:,}",
                help=f"{h * w:,} inputs × {int(np.prod(C.output_of(conv.report))):,} outputs + one bias per output")
    m[2].metric("Ratio", f"{share.ratio('dense', 'conv'):,.0f}×")
    crop = gray[:8, :8]
    matrix = conv_as_dense(kernel, 8, 8)
    gap = float(np.abs(matrix @ crop.ravel() - apply_conv(crop, kernel).ravel()).max())
    st.plotly_chart(memo_dense_matrix(matrix, "The same conv as a dense 36×64 matrix, on an 8×8 crop"), key="cc_dense")
    st.caption(f"Row = one output pixel, column = one input pixel. Every row holds the same 9 numbers, shifted; "
               f"the rest is zero. Matrix × crop equals the convolution of the crop (largest difference "
               f"{gap:.1e}, float rounding).")
    return (("Open the conv in the designer", conv.spec, "cc_link_conv"),
            ("Open the fully connected version", dense.spec, "cc_link_dense"))


def render_padding_stride(photo: Image.Image, digest: str) -> None:
    """Valid vs same padding, then stride-2 conv vs 2×2 max-pool on the same photo."""
    st.subheader("Valid vs same padding")
    c1, c2 = st.columns(2)
    size = c1.slider("Input side", 8, 64, key=PAD_SIZE_KEY)
    k = c2.select_slider("Kernel size", [1, 3, 5, 7], key=PAD_KERNEL_KEY)
    kernel = st.session_state.get("cc_kernel", np.array(C.KERNELS["Sobel x (vertical edges)"]))
    _designer_pair(*_padding(digest, int(size), int(k), photo), compare="valid and same padding")
    st.subheader("Stride-2 convolution vs 2×2 max-pooling")
    _designer_pair(*_stride(digest, _kernel_key(kernel), photo), compare="the strided conv and the max-pool")
    experiment_panel("stride-vs-pooling")  # train both on shapes, then compare (playground.finetune.experiments)


@replayed
def _padding(digest: str, size: int, k: int, _photo: Image.Image) -> tuple[Link, ...]:
    photo = _photo
    both = C.padding_comparison(size, k)
    valid, same = both["valid"], both["same"]
    m = st.columns(3)
    m[0].metric("Input", f"{size}×{size}")
    m[1].metric("Valid padding (PyTorch's default)", shape_text(valid.report), help="padding=0: shrinks by k − 1")
    m[2].metric("Same padding", shape_text(same.report), help=f"padding={(k - 1) // 2} on each side for k={k}")
    small = gray_photo(fit_photo(photo, 1, (size, size)), size)
    box = np.full((k, k), 1.0 / (k * k))  # a k×k average: each output pixel is the mean of its window
    a, b, c = st.columns(3)
    # All three on the input's frame, one cell per input pixel: the valid output is drawn smaller, as it is.
    a.plotly_chart(memo_image_map(small, "Input", height=260, extent=size), key="cc_pad_in")
    b.plotly_chart(memo_image_map(apply_conv(small, box, padding="valid"), "Valid", height=260, extent=size),
                   key="cc_pad_valid")
    c.plotly_chart(memo_image_map(apply_conv(small, box, padding="same"), "Same", height=260, extent=size),
                   key="cc_pad_same")
    st.caption(f"Both run a {k}×{k} average filter, drawn at their true size on the {size}×{size} input's frame: "
               f"*valid* loses {(k - 1) // 2} pixel(s) on every side, *same* pads with zeros, which darkens the "
               "border.")
    st.caption(DESIGNER_PADDING)
    return (("Open valid padding in the designer", valid.spec, "cc_link_valid"),
            ("Open same padding in the designer", same.spec, "cc_link_same"))


@replayed
def _stride(digest: str, kernel_values: tuple[float, ...], _photo: Image.Image) -> tuple[Link, ...]:
    gray = gray_photo(_photo)
    kernel = np.array(kernel_values).reshape(3, 3)
    pair = C.downsample_comparison(*gray.shape)
    conv, pool = pair["conv"], pair["pool"]
    strided = apply_conv(gray, kernel, stride=2, padding=1)
    pooled = apply_maxpool(gray, 2)
    a, b = st.columns(2)
    a.plotly_chart(memo_image_map(strided, "Stride-2 conv (your kernel)", signed=bool((strided < 0).any())),
                   key="cc_stride")
    b.plotly_chart(memo_image_map(pooled, "2×2 max-pool"), key="cc_pool")
    cells = st.columns(4)
    cells[0].metric("Stride-2 conv output", shape_text(conv.report))
    cells[1].metric("Stride-2 conv parameters", f"{conv.report.total_params:,}", help="learned: 9 weights + 1 bias")
    cells[2].metric("Max-pool output", shape_text(pool.report))
    cells[3].metric("Max-pool parameters", f"{pool.report.total_params:,}", help="a fixed rule: keep the largest of 4")
    st.caption("Both halve the map. The pool keeps the strongest of each 2×2 block and learns nothing; the "
               "strided conv learns how to combine neighbours while it downsamples, which is why ResNet and "
               "EfficientNet use it.")
    return (("Open the strided conv in the designer", conv.spec, "cc_link_stride"),
            ("Open the max-pool in the designer", pool.spec, "cc_link_pool"))


def render_receptive_field(photo: Image.Image, digest: str) -> None:
    """N stacked 3×3 convs: field per layer (2N+1 with stride 1), and what stride and dilation change."""
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Stacked 3×3 convs (N)", 1, 10, key=RF_DEPTH_KEY)
    stride = c2.segmented_control("Stride of the first conv", [1, 2], required=True, key=RF_STRIDE_KEY)
    dilation = c3.segmented_control("Dilation of every conv", [1, 2, 3], required=True, key=RF_DILATION_KEY)
    n, stride, dilation = int(n), int(stride or 1), int(dilation or 1)
    _rf_metric(n, stride, dilation)
    left, right = st.columns([1, 1])
    with left:
        _designer("Open this stack in the designer", _rf_table(n, stride, dilation), "cc_link_rf")
    with right:
        _rf_photo(digest, n, stride, dilation, photo)


@lru_cache(maxsize=64)
def _stack(n: int, stride: int, dilation: int) -> C.Side:
    """The lesson's stack, analysed once: its metric, table and photo are replayed separately."""
    return C.stacked_fields(n, size=64, first_stride=stride, dilation=dilation)


@replayed
def _rf_metric(n: int, stride: int, dilation: int) -> None:
    field = C.field_of(_stack(n, stride, dilation).report.layers[-1])
    st.metric(f"Receptive field after {n} convs", f"{field[0]}×{field[1]}",
              help="From the designer's analysis of this stack")


@replayed
def _rf_table(n: int, stride: int, dilation: int) -> dict[str, Any]:
    """The per-layer table and its caption; returns the stack's spec for the designer link."""
    stack = _stack(n, stride, dilation)
    rows = [{"Layer": i + 1, "Receptive field": C.field_of(layer)[0], "Jump": C.field_of(layer, "jump")[0],
             "2N+1": 2 * (i + 1) + 1} for i, layer in enumerate(stack.report.layers)]
    st.dataframe(rows, hide_index=True)
    st.caption(
        "Each 3×3 conv adds (3 − 1) × dilation × jump pixels, where the jump is the product of the strides "
        "before it. With stride 1 and dilation 1 that is 2 per layer: 2N+1. A stride of 2 in the first "
        "layer doubles what every later layer adds; dilation d spreads the 3 taps over 2d+1 pixels.")
    return stack.spec


@replayed
def _rf_photo(digest: str, n: int, stride: int, dilation: int, _photo: Image.Image) -> None:
    photo = _photo
    last = _stack(n, stride, dilation).report.layers[-1]
    out_h, out_w = last.output_shape[1:]
    # Dots far apart (every n-th unit): one dot per unit of a stride-1 stack is a mesh that hides the photo
    picture, field, step = rf_picture(photo, input_shape=(1, 64, 64), receptive_field=last.receptive_field,
                                      jump=last.jump, start=last.start, output_hw=(out_h, out_w),
                                      unit=(out_h // 2, out_w // 2), max_side=420, grid_spacing=_RF_DOT_SPACING)
    every = "every unit's centre" if step == 1 else f"the centre of every {_ordinal(step)} unit in each direction"
    show_image(picture, width="content", caption=f"Field of the centre unit of the last layer on a 64×64 input: "
                                                 f"{field[0]}×{field[1]} pixels. Dots: {every}.")


_RF_DOT_SPACING = 42  # display pixels between two drawn unit centres on the 420-pixel lesson picture


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


_ERF_MAX_DEPTH = 16


@st.cache_data(show_spinner="Measuring gradients...", max_entries=64)
def _erf_row(depth: int, kind: str) -> dict[str, Any]:
    return C.erf_growth(depth, kind)


def render_effective_field() -> None:
    """Theoretical vs effective field over depth: linear vs roughly square-root growth."""
    c1, c2 = st.columns([2, 3])
    n = c1.slider("Depth (3×3 convs)", 2, _ERF_MAX_DEPTH, step=2, key=ERF_DEPTH_KEY)
    kind = c2.segmented_control("Stack", list(C.ERF_KINDS), required=True, key=ERF_KIND_KEY)
    _designer("Open this stack in the designer", _effective_field(int(n), str(kind or C.ERF_KINDS[0])), "cc_link_erf")


@replayed
def _effective_field(n: int, kind: str) -> dict[str, Any]:
    rows = [_erf_row(d, kind) for d in range(2, n + 1, 2)]
    last = rows[-1]
    m = st.columns(2)
    m[0].metric("Theoretical field", f"{last['theoretical']} px", border=True)
    m[1].metric("Effective field (95% of the gradient)", f"{last['effective']} px", border=True)
    fig = go.Figure()
    xs = [r["depth"] for r in rows]
    fig.add_trace(go.Scatter(x=xs, y=[r["theoretical"] for r in rows], name="theoretical", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=xs, y=[r["effective"] for r in rows], name="effective (measured)",
                             mode="lines+markers"))
    set_integer_x(fig, xs)  # a count of convs: no "3.5" between 3 and 4
    fig.update_layout(title="Receptive field vs depth", xaxis_title="3×3 convs", yaxis_title="pixels", height=320,
                      margin=dict(t=50, b=40, l=50, r=20), legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(fig, width="stretch", key="cc_erf_chart")
    st.caption("Every pixel of the theoretical field can reach the unit, but not equally: the gradient of the "
               "centre unit (averaged over random inits, Luo et al. 2016) piles up in the middle, because many "
               "more paths through the stack lead to central pixels. So the theoretical field grows linearly "
               "with depth and the effective one sub-linearly, roughly with its square root. Residual blocks "
               "add a short path around each pair of convs, which keeps the gradient even more central; "
               "dilation spreads each conv's taps, so both fields grow faster for the same depth.")
    return last["spec"]


def render_dwsep() -> None:
    """Regular vs depthwise-separable convolution, parameters and MACs for chosen channel counts."""
    c1, c2, c3 = st.columns(3)
    c_in = int(c1.number_input("Input channels", 1, 2048, key=DW_IN_KEY))
    c_out = int(c2.number_input("Output channels", 1, 2048, key=DW_OUT_KEY))
    k = int(c3.select_slider("Kernel size", [1, 3, 5, 7], key=DW_K_KEY))
    _designer_pair(*_dwsep(c_in, c_out, k), compare="the regular conv and the separable pair")


@replayed
def _dwsep(c_in: int, c_out: int, k: int) -> tuple[Link, ...]:
    cmp = C.dwsep_comparison(c_in, c_out, k, size=56)
    regular, separable = cmp["regular"], cmp["separable"]
    m = st.columns(3)
    m[0].metric("Regular conv parameters", f"{regular.report.total_params:,}", help=f"{c_out}·{c_in}·{k}²")
    m[1].metric("Depthwise-separable parameters", f"{separable.report.total_params:,}",
                help=f"{c_in}·{k}² (depthwise) + {c_in}·{c_out} (pointwise)")
    m[2].metric("Fewer parameters", f"{cmp.ratio('regular', 'separable'):.2f}×")
    m = st.columns(3)
    m[0].metric("Regular MACs (56×56 map)", f"{regular.report.total_macs:,}")
    m[1].metric("Depthwise-separable MACs", f"{separable.report.total_macs:,}")
    m[2].metric("Fewer MACs", f"{cmp.ratio('regular', 'separable', 'macs'):.2f}×")
    st.caption(f"A regular conv gives every output channel its own {c_in}×{k}×{k} filter: out·in·k². The separable "
               f"form filters each input channel alone (in·k²) and then mixes channels with a 1×1 conv (in·out). "
               f"The ratio is 1 / (1/out + 1/k²): at most k² = {k * k}, about 8–9× for 3×3 with a few hundred "
               "channels. Biases are left out, as in MobileNet (batch norm follows each conv).")
    return (("Open the regular conv in the designer", regular.spec, "cc_link_regular"),
            ("Open the separable pair in the designer", separable.spec, "cc_link_separable"))


@st.cache_data(show_spinner=False)
def _flows(depth: int) -> tuple[C.GradientFlow, C.GradientFlow]:
    return C.gradient_flow(depth, skip=False), C.gradient_flow(depth, skip=True)


def render_skip() -> None:
    """Gradient reaching each layer of a deep stack, with and without ``x + F(x)``."""
    _designer_pair(*_skip(int(st.slider("Layers", 5, 60, key=SKIP_DEPTH_KEY))),
                   compare="the plain and the residual stack")
    experiment_panel("skip-connections")  # train both on shapes, then compare (playground.finetune.experiments)


@replayed
def _skip(depth: int) -> tuple[Link, ...]:
    plain, residual = _flows(depth)
    m = st.columns(3)
    m[0].metric("Plain: gradient at layer 1 ÷ at the top", f"{plain.relative_signal[0]:.1e}")
    m[1].metric("With skips: gradient at layer 1 ÷ at the top", f"{residual.relative_signal[0]:.2g}")
    m[2].metric("Layer-1 weight gradient, skips vs plain", f"{residual.first_layer / plain.first_layer:.1e}×")
    st.plotly_chart(memo_gradient_lines([("plain: h = F(h)", plain.relative_signal),
                                    ("residual: h = h + F(h)", residual.relative_signal)],
                                   "‖∂loss/∂h‖ relative to the top layer"), key="cc_skip_plot")
    st.caption(
        f"Measured now: {depth} layers, each F(h) = conv3×3(relu(h)) with 16 channels and PyTorch's default "
        "init, no batch norm; one backward pass of a mean-squared loss (fixed seed). Without skips every layer "
        "multiplies the gradient by a factor below 1, so almost nothing reaches the first layers. With "
        "h + F(h) the derivative of each block is 1 + F′: the identity path carries the gradient down "
        "untouched, which is what let ResNet train 152 layers.")
    plain_spec, residual_spec = C.skip_specs(blocks=max(1, min(depth // 2, 30)))
    return (("Open the plain stack in the designer", plain_spec, "cc_link_plain"),
            ("Open the residual stack in the designer", residual_spec, "cc_link_residual"))
