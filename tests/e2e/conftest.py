"""Browser tests: the real app (`streamlit run app.py`) in Debian's headless Chromium.

One server per test session on a free local port, one fresh browser page per test.
Without /usr/bin/chromium these tests fail under CI (.ci/run installs it) and skip
elsewhere with the reason.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run app.py` on a free port and yield its base URL."""
    yield from serve_app(tmp_path_factory, "e2e-home")


def require_chromium() -> None:
    """Skip the test when Chromium is missing (under CI, go on and let the browser launch fail)."""
    if not os.path.exists(CHROMIUM) and not os.environ.get("CI"):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (bash .ci/run does it)")


@contextmanager
def streamlit_server(script: Path | str, home: Path, env: dict[str, str] | None = None, *,
                     stop_timeout: float = 10) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run `streamlit run SCRIPT` (cwd: the repository, log: ``home``/streamlit.log, environment ``env``,
    or this process's when None) on a free local port; yield (base URL, the server process) once
    /_stcore/health answers (90 s at most, else RuntimeError with the log), then terminate the server,
    killing it if it is still running after ``stop_timeout`` seconds."""
    port = _free_port()
    log_path = home / "streamlit.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise RuntimeError("streamlit did not start:\n" + log_path.read_text())
                time.sleep(0.3)
            yield url, proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()


def serve_app(tmp_path_factory: pytest.TempPathFactory, name: str, **env_extra: str) -> Iterator[str]:
    """Run `streamlit run app.py` (its own data folder, plus ``env_extra``) until the generator is closed."""
    require_chromium()
    home = tmp_path_factory.mktemp(name)
    with streamlit_server("app.py", home, dict(os.environ, PLAYGROUND_HOME=str(home), **env_extra)) as (url, _):
        yield url


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (one Playwright) for the whole session: every browser test uses it,
    because Playwright's sync API cannot be started twice in one thread."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    """A fresh browser page (own context, so no state leaks between tests)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    pg = ctx.new_page()
    yield pg
    ctx.close()
