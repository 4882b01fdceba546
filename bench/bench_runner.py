"""Per-job overhead of the Ray runner against local worker processes, as ratios.

Runs the same small fine-tuning jobs (bundled digits, head and full) through
:class:`~playground.finetune.jobs.runner.LocalRunner` and
:class:`~playground.finetune.jobs.ray_runner.RayRunner` (a local Ray cluster this script starts)
with the same torch thread count, and prints for each job: wall time from submit to "done",
the training time inside it (the same work either way), the rest (the overhead: starting the
worker / task, importing torch, loading the model, decoding; for Ray also shipping the data and
streaming the progress back), and Ray's overhead as a ratio of the local one. Ray's own pieces
are listed too: cluster start (once per server), task start (submit to the task's first report),
data shipped per job, metrics lines streamed. Timings depend on the machine's load; compare only
rows of one run. Ray keeps a finished task's worker process for the next task, so only the first
Ray job of a run pays for starting an interpreter and importing torch; later ones start warm.

    python bench/bench_runner.py [--images 300] [--size 32] [--epochs 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("PLAYGROUND_HOME", tempfile.mkdtemp(prefix="bench-runner-"))

from playground.finetune.config import TrainConfig  # noqa: E402
from playground.finetune.data import Dataset, bundled  # noqa: E402
from playground.finetune.jobs.manager import JobManager  # noqa: E402
from playground.finetune.jobs.ray_task import pack_inputs  # noqa: E402
from playground.finetune.jobs.runner import LocalRunner, Runner  # noqa: E402
from playground.finetune.jobs.submit import submit_finetune  # noqa: E402

_POLL = 0.05


def subset(ds: Dataset, n: int) -> Dataset:
    """``n`` images spread evenly over the (class-sorted) list, so every class stays represented."""
    n = min(n, len(ds.items))
    return Dataset(ds.root, ds.name, ds.classes, [ds.items[i * len(ds.items) // n] for i in range(n)])


def run(runner: Runner, home: Path, ds: Dataset, cfg: TrainConfig) -> dict[str, float]:
    """One job through ``runner``: wall seconds, training seconds, seconds to its first report, lines."""
    manager = JobManager(home, runner=runner, max_concurrent=1)
    try:
        started = time.monotonic()
        job = submit_finetune(manager, ds, cfg)
        first_report = None
        while True:
            job = manager.get(job.id)
            if first_report is None and job.state.get("pid"):
                first_report = time.monotonic() - started
            if not job.active:
                break
            time.sleep(_POLL)
        wall = time.monotonic() - started
    finally:
        manager.shutdown()
    if job.status != "done":
        raise SystemExit(f"{cfg.strategy} job {job.status}: {job.state.get('message')}")
    results = manager.store.results(job.id) or {}
    return {"wall": wall, "train": results["train_seconds"], "first": first_report or 0.0,
            "lines": len(manager.store.metrics(job.id)), "shipped": len(pack_inputs(job)),
            "acc": results["val_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()

    import ray

    from playground.finetune.jobs import ray_runner
    from playground.finetune.runtime import cpu_threads

    threads = cpu_threads()  # what a local worker uses
    ds = subset(bundled("digits"), args.images)
    t0 = time.monotonic()
    ray_run = ray_runner.RayRunner(cpus_per_job=threads)  # starts a local cluster
    cluster_start = time.monotonic() - t0
    print(f"{len(ds.items)} digits at {args.size} px, {args.epochs} epoch(s), batch 32, {threads} torch thread(s) "
          f"either way; {ray_run.describe()}; cluster start {cluster_start:.1f} s (once per server)\n")
    print(f"{'strategy':<10}{'runner':<7}{'wall s':>8}{'train s':>9}{'overhead s':>11}{'1st report s':>13}"
          f"{'lines':>7}{'val acc':>9}")
    ratios = []
    for strategy in ("head", "full"):
        cfg = TrainConfig(image_size=args.size, epochs=args.epochs, batch_size=32, strategy=strategy,
                          cache_features=False)
        rows = {}
        for name, runner in (("local", LocalRunner()), ("ray", ray_run)):
            home = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
            rows[name] = r = run(runner, home, ds, cfg)
            print(f"{strategy:<10}{name:<7}{r['wall']:>8.1f}{r['train']:>9.2f}{r['wall'] - r['train']:>11.1f}"
                  f"{r['first']:>13.1f}{r['lines']:>7}{r['acc']:>9.3f}")
        over = {k: v["wall"] - v["train"] for k, v in rows.items()}
        ratios.append(over["ray"] / over["local"])
        print(f"{'':<10}Ray's per-job overhead is {ratios[-1]:.2f}x the local runner's "
              f"(+{over['ray'] - over['local']:.1f} s; data shipped {rows['ray']['shipped'] / 1e6:.2f} MB)")
    ray_run.shutdown()
    if ray.is_initialized():
        ray.shutdown()


if __name__ == "__main__":
    main()
