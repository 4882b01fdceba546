"""The Architectures page renders clean and shows the measured numbers (one AppTest session for all)."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from playground._format import human
from playground.arch.landmarks import designer_spec
from playground.arch.measure import analyze_architecture
from playground.spec.share import decode_share
from playground.ui.architectures import (
    CATALOGUE_TAB,
    METRIC_KEY,
    MODEL_KEY,
    MODEL_TAB,
    OTHER_KEY,
    SIDE_KEY,
    SOURCE_KEY,
    TAB_KEY,
    VIT_TAB,
)
from tests.support.apptest_pages import assert_clean, metrics, run_page


@pytest.fixture(scope="module")
def app() -> AppTest:
    return run_page("architectures")


def open_tab(app: AppTest, label: str) -> AppTest:
    """Open a tab as a click does: only the open tab's content is drawn."""
    app.session_state[TAB_KEY] = label
    return app.run()


def x_titles(app: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["xaxis"]["title"]["text"] for c in app.get("plotly_chart")]


def test_first_load_shows_the_catalogue_only(app: AppTest) -> None:
    assert_clean(app)
    table = app.dataframe[0].value
    row = table[table["Model"] == "ResNet-50"].iloc[0]
    assert row["Params"] == 25_557_032 and row["Receptive field"] == 427
    assert table[table["Model"] == "VGG-16"].iloc[0]["Receptive field"] == 212
    assert table[table["Model"] == "AlexNet"].iloc[0]["Receptive field"] == 195
    assert table["Top-1 err. (paper)"].isna().any()  # VGG, GoogLeNet... have no top-1 headline
    assert x_titles(app) == ["Parameters", "MACs at the evaluation resolution"]  # the two error plots
    assert not app.metric and not app.get("link_button")  # "One model" is closed: nothing of it ran
    # At 1400 px the table scrolls sideways: the model name stays pinned, the table fills the width.
    assert json.loads(app.dataframe[0].proto.columns)["Model"]["pinned"] is True
    app.run()  # a rerun replays the same table and plots
    assert_clean(app)
    assert app.dataframe[0].value.equals(table) and len(app.get("plotly_chart")) == 2


def test_missing_values_show_a_dash_not_none(app: AppTest) -> None:
    """Empty cells (no top-1 in the paper, no spatial field in the head) show "—", never the word None."""
    open_tab(app, CATALOGUE_TAB)
    assert app.dataframe and [frame.proto.placeholder for frame in app.dataframe] == ["—"] * len(app.dataframe)
    open_tab(app, MODEL_TAB)
    assert app.dataframe and [frame.proto.placeholder for frame in app.dataframe] == ["—"] * len(app.dataframe)


def test_cnn_vs_vit_tab(app: AppTest) -> None:
    open_tab(app, VIT_TAB)
    assert_clean(app)
    assert x_titles(app) == ["Input size (megapixels)", "Input side (pixels, square)"]


def test_one_model_shows_resnet50(app: AppTest) -> None:
    open_tab(app, MODEL_TAB)
    assert_clean(app)
    m = metrics(app)
    r = analyze_architecture("resnet50")
    assert m["Parameters"] == human(25_557_032) and m["MACs at 224×224"] == human(4_089_184_256)
    assert m["Depth"] == "50" and m["Receptive field"] == "427"
    assert [x.proto.help for x in app.metric if x.label == "Parameters"] == [f"{r.total_params:,}"]


def test_at_224_the_macs_at_224_are_shown_once(app: AppTest) -> None:
    """The chosen side is 224 on first load: one "MACs at 224×224" metric, not the same one twice."""
    open_tab(app, MODEL_TAB)
    assert app.number_input(key=SIDE_KEY).value == 224
    assert [m.label for m in app.metric] == ["Parameters", "MACs at 224×224", "Depth", "Receptive field"]


def test_open_in_designer_link_carries_the_exact_model(app: AppTest) -> None:
    open_tab(app, MODEL_TAB)
    assert [button.proto.label for button in app.get("link_button")] == ["Open in designer"]
    urls = [button.proto.url for button in app.get("link_button")]
    assert urls[0].startswith("design?spec=")
    assert decode_share(urls[0].split("=", 1)[1]) == designer_spec("resnet50")
    open_tab(app, CATALOGUE_TAB)
    table = app.dataframe[0].value  # the catalogue's link column: same links, blank where no spec exists
    links = dict(zip(table["Model"], table["Designer"]))
    assert decode_share(links["VGG-16"].split("=", 1)[1]) == designer_spec("vgg16")
    # every CNN opens as an exact design (graph designs); only the transformer has no spec
    assert links["ResNet-50"] == urls[0] and table[table["Designer"].isna()]["Model"].tolist() == ["ViT-B/16"]
    assert decode_share(links["EfficientNet-B0"].split("=", 1)[1]) == designer_spec("efficientnet_b0")


def test_other_models_sources_and_a_bad_size(app: AppTest) -> None:
    open_tab(app, CATALOGUE_TAB)
    app.button_group(key=SOURCE_KEY).set_value("torchvision weights").run()
    app.button_group(key=METRIC_KEY).set_value("Top-1").run()
    assert_clean(app)
    open_tab(app, MODEL_TAB)
    app.selectbox(key=MODEL_KEY).select("vgg16").run()
    assert_clean(app)
    assert metrics(app)["Receptive field"] == "212"
    app.selectbox(key=MODEL_KEY).select("vit_b_16").run()
    assert_clean(app)
    assert not app.get("link_button")  # the spec cannot express a ViT
    app.number_input(key=SIDE_KEY).set_value(200).run()
    assert not app.exception
    assert "multiple of 16" in app.error[0].value  # shown in place, the rest of the page still works
    app.number_input(key=SIDE_KEY).set_value(384).run()
    assert_clean(app)
    m = metrics(app)
    assert m["MACs at 384×384"] == human(analyze_architecture("vit_b_16", (3, 384, 384)).total_macs)
    assert m["MACs at 224×224"] == human(analyze_architecture("vit_b_16").total_macs)  # both, side by side


def test_any_torchvision_model(app: AppTest) -> None:
    app.number_input(key=SIDE_KEY).set_value(224).run()
    app.selectbox(key=MODEL_KEY).select("other").run()
    app.text_input(key=OTHER_KEY).input("densenet121").run()
    assert_clean(app)
    assert metrics(app)["Parameters"] == human(analyze_architecture("densenet121").total_params)
    app.text_input(key=OTHER_KEY).input("not_a_model").run()
    assert not app.exception and "unknown architecture" in app.error[0].value


def test_a_closed_tab_keeps_its_settings(app: AppTest) -> None:
    """Switching tabs skips the closed ones' work but not their widgets' values."""
    open_tab(app, MODEL_TAB)
    app.selectbox(key=MODEL_KEY).select("vgg16").run()
    app.number_input(key=SIDE_KEY).set_value(256).run()
    open_tab(app, CATALOGUE_TAB)
    app.button_group(key=METRIC_KEY).set_value("Top-1").run()
    assert not app.metric  # the model tab is closed
    open_tab(app, VIT_TAB)
    open_tab(app, MODEL_TAB)
    assert_clean(app)
    assert app.selectbox(key=MODEL_KEY).value == "vgg16" and app.number_input(key=SIDE_KEY).value == 256
    assert "MACs at 256×256" in metrics(app)
    open_tab(app, CATALOGUE_TAB)
    assert app.button_group(key=METRIC_KEY).value == "Top-1"
