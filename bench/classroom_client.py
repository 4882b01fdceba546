"""The parts of the classroom benchmark that talk to a real Streamlit server.

- ``start_server`` / ``stop_server``: ``python -m streamlit run SCRIPT`` as the README starts the
  app, in its own process group on a free 127.0.0.1 port, killed as a group afterwards.
- ``server_cpu_seconds`` / ``server_rss_mib``: the server's cost from /proc.
- ``BrowserSession``: one browser tab, speaking the protocol of Streamlit's own frontend.

The protocol, as read from streamlit 1.67 (web/server/starlette/starlette_websocket.py,
runtime/app_session.py and the bundled frontend, static/static/js/index.*.js):

1. The browser opens ``ws://HOST/_stcore/stream`` with ``new WebSocket(url, ["streamlit", ...])``:
   the Sec-WebSocket-Protocol header carries "streamlit" first (the subprotocol the server
   selects), then optionally an XSRF token and a previous session id (for reconnects).
   Frames are binary protobufs: ``BackMsg`` up, one ``ForwardMsg`` per frame down.
2. Connecting only creates the session; nothing runs until the browser sends a ``BackMsg``
   with ``rerun_script`` (a ``ClientState``). On first load the frontend sends
   ``page_script_hash=""``, ``page_name`` = the URL path below the base URL (``"design"``; empty
   for the default page) and ``query_string`` = ``location.search`` without the "?".
3. The server answers ``new_session``, then ``navigation`` (for ``st.navigation`` apps: the
   resolved ``page_script_hash``), deltas, possibly ``page_info_changed`` (the script set
   ``st.query_params``) and finally ``script_finished``. FINISHED_EARLY_FOR_RERUN means another
   run follows (``st.rerun``), so a page view ends at any other status.
4. A rerun (the "R" key, or any widget change) sends ``rerun_script`` again with
   ``page_script_hash`` = the current page's hash, an empty ``page_name`` and the current query
   string; this is what ``BrowserSession.run_page`` does for every run after the first.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin, Subprotocol

HOST = "127.0.0.1"  # every byte of traffic stays on this machine
HEALTH_PATH = "/_stcore/health"
STREAM_PATH = "/_stcore/stream"
SUBPROTOCOL = "streamlit"  # first Sec-WebSocket-Protocol entry, as the frontend sends it
XSRF_COOKIE = "_streamlit_xsrf"  # set by /_stcore/health when server.enableXsrfProtection is on
HEALTH_POLL_S = 0.2
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL the group after this long
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
MAX_FRAME_BYTES = 256 * 1024 * 1024  # a page with big charts sends frames well over 1 MiB
MAX_MESSAGES_PER_RUN = 100_000  # a bound on the receive loop, far above any real page
CLK_TCK = os.sysconf("SC_CLK_TCK")
EXCEPTION_TEXT_CHARS = 200
# The statuses that end a page view; FINISHED_EARLY_FOR_RERUN is followed by another run.
FINAL_STATUSES = frozenset({
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
})


@dataclass
class Server:
    """A running ``streamlit run`` process (leader of its own process group)."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    log_file: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's stdout+stderr, to explain a failed start or run."""
        if not self.log_file.closed:
            self.log_file.flush()
        return self.log_path.read_text(errors="replace")[-chars:]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_server(script: Path, cwd: Path, env: dict[str, str], log_path: Path,
                 options: dict[str, str] | None = None) -> Server:
    """Start ``python -m streamlit run SCRIPT`` in ``cwd`` (so ``cwd/.streamlit/config.toml`` applies).

    ``options`` are extra ``--key value`` config flags (e.g. ``runner.postScriptGC``); port,
    address and headless are always set here so the server never opens a browser or listens
    beyond 127.0.0.1.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(script),
           "--server.port", str(port), "--server.address", HOST, "--server.headless", "true"]
    for key, value in (options or {}).items():
        cmd += [f"--{key}", value]
    log_file = log_path.open("wb")
    # start_new_session: the server leads its own process group, so stop_server can kill
    # everything it spawned (multiprocessing workers, fine-tune jobs) in one signal.
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
                            stderr=subprocess.STDOUT, start_new_session=True)
    return Server(proc, port, log_path, log_file)


def wait_healthy(server: Server, timeout_s: float) -> float:
    """Poll /_stcore/health until it answers "ok"; returns the seconds it took."""
    # No proxies: an http_proxy in the environment must not see (or break) local traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    url = f"http://{HOST}:{server.port}{HEALTH_PATH}"
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with opener.open(url, timeout=HEALTH_POLL_S * 5) as resp:
                if resp.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(HEALTH_POLL_S)
    raise TimeoutError(f"server not healthy after {timeout_s:.0f} s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers; never raises."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sig)  # pgid == pid: start_new_session made it the leader
        except (ProcessLookupError, PermissionError):
            break
        try:
            server.proc.wait(timeout=STOP_GRACE_S)
            break
        except subprocess.TimeoutExpired:
            continue
    server.log_file.close()


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the ``(comm)`` field (which may contain spaces), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _descendants(root: int) -> list[int]:
    """``root`` and every live process below it (by parent pid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))  # fields[1]: ppid
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def server_cpu_seconds(pid: int) -> float:
    """User+system CPU seconds of the server and all its children, dead or alive.

    For each live process: utime+stime (its own) + cutime+cstime (children it has reaped), so
    a worker that already exited is counted once, through its parent.
    """
    ticks = 0
    for proc in _descendants(pid):
        fields = _stat_fields(proc)
        if fields is not None:
            ticks += sum(int(v) for v in fields[11:15])  # stat fields 14-17: utime stime cutime cstime
    return ticks / CLK_TCK


