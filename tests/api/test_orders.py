"""Orders and clearing through HTTP: idempotent submission, 422 naming the field, 413, atomic clearing."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api
from tests.store.world import AFTER_GATE, PRODUCT, order


def test_same_idempotency_key_twice_makes_one_order(api: Api):
    body, h = order("buy", 2, 3, 42), {**api.auth("alice"), "Idempotency-Key": "submit-7"}
    first = api.client.post("/v1/orders", json=body, headers=h)
    again = api.client.post("/v1/orders", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert len(api.client.get("/v1/orders", headers=api.auth("alice")).json()) == 1
    other = api.client.post("/v1/orders", json={**body, "isp": 3}, headers=h)
    assert other.status_code == 422 and other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]


def _fields(r) -> set[str]:
    return {d["loc"][-1] for d in r.json()["detail"]}


def test_bad_input_is_a_422_naming_the_field(api: Api):
    h = api.auth("alice")
    cases = {
        "quantity_mw": {**order("buy", 0, 1, 10), "quantity_mw": -1},
        "side": {**order("buy", 0, 1, 10), "side": "hold"},
        "isp": {**order("buy", 0, 1, 10), "isp": "x"},
        "product": {**order("buy", 0, 1, 10), "product": "no-such-product"},
        "colour": {**order("buy", 0, 1, 10), "colour": "red"},
    }
    for field, body in cases.items():
        r = api.client.post("/v1/orders", json=body, headers=h)
        assert r.status_code == 422 and field in _fields(r), (field, r.text)
    nan = api.client.post(
        "/v1/orders",
        content=json.dumps(order("buy", 0, float("nan"), 10)),
        headers={**h, "content-type": "application/json"},
    )
    assert nan.status_code == 422 and "quantity_mw" in _fields(nan)
    roles = api.client.post(
        "/v1/participants", json={"name": "x", "roles": ["wizard"]}, headers=api.auth("admin")
    )
    assert roles.status_code == 422 and 0 in {d["loc"][-1] for d in roles.json()["detail"]}
    assert api.client.get("/v1/orders?limit=0", headers=h).status_code == 422
    assert api.client.get("/v1/orders/abc", headers=h).status_code == 422


def test_rules_of_the_product_reject_the_order_with_a_reason(api: Api):
    r = api.client.post("/v1/orders", json=order("buy", 0, 1, 99999 / 10), headers=api.auth("alice"))
    assert r.status_code == 201 and r.json()["status"] == "rejected" and "limits" in r.json()["reason"]
    api.clock[0] = AFTER_GATE
    late = api.client.post("/v1/orders", json=order("buy", 0, 1, 10), headers=api.auth("alice"))
    assert late.json()["status"] == "rejected" and "gate closure" in late.json()["reason"]


def test_bodies_over_the_limit_get_413(api: Api):
    big = b'{"product": "' + b"x" * 2_000_000 + b'"}'
    h = {**api.auth("alice"), "content-type": "application/json"}
    assert api.client.post("/v1/orders", content=big, headers=h).status_code == 413

    def chunks():  # no Content-Length: counted while streaming
        for _ in range(30):
            yield b"x" * 100_000

    assert api.client.post("/v1/orders", content=chunks(), headers=h).status_code == 413


def test_cancel_and_clear_through_http(api: Api):
    buy = api.client.post("/v1/orders", json=order("buy", 0, 10, 60), headers=api.auth("alice")).json()
    gone = api.client.post("/v1/orders", json=order("buy", 0, 10, 90), headers=api.auth("alice")).json()
    api.client.post("/v1/orders", json=order("sell", 0, 6, 30), headers=api.auth("bob"))
    assert (
        api.client.post(f"/v1/orders/{gone['id']}/cancel", headers=api.auth("alice")).json()["status"]
        == "cancelled"
    )
    assert api.client.post(f"/v1/orders/{gone['id']}/cancel", headers=api.auth("alice")).status_code == 409
    run_body = {"product_id": PRODUCT.product_id}
    assert (
        api.client.post("/v1/clearing-runs", json=run_body, headers=api.auth("operator")).status_code == 409
    )
    api.clock[0] = AFTER_GATE
    run = api.client.post("/v1/clearing-runs", json=run_body, headers=api.auth("operator"))
    assert run.status_code == 201 and run.json()["n_trades"] == 2
    cell = next(c for c in run.json()["cells"]["cells"] if c["isp"] == 0)
    assert cell["volume_mw"] == 6 and cell["price_eur_per_mwh"] == 60  # the partly filled bid sets it
    mine = api.client.get(f"/v1/orders/{buy['id']}", headers=api.auth("alice")).json()
    assert (mine["status"], mine["accepted_mw"]) == ("partially_filled", 6)
    assert (
        api.client.post("/v1/clearing-runs", json=run_body, headers=api.auth("operator")).status_code == 409
    )
    trades = api.client.get("/v1/trades", headers=api.auth("bob")).json()
    assert [(t["side"], t["quantity_mw"], t["price_eur_per_mwh"]) for t in trades] == [("sell", 6, 60)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
order_like = st.fixed_dictionaries(
    {},
    optional={
        k: json_values
        for k in ("product", "place", "side", "isp", "quantity_mw", "price_eur_per_mwh", "execution")
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(json_values, order_like),
    path=st.sampled_from(
        ["/v1/orders", "/v1/tokens", "/v1/participants", "/v1/clearing-runs", "/v1/grid-areas"]
    ),
)
def test_garbage_never_gets_a_500(api: Api, body: object, path: str):
    raw = json.dumps(body)  # Python writes NaN and Infinity: the server must refuse them cleanly too
    r = api.client.post(path, content=raw, headers={**api.auth("alice"), "content-type": "application/json"})
    assert r.status_code < 500 and "Traceback" not in r.text, (path, body, r.status_code, r.text)


def test_a_revoked_token_submits_nothing_although_its_principal_is_cached(api: Api):
    """Submissions authenticate from a short cache (ADR 0025) and again inside the group commit's
    transaction: a token revoked after its last request is refused on the next one, by whichever
    way it was revoked (here by the shell's store, not through this server)."""
    h = {**api.auth("alice"), "Idempotency-Key": "before"}
    assert api.client.post("/v1/orders", json=order("buy", 0, 1, 10), headers=h).status_code == 201
    key = next(iter(api.client.app.state.token_cache._seen))  # type: ignore[attr-defined]
    assert api.client.app.state.token_cache.get(key) is not None  # type: ignore[attr-defined]
    with api.store.repos(api.world.principals["admin"]) as r:
        r.accounts.revoke_token(int(api.world.principals["alice"].token_id or 0))
    r = api.client.post("/v1/orders", json=order("buy", 1, 1, 10), headers={**h, "Idempotency-Key": "after"})
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert api.client.app.state.token_cache.get(key) is None  # type: ignore[attr-defined]
    with api.store.repos(api.world.principals["operator"]) as rr:
        assert [o.isp for o in rr.orders.list()] == [0]  # the refused order was not written
    again = api.client.post("/v1/orders", json=order("buy", 1, 1, 10), headers=h)
    assert again.status_code == 401  # not even a replay of the key it used before


def test_concurrent_submissions_share_commits_and_each_gets_its_own_order(api: Api):
    """The group commit: many submissions in flight, fewer transactions than orders, a few
    statements per transaction, every answer its own order (ids distinct, each as submitted),
    idempotent replays answered with the first."""
    import asyncio

    import httpx

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*(
                c.post("/v1/orders", json=order("buy" if j % 2 else "sell", j % 4, 1 + j, 10 + j),
                       headers={**api.auth("alice" if j % 3 else "bob"), "Idempotency-Key": f"k{j}"})
                for j in (i % 40 for i in range(60))
            ))  # fmt: skip

    import threading

    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *_: object) -> None:
        if threading.current_thread().name == "gridflex-group-commit":  # not the token cache's misses
            statements.append(statement.split(None, 1)[0].upper())

    group = api.client.app.state.group_commit  # type: ignore[attr-defined]
    before = group.batches
    event.listen(api.store.engine, "before_cursor_execute", count)
    try:
        answers = asyncio.run(burst())
    finally:
        event.remove(api.store.engine, "before_cursor_execute", count)
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers if r.status_code != 201]
    made = [r.json() for r in answers if "idempotent-replayed" not in r.headers]
    assert len({o["id"] for o in made}) == len(made) == 40  # k0..k19 sent twice: one order each
    for i, r in enumerate(answers):
        o, j = r.json(), i % 40
        assert (o["quantity_mw"], o["isp"]) == (1 + j, j % 4)  # its own order, or the first's on a replay
        assert o["participant_org_id"] == api.world.org_ids["alice" if j % 3 else "bob"]
        assert o["id"] == answers[j].json()["id"]
    batches = group.batches - before
    assert batches < 60
    # per batch, whatever its size: the tokens, the keys seen before, the product's state, the orders,
    # the keys (and once, the product's model to parse)
    assert len([s for s in statements if s not in ("BEGIN", "COMMIT")]) <= 5 * batches + 1


