"""Browser tests of graph designs in the Designer: build a MobileNet-V2-style stage (stem, three inverted
residuals, head) from an empty design with the add bar's blocks, expand one into its branch, count the
actions (at most 12) and check the page's totals against ``playground.analyze()``; import a torchvision CNN
and change one block's width in at most 3 actions."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from playground import analyze
from playground._format import human
from playground.spec.share import decode_share
from tests.e2e.helpers import settle

_MAX_BUILD, _MAX_IMPORT = 12, 3  # the budgets


class _Actions:
    """Counts every click or choice a student makes; each waits for the page to finish its rerun."""

    def __init__(self, page: Page) -> None:
        self.page, self.count = page, 0

    def _done(self, before: str | None) -> None:
        if before is not None:  # an edit: the address bar follows it (a slow rerun is not taken for a finished one)
            self.page.wait_for_function("(u) => location.href !== u", arg=before, timeout=60_000)
        settle(self.page)

    def click(self, name: str, *, edits: bool = True) -> None:
        """Click the button named ``name`` (its whole text)."""
        before = self.page.url if edits else None
        self.page.get_by_role("button", name=re.compile(re.escape(name).replace("/", "\\/") + "$")).first.click()
        self.count += 1
        self._done(before)

    def choose(self, box: str, option: str, *, edits: bool = False) -> None:
        """Choose ``option`` in the select box labelled ``box`` (one choice: open and pick)."""
        before = self.page.url if edits else None
        field = self.page.locator('[data-testid="stSelectbox"]').filter(has_text=box).locator("input")
        field.click()
        field.fill(option)  # the list shows a window of its options: typing brings the one wanted into view
        self.page.get_by_role("option", name=option, exact=True).click()
        self.count += 1
        self._done(before)

    def row(self, text: str | re.Pattern[str]) -> None:
        """Click the line of the layer list holding ``text``."""
        self.page.locator('[data-testid="stRadioOption"]').filter(has_text=text).first.click()
        self.count += 1
        self._done(None)

    def type(self, label: str, value: str) -> None:
        """Type ``value`` into the field labelled ``label`` and press Enter."""
        before = self.page.url
        box = self.page.get_by_label(label, exact=True).first
        box.fill(value)
        box.press("Enter")
        self.count += 1
        self._done(before)


def _open_designer(page: Page, url: str) -> None:
    page.goto(url)
    settle(page)
    page.get_by_role("heading", name="Designer").wait_for()
    page.wait_for_function("() => new URLSearchParams(location.search).has('spec')")


def _spec_in_url(page: Page) -> dict:
    return decode_share(parse_qs(urlparse(page.url).query)["spec"][0])


def _metric(page: Page, label: str) -> tuple[str, str]:
    """A total as the page shows it, and its exact count from the metric's tooltip."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    shown = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    metric.locator('[data-testid="stTooltipHoverTarget"]').first.hover()
    tooltip = page.locator('[data-testid="stTooltipContent"]').last
    tooltip.wait_for()
    exact = tooltip.inner_text().strip()
    page.mouse.move(0, 0)
    return shown, exact


def _check_totals(page: Page, spec: dict) -> None:
    report = analyze(spec)
    for label, value in (("Parameters", report.total_params), ("MACs", report.total_macs)):
        # The address bar is written early in a page run, the totals later: wait for this run's totals to be drawn
        metric = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text(human(value), timeout=30_000)
        shown, exact = _metric(page, label)
        assert shown == human(value), (label, shown, value)
        assert exact.startswith(f"{value:,} "), (label, exact, value)


def _no_failure(page: Page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(page.get_by_text("needs a fix")).to_have_count(0)


def test_building_a_mobilenet_v2_stage_with_branches_takes_at_most_12_actions(page: Page, app_url: str) -> None:
    _open_designer(page, f"{app_url}/design")
    act = _Actions(page)
    act.click("New empty")
    page.get_by_text("No layers yet").wait_for()
    act.click("conv·BN·ReLU")                            # the stem
    act.choose("Layer or block", "inverted_residual")   # MobileNet-V2's block, from the add bar
    for _ in range(3):
        act.click("Add layer")
    act.click("head")
    act.row(re.compile(r"(^|\s)4 inverted_residual"))                     # the middle block ...
    act.click("Expand")                                  # ... spelled out as its branch, editable in place
    rows = page.locator('[data-testid="stRadioOption"]')
    rows.filter(has_text="branch add").first.wait_for()
    expect(rows.filter(has_text="path 1 · 4.1 identity")).to_have_count(1)  # the skip connection, indented
    assert act.count <= _MAX_BUILD
    print(f"MobileNet-V2-style stage with branches: {act.count} actions (at most {_MAX_BUILD})")

    ir = {"type": "inverted_residual", "out_channels": 16, "expand_ratio": 6, "stride": 1}
    planned = {"input": [3, 32, 32], "layers": [
        {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "stride": 1, "padding": 1, "bias": False},
        {"type": "batchnorm2d"}, {"type": "relu"}, ir, ir, ir,
        {"type": "global_avgpool"}, {"type": "flatten"}, {"type": "linear", "out_features": 10}]}
    built = _spec_in_url(page)
    assert [layer["type"] for layer in built["layers"]] == [
        "conv2d", "batchnorm2d", "relu", "inverted_residual", "branch", "inverted_residual", "global_avgpool",
        "flatten", "linear"]
    planned_report, built_report = analyze(planned), analyze(built)
    assert (built_report.total_params, built_report.total_macs) == (planned_report.total_params,
                                                                     planned_report.total_macs)
    _check_totals(page, planned)  # the page's figures are analyze()'s
    _no_failure(page)


def test_importing_a_torchvision_cnn_and_changing_a_blocks_width_takes_at_most_3_actions(page: Page,
                                                                                        app_url: str) -> None:
    _open_designer(page, f"{app_url}/design")
    act = _Actions(page)
    act.choose("Start from a preset", "torchvision.models.mobilenet_v2", edits=True)
    page.get_by_text("Loaded torchvision's MobileNet-V2").wait_for()
    act.row(re.compile(r"(^|\s)5 inverted_residual 24,"))
    act.type("out channels", "32")
    assert act.count <= _MAX_IMPORT
    print(f"import MobileNet-V2 and widen one block: {act.count} actions (at most {_MAX_IMPORT})")
    spec = _spec_in_url(page)
    assert spec["layers"][5]["out_channels"] == 32
    _check_totals(page, spec)
    _no_failure(page)
