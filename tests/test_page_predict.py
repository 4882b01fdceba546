"""The Predict page under AppTest: real widgets, real model, no browser."""
from __future__ import annotations

import io
import json
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Selectbox

from playground.finetune.config import TrainConfig
from playground.finetune.data import from_folder, link_dataset, load_dataset
from playground.finetune.jobs.store import JobStore
from playground.finetune.jobs.submit import job_config
from playground.finetune.runtime import prepare
from playground.models.inference import Prediction
from playground.samples import load_sample
from playground.ui.owner import OWNER_SECRET_KEY
from playground.ui.photo_input import (
    CAMERA_NAME,
    CAMERA_NEEDS_HTTPS,
    PHOTO_CAMERA,
    PHOTO_SAMPLE,
    PHOTO_SOURCE,
    PHOTO_UPLOAD,
    secure_context,
)
from playground.ui.predict import CAM_CLASS, EXPLAIN_TAB, FEATURE_LAYER, MODEL_PICKER, PREDICT
from playground.ui.predict.heldout import HELDOUT_IMAGE, HELDOUT_TOGGLE, NOT_YOURS
from playground.ui.predict.model_labels import FinetuneInfo, finetune_label
from playground.ui.predict.models import BAD_LINK_MODEL
from playground.ui.predict.results import top_k_chart
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import PAGES, run_page
from tests.support.job_support import A_ID, A_SECRET, B_ID, PASSCODE
from tests.support.model_data import CAT_CLASSES, write_finetuned

MODEL, TAB = widget_key(PREDICT, MODEL_PICKER), widget_key(PREDICT, EXPLAIN_TAB)
UPLOAD = widget_key(PREDICT, PHOTO_UPLOAD)
SAMPLE = widget_key(PREDICT, PHOTO_SAMPLE)


def cam_box(at: AppTest) -> Selectbox:
    """The Grad-CAM "Class" box of the photo shown now (each model and photo has its own box)."""
    (box,) = [b for b in at.selectbox if b.label == "Class"]
    assert box.key.startswith(widget_key(PREDICT, CAM_CLASS))
    return box


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
    assert cam_box(at).value == 967  # the top class is explained first
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
    assert any("The last conv block (head) (module `_head_act`) outputs 1280 maps of 7x7" in c.value
               for c in at.caption)


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
    assert cam_caption(at) == top_coffee == textures[cam_box(at).value]
    at.selectbox(key=SAMPLE).set_value("Cat (Chelsea)").run()
    top_cat = bars(at)[0]
    at.selectbox(key=SAMPLE).set_value("Coffee cup").run()
    other = next(c for c in textures if c not in (top_coffee, top_cat))  # neither photo's top class
    cam_box(at).set_value(textures.index(other)).run()
    assert cam_caption(at) == other == textures[cam_box(at).value]

    at.selectbox(key=SAMPLE).set_value("Cat (Chelsea)").run()  # the picked class is still in the top 3
    assert not at.exception and not at.error
    box = cam_box(at)
    assert textures[box.value] == cam_caption(at) == top_cat == bars(at)[0]
    assert box.options[box.index].startswith(f"{top_cat} (")  # the box shows the class the map explains


def assert_box_follows_the_photo(at: AppTest) -> str:
    """The class box, the map's caption and the chart's top bar all name this photo's top class."""
    assert not at.exception and not at.error
    box, top = cam_box(at), bars(at)[0]
    assert box.options[box.index].startswith(f"{top} (") and cam_caption(at) == top
    return top


