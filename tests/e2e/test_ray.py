"""Browser test: the app started with PLAYGROUND_RUNNER=ray runs a bundled-digits job on its own
local Ray cluster, with live curves, to "done"; stopping the server leaves no Ray process behind."""
from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import require_chromium, streamlit_server
from tests.e2e.helpers import predict_labels_of_job, settle, start_digits_job
from tests.support.process_support import processes_marked

pytest.importorskip("ray")

_MARK = "PLAYGROUND_TEST_MARK"


@pytest.fixture(scope="module")
def ray_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, subprocess.Popen]]:
    """`streamlit run app.py` with PLAYGROUND_RUNNER=ray; yields (base URL, the marker its processes
    carry in their environment, the server process)."""
    require_chromium()
    home, marker = tmp_path_factory.mktemp("e2e-ray-home"), uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PLAYGROUND_HOME=str(home), PLAYGROUND_RUNNER="ray", **{_MARK: marker})
    with streamlit_server("app.py", home, env, stop_timeout=60) as (url, proc):
        yield url, marker, proc


@pytest.fixture()
def ray_page(ray_app: tuple[str, str, subprocess.Popen], browser):
    """A fresh page in the session's headless Chromium."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(60_000)
    yield ctx.new_page()
    ctx.close()


def test_a_job_runs_on_ray_to_done(ray_page, ray_app: tuple[str, str, subprocess.Popen]) -> None:
    url, marker, server = ray_app
    page = ray_page
    page.goto(f"{url}/finetune")
    settle(page, timeout_ms=180_000)
    page.get_by_role("heading", name="Fine-tune").wait_for()
    page.get_by_text("1,797 images in 10 classes").wait_for()
    # The sidebar names the runner and the cluster's size (the first page run starts the cluster).
    sidebar = re.compile(r"Jobs: Ray, a local cluster started by this process:\W* \d+ CPUs, 0 GPUs")
    page.get_by_text(sidebar).wait_for(timeout=180_000)
    job_id = start_digits_job(page)
    # Live curves: the chart of the running job, fed by the progress the Ray task streams back.
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=240_000)
    page.get_by_role("heading", name=re.compile(rf"Job {job_id}: done")).wait_for(timeout=240_000)
    page.get_by_text("Validation accuracy").first.wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0

    labels = predict_labels_of_job(page, job_id)
    assert len(labels) == 5 and set(labels) <= {str(d) for d in range(10)}, labels
    running = processes_marked(marker)  # the server and its Ray cluster: gcs_server, raylet, workers...
    assert any("raylet" in p for p in running), running

    server.terminate()  # SIGTERM, as a service manager stops the server
    assert server.wait(timeout=60) is not None
    # The cluster's processes exit on their own once the server has stopped them: poll, with a deadline.
    deadline = time.monotonic() + 30
    while processes_marked(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_marked(marker) == []
