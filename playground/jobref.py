"""How a fine-tuning job's model is referred to: ``job:<id>``, its spelling and its parsing, nothing else.

:mod:`playground.catalog` resolves these references (and re-exports these names); they are spelled
here, in a module that imports nothing, so that the job worker, which sits below the catalog, can
name the reference of the model it writes.
"""
from __future__ import annotations

__all__ = ["JOB_PREFIX", "job_ref", "job_id_of"]

JOB_PREFIX = "job:"  # a job's model by reference: job:<id>


def job_ref(job_id: str) -> str:
    """The reference ``job:<id>`` of a job's fine-tuned model."""
    return JOB_PREFIX + job_id


def job_id_of(ref: str) -> str | None:
    """The job id of a ``job:<id>`` reference (not checked), or None for any other reference."""
    return ref[len(JOB_PREFIX):] if ref.startswith(JOB_PREFIX) else None
