"""Every route of the app, enumerated: refused without a token (401) and with another tenant's
token (403/404, never data). A new route fails this test until it is classified below."""

from __future__ import annotations

import json
import re

import pytest

from gridflex.api import create_app
from gridflex.api.app import ROUTERS
from gridflex.flexoffer import flexoffers_to_json, generate_fleet
from gridflex.store import Principal
from tests.api.conftest import Api
from tests.api.lifecycle import play
from tests.store.world import AFTER_GATE, PRODUCT, order

# How a route treats a caller who is not the owner ("bob" unless named):
#   public  no token needed (health, the OpenAPI document)
#   owned   names another tenant's object: 403 or 404, never its data
#   role    needs a role the caller lacks: 403
#   list    answers with the caller's own objects only (checked: none of the victim's)
#   shared  market information every authenticated caller reads (products, places, prices)
#   self    acts on the caller itself (its own new order, its own organisation)
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/health"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/v1/me"): "self",
    ("GET", "/v1/participants"): "list",
    ("POST", "/v1/participants"): "role",
    ("GET", "/v1/participants/{org_id}"): "owned",
    ("GET", "/v1/tokens"): "list",
    ("POST", "/v1/tokens"): "owned",
    ("GET", "/v1/tokens/{token_id}"): "owned",
    ("DELETE", "/v1/tokens/{token_id}"): "owned",
    ("GET", "/v1/users"): "list",
    ("POST", "/v1/users"): "owned",
    ("GET", "/v1/users/{user_id}"): "owned",
    ("POST", "/v1/users/{user_id}/disable"): "owned",
    ("GET", "/v1/grid-areas"): "shared",
    ("POST", "/v1/grid-areas"): "role",
    ("GET", "/v1/grid-areas/{area_id}"): "shared",
    ("GET", "/v1/grid-areas/{area_id}/congestion-points"): "shared",
    ("POST", "/v1/grid-areas/{area_id}/congestion-points"): "owned:dso2",
    ("GET", "/v1/products"): "shared",
    ("POST", "/v1/products"): "role",
    ("GET", "/v1/products/{product_id}"): "shared",
    ("POST", "/v1/orders"): "self",
    ("GET", "/v1/orders"): "list",
    ("GET", "/v1/orders/{order_id}"): "owned",
    ("POST", "/v1/orders/{order_id}/cancel"): "owned",
    ("POST", "/v1/clearing-runs"): "role",
    ("GET", "/v1/clearing-runs"): "shared",
    ("GET", "/v1/clearing-runs/{run_id}"): "shared",
    ("GET", "/v1/trades"): "list",
    ("GET", "/v1/jobs"): "list",
    ("POST", "/v1/jobs"): "role",
    ("GET", "/v1/jobs/{job_id}"): "owned",
    ("GET", "/v1/webhooks"): "list",
    ("POST", "/v1/webhooks"): "self",
    ("GET", "/v1/webhooks/{webhook_id}"): "owned",
    ("DELETE", "/v1/webhooks/{webhook_id}"): "owned",
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): "owned",
    # the dashboard's resources: local flexibility requests of dso1 and their offers (by bob)
    ("POST", "/v1/flex-requests"): "role:alice",
    ("GET", "/v1/flex-requests"): "list:dso2",
    ("GET", "/v1/flex-requests/{request_id}"): "owned:dso2",
    ("POST", "/v1/flex-requests/{request_id}/close"): "owned:dso2",
    ("POST", "/v1/flex-requests/{request_id}/offers"): "role:alice",
    ("GET", "/v1/flex-requests/{request_id}/offers"): "owned:dso2",
    ("GET", "/v1/flex-request-offers"): "list:dso2",
    ("POST", "/v1/flex-request-offers/{offer_id}/accept"): "owned:dso2",
    ("GET", "/v1/book"): "list",
    ("GET", "/v1/book/stream"): "role",
    ("GET", "/v1/series/grids/{network}"): "shared",
    ("GET", "/v1/series/grids/{network}/values"): "shared",
    # after the FlexOrder (tests/api/lifecycle.py): alice's connection point EAN-A; dso1's activation of
    # bob's offer, its settlement and baselines
    ("POST", "/v1/connection-points"): "self",
    ("GET", "/v1/connection-points"): "list",
    ("GET", "/v1/connection-points/{name}"): "owned",
    ("GET", "/v1/connection-points/{name}/readings"): "owned",
    ("POST", "/v1/meter-readings"): "self",
    ("POST", "/v1/meter-readings/csv"): "self",
    ("GET", "/v1/audit-events"): "list",
    ("POST", "/v1/activations"): "role",
    ("GET", "/v1/activations"): "list",
    ("GET", "/v1/activations/{activation_id}"): "owned:dso2",
    ("POST", "/v1/activations/{activation_id}/acknowledge"): "owned:dso2",
    ("POST", "/v1/activations/{activation_id}/decline"): "owned:dso2",
    ("POST", "/v1/activations/{activation_id}/dispatches"): "owned:dso2",
    ("POST", "/v1/baselines"): "owned",
    ("GET", "/v1/baselines"): "list",
    ("GET", "/v1/baselines/{baseline_id}"): "owned:alice",
    ("POST", "/v1/settlements"): "role",
    ("GET", "/v1/settlements"): "list",
    ("GET", "/v1/settlements/{settlement_id}"): "owned:alice",
    ("GET", "/v1/settlements/{settlement_id}/statement"): "owned:alice",
    ("GET", "/v1/settlements/{settlement_id}/lines"): "owned:alice",
    ("POST", "/v1/settlements/{settlement_id}/revisions"): "owned:alice",
    ("POST", "/v1/settlements/{settlement_id}/disputes"): "owned:alice",
    ("GET", "/v1/settlements/{settlement_id}/disputes"): "owned:alice",
    # a participant's site files and their schedule jobs
    ("POST", "/v1/sites"): "self",
    ("GET", "/v1/sites"): "list",
    ("GET", "/v1/sites/{site_id}"): "owned",
    ("GET", "/v1/sites/{site_id}/file"): "owned",
    ("POST", "/v1/sites/{site_id}/jobs"): "owned",
    ("POST", "/v1/flex-offers"): "self",
    ("GET", "/v1/flex-offers"): "list",
    ("GET", "/v1/flex-offers/{flexoffers_id}"): "owned",
    ("GET", "/v1/flex-offers/{flexoffers_id}/document"): "owned",
    ("POST", "/v1/flex-offers/{flexoffers_id}/jobs"): "owned",
    ("GET", "/v1/sites/{site_id}/s2-devices"): "owned",
    ("PUT", "/v1/sites/{site_id}/s2-devices"): "owned",
    # evaluation studies, their jobs and the files those produce
    ("POST", "/v1/studies"): "self",
    ("GET", "/v1/studies"): "list",
    ("GET", "/v1/studies/{study_id}"): "owned",
    ("GET", "/v1/studies/{study_id}/file"): "owned",
    ("POST", "/v1/studies/{study_id}/jobs"): "owned",
    ("GET", "/v1/jobs/{job_id}/files"): "owned",
    ("GET", "/v1/jobs/{job_id}/files/{name}"): "owned",
    ("GET", "/v1/events"): "stream",
}


