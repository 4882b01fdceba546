"""The classroom load benchmark, small: it must keep working, so it runs in the suite.

Five students on Home against a real `streamlit run` server (and the blank-app floor), and three
on Predict who each upload their own photo. Only that the protocol works and the numbers exist is
checked; timings depend on the machine.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest

from tests.support.bench_loader import load_bench_classroom

pytestmark = pytest.mark.slow  # real app servers driven by the classroom benchmark

QUICK_SESSIONS = 5
QUICK_PAGE = "Home"
QUICK_TIMEOUT_S = 120.0  # a hard bound; the run takes ~15 s on the 2-core box


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench_classroom()


@pytest.fixture(scope="module")
def quick_results(bench: ModuleType) -> dict:
    opts = bench.BenchOptions(sessions=QUICK_SESSIONS, reruns=1, pages=[QUICK_PAGE], timeout_s=QUICK_TIMEOUT_S,
                              leak_check=True, leak_sessions=3, leak_checkpoints=(6, 12))
    # In a thread of its own: the harness runs its own asyncio loop, and the browser tests' Playwright
    # (sync API) may already hold a running loop in this thread when the whole suite runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(bench.run_benchmark, opts).result()


@pytest.mark.timeout(QUICK_TIMEOUT_S + 30)
def test_every_session_finishes_first_view_and_rerun(quick_results: dict) -> None:
    for row in (quick_results["blank"], *quick_results["pages"]):
        assert row["first"]["runs"] == row["first"]["finished"] == QUICK_SESSIONS, row
        assert row["rerun"]["runs"] == row["rerun"]["finished"] == QUICK_SESSIONS, row
        assert not row["problems"], row["problems"]
        assert not row["exceptions"], f"{row['page']} raised: {row['exceptions']}"
    assert [row["page"] for row in quick_results["pages"]] == [QUICK_PAGE]


@pytest.mark.timeout(QUICK_TIMEOUT_S + 30)
def test_cpu_and_memory_numbers_are_present(bench: ModuleType, quick_results: dict) -> None:
    for row in (quick_results["blank"], *quick_results["pages"]):
        assert row["cpu_per_run_s"] > 0
        assert row["rss_before_mib"] > 0 and row["rss_after_mib"] > 0
    assert quick_results["pages"][0]["cpu_x_blank"] > 0
    table = bench.format_table(quick_results)
    assert QUICK_PAGE in table and bench.BLANK_PAGE in table and "x twin" in table
    assert "Targets (the classroom issue's):" in table and "every other page <= 0.05 s: Home" in table


@pytest.mark.timeout(QUICK_TIMEOUT_S + 30)
def test_a_pages_static_twin_sends_as_many_elements_as_the_page(quick_results: dict) -> None:
    blank, page = quick_results["blank"], quick_results["pages"][0]
    twin = page["twin"]
    assert not twin["problems"] and twin["cpu_per_run_s"] > 0 and page["cpu_x_twin"] > 0
    # The page's messages per rerun, less the blank app's bookkeeping, are the twin's elements ...
    assert twin["elements"] == round(page["messages_per_rerun"] - (blank["messages_per_rerun"] - 1)) > 10
    # ... and the twin really sends that many: its messages per rerun are the page's.
    assert twin["messages_per_rerun"] == pytest.approx(page["messages_per_rerun"], abs=1)


def test_share_link_and_sample_queries_build(bench: ModuleType) -> None:
    # The project imports live in one function; this breaks first when a module moves.
    from urllib.parse import parse_qs

    from playground.spec.share import decode_share

    pages = bench.page_table(predict_samples=True)
    spec = decode_share(parse_qs(pages["Designer-VGG16"].query(0))["spec"][0])
    assert spec["name"] == "VGG-16"
    samples = {parse_qs(pages["Predict"].query(i))["sample"][0] for i in range(3)}
    assert len(samples) == 3  # each student a different photo
    assert pages["Home"].url_path == "" and pages["Designer"].url_path == "design"


def test_summarize_uses_nearest_rank(bench: ModuleType) -> None:
    runs = [bench.cc.RunResult(wall_s=float(s), finished=True) for s in range(1, 21)]
    runs.append(bench.cc.RunResult(wall_s=99.0, finished=False))
    stats = bench.summarize(runs)
    assert stats["runs"] == 21 and stats["finished"] == 20
    assert stats["p95_s"] == 19.0 and stats["max_s"] == 20.0 and stats["p50_s"] == 10.5


@pytest.mark.timeout(QUICK_TIMEOUT_S + 30)
def test_leak_check_reads_memory_at_both_points(quick_results: dict) -> None:
    """Three tabs rerun together in waves; RSS is read after the waves that reach 6 and 12 runs."""
    leak = quick_results["leak"]
    assert leak["page"] == QUICK_PAGE and not leak["problem"], leak
    assert sorted(map(int, leak["rss_mib"])) == [6, 12] and all(v > 50 for v in leak["rss_mib"].values())
    assert leak["ratio"] == leak["rss_mib"]["12"] / leak["rss_mib"]["6"]


UPLOAD_SESSIONS = 3
UPLOAD_TIMEOUT_S = 150.0  # a hard bound; server start-up, torch and the model load dominate it


@pytest.fixture(scope="module")
def upload_results(bench: ModuleType) -> dict:
    """Three students on Predict, each uploading their own photo through the file uploader."""
    opts = bench.BenchOptions(sessions=UPLOAD_SESSIONS, reruns=1, pages=[bench.UPLOAD_PAGE], predict_uploads=True,
                              timeout_s=UPLOAD_TIMEOUT_S, warmup=False, blank=False)
    with ThreadPoolExecutor(max_workers=1) as pool:  # its own thread: see quick_results
        return pool.submit(bench.run_benchmark, opts).result()


@pytest.mark.timeout(UPLOAD_TIMEOUT_S + 30)
def test_each_student_uploads_a_photo_and_gets_its_prediction(upload_results: dict) -> None:
    assert not upload_results.get("timed_out"), upload_results
    (row,) = upload_results["pages"]
    assert row["page"] == "Predict-upload"
    assert row["first"]["runs"] == row["first"]["finished"] == UPLOAD_SESSIONS, row
    assert row["rerun"]["runs"] == row["rerun"]["finished"] == UPLOAD_SESSIONS, row
    assert not row["exceptions"], f"{row['page']} raised: {row['exceptions']}\n{upload_results.get('app_log_tail')}"
    assert not row["problems"], row["problems"]  # includes a finished run without the top-k chart, or an st.error
    assert row["upload"]["finished"] == UPLOAD_SESSIONS
    assert row["script_runs"] == UPLOAD_SESSIONS * 4  # open, choose Upload, the prediction, one rerun
    photos = row["photos"]
    assert len(photos) == UPLOAD_SESSIONS and row["distinct_photos"] == UPLOAD_SESSIONS
    for photo in photos:
        assert photo["size"] > 0 and len(photo["top"]) == 5
        assert all(0.0 <= p <= 1.0 for _, p in photo["top"])
    # The server classified three different images: had the uploads not reached the model (the
    # picker still on its default sample photo), the three predictions would be the same.
    assert len({tuple(map(tuple, photo["top"])) for photo in photos}) == UPLOAD_SESSIONS


def test_student_photos_are_distinct_real_jpegs(bench: ModuleType) -> None:
    import hashlib
    import io

    from PIL import Image

    count = bench.DEFAULT_SESSIONS + 1  # a class and the warm-up student
    photos = [bench.cu.student_photo(i) for i in range(count)]
    assert len({hashlib.sha256(p).hexdigest() for p in photos}) == count
    for data in photos[:7]:  # every sample, and the first variant of one
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG" and img.size == (640, 480)
    assert photos[0] == bench.cu.student_photo(0)  # deterministic


def test_upload_page_is_added_by_its_option(bench: ModuleType) -> None:
    assert bench.UPLOAD_PAGE not in bench.page_table()
    assert bench.page_table(predict_uploads=True)[bench.UPLOAD_PAGE].upload
    opts, _ = bench.parse_args(["--predict-uploads"])
    assert opts.predict_uploads and opts.pages[-1] == bench.UPLOAD_PAGE
    opts, _ = bench.parse_args(["--pages", bench.UPLOAD_PAGE])
    assert opts.predict_uploads and opts.pages == [bench.UPLOAD_PAGE]
    opts, _ = bench.parse_args([])
    assert not opts.predict_uploads and bench.UPLOAD_PAGE not in opts.pages


def _row(page: str, cpu: float, first: float, rerun: float, x_blank: float) -> dict:
    return {"page": page, "cpu_per_run_s": cpu, "cpu_x_blank": x_blank, "first": {"p95_s": first},
            "rerun": {"p95_s": rerun}}


def test_the_targets_are_checked_against_each_measured_page(bench: ModuleType) -> None:  # bench: puts bench/ on the path
    import classroom_targets  # bench/ is on the path once the bench module is loaded

    results = {"pages": [_row("Designer", 0.02, 1.2, 0.5, 8.0), _row("Designer-VGG16", 0.031, 1.6, 0.6, 9.0),
                         _row("Home", 0.01, 0.4, 0.3, 4.0)],
               "leak": {"rss_mib": {"120": 1000.0, "1000": 1050.0}, "ratio": 1.05}}
    lines = classroom_targets.check(results)
    assert "NOT met  server CPU per page run, Designer <= 0.03 s: Designer 0.02, Designer-VGG16 0.031" in lines
    assert "met      server CPU per page run, every other page <= 0.05 s: Home 0.01" in lines
    assert "NOT met  Designer first view p95 <= 1.5 s: Designer 1.2, Designer-VGG16 1.6" in lines
    assert "met      Designer rerun p95 <= 1.5 s: Designer 0.5, Designer-VGG16 0.6" in lines
    assert "met      RSS after 1000 runs within 10% of after 120: ratio 1.050" in lines
    assert not [line for line in lines if "Predict" in line]  # pages the run did not measure are left out
