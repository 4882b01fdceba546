"""The Assignment page (student) and the Teacher page's Assignments panel under AppTest: hidden targets
never reach the page, a submission is the browser's own and re-checked on the server, closed means closed;
the teacher adds, edits, opens and follows the class's progress."""
from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from playground import classroom as cr
from playground.assignments import db
from playground.assignments.model import parse_assignment
from playground.finetune.jobs.manager import JobManager
from playground.ui.assignments.student_view import SUBMIT_BUTTON, instructions_markdown
from playground.ui.assignments.teacher_view import ADD_PRESET, CREATE_JSON, CSV_BUTTON, NEW_JSON, action_key
from playground.ui.owner import NAME_INPUT, OWNER_SECRET_KEY
from playground.ui.text import md_text
from tests.support.apptest_pages import PAGES, run_page, teacher_session

PASSCODE = "let-me-teach"
SECRET_TASK = {"title": "Secret sizes", "instructions": "Do it.\n\n- small\n- <b>bold</b> [x](https://e.example)",
               "input": [3, 32, 32], "criteria": [
                   {"metric": "params", "at_most": 987_654, "hidden": True},
                   {"metric": "receptive_field", "at_least": 4321, "hidden": True, "hint": "think big"},
                   {"metric": "output_shape", "equals": [7777, 32, 32], "hidden": True},
                   {"metric": "layer_types_used", "at_least": ["channel_shuffle"], "hidden": True},
                   {"metric": "conv_layers", "at_most": 5}]}
# (layer type names are not among them: the Designer's add bar lists every type anyway)
SECRETS = ("987654", "987,654", "987 654", "4321", "4,321", "7777", "7,777")


def texts(at: AppTest) -> str:
    """Everything the page sent: every element's message (dataframes as their table text) and the URL."""
    out: list[str] = [str(dict(at.query_params))]

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        if type(node).__name__ == "Dataframe":
            out.append(node.value.to_string())
        children = getattr(node, "children", None)
        for child in (children.values() if isinstance(children, dict) else []):
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def student(assignment_id: str, secret: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(str(PAGES / "assignment.py"), default_timeout=120)
    at.session_state[OWNER_SECRET_KEY] = secret or cr.new_owner_secret()
    at.query_params["id"] = assignment_id
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_hidden_targets_never_reach_the_students_page_even_after_submitting() -> None:
    aid = db.create_assignment(parse_assignment(SECRET_TASK), is_open=True, leaderboard=True)
    at = student(aid)
    page = texts(at)
    assert "hidden target" in page and "think big" in page and "conv_layers" not in page
    assert "convolutions at most 5" in page  # a shown target is shown
    at.button(key=SUBMIT_BUTTON).click().run()
    assert not at.exception and "checked on the server" in at.success[0].value
    page = texts(at)
    assert [s for s in SECRETS if s in page] == []
    assert "Leaderboard" in page and "<b>" not in page


def test_a_submission_is_this_browsers_own_whatever_the_link_says() -> None:
    aid = db.create_assignment(parse_assignment(SECRET_TASK), is_open=True)
    mine, other = cr.new_owner_secret(), cr.owner_id(cr.new_owner_secret())
    at = student(aid, mine, owner=other, owner_id=other)
    at.button(key=SUBMIT_BUTTON).click().run()
    subs = db.submissions(aid)
    assert [s.owner for s in subs] == [cr.owner_id(mine)]
    assert db.history(aid, other) == []
    fresh = student(aid)  # another student's page lists none of the first one's submissions
    assert "No submissions yet" in texts(fresh)


def test_the_page_checks_live_and_the_server_stores_the_edited_design() -> None:
    aid = db.create_assignment(parse_assignment({**SECRET_TASK, "criteria": [
        {"metric": "output_shape", "equals": [32, 32]}]}), is_open=True)
    spec = {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]}
    from playground.spec.share import encode_share

    at = student(aid, spec=encode_share(spec))  # a reload: the address bar holds the student's design
    assert "1 of 1 met" in texts(at)
    at.button(key=SUBMIT_BUTTON).click().run()
    (sub,) = db.submissions(aid)
    assert sub.passed == 1 and sub.design["layers"][0]["out_channels"] == 4


def test_a_closed_assignment_offers_no_submit_and_the_server_refuses_anyway() -> None:
    aid = db.create_assignment(parse_assignment(SECRET_TASK))
    at = student(aid)
    assert "closed" in at.warning[0].value
    assert not [b for b in at.button if b.key == SUBMIT_BUTTON]
    later = db.create_assignment(parse_assignment(SECRET_TASK), is_open=True)
    open_at = student(later)
    db.set_open(later, False)  # closed while the page was open: the click's run sees it
    open_at.button(key=SUBMIT_BUTTON).click().run()
    assert "closed" in open_at.warning[0].value and db.submissions() == []


