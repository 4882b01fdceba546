"""The Predict page under AppTest: real widgets, real model, no browser."""
from __future__ import annotations

import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from playground.models.inference import Prediction
from playground.samples import load_sample
from playground.ui.common import PHOTO_SAMPLE, PHOTO_SOURCE, PHOTO_UPLOAD, widget_key
from playground.ui.predict import (
    BAD_LINK_MODEL,
    CAM_CLASS,
    EXPLAIN_TAB,
    FEATURE_LAYER,
    MODEL_PICKER,
    PREDICT,
    top_k_chart,
)
from playground.ui.text import md_text
from tests.apptest_pages import run_page
from tests.model_data import CAT_CLASSES, write_finetuned

MODEL, TAB = widget_key(PREDICT, MODEL_PICKER), widget_key(PREDICT, EXPLAIN_TAB)
UPLOAD = widget_key(PREDICT, PHOTO_UPLOAD)
SAMPLE, CAM = widget_key(PREDICT, PHOTO_SAMPLE), widget_key(PREDICT, CAM_CLASS)


def bars(at: AppTest) -> list[str]:
    """The labels of the top-k bar chart, top first."""
    (labels,) = [trace["y"] for chart in at.get("plotly_chart")
                 for trace in json.loads(chart.proto.spec)["data"] if trace["type"] == "bar"]
    return labels


def png_bytes(name: str) -> bytes:
    buf = io.BytesIO()
    load_sample(name).save(buf, "PNG")
    return buf.getvalue()


def start(**query: str) -> AppTest:
    return run_page("predict", timeout=120, **query)


def test_sample_photo_by_default_with_grad_cam() -> None:
    at = start()
    assert not at.exception and not at.error
    assert bars(at)[0] == "espresso" and len(bars(at)) == 5
    assert "Top 5" in [h.value for h in at.subheader]
    assert at.selectbox(key=MODEL).value == "efficientnet_lite0"
    assert at.selectbox(key=widget_key(PREDICT, CAM_CLASS)).value == 967  # the top class is explained first
    assert any("Grad-CAM" in c.value or "gradient" in c.value for c in at.caption)


def test_upload_a_png_gives_five_predictions_then_a_bad_upload_gives_a_message() -> None:
    at = start()
    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("upload").run()
    assert not at.get("plotly_chart")  # nothing to classify yet
    at.file_uploader(key=UPLOAD).set_value(("chelsea.png", png_bytes("Cat (Chelsea)"), "image/png"))
    at.run()
    assert not at.exception and not at.error
    labels = bars(at)
    assert len(labels) == 5 and labels[0] in CAT_CLASSES

    at.file_uploader(key=UPLOAD).set_value(("broken.png", b"\x89PNG\r\n\x1a\nnope", "image/png"))
    at.run()
    assert not at.exception and not at.get("plotly_chart")
    assert [e.value for e in at.error] == [  # shown as text: the file name is the user's
        md_text("broken.png: not a JPEG, PNG, WebP, GIF or BMP image (or the file is damaged)")]


def test_feature_maps_and_other_tabs_render() -> None:
    at = start()
    for tab, words in ((":material/layers: Feature maps", "most active"),
                       (":material/grid_view: First-layer filters", "32 filters of 3x3"),
                       (":material/crop: What the model sees", "resized to 256 (bicubic)")):
        at.session_state[TAB] = tab
        at.run()
        assert not at.exception and not at.error
        assert any(words in c.value for c in at.caption), (tab, [c.value for c in at.caption])
    at.session_state[TAB] = ":material/layers: Feature maps"
    at.run()
    at.select_slider(key=widget_key(PREDICT, FEATURE_LAYER)).set_value("_head_act").run()
    assert any("`_head_act` outputs 1280 maps of 7x7" in c.value for c in at.caption)


def test_query_param_opens_a_finetuned_job(_playground_home) -> None:
    write_finetuned(_playground_home / "jobs" / "fruit1" / "artifacts", classes=("apple", "pear", "plum"))
    at = start(model="job:fruit1")
    assert not at.exception and not at.error
    assert at.selectbox(key=MODEL).value == "job:fruit1"
    assert sorted(bars(at)) == ["apple", "pear", "plum"]
    assert "Top 3" in [h.value for h in at.subheader]  # not "Top 5" with three bars


@pytest.mark.parametrize("ref, words", [("job:nope", BAD_LINK_MODEL),
                                        ("resnet50", "resnet50-11ad3fa6.pth")])
def test_bad_query_param_explains_and_falls_back(ref: str, words: str) -> None:
    at = start(model=ref)
    assert not at.exception
    assert len(at.error) == 1 and words in at.error[0].value
    assert at.selectbox(key=MODEL).value == "efficientnet_lite0" and len(bars(at)) == 5


