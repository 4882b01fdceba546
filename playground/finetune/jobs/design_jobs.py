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

from typing import TYPE_CHECKING

from playground.finetune.jobs.store import Job

if TYPE_CHECKING:
    from playground.finetune.data import Dataset
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.design_cost import DesignCost
    from playground.finetune.jobs.manager import JobManager

__all__ = ["prepare_design", "submit_design"]


def prepare_design(dataset: Dataset, cfg: DesignConfig, *, fix_head: bool = False,
                   macs_per_second: float | None = None) -> tuple[DesignConfig, DesignCost]:
    """The settings that will run (the head fixed when ``fix_head``) and their cost; raises TrainingError
    for a head that does not fit the classes (saying what would fix it), DatasetError for unusable data."""
    from playground.finetune.data import stratified_split
    from playground.finetune.design_config import DesignConfig
    from playground.finetune.design_cost import design_cost
    from playground.finetune.head import require_head

    dataset.check_trainable()
    spec = require_head(cfg.spec, len(dataset.classes), fix=fix_head)
    if spec is not cfg.spec:
        cfg = DesignConfig.from_dict(dict(cfg.to_dict(), design=spec))
    split = stratified_split(dataset, cfg.val_fraction, cfg.seed)
    return cfg, design_cost(cfg, len(split.train), len(split.val), macs_per_second=macs_per_second)


def submit_design(manager: JobManager, dataset: Dataset, cfg: DesignConfig, *, fix_head: bool = False,
                  owner: str | None = None, owner_name: str | None = None, client: str | None = None,
                  macs_per_second: float | None = None) -> Job:
    """Queue a from-scratch training job of a design on ``dataset``.

    Raises TrainingError (the head, with its fix), ClassroomError (over the class caps, or the estimate
    over the class's minutes per job: with the figure and what would fit), JobError (the owner's or the
    server's limits). ``macs_per_second``: a known training rate instead of the probe.
    """
    from playground.finetune.design_cost import check_cost
    from playground.finetune.jobs.submit import submit_finetune

    cfg, cost = prepare_design(dataset, cfg, fix_head=fix_head, macs_per_second=macs_per_second)
    check_cost(cost, manager.store.home)
    return submit_finetune(manager, dataset, cfg, owner=owner, owner_name=owner_name, client=client)
