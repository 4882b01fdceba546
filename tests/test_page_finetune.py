"""The Fine-tune page under AppTest: bundled digits to a finished job, queue, cancel, limits,
reattaching by URL, and upload errors shown in place; in a class (passcode set), two browsers
with different owner secrets: read-only views of a classmate's job, limits that survive a reload,
the queue's bound; and the app starting the job manager on its own."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.classroom import PASSCODE_ENV, ClassSettings, Viewer, save_settings
from playground.finetune.jobs import manager as jobs_manager
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobError, JobStore
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
from playground.ui.finetune.job import artifacts_zip
from playground.ui.finetune.live import confirm_cancel_key, keep_training_key
from playground.ui.owner import NAME_INPUT, OWNER_SECRET_KEY
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import PAGES, run_page
from tests.support.finetune_data import make_zip, png_bytes
from tests.support.job_support import (
    A_ID,
    A_SECRET,
    B_ID,
    B_SECRET,
    LINK_NAME,
    PASSCODE,
    FakeRunner,
    done_job,
    job_settings,
)

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
    # The samples: one grid element, a strip of its first four images per class, its name under it.
    [grid] = at.get("image")
    assert len(grid.proto.imgs) == 10 and list(grid.captions) == [f"**{c}**" for c in "0123456789"]
    at.run()  # a rerun replays the same summary
    assert "**digits**: 1,797 images in 10 classes" in texts(at) and len(at.get("image")[0].proto.imgs) == 10
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
    assert [e.value for e in at.error] == [md_text(
        "this browser already has 2 job(s) queued or running (limit 2); wait for one to finish or cancel it")]
    at.query_params["job"] = second
    at.run()
    at.button(key=cancel_key(second)).click().run()  # asks first
    assert "queued" in status(at) and "It leaves the queue; nothing has been trained yet." in texts(at)
    at.button(key=confirm_cancel_key(second)).click().run()
    assert "cancelled" in status(at) and "Cancelled: cancelled before it started" in texts(at)

    at.query_params["job"] = first
    deadline = time.monotonic() + 240
    while "done" not in status(at) and "failed" not in status(at):
        assert time.monotonic() < deadline, texts(at)
        time.sleep(2)  # each run of the live view costs this worker's CPU, which the job needs too
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
    assert [e.value for e in at.error] == [md_text(  # shown as text: a ?job= value is never markdown
        "Cannot show this job: '../../etc' is not a job id (expected e.g. 20250101-120000-a1b2c3)")]


def test_uploads_are_checked_with_clear_messages() -> None:
    at = start()
    at.segmented_control(key=SOURCE_KEY).set_value("upload").run()
    at.file_uploader(key=UPLOAD_KEY).set_value(("photos.zip", b"not a zip at all", "application/zip")).run()
    assert not at.exception
    assert at.error[0].value.startswith(md_text("'photos.zip' is not a readable zip file"))

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
    assert f"**{md_text('ab.zip')}**: 4 images in 2 classes" in texts(at)
    assert "Skipped 1 non-image files." in texts(at)
    assert any("1 image(s) could not be decoded" in e.label for e in at.expander)
    assert at.number_input(key=IMAGE_SIZE_KEY).value == 224  # uploads start at the model's own size


def test_a_staged_upload_deleted_from_the_data_folder_is_staged_again(_playground_home) -> None:
    import shutil

    at = start()
    at.segmented_control(key=SOURCE_KEY).set_value("upload").run()
    ab = make_zip({"a/1.png": png_bytes(1), "a/2.png": png_bytes(2), "b/3.png": png_bytes(3), "b/4.png": png_bytes(4)})
    at.file_uploader(key=UPLOAD_KEY).set_value(("ab.zip", ab, "application/zip")).run()
    assert f"**{md_text('ab.zip')}**: 4 images in 2 classes" in texts(at)
    shutil.rmtree(_playground_home / "uploads")  # e.g. a teacher cleaning the data folder
    at.run()
    assert not at.exception and not at.error
    assert f"**{md_text('ab.zip')}**: 4 images in 2 classes" in texts(at)


# --------------------------------------------------------------------------- a class: owners and limits

@pytest.fixture()
def classroom(monkeypatch: pytest.MonkeyPatch, fake_jobs: JobManager) -> JobManager:
    """A class (passcode set) whose jobs never really train (see ``fake_jobs``)."""
    monkeypatch.setenv(PASSCODE_ENV, PASSCODE)
    return fake_jobs


def as_browser(secret: str, **query: str) -> AppTest:
    """A new session of the browser whose owner cookie is ``secret`` (AppTest has no cookies: the
    page reads the session's copy first, as it does after the first run of a real session)."""
    at = AppTest.from_file(str(PAGES / "finetune.py"), default_timeout=180)
    at.session_state[OWNER_SECRET_KEY] = secret
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


def button_keys(at: AppTest) -> set[str]:
    return {b.key for b in at.button}


def test_a_classmate_sees_a_read_only_job_and_the_owner_keeps_control(classroom: JobManager,
                                                                      _playground_home: Path) -> None:
    running = classroom.submit(job_settings(), owner=A_ID, owner_name="Ada")
    finished = done_job(_playground_home, A_ID)
    assert classroom.get(running.id).status == "running"

    b = as_browser(B_SECRET, job=running.id)  # B opened A's link from the class list
    assert not b.exception and "running" in status(b)
    assert cancel_key(running.id) not in button_keys(b)
    assert "you can watch it, not change it" in texts(b)
    assert "No jobs started from this tab yet." in texts(b)  # opening the link adopted nothing
    with pytest.raises(JobError, match=f"job {running.id} was started by someone else"):
        classroom.cancel(running.id, by=Viewer(owner=B_ID, classroom=True))  # nor can the library be asked
    b.query_params["job"] = finished
    b.run()
    assert not b.exception and "done" in status(b)
    assert not b.get("download_button") and "Misclassified validation images" not in texts(b)
    assert "Only the student who started this job" in texts(b)
    with pytest.raises(JobError, match="only they or the teacher can download the model of it"):
        artifacts_zip(classroom.get(finished), Viewer(owner=B_ID, classroom=True))

    a = as_browser(A_SECRET, job=finished)  # A, in another tab of her browser
    assert a.get("download_button") and "Misclassified validation images" in texts(a)
    assert artifacts_zip(classroom.get(finished), Viewer(owner=A_ID, classroom=True)).startswith(b"PK")
    a.query_params["job"] = running.id
    a.run()
    a.button(key=cancel_key(running.id)).click().run()
    a.button(key=confirm_cancel_key(running.id)).click().run()
    assert not a.exception and classroom.store.cancel_requested(running.id)

    reloaded = as_browser(A_SECRET)  # a reload: a new session, the same cookie
    assert f"`{running.id}`" in texts(reloaded) and f"`{finished}`" in texts(reloaded)
    assert "No jobs started from this tab yet." not in texts(reloaded)


def test_classmates_jobs_can_be_hidden(classroom: JobManager, _playground_home: Path) -> None:
    finished = done_job(_playground_home, A_ID)
    save_settings(ClassSettings(students_see_others=False), _playground_home)
    b = as_browser(B_SECRET, job=finished)
    assert not b.exception and not [s for s in b.subheader if "Job " in s.value]
    assert "the teacher has turned off seeing each other's jobs" in "\n".join(i.value for i in b.info)
    assert f"`{finished}`" not in texts(b)  # nor listed under all jobs
    assert "done" in status(as_browser(A_SECRET, job=finished))


def test_limits_survive_a_reload_and_the_queue_is_bounded(classroom: JobManager) -> None:
    classroom.submit(job_settings(), owner=A_ID)  # runs
    waiting = classroom.submit(job_settings(), owner=A_ID)
    a = as_browser(A_SECRET)  # a reload after starting two jobs
    a.number_input(key=IMAGE_SIZE_KEY).set_value(48)
    a.number_input(key=EPOCHS_KEY).set_value(1).run()
    assert START_BUTTON not in button_keys(a)  # a class: a name first
    a.text_input(key=NAME_INPUT).set_value(LINK_NAME).run()
    a.button(key=START_BUTTON).click().run()
    assert [e.value for e in a.error] == [md_text(
        "this browser already has 2 job(s) queued or running (limit 2); wait for one to finish or cancel it")]

    assert classroom.cancel(waiting.id).status == "cancelled"
    a.button(key=START_BUTTON).click().run()
    started = a.query_params["job"]
    config = classroom.get(started).config
    assert (config["owner"], config["owner_name"]) == (A_ID, LINK_NAME)
    assert A_SECRET not in classroom.get(started).config_file.read_text()  # only the hash is stored

    classroom.queue_limit = 1  # one job waits already (A's new one): the server's queue is full
    b = as_browser(B_SECRET)
    b.number_input(key=IMAGE_SIZE_KEY).set_value(48)
    b.number_input(key=EPOCHS_KEY).set_value(1).run()
    b.text_input(key=NAME_INPUT).set_value("Bo").run()
    b.button(key=START_BUTTON).click().run()
    assert [e.value for e in b.error] == [md_text(
        "the queue is full: 1 jobs are waiting on this server (at most 1); try again in a few minutes, "
        "when some have finished")]


def test_the_app_starts_the_job_manager_so_a_queued_job_runs_after_a_restart(
        monkeypatch: pytest.MonkeyPatch, _playground_home: Path) -> None:
    """A job queued before the server stopped runs when the app starts, with nobody on Fine-tune."""
    queued = JobStore(_playground_home).create(job_settings())  # left queued by the previous server
    runner = FakeRunner()
    monkeypatch.setattr(jobs_manager, "make_runner", lambda name=None: runner)
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=180)
    at.run()  # the Home page
    try:
        assert not at.exception
        deadline = time.monotonic() + 30
        while [s[0] for s in runner.started] != [queued.id]:
            assert time.monotonic() < deadline, runner.started
            time.sleep(0.1)
        assert JobStore(_playground_home).get(queued.id).status == "running"
    finally:
        manager = jobs_manager._MANAGERS.pop(_playground_home.resolve(), None)
        if manager is not None:
            manager.shutdown()


