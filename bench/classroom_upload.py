"""A student who uploads their own photo on the Predict page, the way Streamlit's browser client does.

The protocol, as read from streamlit 1.67 (runtime/app_session.py ``_handle_file_urls_request``,
runtime/memory_uploaded_file_manager.py, web/server/starlette/starlette_routes.py
``create_upload_routes``, elements/widgets/file_uploader.py and button_group.py, and the bundled
frontend's FileUploadClient / csrfRequest):

1. Before it opens the websocket the frontend GETs /_stcore/health, which sets the
   ``_streamlit_xsrf`` cookie (XSRF protection is on by default); the websocket then carries the
   cookie, and its value as the second Sec-WebSocket-Protocol entry.
2. A widget change is a ``rerun_script`` whose ``ClientState.widget_states`` holds the widget's
   new value under the id the server sent in the element's delta. The photo picker's
   ``st.segmented_control`` is a ``button_group``: its value is ``string_array_value`` holding
   the chosen option's formatted label, which the frontend rebuilds from the option's
   ``content_icon`` and ``content`` (the server splits a leading icon off the label).
3. Choosing a file: ``BackMsg.file_urls_request`` (request_id, file_names, session_id from
   ``new_session.initialize``); the server answers ``ForwardMsg.file_urls_response`` with one
   ``FileURLs`` (file_id, upload_url, delete_url) per name, outside any script run.
4. The file goes up as ``PUT upload_url`` with a multipart form holding exactly one file (field
   and file name: the file's name), the cookie and an ``X-Xsrftoken`` header equal to it; 204.
5. Then the uploader's value, ``file_uploader_state_value`` = ``FileUploaderState`` with one
   ``UploadedFileInfo`` (file_id, name, size, file_urls), is sent in a rerun like any widget.
"""
from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import json
import math
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import classroom_client as cc
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.Common_pb2 import FileURLs, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

# The photo picker's widget labels, as playground/ui/photo_input.py `photo_input` draws them: the ids
# are taken from the deltas of the widgets with these labels, never written down here.
SOURCE_LABEL = "Photo"
UPLOADER_LABEL = "Image file"
PHOTO_SIZE = (640, 480)  # a phone photo, downscaled as browsers often send it
JPEG_QUALITY = 90
UPLOAD_TYPE = "image/jpeg"
# Irrational steps: photo k of a sample gets a crop scale and position no other k gets, so every
# student's file (and its digest, the key of the app's prediction cache) is different.
GOLDEN, SQRT2, SQRT3 = (math.sqrt(5) - 1) / 2, math.sqrt(2), math.sqrt(3)
MIN_CROP = 0.65  # of the largest 4:3 box of the sample
HTTP_TIMEOUT_S = 30.0
ALERT_TEXT_CHARS = 200


@functools.lru_cache(maxsize=1)
def upload_option() -> str:
    """The picker's "Upload" option as the browser sends it: its formatted label."""
    from playground.ui.photo_input import SOURCES

    return SOURCES["upload"]


@functools.cache
def student_photo(index: int) -> bytes:
    """Student ``index``'s photo: a 640x480 JPEG cut from one of the real sample photos.

    Sample ``index % 6``, variant ``k = index // 6``: a 4:3 crop whose scale and position follow
    irrational sequences in ``k`` (so they never repeat), mirrored for odd ``k``. Deterministic.
    """
    from PIL import Image

    from playground.samples import SAMPLE_PHOTOS, load_sample

    names = list(SAMPLE_PHOTOS)
    img, k = load_sample(names[index % len(names)]), index // len(names)
    w, h = img.size
    box_w, box_h = (round(h * 4 / 3), h) if w * 3 > h * 4 else (w, round(w * 3 / 4))
    scale = 1.0 - (1.0 - MIN_CROP) * ((k * GOLDEN) % 1.0)
    cw, ch = max(1, round(box_w * scale)), max(1, round(box_h * scale))
    left, top = round((w - cw) * ((k * SQRT2) % 1.0)), round((h - ch) * ((k * SQRT3) % 1.0))
    crop = img.crop((left, top, left + cw, top + ch)).resize(PHOTO_SIZE, Image.Resampling.LANCZOS)
    if k % 2:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def photo_name(index: int) -> str:
    """The file name student ``index`` uploads."""
    return f"student-{index:02d}.jpg"