def test_in_a_class_a_name_is_needed_before_submitting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cr.PASSCODE_ENV, PASSCODE)
    aid = db.create_assignment(parse_assignment(SECRET_TASK), is_open=True)
    at = student(aid)
    assert at.button(key=SUBMIT_BUTTON).disabled
    at.text_input(key=NAME_INPUT).input("Ann *bold*").run()
    at.button(key=SUBMIT_BUTTON).click().run()
    assert [s.name for s in db.submissions(aid)] == ["Ann *bold*"]


def test_unknown_or_missing_id() -> None:
    at = run_page("assignment", id="nope")
    assert not at.exception and "no such assignment" in at.error[0].value
    db.create_assignment(parse_assignment(SECRET_TASK), is_open=True)
    listing = run_page("assignment")
    assert not listing.exception and "Secret sizes" in texts(listing)
    home = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=120)  # Home, through the router
    home.run()
    assert not home.exception and "Open assignments" in texts(home)
    assert [link.proto.page for link in home.get("page_link") if "Secret" in link.proto.label] == ["assignment"]


def test_instructions_keep_paragraphs_and_lists_but_no_markup() -> None:
    md = instructions_markdown("One *two*\nthree\n\n- <b>x</b>\n- [y](https://e.example)")
    assert md.startswith("One \\*two\\* three\n\n- ")
    assert "\\<b\\>" in md and "\\[y\\]" in md and "<b>" not in md


def teacher() -> AppTest:
    at = teacher_session(PASSCODE)
    assert not at.exception
    return at


@pytest.fixture()
def classroom(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cr.PASSCODE_ENV, PASSCODE)  # the right passcode at the first try: no lock-out to reset


def test_teacher_adds_edits_opens_and_follows_progress(classroom: None) -> None:
    at = teacher()
    at.button(key=ADD_PRESET).click().run()
    (stored,) = db.list_assignments()
    assert not stored.is_open
    at.text_area(key=NEW_JSON).input('{"title": "x", "input": [3, 32]}')
    at.button(key=CREATE_JSON).click().run()
    assert "input must be" in at.error[0].value and len(db.list_assignments()) == 1
    at.button(key=action_key("open", stored.id)).click().run()
    assert db.get_assignment(stored.id).is_open
    at.text_input(key=f"{action_key('form', stored.id)}.title").input("Renamed")
    at.button(key=f"{action_key('form', stored.id)}.save").click().run()
    assert not at.exception and db.get_assignment(stored.id).title == "Renamed"
    assert db.get_assignment(stored.id).assignment.criteria == stored.assignment.criteria
    db.submit(stored.id, cr.owner_id(cr.new_owner_secret()), "<i>Zoe</i>", stored.assignment.start_spec())
    at.run()
    (table,) = [d.value for d in at.dataframe if "design" in d.value.columns]
    (matrix,) = [d.value for d in at.dataframe if "Renamed" in d.value.columns]
    assert list(matrix["student"]) == ["<i>Zoe</i>"] and list(matrix["Renamed"]) == ["2 / 3 ✗✓✓"]
    assert list(table["student"]) == ["<i>Zoe</i>"] and list(table["best"]) == ["2 / 3"]
    assert str(table["design"][0]).startswith("/design?spec=") or "/design?spec=" in str(table["design"][0])
    assert [b for b in at.get("download_button") if b.key == CSV_BUTTON]
    at.button(key=action_key("copy", stored.id)).click().run()
    assert len(db.list_assignments()) == 2
    at.checkbox(key=action_key("delete_ok", stored.id)).check().run()
    at.button(key=action_key("delete", stored.id)).click().run()
    assert [a.title for a in db.list_assignments()] == ["Renamed (copy)"] and db.submissions() == []


@pytest.mark.parametrize("query", [{"id": "x" * 5000}, {"id": "'; DROP TABLE submissions; --"}, {"id": "<b>"},
                                   {"spec": "!!not-a-token!!"}])
def test_a_hostile_link_gets_a_message_never_a_traceback(query: dict[str, str]) -> None:
    aid = db.create_assignment(parse_assignment(SECRET_TASK), is_open=True)
    at = student(query.get("id", aid), **{k: v for k, v in query.items() if k != "id"})
    shown = " ".join(e.value for e in at.error)
    assert shown and ("assignment" in shown or "Could not open the design" in shown)
    assert db.get_assignment(aid).title == "Secret sizes"  # the table is still there


TINY_DIGITS = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}


def accuracy_task(size: int = 16) -> Any:
    return parse_assignment({"title": "Digits", "input": [3, size, size], "criteria": [
        {"metric": "val_accuracy", "at_least": 0.0, "dataset": "digits", "epochs": 1, "hidden": True},
        {"metric": "params", "at_most": 10_000_000}]})


