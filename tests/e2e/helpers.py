"""Helpers for driving a Streamlit app in Playwright."""
from __future__ import annotations

import re

__all__ = ["set_number", "settle", "start_digits_job", "JOB_URL"]

JOB_URL = re.compile(r"/finetune\?job=(\d{8}-\d{6}-[0-9a-f]{6})$")  # the page's address once a job is started


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


def start_digits_job(page) -> str:
    """On the Fine-tune page with the bundled digits chosen: start a small job (48 px, 1 epoch) and
    return its id, read from the address the page moves to."""
    set_number(page, "Image size (px)", 48)
    set_number(page, "Epochs", 1)
    page.get_by_text("Estimated time").wait_for()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(JOB_URL)
    return JOB_URL.search(page.url).group(1)