def app_routes() -> set[tuple[str, str]]:
    """The app's own routes and those of every router it includes (``gridflex.api.app.ROUTERS``)."""
    app = create_app(url="sqlite:///:memory:")
    routes = [r for r in app.routes if hasattr(r, "methods")]
    routes += [r for router in ROUTERS for r in router.routes]
    return {
        (method, r.path)  # type: ignore[attr-defined]
        for r in routes
        for method in r.methods  # type: ignore[attr-defined]
        if method not in ("HEAD", "OPTIONS")
    }


def test_every_route_is_classified():
    assert app_routes() == set(ROUTES)
    documented = create_app(url="sqlite:///:memory:").openapi()["paths"]
    listed = {(m.upper(), path) for path, ops in documented.items() for m in ops}
    assert listed == set(ROUTES) - {("GET", "/openapi.json")}  # nothing hidden from the document


def _victim_objects(api: Api) -> dict[str, str]:
    """Objects of alice (a prosumer at dso1's congestion point) and dso1, with a clearing run."""
    w = api.world
    r = api.client.post("/v1/orders", json=order("buy", 0, 5, 50, "CP-A"), headers=api.auth("alice"))
    assert r.status_code == 201, r.text
    api.client.post("/v1/orders", json=order("sell", 0, 5, 10, "CP-A"), headers=api.auth("bob"))
    api.clock[0] = AFTER_GATE
    run = api.client.post(
        "/v1/clearing-runs", json={"product_id": PRODUCT.product_id}, headers=api.auth("operator")
    )
    assert run.status_code == 201, run.text
    hook = api.client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h"}, headers=api.auth("alice"))
    user = api.client.post("/v1/users", json={"email": "ann@alice.example"}, headers=api.auth("alice"))
    assert user.status_code == 201, user.text
    later = {**json.loads(PRODUCT.model_dump_json()), "product_id": "P-later"}
    assert api.client.post("/v1/products", json=later, headers=api.auth("operator")).status_code == 201
    job = api.client.get("/v1/jobs", headers=api.auth("operator")).json()[0]  # its clearing at the gate
    with api.store.repos(Principal.system()) as repos:
        area = next(a for a in repos.places.list_grid_areas() if a.dso_org_id == w.org_ids["dso1"])
    req = api.client.post("/v1/flex-requests", json=FLEX_REQUEST, headers=api.auth("dso1"))
    assert req.status_code == 201, req.text
    offer = api.client.post(
        f"/v1/flex-requests/{req.json()['id']}/offers", json=FLEX_OFFER, headers=api.auth("bob")
    )
    assert offer.status_code == 201, offer.text
    site = api.client.post("/v1/sites", json=SITE, headers=api.auth("alice"))
    assert site.status_code == 201, site.text
    fos = api.client.post("/v1/flex-offers", json=FLEXOFFERS, headers=api.auth("alice"))
    assert fos.status_code == 201, fos.text
    study = api.client.post("/v1/studies", json=STUDY, headers=api.auth("alice"))
    assert study.status_code == 201, study.text
    played = play(api.client, api.store, w.secrets, w.org_ids)
    return {
        "name": "EAN-A",
        "activation_id": str(played.ids["activation"]),
        "baseline_id": str(played.ids["baseline"]),
        "settlement_id": str(played.ids["settlement"]),
        "flexoffers_id": str(fos.json()["id"]),
        "site_id": str(site.json()["id"]),
        "study_id": str(study.json()["id"]),
        "request_id": str(req.json()["id"]),
        "offer_id": str(offer.json()["id"]),
        "network": "lv-rural1-storage",
        "org_id": str(w.org_ids["alice"]),
        "token_id": str(w.principals["alice"].token_id),
        "order_id": str(r.json()["id"]),
        "area_id": str(area.id),
        "product_id": PRODUCT.product_id,
        "run_id": str(run.json()["id"]),
        "job_id": str(job["id"]),
        "webhook_id": str(hook.json()["id"]),
        "user_id": str(user.json()["id"]),
    }


