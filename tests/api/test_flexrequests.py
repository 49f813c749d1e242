"""Local flexibility through the API (SQLite and PostgreSQL): a DSO's FlexRequest, aggregators' offers,
acceptance and fill; bad input names its field; tenants never see each other's requests or offers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflex.store import Principal
from tests.api.conftest import Api
from tests.store.world import GATE

START = (GATE + timedelta(days=1)).replace(hour=17)  # the clock is 2 h before GATE
REQUEST = {
    "congestion_point": "CP-A", "direction": "up", "start": START.isoformat(), "isp_s": 900,
    "volume_kw": [100, 150, 150, 50], "max_price_eur_per_mwh": 250,
}  # fmt: skip


def _post(api: Api, who: str, path: str, body: dict) -> dict:
    r = api.client.post(path, json=body, headers=api.auth(who))
    assert r.status_code in (200, 201), r.text
    return r.json()


def _carol(api: Api) -> dict[str, str]:
    """A second aggregator, so that one aggregator's offers can be hidden from another."""
    with api.store.repos(Principal.system()) as r:
        org = r.accounts.create_org("carol", ["aggregator"])
        secret = r.accounts.create_token(org.id, "carol").secret
    return {"Authorization": f"Bearer {secret}"}


def test_request_offers_acceptance_and_fill(api: Api):
    req = _post(api, "dso1", "/v1/flex-requests", REQUEST)
    assert req["status"] == "open" and req["fill"] == 0 and req["dso_org_id"] == api.world.org_ids["dso1"]
    assert req["expires_at"] == req["start"] == "2026-06-02T17:00:00Z"  # default: offers until delivery
    assert req["isp_starts"][-1] == "2026-06-02T17:45:00Z"
    cheap = _post(
        api,
        "bob",
        f"/v1/flex-requests/{req['id']}/offers",
        {"volume_kw": [60, 60, 60, 0], "price_eur_per_mwh": 120},
    )
    dear = _post(
        api,
        "bob",
        f"/v1/flex-requests/{req['id']}/offers",
        {"volume_kw": [100, 100, 100, 50], "price_eur_per_mwh": 400},
    )
    # energy and money: 180 kW × 0.25 h = 45 kWh, at 120 EUR/MWh = 5.40 EUR
    assert cheap["energy_kwh"] == 45 and cheap["cost_eur"] == pytest.approx(5.4)
    seen = api.client.get(f"/v1/flex-requests/{req['id']}", headers=api.auth("dso1")).json()
    assert seen["offered_kw"] == [60, 60, 60, 0]  # the offer over the price cap does not count
    assert seen["accepted_kw"] == [0, 0, 0, 0]
    # the DSO cannot order the offer over its cap, and orders the cheap one
    r = api.client.post(f"/v1/flex-request-offers/{dear['id']}/accept", headers=api.auth("dso1"))
    assert r.status_code == 409 and "over the request's cap of 250" in r.json()["detail"]
    accepted = _post(api, "dso1", f"/v1/flex-request-offers/{cheap['id']}/accept", {})
    assert accepted["status"] == "accepted" and accepted["accepted_at"] is not None
    r = api.client.post(f"/v1/flex-request-offers/{cheap['id']}/accept", headers=api.auth("dso1"))
    assert r.status_code == 409  # ordered once only
    seen = api.client.get(f"/v1/flex-requests/{req['id']}", headers=api.auth("dso1")).json()
    assert seen["accepted_kw"] == [60, 60, 60, 0]
    assert seen["fill"] == pytest.approx(180 / 450)
    # closing rejects what was not ordered; no offer is taken afterwards
    closed = _post(api, "dso1", f"/v1/flex-requests/{req['id']}/close", {})
    assert closed["status"] == "closed"
    offers = api.client.get(f"/v1/flex-requests/{req['id']}/offers", headers=api.auth("dso1")).json()
    assert {o["id"]: o["status"] for o in offers} == {cheap["id"]: "accepted", dear["id"]: "rejected"}
    r = api.client.post(
        f"/v1/flex-requests/{req['id']}/offers",
        json={"volume_kw": [1, 1, 1, 1], "price_eur_per_mwh": 1},
        headers=api.auth("bob"),
    )
    assert r.status_code == 409
    listed = api.client.get("/v1/flex-requests", params={"status": "open"}, headers=api.auth("bob")).json()
    assert req["id"] not in {x["id"] for x in listed}


