"""Helpers for driving a Streamlit app in Playwright."""
from __future__ import annotations

import re

__all__ = ["new_context", "set_number", "settle", "choose_option", "start_digits_job", "JOB_URL", "field_caption", "click_unit",
           "wait_for_field_caption", "predict_labels_of_job"]

JOB_URL = re.compile(r"/finetune\?job=(\d{8}-\d{6}-[0-9a-f]{6})$")  # the page's address once a job is started


def new_context(browser):
    """A browser context at the default 1400 x 1000 window, waiting up to 60 s for anything (a loaded machine)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    return ctx


def settle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the app has finished its current run (no "Running..." widget)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function(
        """() => { const w = document.querySelector('[data-testid="stStatusWidget"]');
                   return !w || !/running/i.test(w.innerText); }""",
        timeout=timeout_ms,
    )


def set_number(page, label: str, value: int) -> None:
    """Type ``value`` into the number input labelled ``label``, press Enter and wait for the rerun."""
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page)


def choose_option(page, label: str, option: str, tries: int = 3) -> None:
    """Open the selectbox whose text holds ``label`` and choose ``option``. On a loaded machine the first click
    can land while the page is still being drawn and open nothing: then settle and open it again."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label)
    for attempt in range(tries):
        settle(page)
        box.click()
        try:
            page.get_by_role("option", name=option).click(timeout=20_000)
            return
        except Exception:  # playwright's TimeoutError: the list did not open
            if attempt == tries - 1:
                raise
            page.keyboard.press("Escape")


def start_digits_job(page) -> str:
    """On the Fine-tune page with the bundled digits chosen: start a small job (48 px, 1 epoch) and
    return its id, read from the address the page moves to."""
    set_number(page, "Image size (px)", 48)
    set_number(page, "Epochs", 1)
    page.get_by_text("Estimated time").wait_for()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(JOB_URL)
    return JOB_URL.search(page.url).group(1)


_FIELD_CAPTION = "sees input rows"  # the caption under a drawn receptive field (Designer and Predict)


def field_caption(page) -> str:
    """The text of the caption that says which input pixels the chosen unit sees."""
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=_FIELD_CAPTION).first.inner_text()


def click_unit(page, tab: str, chart: str, units: int, index: int, now: str) -> None:
    """Open ``tab``, check the field caption starts with ``now`` and the clickable grid in ``chart``
    (a CSS selector) has one marker per unit (``units``), then click marker ``index`` (row by row)
    where a user would; the caller waits for the caption it expects."""
    page.get_by_role("tab", name=tab).click()
    settle(page)
    page.locator('[data-testid="stCaptionContainer"]').filter(has_text=_FIELD_CAPTION).first.wait_for()
    assert field_caption(page).startswith(now)
    points = page.locator(f"{chart} .scatterlayer .point")
    points.first.wait_for(state="attached", timeout=30_000)  # plotly draws after the page settles
    assert points.count() == units  # one clickable marker per unit
    page.locator(chart).first.scroll_into_view_if_needed()
    box = points.nth(index).bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    settle(page)


def wait_for_field_caption(page, start: str) -> None:
    """Wait until a field caption starts with ``start`` (after a click's rerun)."""
    page.wait_for_function(
        """(start) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                      .some(e => e.innerText.startsWith(start))""", arg=start, timeout=30_000)


def predict_labels_of_job(page, job_id: str) -> list[str]:
    """From a finished job's page: "Use on the Predict page", then the class names of the top-5 chart there."""
    page.get_by_role("link", name="Use on the Predict page").click()
    page.wait_for_url(re.compile(rf"/predict\?model=job%3A{job_id}$"))
    settle(page)
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    chart.wait_for()
    return chart.locator(".ytick text").evaluate_all("els => els.map(e => e.textContent.trim())")
