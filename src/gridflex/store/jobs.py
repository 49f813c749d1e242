"""Jobs: long work (a product's clearing at its gate closure, a site's schedule) as rows with a
status and progress. ``kind`` names the work; a job on an uploaded document (a site) names it in
``upload_id`` and its options in ``params``; the worker dispatches on ``kind`` (gridflex.api.jobkinds).

A job is ``queued`` until its ``run_at``; a worker claims it (``running``, ``attempts`` + 1) and keeps
its ``heartbeat_at`` fresh; it ends ``succeeded`` (with ``result``) or ``failed`` (with ``message``).
A running job whose heartbeat is older than the lease belongs to a worker that died: the next worker
claims it again. The clearing itself is written in one transaction together with the job's
``succeeded``: after a crash there is a whole run and a finished job, or neither.

Clearing jobs (:func:`execute_clearing_job`) run in a worker process: they load the book in one
short transaction, solve outside any transaction (submissions to other products go on), and write in
a second one after checking that the book did not change meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.orm import Session, object_session

from gridflex.store.columns import utcnow
from gridflex.store.errors import ConflictError, NotFoundError
from gridflex.store.market import Clearing, clear_book, product_of
from gridflex.store.tables import CLEARING, ClearingRun, JobRow, JobStatus, ProductRow, Role
from gridflex.store.tenancy import Principal, jobs_visible, require_role
from gridflex.store.uploads import SITE, Uploads
from gridflex.store.webhooks import enqueue_event

__all__ = [
    "CLEARING",
    "FLEXOFFER_KINDS",
    "SETTLEMENT",
    "SITE_SCHEDULE",
    "JobRow",
    "JobStatus",
    "Jobs",
    "claim_due",
    "execute_clearing_job",
    "fail",
    "heartbeat",
    "next_run_at",
    "progress",
    "succeed",
]

SITE_SCHEDULE = "site_schedule"
SETTLEMENT = "settlement"  # params: the settlement's span and options, or {"revise": settlement id}
FLEXOFFER_KINDS = ("flexoffers_aggregate", "flexoffers_schedule", "flexoffers_disaggregate")
PROGRESS_STEPS = 4  # a "progress" webhook when a job changes stage or passes a quarter, not per tick
MAX_REPLANS = 3  # the book changed between load and write this often: clear it in one transaction


def _notify(job: JobRow, what: str) -> None:
    """A ``jobs`` webhook delivery to the job's creator (outbox row, in the transaction that changes
    the job: a rolled-back change sends nothing). ``what``: queued, running, progress, succeeded, failed."""
    s = object_session(job)
    assert s is not None  # always a job of the session that changes it
    public = {k: getattr(job, k) for k in ("id", "kind", "status", "stage", "progress", "message",
                                           "product_id", "upload_id", "attempts")}  # fmt: skip
    enqueue_event(s, job.created_by_org_id, "jobs", {"type": f"job.{what}", "job": public})


class Jobs:
    """Jobs as ``principal`` may see and start them."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.s, self.p = session, principal

    def enqueue_clearing(self, product_id: str, run_at: datetime | None = None) -> JobRow:
        """Clear ``product_id`` as a job: at ``run_at``, else at its gate closure, else now."""
        require_role(self.p, Role.MARKET_OPERATOR, action="starting a clearing job")
        prod = self.s.get(ProductRow, product_id)
        if prod is None:
            raise NotFoundError(f"product {product_id!r} not found")
        if prod.cleared_at is not None:
            raise ConflictError(f"product {product_id!r} was cleared at {prod.cleared_at.isoformat()}")
        if self.s.scalar(select(JobRow.id).where(JobRow.kind == CLEARING, JobRow.product_id == product_id)):
            raise ConflictError(f"product {product_id!r} has a clearing job already")
        gate = product_of(prod).gate_closure
        job = JobRow(
            kind=CLEARING, product_id=product_id, created_by_org_id=self.p.org_id,
            run_at=run_at or gate or utcnow(),
        )  # fmt: skip
        self.s.add(job)
        self.s.flush()
        _notify(job, "queued")
        return job

    def enqueue(self, kind: str, params: dict[str, Any], org_id: int | None = None) -> JobRow:
        """Run ``kind`` with ``params`` now, for the caller (or ``org_id``: a job the store sets off
        for an organisation, e.g. a re-settlement). Callers check the roles the work needs."""
        job = JobRow(kind=kind, params=params, created_by_org_id=org_id or self.p.org_id, run_at=utcnow())
        self.s.add(job)
        self.s.flush()
        _notify(job, "queued")
        return job

    def enqueue_upload(self, kind: str, upload_kind: str, upload_id: int, params: dict[str, Any]) -> JobRow:
        """Run ``kind`` on the caller's uploaded document ``upload_id`` (404 if not the caller's), now."""
        Uploads(self.s, self.p).get(upload_kind, upload_id)
        job = JobRow(kind=kind, upload_id=upload_id, params=params, created_by_org_id=self.p.org_id,
                     run_at=utcnow())  # fmt: skip
        self.s.add(job)
        self.s.flush()
        _notify(job, "queued")
        return job

    def schedule_site(self, site_id: int, params: dict[str, Any]) -> JobRow:
        return self.enqueue_upload(SITE_SCHEDULE, SITE, site_id, params)

    def get(self, job_id: int) -> JobRow:
        job = self.s.scalar(select(JobRow).where(JobRow.id == job_id, jobs_visible(self.p)))
        if job is None:
            raise NotFoundError(f"job {job_id} not found")
        return job

    def changing(self, since: datetime, limit: int = 500) -> list[JobRow]:
        """Visible jobs that are queued or running, or finished after ``since`` (the events stream)."""
        live = JobRow.status.in_((JobStatus.QUEUED.value, JobStatus.RUNNING.value))
        q = select(JobRow).where(jobs_visible(self.p), or_(live, JobRow.finished_at >= since))
        return list(self.s.scalars(q.order_by(JobRow.id).limit(limit)))

    def list(self, status: str | None = None, limit: int = 100, after_id: int = 0) -> list[JobRow]:
        q = select(JobRow).where(jobs_visible(self.p), JobRow.id > after_id)
        if status is not None:
            q = q.where(JobRow.status == status)
        return list(self.s.scalars(q.order_by(JobRow.id).limit(limit)))


