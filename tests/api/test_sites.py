"""Site files as resources: validated at upload (422 naming asset and field), YAML or JSON, the
caller's own. Their schedule jobs run on a real server in tests/api/test_jobs.py."""

from __future__ import annotations

import yaml

from tests.api.conftest import Api
from tests.api.test_routes import FLEXOFFERS, SITE


def test_a_site_file_is_validated_and_kept_as_uploaded(api: Api):
    r = api.client.post(
        "/v1/sites",
        content=yaml.safe_dump(SITE),
        headers={**api.auth("alice"), "Content-Type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["summary"]["assets"] == {"grid": "grid_connection", "bat": "battery"}
    assert (site["summary"]["n_periods"], site["summary"]["step_s"]) == (4, 3600)
    assert api.client.get(f"/v1/sites/{site['id']}/file", headers=api.auth("alice")).json() == SITE
    assert [s["id"] for s in api.client.get("/v1/sites", headers=api.auth("alice")).json()] == [site["id"]]
    assert api.client.get("/v1/sites", headers=api.auth("bob")).json() == []
    assert api.client.get(f"/v1/sites/{site['id']}", headers=api.auth("bob")).status_code == 404


def test_bad_site_files_are_refused_naming_the_field(api: Api):
    bat = {**SITE["assets"][1], "capacity_kwh": -5}
    r = api.client.post(
        "/v1/sites", json={**SITE, "assets": [SITE["assets"][0], bat]}, headers=api.auth("alice")
    )
    assert r.status_code == 422, r.text
    assert ["body", "bat", "capacity_kwh"] in [d["loc"] for d in r.json()["detail"]]
    for body, ctype in (
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"a: [", "application/yaml"),
    ):
        r = api.client.post("/v1/sites", content=body, headers={**api.auth("alice"), "Content-Type": ctype})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body"], r.text
    r = api.client.post("/v1/sites/1/jobs", json={"time_limit_s": -1}, headers=api.auth("alice"))
    assert r.status_code in (404, 422)
    assert api.client.get("/health").status_code == 200


def test_bad_flexoffers_are_refused_naming_the_offer_and_field(api: Api):
    offers = [dict(o) for o in FLEXOFFERS["flexOffers"]]
    offers[1] = {
        **offers[1],
        "startAfterTime": offers[1]["startBeforeTime"],
        "startBeforeTime": offers[1]["startAfterTime"],
    }
    r = api.client.post("/v1/flex-offers", json={"flexOffers": offers}, headers=api.auth("alice"))
    assert r.status_code == 422, r.text
    assert any(d["loc"][:2] == ["body", offers[1]["id"]] for d in r.json()["detail"]), r.text
    ok = api.client.post("/v1/flex-offers", json=FLEXOFFERS, headers=api.auth("alice")).json()
    assert ok["summary"] == {"n_offers": 12, "scheduled": False, "aggregates": False}
    r = api.client.post(
        f"/v1/flex-offers/{ok['id']}/jobs", json={"kind": "disaggregate"}, headers=api.auth("alice")
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "members_id"]
    r = api.client.post(f"/v1/flex-offers/{ok['id']}/jobs", json={"kind": "melt"}, headers=api.auth("alice"))
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "kind"]
    r = api.client.post(
        f"/v1/flex-offers/{ok['id']}/jobs", json={"kind": "aggregate"}, headers=api.auth("bob")
    )
    assert r.status_code == 404