@dataclass
class UploadRun(cc.RunResult):
    """The run that follows an upload (or a rerun of it), with what the page showed."""

    upload_s: float = 0.0  # file URL request + PUT, before the run
    file_size: int = 0
    digest: str = ""  # sha256 of the uploaded bytes
    top: list[tuple[str, float]] = field(default_factory=list)  # the top-k chart: (label, probability)
    errors: list[str] = field(default_factory=list)  # st.error texts (a bad image, a model problem)
    setup_runs: int = 0  # script runs before this one (open the page, choose Upload)


class UploadSession(cc.BrowserSession):
    """A browser tab that also sets widget values and uploads files."""

    def __init__(self, port: int, page_name: str, query_string: str = "") -> None:
        super().__init__(port, page_name, query_string)
        self.session_id = ""
        self.widgets: dict[tuple[str, str], Any] = {}  # (element type, label) -> the element's proto
        self.widget_states: dict[str, WidgetState] = {}  # what the frontend's WidgetStateManager holds
        self._top: list[tuple[str, float]] = []
        self._errors: list[str] = []

    async def connect(self) -> None:
        """Fetch the XSRF cookie as the frontend's health ping does, then open the websocket."""
        self.xsrf_cookie = await asyncio.to_thread(_xsrf_cookie, self.port)
        await super().connect()

    def _client_state(self) -> ClientState:
        state = super()._client_state()
        state.widget_states.widgets.extend(self.widget_states.values())
        return state

    def _absorb(self, fwd: ForwardMsg, result: cc.RunResult) -> bool:
        kind = fwd.WhichOneof("type")
        if kind == "new_session":
            self.session_id = fwd.new_session.initialize.session_id
        elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            etype = element.WhichOneof("type")
            if etype in ("button_group", "file_uploader"):
                self.widgets[(etype, getattr(element, etype).label)] = getattr(element, etype)
            elif etype == "plotly_chart" and not self._top:
                self._top = _bar_chart(element.plotly_chart.spec)
            elif etype == "alert" and element.alert.format == element.alert.ERROR:
                self._errors.append(element.alert.body[:ALERT_TEXT_CHARS])
        return super()._absorb(fwd, result)

    async def run_page(self, timeout_s: float) -> UploadRun:
        """A run, as BrowserSession.run_page, also keeping the first bar chart and the errors shown."""
        self._top, self._errors = [], []
        base = await super().run_page(timeout_s)
        run = UploadRun(**{f.name: getattr(base, f.name) for f in fields(cc.RunResult)})
        run.top, run.errors = self._top, self._errors
        return run

    def choose(self, label: str, option: str) -> None:
        """Set the button group labelled ``label`` to ``option`` (for the next rerun)."""
        widget = self.widgets[("button_group", label)]
        # The frontend's wire value for an option (ButtonGroup's own helper): "icon content", trimmed.
        offered = [f"{o.content_icon} {o.content}".strip() if o.content_icon else o.content for o in widget.options]
        if option not in offered:
            raise ValueError(f"{label!r} offers {offered}, not {option!r}")
        state = WidgetState(id=widget.id)
        state.string_array_value.data.append(option)
        self.widget_states[widget.id] = state

    async def upload(self, label: str, name: str, data: bytes, timeout_s: float) -> None:
        """Upload ``data`` as file ``name`` to the uploader labelled ``label``; set its value."""
        widget = self.widgets[("file_uploader", label)]
        urls = await self._file_urls(name, timeout_s)
        await asyncio.to_thread(_put_file, self.port, urls.upload_url, name, data, self.xsrf_cookie)
        state = WidgetState(id=widget.id)
        state.file_uploader_state_value.uploaded_file_info.append(
            UploadedFileInfo(file_id=urls.file_id, name=name, size=len(data), file_urls=urls))
        self.widget_states[widget.id] = state

    async def _file_urls(self, name: str, timeout_s: float) -> FileURLs:
        assert self._ws is not None and self.session_id, "connect() and run_page() first"
        msg = BackMsg()
        request_id = str(uuid.uuid4())
        msg.file_urls_request.request_id = request_id
        msg.file_urls_request.file_names.append(name)
        msg.file_urls_request.session_id = self.session_id
        await self._ws.send(msg.SerializeToString())
        async with asyncio.timeout(timeout_s):
            for _ in range(cc.MAX_MESSAGES_PER_RUN):
                fwd = await self._recv()
                if fwd.WhichOneof("type") != "file_urls_response":
                    continue  # nothing else is expected between runs; a late status message is harmless
                resp = fwd.file_urls_response
                if resp.response_id == request_id:
                    if resp.error_msg or len(resp.file_urls) != 1:
                        raise RuntimeError(f"file URL request refused: {resp.error_msg or resp.file_urls}")
                    return resp.file_urls[0]
        raise RuntimeError("no file_urls_response")