def test_every_way_a_photo_changes_gives_the_class_box_of_the_new_photo() -> None:
    """The class box once kept "espresso (95.1%)" on the cat while the map named the cat: a class choice
    belongs to the photo it was made for, whether the next photo is a sample, an upload or a shot."""
    at = start()
    assert assert_box_follows_the_photo(at) == "espresso"
    first = cam_box(at)
    runner_up = first.options[1].split(" (")[0]
    at.selectbox(key=first.key).select_index(1).run()  # a class picked by hand, for this photo only
    assert cam_caption(at) == runner_up and cam_box(at).key == first.key

    at.selectbox(key=SAMPLE).set_value("Cat (Chelsea)").run()  # a sample switch
    assert assert_box_follows_the_photo(at) in CAT_CLASSES and cam_box(at).key != first.key
    at.selectbox(key=SAMPLE).set_value("Coffee cup").run()  # back: a fresh box on its top class again
    assert assert_box_follows_the_photo(at) == "espresso"

    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("upload").run()
    for photo, top in (("Cat (Chelsea)", CAT_CLASSES), ("Coffee cup", {"espresso"})):  # uploads
        at.file_uploader(key=UPLOAD).set_value((f"{photo}.png", png_bytes(photo), "image/png"))
        at.run()
        assert assert_box_follows_the_photo(at) in top

    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("camera").run()
    for photo, top in (("Cat (Chelsea)", CAT_CLASSES), ("Coffee cup", {"espresso"})):  # camera shots
        at.camera_input(key=widget_key(PREDICT, PHOTO_CAMERA)).set_value(("shot.jpg", jpeg_bytes(photo),
                                                                          "image/jpeg"))
        at.run()
        assert assert_box_follows_the_photo(at) in top


def test_layers_have_readable_names_with_the_module_path_as_a_detail() -> None:
    """The pickers listed `_head_act`, `_blocks.8`, `_stem_act`: the model's module paths."""
    at = start()
    (layer_box,) = [b for b in at.selectbox if b.label == "Layer"]
    assert layer_box.value == "_head_act"  # the value is still the module (what the hooks need)
    labels = layer_box.options
    assert labels[0] == "stem (first conv) · _stem_act" and labels[-1] == "last conv block (head) · _head_act"
    assert "block 9 of 16 · _blocks.8" in labels and not [x for x in labels if x.startswith("_")]
    assert any("the last conv block (head) (module `_head_act`)" in c.value for c in at.caption)


def test_chart_labels_are_text_not_plotly_html() -> None:
    """A fine-tuned class is a student's folder name: Plotly must not turn it into a link or bold text."""
    pred = Prediction([("<a href='https://evil.example'>answers</a>", 0, 0.6), ("<b>cat</b>", 1, 0.4)])
    labels = list(top_k_chart(pred).data[0].y)
    assert labels == ["&lt;a href='https://evil.example'&gt;answers&lt;/a&gt;", "&lt;b&gt;cat&lt;/b&gt;"]


# --------------------------------------------------------------------------- the camera (issue 12)


def jpeg_bytes(name: str) -> bytes:
    buf = io.BytesIO()
    load_sample(name).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.mark.parametrize("url, secure", [
    ("https://class.example/predict", True), ("HTTPS://class.example", True),
    ("http://localhost:8501/predict", True), ("http://LOCALHOST.:8501", True), ("http://app.localhost:8501", True),
    ("http://127.0.0.1:8501", True), ("http://127.8.0.1:8501", True), ("http://[::1]:8501/predict", True),
    ("http://192.168.1.20:8501/predict", False), ("http://10.0.0.5", False), ("http://lab-server:8501", False),
    ("http://localhost.evil.example", False), ("http://[fd00::2]:8501", False),
    (None, None), ("", None), ("file:///tmp/x.html", None),
])
def test_secure_context_follows_the_browsers_rule(url: str | None, secure: bool | None) -> None:
    assert secure_context(url) is secure


def camera_page(url: str | None) -> AppTest:
    at = start()
    if url is not None:
        at.context["url"] = url
    at.segmented_control(key=widget_key(PREDICT, PHOTO_SOURCE)).set_value("camera").run()
    assert not at.exception
    return at


def test_camera_on_a_plain_http_class_address_says_why_it_cannot_work() -> None:
    at = camera_page("http://192.168.1.20:8501/predict")
    assert [w.value for w in at.warning] == [CAMERA_NEEDS_HTTPS]
    assert "HTTPS" in CAMERA_NEEDS_HTTPS and "localhost" in CAMERA_NEEDS_HTTPS and "upload" in CAMERA_NEEDS_HTTPS
    assert len(at.camera_input) == 1  # still drawn: a browser flag may trust the address anyway


@pytest.mark.parametrize("url", ["http://localhost:8501/predict", "https://class.example/predict"])
def test_camera_on_a_secure_address_shows_no_warning(url: str) -> None:
    at = camera_page(url)
    assert not at.warning and not at.error
    assert all(CAMERA_NEEDS_HTTPS not in c.value for c in at.caption)
    assert "Take a photo to classify it." in [c.value for c in at.caption]


