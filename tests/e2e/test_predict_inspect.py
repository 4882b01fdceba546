"""Browser test: clicking a cell of a feature map on Predict draws that unit's field on the photo."""
from __future__ import annotations

from playwright.sync_api import Page

from playground.ui.predict import PREDICT
from playground.ui.predict.feature_field import map_chart_key
from tests.e2e.helpers import click_unit, field_caption, settle, wait_for_field_caption

# The default layer of the Feature maps tab: _blocks.2 of EfficientNet-Lite0, a 56×56 map
CHART = f'.st-key-{map_chart_key(PREDICT, "_blocks.2", (56, 56)).replace(".", "-")}'


def test_clicking_a_cell_of_a_feature_map_moves_the_drawn_field_to_that_unit(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/predict")
    settle(page)
    # the centre unit first; marker 1 is row 0, column 1
    click_unit(page, "Feature maps", CHART, units=56 * 56, index=1, now="Unit (28, 28) of the block 3 of 16")
    wait_for_field_caption(page, "Unit (0, 1) of the block 3 of 16")
    assert "sees input rows -6…12 and columns -2…16" in field_caption(page)
    assert page.locator('[data-testid="stException"]').count() == 0
