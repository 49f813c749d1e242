"""Jobs on SQLite and PostgreSQL: enqueue, claim by time and lease, clearing written with the job's
success in one transaction, a book that moved between load and write cleared again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gridflex.market import Product, ProductKind
from gridflex.store import ConflictError, NotFoundError, PermissionDeniedError, Store
from gridflex.store import jobs as jobs_module
from gridflex.store.columns import utcnow
from gridflex.store.jobs import JobRow, claim_due, execute_clearing_job, heartbeat
from gridflex.store.tables import ClearingRun, OrderRow, ProductRow, TradeRow
from tests.store.test_store import _book
from tests.store.world import GATE, PRODUCT, build_world, order


def test_clearing_jobs_are_one_per_product_and_for_the_operator(store: Store):
    w = build_world(store)
    with store.repos(w.principals["alice"]) as r, pytest.raises(PermissionDeniedError):
        r.jobs.enqueue_clearing(PRODUCT.product_id)
    with store.repos(w.principals["operator"]) as r:
        job = r.jobs.enqueue_clearing(PRODUCT.product_id)
        assert (job.status, job.run_at, job.progress) == ("queued", GATE, 0.0)  # at the gate closure
        with pytest.raises(ConflictError, match="has a clearing job"):
            r.jobs.enqueue_clearing(PRODUCT.product_id)
        with pytest.raises(NotFoundError):
            r.jobs.enqueue_clearing("no-such-product")
    with store.repos(w.principals["alice"]) as r:
        assert r.jobs.list() == []  # the operator's job is not hers
        with pytest.raises(NotFoundError):
            r.jobs.get(job.id)


def test_a_job_is_claimed_when_due_and_again_when_its_lease_expired(store: Store):
    w = build_world(store)
    with store.repos(w.principals["operator"]) as r:
        job_id = r.jobs.enqueue_clearing(PRODUCT.product_id).id
    with store.transaction() as s:
        assert claim_due(s, GATE - timedelta(seconds=1), lease_s=10) is None  # not yet due
        assert claim_due(s, GATE, lease_s=10) == job_id
        assert claim_due(s, GATE + timedelta(seconds=5), lease_s=10) is None  # held by its lease
        heartbeat(s, job_id, GATE + timedelta(seconds=8))
        assert claim_due(s, GATE + timedelta(seconds=15), lease_s=10) is None  # the heartbeat renewed it
        assert claim_due(s, GATE + timedelta(seconds=19), lease_s=10) == job_id  # its worker died
        assert s.get_one(JobRow, job_id).attempts == 2


def _counts(store: Store) -> tuple[int, int]:
    with store.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(ClearingRun)) or 0,
            s.scalar(select(func.count()).select_from(TradeRow)) or 0,
        )


def test_the_clearing_job_writes_the_run_and_its_success_together(store: Store, monkeypatch):
    w = build_world(store)
    _book(store, w)
    with store.repos(w.principals["operator"]) as r:
        job_id = r.jobs.enqueue_clearing(PRODUCT.product_id).id
    with store.transaction() as s:
        claim_due(s, utcnow(), lease_s=10)

    def killed(*_a: object, **_k: object) -> None:
        raise RuntimeError("killed while writing")

    monkeypatch.setattr(jobs_module.Clearing, "_update_orders", killed)
    with pytest.raises(RuntimeError):
        execute_clearing_job(store, job_id)
    assert _counts(store) == (0, 0)  # nothing half-written
    with store.transaction() as s:
        assert s.get_one(JobRow, job_id).status == "running"  # claimed again once its lease expires
    monkeypatch.undo()
    run_id = execute_clearing_job(store, job_id)
    with store.transaction() as s:
        job, run = s.get_one(JobRow, job_id), s.get_one(ClearingRun, run_id)
        assert (job.status, job.progress, job.result) == ("succeeded", 1.0, {"run_id": run_id})
        assert run.n_orders == 4 and run.n_trades == 2 and job.message == "2 trades from 4 orders"
        assert run.started_by_org_id == w.org_ids["operator"]
    assert execute_clearing_job(store, job_id) == run_id  # run twice (an orphan finishing): one run
    assert _counts(store) == (1, 2)


def test_a_book_that_moved_while_solving_is_cleared_again(store: Store, monkeypatch):
    w = build_world(store)
    open_product = Product(product_id="OPEN", kind=ProductKind.ENERGY_AUCTION,
                           delivery_start=PRODUCT.delivery_start, n_isps=4)  # fmt: skip
    with store.repos(w.principals["operator"]) as r:
        r.products.create(open_product)  # no gate: orders may arrive while the job solves
        job_id = r.jobs.enqueue_clearing("OPEN").id
    with store.repos(w.principals["bob"]) as r:
        r.orders.submit({**order("sell", 1, 5, 10), "product": "OPEN"}, now=GATE)
    solves = []
    real = jobs_module.clear_book

    def clear_and_meanwhile_a_bid(product, rows):
        solves.append(len(rows))
        if len(solves) == 1:
            with store.repos(w.principals["alice"]) as r:
                r.orders.submit({**order("buy", 1, 3, 50), "product": "OPEN"}, now=GATE)
        return real(product, rows)

    monkeypatch.setattr(jobs_module, "clear_book", clear_and_meanwhile_a_bid)
    run_id = execute_clearing_job(store, job_id)
    assert solves == [1, 2]  # solved again with the bid that came in
    with store.transaction() as s:
        assert s.get_one(ClearingRun, run_id).n_trades == 2
        assert s.get_one(ProductRow, "OPEN").cleared_at is not None
        assert {o.status for o in s.scalars(select(OrderRow))} == {"filled", "partially_filled"}
