"""Browser test: clicking a cell of the receptive-field photo picks that output unit."""
from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.helpers import settle


def _caption(page: Page) -> str:
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sees input rows").first.inner_text()


def test_clicking_a_cell_moves_the_drawn_field_to_that_unit(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/design")
    settle(page)
    page.get_by_role("tab", name="Receptive field").click()
    settle(page)
    page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sees input rows").first.wait_for()
    assert _caption(page).startswith("Unit (2, 2) of layer 14")  # the centre unit of the 4×4 map
    points = page.locator('[data-testid="stPlotlyChart"] .scatterlayer .point')
    points.first.wait_for(state="attached", timeout=30_000)  # plotly draws after the page settles
    assert points.count() == 16  # one clickable marker per output unit
    page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
    box = points.nth(1).bounding_box()  # row 0, column 1 (markers go row by row)
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # where a user clicks
    settle(page)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                 .some(e => e.innerText.startsWith('Unit (0, 1) of layer 14'))""", timeout=30_000)
    assert "sees input rows -15…22" in _caption(page)
    assert page.locator('[data-testid="stException"]').count() == 0
