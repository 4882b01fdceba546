"""Which queued job runs next: round-robin over owners, so one student cannot starve the class.

The next job belongs to the owner served longest ago (an owner never served
comes first); owners tied on that go in the order of their oldest queued job,
and each owner's own jobs run oldest first. Three students A (3 jobs queued
first), B (2), C (1), nobody served yet: A1 B1 C1 A2 B2 A3. Pure data in, an
order out: no disk, no processes.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Queued", "fair_order"]

_NEVER = float("-inf")  # the "last served" time of an owner who has had no job started


@dataclass(frozen=True)
class Queued:
    """A queued job as the scheduler sees it."""

    job_id: str
    owner: str | None  # None: started from Python or the CLI (one more "owner")
    created: float  # when it was queued (seconds since the epoch)


def fair_order(queued: Iterable[Queued], last_started: Mapping[str | None, float] | None = None) -> list[str]:
    """Job ids in the order they will start (first = next), given when each owner last had a job started."""
    by_owner: dict[str | None, list[Queued]] = {}
    for job in sorted(queued, key=lambda q: (q.created, q.job_id)):
        by_owner.setdefault(job.owner, []).append(job)
    last = {owner: (last_started or {}).get(owner, _NEVER) for owner in by_owner}
    clock = max([t for t in last.values() if t != _NEVER], default=0.0)
    order: list[str] = []
    while by_owner:
        owner = min(by_owner, key=lambda o: (last[o], by_owner[o][0].created, by_owner[o][0].job_id))
        order.append(by_owner[owner].pop(0).job_id)
        clock += 1.0  # served now: behind everyone else who is waiting
        last[owner] = clock
        if not by_owner[owner]:
            del by_owner[owner]
    return order
