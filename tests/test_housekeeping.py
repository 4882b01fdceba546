"""playground.housekeeping: old and excess uploads and jobs go, oldest first; active jobs never do."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from playground import housekeeping as hk
from playground.finetune import archive
from playground.finetune.jobs.store import JobStore
from playground.housekeeping import RetentionPolicy, apply_retention, run_housekeeping
from tests.support.finetune_data import make_zip, png_bytes

DAY = 86_400
NOW = time.time()


def _age(path: Path, days: float) -> None:
    """Make everything under ``path`` look last modified ``days`` ago."""
    stamp = NOW - days * DAY
    for p in [path, *path.rglob("*")]:
        os.utime(p, (stamp, stamp), follow_symlinks=False)


def _upload(home: Path, name: str, days: float, size: int = 1000) -> Path:
    folder = home / "uploads" / name
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "1.png").write_bytes(bytes(size))
    (folder / "dataset.json").write_text("{}")
    _age(folder, days)
    return folder


def _job(store: JobStore, state: str, days: float, size: int = 1000) -> str:
    job = store.create({"model": "m"}, prepare=lambda j: (j.dir / "data").mkdir())
    (job.dir / "data" / "x.png").write_bytes(bytes(size))
    stamp = NOW - days * DAY
    store.update(job.id, state=state, **({"finished": stamp} if state not in ("queued", "running") else {}))
    # state.json's "updated" is "now"; a final job counts from "finished", an active one is kept anyway
    _age(job.dir, days)
    return job.id


def _names(report: hk.HousekeepingReport) -> list[str]:
    return [r.name for r in report.removed]


def test_old_uploads_and_finished_jobs_go_active_jobs_stay(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    old_up, new_up = _upload(tmp_path, "a" * 20, 20), _upload(tmp_path, "b" * 20, 1)
    done_old, done_new = _job(store, "done", 30), _job(store, "failed", 2)
    running_old, queued_old = _job(store, "running", 40), _job(store, "queued", 40)
    (tmp_path / "datasets" / "digits").mkdir(parents=True)  # bundled sets are not ours to remove
    _age(tmp_path / "datasets", 100)

    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=14, max_total_bytes=10**12), now=NOW)

    assert sorted(_names(report)) == sorted(["a" * 20, done_old])
    assert not old_up.exists() and new_up.exists() and (tmp_path / "datasets" / "digits").is_dir()
    assert {j.id for j in store.list()} == {done_new, running_old, queued_old}
    assert all("unused for" in r.reason and r.age_days > 14 for r in report.removed)
    assert report.freed_bytes >= 2000


def test_over_the_size_limit_uploads_go_but_never_anyones_jobs(tmp_path: Path) -> None:
    """Retention keeps other owners' jobs: over the size limit only uploads (each job has its own copy
    of its data) go, least recently used first; the next upload is refused instead, with the figures."""
    store = JobStore(tmp_path)
    _upload(tmp_path, "c" * 20, 5, size=4000)
    classmate = _job(store, "done", 9, size=4000)  # a finished job with a kept model: someone's work
    (store.folder(classmate).artifacts).mkdir()
    newest = _upload(tmp_path, "d" * 20, 1, size=4000)
    running = _job(store, "running", 10, size=4000)  # the oldest of all, and never removed
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=14, max_total_bytes=8000), now=NOW)
    assert _names(report) == ["c" * 20, "d" * 20]  # uploads only, least recently used first
    assert all("over the" in r.reason for r in report.removed) and not newest.exists()
    assert store.get(classmate).status == "done" and store.get(running).active
    assert report.kept_bytes > 8000  # still over: the sweep does not make room out of jobs...
    with pytest.raises(hk.RetentionError, match=r"the server's data folder is full: uploads and jobs hold 8\.\d+ kB "
                                                r"of 8 kB \(PLAYGROUND_MAX_DATA_GB\); ask the teacher"):
        hk.check_room(tmp_path, RetentionPolicy(max_total_bytes=8000))  # ...an upload is refused instead
    hk.check_room(tmp_path, RetentionPolicy())  # room under the default 20 GB


def test_leftover_temporary_files_of_finished_jobs_go(tmp_path: Path) -> None:
    """A full disk leaves 0-byte .tmp files and a half-written model folder; the sweep removes them, but
    never from an active job (it may be writing them right now)."""
    store = JobStore(tmp_path)
    failed, running = _job(store, "failed", 1), _job(store, "running", 1)
    for job_id in (failed, running):
        (store.folder(job_id).dir / ".state.json.1.2.tmp").write_bytes(b"")
        (store.folder(job_id).artifacts_scratch / "x").mkdir(parents=True)
    removed = hk.remove_leftovers(tmp_path)
    assert sorted(p.name for p in removed) == [".artifacts.tmp", ".state.json.1.2.tmp"]
    assert all(p.parent.name == failed for p in removed)
    assert store.folder(running).artifacts_scratch.exists()
    assert hk.remove_leftovers(tmp_path) == []


def test_unused_counts_from_the_last_use_of_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model used on Predict seconds ago is not "unused" because its job finished 15 days ago."""
    from playground import catalog

    monkeypatch.setenv("PLAYGROUND_HOME", str(tmp_path))
    store = JobStore(tmp_path)
    used, idle = _job(store, "done", 15), _job(store, "done", 15)
    catalog.note_model_use(f"job:{used}")  # what loading it for Predict does
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=14), now=time.time())
    assert _names(report) == [idle] and store.get(used).status == "done"


