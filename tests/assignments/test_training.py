"""Accuracy criteria trained by a job: Submit queues the design's job (owned by the student, the class limits
checked, the hidden images never in its data), the job's model is measured on the hidden split when it has
finished (once, however many pages load), a refused or failed job fails the criterion with the reason."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from playground.assignments import db, grade, hidden
from playground.assignments.check import FAIL, PASS, PENDING
from playground.assignments.model import parse_assignment
from playground.assignments.progress import progress, progress_csv
from playground.classroom import ClassSettings, save_settings
from playground.finetune.design_config import DesignConfig
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobStore
from playground.finetune.jobs.worker import run_job
from playground.models.finetuned import load_finetuned
from tests.support.strategies import one_torch_thread

pytestmark = pytest.mark.slow  # real (tiny) training runs

_ = one_torch_thread

TINY: dict[str, Any] = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
WIDE = {"input": [3, 64, 64], "layers": [
    {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
STUDENT = "5" * 64


def task(size: int = 16, at_least: float = 0.0) -> Any:
    return parse_assignment({"title": "Digits", "input": [3, size, size], "criteria": [
        {"metric": "params", "at_most": 10_000_000},
        {"metric": "val_accuracy", "at_least": at_least, "dataset": "digits", "epochs": 1}]})


def finish(job_id: str) -> None:
    """Run the queued job here, synchronously, as its worker would, and mark it done."""
    store = JobStore()
    run_job(store.get(job_id).dir)
    store.finish(job_id, "done", "finished")


def test_submit_queues_the_students_job_on_the_training_part_only(fake_jobs: JobManager) -> None:
    aid = db.create_assignment(task(), is_open=True)
    sub = db.submit(aid, STUDENT, "Ann", TINY)
    (queued,) = grade.queue_training(sub, fake_jobs, owner_name="Ann")
    assert queued.index == 1 and queued.refused is None
    job = fake_jobs.get(queued.job_id or "")
    assert job.owner == STUDENT and job.owner_name == "Ann" and job.config["kind"] == "design"
    assert isinstance(job.train, DesignConfig) and job.train.spec["input"] == [3, 16, 16] and job.train.epochs == 1
    job_files = {str(p.relative_to(job.data_dir)) for p in job.data_dir.rglob("*.png")}
    hidden_files = {it.path for it in hidden.hidden_set("digits").items}
    assert job_files and job_files.isdisjoint(hidden_files)  # the hidden test images never reach a job
    assert len(job_files) == 1797 - len(hidden_files)
    stored = db.get_submission(sub.id)
    assert stored.training == {"1": {"job": job.id}}
    assert [r["status"] for r in stored.result["results"]] == [PASS, PENDING]
    assert grade.training_status(stored, 1).startswith("training…")
    assert grade.untrained() == []  # the CLI leaves it to its job


def test_a_finished_job_is_measured_on_the_hidden_split_once(fake_jobs: JobManager,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    aid = db.create_assignment(task(), is_open=True)
    sub = db.submit(aid, STUDENT, "Ann", TINY)
    (queued,) = grade.queue_training(sub, fake_jobs)
    assert grade.collect([db.get_submission(sub.id)])[0].result == db.get_submission(sub.id).result  # still queued
    finish(queued.job_id or "")
    loaded = load_finetuned(JobStore().get(queued.job_id or "").artifacts, "oracle")
    expected = hidden.hidden_accuracy(loaded.model, list(loaded.categories), loaded.preprocess, "digits")
    stale = db.get_submission(sub.id)
    (done,) = grade.collect([stale])
    assert done.training["1"] == {"job": queued.job_id, "accuracy": expected}
    row = done.result["results"][1]
    assert row["status"] == PASS and row["measured"] == f"{expected:.1%}" and done.passed == 2
    assert grade.training_status(done, 1) == f"accuracy {expected:.1%} (pass)"
    assert grade.pending() == []
    (row,) = progress()  # the teacher's table and CSV
    assert row.accuracy == f"criterion 2: accuracy {expected:.1%} (pass)"
    (line,) = csv.DictReader(io.StringIO(progress_csv([row])))
    assert line["accuracy"] == row.accuracy and line["passed"] == "2"

    calls: list[str] = []

    def measure(job_id: str, name: str) -> float:
        calls.append(job_id)
        return 0.0

    monkeypatch.setattr(grade, "_measure_job", measure)
    assert grade.collect([done]) == [done] and calls == []  # measured: never again
    grade.collect([stale])  # a page that read the submission before it was recorded: measures, writes nothing
    assert db.get_submission(sub.id).result == done.result and db.get_submission(sub.id).passed == 2


def test_a_hard_target_is_not_yet_and_a_failed_job_says_so(fake_jobs: JobManager) -> None:
    aid = db.create_assignment(task(at_least=1.0), is_open=True)
    sub = db.submit(aid, STUDENT, "Ann", TINY)
    (queued,) = grade.queue_training(sub, fake_jobs)
    finish(queued.job_id or "")
    (done,) = grade.collect([db.get_submission(sub.id)])
    assert done.result["results"][1]["status"] == FAIL and grade.training_status(done, 1).endswith("(not yet)")
    other = db.submit(aid, STUDENT, "Ann", TINY)
    (again,) = grade.queue_training(other, fake_jobs)
    JobStore().finish(again.job_id or "", "failed", "out of memory")
    (failed,) = grade.collect([db.get_submission(other.id)])
    assert failed.result["results"][1]["status"] == FAIL
    assert grade.training_status(failed, 1) == "not trained: the training job failed (out of memory)"


def test_a_job_over_the_class_limit_is_refused_with_the_figure(fake_jobs: JobManager) -> None:
    save_settings(ClassSettings(max_job_minutes=1))
    aid = db.create_assignment(task(size=64), is_open=True)
    sub = db.submit(aid, STUDENT, "Ann", WIDE)
    (refused,) = grade.queue_training(sub, fake_jobs)
    assert refused.job_id is None and "over this class's limit of 1 min per job" in (refused.refused or "")
    assert fake_jobs.list() == []
    stored = db.get_submission(sub.id)  # recorded: the other criteria stand
    assert [r["status"] for r in stored.result["results"]] == [PASS, FAIL] and stored.passed == 1
    assert grade.training_status(stored, 1).startswith("not trained: this run would take about")
    assert grade.pending() == [] and grade.untrained() == []


def test_a_head_that_does_not_fit_the_classes_is_refused_before_any_job(fake_jobs: JobManager,
                                                                         tmp_path: Path) -> None:
    aid = db.create_assignment(task(), is_open=True)
    five = {**TINY, "layers": [*TINY["layers"][:-1], {"type": "linear", "out_features": 5}]}
    sub = db.submit(aid, STUDENT, "Ann", five)
    (refused,) = grade.queue_training(sub, fake_jobs)
    assert refused.job_id is None and "10 classes" in (refused.refused or "") and fake_jobs.list() == []