def test_camera_without_an_address_to_judge_says_it_quietly() -> None:
    at = camera_page(None)
    assert not at.warning and CAMERA_NEEDS_HTTPS in [c.value for c in at.caption]


def test_a_camera_shot_is_predicted_at_once_shown_once_under_a_short_name() -> None:
    at = camera_page("http://localhost:8501/predict")
    long_name = "camera-input-2025-12-02T14_05_33.123Z.jpg"  # what the widget names a shot
    at.camera_input(key=widget_key(PREDICT, PHOTO_CAMERA)).set_value((long_name, jpeg_bytes("Cat (Chelsea)"),
                                                                      "image/jpeg"))
    at.run()
    assert not at.exception and not at.error
    assert bars(at)[0] in CAT_CLASSES  # predicted in the run the shot caused: no extra click
    captions = [c for image in at.get("image") for c in image.captions]
    assert not any(c in (long_name, CAMERA_NAME) for c in captions)  # the widget shows the shot; not again
    assert all(long_name not in m.value for m in (*at.markdown, *at.caption))
    at.camera_input(key=widget_key(PREDICT, PHOTO_CAMERA)).set_value((long_name, jpeg_bytes("Coffee cup"),
                                                                      "image/jpeg"))
    at.run()
    assert bars(at)[0] == "espresso"  # a new shot, a new prediction


# --------------------------------------------------------------------------- a fine-tune's held-out images


COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (220, 30, 30)}


def colour_job(home: Path, owner: str | None = None, dataset: str = "colours.zip", **meta: object) -> str:
    """A finished job as the worker leaves it: 7 images per class in its data folder (its own copy),
    a 3-class model in its artifacts and a config whose split (val 0.3, seed 7) is not the default."""
    src = home.parent / f"{home.name}-src"
    for name, rgb in COLOURS.items():
        (src / name).mkdir(parents=True, exist_ok=True)
        for i in range(7):
            Image.new("RGB", (24, 24), tuple(min(255, c + 4 * i) for c in rgb)).save(src / name / f"{name}{i}.png")
    ds = from_folder(src)
    config = job_config(TrainConfig(val_fraction=0.3, seed=7), dataset, ds.classes, len(ds.items))
    job = JobStore(home).create(dict(config, owner=owner), prepare=lambda j: link_dataset(ds, j.data_dir))
    write_finetuned(job.artifacts, classes=tuple(ds.classes), **meta)
    return job.id


def the_loops_validation_set(home: Path, job_id: str) -> list[str]:
    """The oracle: the validation images as the training loop itself draws them (runtime.prepare)."""
    job = JobStore(home).get(job_id)
    dataset = load_dataset(job.data_dir)
    split = prepare(TrainConfig.from_dict(job.config["train"]), dataset).split
    return [f"{dataset.items[i].path} (true: {dataset.classes[dataset.items[i].label]})" for i in split.val]


HELD_TOGGLE, HELD_IMAGE = widget_key(PREDICT, HELDOUT_TOGGLE), widget_key(PREDICT, HELDOUT_IMAGE)


def test_a_finetune_offers_its_own_validation_images_with_their_true_labels(_playground_home) -> None:
    job_id = colour_job(_playground_home)
    at = start(model=f"job:{job_id}")
    assert not at.exception and not at.error
    assert at.toggle(key=HELD_TOGGLE).value is True  # on by default: what the job's accuracy was measured on
    box = at.selectbox(key=HELD_IMAGE)
    assert box.options == the_loops_validation_set(_playground_home, job_id)
    assert len(box.options) == 6  # round(7 * 0.3) = 2 per class, not the default 0.2 split
    assert not at.segmented_control  # the photo picker gives way to the validation image
    for index in (0, len(box.options) - 1):
        at.selectbox(key=HELD_IMAGE).set_value(index).run()
        true = at.selectbox(key=HELD_IMAGE).options[index].split("(true: ")[1].rstrip(")")
        (verdict,) = [m.value for m in at.markdown if "True label" in m.value]
        assert f"True label **{md_text(true)}**; the model says **{md_text(bars(at)[0])}**" in verdict
        assert ("right" if true == bars(at)[0] else "wrong") in verdict
        path = at.selectbox(key=HELD_IMAGE).options[index].split(" (true")[0]
        assert f"Validation image {path}" in [c for image in at.get("image") for c in image.captions]

    at.toggle(key=HELD_TOGGLE).set_value(False).run()  # back to samples, uploads and the camera
    assert at.selectbox(key=SAMPLE).value == "Coffee cup" and len(bars(at)) == 3
    assert not [m for m in at.markdown if "True label" in m.value]


