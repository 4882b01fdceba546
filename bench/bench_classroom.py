"""A classroom on one server: N students open each page at once, then rerun it.

Starts the app as the README does (``python -m streamlit run app.py`` in the repo root, so the
repo's .streamlit/config.toml applies; a fresh temporary PLAYGROUND_HOME; 127.0.0.1 on a free
port; headless) and drives N concurrent browser sessions over Streamlit's own websocket protocol
(see classroom_client.py). For each page it prints p50/p95/max wall time of the first view and
of the reruns, the server's CPU seconds per script run (server + children, from /proc) as a ratio
against a blank one-line Streamlit app and against the page's static twin (as many plain lines as
the page sends elements; see classroom_floor.py), both measured in the same run with the same
flags, and the server's RSS before and after.

    python bench/bench_classroom.py                      # 30 sessions, every page
    python bench/bench_classroom.py --sessions 5 --pages Home Designer
    python bench/bench_classroom.py --leak-check --pages Designer
    python bench/bench_classroom.py --st-opt runner.postScriptGC=true   # compare a config flag
    python bench/bench_classroom.py --predict-uploads --pages Predict-upload  # each uploads its own photo

Predict-upload (with --predict-uploads) is the path a student takes with their own photo: open
Predict, switch the picker to Upload, upload a JPEG no other student has (classroom_upload.py);
its "first view" is the run after the upload (the first prediction), its rerun one more run.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import classroom_assign as ca  # noqa: E402
import classroom_client as cc  # noqa: E402
import classroom_floor as cf  # noqa: E402
import classroom_upload as cu  # noqa: E402
from classroom_report import format_table  # noqa: E402

DEFAULT_SESSIONS = 30  # one class
DEFAULT_RERUNS = 1
DEFAULT_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 120.0  # one page view; a slower one counts as not finished
HEALTH_TIMEOUT_S = 90.0  # `streamlit run` start-up on a busy 2-core box
SETTLE_S = 0.5  # after the tabs close, let the server finish its disconnect work before reading CPU
LEAK_SESSIONS = 30  # the leak check's tabs: a class, rerunning together
LEAK_CHECKPOINTS = (100, 1000)  # page runs after which RSS is read
BLANK_PAGE = cf.BLANK_PAGE
LOG_TAIL_CHARS = 4000  # of the app server's log, kept when a page raised


@functools.lru_cache(maxsize=1)
def project_queries() -> dict[str, Any]:
    """Everything the bench takes from the project: the one place to edit when modules move."""
    from playground.design.from_torchvision import torchvision_spec
    from playground.design.presets import preset
    from playground.samples import SAMPLE_PHOTOS
    from playground.spec.share import encode_share

    return {"vgg16_token": encode_share(preset("VGG-16")), "resnet50_token": encode_share(torchvision_spec("resnet50")),
            "samples": list(SAMPLE_PHOTOS)}


@dataclass(frozen=True)
class Page:
    """A page as a student's browser opens it: the st.Page url_path and a query per session."""

    name: str
    url_path: str
    query: Callable[[int], str] = lambda _i: ""
    upload: bool = False  # each student uploads their own photo first (classroom_upload)
    submit: bool = False  # the class clicks Submit on an assignment together (classroom_assign)


def _vgg16_query(_index: int) -> str:
    return urlencode({"spec": project_queries()["vgg16_token"]})


def _resnet50_query(_index: int) -> str:
    # torchvision's ResNet-50 as a share link: 16 bottlenecks, the diagram's folded stages and pills
    return urlencode({"spec": project_queries()["resnet50_token"]})


def _sample_query(index: int) -> str:
    # ?sample=<name>: each student a different photo, so cached predictions are not shared.
    samples = project_queries()["samples"]
    return urlencode({"sample": samples[index % len(samples)]})


UPLOAD_PAGE = "Predict-upload"


