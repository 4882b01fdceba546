"""The Fine-tune page after a design has trained: "Run again" re-checks the cost, two runs compared
(curves overlaid, the table), the picker of two runs, and "train both" from a design comparison's link.
Jobs are trained for real in this process (tiny digits, a 16 px design) where results are shown."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from playground.classroom import ClassSettings, save_settings
from playground.design.build import build_model
from playground.finetune import calibration
from playground.finetune.data import Dataset
from playground.finetune.design_config import DesignConfig
from playground.finetune.eta import Costs
from playground.finetune.jobs.design_jobs import submit_design
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.worker import run_job
from playground.finetune.runtime import resolve_device
from playground.spec.share import encode_share
from playground.ui.finetune.compare_runs import COMPARE_OPEN, COMPARE_PICK_A, COMPARE_PICK_B
from playground.ui.finetune.train_both import BOTH_FIX, BOTH_START
from playground.ui.text import md_text
from tests.support.apptest_pages import assert_clean, run_page
from tests.support.finetune_data import tiny_digits

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
HEAD = [{"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 3}]
PLAIN = {"input": [1, 16, 16], "layers": [CONV, {"type": "relu"}, *HEAD]}
WITH_BN = {"input": [1, 16, 16], "layers": [CONV, {"type": "batchnorm2d"}, {"type": "relu"}, *HEAD]}


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(e.value for kind in ("markdown", "caption", "warning", "error") for e in at.get(kind))


@pytest.fixture()
def tiny(tmp_path: Path) -> Dataset:
    return tiny_digits(tmp_path / "tiny", classes=3, per_class=10)


def _trained(manager: JobManager, ds: Dataset, spec: dict, epochs: int, status: str = "done") -> str:
    """A design job really trained (as its worker would, in this process) and marked ``status``."""
    job = submit_design(manager, ds, DesignConfig.of(spec, epochs=epochs, batch_size=8), macs_per_second=1e12)
    run_job(job.dir)
    manager.store.finish(job.id, status, "trained")
    return job.id


def test_run_again_is_refused_over_the_class_limit_with_the_figure(fake_jobs: JobManager, tiny: Dataset) -> None:
    job_id = _trained(fake_jobs, tiny, PLAIN, epochs=5, status="cancelled")  # ended, its model kept: "Run again"
    cfg = fake_jobs.get(job_id).train
    assert isinstance(cfg, DesignConfig)
    key = calibration.calibration_key(cfg, resolve_device(cfg).type)
    # This machine, as a finished run of the design measured it: 10 s per training image (a very slow one).
    calibration.record_probe(key, Costs(step=10.0, evaluate=3.0), memory_bytes=1_000_000)
    calibration.record_run(key, Costs(step=10.0, evaluate=3.0), 1.0)
    save_settings(ClassSettings(max_job_minutes=1))  # the teacher's limit, lowered after the first run
    at = run_page("finetune", timeout=120, job=job_id)
    assert_clean(at)
    at.button(key=f"ft_again_{job_id}").click().run()
    assert not at.exception
    errors = "\n".join(e.value for e in at.error)
    # 5 epochs x (24 training images x 10 s + 6 validation images x 10/3 s) = 1,300 s: about 22 min
    assert md_text("this run would take about 22 min, over this class's limit of 1 min per job") in errors
    assert md_text("a finished run of this design") in errors and md_text("a single epoch is already too long") in errors
    assert [j.id for j in fake_jobs.list()] == [job_id] and at.query_params["job"] == job_id  # nothing queued


def test_two_runs_compared_overlay_their_curves_with_a_table(fake_jobs: JobManager, tiny: Dataset) -> None:
    a, b = _trained(fake_jobs, tiny, PLAIN, epochs=3), _trained(fake_jobs, tiny, WITH_BN, epochs=2)
    at = run_page("finetune", timeout=120, compare=f"{a},{b}")
    assert_clean(at)
    loss, accuracy = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert loss["layout"]["title"]["text"] == "Loss" and accuracy["layout"]["title"]["text"] == "Accuracy"
    results = {i: fake_jobs.store.results(i) or {} for i in (a, b)}
    val = {t["name"]: t["y"] for t in accuracy["data"] if "(validation)" in t["name"]}
    assert len(accuracy["data"]) == 4 and len(val) == 2  # each run: training (dashed) and validation
    assert sorted(map(len, val.values())) == [2, 3]
    (a_val,) = [y for name, y in val.items() if a in name]
    assert a_val == pytest.approx([h["val_accuracy"] for h in results[a]["history"]])
    table = at.dataframe[0].value
    assert list(table["final validation accuracy"]) == pytest.approx([results[a]["val_accuracy"],
                                                                       results[b]["val_accuracy"]])
    assert list(table["parameters"]) == [sum(p.numel() for p in build_model(s).parameters()) for s in (PLAIN, WITH_BN)]
    assert list(table["training time (s)"]) == pytest.approx([results[i]["train_seconds"] for i in (a, b)])
    assert table["run"][0].startswith(f"A: {a}") and table["run"][1].startswith(f"B: {b}")


def test_the_picker_offers_finished_runs_and_compares_them(fake_jobs: JobManager, tiny: Dataset) -> None:
    a, b = _trained(fake_jobs, tiny, PLAIN, epochs=1), _trained(fake_jobs, tiny, WITH_BN, epochs=1)
    submit_design(fake_jobs, tiny, DesignConfig.of(PLAIN, epochs=1), macs_per_second=1e12)  # queued: not offered
    at = run_page("finetune", timeout=120)
    assert_clean(at)
    assert COMPARE_PICK_A not in [box.key for box in at.selectbox]  # closed: no job list read, nothing drawn
    at.session_state[COMPARE_OPEN] = True  # open the expander, as a click does: its content is drawn only then
    at = at.run()
    assert_clean(at)
    pick_a, pick_b = at.selectbox(key=COMPARE_PICK_A), at.selectbox(key=COMPARE_PICK_B)
    assert set(pick_a.options) == set(pick_b.options) and len(pick_a.options) == 2
    assert {pick_a.value, pick_b.value} == {b, a}  # newest first
    assert [c.key for c in at.get("plotly_chart") if (c.key or "").startswith("ft_cmp")] == ["ft_cmp_pick_loss",
                                                                                   "ft_cmp_pick_acc"]
    (table,) = [d.value for d in at.dataframe if "images/s" in d.value.columns]
    assert [r.split(" · ")[0] for r in table["run"]] == [f"A: {pick_a.value}", f"B: {pick_b.value}"]
    pick_b.set_value(pick_a.value).run()
    assert "Choose two different runs." in _texts(at)


def test_train_both_checks_both_then_queues_both_and_opens_the_comparison(fake_jobs: JobManager) -> None:
    at = run_page("finetune", timeout=240, design=encode_share(PLAIN), design_b=encode_share(WITH_BN))
    assert not at.exception
    texts = _texts(at)
    assert "Train both designs" in texts and md_text("Design B: ") in texts  # digits: 10 classes, heads of 3
    assert BOTH_START not in [b.key for b in at.button]  # no Start until both heads fit
    at.checkbox(key=BOTH_FIX).check().run()
    assert_clean(at)
    texts = _texts(at)
    assert md_text("Design A: Estimated time") in texts and md_text("Design B: Estimated time") in texts
    at.button(key=BOTH_START).click().run()
    assert_clean(at)
    jobs = fake_jobs.list()
    assert len(jobs) == 2 and all(j.config["kind"] == "design" for j in jobs)
    assert sorted(len(j.train.spec["layers"]) for j in jobs) == [5, 6]  # type: ignore[union-attr]
    assert all(j.train.spec["layers"][-1]["out_features"] == 10 for j in jobs)  # type: ignore[union-attr]
    # A (the plain design, 5 layers) first: the two ids may come from the same second, so order by the designs
    by_design = sorted(jobs, key=lambda j: len(j.train.spec["layers"]))  # type: ignore[union-attr]
    assert at.query_params["compare"] == ",".join(j.id for j in by_design)
    assert "design" not in at.query_params and "design_b" not in at.query_params
    assert "The comparison appears here when both runs have finished." in _texts(at)


def test_a_bad_compare_link_says_why(fake_jobs: JobManager) -> None:
    at = run_page("finetune", timeout=120, compare="../etc,<b>x</b>")
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith(md_text("Cannot compare these runs: '../etc' is not a job id"))
