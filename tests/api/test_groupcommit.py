"""The group commit (ADR 0025): a batch that fails in the database reruns each request alone."""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gridflex.api.groupcommit import GroupCommit
from gridflex.errors import ValidationError
from gridflex.store import Principal, Role, Store
from gridflex.store.market import Submission, Submitted, submit_orders
from tests.store.world import BEFORE_GATE, build_world, order


def test_a_failed_batch_reruns_each_submission_alone(store: Store):
    """One submission breaks a constraint (an organisation that does not exist): its batch rolls
    back, each submission runs again alone, and only that one fails; a refused one fails alone."""
    w = build_world(store)
    ghost = Principal(10**9, "ghost", frozenset({Role.AGGREGATOR}))
    subs = [
        Submission(w.principals["alice"], order("buy", i, 1 + i, 10), f"k{i}", BEFORE_GATE) for i in range(6)
    ]
    subs[3] = Submission(ghost, order("buy", 3, 4, 10), "k3", BEFORE_GATE)
    subs[4] = Submission(w.principals["alice"], order("hold", 4, 5, 10), "k4", BEFORE_GATE)
    release, calls = threading.Event(), []

    def handler(session: Session, batch: list[Submission], batched: bool) -> list[Submitted | Exception]:
        calls.append((len(batch), batched))
        release.wait(30)  # the first batch holds the writer until every request is queued
        return submit_orders(session, batch, savepoint=not batched)

    async def burst() -> list[object]:
        group = GroupCommit(store)
        tasks = [asyncio.ensure_future(group.run(handler, s)) for s in subs]
        await asyncio.sleep(0)  # each task has queued its request
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    got = asyncio.run(burst())
    assert isinstance(got[3], IntegrityError) and isinstance(got[4], ValidationError)
    made = [g for i, g in enumerate(got) if i not in (3, 4)]
    assert all(isinstance(g, Submitted) and not g.replayed for g in made)
    assert [g.order.quantity_mw for g in made] == [1, 2, 3, 6]  # type: ignore[attr-defined]
    assert any(n > 1 and batched for n, batched in calls)  # the poisoned batch ...
    assert sum(1 for n, batched in calls if n == 1 and not batched) >= 3  # ... ran again one by one
    with store.repos(w.principals["alice"]) as r:
        assert sorted(o.quantity_mw for o in r.orders.list()) == [1, 2, 3, 6]
