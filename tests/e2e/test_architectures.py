"""Architectures in the browser: "Open in designer" goes through the router to the same network."""
from __future__ import annotations

from urllib.parse import urljoin

from playground._format import human
from tests.e2e.helpers import settle


def test_open_in_designer_opens_the_model_in_a_fresh_session(page, browser, app_url) -> None:
    page.goto(f"{app_url}/architectures")
    page.get_by_role("tab", name="One model").click()
    link = page.locator('a:has-text("Open in designer")').first
    link.wait_for(timeout=180_000)  # the first visit builds every catalogue model (no weights)
    href = link.get_attribute("href")
    assert href.startswith("design?spec=")  # relative: resolves to <app>/design, the router's page

    other = browser.new_context(viewport={"width": 1400, "height": 1000})  # someone the link was sent to
    try:
        friend = other.new_page()
        friend.goto(urljoin(page.url, href))
        settle(friend)
        friend.get_by_text(human(25_557_032)).first.wait_for()  # ResNet-50's parameters, in the designer
        assert "/design" in friend.url
        assert not friend.get_by_text("Page not found").count()
        assert friend.locator("h1").first.inner_text().endswith("Designer")
    finally:
        other.close()