def server_rss_mib(pid: int) -> float:
    """The server process's resident memory (VmRSS), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # reported in kB
    raise RuntimeError(f"no VmRSS for pid {pid}")


def copy_config(repo: Path, app_dir: Path) -> None:
    """Give a temporary app the repo's .streamlit/config.toml (Streamlit reads it from the cwd)."""
    src = repo / ".streamlit" / "config.toml"
    (app_dir / ".streamlit").mkdir(parents=True, exist_ok=True)
    if src.is_file():
        shutil.copy(src, app_dir / ".streamlit" / "config.toml")


@dataclass
class RunResult:
    """One page view or rerun as the browser sees it."""

    wall_s: float
    finished: bool  # a final script_finished arrived
    status: str = ""  # its ScriptFinishedStatus name
    messages: int = 0
    exceptions: list[str] = field(default_factory=list)  # texts of st.exception deltas (tracebacks)
    page_not_found: bool = False


class BrowserSession:
    """One browser tab on one page: connect, first view, reruns, close."""

    def __init__(self, port: int, page_name: str, query_string: str = "") -> None:
        self.port = port
        self.page_name = page_name  # url_path of the st.Page; "" for the default page
        self.query_string = query_string
        self.page_script_hash = ""  # unknown until the server resolves the page
        # The _streamlit_xsrf cookie, when the tab has one (see classroom_upload: uploads need it);
        # the frontend then sends it as the second subprotocol entry, and the cookie with it.
        self.xsrf_cookie = ""
        self._ws: ClientConnection | None = None

    async def connect(self) -> None:
        """Open the websocket the way the frontend does (subprotocol "streamlit", same origin)."""
        protocols, headers = [Subprotocol(SUBPROTOCOL)], {}
        if self.xsrf_cookie:
            protocols.append(Subprotocol(self.xsrf_cookie))
            headers["Cookie"] = f"{XSRF_COOKIE}={self.xsrf_cookie}"
        self._ws = await connect(
            f"ws://{HOST}:{self.port}{STREAM_PATH}", subprotocols=protocols, additional_headers=headers,
            origin=Origin(f"http://{HOST}:{self.port}"), proxy=None,  # proxy=None: never an env proxy
            open_timeout=CONNECT_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S, max_size=MAX_FRAME_BYTES,
            ping_interval=None, compression=None)

    async def _recv(self) -> ForwardMsg:
        """The next ForwardMsg (one per frame)."""
        assert self._ws is not None, "connect() first"
        frame = await self._ws.recv()
        fwd = ForwardMsg()
        fwd.ParseFromString(frame if isinstance(frame, bytes) else frame.encode())
        return fwd

    def _client_state(self) -> ClientState:
        state = ClientState(query_string=self.query_string)
        if self.page_script_hash:  # a rerun: the frontend names the page by its hash
            state.page_script_hash = self.page_script_hash
        else:  # first view: by the URL path
            state.page_name = self.page_name
        path = f"/{self.page_name}" + (f"?{self.query_string}" if self.query_string else "")
        state.context_info.url = f"http://{HOST}:{self.port}{path}"  # st.context.url, as a browser sends it
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        return state

    async def run_page(self, timeout_s: float) -> RunResult:
        """Send rerun_script and read ForwardMsgs until the run chain ends (or ``timeout_s``)."""
        assert self._ws is not None, "connect() first"
        msg = BackMsg()
        msg.rerun_script.CopyFrom(self._client_state())
        t0 = time.perf_counter()
        result = RunResult(wall_s=0.0, finished=False)
        await self._ws.send(msg.SerializeToString())
        try:
            async with asyncio.timeout(timeout_s):
                while result.messages < MAX_MESSAGES_PER_RUN:
                    fwd = await self._recv()
                    result.messages += 1
                    if self._absorb(fwd, result):
                        result.finished = True
                        break
        except TimeoutError:
            result.status = f"no script_finished within {timeout_s:.0f} s"
        except ConnectionClosed as exc:
            result.status = f"connection closed: {exc}"
        result.wall_s = time.perf_counter() - t0
        return result

    def _absorb(self, fwd: ForwardMsg, result: RunResult) -> bool:
        """Track what the browser would track from one message; True when the page view is done."""
        kind = fwd.WhichOneof("type")
        if kind == "navigation":
            self.page_script_hash = fwd.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = fwd.page_info_changed.query_string  # the script set st.query_params
        elif kind == "page_not_found":
            result.page_not_found = True
        elif kind == "delta" and fwd.delta.new_element.WhichOneof("type") == "exception":
            exc = fwd.delta.new_element.exception
            if not exc.is_warning:
                result.exceptions.append(f"{exc.type}: {exc.message}"[:EXCEPTION_TEXT_CHARS])
        elif kind == "script_finished":
            result.status = ForwardMsg.ScriptFinishedStatus.Name(fwd.script_finished)
            return fwd.script_finished in FINAL_STATUSES
        return False

    async def close(self) -> None:
        """Close the tab; never raises."""
        if self._ws is not None:
            with contextlib.suppress(Exception):  # a dead connection is already closed
                await self._ws.close()
            self._ws = None
