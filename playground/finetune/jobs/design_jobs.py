"""Submitting a from-scratch design job: the head check, the cost check, then the ordinary job path.

A design job is a fine-tuning job whose settings are a
:class:`~playground.finetune.design_config.DesignConfig` (config.json's ``kind`` is ``"design"``);
the worker trains it with :func:`~playground.finetune.scratch.train_design`, and owners, the class
caps and limits, the fair queue, live curves, cancel (keeping the best epoch), local and Ray runners
all work as for fine-tuning. What is added before it is queued: the design must end in one value
per class (or the caller agrees to the fix), and its estimated time must fit the class's minutes per
job. No torch at import time.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from playground.errors import PlaygroundError
from playground.finetune.jobs.store import Job
from playground.finetune.jobs.submit import submit_finetune

if TYPE_CHECKING:
    from playground.finetune.data import Dataset
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.design_cost import DesignCost
    from playground.finetune.jobs.manager import JobManager

__all__ = ["prepare_design", "submit_design", "submit_designs", "resubmit"]


def prepare_design(dataset: Dataset, cfg: DesignConfig, *, fix_head: bool = False,
                   macs_per_second: float | None = None,
                   home: str | Path | None = None) -> tuple[DesignConfig, DesignCost]:
    """The settings that will run (the head fixed when ``fix_head``) and their cost (calibrated in ``home``'s
    calibration file; None: the data directory); raises TrainingError for a head that does not fit the
    classes (saying what would fix it), DatasetError for unusable data."""
    from playground.finetune.data import stratified_split
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.design_cost import design_cost
    from playground.finetune.head import require_head

    dataset.check_trainable()
    spec = require_head(cfg.spec, len(dataset.classes), fix=fix_head)
    if spec is not cfg.spec:
        cfg = DesignConfig.from_dict(dict(cfg.to_dict(), design=spec))
    split = stratified_split(dataset, cfg.val_fraction, cfg.seed)
    return cfg, design_cost(cfg, len(split.train), len(split.val), macs_per_second=macs_per_second, home=home)


def submit_design(manager: JobManager, dataset: Dataset, cfg: DesignConfig, *, fix_head: bool = False,
                  owner: str | None = None, owner_name: str | None = None, client: str | None = None,
                  macs_per_second: float | None = None) -> Job:
    """Queue a from-scratch training job of a design on ``dataset``.

    Raises TrainingError (the head, with its fix), ClassroomError (over the class caps, or the estimate
    over the class's minutes per job: with the figure and what would fit), JobError (the owner's or the
    server's limits). ``macs_per_second``: a known training rate instead of the probe.
    """
    from playground.finetune.design_cost import check_cost

    cfg, cost = prepare_design(dataset, cfg, fix_head=fix_head, macs_per_second=macs_per_second,
                               home=manager.store.home)
    check_cost(cost, manager.store.home)
    return submit_finetune(manager, dataset, cfg, owner=owner, owner_name=owner_name, client=client)


def resubmit(manager: JobManager, job: Job, *, owner: str | None = None, owner_name: str | None = None,
             client: str | None = None, macs_per_second: float | None = None) -> Job:
    """Queue ``job`` again with the same settings, on its own copy of the data ("Run again").

    A design job goes through :func:`submit_design`, so its cost is checked again (the class's minutes
    per job and the training memory: the teacher may have lowered the limit since, and a finished run's
    own timing may now say more than the probe did); a fine-tuning job through ``submit_finetune``.
    Raises what those raise (ClassroomError with the figure and what would fit, JobError, DatasetError)."""
    from playground.finetune.data import load_dataset
    from playground.finetune.design_config import DesignConfig

    cfg = job.train_config()
    dataset = load_dataset(job.data_dir)
    if isinstance(cfg, DesignConfig):
        return submit_design(manager, dataset, cfg, owner=owner, owner_name=owner_name, client=client,
                             macs_per_second=macs_per_second)
    return submit_finetune(manager, dataset, cfg, owner=owner, owner_name=owner_name, client=client)


def submit_designs(manager: JobManager, dataset: Dataset, cfgs: list[DesignConfig], *, fix_head: bool = False,
                   owner: str | None = None, owner_name: str | None = None, client: str | None = None,
                   macs_per_second: float | None = None) -> list[Job]:
    """Queue one job per design of ``cfgs`` on the same data ("train both"), each checked first.

    Every design's head and cost (class minutes per job, memory) are checked, and the owner must have a
    free job slot for each, before any job is queued: one refusal queues none (the message names which
    design). Raises what :func:`submit_design` raises; JobError when the owner's slots are too few."""
    from playground.classroom import check_caps, load_settings
    from playground.finetune.design_cost import check_cost
    from playground.finetune.jobs.store import JobError

    home = manager.store.home
    ready = []
    for n, cfg in enumerate(cfgs, start=1):
        what = f"design {n} of {len(cfgs)}"
        try:
            check_caps(cfg, load_settings(home))  # the quick check first: the cost may time the design
            fixed, cost = prepare_design(dataset, cfg, fix_head=fix_head, macs_per_second=macs_per_second,
                                         home=home)
            check_cost(cost, home)
        except PlaygroundError as exc:
            exc.args = (f"{what}: {exc}",)  # the same error (type, attributes), naming the design
            raise
        ready.append(fixed)
    if owner is not None:
        active = [j for j in manager.list(owner) if j.active]
        if len(active) + len(ready) > manager.owner_limit():
            raise JobError(f"training {len(ready)} designs needs {len(ready)} free job slots; this browser has "
                           f"{len(active)} job(s) queued or running (limit {manager.owner_limit()}): wait for them "
                           "to finish or cancel them")
    return [submit_finetune(manager, dataset, cfg, owner=owner, owner_name=owner_name, client=client)
            for cfg in ready]
