"""A design trained from scratch on the Predict page: its first-layer filters beside a pretrained model's
(the model really trained here, one epoch on a few shapes; the filter shapes checked against PyTorch)."""
from __future__ import annotations

from pathlib import Path

import torch

from playground.design.build import build_model
from playground.finetune.data import from_folder
from playground.finetune.design_config import DesignConfig
from playground.finetune.jobs.design_jobs import submit_design
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.worker import run_job
from playground.finetune.shapes import write_shapes
from playground.models.registry import MODELS
from playground.ui.predict import EXPLAIN_TAB, PREDICT
from playground.ui.predict.scratch_filters import pretrained_partner
from playground.ui.widget_state import widget_key
from tests.support.apptest_pages import assert_clean, run_page

TAB = widget_key(PREDICT, EXPLAIN_TAB)
FILTERS = ":material/grid_view: First-layer filters"
DESIGN = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 6, "kernel_size": 5, "padding": 2}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 5}]}


def _first_conv(model: torch.nn.Module) -> torch.Size:
    return next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).weight.shape


def test_a_design_trained_here_shows_its_filters_beside_a_pretrained_models(
        fake_jobs: JobManager, tmp_path: Path) -> None:
    write_shapes(tmp_path / "shapes", image_size=16, per_class=6)
    job = submit_design(fake_jobs, from_folder(tmp_path / "shapes"), DesignConfig.of(DESIGN, epochs=1, batch_size=8),
                        macs_per_second=1e12)
    run_job(job.dir)
    fake_jobs.store.finish(job.id, "done", "trained")
    at = run_page("predict", timeout=180, model=f"job:{job.id}")
    at.session_state[TAB] = FILTERS
    at.run()
    assert_clean(at)
    captions = [c.value for c in at.caption]
    out, cin, kh, kw = _first_conv(build_model(DESIGN))
    assert any(c.startswith("Trained here") and f"{out} filters of {kh}x{kw} over {cin} input channels" in c
               for c in captions), captions
    partner = pretrained_partner()
    assert partner is not None  # the catalogue's default model ships its weights in a package
    assert any(MODELS[partner].title in m.value for m in at.markdown)
    p_out, p_cin, p_kh, p_kw = _first_conv(MODELS[partner].builder())
    assert any(c.startswith("Trained on ImageNet") and f"{p_out} filters of {p_kh}x{p_kw} over {p_cin} input" in c
               for c in captions), captions


def test_a_pretrained_model_shows_only_its_own_filters() -> None:
    at = run_page("predict", timeout=180)
    at.session_state[TAB] = FILTERS
    at.run()
    assert_clean(at)
    assert not any(c.value.startswith("Trained here") for c in at.caption)
    assert any(c.value.startswith("This model") and "32 filters of 3x3" in c.value for c in at.caption)