def test_a_burst_with_bad_submissions_and_twins_answers_each_alone(api: Api):
    """Submissions that share a batch: a bad one gets its 422 naming the field, a key reused with
    another body its 422, a replay and twins the first's order; the good ones are stored all the same."""
    import asyncio

    import httpx

    h = api.auth("alice")
    first = api.client.post("/v1/orders", json=order("buy", 1, 3, 10), headers={**h, "Idempotency-Key": "c"})
    bodies = [
        (order("buy", 0, 1, 10), "a"),
        ({**order("buy", 0, 2, 10), "product": "nope"}, "b"),  # 422: product
        (order("buy", 1, 3, 10), "c"),  # a replay of the first
        (order("buy", 2, 4, 10), "c"),  # the same key, another body: 422
        (order("buy", 3, 5, 99999), "d"),  # stored, rejected by the product's price limits
        (order("buy", 4, 6, 10), "e"),  # twins: one order, whichever comes first
        (order("buy", 4, 6, 10), "e"),
    ]

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=api.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(*(
                c.post("/v1/orders", json=body, headers={**h, "Idempotency-Key": key}) for body, key in bodies
            ))  # fmt: skip

    a, b, replay, reused, d, e1, e2 = asyncio.run(burst())
    assert all(r.status_code == 201 for r in (a, replay, d, e1, e2))
    assert b.status_code == 422 and "product" in _fields(b)
    assert reused.status_code == 422 and reused.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert replay.json() == first.json() and replay.headers.get("idempotent-replayed") == "true"
    assert e1.json() == e2.json() and sorted(r.headers.get("idempotent-replayed", "") for r in (e1, e2)) == [
        "",
        "true",
    ]
    assert d.json()["status"] == "rejected" and "limits" in d.json()["reason"]
    stored = api.client.get("/v1/orders", headers=h).json()
    assert sorted(o["quantity_mw"] for o in stored) == [1, 3, 5, 6]
