"""Signed webhooks on trades, on both databases: the outbox is written with the clearing (or not at
all), a real HTTP receiver gets the participant's own trades with a valid HMAC-SHA256 signature, and a
failing receiver is retried with a growing delay until the delivery is given up."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from gridflex.api.delivery import WebhookSender
from gridflex.store.columns import utcnow
from gridflex.store.market import Clearing
from gridflex.store.webhooks import MAX_ATTEMPTS, DeliveryRow, record_attempt, sign, verify
from tests.api.conftest import Api
from tests.store.world import AFTER_GATE, PRODUCT, order


class Receiver:
    """A real HTTP server on loopback that records the POSTs it gets and answers ``status``."""

    def __init__(self, status: int = 204) -> None:
        self.status, self.got = status, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_a: object) -> None:  # no noise on stderr
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def _trade(api: Api, expect: int = 201) -> None:
    for who, side, q, p in (("alice", "buy", 10, 60), ("bob", "sell", 6, 30)):
        assert (
            api.client.post("/v1/orders", json=order(side, 0, q, p), headers=api.auth(who)).status_code == 201
        )
    api.clock[0] = AFTER_GATE
    run = api.client.post(
        "/v1/clearing-runs", json={"product_id": PRODUCT.product_id}, headers=api.auth("operator")
    )
    assert run.status_code == expect, run.text


def test_trades_reach_the_participants_webhook_signed(api: Api, receiver: Receiver):
    hook = api.client.post("/v1/webhooks", json={"url": receiver.url}, headers=api.auth("alice")).json()
    assert hook["events"] == ["trades"] and hook["secret"].startswith("whsec_")
    assert "secret" not in api.client.get(f"/v1/webhooks/{hook['id']}", headers=api.auth("alice")).json()
    _trade(api)
    deliveries = f"/v1/webhooks/{hook['id']}/deliveries"
    [pending] = api.client.get(deliveries, headers=api.auth("alice")).json()
    assert pending["status"] == "pending"
    assert WebhookSender(api.store).send_due() == 1
    [(headers, body)] = receiver.got
    assert headers["Gridflex-Event"] == "trades" and headers["Content-Type"] == "application/json"
    now_s = int(utcnow().timestamp())
    assert verify(hook["secret"], body, headers["Gridflex-Signature"], now_s)
    assert not verify(hook["secret"], body.replace(b"60", b"61"), headers["Gridflex-Signature"], now_s)
    assert not verify("whsec_other", body, headers["Gridflex-Signature"], now_s)
    assert not verify(hook["secret"], body, headers["Gridflex-Signature"], now_s + 3600)  # a replay, late
    payload = json.loads(body)
    mine = api.client.get("/v1/trades", headers=api.auth("alice")).json()
    assert [(t["id"], t["quantity_mw"], t["price_eur_per_mwh"]) for t in payload["trades"]] == [
        (t["id"], t["quantity_mw"], t["price_eur_per_mwh"]) for t in mine
    ]
    assert {t["participant_org_id"] for t in payload["trades"]} == {api.world.org_ids["alice"]}  # hers only
    [done] = api.client.get(deliveries, headers=api.auth("alice")).json()
    assert (done["status"], done["attempts"]) == ("delivered", 1)
    assert WebhookSender(api.store).send_due() == 0  # delivered once
    assert api.client.get(deliveries, headers=api.auth("bob")).status_code == 404


def test_a_rolled_back_clearing_sends_nothing(api: Api, receiver: Receiver, monkeypatch):
    api.client.post("/v1/webhooks", json={"url": receiver.url}, headers=api.auth("alice"))

    def crash(*_a: object, **_k: object) -> None:
        raise RuntimeError("killed half-way")

    monkeypatch.setattr(Clearing, "_update_orders", crash)
    _trade(api, expect=500)  # the trades and their deliveries were written, then rolled back
    with api.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(DeliveryRow)) == 0


def test_a_failing_receiver_is_retried_later_then_given_up(api: Api, receiver: Receiver):
    receiver.status = 500
    hook = api.client.post("/v1/webhooks", json={"url": receiver.url}, headers=api.auth("bob")).json()
    _trade(api)
    sender = WebhookSender(api.store)
    assert sender.send_due() == 1 and sender.send_due() == 0  # not again at once
    [d] = api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=api.auth("bob")).json()
    assert (d["status"], d["attempts"], d["last_error"]) == ("pending", 1, "HTTP 500")
    with api.store.transaction() as s:
        row = s.scalars(select(DeliveryRow)).one()
        t0 = utcnow()
        delays = []
        for _ in range(MAX_ATTEMPTS - 1):
            record_attempt(s, row.id, "HTTP 500", t0)
            if row.status == "pending":
                delays.append((row.next_at - t0) / timedelta(seconds=1))
        assert delays == [2, 4, 8, 16, 32, 64] and row.status == "failed"


def test_bad_webhooks_are_422_naming_the_field(api: Api):
    for body, field in (
        ({"url": "ftp://x.example/h"}, "url"),
        ({"url": "http://x.example/h", "events": ["all"]}, 0),
    ):
        r = api.client.post("/v1/webhooks", json=body, headers=api.auth("alice"))
        assert r.status_code == 422 and field in r.json()["detail"][0]["loc"], r.text


def test_the_signature_is_hmac_sha256_over_time_and_body():
    import hashlib
    import hmac

    want = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign("k", b"{}", 1700000000) == f"t=1700000000,v1={want}"
    assert not verify("k", b"{}", "v1=abc", 1700000000) and not verify("k", b"{}", "t=x,v1=abc", 0)


def _job_events(api: Api, receiver: Receiver, secret: str) -> list[tuple[int, str, str]]:
    """Send what is due; each delivery's (job id, type, status), its signature checked."""
    while WebhookSender(api.store).send_due():
        pass
    now_s, got = int(utcnow().timestamp()), []
    for headers, body in receiver.got:
        assert headers["Gridflex-Event"] == "jobs"
        assert verify(secret, body, headers["Gridflex-Signature"], now_s)
        payload = json.loads(body)
        got.append((payload["job"]["id"], payload["type"], payload["job"]["status"]))
    return got


