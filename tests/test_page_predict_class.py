"""The Predict page on a class server (a passcode is set): whose fine-tunes a student sees, and what of
the server a student sees (folders, admin commands, the machine, weight downloads)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground.classroom import ClassSettings, save_settings
from playground.finetune.config import TrainConfig
from playground.finetune.jobs.store import JobStore
from playground.finetune.jobs.submit import job_config
from playground.models.weights import TorchHubWeights
from playground.ui import owner
from playground.ui.owner import OWNER_SECRET_KEY
from playground.ui.predict import MODEL_PICKER, PREDICT
from playground.ui.predict.model_weights import DOWNLOAD
from playground.ui.predict.models import NOT_SHARED_MODEL
from playground.ui.text import md_text
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import PAGES
from tests.support.job_support import A_ID, A_SECRET, B_SECRET, PASSCODE
from tests.support.model_data import write_finetuned

REPO = PAGES.parent
MODEL = widget_key(PREDICT, MODEL_PICKER)
SECRET_SET = "alices-secret-pets.zip"  # the dataset name only Alice (and the teacher) may read


def alices_finetune(home: Path) -> str:
    """A finished fine-tune of student A, on a dataset whose name is hers."""
    classes = ["cat", "dog", "fish"]
    job = JobStore(home).create(dict(job_config(TrainConfig(), SECRET_SET, classes, 30), owner=A_ID))
    write_finetuned(job.artifacts, classes=tuple(classes), metrics={"val_accuracy": 0.9})
    return job.id


def predict_as(secret: str | None, teacher: bool = False, **query: str) -> AppTest:
    """The Predict page as the browser holding ``secret`` sees it (the teacher's, with ``teacher``)."""
    at = AppTest.from_file(str(PAGES / "predict.py"), default_timeout=120)
    if secret is not None:
        at.session_state[OWNER_SECRET_KEY] = secret
    teacher_mode(teacher)
    for name, value in query.items():
        at.query_params[name] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def listed(at: AppTest, job_id: str) -> bool:
    """Whether the model box offers the job's model (options are shown by label: it ends with the id's tail)."""
    return any(f" · {job_id[-6:]} · " in option for option in at.selectbox(key=MODEL).options)


def everything_shown(at: AppTest) -> str:
    """Every text the page shows, widgets' options included."""
    texts = [e.value for kind in (at.markdown, at.caption, at.error, at.info, at.warning, at.success)
             for e in kind]
    texts += [str(o) for box in at.selectbox for o in box.options] + [e.label for e in at.expander]
    texts += [b.label for b in at.button]
    return "\n".join(texts)


_TEACHER = {"now": False}  # whether the next runs are the teacher's (teacher_mode)


@pytest.fixture(autouse=True)
def _teacher_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions are the teacher's when a test says so (how a teacher signs in is the Teacher page's
    business, tested there); a student's otherwise."""
    _TEACHER["now"] = False
    monkeypatch.setattr(owner, "is_teacher", lambda: _TEACHER["now"] and owner.classroom_mode())


def teacher_mode(on: bool) -> None:
    """The next runs are the teacher's (``on``) or a student's."""
    _TEACHER["now"] = on


@pytest.fixture()
def class_server(monkeypatch: pytest.MonkeyPatch, _playground_home: Path) -> Path:
    monkeypatch.setenv("PLAYGROUND_CLASS_PASSCODE", PASSCODE)
    return _playground_home


def test_with_sharing_off_another_students_finetune_is_unlisted_and_refused(class_server: Path) -> None:
    job_id = alices_finetune(class_server)
    ref = f"job:{job_id}"
    save_settings(ClassSettings(students_see_others=False), class_server)

    bob = predict_as(B_SECRET)
    assert not listed(bob, job_id) and len(bob.selectbox(key=MODEL).options) >= 1
    assert SECRET_SET not in everything_shown(bob) and job_id[-6:] not in everything_shown(bob)

    bob = predict_as(B_SECRET, model=ref)  # the link that loaded and ran Alice's model
    assert [e.value for e in bob.error] == [NOT_SHARED_MODEL]
    assert bob.selectbox(key=MODEL).value == "efficientnet_lite0" and not listed(bob, job_id)
    assert SECRET_SET not in everything_shown(bob)

    for secret, teacher in ((A_SECRET, False), (B_SECRET, True)):  # the owner, and the teacher, still use it
        at = predict_as(secret, teacher=teacher, model=ref)
        assert not at.error and at.selectbox(key=MODEL).value == ref and listed(at, job_id)
        assert SECRET_SET in everything_shown(at)

    save_settings(ClassSettings(students_see_others=True), class_server)  # sharing back on: read-only use
    bob = predict_as(B_SECRET, model=ref)
    assert not bob.error and bob.selectbox(key=MODEL).value == ref


def test_without_a_passcode_every_finetune_is_listed(_playground_home: Path) -> None:
    job_id = alices_finetune(_playground_home)
    save_settings(ClassSettings(students_see_others=False), _playground_home)  # means nothing single-user
    at = predict_as(B_SECRET)
    assert listed(at, job_id)


def _server_details(at: AppTest) -> list[str]:
    """What of the server's own on the page: its hub folder, admin commands, download buttons."""
    shown = everything_shown(at)
    secrets = (str(TorchHubWeights.folder()), "--download", "python -m playground", "TORCH_HOME")
    found = [text for text in secrets if text in shown or md_text(text) in shown]
    found += [b.key for b in at.button if DOWNLOAD in (b.key or "")]
    return found


def test_a_student_on_a_class_server_sees_no_server_path_nor_download(class_server: Path) -> None:
    student = predict_as(B_SECRET)
    if not any("not available here" in e.label for e in student.expander):
        pytest.skip("every model's weights are on this machine: nothing to hide")
    assert _server_details(student) == []
    assert md_text("ResNet-18") in everything_shown(student)  # still told which models this server lacks

    teacher = predict_as(B_SECRET, teacher=True)
    assert md_text(TorchHubWeights.folder()) in everything_shown(teacher)
    assert any(DOWNLOAD in (b.key or "") for b in teacher.button)


def test_a_single_user_install_shows_paths_and_downloads(_playground_home: Path) -> None:
    at = predict_as(None)
    if not any("not available here" in e.label for e in at.expander):
        pytest.skip("every model's weights are on this machine: nothing to show")
    assert md_text(TorchHubWeights.folder()) in everything_shown(at)
    assert any(DOWNLOAD in (b.key or "") for b in at.button)


def test_a_students_sidebar_tells_nothing_of_the_machine(class_server: Path) -> None:
    app = str(REPO / "app.py")
    student = AppTest.from_file(app, default_timeout=60)
    student.session_state[OWNER_SECRET_KEY] = B_SECRET
    student.run()
    assert not student.exception
    shown = " ".join(c.value for c in student.sidebar.caption)
    assert "CPU" not in shown and "GPU" not in shown and "Jobs:" not in shown and class_server.name not in shown

    teacher = AppTest.from_file(app, default_timeout=60)
    teacher.session_state[OWNER_SECRET_KEY] = B_SECRET
    teacher_mode(True)
    teacher.run()
    shown = " ".join(c.value for c in teacher.sidebar.caption)
    assert ("CPU" in shown or "GPU" in shown) and "Jobs:" in shown
