"""Browser test: upload a photo on the Predict page and see the predictions."""
from __future__ import annotations

import base64
import contextlib
import io
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from playground.samples import load_sample
from playground.ui.photo_input import CAMERA_NEEDS_HTTPS
from tests.e2e.helpers import settle


def test_upload_a_photo_and_see_predictions(page, app_url, tmp_path) -> None:
    photo = tmp_path / "my cat.jpg"  # not the default sample (the coffee cup), so the labels prove the upload
    load_sample("Cat (Chelsea)").save(photo, quality=90)

    page.goto(f"{app_url}/predict")
    settle(page)
    page.get_by_role("heading", name="Predict").wait_for()
    page.locator('[data-testid="stPlotlyChart"]').get_by_text("espresso").first.wait_for()  # the sample
    page.get_by_text("Upload", exact=True).click()
    settle(page)
    page.locator('[data-testid="stPlotlyChart"]').wait_for(state="detached")  # nothing uploaded yet
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
    settle(page)

    chart = page.locator('[data-testid="stPlotlyChart"]')
    chart.get_by_text(re.compile(r"^(tabby|tiger cat|Egyptian cat)$")).first.wait_for()
    assert chart.locator(".ytick").count() == 5  # five classes on the bar chart
    assert chart.get_by_text("espresso").count() == 0
    assert page.get_by_text("my cat.jpg").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0


# --------------------------------------------------------------------------- the camera (issue 12)

# A camera for a headless browser: getUserMedia answers with a canvas stream showing one photo, so the
# real st.camera_input (react-webcam: live view, "Take Photo", the shot) runs unchanged.
FAKE_CAMERA = """(() => {
  if (!navigator.mediaDevices) return;  // an insecure page has no camera API at all
  const photo = new Image();
  photo.src = "data:image/jpeg;base64,%s";
  navigator.mediaDevices.getUserMedia = async () => {
    await photo.decode();
    const canvas = document.createElement("canvas");
    canvas.width = 640; canvas.height = 480;
    const draw = () => canvas.getContext("2d").drawImage(photo, 0, 0, 640, 480);
    draw(); setInterval(draw, 50);
    return canvas.captureStream(20);
  };
})();"""


def _jpeg_base64(name: str) -> str:
    buf = io.BytesIO()
    load_sample(name).resize((320, 240)).save(buf, "JPEG", quality=85)
    return base64.b64encode(buf.getvalue()).decode()


def test_camera_on_localhost_predicts_the_shot_at_once_and_shows_it_once(page, app_url) -> None:
    page.add_init_script(FAKE_CAMERA % _jpeg_base64("Cat (Chelsea)"))
    page.goto(f"{app_url}/predict")
    settle(page)
    page.get_by_text("Camera", exact=True).click()
    settle(page)
    assert page.evaluate("window.isSecureContext") is True  # 127.0.0.1: the browser allows a camera...
    assert page.get_by_text(CAMERA_NEEDS_HTTPS).count() == 0  # ...and the page agrees: no warning
    page.get_by_role("button", name="Take Photo").click()
    settle(page)

    chart = page.locator('[data-testid="stPlotlyChart"]')
    chart.get_by_text(re.compile(r"^(tabby|tiger cat|Egyptian cat)$")).first.wait_for()  # no extra click
    assert chart.get_by_text("espresso").count() == 0
    left = page.locator('[data-testid="stColumn"]').first
    assert left.locator('[data-testid="stCameraInput"] img').count() == 1  # the widget shows the shot...
    assert left.locator('[data-testid="stImage"]').count() == 0  # ...and the page does not show it again
    assert page.get_by_text("camera-input-").count() == 0  # nor the widget's generated file name
    assert page.locator('[data-testid="stException"]').count() == 0


def _lan_address() -> str | None:
    """This machine's address on its network (not loopback), as a class would reach a server; None if none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # a documentation address; UDP connect sends nothing, it picks a route
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


@contextmanager
def _forward(listen_host: str, target_port: int) -> Iterator[int]:
    """Forward TCP connections on ``listen_host`` (a free port, yielded) to 127.0.0.1:``target_port``,
    so a browser reaches the test server by a plain-http LAN address, as students reach a class server."""
    server = socket.create_server((listen_host, 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def test_camera_on_a_plain_http_lan_address_says_why_it_cannot_work(page, app_url) -> None:
    address = _lan_address()
    if address is None:
        pytest.skip("this machine has no network address other than loopback")
    with _forward(address, int(app_url.rsplit(":", 1)[1])) as port:
        page.goto(f"http://{address}:{port}/predict")
        settle(page)
        page.get_by_text("Camera", exact=True).click()
        settle(page)
        assert page.evaluate("window.isSecureContext") is False  # what the browser decides...
        page.get_by_text(CAMERA_NEEDS_HTTPS).wait_for()  # ...and what the page tells the student
        expect(page.locator('[data-testid="stCameraInput"]')).to_have_count(1)  # drawn after the message


# --------------------------------------------------------------------------- the Grad-CAM class box


def _class_box_and_caption(page) -> tuple[str, str]:
    """What the Grad-CAM "Class" box shows, and the class named under the map."""
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Class").first
    caption = page.get_by_text(re.compile(r"^Grad-CAM: ")).first
    return box.locator("input").input_value(), caption.inner_text().removeprefix("Grad-CAM: ")


def test_the_class_box_names_the_new_photos_class_after_a_sample_switch(page, app_url) -> None:
    """The box once showed "espresso (95.1%)" on the cat while the map explained the cat's class: the
    browser sent the old box's value back with the run the switch caused."""
    page.goto(f"{app_url}/predict")
    settle(page)
    page.get_by_text(re.compile(r"^Grad-CAM: espresso$")).first.wait_for()
    box, caption = _class_box_and_caption(page)
    assert "espresso (" in box and caption == "espresso"

    page.locator('[data-testid="stSelectbox"]').filter(has_text="Sample photo").locator("input").click()
    page.get_by_role("option", name="Cat (Chelsea)").click()
    settle(page)
    page.get_by_text(re.compile(r"^Grad-CAM: (tabby|tiger cat|Egyptian cat)$")).first.wait_for()
    box, caption = _class_box_and_caption(page)
    assert "espresso" not in box and f"{caption} (" in box, (box, caption)
