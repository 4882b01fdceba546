"""How close the fine-tuning time estimates come to the real durations, as estimate / actual ratios.

Runs small real jobs one after another (bundled digits, on the CPU unless --device says otherwise)
through the job manager and real worker processes, as the app does, with a fresh data directory
(so the first job of each setting is estimated from a probe, as on a new server, and later ones
from the calibration earlier jobs left). For each job it prints

- the before-Start estimate (:func:`playground.finetune.estimate.estimate`, what the page shows
  under "Estimated time") against the job's wall time from its start to "done", and where the
  estimate's per-image costs came from (probe, probe corrected by earlier jobs, or a run);
- the time left the job page showed at about 25% and 50% of that wall time (the worker's figure,
  counted down since it wrote it, as the page does) against the time the job then really took.

A ratio of 1.00 is exact; the goal is within +-30%. Timings depend on everything else the machine
is doing; compare only rows of one run. About two to four minutes on a 2-core CPU.

``--long N`` runs one more job, a full fine-tune of N epochs (what the walk watched swing from 3 m 27 s to
9 m 53 s), and prints the time left it showed at every tenth of its wall time against the real rest, and
how far the projected length (time so far + time left) moved between the 20% and 90% marks.

    python bench/bench_estimate.py [--images 900] [--size 48] [--device cpu] [--long 15]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

os.environ["PLAYGROUND_HOME"] = tempfile.mkdtemp(prefix="bench-estimate-")  # a fresh calibration

from playground.finetune import calibration  # noqa: E402
from playground.finetune.config import TrainConfig  # noqa: E402
from playground.finetune.data import Dataset, bundled  # noqa: E402
from playground.finetune.estimate import estimate  # noqa: E402
from playground.finetune.jobs.manager import JobManager  # noqa: E402
from playground.finetune.jobs.runner import LocalRunner  # noqa: E402
from playground.finetune.jobs.submit import submit_finetune  # noqa: E402

_POLL = 0.1
_JOB_TIMEOUT = 300.0  # seconds: a bound, so the bench always ends
_GOAL = 0.30
# (strategy, epochs, augment): cheapest first; each repeated setting is estimated from the job before it.
_JOBS = (("head", 1, False), ("head", 3, False), ("last-block", 1, False), ("last-block", 2, False),
         ("full", 1, False), ("head", 1, True))


def subset(ds: Dataset, n: int) -> Dataset:
    """``n`` images spread evenly over the (class-sorted) list, so every class stays represented."""
    n = min(n, len(ds.items))
    return Dataset(ds.root, ds.name, ds.classes, [ds.items[i * len(ds.items) // n] for i in range(n)])


def run_job(manager: JobManager, ds: Dataset, cfg: TrainConfig) -> tuple[float, list[tuple[float, float | None]]]:
    """Run one job; (its wall seconds from start to done, [(seconds since start, time left shown)])."""
    job = submit_finetune(manager, ds, cfg)
    samples: list[tuple[float, float | None]] = []
    deadline = time.monotonic() + _JOB_TIMEOUT
    while True:
        job = manager.get(job.id)
        now = time.time()
        started = job.state.get("started")
        if job.status == "running" and isinstance(started, float):
            eta, updated = job.progress.get("eta_seconds"), job.state.get("updated", now)
            shown = max(0.0, eta - (now - updated)) if isinstance(eta, int | float) else None
            samples.append((now - started, shown))
        if not job.active:
            break
        if time.monotonic() > deadline:
            manager.cancel(job.id)
            raise SystemExit(f"{cfg.strategy} job still running after {_JOB_TIMEOUT:.0f} s; stopped")
        time.sleep(_POLL)
    if job.status != "done":
        raise SystemExit(f"{cfg.strategy} job {job.status}: {job.state.get('message')}")
    # The manager records the job's timing once it has reaped the worker (within a poll): wait for it,
    # so the next estimate of these settings sees it, as it would a minute later in the app.
    key = (manager.store.results(job.id) or {}).get("timing", {}).get("key")
    while key and (calibration.costs_for(key) or (None, ""))[1] != "run" and time.monotonic() < deadline:
        time.sleep(_POLL)
    return job.state["finished"] - job.state["started"], samples


def time_left_at(fraction: float, wall: float, samples: list[tuple[float, float | None]]) -> dict[str, Any] | None:
    """The first time-left figure shown at or after ``fraction`` of the job: ratio to the real rest."""
    for t, shown in samples:
        if t >= fraction * wall and shown is not None and wall - t > 0:
            return {"at": t / wall, "ratio": shown / (wall - t)}
    return None


def _cell(found: dict[str, Any] | None) -> str:
    return f"{found['ratio']:5.2f} @{found['at']:4.0%}" if found else "   n/a     "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=900)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--long", type=int, default=0, metavar="EPOCHS",
                        help="also run a full fine-tune of this many epochs and trace its time left")
    args = parser.parse_args()

    ds = subset(bundled("digits"), args.images)
    print(f"{len(ds.items)} digits at {args.size} px, batch {args.batch}, {os.cpu_count()} CPU cores; "
          "ratios are estimate / actual")
    print(f"{'job':<22} {'source':<17} {'estimate':>9} {'actual':>8} {'ratio':>6}   "
          f"{'left@25%':>11}   {'left@50%':>11}")
    manager = JobManager(runner=LocalRunner(), max_concurrent=1)
    ratios: list[float] = []
    try:
        for strategy, epochs, augment in _JOBS:
            cfg = TrainConfig(strategy=strategy, epochs=epochs, augment=augment, image_size=args.size,
                              batch_size=args.batch, device=args.device)
            est = estimate(cfg, ds)
            wall, samples = run_job(manager, ds, cfg)
            quarter, half = time_left_at(0.25, wall, samples), time_left_at(0.5, wall, samples)
            ratios += [est.seconds / wall] + [f["ratio"] for f in (quarter, half) if f]
            name = f"{strategy}{' +aug' if augment else ''}, {epochs} ep"
            print(f"{name:<22} {est.source:<17} {est.seconds:8.1f}s {wall:7.1f}s {est.seconds / wall:6.2f}   "
                  f"{_cell(quarter)}   {_cell(half)}")
        if args.long:
            cfg = TrainConfig(strategy="full", epochs=args.long, image_size=args.size, batch_size=args.batch,
                              device=args.device)
            trace(*run_job(manager, ds, cfg), epochs=args.long)
    finally:
        manager.shutdown(terminate=True)
    inside = sum(abs(r - 1) <= _GOAL for r in ratios)
    print(f"{inside} of {len(ratios)} ratios within +-{_GOAL:.0%}; worst {max(ratios, key=lambda r: abs(r - 1)):.2f}")


def trace(wall: float, samples: list[tuple[float, float | None]], *, epochs: int) -> None:
    """The long job's time left at each tenth of its wall time, as shown / the real rest, and the spread of
    its projected length (seconds so far + time left shown) from 20% to 90% of the run, as max / min."""
    cells = [time_left_at(k / 10, wall, samples) for k in range(1, 10)]
    print(f"full, {epochs} ep: {wall:.1f}s; time left shown / real rest at 10%..90%: "
          + " ".join(f"{c['ratio']:.2f}" if c else "n/a" for c in cells))
    projected = [t + shown for t, shown in samples if shown is not None and 0.2 * wall <= t <= 0.9 * wall]
    if projected:
        print(f"  projected length from 20% to 90%: {min(projected):.1f}s to {max(projected):.1f}s "
              f"(max / min {max(projected) / min(projected):.2f}; real {wall:.1f}s)")


if __name__ == "__main__":
    main()
