"""The Concepts page's one-click experiments (stride vs pooling, skip connections): the button queues both
designs as this browser's jobs on shapes, and once both runs have ended the lesson shows their comparison
and links to it on the Fine-tune page. Finished runs are real (a few shapes per class, one epoch)."""
from __future__ import annotations

import json
from pathlib import Path

from playground.finetune.data import from_folder
from playground.finetune.experiments import SKIP_CONNECTIONS, STRIDE_VS_POOLING
from playground.finetune.jobs.design_jobs import submit_designs
from playground.finetune.jobs.manager import JobManager
from playground.finetune.jobs.worker import run_job
from playground.finetune.runs_compare import COMPARE_QUERY
from playground.finetune.shapes import write_shapes
from playground.ui.concepts import LESSON_TABS, TAB_KEY
from playground.ui.concepts.experiments import start_key
from tests.support.apptest_pages import assert_clean, run_page

PADDING, SKIP = LESSON_TABS[1], LESSON_TABS[5]


def _texts(at) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(e.value for kind in ("markdown", "caption") for e in at.get(kind))


def test_the_stride_lesson_trains_both_variants_in_one_click(fake_jobs: JobManager) -> None:
    at = run_page("concepts", timeout=240)
    at.session_state[TAB_KEY] = PADDING
    at.run()
    assert_clean(at)
    assert "Experiment: Stride vs pooling." in _texts(at)
    at.button(key=start_key(STRIDE_VS_POOLING.key)).click().run()
    assert_clean(at)
    jobs = fake_jobs.list()
    assert sorted(json.dumps(j.train.spec, sort_keys=True) for j in jobs) == sorted(  # type: ignore[union-attr]
        cfg.design for cfg in STRIDE_VS_POOLING.configs())
    assert all(j.dataset.name == "shapes" and len(j.dataset.classes) == 5 for j in jobs)
    assert "The comparison appears here when both runs have finished." in _texts(at)


def test_the_skip_lesson_shows_the_comparison_of_finished_runs(fake_jobs: JobManager, tmp_path: Path) -> None:
    write_shapes(tmp_path / "shapes", per_class=6)
    cfgs = [cfg.__class__.from_dict(dict(cfg.to_dict(), epochs=1, batch_size=8)) for cfg in SKIP_CONNECTIONS.configs()]
    jobs = submit_designs(fake_jobs, from_folder(tmp_path / "shapes"), cfgs, macs_per_second=1e12)
    for job in jobs:
        run_job(job.dir)
        fake_jobs.store.finish(job.id, "done", "trained")
    at = run_page("concepts", timeout=240)
    at.session_state[TAB_KEY] = SKIP
    at.run()
    assert_clean(at)
    charts = [c.key for c in at.get("plotly_chart") if (c.key or "").startswith("cx_cmp")]
    assert charts == ["cx_cmp_skip-connections_loss", "cx_cmp_skip-connections_acc"]
    (table,) = [d.value for d in at.dataframe if "images/s" in d.value.columns]
    results = [fake_jobs.store.results(j.id) or {} for j in jobs]
    assert list(table["final validation accuracy"]) == [r["val_accuracy"] for r in results]
    link = f"{COMPARE_QUERY}={jobs[0].id}%2C{jobs[1].id}"
    assert any(link in m.value for m in at.markdown), "the link to the Fine-tune page's comparison"