def test_class_names_in_result_charts_are_text_not_plotly_html() -> None:
    from playground.ui.finetune.job import confusion_figure

    fig = confusion_figure([[1, 0], [0, 1]], ["<a href='https://evil.example'>x</a>", "cat"])
    assert list(fig.data[0].x) == ["&lt;a href='https://evil.example'&gt;x&lt;/a&gt;", "cat"]


# --------------------------------------------------------------------------- a running job, a cancelled one


def _epoch_line(epoch: int, accuracy: float, loss: float) -> str:
    return json.dumps({"event": "epoch", "epoch": epoch, "epochs": 3, "val_accuracy": accuracy, "val_loss": loss,
                       "train_loss": 1.0, "train_accuracy": 0.5, "seconds": 1.0}) + "\n"


def test_head_extraction_shows_counts_and_time_left(fake_jobs: JobManager) -> None:
    job = fake_jobs.submit(job_settings())
    fake_jobs.store.update(job.id, progress={"phase": "extracting features", "phase_done": 64,
                                             "phase_total": 1797, "eta_seconds": 40.0})
    at = start(job=job.id)
    assert not at.exception and "running" in status(at)
    (bar,) = at.get("progress")
    assert re.fullmatch(r"Extracting features\.\.\. \(64/1,797\) · ~(39|40) s left", bar.proto.text), bar.proto.text
    assert "**extracting features**" in texts(at)  # the phase under way, among the run's phases
    assert "the head trains in seconds: its curves appear then" in texts(at)
    # Once the head trains, its per-epoch curves show up live like any strategy's.
    with job.metrics_file.open("a") as f:
        f.write(json.dumps({"event": "batch", "epoch": 1, "epochs": 3, "step": 1, "steps_per_epoch": 2,
                            "global_step": 1, "total_steps": 6, "loss": 2.0, "accuracy": 0.2}) + "\n")
        f.write(_epoch_line(1, 0.6, 1.2))
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_cancel_asks_first_and_says_what_is_kept(fake_jobs: JobManager) -> None:
    job = fake_jobs.submit(job_settings())
    fake_jobs.store.update(job.id, progress={"phase": "training", "epoch": 3, "epochs": 3, "step": 1,
                                             "steps_per_epoch": 2, "global_step": 5, "total_steps": 6, "loss": 0.5,
                                             "accuracy": 0.8, "eta_seconds": None})
    job.metrics_file.write_text(_epoch_line(1, 0.6, 1.2) + _epoch_line(2, 0.75, 0.9))
    at = start(job=job.id)
    assert "estimating the time left" in at.get("progress")[0].proto.text  # no figure yet: no made-up one
    at.button(key=cancel_key(job.id)).click().run()
    assert not fake_jobs.store.cancel_requested(job.id)  # one click only asks
    assert ("The best epoch so far is kept as a usable model: epoch 2 of 3, validation accuracy 75.0%."
            in texts(at))
    at.button(key=keep_training_key(job.id)).click().run()
    assert not fake_jobs.store.cancel_requested(job.id) and confirm_cancel_key(job.id) not in button_keys(at)
    at.button(key=cancel_key(job.id)).click().run()
    at.button(key=confirm_cancel_key(job.id)).click().run()
    assert not at.exception and fake_jobs.store.cancel_requested(job.id)


