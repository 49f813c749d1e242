"""Property: over generated request sequences across tenants, no caller ever reads what it may not.

The oracle is written here independently of `gridflex.store.tenancy`, from the rules of the issue:
a participant sees its own orders and trades; a DSO also those at its congestion points; the market
operator and the admin see the book; organisations and tokens are seen by their owner (and the admin;
organisations also by the operator); users by their organisation (and the admin).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gridflex.store.tables import ApiToken, OrderRow, TradeRow, User
from tests.api.conftest import Api
from tests.store.world import AFTER_GATE, PRODUCT, order

ACTORS = ["alice", "bob", "dso1", "dso2", "operator", "admin"]
DSO_PLACES = {"dso1": {"CP-A"}, "dso2": {"CP-B"}}
BOOK = {"operator", "admin"}

submit = st.tuples(
    st.just("submit"), st.sampled_from(["alice", "bob", "dso1", "dso2"]),
    st.sampled_from(["", "CP-A", "CP-B"]), st.sampled_from(["buy", "sell"]),
    st.integers(0, 3), st.integers(1, 20), st.integers(0, 100),
)  # fmt: skip
read = st.tuples(
    st.sampled_from(["get_order", "cancel", "get_participant", "get_token", "get_user"]),
    st.sampled_from(ACTORS),
    st.integers(1, 40),
)
listing = st.tuples(
    st.sampled_from(["orders", "trades", "participants", "tokens", "users"]), st.sampled_from(ACTORS)
)
add_user = st.tuples(st.just("add_user"), st.sampled_from(ACTORS), st.integers(0, 3))
actions = st.lists(st.one_of(submit, read, listing, add_user, st.just(("clear",))), min_size=1, max_size=25)


def _sees_order(api: Api, viewer: str, owner_org: int, place: str) -> bool:
    w = api.world
    return viewer in BOOK or owner_org == w.org_ids[viewer] or place in DSO_PLACES.get(viewer, set())


def _truth(api: Api) -> tuple[dict[int, tuple[int, str]], dict[int, int], dict[int, int]]:
    with api.store.transaction() as s:
        orders = {o.id: (o.participant_org_id, o.place) for o in s.scalars(select(OrderRow))}
        tokens = {t.id: t.org_id for t in s.scalars(select(ApiToken))}
        users = {u.id: u.org_id for u in s.scalars(select(User))}
    return orders, tokens, users


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=actions)
def test_no_cross_tenant_read(api: Api, steps: list[tuple]):
    w, c = api.world, api.client
    for step in steps:
        kind, who = step[0], step[1] if len(step) > 1 else "operator"
        h = api.auth(who)
        me = w.org_ids[who]
        orders, tokens, users = _truth(api)
        if kind == "submit":
            _, _, place, side, isp, q, p = step
            assert c.post("/v1/orders", json=order(side, isp, q, p, place), headers=h).status_code == 201
        elif kind == "clear":
            api.clock[0] = AFTER_GATE
            c.post("/v1/clearing-runs", json={"product_id": PRODUCT.product_id}, headers=h)
        elif kind == "get_order":
            r = c.get(f"/v1/orders/{step[2]}", headers=h)
            visible = step[2] in orders and _sees_order(api, who, *orders[step[2]])
            assert r.status_code == (200 if visible else 404), (who, step, r.text)
        elif kind == "cancel":
            r = c.post(f"/v1/orders/{step[2]}/cancel", headers=h)
            if r.status_code in (200, 409):
                assert orders[step[2]][0] == me or who == "admin"
            else:
                assert r.status_code in (403, 404) and r.json().keys() == {"detail"}
        elif kind == "get_participant":
            r = c.get(f"/v1/participants/{step[2]}", headers=h)
            assert (r.status_code == 200) == (
                step[2] == me or (who in BOOK and step[2] in w.org_ids.values())
            )
        elif kind == "get_token":
            r = c.get(f"/v1/tokens/{step[2]}", headers=h)
            assert (r.status_code == 200) == (step[2] in tokens and (tokens[step[2]] == me or who == "admin"))
        elif kind == "add_user":
            email, taken = f"u{step[2]}@{who}.example", _emails(api)
            r = c.post("/v1/users", json={"email": email}, headers=h)
            assert r.status_code == (409 if email in taken else 201), (who, step, r.text)
        elif kind == "get_user":
            r = c.get(f"/v1/users/{step[2]}", headers=h)
            assert (r.status_code == 200) == (step[2] in users and (users[step[2]] == me or who == "admin"))
        elif kind == "users":
            got = {u["id"] for u in c.get("/v1/users", headers=h).json()}
            assert got == {i for i, org in users.items() if org == me or who == "admin"}
        elif kind == "orders":
            got = c.get("/v1/orders?limit=1000", headers=h).json()
            assert all(_sees_order(api, who, o["participant_org_id"], o["place"]) for o in got)
            assert {o["id"] for o in got} == {
                i for i, (org, pl) in orders.items() if _sees_order(api, who, org, pl)
            }
        elif kind == "trades":
            got = c.get("/v1/trades", headers=h).json()
            assert all(_sees_order(api, who, t["participant_org_id"], t["place"]) for t in got)
            with api.store.transaction() as s:
                n = sum(
                    _sees_order(api, who, t.participant_org_id, t.place) for t in s.scalars(select(TradeRow))
                )
            assert len(got) == n
        elif kind == "participants":
            got = {p["id"] for p in c.get("/v1/participants", headers=h).json()}
            assert got == (set(w.org_ids.values()) if who in BOOK else {me})
        elif kind == "tokens":
            got = {t["org_id"] for t in c.get("/v1/tokens", headers=h).json()}
            assert got <= ({me} if who != "admin" else set(w.org_ids.values()))


def _emails(api: Api) -> set[str]:
    with api.store.transaction() as s:
        return set(s.scalars(select(User.email)))
