"""Browser test: clicking a cell of a feature map on Predict draws that unit's field on the photo."""
from __future__ import annotations

from playwright.sync_api import Page

from playground.ui.feature_field import map_chart_key
from playground.ui.predict import PREDICT
from tests.e2e.helpers import settle

# The default layer of the Feature maps tab: _blocks.2 of EfficientNet-Lite0, a 56×56 map
CHART = f'.st-key-{map_chart_key(PREDICT, "_blocks.2", (56, 56)).replace(".", "-")}'


def _caption(page: Page) -> str:
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sees input rows").first.inner_text()


def test_clicking_a_cell_of_a_feature_map_moves_the_drawn_field_to_that_unit(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/predict")
    settle(page)
    page.get_by_role("tab", name="Feature maps").click()
    settle(page)
    page.locator('[data-testid="stCaptionContainer"]').filter(has_text="sees input rows").first.wait_for()
    assert _caption(page).startswith("Unit (28, 28) of _blocks.2")  # the centre unit
    points = page.locator(f"{CHART} .scatterlayer .point")
    points.first.wait_for(state="attached", timeout=30_000)  # plotly draws after the page settles
    assert points.count() == 56 * 56  # one clickable marker per unit
    page.locator(CHART).scroll_into_view_if_needed()
    box = points.nth(1).bounding_box()  # row 0, column 1 (markers go row by row)
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # where a user clicks
    settle(page)
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                 .some(e => e.innerText.startsWith('Unit (0, 1) of _blocks.2'))""", timeout=30_000)
    assert "sees input rows -6…12 and columns -2…16" in _caption(page)
    assert page.locator('[data-testid="stException"]').count() == 0