def page_table(predict_samples: bool = False, predict_uploads: bool = False) -> dict[str, Page]:
    """The pages, by name; url_paths as app.py declares them (Home is the default page: "")."""
    return {
        "Home": Page("Home", ""),
        "Designer": Page("Designer", "design"),
        "Designer-VGG16": Page("Designer-VGG16", "design", _vgg16_query),
        "Designer-ResNet50": Page("Designer-ResNet50", "design", _resnet50_query),
        "Predict": Page("Predict", "predict", _sample_query if predict_samples else lambda _i: ""),
        "Architectures": Page("Architectures", "architectures"),
        "Concepts": Page("Concepts", "concepts"),
        "Fine-tune": Page("Fine-tune", "finetune"),
        ca.PAGE: Page(ca.PAGE, "assignment", ca.query, submit=True),
    } | ({UPLOAD_PAGE: Page(UPLOAD_PAGE, "predict", upload=True)} if predict_uploads else {})


@dataclass
class BenchOptions:
    """What to run; the CLI flags, as a dataclass the test can build."""

    sessions: int = DEFAULT_SESSIONS
    reruns: int = DEFAULT_RERUNS
    pages: list[str] = field(default_factory=lambda: list(page_table()))
    timeout_s: float = DEFAULT_TIMEOUT_S
    warmup: bool = True
    blank: bool = True
    predict_samples: bool = False
    predict_uploads: bool = False
    leak_check: bool = False
    leak_sessions: int = LEAK_SESSIONS
    leak_checkpoints: tuple[int, ...] = LEAK_CHECKPOINTS
    st_options: dict[str, str] = field(default_factory=dict)


class BenchTimeout(Exception):
    """The global --timeout ran out: the whole benchmark stops (servers are still killed)."""


class Deadline:
    """The global time budget; every wait takes its timeout from here."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self, cap: float = math.inf) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise BenchTimeout("the benchmark ran past --timeout")
        return min(remaining, cap)


def summarize(results: list[cc.RunResult]) -> dict[str, Any]:
    """Count and wall-time percentiles (nearest rank) of the finished runs."""
    walls = sorted(r.wall_s for r in results if r.finished)
    out: dict[str, Any] = {"runs": len(results), "finished": len(walls)}
    if walls:
        out.update(p50_s=statistics.median(walls), p95_s=walls[math.ceil(0.95 * len(walls)) - 1],
                   max_s=walls[-1])
    return out


async def _one_student(port: int, page: Page, index: int, reruns: int,
                       deadline: Deadline) -> list[cc.RunResult]:
    """Connect, view the page (or, on an upload page, upload photo ``index`` and run the prediction),
    rerun it ``reruns`` times, close. Failures become unfinished runs."""
    kind = cu.UploadSession if page.upload else ca.SubmitSession if page.submit else cc.BrowserSession
    session = kind(port, page.url_path, page.query(index))
    results: list[cc.RunResult] = []
    try:
        await session.connect()
        if isinstance(session, cu.UploadSession):
            results.append(await cu.first_prediction(session, index, lambda: deadline.left(RUN_TIMEOUT_S)))
        elif isinstance(session, ca.SubmitSession):  # the first result is the Submit click's run
            results.append(await ca.first_submit(session, lambda: deadline.left(RUN_TIMEOUT_S)))
        while len(results) < 1 + reruns and (not results or results[-1].finished):
            # (after an unfinished run, its late messages would be read as the next run's)
            results.append(await session.run_page(deadline.left(RUN_TIMEOUT_S)))
    except BenchTimeout:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed tab is reported in the table, not fatal
        results.append(cc.RunResult(0.0, False, status=f"error: {type(exc).__name__}: {exc}"[:200]))
    finally:
        await session.close()
    results += [cc.RunResult(0.0, False, status="not run")] * (1 + reruns - len(results))
    return results


async def measure_page(server: cc.Server, page: Page, opts: BenchOptions, deadline: Deadline) -> dict[str, Any]:
    """One page's phase: optional warm-up view, then N concurrent students; cost read around it."""
    row: dict[str, Any] = {"page": page.name, "sessions": opts.sessions, "reruns": opts.reruns}
    if page.upload:  # made before the clock starts: the client's JPEG encoding is no server cost
        for i in range(opts.sessions + 1):
            cu.student_photo(i)
    if page.submit:
        ca.expect(1)  # the warm-up tab clicks alone
    if opts.warmup:
        # One view first, so the phase measures a class on a warm server, not the imports
        # (torch, the model) that only the very first student pays; that cost is reported apart.
        # Index `sessions`: a photo (or sample) of no measured student, whose result is not cached yet.
        row["warmup_s"] = (await _one_student(server.port, page, opts.sessions, 0, deadline))[0].wall_s
    if page.submit:
        ca.expect(opts.sessions)  # then the whole class clicks Submit in the same instant
    cpu0, rss0 = cc.server_cpu_seconds(server.pid), cc.server_rss_mib(server.pid)
    t0 = time.perf_counter()
    per_student = await asyncio.gather(*(_one_student(server.port, page, i, opts.reruns, deadline)
                                         for i in range(opts.sessions)))
    row["phase_s"] = time.perf_counter() - t0
    await asyncio.sleep(SETTLE_S)
    cpu1, rss1 = cc.server_cpu_seconds(server.pid), cc.server_rss_mib(server.pid)
    runs = [r for student in per_student for r in student]
    row["first"] = summarize([student[0] for student in per_student])
    reruns = [r for student in per_student for r in student[1:]]
    row["rerun"] = summarize(reruns)
    row["messages_per_rerun"] = cf.median_messages(reruns)
    row["cpu_s"] = cpu1 - cpu0
    # Every script run the phase asked for, the unmeasured ones an upload needs first included.
    row["script_runs"] = len(runs) + sum(getattr(student[0], "setup_runs", 0) for student in per_student)
    row["cpu_per_run_s"] = (cpu1 - cpu0) / row["script_runs"]
    row["rss_before_mib"], row["rss_after_mib"] = rss0, rss1
    row["exceptions"] = sorted({e for r in runs for e in r.exceptions})
    row["problems"] = sorted({r.status for r in runs if not r.finished} |
                             ({"page not found"} if any(r.page_not_found for r in runs) else set()))
    if page.upload:
        _upload_stats(row, [student[0] for student in per_student], runs)
    if page.submit:
        ca.verify(row)
    return row