def _xsrf_cookie(port: int) -> str:
    """The ``_streamlit_xsrf`` cookie /_stcore/health sets ("" when XSRF protection is off)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never an env proxy
    with opener.open(f"http://{cc.HOST}:{port}{cc.HEALTH_PATH}", timeout=HTTP_TIMEOUT_S) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == cc.XSRF_COOKIE:
                return rest.split(";", 1)[0]
    return ""


def _put_file(port: int, upload_url: str, name: str, data: bytes, xsrf_cookie: str) -> None:
    """PUT one file as the frontend's FormData does: field and file name are the file's name."""
    boundary = uuid.uuid4().hex
    body = b"".join([
        f"--{boundary}\r\n".encode(),
        f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode(),
        f"Content-Type: {UPLOAD_TYPE}\r\n\r\n".encode(), data, f"\r\n--{boundary}--\r\n".encode()])
    url = upload_url if upload_url.startswith("http") else f"http://{cc.HOST}:{port}{upload_url}"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if xsrf_cookie:
        headers |= {"X-Xsrftoken": xsrf_cookie, "Cookie": f"{cc.XSRF_COOKIE}={xsrf_cookie}"}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers=headers, method="PUT")
    with opener.open(request, timeout=HTTP_TIMEOUT_S) as resp:
        if resp.status != 204:
            raise RuntimeError(f"upload answered {resp.status}")


def _bar_chart(spec: str) -> list[tuple[str, float]]:
    """(label, value) of a Plotly figure's first bar trace, in order; [] when it has none."""
    try:
        figure = json.loads(spec)
    except ValueError:
        return []
    for trace in figure.get("data", []):
        if trace.get("type") == "bar" and isinstance(trace.get("x"), list):
            return [(str(y), float(x)) for x, y in zip(trace["x"], trace.get("y", []), strict=False)]
    return []


def _failed(run: UploadRun, step: str, setup_runs: int) -> UploadRun:
    run.finished = False  # the student never reached the prediction: the view counts as failed
    run.status = f"{step}: {run.status}"
    run.setup_runs = setup_runs
    return run


async def first_prediction(session: UploadSession, index: int, left: Callable[[], float]) -> UploadRun:
    """Open the page, switch the picker to Upload, upload student ``index``'s photo and time the run
    it starts: the student's first prediction. ``left()`` gives each step its time (and may raise
    when the benchmark's deadline has passed). Any step that fails is returned as an unfinished run;
    ``setup_runs`` on the result counts the script runs before it (its server CPU is in the phase)."""
    run = await session.run_page(left())
    if not run.finished or run.exceptions:
        return _failed(run, "open", 0)
    if ("button_group", SOURCE_LABEL) not in session.widgets:
        return UploadRun(0.0, False, status=f"open: no {SOURCE_LABEL!r} widget on the page", setup_runs=1)
    session.choose(SOURCE_LABEL, upload_option())
    run = await session.run_page(left())
    if not run.finished or run.exceptions:
        return _failed(run, "choose Upload", 1)
    if ("file_uploader", UPLOADER_LABEL) not in session.widgets:
        return UploadRun(0.0, False, status=f"upload: no {UPLOADER_LABEL!r} uploader on the page", setup_runs=2)
    data = student_photo(index)
    t0 = asyncio.get_running_loop().time()
    await session.upload(UPLOADER_LABEL, photo_name(index), data, left())
    upload_s = asyncio.get_running_loop().time() - t0
    run = await session.run_page(left())
    run.upload_s, run.file_size, run.digest = upload_s, len(data), hashlib.sha256(data).hexdigest()
    run.setup_runs = 2
    return run
