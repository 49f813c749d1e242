"""Users of organisations: an organisation's admin manages its users; a disabled user's tokens are
refused at once; tokens name their user in the audit; one organisation never sees another's users.
On SQLite and PostgreSQL (the ``api`` fixture)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gridflex.cli import app as cli
from gridflex.client import Client, ServerError
from tests.api.conftest import Api


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _user_with_token(api: Api, org: str, email: str, org_admin: bool = False) -> tuple[dict, str]:
    u = api.client.post("/v1/users", json={"email": email, "org_admin": org_admin}, headers=api.auth(org))
    assert u.status_code == 201, u.text
    t = api.client.post("/v1/tokens", json={"name": email, "user_id": u.json()["id"]}, headers=api.auth(org))
    assert t.status_code == 201, t.text
    assert t.json()["user_id"] == u.json()["id"]
    return u.json(), t.json()["secret"]


def test_org_admins_manage_users_and_plain_users_do_not(api: Api):
    ann, ann_secret = _user_with_token(api, "bob", "ann@bob.example", org_admin=True)
    ben, ben_secret = _user_with_token(api, "bob", "ben@bob.example")
    # ann (an organisation admin) adds a user; ben (a plain user) may not, nor disable ann
    r = api.client.post("/v1/users", json={"email": "cy@bob.example"}, headers=_bearer(ann_secret))
    assert r.status_code == 201 and r.json()["org_id"] == api.world.org_ids["bob"]
    r = api.client.post("/v1/users", json={"email": "dee@bob.example"}, headers=_bearer(ben_secret))
    assert r.status_code == 403 and "organisation admin" in r.json()["detail"]
    assert api.client.post(f"/v1/users/{ann['id']}/disable", headers=_bearer(ben_secret)).status_code == 403
    # ben makes tokens of himself only, and revokes only those
    own = api.client.post("/v1/tokens", json={"name": "laptop"}, headers=_bearer(ben_secret)).json()
    assert own["user_id"] == ben["id"]
    other = api.client.post(
        "/v1/tokens", json={"name": "x", "user_id": ann["id"]}, headers=_bearer(ben_secret)
    )
    assert other.status_code == 403
    org_token = api.world.principals["bob"].token_id
    assert api.client.delete(f"/v1/tokens/{org_token}", headers=_bearer(ben_secret)).status_code == 403
    assert api.client.delete(f"/v1/tokens/{own['id']}", headers=_bearer(ben_secret)).status_code == 200
    # the same e-mail twice is a conflict; a bad one names the field
    assert (
        api.client.post("/v1/users", json={"email": "ben@bob.example"}, headers=api.auth("bob")).status_code
        == 409
    )
    bad = api.client.post("/v1/users", json={"email": "no-at-sign"}, headers=api.auth("bob"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "email"]


def test_disabling_a_user_revokes_its_tokens_at_once(api: Api):
    ann, first = _user_with_token(api, "alice", "ann@alice.example")
    second = api.client.post("/v1/tokens", json={"name": "2nd"}, headers=_bearer(first)).json()["secret"]
    _, other = _user_with_token(api, "alice", "al@alice.example")
    for secret in (first, second, other):
        assert api.client.get("/v1/orders", headers=_bearer(secret)).status_code == 200
    off = api.client.post(f"/v1/users/{ann['id']}/disable", headers=api.auth("alice"))
    assert off.status_code == 200 and off.json()["disabled_at"] is not None
    for secret in (first, second):
        r = api.client.get("/v1/orders", headers=_bearer(secret))
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert (
        api.client.get("/v1/orders", headers=_bearer(other)).status_code == 200
    )  # another user's: untouched
    again = api.client.post(f"/v1/users/{ann['id']}/disable", headers=api.auth("alice"))
    assert again.status_code == 200 and again.json()["disabled_at"] == off.json()["disabled_at"]
    refused = api.client.post(
        "/v1/tokens", json={"name": "z", "user_id": ann["id"]}, headers=api.auth("alice")
    )
    assert refused.status_code == 409
    audit = api.client.get(
        "/v1/audit-events", params={"object_type": "user"}, headers=api.auth("alice")
    ).json()
    disabled = next(e for e in audit if e["action"] == "user.disabled")
    assert len(disabled["detail"]["revoked_tokens"]) == 2


def test_tokens_name_their_user_in_the_audit(api: Api):
    ann, secret = _user_with_token(api, "alice", "ann@alice.example")
    r = api.client.post("/v1/connection-points", json={"name": "EAN-ann"}, headers=_bearer(secret))
    assert r.status_code == 201, r.text
    r = api.client.post("/v1/meter-readings", headers=_bearer(secret), json={
        "readings": [{"connection_point": "EAN-ann", "start": "2026-06-03T00:00:00Z", "power_kw": [1.0]}]})  # fmt: skip
    assert r.status_code in (200, 201), r.text
    r = api.client.post("/v1/meter-readings", headers=_bearer(secret), json={
        "readings": [{"connection_point": "EAN-ann", "start": "2026-06-03T00:00:00Z", "power_kw": [2.0]}]})  # fmt: skip
    events = api.client.get("/v1/audit-events", headers=api.auth("alice")).json()
    mine = [e for e in events if e["actor_user_id"] == ann["id"]]
    assert mine and all(e["actor_token_id"] is not None for e in mine)
    token = next(e for e in events if e["action"] == "token.created" and e["detail"]["user_id"] == ann["id"])
    assert token["actor_user_id"] is None  # made with alice's organisation token


def test_one_organisation_never_sees_another_s_users(api: Api):
    ann, _ = _user_with_token(api, "alice", "ann@alice.example", org_admin=True)
    bens = {_user_with_token(api, "bob", f"b{i}@bob.example")[0]["id"] for i in range(3)}
    for who in ("bob", "operator", "dso1"):
        listed = api.client.get("/v1/users", headers=api.auth(who)).json()
        assert ann["id"] not in {u["id"] for u in listed}, who
        assert api.client.get(f"/v1/users/{ann['id']}", headers=api.auth(who)).status_code == 404
        assert api.client.post(f"/v1/users/{ann['id']}/disable", headers=api.auth(who)).status_code == 404
    assert {u["id"] for u in api.client.get("/v1/users", headers=api.auth("bob")).json()} == bens
    everyone = {u["id"] for u in api.client.get("/v1/users", headers=api.auth("admin")).json()}
    assert everyone == bens | {ann["id"]}
    # bob cannot add a user to alice's organisation nor make a token of alice's user
    r = api.client.post("/v1/users", json={"email": "mole@x.example", "org_id": api.world.org_ids["alice"]},
                        headers=api.auth("bob"))  # fmt: skip
    assert r.status_code == 404
    r = api.client.post("/v1/tokens", json={"name": "m", "user_id": ann["id"]}, headers=api.auth("bob"))
    assert r.status_code == 404


def test_the_client_manages_users(api: Api):
    alice = Client("http://testserver", api.world.secrets["alice"], http=api.client)
    ann = alice.create_user("ann@alice.example", name="Ann", org_admin=True)
    token = alice.create_token("ann-laptop", user_id=ann["id"])
    assert [u["email"] for u in alice.list_users()] == ["ann@alice.example"]
    as_ann = Client("http://testserver", token["secret"], http=api.client)
    assert as_ann.me()["name"] == "alice"
    assert alice.disable_user(ann["id"])["disabled_at"] is not None
    with pytest.raises(ServerError, match="401"):
        as_ann.me()


def test_accounts_users_from_the_shell(tmp_path):
    db = f"sqlite:///{tmp_path / 'shell.db'}"
    run = CliRunner().invoke
    assert run(cli, ["accounts", "create-org", "carol", "--role", "prosumer", "--db", db]).exit_code == 0
    added = run(cli, ["accounts", "users", "add", "carol", "cy@carol.example", "--name", "Cy", "--org-admin",
                      "--db", db])  # fmt: skip
    assert added.exit_code == 0, added.output
    secret = run(cli, ["accounts", "create-token", "carol", "--user", "cy@carol.example", "--db", db])
    assert secret.exit_code == 0 and secret.output.startswith("gfx_")
    listed = run(cli, ["accounts", "users", "list", "--json", "--db", db])
    users = json.loads(listed.output)
    assert [(u["email"], u["org"], u["org_admin"], u["disabled_at"]) for u in users] == [
        ("cy@carol.example", "carol", True, None)
    ]
    off = run(cli, ["accounts", "users", "disable", "cy@carol.example", "--db", db])
    assert off.exit_code == 0 and "1 token revoked" in off.output, off.output
    table = run(cli, ["accounts", "users", "list", "--db", db]).output
    assert "disabled since" in table and " UTC" in table  # a readable time, not a cut ISO string
    missing = run(cli, ["accounts", "users", "disable", "nobody@carol.example", "--db", db])
    assert missing.exit_code != 0 and "not found" in missing.output
