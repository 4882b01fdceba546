"""Helpers for driving a Streamlit app in Playwright."""
from __future__ import annotations

__all__ = ["set_number", "settle"]


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
