"""The Fine-tune page under AppTest: bundled digits to a finished job, queue, cancel, limits,
reattaching by URL, and upload errors shown in place."""
from __future__ import annotations

import json
import time

from streamlit.testing.v1 import AppTest

from playground.finetune.jobs.store import JobStore
from playground.ui.common import widget_key
from playground.ui.finetune import (
    DATA,
    DATA_SOURCE,
    DATA_UPLOAD,
    EPOCHS,
    FORM,
    IMAGE_SIZE,
    NEW_BUTTON,
    START_BUTTON,
    cancel_key,
    open_key,
)
from tests.apptest_pages import run_page
from tests.finetune_data import make_zip, png_bytes

IMAGE_SIZE_KEY, EPOCHS_KEY = widget_key(FORM, IMAGE_SIZE), widget_key(FORM, EPOCHS)
SOURCE_KEY, UPLOAD_KEY = widget_key(DATA, DATA_SOURCE), widget_key(DATA, DATA_UPLOAD)


def start(**query: str) -> AppTest:
    return run_page("finetune", timeout=180, **query)


def texts(at: AppTest) -> str:
    return "\n".join(e.value for kind in ("markdown", "caption", "subheader", "success", "warning", "error")
                     for e in at.get(kind))


def status(at: AppTest) -> str:
    return next(s.value for s in at.subheader if s.value.startswith(":material/") and "Job " in s.value)


def test_bundled_digits_queue_cancel_limit_and_results(_playground_home) -> None:
    at = start()
    assert not at.exception and not at.error
    assert "**digits**: 1,797 images in 10 classes" in texts(at)
    assert [m.value for m in at.metric if m.label == "Trainable parameters"] == ["12,810"]  # 1280 x 10 + 10
    assert at.number_input(key=IMAGE_SIZE_KEY).value == 64  # the bundled set's suggested size
    at.number_input(key=IMAGE_SIZE_KEY).set_value(48)
    at.number_input(key=EPOCHS_KEY).set_value(1)
    at.button(key=START_BUTTON).click().run()
    first = at.query_params["job"]
    assert not at.exception and "Job " + first in status(at)

    # A second job waits in the queue (one job at a time on a CPU) and can be cancelled there.
    at.button(key=NEW_BUTTON).click().run()
    assert "job" not in at.query_params and at.number_input(key=EPOCHS_KEY).value == 1  # settings kept
    at.button(key=START_BUTTON).click().run()
    second = at.query_params["job"]
    assert second != first and "queued" in status(at)
    at.button(key=NEW_BUTTON).click().run()
    at.button(key=START_BUTTON).click().run()  # a third one is over the per-session limit
    assert [e.value for e in at.error] == [
        "this session already has 2 job(s) queued or running (limit 2); wait for one to finish or cancel it"]
    at.query_params["job"] = second
    at.run()
    at.button(key=cancel_key(second)).click().run()
    assert "cancelled" in status(at) and "Cancelled: cancelled before it started" in texts(at)

    at.query_params["job"] = first
    deadline = time.monotonic() + 240
    while "done" not in status(at) and "failed" not in status(at):
        assert time.monotonic() < deadline, texts(at)
        time.sleep(1)
        at.run()
    assert not at.exception and "done" in status(at), texts(at)
    accuracy = next(m.value for m in at.metric if m.label == "Validation accuracy")
    assert float(accuracy.rstrip("%")) > 50  # 10 classes: chance is 10%
    results = json.loads(JobStore(_playground_home).folder(first).results_file.read_text())
    shown = next(m.value for m in at.metric if m.label == "Images/s")  # the whole run, not the head's steps alone
    assert shown == f"{results['train_images'] * results['epochs'] / results['train_seconds']:,.0f}"
    assert f"predict?model=job%3A{first}" in texts(at)
    assert at.get("download_button") and len(at.get("plotly_chart")) >= 3  # curves, confusion, per class
    assert "Misclassified validation images" in texts(at)

    # Another tab (or a reload) with the job in its URL shows the same results.
    other = start(job=first)
    assert not other.exception and "done" in status(other)
    assert next(m.value for m in other.metric if m.label == "Validation accuracy") == accuracy
    assert f"`{first}`" in texts(other)  # listed under all jobs on this server
    # ...and still counts it among "Your jobs": the new session took over the job's own session.
    assert "No jobs started from this tab yet." not in texts(other)
    assert other.button(key=open_key(first)).disabled  # the row of the job being shown
    assert "No jobs started from this tab yet." in texts(start())  # a fresh tab without ?job= has none


def test_bad_job_in_the_url() -> None:
    at = start(job="../../etc")
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Cannot show this job: '../../etc' is not a job id (expected e.g. 20250101-120000-a1b2c3)"]


def test_uploads_are_checked_with_clear_messages() -> None:
    at = start()
    at.segmented_control(key=SOURCE_KEY).set_value("upload").run()
    at.file_uploader(key=UPLOAD_KEY).set_value(("photos.zip", b"not a zip at all", "application/zip")).run()
    assert not at.exception
    assert at.error[0].value.startswith("'photos.zip' is not a readable zip file")

    cats = make_zip({"cats/1.png": png_bytes(1), "cats/2.png": png_bytes(2)})
    at.file_uploader(key=UPLOAD_KEY).set_value(("cats.zip", cats,
                      "application/zip")).run()
    assert not at.exception
    assert "a classifier needs at least 2" in at.error[0].value
    assert "Choose a usable dataset first." in texts(at)

    good = make_zip({"a/1.png": png_bytes(1), "a/2.png": png_bytes(2), "b/3.png": png_bytes(3),
                     "b/4.png": png_bytes(4), "b/notes.txt": b"x", "b/5.png": b"broken"})
    at.file_uploader(key=UPLOAD_KEY).set_value(("ab.zip", good, "application/zip")).run()
    assert not at.exception and not at.error
    assert "**ab.zip**: 4 images in 2 classes" in texts(at)
    assert "Skipped 1 non-image files." in texts(at)
    assert any("1 image(s) could not be decoded" in e.label for e in at.expander)
    assert at.number_input(key=IMAGE_SIZE_KEY).value == 224  # uploads start at the model's own size


def test_a_staged_upload_deleted_from_the_data_folder_is_staged_again(_playground_home) -> None:
    import shutil

    at = start()
    at.segmented_control(key=SOURCE_KEY).set_value("upload").run()
    ab = make_zip({"a/1.png": png_bytes(1), "a/2.png": png_bytes(2), "b/3.png": png_bytes(3), "b/4.png": png_bytes(4)})
    at.file_uploader(key=UPLOAD_KEY).set_value(("ab.zip", ab, "application/zip")).run()
    assert "**ab.zip**: 4 images in 2 classes" in texts(at)
    shutil.rmtree(_playground_home / "uploads")  # e.g. a teacher cleaning the data folder
    at.run()
    assert not at.exception and not at.error
    assert "**ab.zip**: 4 images in 2 classes" in texts(at)
