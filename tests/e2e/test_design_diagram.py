"""Browser test at the default 1400 px window: the Designer's diagram of an imported EfficientNet-B0 and
ResNet-152 has readable labels as the browser shows them (the SVG's font sizes times the image's displayed
width over its own), and one click on a stage pill unfolds that stage; the SVG and PNG downloads work."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from playwright.sync_api import Page

from playground.design.from_torchvision import torchvision_spec
from playground.spec.share import encode_share
from tests.e2e.helpers import settle

NS = "{http://www.w3.org/2000/svg}"

# The diagram image: its URL, the SVG it serves, its own width and the width it is displayed at
DIAGRAM = """async () => {
  const img = [...document.querySelectorAll('[data-testid="stImage"] img')]
    .find(i => i.src.includes('.svg') || i.src.startsWith('data:image/svg'));
  if (!img) return null;
  const svg = await (await fetch(img.src)).text();
  return {src: img.src, svg, shown: img.getBoundingClientRect().width};
}"""


def _diagram(page: Page) -> tuple[str, float, float, str]:
    """The diagram's SVG, its own width, the width it is shown at, and its URL."""
    page.wait_for_function("() => document.querySelector('[data-testid=\"stImage\"] img')")
    found = page.evaluate(DIAGRAM)
    assert found is not None, "no SVG image on the page"
    root = ET.fromstring(found["svg"])
    return found["svg"], float(root.get("width", "0")), found["shown"], found["src"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_b0", "resnet152"])
def test_the_diagram_of_a_large_import_is_readable_and_unfolds_in_one_click(page: Page, app_url: str,
                                                                            name: str) -> None:
    page.goto(f"{app_url}/design?spec={encode_share(torchvision_spec(name))}")
    settle(page)
    svg, width, shown, src = _diagram(page)
    sizes = [float(t.get("font-size", "0")) * shown / width for t in ET.fromstring(svg).iter(f"{NS}text")]
    assert sizes and min(sizes) >= 11, (min(sizes), shown, width)
    blocks = len(re.findall(r"<title>", svg))
    assert blocks <= 14  # stages folded
    pills = page.get_by_role("button", name=re.compile(r"^\d+×\d+ · \d+-\d+$"))  # the stage pills
    assert pills.count() >= 3
    pills.nth(pills.count() - 1).click()  # one click: the last folded stage
    settle(page)
    page.wait_for_function("(before) => [...document.querySelectorAll('[data-testid=\"stImage\"] img')]"
                           ".some(i => i.src !== before)", arg=src)
    after, width, shown, _ = _diagram(page)
    assert len(re.findall(r"<title>", after)) > blocks
    assert min(float(t.get("font-size", "0")) for t in ET.fromstring(after).iter(f"{NS}text")) * shown / width >= 11
    assert page.locator('[data-testid="stException"]').count() == 0
    # The downloads: made on the click (deferred), the same picture as SVG and as a PNG twice its size.
    page.get_by_text("Download the diagram (SVG, PNG)").click()  # their expander is drawn only when opened
    settle(page)
    for label, magic in (("SVG", b"<svg"), ("PNG", b"\x89PNG")):
        with page.expect_download() as info:
            page.get_by_role("button", name=re.compile(rf"(^|\W){label}$")).click()
        path = info.value.path()
        assert info.value.suggested_filename == f"network.{label.lower()}"
        assert Path(path).read_bytes()[:4] == magic