def test_job_events_reach_the_creator_signed(api: Api, receiver: Receiver):
    """queued → running → progress (per stage) → succeeded for a site's schedule, → failed for a
    flex-offer step that cannot run; another tenant's webhook gets none of them."""
    from gridflex.api.jobkinds import run_job
    from gridflex.store.jobs import claim_due
    from tests.api.test_routes import FLEXOFFERS, SITE

    hook = api.client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["jobs"]}, headers=api.auth("alice")
    )
    assert hook.status_code == 201, hook.text
    bobs = Receiver()
    api.client.post(
        "/v1/webhooks", json={"url": bobs.url, "events": ["jobs", "trades"]}, headers=api.auth("bob")
    )
    site = api.client.post("/v1/sites", json=SITE, headers=api.auth("alice")).json()
    fos = api.client.post("/v1/flex-offers", json=FLEXOFFERS, headers=api.auth("alice")).json()
    ok = api.client.post(f"/v1/sites/{site['id']}/jobs", headers=api.auth("alice")).json()
    bad = api.client.post(f"/v1/flex-offers/{fos['id']}/jobs", json={"kind": "disaggregate", "members_id": fos["id"]},
                          headers=api.auth("alice")).json()  # fmt: skip
    for job in (ok, bad):
        with api.store.transaction() as s:
            assert claim_due(s, utcnow() + timedelta(seconds=1), 30.0) == job["id"]
        run_job(api.store.url, job["id"])
    events = _job_events(api, receiver, hook.json()["secret"])
    for job, end in ((ok, "succeeded"), (bad, "failed")):
        mine = [(t, st) for i, t, st in events if i == job["id"]]
        assert mine[:2] == [("job.queued", "queued"), ("job.running", "running")], mine
        assert mine[-1] == (f"job.{end}", end)
        assert all(t == "job.progress" and st == "running" for t, st in mine[2:-1])
    assert [t for i, t, _ in events if i == ok["id"]].count("job.progress") == 2  # compiling, solving
    assert api.client.get(f"/v1/jobs/{bad['id']}", headers=api.auth("alice")).json()["status"] == "failed"
    assert bobs.got == []
    bobs.server.shutdown()
