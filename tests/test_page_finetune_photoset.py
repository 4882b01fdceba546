"""The Fine-tune page's "Make your own" source under AppTest: classes added by name (bad names refused
in place), files uploaded and camera shots taken per class, counts and strips shown, a photo removed,
the set surviving a reload, and a started job whose staged data has the right folders and counts."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest

from playground.finetune.data import load_dataset
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobStore
from playground.finetune.photoset import PHOTOSET_NAME, PhotoSet
from playground.ui.finetune import DATA, DATA_SOURCE, EPOCHS, FORM, IMAGE_SIZE, START_BUTTON
from playground.ui.finetune.camera_set import ADD_CLASS, NEW_CLASS, TARGET, VIA, class_key
from playground.ui.owner import OWNER_SECRET_KEY
from playground.ui.photo_input import CAMERA_NEEDS_HTTPS
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import PAGES
from tests.support.finetune_data import png_bytes
from tests.support.job_support import A_ID, A_SECRET

SOURCE_KEY = widget_key(DATA, DATA_SOURCE)


def shot(value: int) -> bytes:
    """A camera frame: st.camera_input always sends a JPEG."""
    buf = io.BytesIO()
    Image.fromarray(np.full((24, 32, 3), value, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "info", "success", "warning", "error")
                     for e in at.get(kind))


def browser(secret: str = A_SECRET) -> AppTest:
    """A session of the browser whose owner cookie is ``secret``, on the "Make your own" source."""
    at = AppTest.from_file(str(PAGES / "finetune.py"), default_timeout=180)
    at.session_state[OWNER_SECRET_KEY] = secret
    at.run()
    at.segmented_control(key=SOURCE_KEY).set_value("photos").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def add_class(at: AppTest, name: str) -> None:
    at.text_input(key=widget_key(DATA, NEW_CLASS)).set_value(name)
    at.button(key=widget_key(DATA, ADD_CLASS)).click().run()
    assert not at.exception, [e.message for e in at.exception]


def test_make_a_set_from_files_and_the_camera_then_train_on_it(fake_jobs: JobManager, _playground_home: Path) -> None:
    at = browser()
    assert "add at least 2 classes" in texts(at) and "Choose a usable dataset first." in texts(at)

    add_class(at, ".secret")  # a name a zip would skip: refused in place, the typed name kept to fix
    assert [e.value for e in at.error] == [md_text(
        "a zip would skip a class folder called '.secret' (hidden files); choose another name (not starting with '.')")]
    assert at.text_input(key=widget_key(DATA, NEW_CLASS)).value == ".secret"
    add_class(at, "[dog](evil.example)")  # shown as text wherever it appears
    add_class(at, "cat")
    assert not at.error and at.text_input(key=widget_key(DATA, NEW_CLASS)).value == ""
    dog = "[dog](evil.example)"

    # Files for the dog class: two good ones and a broken one, named in its message.
    at.selectbox(key=widget_key(DATA, TARGET)).set_value(dog).run()
    at.segmented_control(key=widget_key(DATA, VIA)).set_value("files").run()
    at.file_uploader[0].set_value([("d1.png", png_bytes(10, 16), "image/png"), ("d2.png", png_bytes(20, 16), "image/png"),
                                   ("broken.png", b"nope", "image/png")]).run()
    assert not at.exception
    assert md_text(f"Added 2 of 3 file(s) to {dog!r}.") in texts(at)
    assert [e.value for e in at.error] == [md_text(
        f"'broken.png' was not added to {dog!r}: broken.png: not a JPEG, PNG, WebP, GIF or BMP image "
        "(or the file is damaged)")]
    assert not at.file_uploader[0].value  # emptied for the next files

    # Camera shots for the cat class: each one is added at once, and a fresh camera is ready for the next.
    at.selectbox(key=widget_key(DATA, TARGET)).set_value("cat").run()
    at.segmented_control(key=widget_key(DATA, VIA)).set_value("camera").run()
    assert CAMERA_NEEDS_HTTPS in texts(at)  # said beside the camera (AppTest has no address to judge)
    at.camera_input[0].set_value(("shot.jpg", shot(50), "image/jpeg")).run()
    assert md_text("Added a photo to 'cat'.") in texts(at)
    first_key = at.camera_input[0].key
    assert "cat** · 1 photo" in texts(at) and "add 1 more" in texts(at)
    at.camera_input[0].set_value(("shot.jpg", shot(90), "image/jpeg")).run()
    assert at.camera_input[0].key != first_key
    assert not at.exception and not at.error
    assert f"**{md_text(dog)}** · 2 photos" in texts(at) and "**cat** · 2 photos" in texts(at)
    assert len(at.get("image")) == 2  # a strip per class, not repeated by the summary below it
    assert f"**{md_text(PHOTOSET_NAME)}**: 4 images in 2 classes" in texts(at)  # the usual summary: trainable

    # A reload (a new session of the same browser) shows the same set; a photo removed there is gone.
    again = browser()
    assert "**cat** · 2 photos" in texts(again)
    cat_photos = PhotoSet.for_owner(A_ID).photos("cat")
    pick = next(m for m in again.multiselect if m.key.startswith(class_key(DATA, "cat", "pick")))
    assert pick.options == ["#1", "#2"]
    pick.set_value([cat_photos[0].name]).run()
    again.button(key=class_key(DATA, "cat", "drop")).click().run()
    assert not again.exception and "**cat** · 1 photo" in texts(again) and md_text("Removed 1 photo(s) from 'cat'.") in texts(again)
    assert PhotoSet.for_owner(A_ID).photos("cat") == cat_photos[1:]
    assert md_text("class 'cat' has 1 photo: add 1 more") in texts(again) and "Choose a usable dataset first." in texts(again)
    again.selectbox(key=widget_key(DATA, TARGET)).set_value("cat").run()
    again.camera_input[0].set_value(("shot.jpg", shot(130), "image/jpeg")).run()
    assert "**cat** · 2 photos" in texts(again)

    again.number_input(key=widget_key(FORM, IMAGE_SIZE)).set_value(48)
    again.number_input(key=widget_key(FORM, EPOCHS)).set_value(1).run()
    again.button(key=START_BUTTON).click().run()
    assert not again.exception and not again.error
    job = JobStore(_playground_home).get(again.query_params["job"])
    assert job.config["dataset"] == {"name": PHOTOSET_NAME, "classes": [dog, "cat"], "images": 4}  # sorted, as a zip's
    staged = load_dataset(job.data_dir)
    assert staged.counts() == {dog: 2, "cat": 2} and staged.classes == [dog, "cat"]
    assert sorted(p.parent.name for p in job.data_dir.rglob("*") if p.is_file() and p.name != "dataset.json") == \
        sorted(["cat", "cat", dog, dog])


def test_a_class_can_be_removed(fake_jobs: JobManager) -> None:
    at = browser()
    add_class(at, "cat")
    add_class(at, "dog")
    at.button(key=class_key(DATA, "dog", "remove")).click().run()
    assert not at.exception and md_text("Removed class 'dog' and its 0 photo(s).") in texts(at)
    assert PhotoSet.for_owner(A_ID).classes() == ["cat"] and "add a second class" in texts(at)
