"""What a job worker process runs: :func:`run_job` opens (once per process) the store at ``url``
and executes one job. Module-level functions, so that a spawned process pool can call them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gridflex.store.columns import utcnow
from gridflex.store.jobs import CLEARING, SETTLEMENT, JobRow, claim_due, execute_clearing_job
from gridflex.store.session import Store
from gridflex.store.settling import execute_settlement_job

__all__ = ["EXECUTORS", "run_due_jobs", "run_job", "warm"]

# kind → executor(store, job_id); the store's own kind here, the others registered by the adapter
# that knows their libraries (gridflex.api.jobkinds) when it is imported.
EXECUTORS: dict[str, Callable[[Store, int], Any]] = {
    CLEARING: execute_clearing_job,
    SETTLEMENT: execute_settlement_job,
}

_stores: dict[str, Store] = {}


def _store(url: str) -> Store:
    if url not in _stores:
        _stores[url] = Store(url)
    return _stores[url]


def warm(url: str) -> None:
    """Import and connect ahead of the first job: a gate closure then starts within a poll."""
    with _store(url).transaction():
        pass


def run_due_jobs(store: Store, now: datetime | None = None, lease_s: float = 30.0) -> list[int]:
    """Claim and run every due job in this process, one after the other; their ids. What the
    server's runner does in its pool, for a store without a server (tests, the documentation)."""
    done: list[int] = []
    while True:
        with store.transaction() as s:
            job_id = claim_due(s, now or utcnow(), lease_s)
        if job_id is None:
            return done
        EXECUTORS[_kind(store, job_id)](store, job_id)
        done.append(job_id)


def _kind(store: Store, job_id: int) -> str:
    with store.transaction() as s:
        kind = s.get_one(JobRow, job_id).kind
    if kind not in EXECUTORS:
        raise ValueError(f"job {job_id}: unknown kind {kind!r}")
    return kind


def run_job(url: str, job_id: int) -> Any:
    """Execute job ``job_id`` in this process (its kind's executor)."""
    store = _store(url)
    return EXECUTORS[_kind(store, job_id)](store, job_id)
