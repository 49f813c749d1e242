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