def test_a_cancelled_job_with_a_kept_model_shows_it(fake_jobs: JobManager, _playground_home: Path) -> None:
    job_id = done_job(_playground_home, "someone")
    store = JobStore(_playground_home)
    results = json.loads(store.folder(job_id).results_file.read_text())
    results.update(kept_epoch=2, stopped={"epoch": 3, "epochs": 3, "step": 1, "steps_per_epoch": 2}, epochs=2)
    store.folder(job_id).results_file.write_text(json.dumps(results))
    store.update(job_id, state="cancelled", message="stopped at your request in epoch 3 of 3, step 1 of 2; kept "
                                                    "the model of epoch 2 (the best so far: validation accuracy 50.0%)")
    at = start(job=job_id)
    assert not at.exception and "cancelled" in status(at)
    assert "kept the model of epoch 2" in texts(at)
    assert any("The kept model is epoch 2 of 3" in i.value for i in at.info)
    assert f"predict?model=job%3A{job_id}" in texts(at) and at.get("download_button")
    assert next(m.value for m in at.metric if m.label == "Validation accuracy") == "50.0%"


def test_a_running_jobs_row_says_its_epoch_not_how_it_started(fake_jobs: JobManager) -> None:
    """The row under "Your jobs" said "starting a worker process" for the whole run while the live
    panel beside it counted epochs."""
    job = fake_jobs.submit(job_settings(), owner=A_ID)
    fake_jobs.store.update(job.id, state="running", message="starting a worker process",
                           progress={"phase": "training", "epoch": 2, "epochs": 5, "step": 1, "steps_per_epoch": 20,
                                     "global_step": 40, "total_steps": 100, "loss": 0.5, "accuracy": 0.8})
    at = AppTest.from_file(str(PAGES / "finetune.py"), default_timeout=180)
    at.session_state[OWNER_SECRET_KEY] = A_SECRET
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert md_text("training: epoch 2/5 · 40%") in captions, captions
    assert not [c for c in captions if "starting a worker process" in c]

    fake_jobs.store.update(job.id, progress={"phase": "extracting features", "phase_done": 64, "phase_total": 1797})
    at.run()
    assert md_text("extracting features (64/1,797)") in [c.value for c in at.caption]


def test_an_accuracy_from_a_few_validation_images_comes_with_a_caution(fake_jobs: JobManager,
                                                                       _playground_home: Path) -> None:
    job_id = done_job(_playground_home, A_ID)  # its results: 4 validation images (the confusion matrix)
    at = AppTest.from_file(str(PAGES / "finetune.py"), default_timeout=180)
    at.session_state[OWNER_SECRET_KEY] = A_SECRET
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception
    (caution,) = [w.value for w in at.warning if "validation image" in w.value]
    assert "only 4 validation images" in caution and "25 percentage points" in caution


def test_the_epochs_box_says_its_limit_in_words(fake_jobs: JobManager, _playground_home: Path) -> None:
    at = start()
    assert not at.exception
    assert any(c.value.startswith("1 to ") and "limit" not in c.value for c in at.caption)
    save_settings(ClassSettings(max_epochs=5), _playground_home)
    at = start()
    assert "1 to 5 (the class's limit)" in [c.value for c in at.caption]