def test_validation_images_stay_with_their_owner_on_a_class_server(_playground_home, monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_CLASS_PASSCODE", PASSCODE)
    theirs, mine = colour_job(_playground_home, owner=B_ID), colour_job(_playground_home, owner=A_ID)
    at = AppTest.from_file(str(PAGES / "predict.py"), default_timeout=120)
    at.session_state[OWNER_SECRET_KEY] = A_SECRET
    at.query_params["model"] = f"job:{theirs}"
    at.run()
    assert not at.exception and not at.error
    assert NOT_YOURS in " ".join(c.value for c in at.caption)
    assert not any(box.key == HELD_IMAGE for box in at.selectbox)
    assert at.selectbox(key=SAMPLE).value == "Coffee cup" and len(bars(at)) == 3  # the model still works

    at.session_state[MODEL] = f"job:{mine}"  # (AppTest cannot set a selectbox with a format_func by value)
    at.run()
    assert at.selectbox(key=HELD_IMAGE).options == the_loops_validation_set(_playground_home, mine)


def test_a_model_folder_without_its_data_offers_no_validation_images(_playground_home) -> None:
    write_finetuned(_playground_home / "jobs" / "fruit3" / "artifacts", classes=("apple", "pear", "plum"))
    at = start(model="job:fruit3")
    assert not at.exception and not at.error
    assert not any(t.key == HELD_TOGGLE for t in at.toggle) and at.selectbox(key=SAMPLE).value == "Coffee cup"


# --------------------------------------------------------------------------- telling fine-tunes apart


def test_the_model_picker_tells_finetunes_apart(_playground_home) -> None:
    first = colour_job(_playground_home, strategy="head", created="2025-12-02T14:05:00+00:00",
                       metrics={"val_accuracy": 0.9444, "val_images": 6})
    second = colour_job(_playground_home, dataset="paint.zip", strategy="full", arch="mobilenet_v2",
                        created="2025-12-03T09:30:00+00:00", metrics={"val_accuracy": 0.5})
    at = AppTest.from_file(str(PAGES / "predict.py"), default_timeout=120)
    at.context["timezone"] = "Europe/Berlin"  # the reader's clock: UTC+1 in December
    at.query_params["model"] = f"job:{first}"
    at.run()
    assert not at.exception and not at.error
    box = at.selectbox(key=MODEL)
    labels = box.options
    assert box.value == f"job:{first}"
    year = "" if datetime.now().year == 2025 else " 2025"
    assert f"colours.zip · head · 94% · 2 Dec{year} 15:05 · {first[-6:]} · efficientnet_lite0" in labels
    assert f"paint.zip · full · 50% · 3 Dec{year} 10:30 · {second[-6:]} · mobilenet_v2" in labels
    assert not any("[" in label for label in labels)


def test_label_leaves_out_what_a_job_does_not_say() -> None:
    info = FinetuneInfo(ref="job:x", job_id="20250101-120000-a1b2c3", dataset=None, architecture=None,
                        strategy="head", val_accuracy=None, created=None, classes=("a", "b"), images=None,
                        val_images=None)
    assert finetune_label(info) == "head · a1b2c3"


def test_a_digits_model_says_what_it_has_seen(_playground_home) -> None:
    job_id = colour_job(_playground_home, dataset="digits")  # named as the bundled set's jobs are
    at = start(model=f"job:{job_id}")
    assert any("8×8 scanned handwritten digits from scikit-learn" in c.value
               and "ordinary photos are far from what it has seen" in c.value for c in at.caption)


def test_an_uploaded_sets_model_names_its_classes_as_text(_playground_home) -> None:
    job_id = colour_job(_playground_home, dataset="[answers](https://evil.example).zip")
    at = start(model=f"job:{job_id}")
    (note,) = [c.value for c in at.caption if "fine-tuned on" in c.value]
    assert md_text("[answers](https://evil.example).zip") in note and "21 images in 3 classes" in note