def test_dry_run_removes_nothing(tmp_path: Path) -> None:
    old = _upload(tmp_path, "e" * 20, 30)
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=1), now=NOW, dry_run=True)
    assert _names(report) == ["e" * 20] and old.exists()


def test_stagings_go_only_when_stale_and_jobs_in_creation_stay(tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    stale, fresh = uploads / f".{'f' * 20}-abc", uploads / f".{'f' * 20}-def"
    for folder in (stale, fresh):
        (folder / "a").mkdir(parents=True)
        (folder / "a" / "1.png").write_bytes(bytes(100))
    _age(stale, 1)
    creating = tmp_path / "jobs" / "20250101-000000-abcdef"  # config written, data still being copied
    (creating / "data").mkdir(parents=True)
    (creating / "config.json").write_text("{}")
    report = apply_retention(tmp_path, RetentionPolicy(max_age_days=0.001, max_total_bytes=1), now=NOW)
    assert _names(report) == [stale.name] and report.removed[0].reason == "interrupted staging"
    assert fresh.exists() and creating.exists()


def test_hard_linked_job_data_is_not_counted_twice() -> None:
    """A job's data is hard links to the upload: together they use the disk once."""
    from playground.finetune.data import link_dataset

    ds = archive.stage_upload(make_zip({f"{c}/{i}.png": png_bytes(i, size=64) for c in "ab" for i in range(3)}),
                              "mine.zip")
    store = JobStore(ds.root.parent.parent)
    job = store.create({"model": "m"}, prepare=lambda j: link_dataset(ds, j.data_dir))
    store.update(job.id, state="done", finished=NOW)
    linked = os.stat(next((job.data_dir / "a").iterdir())).st_nlink
    report = apply_retention(store.home, RetentionPolicy(), now=NOW, dry_run=True)
    assert report.removed == []
    files = [f for folder in ("uploads", "jobs") for f in (store.home / folder).rglob("*") if f.is_file()]
    naive = sum(f.stat().st_size for f in files)
    on_disk = sum({(f.stat().st_dev, f.stat().st_ino): f.stat().st_size for f in files}.values())
    assert on_disk - len(files) < report.kept_bytes <= on_disk  # (each share rounds down a byte at most)
    if linked > 1:  # same filesystem: the links really are shared
        assert on_disk < naive


def test_policy_from_the_environment() -> None:
    assert RetentionPolicy.from_env({}) == RetentionPolicy(14.0, 20 * 1024**3)
    got = RetentionPolicy.from_env({"PLAYGROUND_RETENTION_DAYS": "3", "PLAYGROUND_MAX_DATA_GB": "0.5"})
    assert got == RetentionPolicy(3.0, 512 * 1024**2)
    for bad in ("-1", "0", "nan", "inf", "two"):
        with pytest.raises(hk.RetentionError, match=r"PLAYGROUND_RETENTION_DAYS='.*' is not a positive number"):
            RetentionPolicy.from_env({"PLAYGROUND_RETENTION_DAYS": bad})


def test_run_housekeeping_sweeps_at_most_once_per_interval(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_RETENTION_DAYS", "7")
    _upload(tmp_path, "1" * 20, 8)
    first = run_housekeeping(home=tmp_path, wait=True)
    assert first is not None and _names(first) == ["1" * 20]
    _upload(tmp_path, "2" * 20, 8)
    assert run_housekeeping(home=tmp_path, wait=True) is None  # not due yet
    assert (tmp_path / "uploads" / ("2" * 20)).exists()
    again = run_housekeeping(home=tmp_path, wait=True, interval_s=0)
    assert again is not None and _names(again) == ["2" * 20]


def test_a_bad_setting_never_breaks_the_server(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PLAYGROUND_MAX_DATA_GB", "lots")
    _upload(tmp_path, "3" * 20, 30)
    report = run_housekeeping(home=tmp_path, wait=True, interval_s=0)
    assert report is not None and report.policy == RetentionPolicy() and _names(report) == ["3" * 20]


def test_the_server_call_runs_in_the_background(tmp_path: Path) -> None:
    _upload(tmp_path, "4" * 20, 30)
    assert run_housekeeping(home=tmp_path, interval_s=0) is None  # returns at once...
    for thread in [t for t in __import__("threading").enumerate() if t.name == "playground-housekeeping"]:
        thread.join(timeout=60)
    assert not (tmp_path / "uploads" / ("4" * 20)).exists()  # ...and the sweep still happened


def test_the_teachers_saved_retention_wins_over_the_default(tmp_path: Path) -> None:
    """A teacher who keeps work 3 days (Teacher page) gets 3 days, not the 14-day default."""
    from playground.classroom import ClassSettings, save_settings

    old = _upload(tmp_path, "c" * 20, days=5)
    report = hk._sweep(tmp_path)
    assert report is not None and old.exists()  # 5 days < the default 14
    save_settings(ClassSettings(retention_days=3), tmp_path)
    report = hk._sweep(tmp_path)
    assert report is not None and _names(report) == ["c" * 20] and not old.exists()
