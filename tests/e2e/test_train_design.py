"""Browser test: a design goes from the Designer to a trained model on the Predict page.

The Designer's "Train this design from scratch" link opens the Fine-tune page with the design in it;
on the generated shapes, one epoch of a tiny design trains in a real worker; the job page's link opens
the trained model on Predict, which then ranks the five shape classes.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from playground.finetune.shapes import SHAPE_CLASSES
from playground.spec.share import decode_share, encode_share
from tests.e2e.helpers import JOB_URL, choose_option, predict_labels_of_job, set_number, settle

TINY = {"input": [3, 16, 16], "layers": [
    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "padding": 1}, {"type": "relu"},
    {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": len(SHAPE_CLASSES)}]}


@pytest.mark.slow
def test_train_this_design_then_predict_with_it(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/design?spec={encode_share(TINY)}")
    settle(page)
    page.get_by_role("tab", name=re.compile("Share & export")).click()
    settle(page)
    link = page.get_by_role("link", name=re.compile("Train this design from scratch"))
    href = link.get_attribute("href") or ""
    assert decode_share(re.search(r"design=([^&]+)", href).group(1)) == TINY  # type: ignore[union-attr]
    page.goto(f"{app_url}{href}")  # (a markdown link opens a new tab: follow it in this one)
    settle(page)
    page.get_by_role("heading", name="Fine-tune").wait_for()

    choose_option(page, "Dataset", "Shapes (generated)")
    settle(page, timeout_ms=120_000)  # generated on first use: 5,000 pictures
    page.get_by_text("5,000 images in 5 classes").wait_for()
    set_number(page, "Epochs", 1)
    page.get_by_text("Estimated time").wait_for(timeout=120_000)  # the design's steps timed in a child process
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(JOB_URL)
    job_id = JOB_URL.search(page.url).group(1)  # type: ignore[union-attr]
    page.get_by_role("heading", name=re.compile(rf"Job {job_id}: done")).wait_for(timeout=300_000)
    page.get_by_text("Validation accuracy").first.wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0

    labels = predict_labels_of_job(page, job_id)
    assert sorted(labels) == sorted(SHAPE_CLASSES), labels  # top 5 of a 5-class model: every shape
    assert page.locator('[data-testid="stException"]').count() == 0
