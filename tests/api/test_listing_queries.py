"""Listings read their rows' related data in a fixed number of statements, not one per row (N+1):
the statements of a listing are the same for 2 and for 8 rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.api.conftest import Api
from tests.api.test_flexrequests import REQUEST

LISTINGS = [
    ("/v1/flex-requests", "dso1"),
    ("/v1/flex-request-offers", "bob"),
    ("/v1/connection-points", "alice"),
]


def _statements(api: Api, path: str, who: str) -> tuple[int, list[Any]]:
    n = [0]

    def count(*_args: Any) -> None:
        n[0] += 1

    event.listen(api.store.engine, "before_cursor_execute", count)
    try:
        r = api.client.get(path, headers=api.auth(who))
    finally:
        event.remove(api.store.engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.text
    return n[0], r.json()


def _add(api: Api, k: int) -> None:
    """One more request with an offer, and one more connection point (behind CP-A)."""
    req = api.client.post("/v1/flex-requests", json=REQUEST, headers=api.auth("dso1")).json()
    offer = {"volume_kw": [10, 10, 10, 10], "price_eur_per_mwh": 100}
    r = api.client.post(f"/v1/flex-requests/{req['id']}/offers", json=offer, headers=api.auth("bob"))
    assert r.status_code == 201, r.text
    point = {"name": f"EAN-{k}", "congestion_point": "CP-A"}
    assert api.client.post("/v1/connection-points", json=point, headers=api.auth("alice")).status_code == 201


def test_listings_take_as_many_statements_for_8_rows_as_for_2(api: Api) -> None:
    statements = {}
    for n in (2, 8):
        while len(api.client.get("/v1/flex-requests", headers=api.auth("dso1")).json()) < n:
            _add(api, len(api.client.get("/v1/connection-points", headers=api.auth("alice")).json()))
        for path, who in LISTINGS:
            count, rows = _statements(api, path, who)
            assert len(rows) == n, path
            statements[path, n] = count
    for path, _ in LISTINGS:
        assert statements[path, 8] == statements[path, 2], path
    # and the rows' related data is right: ISP energy of an offer, the fill, the congestion point
    offer = api.client.get("/v1/flex-request-offers", headers=api.auth("bob")).json()[0]
    assert offer["energy_kwh"] == 10.0  # 40 kW over 4 ISPs of 15 min
    req = api.client.get("/v1/flex-requests", headers=api.auth("dso1")).json()[0]
    assert req["offered_kw"] == [10, 10, 10, 10]
    assert {
        p["congestion_point"]
        for p in api.client.get("/v1/connection-points", headers=api.auth("alice")).json()
    } == {"CP-A"}