# -- the worker's side (no principal: the worker acts for the job's creator) -----------------------


def _of_kinds(only: Collection[str] | None, skip: Collection[str]) -> Any:
    """The jobs of one runner's lane: of the kinds ``only`` (None: any) and not of the kinds ``skip``."""
    return (true() if only is None else JobRow.kind.in_(list(only))) & (
        true() if not skip else JobRow.kind.not_in(list(skip))
    )


def next_run_at(
    session: Session, only: Collection[str] | None = None, skip: Collection[str] = ()
) -> datetime | None:
    """When the earliest queued job (of the lane) is due (the worker sleeps until then)."""
    return session.scalar(
        select(JobRow.run_at)
        .where(JobRow.status == JobStatus.QUEUED.value, _of_kinds(only, skip))
        .order_by(JobRow.run_at)
        .limit(1)
    )


def claim_due(
    session: Session,
    now: datetime,
    lease_s: float,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
) -> int | None:
    """Claim the most overdue job (queued and due, or running with an expired lease) of the kinds
    ``only`` (None: any) and not ``skip``; its id."""
    stale = now - timedelta(seconds=lease_s)
    job = session.scalar(
        select(JobRow)
        .where(
            or_(
                (JobRow.status == JobStatus.QUEUED.value) & (JobRow.run_at <= now),
                (JobRow.status == JobStatus.RUNNING.value) & (JobRow.heartbeat_at < stale),
            ),
            _of_kinds(only, skip),
        )
        .order_by(JobRow.run_at, JobRow.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL: two servers never claim one job
    )
    if job is None:
        return None
    job.status, job.stage, job.attempts = JobStatus.RUNNING.value, "claimed", job.attempts + 1
    job.started_at = job.heartbeat_at = now
    session.flush()
    _notify(job, "running")
    return job.id


def heartbeat(session: Session, job_id: int, now: datetime) -> None:
    job = session.get(JobRow, job_id)
    if job is not None and job.status == JobStatus.RUNNING.value:
        job.heartbeat_at = now


def fail(session: Session, job_id: int, message: str, now: datetime) -> None:
    job = session.get_one(JobRow, job_id)
    job.status, job.message, job.finished_at = JobStatus.FAILED.value, " ".join(message.split())[:500], now
    _notify(job, "failed")


def progress(session: Session, job_id: int, stage: str, fraction: float) -> None:
    job = session.get_one(JobRow, job_id)
    coarse = int(fraction * PROGRESS_STEPS) > int(job.progress * PROGRESS_STEPS)
    changed = stage != job.stage or coarse
    job.stage, job.progress = stage, fraction
    if changed:
        _notify(job, "progress")


_progress = progress


def succeed(session: Session, job_id: int, result: dict[str, Any], message: str, now: datetime) -> None:
    """End a job with its ``result`` (JSON), in the caller's transaction."""
    job = session.get_one(JobRow, job_id)
    job.status, job.stage, job.progress = JobStatus.SUCCEEDED.value, "done", 1.0
    job.result, job.message, job.finished_at = result, message, now
    _notify(job, "succeeded")


def _succeed(job: JobRow, run_id: int, message: str, now: datetime) -> None:
    job.status, job.stage, job.progress = JobStatus.SUCCEEDED.value, "done", 1.0
    job.result, job.message, job.finished_at = {"run_id": run_id}, message, now
    _notify(job, "succeeded")


def execute_clearing_job(store: Any, job_id: int) -> int:
    """Clear the job's product (``store``: a :class:`gridflex.store.Store`); the run's id.

    Load, solve, then write the run, its trades, the orders' outcomes and the job's success in one
    transaction. A product cleared meanwhile (by hand) ends the job with that run.
    """
    with store.transaction() as s:
        job = s.get_one(JobRow, job_id)
        principal = Principal(job.created_by_org_id, "(job)", frozenset({Role.MARKET_OPERATOR}))
        product_id = str(job.product_id)
        done = _already_cleared(s, job, product_id)
        if done is not None:
            return done
        _progress(s, job_id, "loading", 0.1)
    for _ in range(MAX_REPLANS):
        with store.transaction() as s:
            clearing = Clearing(s, principal)
            prod = clearing.lock_product(product_id, utcnow())
            product, rows = product_of(prod), clearing.load_book(product_id)
            _progress(s, job_id, "solving", 0.3)
        result = clear_book(product, rows)
        with store.transaction() as s:
            _progress(s, job_id, "writing", 0.8)
            s.flush()
            clearing = Clearing(s, principal)
            job = s.get_one(JobRow, job_id)
            done = _already_cleared(s, job, product_id)
            if done is not None:
                return done
            prod = clearing.lock_product(product_id, utcnow())
            if not clearing.book_unchanged(rows):
                continue  # orders came or went (a product without a gate): solve the new book
            now = utcnow()
            run = clearing.persist(prod, rows, result, now)
            _succeed(job, run.id, f"{run.n_trades} trades from {run.n_orders} orders", now)
            return run.id
    with store.transaction() as s:  # a busy book: hold it still while clearing
        now = utcnow()
        run = Clearing(s, principal).run(product_id, now)
        _succeed(s.get_one(JobRow, job_id), run.id, f"{run.n_trades} trades from {run.n_orders} orders", now)
        return run.id


def _already_cleared(s: Session, job: JobRow, product_id: str) -> int | None:
    prod = s.get(ProductRow, product_id)
    if prod is None or prod.cleared_at is None:
        return None
    run_id = s.scalar(select(ClearingRun.id).where(ClearingRun.product_id == product_id).limit(1))
    _succeed(job, int(run_id or 0), f"already cleared (run {run_id})", utcnow())
    return int(run_id or 0)
