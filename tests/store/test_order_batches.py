"""A batch of order submissions in one transaction (the group commit's, ADR 0025), on SQLite and
PostgreSQL: each submission answered as if they came one after the other, in a fixed number of
statements whatever the batch's size."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from gridflex.errors import ValidationError
from gridflex.store import PermissionDeniedError, Store
from gridflex.store.market import Submission, Submitted, submit_orders
from gridflex.store.tables import IdempotencyKey, OrderRow
from tests.store.world import BEFORE_GATE, World, build_world, order


def _batch(store: Store, subs: list[Submission]) -> list[Submitted | Exception]:
    with store.transaction() as s:
        return submit_orders(s, subs, savepoint=False)


def _counts(store: Store) -> tuple[int, int]:
    with store.transaction() as s:
        n_orders = s.scalar(select(func.count()).select_from(OrderRow))
        n_keys = s.scalar(select(func.count()).select_from(IdempotencyKey))
        return int(n_orders or 0), int(n_keys or 0)


def _sub(w: World, who: str, body: dict, key: str | None = None) -> Submission:
    return Submission(w.principals[who], body, key, BEFORE_GATE)


def test_twins_in_one_batch_make_one_order(store: Store):
    w = build_world(store)
    body = order("buy", 3, 2, 20)
    first, twin, other_body, bobs = _batch(store, [
        _sub(w, "alice", body, "k"),
        _sub(w, "alice", body, "k"),  # the same key and body: a replay of the first
        _sub(w, "alice", {**body, "quantity_mw": 3}, "k"),  # the same key, another body: refused
        _sub(w, "bob", body, "k"),  # keys are per organisation
    ])  # fmt: skip
    assert isinstance(first, Submitted) and isinstance(twin, Submitted) and isinstance(bobs, Submitted)
    assert (first.replayed, twin.replayed, twin.order.id) == (False, True, first.order.id)
    assert isinstance(other_body, ValidationError) and "Idempotency-Key" in str(other_body)
    assert bobs.order.id != first.order.id and not bobs.replayed
    assert _counts(store) == (2, 2)


def test_a_refused_twin_leaves_its_key_to_the_next(store: Store):
    """The first use of a key is refused (422, nothing written): a later submission in the same
    batch with that key and another body is the key's first use."""
    w = build_world(store)
    bad, good = _batch(store, [
        _sub(w, "alice", order("hold", 1, 1, 10), "k"),
        _sub(w, "alice", order("buy", 1, 1, 10), "k"),
    ])  # fmt: skip
    assert isinstance(bad, ValidationError) and isinstance(good, Submitted) and not good.replayed
    assert _counts(store) == (1, 1)


def test_one_bad_submission_among_good_ones_fails_alone(store: Store):
    w = build_world(store)
    subs = [
        _sub(w, "alice", order("buy", 0, 1, 10)),
        _sub(w, "alice", order("hold", 0, 2, 10)),  # 422: side
        _sub(w, "bob", order("sell", 1, 3, 10), "b1"),
        _sub(w, "alice", {**order("buy", 0, 4, 10), "product": "nope"}),  # 422: product
        _sub(w, "operator", order("buy", 0, 5, 10)),  # 403: the operator does not trade
        _sub(w, "alice", order("buy", 24, 6, 10)),  # stored, rejected by the product's rules
        _sub(w, "bob", order("sell", 2, 7, 10, client_ref="mine")),
    ]
    got = _batch(store, subs)
    assert isinstance(got[1], ValidationError) and "side" in str(got[1])
    assert isinstance(got[3], ValidationError) and "product" in str(got[3])
    assert isinstance(got[4], PermissionDeniedError)
    made = [(sub, g) for sub, g in zip(subs, got, strict=True) if isinstance(g, Submitted)]
    assert len(made) == 4 and _counts(store) == (4, 1)
    for sub, g in made:  # each answer is its own order, ids in submission order
        assert (g.order.quantity_mw, g.order.isp) == (sub.fields["quantity_mw"], sub.fields["isp"])
        assert g.order.participant_org_id == sub.principal.org_id
    assert [g.order.id for _, g in made] == sorted(g.order.id for _, g in made)
    assert [g.order.status for _, g in made] == ["active", "active", "rejected", "active"]
    assert "outside the horizon" in made[2][1].order.reason and made[3][1].order.client_ref == "mine"


def test_a_replay_and_new_orders_in_one_batch(store: Store):
    w = build_world(store)
    body = order("buy", 3, 2, 20)
    (before,) = _batch(store, [_sub(w, "alice", body, "k1")])
    assert isinstance(before, Submitted)
    replay, new, changed, new_twin = _batch(store, [
        _sub(w, "alice", body, "k1"),
        _sub(w, "alice", body, "k2"),
        _sub(w, "alice", {**body, "isp": 4}, "k1"),
        _sub(w, "alice", body, "k2"),
    ])  # fmt: skip
    assert isinstance(replay, Submitted) and (replay.replayed, replay.order.id) == (True, before.order.id)
    assert isinstance(new, Submitted) and not new.replayed and new.order.id > before.order.id
    assert isinstance(changed, ValidationError)
    assert isinstance(new_twin, Submitted) and (new_twin.replayed, new_twin.order.id) == (True, new.order.id)
    assert _counts(store) == (2, 2)


@pytest.mark.parametrize("size", [4, 60])
def test_a_batch_costs_the_same_statements_whatever_its_size(store: Store, size: int):
    """Not 3-4 statements per order: one query for the keys seen before, the product's state, one
    executemany for the orders and one for the keys (one INSERT each on PostgreSQL)."""
    w = build_world(store)
    (seen,) = _batch(store, [_sub(w, "alice", order("buy", 0, 1, 10), "k0")])  # the product is read
    subs = [
        _sub(w, "bob" if i % 2 else "alice", order("buy", i % 24, 1 + i, 10), f"k{i}") for i in range(size)
    ]
    statements: list[str] = []

    def count(conn, cursor, statement, *_: object) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        got = _batch(store, subs)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["SELECT", "SELECT", "INSERT", "INSERT"]
    assert isinstance(got[0], Submitted) and isinstance(seen, Submitted) and got[0].order.id == seen.order.id
    for i, g in enumerate(got[1:], 1):  # the rows came back matched to their submissions
        assert isinstance(g, Submitted) and not g.replayed and g.order.quantity_mw == 1 + i
    assert _counts(store) == (size, size)
