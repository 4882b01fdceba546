"""The Designer on a teacher's link: what a hidden quantity takes with it, what is said about it, and who
may make such links."""
from __future__ import annotations

import pytest

from playground._format import human, human_bytes
from playground.design.analysis import analyze
from playground.design.presets import DEFAULT_SPEC, PRESETS
from playground.spec.share import encode_share
from playground.ui import owner
from playground.ui.designer.results import SHAPES_HIDE_MORE
from playground.ui.designer.session import TAB_KEY
from tests.support.job_support import PASSCODE
from tests.test_page_design import _app, _clean, _everything, _open, _plain, _shown


def _shape_giveaways() -> list[str]:
    """What would give DEFAULT_SPEC's hidden output shapes away: each spatial layer's activation bytes
    (C·H·W·4), each conv's MACs beside its weights (MACs ÷ weights = H·W), and the totals of both."""
    r = analyze(DEFAULT_SPEC)
    model_size = human_bytes(r.model_bytes)  # shown, and not a shape: leave out any equal text
    found = [human_bytes(x.activation_bytes) for x in r.layers if len(x.output_shape) == 3]
    found += [f"{x.macs:,}" for x in r.layers if x.macs >= 1000]
    found += [human(r.total_macs), human_bytes(r.total_activation_bytes)]
    return [text for text in dict.fromkeys(found) if text != model_size]


def test_hidden_shapes_take_activation_bytes_and_macs_with_them() -> None:
    giveaways = _shape_giveaways()
    assert [g for g in giveaways if g in _everything(_app())], "the check must see them when shapes are shown"
    at = _app(hide="shapes")
    page = _everything(at)
    assert [g for g in giveaways if g in page] == []
    assert _plain(SHAPES_HIDE_MORE) in _plain(page)  # said, not silently gone
    assert "Parameters" in page and human(analyze(DEFAULT_SPEC).total_params) in page  # weights do not give them
    for i in range(len(DEFAULT_SPEC["layers"])):  # every layer's editor: what a student could click on
        shown = _shown(_open(at, i))
        assert [g for g in giveaways if g in shown] == [], f"layer {i}"


def test_a_tab_that_goes_with_hidden_shapes_says_why() -> None:
    at = _app(spec=encode_share(PRESETS["VGG-16"]), hide="shapes")
    _clean(at)
    tabs = [t.label for t in at.tabs]
    assert "Receptive field" not in tabs and "Memory" not in tabs
    notes = [c.value for c in at.caption if "visibility_off" in c.value]
    assert any("**Receptive field** is hidden too" in n and "shapes" in n for n in notes), notes
    assert any("**Memory** is hidden too" in n for n in notes), notes
    assert not [c for c in _app(spec=encode_share(PRESETS["VGG-16"])).caption if "visibility_off" in c.value]


def test_a_locked_links_savings_speak_of_no_replace_button() -> None:
    at = _app(spec=encode_share(PRESETS["VGG-16"]), lock="1")
    at.session_state[TAB_KEY] = "Depthwise savings"
    at = at.run()
    _clean(at)
    assert not [b for b in at.button if "Replace" in b.label]
    text = " ".join(e.value for e in (*at.markdown, *at.caption))
    assert "Replace" not in text and "dwsep" in text

    editable = _app(spec=encode_share(PRESETS["VGG-16"]))
    editable.session_state[TAB_KEY] = "Depthwise savings"
    assert "**Replace**" in " ".join(c.value for c in editable.run().caption)


def _teacher_link_builder(teacher: bool, monkeypatch: pytest.MonkeyPatch) -> bool:
    monkeypatch.setattr(owner, "is_teacher", lambda: teacher)
    at = _app()
    at.session_state[TAB_KEY] = "Share & export"
    at = at.run()
    _clean(at)
    return any("Teacher link" in e.label for e in at.expander)


def test_the_teacher_link_builder_is_the_teachers_on_a_class_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _teacher_link_builder(False, monkeypatch)  # single-user: the one user is the teacher
    monkeypatch.setenv("PLAYGROUND_CLASS_PASSCODE", PASSCODE)
    assert not _teacher_link_builder(False, monkeypatch)  # a student
    assert _teacher_link_builder(True, monkeypatch)