FLEX_REQUEST = {
    "congestion_point": "CP-A", "direction": "up", "start": "2026-06-03T17:00:00Z", "volume_kw": [50, 80],
    "max_price_eur_per_mwh": 300,
}  # fmt: skip
FLEX_OFFER = {"volume_kw": [40, 40], "price_eur_per_mwh": 200}
FLEXOFFERS = flexoffers_to_json(generate_fleet(12, seed=3))  # a small real-shaped fleet (synthetic)
SITE = {
    "name": "alice-home", "time": {"start": "2026-06-03T00:00:00+02:00", "step_s": 3600, "n_periods": 4},
    "prices": {"day_ahead_eur_per_mwh": [50, 80, 120, 60]},
    "assets": [{"kind": "grid_connection", "name": "grid", "fuse_kw": 10},
               {"kind": "battery", "name": "bat", "capacity_kwh": 5, "charge_power_kw": 2, "discharge_power_kw": 2}],
}  # fmt: skip
STUDY = {
    "name": "nine-bus", "network": {"case": "case9"}, "chunk_size": 2,
    "load": {"shape": [0.8, 0.95, 1.02, 0.9], "growth": 2.5, "noise": {"sigma_pu": 0.05}},  # stressed: storage helps
    "storage": [{"id": "b", "bus": 4, "power_mw": 20, "energy_mwh": 40}],
    "sensitivity": {"scales": [0.5, 1.0]},
}  # fmt: skip
BODIES = {
    ("PUT", "/v1/sites/{site_id}/s2-devices"): {"at": "2030-01-02T00:00:00Z", "devices": []},
    ("POST", "/v1/participants"): {"name": "new-org", "roles": ["prosumer"]},
    ("POST", "/v1/tokens"): {"name": "intruder", "org_id": "{org_id}"},
    ("POST", "/v1/users"): {"email": "mole@bob.example", "org_id": "{org_id}"},
    ("POST", "/v1/grid-areas"): {"name": "new-area"},
    ("POST", "/v1/grid-areas/{area_id}/congestion-points"): {"name": "CP-X"},
    ("POST", "/v1/products"): {**json.loads(PRODUCT.model_dump_json()), "product_id": "P2"},
    ("POST", "/v1/orders"): order("buy", 1, 1, 10),
    ("POST", "/v1/clearing-runs"): {"product_id": PRODUCT.product_id},
    ("POST", "/v1/jobs"): {"product_id": "P-later"},
    ("POST", "/v1/webhooks"): {"url": "http://127.0.0.1:9/mine"},
    ("POST", "/v1/flex-requests"): FLEX_REQUEST,
    ("POST", "/v1/flex-requests/{request_id}/offers"): FLEX_OFFER,
    ("POST", "/v1/connection-points"): {"name": "EAN-new"},
    ("POST", "/v1/meter-readings"): {
        "readings": [{"connection_point": "EAN-2", "start": "2026-06-03T00:00:00Z", "power_kw": [30]}]
    },
    ("POST", "/v1/meter-readings/csv"): "time_utc,EAN-2\n2026-06-03T00:00:00Z,30\n",
    ("POST", "/v1/activations"): {"offer_id": 1},
    ("POST", "/v1/activations/{activation_id}/acknowledge"): {"connection_points": ["EAN-1"]},
    ("POST", "/v1/activations/{activation_id}/decline"): {"reason": "no"},
    ("POST", "/v1/activations/{activation_id}/dispatches"): {
        "connection_point": "EAN-1",
        "power_kw": [1, 1, 0, 1],
        "price_eur_per_mwh": 1,
    },
    ("POST", "/v1/baselines"): {
        "connection_point": "{name}",
        "start": "2026-06-02T22:00:00Z",
        "end": "2026-06-03T22:00:00Z",
        "baseline": {"method": "like_days"},
    },
    ("POST", "/v1/settlements"): {
        "start": "2026-06-02T22:00:00Z",
        "end": "2026-06-03T22:00:00Z",
        "baseline": {"method": "like_days"},
    },
    ("POST", "/v1/settlements/{settlement_id}/disputes"): {"line_id": 1, "reason": "not mine"},
    ("POST", "/v1/sites"): SITE,
    ("POST", "/v1/flex-offers"): FLEXOFFERS,
    ("POST", "/v1/flex-offers/{flexoffers_id}/jobs"): {"kind": "aggregate"},
    ("POST", "/v1/studies"): STUDY,
    ("POST", "/v1/studies/{study_id}/jobs"): {"scenarios": 2},
}
QUERIES = {
    ("GET", "/v1/connection-points/{name}/readings"): {
        "start": "2026-06-03T00:00:00Z",
        "end": "2026-06-04T00:00:00Z",
    }
}


