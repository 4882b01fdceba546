"""Streamlit pieces of the Concepts page: one render function per lesson.

Every number shown comes from :mod:`playground.concepts` (which asks the designer's analysis), and
every lesson ends with a link that opens the designer on the same stack. The Plotly figures
at the end are pure (arrays in, figure out).
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from playground import concepts as C
from playground._format import format_dims
from playground.design.analysis import Report
from playground.design.rfview import draw_receptive_field, fit_photo
from playground.errors import PlaygroundError
from playground.models.inference import layer_names
from playground.models.registry import DEFAULT_MODEL
from playground.models.serving import ImageView, ResultCache, encode_image, image_digest, serving
from playground.ui.predict import get_model, show_image
from playground.ui.text import show_error

__all__ = ["render_convolution", "render_padding_stride", "render_receptive_field", "render_dwsep",
           "render_skip", "render_hierarchy", "shape_text", "image_map", "dense_matrix", "gradient_lines",
           "KERNEL_PRESET_KEY", "PAD_SIZE_KEY", "PAD_KERNEL_KEY", "RF_DEPTH_KEY", "RF_STRIDE_KEY",
           "DW_OUT_KEY", "SKIP_DEPTH_KEY", "ERF_DEPTH_KEY", "ERF_KIND_KEY", "render_effective_field"]

# Widget keys (session-state names) of the lessons' controls
KERNEL_PRESET_KEY = "cc_kernel_preset"                 # convolution: the 3×3 kernel preset
PAD_SIZE_KEY, PAD_KERNEL_KEY = "cc_pad_size", "cc_pad_k"  # padding: input side, kernel size
RF_DEPTH_KEY, RF_STRIDE_KEY = "cc_rf_n", "cc_rf_stride"  # receptive field: stacked convs, first stride
DW_OUT_KEY = "cc_dw_out"                               # depthwise separable: output channels
SKIP_DEPTH_KEY = "cc_skip_depth"                       # skip connections: number of layers

_DESIGN = ":material/architecture:"


def shape_text(report: Report) -> str:
    """'30×30' for a (C, 30, 30) output; the whole shape when it is not a feature map."""
    shape = C.output_of(report)
    return format_dims(shape[1:] if len(shape) == 3 else shape)


def _designer(label: str, spec: dict[str, Any], key: str) -> None:
    st.link_button(label, C.designer_url(spec), icon=_DESIGN, key=key,
                   help="Opens the designer on exactly this stack (share link).")


def _designer_pair(*links: tuple[str, dict[str, Any], str]) -> None:
    """Side-by-side designer links, one per (label, spec, widget key)."""
    for column, link in zip(st.columns(len(links)), links):
        with column:
            _designer(*link)


def _kernel_editor() -> np.ndarray:
    """Preset picker plus an editable 3×3 grid; the grid resets when the preset changes."""
    preset = st.selectbox("Kernel preset", list(C.KERNELS), index=list(C.KERNELS).index("Sobel x (vertical edges)"),
                          key=KERNEL_PRESET_KEY)
    grid = np.array(C.KERNELS[preset], dtype=np.float64)
    edited = st.data_editor(grid, key=f"cc_kernel_{preset}", hide_index=True, placeholder="—",
                            column_config={str(i): st.column_config.NumberColumn(f"col {i}", format="%.3f")
                                           for i in range(3)})
    kernel = np.asarray(edited, dtype=np.float64).reshape(3, 3)
    if np.isnan(kernel).any():
        st.warning("Empty cells (—) count as 0.", icon=":material/warning:")
        kernel = np.nan_to_num(kernel)
    st.session_state["cc_kernel"] = kernel  # the stride lesson reuses the same kernel
    return kernel


def render_convolution(photo: Image.Image) -> None:
    """An editable 3×3 kernel on the photo, then the same mapping as a conv and as a dense layer."""
    gray = _gray_photo(photo)
    left, right = st.columns([1, 2])
    with left:
        kernel = _kernel_editor()
        st.caption("Each output pixel is the sum of the 3×3 patch under the kernel, weighted by these 9 "
                   "numbers (PyTorch's `conv2d`, no padding). Edit any cell.")
    out = _apply_conv(gray, kernel)
    with right:
        a, b = st.columns(2)
        a.plotly_chart(_image_map(gray, "Input"), key="cc_conv_in")
        b.plotly_chart(_image_map(out, "Feature map", signed=bool((out < 0).any())), key="cc_conv_out")

    st.subheader("Parameter sharing")
    h, w = gray.shape
    share = C.parameter_sharing(h, w)
    conv, dense = share["conv"], share["dense"]
    st.write(f"The feature map above is a mapping from {h}×{w} input values to {shape_text(conv.report)} output "
             "values. A convolution does it with one 3×3 kernel reused at every position; a fully connected "
             "layer computing the same map needs one weight per (input, output) pair.")
    m = st.columns(3)
    m[0].metric("Conv 3×3 parameters", f"{conv.report.total_params:,}", help="9 weights + 1 bias")
    m[1].metric("Fully connected parameters", f"{dense.report.total_params:,}",
                help=f"{h * w:,} inputs × {int(np.prod(C.output_of(conv.report))):,} outputs + one bias per output")
    m[2].metric("Ratio", f"{share.ratio('dense', 'conv'):,.0f}×")
    crop = gray[:8, :8]
    matrix = _conv_as_dense(kernel, 8, 8)
    gap = float(np.abs(matrix @ crop.ravel() - _apply_conv(crop, kernel).ravel()).max())
    st.plotly_chart(_dense_matrix(matrix, "The same conv as a dense 36×64 matrix, on an 8×8 crop"), key="cc_dense")
    st.caption(f"Row = one output pixel, column = one input pixel. Every row holds the same 9 numbers, shifted; "
               f"the rest is zero. Matrix × crop equals the convolution of the crop (largest difference "
               f"{gap:.1e}, float rounding).")
    _designer_pair(("Open the conv in the designer", conv.spec, "cc_link_conv"),
                   ("Open the fully connected version", dense.spec, "cc_link_dense"))


def render_padding_stride(photo: Image.Image) -> None:
    """Valid vs same padding, then stride-2 conv vs 2×2 max-pool on the same photo."""
    st.subheader("Valid vs same padding")
    c1, c2 = st.columns(2)
    size = c1.slider("Input side", 8, 64, 32, key=PAD_SIZE_KEY)
    k = c2.select_slider("Kernel size", [1, 3, 5, 7], value=3, key=PAD_KERNEL_KEY)
    both = C.padding_comparison(size, k)
    valid, same = both["valid"], both["same"]
    m = st.columns(3)
    m[0].metric("Input", f"{size}×{size}")
    m[1].metric("Valid padding (PyTorch's default)", shape_text(valid.report), help="padding=0: shrinks by k − 1")
    m[2].metric("Same padding", shape_text(same.report), help=f"padding={(k - 1) // 2} on each side for k={k}")
    small = _gray_photo(fit_photo(photo, 1, (size, size)), size)
    box = np.full((k, k), 1.0 / (k * k))  # a k×k average: each output pixel is the mean of its window
    a, b, c = st.columns(3)
    a.plotly_chart(_image_map(small, "Input", height=260), key="cc_pad_in")
    b.plotly_chart(_image_map(_apply_conv(small, box, padding="valid"), "Valid", height=260), key="cc_pad_valid")
    c.plotly_chart(_image_map(_apply_conv(small, box, padding="same"), "Same", height=260), key="cc_pad_same")
    st.caption(f"Both run a {k}×{k} average filter. *Same* pads with zeros, which darkens the border.")
    _designer_pair(("Open valid padding in the designer", valid.spec, "cc_link_valid"),
                   ("Open same padding in the designer", same.spec, "cc_link_same"))

    st.subheader("Stride-2 convolution vs 2×2 max-pooling")
    gray = _gray_photo(photo)
    kernel = st.session_state.get("cc_kernel", np.array(C.KERNELS["Sobel x (vertical edges)"]))
    pair = C.downsample_comparison(*gray.shape)
    conv, pool = pair["conv"], pair["pool"]
    strided = _apply_conv(gray, kernel, stride=2, padding=1)
    pooled = _apply_maxpool(gray, 2)
    a, b = st.columns(2)
    a.plotly_chart(_image_map(strided, "Stride-2 conv (your kernel)", signed=bool((strided < 0).any())),
                   key="cc_stride")
    b.plotly_chart(_image_map(pooled, "2×2 max-pool"), key="cc_pool")
    cells = st.columns(4)
    cells[0].metric("Stride-2 conv output", shape_text(conv.report))
    cells[1].metric("Stride-2 conv parameters", f"{conv.report.total_params:,}", help="learned: 9 weights + 1 bias")
    cells[2].metric("Max-pool output", shape_text(pool.report))
    cells[3].metric("Max-pool parameters", f"{pool.report.total_params:,}", help="a fixed rule: keep the largest of 4")
    st.caption("Both halve the map. The pool keeps the strongest of each 2×2 block and learns nothing; the "
               "strided conv learns how to combine neighbours while it downsamples, which is why ResNet and "
               "EfficientNet use it.")
    _designer_pair(("Open the strided conv in the designer", conv.spec, "cc_link_stride"),
                   ("Open the max-pool in the designer", pool.spec, "cc_link_pool"))


def render_receptive_field(photo: Image.Image) -> None:
    """N stacked 3×3 convs: field per layer (2N+1 with stride 1), and what stride and dilation change."""
    c1, c2, c3 = st.columns(3)
    n = c1.slider("Stacked 3×3 convs (N)", 1, 10, 3, key=RF_DEPTH_KEY)
    stride = c2.segmented_control("Stride of the first conv", [1, 2], default=1, required=True, key=RF_STRIDE_KEY)
    dilation = c3.segmented_control("Dilation of every conv", [1, 2, 3], default=1, required=True,
                                    key="cc_rf_dilation")
    stack = C.stacked_fields(n, size=64, first_stride=stride, dilation=dilation)
    last = stack.report.layers[-1]
    field = C.field_of(last)
    st.metric(f"Receptive field after {n} convs", f"{field[0]}×{field[1]}",
              help="From the designer's analysis of this stack")
    rows = [{"Layer": i + 1, "Receptive field": C.field_of(layer)[0], "Jump": C.field_of(layer, "jump")[0],
             "2N+1": 2 * (i + 1) + 1} for i, layer in enumerate(stack.report.layers)]
    left, right = st.columns([1, 1])
    with left:
        st.dataframe(rows, hide_index=True)
        st.caption(
            "Each 3×3 conv adds (3 − 1) × dilation × jump pixels, where the jump is the product of the strides "
            "before it. With stride 1 and dilation 1 that is 2 per layer: 2N+1. A stride of 2 in the first "
            "layer doubles what every later layer adds; dilation d spreads the 3 taps over 2d+1 pixels.")
        _designer("Open this stack in the designer", stack.spec, "cc_link_rf")
    with right:
        out_h, out_w = last.output_shape[1:]
        picture, field = _rf_picture(photo, input_shape=(1, 64, 64), receptive_field=last.receptive_field,
                                     jump=last.jump, start=last.start, output_hw=(out_h, out_w),
                                     unit=(out_h // 2, out_w // 2), max_side=420)
        show_image(picture, width="content", caption=f"Field of the centre unit of the last layer on a 64×64 input: "
                                                     f"{field[0]}×{field[1]} pixels (dots: unit centres)")


ERF_DEPTH_KEY, ERF_KIND_KEY = "cc_erf_n", "cc_erf_kind"
_ERF_MAX_DEPTH = 16


@st.cache_data(show_spinner="Measuring gradients...", max_entries=64)
def _erf_row(depth: int, kind: str) -> dict[str, Any]:
    return C.erf_growth(depth, kind)


def render_effective_field() -> None:
    """Theoretical vs effective field over depth: linear vs roughly square-root growth."""
    c1, c2 = st.columns([2, 3])
    n = c1.slider("Depth (3×3 convs)", 2, _ERF_MAX_DEPTH, 8, step=2, key=ERF_DEPTH_KEY)
    kind = c2.segmented_control("Stack", list(C.ERF_KINDS), default=C.ERF_KINDS[0], required=True, key=ERF_KIND_KEY)
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
    fig.update_layout(title="Receptive field vs depth", xaxis_title="3×3 convs", yaxis_title="pixels", height=320,
                      margin=dict(t=50, b=40, l=50, r=20), legend=dict(orientation="h", y=-0.25))
    st.plotly_chart(fig, width="stretch", key="cc_erf_chart")
    st.caption("Every pixel of the theoretical field can reach the unit, but not equally: the gradient of the "
               "centre unit (averaged over random inits, Luo et al. 2016) piles up in the middle, because many "
               "more paths through the stack lead to central pixels. So the theoretical field grows linearly "
               "with depth and the effective one sub-linearly, roughly with its square root. Residual blocks "
               "add a short path around each pair of convs, which keeps the gradient even more central; "
               "dilation spreads each conv's taps, so both fields grow faster for the same depth.")
    _designer("Open this stack in the designer", last["spec"], "cc_link_erf")


def render_dwsep() -> None:
    """Regular vs depthwise-separable convolution, parameters and MACs for chosen channel counts."""
    c1, c2, c3 = st.columns(3)
    c_in = int(c1.number_input("Input channels", 1, 2048, 128, key="cc_dw_in"))
    c_out = int(c2.number_input("Output channels", 1, 2048, 128, key=DW_OUT_KEY))
    k = c3.select_slider("Kernel size", [1, 3, 5, 7], value=3, key="cc_dw_k")
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
    _designer_pair(("Open the regular conv in the designer", regular.spec, "cc_link_regular"),
                   ("Open the separable pair in the designer", separable.spec, "cc_link_separable"))


@st.cache_data(show_spinner=False)
def _flows(depth: int) -> tuple[C.GradientFlow, C.GradientFlow]:
    return C.gradient_flow(depth, skip=False), C.gradient_flow(depth, skip=True)


def render_skip() -> None:
    """Gradient reaching each layer of a deep stack, with and without ``x + F(x)``."""
    depth = st.slider("Layers", 5, 60, 30, key=SKIP_DEPTH_KEY)
    plain, residual = _flows(depth)
    m = st.columns(3)
    m[0].metric("Plain: gradient at layer 1 ÷ at the top", f"{plain.relative_signal[0]:.1e}")
    m[1].metric("With skips: gradient at layer 1 ÷ at the top", f"{residual.relative_signal[0]:.2g}")
    m[2].metric("Layer-1 weight gradient, skips vs plain", f"{residual.first_layer / plain.first_layer:.1e}×")
    st.plotly_chart(_gradient_lines([("plain: h = F(h)", plain.relative_signal),
                                    ("residual: h = h + F(h)", residual.relative_signal)],
                                   "‖∂loss/∂h‖ relative to the top layer"), key="cc_skip_plot")
    st.caption(
        f"Measured now: {depth} layers, each F(h) = conv3×3(relu(h)) with 16 channels and PyTorch's default "
        "init, no batch norm; one backward pass of a mean-squared loss (fixed seed). Without skips every layer "
        "multiplies the gradient by a factor below 1, so almost nothing reaches the first layers. With "
        "h + F(h) the derivative of each block is 1 + F′: the identity path carries the gradient down "
        "untouched, which is what let ResNet train 152 layers.")
    plain_spec, residual_spec = C.skip_specs(blocks=max(1, min(depth // 2, 30)))
    _designer_pair(("Open the plain stack in the designer", plain_spec, "cc_link_plain"),
                   ("Open the residual stack in the designer", residual_spec, "cc_link_residual"))


def _hierarchy(photo: Image.Image) -> tuple[tuple[ImageView, str], list[tuple[ImageView, str]]]:
    """First-layer filters and the strongest maps of an early, a middle and a late layer, from the
    inference cache every session shares (computed once per photo, pictures already encoded)."""
    loaded = get_model(DEFAULT_MODEL)
    filters = serving().filters(loaded)
    out, k_h, k_w = filters.shape[0], filters.shape[2], filters.shape[3]
    first = (filters.grid, f"`{filters.layer}`: its {out} learned {k_h}×{k_w} kernels")
    rows = []
    for layer in C.hierarchy_layers(layer_names(loaded)):
        fm = serving().feature_maps(loaded, photo, layer, count=9, tile=80)
        c, h, w = fm.shape
        rows.append((fm.grid, f"`{layer}`: {c} maps of {h}×{w}; the 9 most active"))
    return first, rows


def render_hierarchy(photo: Image.Image) -> None:
    """Feature maps at increasing depth of a real pretrained CNN: edges, then textures, then parts."""
    st.subheader("What the layers of a trained CNN respond to")
    st.write(
        "The first layer of a trained network learns small edge and colour detectors. Each later layer combines "
        "the maps below it over a larger receptive field, so its channels respond to textures, then to object "
        "parts. Zeiler & Fergus (2013) showed this by visualising the layers of a trained network; here it is "
        "measured now on the photo above, with the pretrained EfficientNet-Lite0 of the Predict page.")
    try:
        (filters, filters_caption), rows = _hierarchy(photo)
    except PlaygroundError as exc:
        show_error(exc, icon=":material/error:")  # it may quote what the user typed
        return
    left, right = st.columns([1, 3])
    with left:
        show_image(filters, caption=filters_caption)
    with right:
        for column, (grid, caption) in zip(st.columns(len(rows)), rows):
            with column:
                show_image(grid, caption=caption)
    st.caption(
        "Yellow = strong response. Early maps are large and follow edges of the photo; late maps are small "
        "(each unit sees most of the image) and fire on whole regions such as the cup or the cat's face. "
        "Spatial size shrinks and channels grow with depth: the stride trades resolution for meaning.")
    st.markdown("[:material/image_search: Explore every layer, and Grad-CAM, on the Predict page](predict)")


# Figures (pure: arrays in, figure out)


def image_map(values: np.ndarray, title: str, signed: bool = False, height: int = 320) -> go.Figure:
    """A 2-D map at its true pixel grid: grey for an image, red/blue around 0 for a signed feature map."""
    h, w = values.shape
    if signed:
        bound = float(np.abs(values).max()) or 1.0
        heat = go.Heatmap(z=values, colorscale="RdBu_r", zmin=-bound, zmax=bound, zmid=0.0,
                          colorbar=dict(thickness=10))
    else:
        heat = go.Heatmap(z=values, colorscale="gray", showscale=False)
    fig = go.Figure(heat)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain", showticklabels=False)
    fig.update_xaxes(constrain="domain", showticklabels=False)
    fig.update_layout(title=dict(text=f"{title} — {h}×{w}", font=dict(size=14)), height=height,
                      margin=dict(l=0, r=0, t=36, b=0))
    return fig


def dense_matrix(matrix: np.ndarray, title: str) -> go.Figure:
    """The fully connected weight matrix equivalent to a conv: mostly zeros, the same k² weights per row."""
    bound = float(np.abs(matrix).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=matrix, colorscale="RdBu_r", zmin=-bound, zmax=bound, zmid=0.0,
                               colorbar=dict(thickness=10),
                               hovertemplate="output %{y}, input %{x}: %{z:.3f}<extra></extra>"))
    cols = matrix.shape[1]
    fig.update_yaxes(autorange="reversed", title="output pixel", scaleanchor="x", constrain="domain")
    fig.update_xaxes(title="input pixel", range=[-0.5, cols - 0.5], constrain="domain")
    fig.update_layout(title=dict(text=title, font=dict(size=14)), height=360, margin=dict(l=0, r=0, t=36, b=0))
    return fig


_LINE_COLOURS = ("#d62728", "#1f6feb", "#2ca02c")


def gradient_lines(series: Sequence[tuple[str, Sequence[float]]], y_title: str) -> go.Figure:
    """Per-layer values (log scale), layer 1 = next to the input."""
    fig = go.Figure()
    for (name, values), colour in zip(series, _LINE_COLOURS):
        fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=list(values), name=name,
                                 mode="lines+markers", line=dict(color=colour)))
    fig.update_yaxes(type="log", title=y_title, exponentformat="power")
    fig.update_xaxes(title="layer (1 = next to the input)")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=20, b=10), legend=dict(orientation="h", y=-0.25),
                      hovermode="x unified")
    return fig


# Caching: the lessons' arrays and figures are pure functions of their inputs (photo, kernel, sizes), so
# they are computed once for every session: on a rerun that changed nothing (or another student's first
# view of the same photo) no convolution runs and no plotly figure is built (building and validating the
# heatmap figures was most of this page's server CPU). Bounded, least recently used first out.
_MEMO_ENTRIES = 256
_MEMO = ResultCache(max_entries=_MEMO_ENTRIES)


def _memo_key(value: Any) -> Any:
    """A hashable stand-in for an argument: arrays and images by content."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ("array", data.shape, data.dtype.str, hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest())
    if isinstance(value, Image.Image):
        return ("image", image_digest(value))
    if isinstance(value, (list, tuple)):
        return tuple(_memo_key(v) for v in value)
    return value


def _memo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its results shared by every session (arguments compared by content)."""
    def cached(*args: Any, **kwargs: Any) -> Any:
        key = (fn.__qualname__, _memo_key(args), tuple(sorted((k, _memo_key(v)) for k, v in kwargs.items())))

        def compute() -> Any:
            return fn(*args, **kwargs)  # callers treat results as read-only: other sessions share them

        return _MEMO.get_or_compute(key, compute)

    return cached


_gray_photo, _apply_conv, _apply_maxpool = _memo(C.gray_photo), _memo(C.apply_conv), _memo(C.apply_maxpool)
_conv_as_dense, _image_map, _dense_matrix = _memo(C.conv_as_dense), _memo(image_map), _memo(dense_matrix)
_gradient_lines = _memo(gradient_lines)


@_memo
def _rf_picture(photo: Image.Image, **kwargs: Any) -> tuple[ImageView, tuple[int, int]]:
    """The receptive-field drawing, encoded once (st.image would encode a PIL image on every run)."""
    view = draw_receptive_field(photo, **kwargs)
    return encode_image(view.image), (view.field.size[0], view.field.size[1])