def test_query_param_never_opens_a_folder_nor_tells_which_exist(_playground_home, tmp_path) -> None:
    """A link names catalogue models and job:<id> only: a real model folder elsewhere on the disk, a
    missing folder and a job folder given by path all get the same message, and nothing is loaded."""
    real = tmp_path / "elsewhere"
    write_finetuned(real, classes=("apple", "pear", "plum"))
    job = _playground_home / "jobs" / "fruit2" / "artifacts"
    write_finetuned(job, classes=("apple", "pear", "plum"))
    messages = set()
    for ref in (str(real), str(tmp_path / "missing"), str(job), "../../etc", "job:fruit2x"):
        at = start(model=ref)
        assert not at.exception
        assert len(at.error) == 1 and at.error[0].value.startswith(BAD_LINK_MODEL), ref
        messages.add(at.error[0].value.split("(The link asked for:")[0])
        assert at.selectbox(key=MODEL).value == "efficientnet_lite0" and bars(at)[0] == "espresso"
    assert len(messages) == 1


def test_query_param_value_is_shown_as_text() -> None:
    hostile = "**bold** [click](https://evil.example) <b>x</b>"
    at = start(model=hostile)
    assert len(at.error) == 1 and md_text(hostile) in at.error[0].value


def test_sample_query_param_picks_that_photo_and_ignores_unknown_names() -> None:
    at = start(sample="Cat (Chelsea)")
    assert not at.exception and not at.error
    assert at.selectbox(key=SAMPLE).value == "Cat (Chelsea)" and bars(at)[0] in CAT_CLASSES
    at.selectbox(key=SAMPLE).set_value("Coffee cup").run()  # the link only sets the first view
    assert bars(at)[0] == "espresso"

    odd = "[x](https://evil.example) Coffee"
    at = start(sample=odd)
    assert not at.exception and not at.error
    assert at.selectbox(key=SAMPLE).value == "Coffee cup" and bars(at)[0] == "espresso"
    shown = [m.value for m in (*at.markdown, *at.caption)]
    assert not any("evil" in text for text in shown)


def test_numeric_class_names_keep_a_categorical_axis_in_rank_order(_playground_home) -> None:
    """A model fine-tuned on digits has classes "0".."9": the bars must stay categories, in rank order."""
    write_finetuned(_playground_home / "jobs" / "digits" / "artifacts", classes=tuple(str(i) for i in range(10)))
    at = start(model="job:digits")
    assert not at.exception and not at.error
    (chart,) = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    yaxis = spec["layout"]["yaxis"]
    ranked = bars(at)
    assert len(ranked) == 5 and all(label.isdigit() for label in ranked)
    assert yaxis["type"] == "category" and yaxis["categoryarray"] == ranked
    assert yaxis["autorange"] == "reversed"  # most probable on top
    (trace,) = spec["data"]
    assert trace["x"] == sorted(trace["x"], reverse=True)  # the bars' values follow the same order


def test_chart_axis_is_categorical_for_numeric_labels() -> None:
    pred = Prediction([("7", 7, 0.5), ("1", 1, 0.3), ("10", 10, 0.2)])
    fig = top_k_chart(pred)
    assert fig.layout.yaxis.type == "category"
    assert list(fig.layout.yaxis.categoryarray) == ["7", "1", "10"]
    assert list(fig.data[0].y) == ["7", "1", "10"]


def cam_caption(at: AppTest) -> str:
    """The class named under the Grad-CAM overlay."""
    (caption,) = [c for image in at.get("image") for c in image.captions if c.startswith("Grad-CAM: ")]
    return caption.removeprefix("Grad-CAM: ")


def test_grad_cam_explains_the_class_in_the_box_after_a_photo_change(_playground_home) -> None:
    """With 3 classes every class stays in the top-k when the photo changes: the box used to keep its
    old choice by key while its options were relabelled, and the map explained another class."""
    textures = ("stripes", "checks", "dots")
    write_finetuned(_playground_home / "jobs" / "tex" / "artifacts", classes=textures)
    at = start(model="job:tex")
    top_coffee = bars(at)[0]
    assert cam_caption(at) == top_coffee == textures[at.selectbox(key=CAM).value]
    at.selectbox(key=SAMPLE).set_value("Cat (Chelsea)").run()
    top_cat = bars(at)[0]
    at.selectbox(key=SAMPLE).set_value("Coffee cup").run()
    other = next(c for c in textures if c not in (top_coffee, top_cat))  # neither photo's top class
    at.selectbox(key=CAM).set_value(textures.index(other)).run()
    assert cam_caption(at) == other == textures[at.selectbox(key=CAM).value]

    at.selectbox(key=SAMPLE).set_value("Cat (Chelsea)").run()  # the picked class is still in the top 3
    assert not at.exception and not at.error
    box = at.selectbox(key=CAM)
    assert textures[box.value] == cam_caption(at) == top_cat == bars(at)[0]
    assert box.options[box.index].startswith(f"{top_cat} (")  # the box shows the class the map explains


def test_chart_labels_are_text_not_plotly_html() -> None:
    """A fine-tuned class is a student's folder name: Plotly must not turn it into a link or bold text."""
    pred = Prediction([("<a href='https://evil.example'>answers</a>", 0, 0.6), ("<b>cat</b>", 1, 0.4)])
    labels = list(top_k_chart(pred).data[0].y)
    assert labels == ["&lt;a href='https://evil.example'&gt;answers&lt;/a&gt;", "&lt;b&gt;cat&lt;/b&gt;"]
