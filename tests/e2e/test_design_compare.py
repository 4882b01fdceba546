"""Browser test: a comparison link (``?spec=A&vs=B``) opens the Designer on its Compare tab with both
designs' totals, the figures ``analyze()`` gives, and both diagrams."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from playground.design.analysis import analyze
from playground.design.compare import format_ratio
from playground.design.presets import PRESETS
from playground.spec.share import decode_share, encode_share
from tests.e2e.helpers import settle


def test_a_compare_link_opens_with_both_designs(page: Page, app_url: str) -> None:
    a, b = PRESETS["LeNet-5"], PRESETS["ResNet-18-style"]
    ra, rb = analyze(a), analyze(b)
    page.goto(f"{app_url}/design?spec={encode_share(a)}&vs={encode_share(b)}")
    settle(page)
    tab_label = page.get_by_role("tab", name="Compare")
    tab_label.wait_for()  # the context's 60 s: the first run of a fresh server imports a lot
    expect(tab_label).to_have_attribute("aria-selected", "true")
    totals = page.locator('[data-testid="stTable"]').first
    totals.wait_for()
    settle(page)
    row = totals.locator("tr").filter(has_text="Parameters")
    expect(row).to_contain_text(f"{ra.total_params:,}")  # A's and B's own totals, side by side
    expect(row).to_contain_text(f"{rb.total_params:,}")
    expect(row).to_contain_text(format_ratio(rb.total_params / ra.total_params))
    expect(totals.locator("tr").filter(has_text="MACs")).to_contain_text(f"{rb.total_macs:,}")
    tab = page.locator('[data-testid="stTabs"]').last
    assert tab.locator('[data-testid="stImage"]').count() == 2  # both diagrams
    assert page.locator('[data-testid="stException"]').count() == 0
    query = parse_qs(urlparse(page.url).query)  # the address bar still carries both designs
    assert decode_share(query["spec"][0]) == a and decode_share(query["vs"][0]) == b
