"""The Concepts page renders clean, and its numbers are the designer's for the same stacks."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from playground import concepts as C
from playground.design.analysis import analyze
from playground.samples import load_sample
from playground.spec.share import decode_share
from playground.ui.concepts import (
    DW_OUT_KEY,
    KERNEL_PRESET_KEY,
    LESSON_TABS,
    PAD_KERNEL_KEY,
    PAD_SIZE_KEY,
    RF_DEPTH_KEY,
    RF_STRIDE_KEY,
    SKIP_DEPTH_KEY,
    TAB_KEY,
)
from playground.ui.concepts.lessons import DESIGNER_PADDING
from playground.ui.predict.layer_names import layer_label
from tests.support.apptest_pages import assert_clean, metrics, run_page


@pytest.fixture(scope="module")
def app() -> AppTest:
    return run_page("concepts")


def _linked_specs(at: AppTest) -> dict[str, dict]:
    return {b.proto.label: decode_share(b.proto.url.split("=", 1)[1]) for b in at.get("link_button")}


CONVOLUTION, PADDING, FIELD, EFFECTIVE, DWSEP, SKIP, HIERARCHY = LESSON_TABS


def open_tab(at: AppTest, label: str) -> AppTest:
    """Open a lesson as a click does: only the open lesson is drawn."""
    at.session_state[TAB_KEY] = label
    return at.run()


def _chart_titles(at: AppTest) -> list[str]:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return [c["layout"].get("title", {}).get("text", "").split(" — ")[0] for c in charts]


LINKS = {
    CONVOLUTION: ["Open the conv in the designer", "Open the fully connected version"],
    PADDING: ["Open valid padding in the designer", "Open same padding in the designer",
              "Open the strided conv in the designer", "Open the max-pool in the designer"],
    FIELD: ["Open this stack in the designer"],
    EFFECTIVE: ["Open this stack in the designer"],
    DWSEP: ["Open the regular conv in the designer", "Open the separable pair in the designer"],
    SKIP: ["Open the plain stack in the designer", "Open the residual stack in the designer"],
}


def test_first_view_draws_only_the_first_lesson(app: AppTest) -> None:
    assert_clean(app)
    assert [b.proto.label for b in app.get("link_button")] == LINKS[CONVOLUTION]
    assert _chart_titles(app) == ["Input", "Feature map", "The same conv as a dense 36×64 matrix, on an 8×8 crop"]
    specs = [c.proto.spec for c in app.get("plotly_chart")]
    app.run()  # a rerun replays the same elements
    assert_clean(app)
    assert [c.proto.spec for c in app.get("plotly_chart")] == specs
    assert [b.proto.label for b in app.get("link_button")] == LINKS[CONVOLUTION]


def test_every_lesson_renders_with_its_designer_links(app: AppTest) -> None:
    for tab, labels in LINKS.items():
        open_tab(app, tab)
        assert_clean(app)
        assert [b.proto.label for b in app.get("link_button")] == labels, tab
    open_tab(app, PADDING)
    titles = _chart_titles(app)
    for title in ("Input", "Valid", "Same", "Stride-2 conv (your kernel)", "2×2 max-pool"):
        assert title in titles, (title, titles)
    open_tab(app, SKIP)
    charts = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(trace.get("name") == "plain: h = F(h)" for c in charts for trace in c["data"])


def test_padding_maps_are_drawn_at_their_true_relative_size(app: AppTest) -> None:
    """The 30×30 valid output sits inside the 32×32 input's frame, one cell per input pixel."""
    open_tab(app, PADDING)
    charts = {json.loads(c.proto.spec)["layout"]["title"]["text"].split(" — ")[0]: json.loads(c.proto.spec)
              for c in app.get("plotly_chart")}
    for title, side, offset in (("Input", 32, 0), ("Valid", 30, 1), ("Same", 32, 0)):
        layout, trace = charts[title]["layout"], charts[title]["data"][0]
        assert layout["xaxis"]["range"] == [-0.5, 31.5] and layout["yaxis"]["range"] == [31.5, -0.5], title
        assert trace.get("x0", 0) == offset and trace.get("y0", 0) == offset, title
        assert charts[title]["layout"]["title"]["text"].endswith(f"{side}×{side}"), title


def _metrics_of(at: AppTest, *tabs: str) -> tuple[dict[str, str], dict[str, dict]]:
    m: dict[str, str] = {}
    links: dict[str, dict] = {}
    for tab in tabs:
        open_tab(at, tab)
        m.update(metrics(at))
        links.update(_linked_specs(at))
    return m, links


def test_numbers_equal_the_designers_analysis(app: AppTest) -> None:
    m, links = _metrics_of(app, CONVOLUTION, PADDING, FIELD)
    # parameter sharing, on the default sample photo
    conv = analyze(links["Open the conv in the designer"])
    dense = analyze(links["Open the fully connected version"])
    h, w = C.gray_photo(load_sample("Coffee cup")).shape
    assert conv.input_shape == dense.input_shape == (1, h, w)
    assert m["Conv 3×3 parameters"] == f"{conv.total_params:,}" == "10"
    assert m["Fully connected parameters"] == f"{dense.total_params:,}"
    # padding: the 32×32 example
    assert m["Valid padding (PyTorch's default)"] == "30×30" == "×".join(
        map(str, analyze(links["Open valid padding in the designer"]).output_shape[1:]))
    assert m["Same padding"] == "32×32"
    assert m["Max-pool parameters"] == "0"
    assert m["Stride-2 conv parameters"] == f"{analyze(links['Open the strided conv in the designer']).total_params:,}"
    # receptive field of 3 stacked 3×3 convs
    rf = analyze(links["Open this stack in the designer"]).layers[-1].receptive_field
    assert m["Receptive field after 3 convs"] == f"{rf[0]}×{rf[1]}" == "7×7"
    m, links = _metrics_of(app, DWSEP, SKIP)
    # depthwise separable, default 128 → 128 channels, 3×3
    regular = analyze(links["Open the regular conv in the designer"])
    separable = analyze(links["Open the separable pair in the designer"])
    assert m["Regular conv parameters"] == f"{regular.total_params:,}" == f"{128 * 128 * 9:,}"
    assert m["Depthwise-separable parameters"] == f"{separable.total_params:,}" == f"{128 * 9 + 128 * 128:,}"
    assert m["Regular MACs (56×56 map)"] == f"{regular.total_macs:,}"
    # skip connections: the two linked stacks have the same parameters
    assert (analyze(links["Open the plain stack in the designer"]).total_params
            == analyze(links["Open the residual stack in the designer"]).total_params)