def _fill(text: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m[1]], text)


def _request(api: Api, method: str, path: str, ids: dict[str, str], headers: dict[str, str]):
    body = BODIES.get((method, path))
    params = QUERIES.get((method, path))
    if isinstance(body, str):  # a CSV upload
        return api.client.request(method, path, content=body, headers={**headers, "Content-Type": "text/csv"})
    if body is not None:
        body = json.loads(_fill(json.dumps(body), ids).replace(f'"{ids["org_id"]}"', ids["org_id"]))
    return api.client.request(method, _fill(path, ids), json=body, params=params, headers=headers)


def _mentions(payload: object, org_id: int) -> bool:
    """Whether a JSON answer holds an object of organisation ``org_id``."""
    if isinstance(payload, list):
        return any(_mentions(x, org_id) for x in payload)
    if isinstance(payload, dict):
        owners = (
            "participant_org_id",
            "org_id",
            "owner_org_id",
            "actor_org_id",
            "subject_org_id",
            "seller_org_id",
        )
        if any(payload.get(k) == org_id for k in owners):
            return True
        if "roles" in payload and payload.get("id") == org_id:  # a participant
            return True
        return any(_mentions(v, org_id) for v in payload.values())
    return False


def test_every_route_refuses_strangers_and_other_tenants(api: Api):
    ids = _victim_objects(api)
    victim = api.world.org_ids["alice"]
    for (method, path), kind in sorted(ROUTES.items()):
        where = f"{method} {path}"
        if kind == "public":
            assert _request(api, method, path, ids, {}).status_code == 200, where
            continue
        for headers in ({}, {"Authorization": "Bearer gfx_not-a-token"}, {"Authorization": "Basic eDp5"}):
            r = _request(api, method, path, ids, headers)
            assert r.status_code == 401, (where, headers, r.status_code, r.text)
            assert r.json().keys() == {"detail"} and r.headers["www-authenticate"] == "Bearer"
        if kind == "stream":  # endless for a valid caller: its tenancy is read on a real server (test_jobs)
            continue
        kind, _, who = kind.partition(":")
        r = _request(api, method, path, ids, api.auth(who or "bob"))
        assert "Traceback" not in r.text, where
        if kind == "owned":
            assert r.status_code in (403, 404), (where, r.status_code, r.text)
            assert r.json().keys() == {"detail"}, where
        elif kind == "role":
            assert r.status_code == 403, (where, r.status_code, r.text)
        else:
            assert r.status_code < 400, (where, r.status_code, r.text)
            if kind == "list":
                assert not _mentions(r.json(), victim), (where, r.text)