def test_offers_are_refused_after_the_request_expires(api: Api):
    body = {**REQUEST, "expires_at": (GATE - timedelta(hours=1)).isoformat()}
    req = _post(api, "dso1", "/v1/flex-requests", body)
    api.clock[0] = GATE
    r = api.client.post(
        f"/v1/flex-requests/{req['id']}/offers",
        json={"volume_kw": [1, 1, 1, 1], "price_eur_per_mwh": 1},
        headers=api.auth("bob"),
    )
    assert r.status_code == 409 and "closed for offers" in r.json()["detail"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"direction": "sideways"}, ["body", "direction"]),
        ({"start": "2026-06-02T17:05:00Z"}, ["body"]),  # not on the 15-min grid
        ({"start": "2026-06-02T17:00:00"}, ["body", "start"]),  # no time zone
        ({"volume_kw": []}, ["body", "volume_kw"]),
        ({"volume_kw": [0, 0]}, ["body"]),
        ({"volume_kw": [10, -1]}, ["body", "volume_kw", 1]),
        ({"volume_kw": [1] * 700}, ["body", "volume_kw"]),
        ({"max_price_eur_per_mwh": 1e9}, ["body", "max_price_eur_per_mwh"]),
        ({"isp_s": 600}, ["body", "isp_s"]),
        ({"colour": "red"}, ["body", "colour"]),
        ({"congestion_point": "CP-Z"}, ["body", "congestion_point"]),
        ({"expires_at": "2026-06-02T18:00:00Z"}, ["body", "expires_at"]),  # after the start
        ({"expires_at": "2026-05-01T00:00:00Z"}, ["body", "expires_at"]),  # in the past
    ],
)
def test_a_bad_request_answers_422_naming_the_field(api: Api, change: dict, loc: list):
    r = api.client.post("/v1/flex-requests", json={**REQUEST, **change}, headers=api.auth("dso1"))
    assert r.status_code == 422, r.text
    assert loc in [d["loc"][: len(loc)] for d in r.json()["detail"]], r.json()
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            {"volume_kw": [200, 0, 0, 0], "price_eur_per_mwh": 10},
            ["body", "volume_kw", "0"],
        ),  # over the request
        ({"volume_kw": [1, 1], "price_eur_per_mwh": 10}, ["body", "volume_kw"]),  # ISP count
        ({"volume_kw": [0, 0, 0, 0], "price_eur_per_mwh": 10}, ["body", "volume_kw"]),
        ({"volume_kw": [1, 1, 1, 1], "price_eur_per_mwh": -5}, ["body", "price_eur_per_mwh"]),
        ({"volume_kw": [1, 1, 1, 1]}, ["body", "price_eur_per_mwh"]),
    ],
)
def test_a_bad_offer_answers_422_naming_the_field(api: Api, body: dict, loc: list):
    req = _post(api, "dso1", "/v1/flex-requests", REQUEST)
    r = api.client.post(f"/v1/flex-requests/{req['id']}/offers", json=body, headers=api.auth("bob"))
    assert r.status_code == 422, r.text
    assert loc in [d["loc"][: len(loc)] for d in r.json()["detail"]], r.json()


def test_tenants_see_their_own_requests_and_offers_only(api: Api):
    carol = _carol(api)
    req = _post(api, "dso1", "/v1/flex-requests", REQUEST)
    path = f"/v1/flex-requests/{req['id']}"
    offer = _post(api, "bob", f"{path}/offers", {"volume_kw": [10, 10, 10, 10], "price_eur_per_mwh": 100})
    # another DSO: cannot post at CP-A (403), does not see the request or its offers (404)
    r = api.client.post("/v1/flex-requests", json=REQUEST, headers=api.auth("dso2"))
    assert r.status_code == 403 and "another DSO" in r.json()["detail"]
    for p in (path, f"{path}/offers"):
        assert api.client.get(p, headers=api.auth("dso2")).status_code == 404
    assert api.client.get("/v1/flex-requests", headers=api.auth("dso2")).json() == []
    assert (
        api.client.post(f"/v1/flex-request-offers/{offer['id']}/accept", headers=api.auth("dso2")).status_code
        == 404
    )
    assert api.client.post(f"{path}/close", headers=api.auth("dso2")).status_code == 404
    # a prosumer sees no request; an aggregator cannot accept, nor post a request
    assert api.client.get(path, headers=api.auth("alice")).status_code == 404
    assert (
        api.client.post(f"/v1/flex-request-offers/{offer['id']}/accept", headers=api.auth("bob")).status_code
        == 403
    )
    assert api.client.post("/v1/flex-requests", json=REQUEST, headers=api.auth("bob")).status_code == 403
    # another aggregator sees the request, not bob's offer, nor bob's part of the fill
    assert api.client.get(path, headers=carol).json()["offered_kw"] == [0, 0, 0, 0]
    assert api.client.get(f"{path}/offers", headers=carol).json() == []
    assert api.client.get("/v1/flex-request-offers", headers=carol).json() == []
    assert [o["id"] for o in api.client.get("/v1/flex-request-offers", headers=api.auth("bob")).json()] == [
        offer["id"]
    ]
    # the market operator sees everything
    assert len(api.client.get(f"{path}/offers", headers=api.auth("operator")).json()) == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offers=st.lists(
        st.tuples(st.lists(st.integers(0, 150), min_size=4, max_size=4), st.integers(0, 400), st.booleans()),
        min_size=1, max_size=4,
    )
)  # fmt: skip
def test_fill_never_exceeds_the_request_and_counts_accepted_energy(api: Api, offers: list):
    req = _post(api, "dso1", "/v1/flex-requests", REQUEST)
    want = REQUEST["volume_kw"]
    accepted = [0.0] * 4
    for vol, price, take in offers:
        vol = [min(v, w) for v, w in zip(vol, want, strict=True)]
        r = api.client.post(
            f"/v1/flex-requests/{req['id']}/offers",
            json={"volume_kw": vol, "price_eur_per_mwh": price},
            headers=api.auth("bob"),
        )
        if not any(vol):
            assert r.status_code == 422
            continue
        assert r.status_code == 201, r.text
        if take and price <= 250:
            _post(api, "dso1", f"/v1/flex-request-offers/{r.json()['id']}/accept", {})
            accepted = [a + v for a, v in zip(accepted, vol, strict=True)]
    seen = api.client.get(f"/v1/flex-requests/{req['id']}", headers=api.auth("dso1")).json()
    assert seen["accepted_kw"] == [min(a, w) for a, w in zip(accepted, want, strict=True)]
    assert all(a <= o <= w for a, o, w in zip(seen["accepted_kw"], seen["offered_kw"], want, strict=True))
    assert 0 <= seen["fill"] <= 1
