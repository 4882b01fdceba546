"""The Fine-tune page with a design: the Designer's link opens it in "from scratch" mode, a head that
does not fit the classes is fixed only when the box is ticked, the cost shows before Start, and Start
queues a job of kind "design" (a fake runner: nothing really trains here)."""
from __future__ import annotations

from playground.classroom import ClassSettings, save_settings
from playground.finetune.design_config import DesignConfig
from playground.finetune.jobs.manager import JobManager
from playground.spec.share import encode_share
from playground.ui.designer.session import TAB_KEY
from playground.ui.finetune import FORM, START_BUTTON
from playground.ui.text import md_text
from tests.support.apptest_pages import run_page

DESIGN = {"input": [1, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 3}]}
FIX = f"{FORM}_design_fix_head"


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(e.value for kind in ("markdown", "caption", "warning", "error") for e in at.get(kind))


def test_a_design_link_trains_the_design_with_its_head_fixed(fake_jobs: JobManager) -> None:
    at = run_page("finetune", timeout=240, design=encode_share(DESIGN))
    assert not at.exception
    assert md_text("outputs (3,), but the data has 10 classes") in _texts(at)  # digits: 10 classes
    assert START_BUTTON not in [b.key for b in at.button]  # no Start until the head fits
    at.checkbox(key=FIX).check().run()
    assert not at.exception and not at.error, _texts(at)
    assert "Estimated time" in _texts(at) and md_text("M MACs per image") in _texts(at)
    at.button(key=START_BUTTON).click().run()
    assert not at.exception and not at.error, _texts(at)
    (job,) = fake_jobs.list()
    assert job.config["kind"] == "design" and isinstance(job.train, DesignConfig)
    assert job.train.spec["layers"][-1]["out_features"] == 10 and at.query_params["job"] == job.id
    assert "design" not in at.query_params  # the link is consumed: the job view shows


def test_a_run_over_the_class_limit_is_refused_before_start(fake_jobs: JobManager) -> None:
    save_settings(ClassSettings(max_job_minutes=1))
    wide = {"input": [3, 64, 64], "layers": [
        {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "conv2d", "out_channels": 256, "kernel_size": 3, "padding": 1}, {"type": "relu"},
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    at = run_page("finetune", timeout=240, design=encode_share(wide))
    assert not at.exception
    assert md_text("over this class's limit of 1 min per job") in _texts(at)
    assert START_BUTTON not in [b.key for b in at.button] and fake_jobs.list() == []


def test_the_designer_links_a_valid_design_to_the_fine_tune_page() -> None:
    at = run_page("design", timeout=60, spec=encode_share(DESIGN))
    at.session_state[TAB_KEY] = "Share & export"  # the link is in that tab (tabs are drawn when open)
    at = at.run()
    assert not at.exception
    links = [m.value for m in at.markdown if "Train this design from scratch" in m.value]
    assert links == [f"[:material/model_training: Train this design from scratch](/finetune?design={encode_share(DESIGN)})"]