def _upload_stats(row: dict[str, Any], firsts: list[cc.RunResult], runs: list[cc.RunResult]) -> None:
    """What an upload page adds: upload times, the photos sent, each prediction, the runs without one."""
    uploads = [r for r in firsts if isinstance(r, cu.UploadRun)]
    row["upload"] = summarize([cc.RunResult(r.upload_s, r.finished) for r in uploads])
    row["photos"] = [{"size": r.file_size, "sha256": r.digest, "top": r.top} for r in uploads]
    row["distinct_photos"] = len({r.digest for r in uploads if r.digest})
    errors = sorted({e for r in runs if isinstance(r, cu.UploadRun) for e in r.errors})
    row["problems"] += [f"ERROR shown: {e}" for e in errors]
    missing = sum(1 for r in runs if r.finished and not (isinstance(r, cu.UploadRun) and r.top))
    if missing:
        row["problems"].append(f"{missing} finished run(s) showed no top-k chart")


async def leak_check(server: cc.Server, page: Page, opts: BenchOptions, deadline: Deadline) -> dict[str, Any]:
    """RSS after about 100 and 1,000 page runs (``leak_checkpoints``): ``leak_sessions`` tabs (a class)
    rerun the page together, wave after wave, so memory is read after many runs of many sessions.
    Each checkpoint is read after the first wave that reaches it (the run count read is reported)."""
    sessions = [cc.BrowserSession(server.port, page.url_path, page.query(i)) for i in range(opts.leak_sessions)]
    rss: dict[int, float] = {}
    problem = ""
    t0 = time.perf_counter()
    first, last = min(opts.leak_checkpoints), max(opts.leak_checkpoints)
    try:
        for s in sessions:
            await s.connect()
        runs = 0
        while runs < last and not problem:
            wave = sessions[:min(len(sessions), last - runs)]
            results = await asyncio.gather(*(s.run_page(deadline.left(RUN_TIMEOUT_S)) for s in wave))
            runs += len(wave)
            bad = next((r for r in results if not r.finished or r.exceptions), None)
            if bad is not None:
                problem = f"run {runs}: {bad.status} {bad.exceptions[:1]}"
                break  # a broken page measures nothing; stop instead of piling up runs
            for point in opts.leak_checkpoints:
                if runs >= point and not any(k >= point for k in rss):
                    rss[runs] = cc.server_rss_mib(server.pid)
    finally:
        for s in sessions:
            await s.close()
    reads = sorted(rss)
    ratio = rss[reads[-1]] / rss[reads[0]] if len(reads) >= 2 and reads[-1] >= last else None
    return {"page": page.name, "sessions": opts.leak_sessions, "problem": problem, "seconds": time.perf_counter() - t0,
            "rss_mib": {str(k): v for k, v in rss.items()}, "ratio": ratio, "first": first}


