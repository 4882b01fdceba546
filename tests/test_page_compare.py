"""Compare mode of the Predict page under AppTest: two real models on one photo, side by side."""
from __future__ import annotations

import io
import json

import pytest
from streamlit.testing.v1 import AppTest

from playground.models.compare import ARCH_ANALYSIS, MODULE_HOOKS
from playground.models.registry import MODELS
from playground.samples import load_sample
from playground.ui.photo_input import CAMERA_NAME, PHOTO_CAMERA, PHOTO_SOURCE
from playground.ui.predict import MODEL_PICKER, PREDICT
from playground.ui.predict.compare import COMPARE_CLASS, COMPARE_MODELS, COMPARE_TOGGLE
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import assert_clean, run_page

OFFLINE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2")
TOGGLE, PICKED = widget_key(PREDICT, COMPARE_TOGGLE), widget_key(PREDICT, COMPARE_MODELS)


def charts(at: AppTest) -> list[dict]:
    """The bar traces of every plotly chart on the page, with their figure's y axis."""
    out = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            if trace["type"] == "bar":
                out.append({"y": trace["y"], "x": trace["x"], "yaxis": spec["layout"]["yaxis"]})
    return out


def cam_captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions if c.startswith("Grad-CAM: ")]


@pytest.fixture(scope="module")
def compared() -> AppTest:
    return start("efficientnet_lite0", "mobilenet_v2")


def start(*models: str) -> AppTest:
    """The Predict page, then compare mode switched on with these models picked."""
    at = run_page("predict", timeout=300)
    assert not at.toggle(key=TOGGLE).value  # one model with its explanations by default
    # A fresh machine (TORCH_HOME is an empty folder): the four packaged models are offered.
    offered = at.selectbox(key=widget_key(PREDICT, MODEL_PICKER)).options
    assert {MODELS[n].title for n in OFFLINE} <= set(offered), offered
    at.session_state[PICKED] = list(models)
    at.toggle(key=TOGGLE).set_value(True).run()
    return at


def test_two_models_side_by_side(compared: AppTest) -> None:
    at = compared
    assert_clean(at)
    assert at.toggle(key=TOGGLE).value is True
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    for name in ("efficientnet_lite0", "mobilenet_v2"):
        assert MODELS[name].title.split(" (")[0] in text and name in text
    bars = charts(at)
    assert len(bars) == 2
    for bar in bars:
        probs = bar["x"]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
        assert bar["yaxis"]["type"] == "category"
        assert bar["y"][0] == "espresso"  # both models: the coffee photo is the default sample
    labels = [m.label for m in at.metric]
    assert labels.count("Parameters") == 2 and labels.count("MACs") == 2
    assert sum(label.startswith("Latency (") for label in labels) == 2
    values = {m.label: [] for m in at.metric}
    for m in at.metric:
        values[m.label].append(m.value)
    assert values["Parameters"] == ["4.65M", "3.5M"]  # EfficientNet-Lite0, MobileNet-V2 (torchvision's count)
    latency = [v for label, vs in values.items() if label.startswith("Latency") for v in vs]
    assert all(v.endswith(" ms") and float(v[:-3]) > 0 for v in latency)


def test_summary_table_says_how_each_cost_was_counted(compared: AppTest) -> None:
    (table,) = compared.dataframe
    df = table.value
    assert list(df["Model"]) == ["efficientnet_lite0", "mobilenet_v2"]
    assert list(df["Counted by"]) == [MODULE_HOOKS, ARCH_ANALYSIS]
    assert list(df["Parameters"]) == [4_652_008, 3_504_872]
    assert list(df["MACs"]) == [385_187_552, 300_774_272]
    assert all(df["Latency (ms)"] > 0)


def test_grad_cam_explains_one_class_for_every_model(compared: AppTest) -> None:
    at = compared
    captions = cam_captions(at)
    assert len(captions) == 2 and all(c.startswith("Grad-CAM: espresso (") for c in captions), captions
    picker = at.selectbox(key=widget_key(PREDICT, COMPARE_CLASS))
    cup = next(o for o in picker.options if o.startswith("cup"))
    picker.select(picker.options[picker.options.index(cup)]).run()
    assert_clean(at)
    captions = cam_captions(at)
    assert len(captions) == 2 and all(c.startswith("Grad-CAM: cup (") for c in captions), captions
    assert captions[0] != captions[1]  # the same class, each model's own probability of it


def test_one_model_asks_for_another() -> None:
    at = start("efficientnet_lite0")
    assert_clean(at)
    assert not at.get("plotly_chart")
    assert any("two or more" in i.value for i in at.info)


def test_download_button_says_when_the_server_is_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request
    from urllib.error import URLError

    from playground.ui.predict.model_weights import DOWNLOAD

    def offline(*_args: object, **_kwargs: object) -> None:
        raise URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    at = run_page("predict", timeout=300)
    at.button(key=widget_key(PREDICT, f"{DOWNLOAD}_resnet18")).click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert "cannot download resnet18" in error and "offline" in error


def test_a_camera_shot_is_compared_at_once_and_shown_once() -> None:
    """The camera widget shows the shot it took: the compare view shows no second copy beside the class picker."""
    at = start("efficientnet_lite0", "mobilenet_v2")
    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("camera").run()
    assert not at.get("plotly_chart")  # no shot yet
    buf = io.BytesIO()
    load_sample("Cat (Chelsea)").save(buf, "JPEG", quality=90)
    at.camera_input(key=widget_key(PREDICT, PHOTO_CAMERA)).set_value(("camera-input-x.jpg", buf.getvalue(),
                                                                      "image/jpeg"))
    at.run()
    assert_clean(at)
    assert len(charts(at)) == 2 and all(bar["y"][0] != "espresso" for bar in charts(at))
    captions = [c for image in at.get("image") for c in image.captions]
    assert len(cam_captions(at)) == 2 and CAMERA_NAME not in captions and "camera-input-x.jpg" not in captions