def test_widgets_change_the_numbers_and_closed_lessons_keep_them(app: AppTest) -> None:
    open_tab(app, FIELD)
    app.slider(key=RF_DEPTH_KEY).set_value(5).run()
    app.button_group(key=RF_STRIDE_KEY).set_value(2).run()
    assert_clean(app)
    rf = analyze(_linked_specs(app)["Open this stack in the designer"]).layers[-1].receptive_field
    assert metrics(app)["Receptive field after 5 convs"] == f"{rf[0]}×{rf[1]}" == "19×19"
    open_tab(app, PADDING)
    app.slider(key=PAD_SIZE_KEY).set_value(20).run()
    app.select_slider(key=PAD_KERNEL_KEY).set_value(5).run()
    open_tab(app, DWSEP)
    app.number_input(key=DW_OUT_KEY).set_value(512).run()
    open_tab(app, CONVOLUTION)
    app.selectbox(key=KERNEL_PRESET_KEY).select("Gaussian blur").run()
    open_tab(app, SKIP)
    app.slider(key=SKIP_DEPTH_KEY).set_value(10).run()
    assert_clean(app)
    # Each lesson was closed since it was set: every value is still there, and its numbers follow it.
    m, _ = _metrics_of(app, PADDING, DWSEP, FIELD)
    assert m["Valid padding (PyTorch's default)"] == "16×16" and m["Same padding"] == "20×20"
    assert m["Regular conv parameters"] == f"{analyze(C.dwsep_specs(128, 512)[0]).total_params:,}"
    assert m["Receptive field after 5 convs"] == "19×19"
    open_tab(app, CONVOLUTION)
    assert app.selectbox(key=KERNEL_PRESET_KEY).value == "Gaussian blur"
    open_tab(app, SKIP)
    assert app.slider(key=SKIP_DEPTH_KEY).value == 10


def test_an_emptied_kernel_cell_shows_a_dash_not_none(app: AppTest) -> None:
    open_tab(app, CONVOLUTION)
    editor = next(d for d in app.dataframe if d.proto.editing_mode)  # the 3×3 kernel editor
    assert editor.proto.placeholder == "—"


def test_feature_hierarchy_shows_filters_and_shrinking_maps_of_the_real_model(app: AppTest) -> None:
    from playground.catalog import load_model
    from playground.models.inference import feature_maps, layer_names

    open_tab(app, CONVOLUTION)
    assert not any("learned 3×3 kernels" in c for img in app.get("image") for c in _captions(img))  # not yet open
    open_tab(app, HIERARCHY)  # computed only when opened
    assert_clean(app)
    captions = [c for img in app.get("image") for c in _captions(img)]
    loaded = load_model("efficientnet_lite0")
    early, middle, late = C.hierarchy_layers(layer_names(loaded))
    assert any("32 learned 3×3 kernels" in c for c in captions)  # EfficientNet-Lite0's stem conv
    photo = load_sample("Coffee cup")
    for layer in (early, middle, late):
        c, h, w = feature_maps(loaded, photo, layer, count=1).shape
        assert any(c_.startswith(f"{layer_label(layer, layer_names(loaded))}: {c} maps of {h}×{w}")
                   for c_ in captions), layer
    assert not [c for c in captions if c.startswith(("`", "_"))]  # readable names first, the module path after
    sizes = [feature_maps(loaded, photo, name, count=1).shape for name in (early, middle, late)]
    assert sizes[0][1] > sizes[1][1] > sizes[2][1] and sizes[0][0] < sizes[2][0]  # deeper: smaller, more channels


def test_the_hierarchy_caption_follows_the_photo(app: AppTest) -> None:
    """It spoke of "the cat's face" under the coffee cup: now it names what the model sees in this photo."""
    open_tab(app, HIERARCHY)
    assert_clean(app)
    text = " ".join(c.value for c in app.caption)
    assert "cat's face" not in text and "**espresso** (its top class here)" in text
    assert "block" in " ".join(c for img in app.get("image") for c in _captions(img))


def test_conv_parameters_say_their_bias_and_the_designers_padding_default_is_said(app: AppTest) -> None:
    open_tab(app, CONVOLUTION)
    assert metrics(app)["Conv 3×3 parameters"] == "10"
    assert any(c.value.startswith("9 weights + 1 bias") for c in app.caption)  # beside the primer's 9
    open_tab(app, PADDING)
    assert DESIGNER_PADDING in [c.value for c in app.caption]


def test_the_receptive_field_photo_has_sparse_dots_and_says_which(app: AppTest) -> None:
    open_tab(app, FIELD)
    assert_clean(app)
    (caption,) = [c for img in app.get("image") for c in _captions(img) if c.startswith("Field of the centre")]
    assert "Dots: the centre of every " in caption and "unit in each direction" in caption


def _captions(element) -> list[str]:
    return [i.caption for i in element.proto.imgs]