def _start(script: Path, cwd: Path, env: dict[str, str], log: Path, opts: BenchOptions,
           deadline: Deadline) -> tuple[cc.Server, float]:
    server = cc.start_server(script, cwd, env, log, opts.st_options)
    try:
        return server, cc.wait_healthy(server, deadline.left(HEALTH_TIMEOUT_S))
    except BaseException:
        cc.stop_server(server)
        raise


def run_benchmark(opts: BenchOptions) -> dict[str, Any]:
    """Run the blank floor, every chosen page (and the leak check); the results as one dict."""
    pages = page_table(opts.predict_samples, opts.predict_uploads)
    unknown = [p for p in opts.pages if p not in pages]
    if unknown:
        raise ValueError(f"unknown page(s) {unknown}; choose from {list(pages)}")
    deadline = Deadline(opts.timeout_s)
    out: dict[str, Any] = {"options": asdict(opts), "pages": [], "blank": None, "leak": None}
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as tmp_name:
        try:
            _run_servers(Path(tmp_name), opts, pages, deadline, out)
        except BenchTimeout as exc:  # keep what was measured; the table says it is partial
            out["timed_out"] = str(exc)
    if out["blank"]:
        floor = out["blank"]["cpu_per_run_s"]
        for row in out["pages"]:
            row["cpu_x_blank"] = row["cpu_per_run_s"] / floor if floor > 0 else None
            twin = row.get("twin")
            if twin and twin["cpu_per_run_s"] > 0:
                row["cpu_x_twin"] = row["cpu_per_run_s"] / twin["cpu_per_run_s"]
    return out


def _run_servers(tmp: Path, opts: BenchOptions, pages: dict[str, Page], deadline: Deadline,
                 out: dict[str, Any]) -> None:
    """The blank server, then the app server, one at a time (so they never compete for CPU)."""
    env = {**os.environ, "PLAYGROUND_HOME": str(tmp / "home"), "PYTHONUNBUFFERED": "1"}
    blank_dir = tmp / "blank"
    if opts.blank:
        blank_dir.mkdir()
        (blank_dir / "app.py").write_text(cf.FLOOR_SCRIPT)
        cc.copy_config(REPO, blank_dir)  # same config as the app, so the floor is comparable
        out["blank"] = _measure_floor(blank_dir, env, tmp, opts, deadline, [Page(BLANK_PAGE, "")])[0]
    if ca.PAGE in opts.pages:
        ca.prepare(env, REPO)  # the teacher's open assignment, in the data folder the server will use
    server, out["startup_s"] = _start(REPO / "app.py", REPO, env, tmp / "app.log", opts, deadline)
    try:
        out["rss_idle_mib"] = cc.server_rss_mib(server.pid)
        for name in opts.pages:
            out["pages"].append(asyncio.run(measure_page(server, pages[name], opts, deadline)))
        if opts.leak_check:
            out["leak"] = asyncio.run(leak_check(server, pages[opts.pages[0]], opts, deadline))
    finally:
        cc.stop_server(server)
        if any(row["exceptions"] for row in out["pages"]):
            # client.showErrorDetails = "none" redacts the message the tab gets; the log has it.
            out["app_log_tail"] = server.log_tail(LOG_TAIL_CHARS)
    if out["blank"] and out["pages"]:  # each page's static twin, on the floor server again (never both at once)
        sizes = [cf.twin_elements(row, out["blank"]) for row in out["pages"]]
        twins = [Page(cf.twin_name(row["page"]), "", lambda _i, k=k: cf.twin_query(k))
                 for row, k in zip(out["pages"], sizes)]
        for row, k, twin in zip(out["pages"], sizes, _measure_floor(blank_dir, env, tmp, opts, deadline, twins)):
            row["twin"] = {"elements": k, "cpu_per_run_s": twin["cpu_per_run_s"],
                           "messages_per_rerun": twin["messages_per_rerun"], "problems": twin["problems"]}


