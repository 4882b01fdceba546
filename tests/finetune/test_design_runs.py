"""Design runs after the first: "Run again" re-checks the cost, calibration is keyed by the design, two
runs compared from the job store (against the training result itself), and "train both" checks both
designs before queuing either."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playground.classroom import ClassroomError, ClassSettings, save_settings
from playground.design.analysis import analyze
from playground.design.build import build_model
from playground.finetune import calibration
from playground.finetune.data import Dataset
from playground.finetune.design_config import DesignConfig
from playground.finetune.design_cost import check_cost, design_cost
from playground.finetune.eta import Costs
from playground.finetune.jobs.design_jobs import resubmit, submit_design, submit_designs
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.store import JobError
from playground.finetune.jobs.worker import run_job
from playground.finetune.runs_compare import comparable_jobs, compare_runs, parse_compare_param, run_summary
from playground.finetune.runtime import resolve_device
from playground.finetune.scratch import train_design
from tests.support.finetune_data import tiny_digits
from tests.support.job_support import A_ID, B_ID, FakeRunner

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
HEAD = [{"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 3}]
PLAIN = {"input": [1, 16, 16], "layers": [CONV, {"type": "relu"}, *HEAD]}
WITH_BN = {"input": [1, 16, 16], "layers": [CONV, {"type": "batchnorm2d"}, {"type": "relu"}, *HEAD]}


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture()
def tiny(tmp_path: Path) -> Dataset:
    return tiny_digits(tmp_path / "tiny", classes=3, per_class=10)


@pytest.fixture()
def manager() -> Iterator[JobManager]:
    mgr = JobManager(runner=FakeRunner(), background=False)
    yield mgr
    mgr.shutdown()


def _key(cfg: DesignConfig) -> str:
    return calibration.calibration_key(cfg, resolve_device(cfg).type)


def _finished(manager: JobManager, ds: Dataset, cfg: DesignConfig, owner: str | None = None) -> str:
    """A design job really trained (in this process, as its worker would) and marked done."""
    job = submit_design(manager, ds, cfg, owner=owner, macs_per_second=1e12)
    run_job(job.dir)
    manager.store.finish(job.id, "done", "trained")
    return job.id


# --------------------------------------------------------------------------- calibration by design


def test_two_designs_of_equal_macs_have_their_own_calibration() -> None:
    a, b = DesignConfig.of(PLAIN), DesignConfig.of(WITH_BN)
    assert analyze(PLAIN).total_macs == analyze(WITH_BN).total_macs  # BatchNorm counts no MACs
    assert _key(a) != _key(b) and _key(a).startswith("design:") and "|16px|b64|" in _key(a)
    reordered = {"layers": PLAIN["layers"], "input": PLAIN["input"]}
    assert _key(DesignConfig.of(reordered)) == _key(a)  # the same layers written another way: one key

    macs = analyze(PLAIN).total_macs
    calibration.record_probe(_key(a), Costs(step=3e-4, evaluate=1e-4), memory_bytes=5_000_000)
    calibration.record_probe(_key(b), Costs(step=6e-4, evaluate=2e-4), memory_bytes=6_000_000)
    calibration.record_run(_key(a), Costs(step=1e-3, evaluate=4e-4), 2.0)  # a finished run of design a only
    ca, cb = design_cost(a, 100, 20), design_cost(b, 100, 20)  # no probe: both were probed "before"
    assert ca.source == "run" and ca.macs_per_second == pytest.approx(3 * macs / 1e-3)
    assert ca.memory_bytes == 5_000_000 and "a finished run of this design" in ca.describe()
    # b keeps its own probe's figure, corrected by how far probe and run disagreed on a (x 1e-3 / 3e-4).
    assert cb.source == "probe, corrected" and cb.memory_bytes == 6_000_000
    assert cb.macs_per_second == pytest.approx(3 * macs / (6e-4 * 1e-3 / 3e-4))


def test_memory_over_the_machine_is_refused() -> None:
    cost = design_cost(DesignConfig.of(PLAIN), 10, 2, macs_per_second=1e12)
    check_cost(cost)  # fast, and no memory figure: fine
    big = type(cost)(**{**cost.__dict__, "memory_bytes": 3 * 2**30})
    with pytest.raises(ClassroomError, match=r"needs about 3.22 GB of memory .*more than 1.07 GB; to fit: a smaller batch size"):
        check_cost(big, max_memory_bytes=2**30)


# --------------------------------------------------------------------------- run again


def test_run_again_checks_the_cost_again(tiny: Dataset, manager: JobManager) -> None:
    cfg = DesignConfig.of(PLAIN, epochs=5, batch_size=8)
    job = manager.get(_finished(manager, tiny, cfg))
    again = resubmit(manager, job, macs_per_second=1e12)  # well under the limit: queued
    assert again.id != job.id and again.train == job.train
    save_settings(ClassSettings(max_job_minutes=1))  # the teacher lowers the limit afterwards
    with pytest.raises(ClassroomError) as refused:
        resubmit(manager, job, macs_per_second=1e3)
    text = str(refused.value)
    assert "over this class's limit of 1 min per job" in text and "this run would take about" in text
    assert "at most" in text or "a single epoch is already too long" in text
    assert len(manager.list()) == 2  # nothing queued by the refusal


# --------------------------------------------------------------------------- two runs compared


def test_two_real_runs_compare_like_their_training_results(tiny: Dataset, manager: JobManager) -> None:
    cfg_a = DesignConfig.of(PLAIN, epochs=3, batch_size=8, seed=1)
    cfg_b = DesignConfig.of(WITH_BN, epochs=2, batch_size=8, seed=1)
    a, b = _finished(manager, tiny, cfg_a, A_ID), _finished(manager, tiny, cfg_b, A_ID)
    cmp = compare_runs(manager.store, a, b)
    oracle = train_design(cfg_a, tiny)  # the same seeded run, in this process: the job must match it
    assert cmp.a.epochs == [1, 2, 3] and cmp.b.epochs == [1, 2]
    assert cmp.a.curves["val_accuracy"] == pytest.approx([h["val_accuracy"] for h in oracle.history])
    assert cmp.a.curves["train_loss"] == pytest.approx([h["train_loss"] for h in oracle.history], rel=1e-5)
    assert cmp.a.val_accuracy == pytest.approx(oracle.val_accuracy)
    assert cmp.a.total_params == sum(p.numel() for p in build_model(PLAIN).parameters())
    assert cmp.b.total_params == sum(p.numel() for p in build_model(WITH_BN).parameters())
    assert cmp.b.total_params == cmp.a.total_params + 8  # BatchNorm's weight and bias, 4 channels
    results = manager.store.results(a) or {}
    assert cmp.a.images_per_sec == pytest.approx(results["train_images"] * 3 / results["train_seconds"])
    assert [r["run"] for r in cmp.table()] == [cmp.a.label, cmp.b.label] and a in cmp.a.label

    with pytest.raises(JobError, match="two different runs"):
        compare_runs(manager.store, a, a)
    queued = submit_design(manager, tiny, cfg_a, macs_per_second=1e12)
    with pytest.raises(JobError, match="no results to compare yet"):
        run_summary(manager.store, queued.id)

    from playground.classroom import Viewer

    mine, other, teacher = (Viewer(A_ID, classroom=True), Viewer(B_ID, classroom=True),
                            Viewer(B_ID, teacher=True, classroom=True))
    jobs = manager.list()
    assert {j.id for j in comparable_jobs(jobs, manager.store, mine)} == {a, b}  # not the queued one
    assert comparable_jobs(jobs, manager.store, other) == []
    assert {j.id for j in comparable_jobs(jobs, manager.store, teacher)} == {a, b}
    with pytest.raises(JobError, match="another student's"):
        compare_runs(manager.store, a, b, by=other)


def test_the_compare_parameter_names_two_jobs() -> None:
    assert parse_compare_param("x,y") == ("x", "y")
    assert parse_compare_param("x") is None and parse_compare_param("x,,y") is None and parse_compare_param(None) is None


# --------------------------------------------------------------------------- train both


def test_train_both_queues_none_unless_both_fit(tiny: Dataset, manager: JobManager) -> None:
    save_settings(ClassSettings(max_job_minutes=1))
    small = DesignConfig.of(PLAIN, epochs=1, batch_size=8)
    wide_spec = {"input": [1, 16, 16], "layers": [dict(CONV, out_channels=64), {"type": "relu"}, *HEAD]}
    wide = DesignConfig.of(wide_spec, epochs=20, batch_size=8)
    rate = 3 * analyze(PLAIN).total_macs * 30  # the small one: well under a minute; the wide one: far over
    with pytest.raises(ClassroomError, match="design 2 of 2: this run would take about"):
        submit_designs(manager, tiny, [small, wide], macs_per_second=rate)
    assert manager.list() == []
    jobs = submit_designs(manager, tiny, [small, DesignConfig.of(WITH_BN, epochs=1, batch_size=8)],
                          owner=A_ID, macs_per_second=rate)
    assert [j.train.spec for j in jobs] == [small.spec, DesignConfig.of(WITH_BN).spec]  # type: ignore[union-attr]
    assert all(j.owner == A_ID and j.config["kind"] == "design" for j in jobs)
    with pytest.raises(JobError, match="needs 2 free job slots"):  # two already queued (limit 2)
        submit_designs(manager, tiny, [small, small], owner=A_ID, macs_per_second=rate)
    assert len(manager.list()) == 2