@pytest.mark.parametrize("path", ["/v1/orders", "/v1/me"])
def test_a_revoked_token_is_refused_at_once(api: Api, path: str):
    assert api.client.get(path, headers=api.auth("alice")).status_code == 200
    tid = api.world.principals["alice"].token_id
    assert api.client.delete(f"/v1/tokens/{tid}", headers=api.auth("alice")).status_code == 200
    r = api.client.get(path, headers=api.auth("alice"))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


@pytest.mark.parametrize("big", [2**63, 2**64])
def test_ids_beyond_64_bits_are_refused_not_500(api: Api, big: int):
    """Every id in a path, a paging query or a body past the stores' 64-bit keys answers 404 or 422
    (SQLite's driver raised OverflowError on them: a 500)."""
    admin = api.auth("admin")  # every role: only the id can be what is refused
    ids = {k: str(big) for k in ("name", "product_id", "network")} | {"_": ""}
    tried = 0
    for (method, path), kind in sorted(ROUTES.items()):
        if kind in ("public", "stream"):
            continue
        params = {"after": big} if method == "GET" and "{" not in path else None
        if "{" not in path and params is None:
            continue
        url = re.sub(r"\{(\w+)\}", lambda m: ids.get(m[1], str(big)), path)
        body = BODIES.get((method, path))
        r = api.client.request(
            method, url, params=params, json=None if isinstance(body, str) else body, headers=admin
        )
        tried += 1
        ok = (404, 422) if "{" in path else (200, 422)  # a list past every id is empty or refused
        assert r.status_code in ok, (method, url, params, r.status_code, r.text)
    for path, body in (
        ("/v1/tokens", {"name": "t", "org_id": big}),
        ("/v1/grid-areas", {"name": "a", "dso_org_id": big}),
        ("/v1/activations", {"offer_id": big}),
    ):
        r = api.client.post(path, json=body, headers=admin)
        assert r.status_code == 422, (path, r.status_code, r.text)
    assert tried > 50