def _measure_floor(app_dir: Path, env: dict[str, str], tmp: Path, opts: BenchOptions, deadline: Deadline,
                   pages: list[Page]) -> list[dict[str, Any]]:
    """Start the floor app, measure ``pages`` on it (the blank app, or static twins), stop it."""
    server, _ = _start(app_dir / "app.py", app_dir, env, tmp / "floor.log", opts, deadline)
    try:
        return [asyncio.run(measure_page(server, page, opts, deadline)) for page in pages]
    finally:
        cc.stop_server(server)


def parse_args(argv: list[str] | None = None) -> tuple[BenchOptions, bool]:
    """The CLI flags as BenchOptions, and whether to print JSON."""
    names = list(page_table(predict_uploads=True))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS, help="concurrent students per page")
    ap.add_argument("--reruns", type=int, default=DEFAULT_RERUNS, help="reruns per student after the first view")
    ap.add_argument("--pages", nargs="+", default=None, choices=names, metavar="PAGE",
                    help=f"pages to measure, in order (default all: {' '.join(names)})")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="global limit, seconds")
    ap.add_argument("--no-warmup", action="store_true", help="no unmeasured view before each page's phase")
    ap.add_argument("--no-blank", action="store_true", help="skip the blank-app floor")
    ap.add_argument("--predict-samples", action="store_true",
                    help="each Predict session opens ?sample=<a different sample photo>")
    ap.add_argument("--predict-uploads", action="store_true",
                    help=f"add {UPLOAD_PAGE}: each session uploads its own photo on Predict")
    ap.add_argument("--leak-check", action="store_true",
                    help=f"also read RSS after {' and '.join(map(str, LEAK_CHECKPOINTS))} runs of the first page")
    ap.add_argument("--leak-sessions", type=int, default=LEAK_SESSIONS,
                    help="tabs that rerun the page together in the leak check")
    ap.add_argument("--leak-runs", type=int, nargs=2, default=list(LEAK_CHECKPOINTS), metavar=("N1", "N2"),
                    help="the leak check's two RSS read points, in page runs")
    ap.add_argument("--st-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="extra streamlit config flag for both servers, e.g. runner.postScriptGC=true")
    ap.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = ap.parse_args(argv)
    if (args.sessions < 1 or args.reruns < 0 or any("=" not in o for o in args.st_opt)
            or not 0 < args.leak_runs[0] < args.leak_runs[1] or args.leak_sessions < 1):
        ap.error("--sessions >= 1, --reruns >= 0, --st-opt KEY=VALUE, --leak-runs 0 < N1 < N2")
    uploads = args.predict_uploads or UPLOAD_PAGE in (args.pages or [])
    pages = args.pages or [n for n in names if n != UPLOAD_PAGE or uploads]
    opts = BenchOptions(sessions=args.sessions, reruns=args.reruns, pages=pages, timeout_s=args.timeout,
                        warmup=not args.no_warmup, blank=not args.no_blank, predict_samples=args.predict_samples,
                        predict_uploads=uploads,
                        leak_check=args.leak_check, leak_checkpoints=tuple(args.leak_runs),
                        leak_sessions=args.leak_sessions,
                        st_options=dict(o.split("=", 1) for o in args.st_opt))
    return opts, args.json


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 when every run finished without an exception."""
    opts, as_json = parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) must still run the finally blocks that kill the servers.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(128 + signal.SIGTERM))
    results = run_benchmark(opts)
    print(json.dumps(results, indent=2) if as_json else format_table(results))
    rows = ([results["blank"]] if results["blank"] else []) + results["pages"]
    clean = all(r["first"]["finished"] == r["first"]["runs"] and r["rerun"]["finished"] == r["rerun"]["runs"]
                and not r["exceptions"] and not r["problems"] for r in rows) and not results.get("timed_out")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
