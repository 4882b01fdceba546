"""Browser test: start a fine-tuning job on the bundled digits, watch it finish, use the model."""
from __future__ import annotations

import re

from tests.e2e.helpers import predict_labels_of_job, settle, start_digits_job


def test_start_a_job_and_see_it_finish(page, app_url) -> None:
    page.goto(f"{app_url}/finetune")
    settle(page)
    page.get_by_role("heading", name="Fine-tune").wait_for()
    page.get_by_text("1,797 images in 10 classes").wait_for()
    # The job id lands in the URL; the live view polls until the results replace it.
    job_id = start_digits_job(page)
    page.get_by_role("heading", name=re.compile(rf"Job {job_id}: done")).wait_for(timeout=240_000)
    page.get_by_text("Validation accuracy").first.wait_for()
    page.get_by_role("button", name=re.compile("Download the model")).wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0

    # A reload finds the same job from the URL alone.
    page.reload()
    settle(page)
    page.get_by_role("heading", name=re.compile(rf"Job {job_id}: done")).wait_for()

    # The fine-tuned model opens on the Predict page, which now predicts digit classes.
    labels = predict_labels_of_job(page, job_id)
    assert len(labels) == 5 and set(labels) <= {str(d) for d in range(10)}, labels
