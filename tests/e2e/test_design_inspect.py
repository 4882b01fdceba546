"""Browser test: clicking a cell of the receptive-field photo picks that output unit."""
from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.helpers import click_unit, field_caption, settle, wait_for_field_caption


def test_clicking_a_cell_moves_the_drawn_field_to_that_unit(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/design")
    settle(page)
    # the centre unit of the 4×4 map first; marker 1 is row 0, column 1
    click_unit(page, "Receptive field", '[data-testid="stPlotlyChart"]', units=16, index=1,
               now="Unit (2, 2) of layer 14")
    wait_for_field_caption(page, "Unit (0, 1) of layer 14")
    assert "sees input rows -15…22" in field_caption(page)
    assert page.locator('[data-testid="stException"]').count() == 0
