"""Accuracy criteria: a submitted design really trains (on a tiny shapes set here), its accuracy on the
hidden test split is measured and recorded; a design that cannot be trained fails it with the reason."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from playground.assignments import db
from playground.assignments.check import FAIL, PASS, PENDING
from playground.assignments.grade import grade, pending
from playground.assignments.model import parse_assignment
from playground.assignments.presets import PRESETS, accuracy_available
from playground.finetune.data import Dataset, from_folder
from playground.finetune.shapes import write_shapes
from tests.support.strategies import one_torch_thread

pytestmark = pytest.mark.slow  # real training

_ = one_torch_thread

TINY: dict[str, Any] = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 5}]}


@pytest.fixture(scope="module")
def tiny_shapes(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("tiny-shapes")
    write_shapes(root, image_size=16, per_class=6)
    return from_folder(root)


def task(at_least: float) -> Any:
    return parse_assignment({"title": "acc", "input": [3, 16, 16], "criteria": [
        {"metric": "val_accuracy", "at_least": at_least, "dataset": "shapes", "epochs": 1},
        {"metric": "params", "at_most": 1000}]})


def test_the_accuracy_preset_is_offered_now_that_designs_train() -> None:
    assert accuracy_available() and "90% on shapes, small" in PRESETS


def test_a_submission_trains_and_its_accuracy_decides_the_criterion(tiny_shapes: Dataset) -> None:
    easy, hard = db.create_assignment(task(0.0), is_open=True), db.create_assignment(task(1.0), is_open=True)
    subs = [db.submit(aid, f"{i:064x}", "Ann", TINY) for i, aid in enumerate((easy, hard))]
    assert [r["status"] for r in subs[0].result["results"]] == [PENDING, PASS]
    assert {s.id for s in pending()} == {s.id for s in subs}
    asked: list[str] = []

    def load(name: str) -> Dataset:
        asked.append(name)
        return tiny_shapes

    done = [grade(s, load=load, device="cpu") for s in subs]
    assert asked == ["shapes", "shapes"] and pending() == []
    accuracy = float(done[0].result["results"][0]["measured"].rstrip("%")) / 100
    assert 0.0 <= accuracy <= 1.0
    assert done[0].result["results"][0]["status"] == PASS and done[0].passed == 2
    hard_status = done[1].result["results"][0]["status"]
    assert hard_status == (PASS if accuracy >= 1.0 else FAIL)  # 100% on 6 validation pictures is possible
    assert db.history(easy, f"{0:064x}")[0].passed == 2  # stored, so the student's page shows it


def test_a_design_that_cannot_be_trained_fails_with_the_reason(tiny_shapes: Dataset, tmp_path: Path) -> None:
    aid = db.create_assignment(task(0.0), is_open=True)
    headless = {"input": [3, 16, 16], "layers": TINY["layers"][:2]}  # no classifier head
    sub = db.submit(aid, "a" * 64, "Ann", headless)
    done = grade(sub, load=lambda _name: tiny_shapes, device="cpu")
    first = done.result["results"][0]
    assert first["status"] == FAIL and first["measured"].startswith("not trained:")