@pytest.mark.slow  # a real (tiny) training run
def test_submit_queues_the_students_training_job_and_shows_its_hidden_split_accuracy(
        fake_jobs: JobManager) -> None:
    from playground.assignments.hidden import hidden_accuracy
    from playground.finetune.jobs.store import JobStore
    from playground.finetune.jobs.worker import run_job
    from playground.models.finetuned import load_finetuned
    from playground.spec.share import encode_share

    aid = db.create_assignment(accuracy_task(), is_open=True)
    secret = cr.new_owner_secret()
    at = student(aid, secret, spec=encode_share(TINY_DIGITS))
    shown = "\n".join(m.value for m in at.markdown)
    assert md_text("validation accuracy on digits after 1 epochs: hidden target") in shown
    at.button(key=SUBMIT_BUTTON).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    (job,) = fake_jobs.list()
    assert job.owner == cr.owner_id(secret) and job.config["kind"] == "design"
    assert (db.submissions(aid)[0].training == {"0": {"job": job.id}}) and "Training your design" in texts(at)
    assert "training… (queued)" in texts(at) or "training… (running)" in texts(at)
    run_job(job.dir)  # the job runs here, synchronously, as its worker would
    JobStore().finish(job.id, "done", "finished")
    loaded = load_finetuned(JobStore().get(job.id).artifacts, "oracle")
    expected = hidden_accuracy(loaded.model, list(loaded.categories), loaded.preprocess, "digits")
    at.run()  # the student's next visit records it (once)
    assert not at.exception
    assert f"accuracy {expected:.1%} (pass)" in texts(at) and "2 of 2" in texts(at)
    assert db.submissions(aid)[0].training["0"]["accuracy"] == expected


@pytest.mark.slow  # the cost probe of a wide design
def test_a_training_job_over_the_class_limit_is_refused_but_the_submission_counts(fake_jobs: JobManager) -> None:
    from playground.spec.share import encode_share

    cr.save_settings(cr.ClassSettings(max_job_minutes=1))
    wide = {"input": [3, 64, 64], "layers": [
        {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    aid = db.create_assignment(accuracy_task(64), is_open=True)
    at = student(aid, spec=encode_share(wide))
    at.button(key=SUBMIT_BUTTON).click().run()
    assert not at.exception
    (shown,) = [e.value for e in at.error]
    assert md_text("Your design is submitted, but its training for criterion 1 was refused: this run") in shown
    assert md_text("over this class's limit of 1 min per job") in shown and fake_jobs.list() == []
    (sub,) = db.submissions(aid)
    assert sub.passed == 1 and sub.training == {"0": {"accuracy": sub.result["results"][0]["measured"]}}
    assert "1 of 2 criteria met" in at.success[0].value or "1 / 2" in texts(at)


def test_the_assignment_page_edits_its_own_design_and_the_designers_stays() -> None:
    from playground.spec.share import decode_share
    from playground.ui.designer import session as ss
    from playground.ui.designer.session import in_key

    start = {"input": [3, 32, 32], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}]}
    aid = db.create_assignment(parse_assignment({**SECRET_TASK, "start": start}), is_open=True)
    at = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=120)
    at.session_state[OWNER_SECRET_KEY] = cr.new_owner_secret()
    at.run()
    at.switch_page("app_pages/design.py").run()
    assert not at.exception
    mine = at.session_state[ss.DESIGN_KEY].spec()
    assert decode_share(at.query_params["spec"]) == mine and mine["layers"] != start["layers"]

    at.query_params.clear()  # a page link carries no ?spec= of another page
    at.switch_page("app_pages/assignment.py")
    at.query_params["id"] = aid
    at.run()
    assert not at.exception and decode_share(at.query_params["spec"]) == start
    rev = at.session_state[ss.DESIGN_KEY].input_rev
    at.text_input(key=in_key(1, rev)).input("48").run()  # an edit on /assignment
    at.text_input(key=in_key(2, at.session_state[ss.DESIGN_KEY].input_rev)).input("48").run()
    edited = decode_share(at.query_params["spec"])
    assert edited["input"] == [3, 48, 48] and "48×48" in texts(at)

    at.query_params.clear()
    at.switch_page("app_pages/design.py").run()
    assert not at.exception
    assert at.session_state[ss.DESIGN_KEY].spec() == mine and decode_share(at.query_params["spec"]) == mine

    at.query_params.clear()
    at.switch_page("app_pages/assignment.py")
    at.query_params["id"] = aid
    at.run()  # back on the assignment: the student's edit is still there, not the start design again
    assert not at.exception and decode_share(at.query_params["spec"]) == edited
