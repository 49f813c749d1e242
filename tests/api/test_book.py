"""The order book: merit order per ISP (both databases), and the live stream on a real server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from gridflex.store import Store
from tests.api.conftest import Api
from tests.api.test_serve import serving
from tests.store.world import PRODUCT, order
from tests.web.conftest import seed


def test_merit_order_per_isp_by_hand(api: Api):
    for who, side, q, p in [("alice", "buy", 5, 50), ("bob", "buy", 3, 70),
                            ("bob", "sell", 4, 40), ("bob", "sell", 6, 20)]:  # fmt: skip
        r = api.client.post("/v1/orders", json=order(side, 8, q, p), headers=api.auth(who))
        assert r.status_code == 201, r.text
    book = api.client.get(
        "/v1/book", params={"product": PRODUCT.product_id}, headers=api.auth("operator")
    ).json()
    isp = book["isps"][8]
    # bids by falling price, offers by rising price, each with the cumulative quantity
    assert [(x["price_eur_per_mwh"], x["cumulative_mw"]) for x in isp["bids"]] == [(70, 3), (50, 8)]
    assert [(x["price_eur_per_mwh"], x["cumulative_mw"]) for x in isp["offers"]] == [(20, 6), (40, 10)]
    assert book["n_open_orders"] == 4 and isp["start"] == "2026-06-02T08:00:00Z"
    # a participant's book holds its own orders only
    mine = api.client.get(
        "/v1/book", params={"product": PRODUCT.product_id}, headers=api.auth("alice")
    ).json()
    assert {x["participant_org_id"] for x in mine["isps"][8]["bids"]} == {api.world.org_ids["alice"]}
    assert mine["isps"][8]["offers"] == []
    r = api.client.get("/v1/book", params={"product": "nope"}, headers=api.auth("operator"))
    assert r.status_code == 404


def _events(stream: httpx.Response, kind: str, n: int) -> list[dict]:
    """The data of the next ``n`` events of ``kind`` (the read timeout bounds the wait)."""
    out, event, ident = [], None, None
    for line in stream.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("id: "):
            ident = int(line[4:])
        elif line.startswith("data: ") and event == kind:
            out.append({"event_id": ident, **json.loads(line[6:])})
            if len(out) == n:
                return out
        elif line == "":
            event, ident = None, None
    raise AssertionError("stream ended")


def test_the_stream_sends_new_orders_and_resumes_after_last_event_id(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    store = Store(url)
    store.upgrade()
    world = seed(store)
    store.close()

    def client(who: str) -> httpx.Client:
        return httpx.Client(headers={"Authorization": f"Bearer {world.secrets[who]}"}, timeout=20)

    with serving(url, tmp_path) as (base, _), client("operator") as op, client("bob") as bob:
        live = {"product": "DA-live"}
        snapshot = op.get(f"{base}/v1/book", params=live).json()
        first = snapshot["last_order_id"]
        with op.stream("GET", f"{base}/v1/book/stream", params={**live, "after": first}) as s:
            assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
            sent = [bob.post(f"{base}/v1/orders", json={"product": "DA-live", "side": "sell", "isp": 5,
                                                        "quantity_mw": q, "price_eur_per_mwh": 30})
                    for q in (1.5, 2.5)]  # fmt: skip
            got = _events(s, "order", 2)
        assert [g["id"] for g in got] == [r.json()["id"] for r in sent]
        assert [g["event_id"] for g in got] == [g["id"] for g in got]
        assert [g["quantity_mw"] for g in got] == [1.5, 2.5]
        # a reconnecting EventSource sends Last-Event-ID: the stream resumes after it
        headers = {"Last-Event-ID": str(got[0]["id"])}
        with op.stream("GET", f"{base}/v1/book/stream", params=live, headers=headers) as s:
            assert _events(s, "order", 1)[0]["id"] == got[1]["id"]
        # only the market operator streams the book
        assert bob.get(f"{base}/v1/book/stream", params=live).status_code == 403
        assert httpx.get(f"{base}/v1/book/stream").status_code == 401
