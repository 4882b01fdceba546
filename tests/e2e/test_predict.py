"""Browser test: upload a photo on the Predict page and see the predictions."""
from __future__ import annotations

import re

from playground.samples import load_sample
from tests.e2e.helpers import settle


def test_upload_a_photo_and_see_predictions(page, app_url, tmp_path) -> None:
    photo = tmp_path / "my cat.jpg"  # not the default sample (the coffee cup), so the labels prove the upload
    load_sample("Cat (Chelsea)").save(photo, quality=90)

    page.goto(f"{app_url}/predict")
    settle(page)
    page.get_by_role("heading", name="Predict").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').get_by_text("espresso").first.wait_for()  # the sample
    page.get_by_text("Upload", exact=True).click()
    settle(page)
    page.locator('[data-testid="stPlotlyChart"]').wait_for(state="detached")  # nothing uploaded yet
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    settle(page)

    chart = page.locator('[data-testid="stPlotlyChart"]')
    chart.get_by_text(re.compile(r"^(tabby|tiger cat|Egyptian cat)$")).first.wait_for()
    assert chart.locator(".ytick").count() == 5  # five classes on the bar chart
    assert chart.get_by_text("espresso").count() == 0
    assert page.get_by_text("my cat.jpg").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
