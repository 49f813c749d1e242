"""Gate-closure clearing by the job runner of a real `gridflex serve` process, on SQLite and
PostgreSQL: it clears on time, and a server killed (SIGKILL, with its worker processes) while
clearing restarts with no half-written run, no order lost and the job finished once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, insert, select
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from gridflex.client import Client, ServerError
from gridflex.flexoffer import flexoffers_from_json
from gridflex.market import Product, ProductKind
from gridflex.s2.rm.simulators import Simulator
from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.store.jobs import JobRow
from gridflex.store.tables import ClearingRun, OrderRow, TradeRow
from tests.api.test_routes import FLEXOFFERS, SITE
from tests.api.test_serve import serving
from tests.store.world import build_world

WAIT_S = 120  # a bound against hanging, not a performance claim


def _wait_for(what: str, check, timeout_s: float = WAIT_S):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _product(pid: str, gate_in_s: float) -> dict:
    gate = utcnow() + timedelta(seconds=gate_in_s)
    p = Product(product_id=pid, kind=ProductKind.ENERGY_AUCTION, delivery_start=gate + timedelta(hours=1),
                n_isps=24, gate_closure=gate)  # fmt: skip
    return json.loads(p.model_dump_json())


def test_a_product_is_cleared_at_its_gate_closure(db_url: str, tmp_path: Path):
    store = Store(db_url)
    w = build_world(store)
    store.close()
    s = w.secrets
    with serving(db_url, tmp_path) as (url, _):
        op, alice, bob = (Client(url, s[k]) for k in ("operator", "alice", "bob"))
        product = op.create_product(_product("GATE-SOON", gate_in_s=4))
        job = op.list_jobs()[0]
        assert (job["product_id"], job["status"], job["run_at"][:19]) == ("GATE-SOON", "queued",
                                                                            product["gate_closure"][:19])  # fmt: skip
        alice.submit_order("GATE-SOON", "buy", 5, 10, 60)
        bob.submit_order("GATE-SOON", "sell", 5, 6, 30)
        done = _wait_for("the job", lambda: (j := op.get_job(job["id"]))["status"] == "succeeded" and j)
        gate = Product.model_validate(product).gate_closure
        assert done["started_at"] >= product["gate_closure"][:19]  # never before the gate closes
        run = op.request("GET", f"/v1/clearing-runs/{done['result']['run_id']}")
        assert run["n_trades"] == 2 and done["progress"] == 1.0 and done["attempts"] == 1
        print("started after the gate closed:", done["started_at"], product["gate_closure"])
        late = bob.submit_order("GATE-SOON", "sell", 5, 1, 1)
        assert late["status"] == "rejected"
        trades = alice.list_trades() + bob.list_trades()
        assert sorted((t["side"], t["quantity_mw"], t["price_eur_per_mwh"]) for t in trades) == [
            ("buy", 6, 60), ("sell", 6, 60)
        ]  # fmt: skip
        assert gate is not None
        # a site file and its schedule job, run by the same worker (alice's, not bob's to see)
        site = alice.request("POST", "/v1/sites", json=SITE)
        mine, theirs = httpx.Client(timeout=30), httpx.Client(timeout=3)
        live, other = (c.send(c.build_request("GET", url + "/v1/events", headers={"Authorization": f"Bearer {t}"}),
                              stream=True) for c, t in ((mine, s["alice"]), (theirs, s["bob"])))  # fmt: skip
        job = alice.request("POST", f"/v1/sites/{site['id']}/jobs", json={"time_limit_s": 10})
        assert (job["kind"], job["upload_id"], job["params"]) == (
            "site_schedule",
            site["id"],
            {"time_limit_s": 10},
        )
        done = _wait_for(
            "the site job", lambda: (j := alice.get_job(job["id"]))["status"] == "succeeded" and j
        )
        assets = done["result"]["assets"]
        grid_kw, bat_kw = (np.array(assets[a]["power_kw"]["electricity"]) for a in ("grid", "bat"))
        np.testing.assert_allclose(grid_kw, bat_kw, atol=1e-6)  # the bus balances: import = charging
        soc = np.array(assets["bat"]["soc_kwh"])
        assert soc.min() >= -1e-9 and soc.max() <= 5 + 1e-9 and np.abs(bat_kw).max() <= 2 + 1e-9
        assert done["result"]["costs_eur"]["total"] < 0  # buying at 50 and selling at 120 earns
        # the events stream: alice sees her job's progress to its end, bob nothing of it
        seen = _sse(live, lambda e: e["id"] == job["id"] and e["status"] == "succeeded")
        assert [e["status"] for e in seen if e["id"] == job["id"]][-1] == "succeeded"
        progress = [e["progress"] for e in seen if e["id"] == job["id"]]
        assert progress == sorted(progress) and all(e["result"] == {} for e in seen)
        with pytest.raises(httpx.ReadTimeout):
            _sse(other, lambda e: True)  # bob's stream stays quiet: alice's job is not his to see
        for r, c in ((live, mine), (other, theirs)):
            r.close()
            c.close()
        with pytest.raises(ServerError) as e:
            bob.get_job(job["id"])
        assert e.value.status == 404
        # a site that cannot be scheduled ends its job failed, with the reason, and the worker goes on
        tight = {**SITE, "name": "tight", "assets": [SITE["assets"][0] | {"fuse_kw": 1},
                 {"kind": "load", "name": "oven", "profile_kw": [5, 5, 5, 5]}]}  # fmt: skip
        bad = alice.request("POST", "/v1/sites", json=tight)
        job = alice.request("POST", f"/v1/sites/{bad['id']}/jobs")
        failed = _wait_for(
            "the failed job", lambda: (j := alice.get_job(job["id"]))["status"] == "failed" and j
        )
        assert "oven" in failed["message"] or "grid" in failed["message"], failed["message"]
        # flex-offers through their lifecycle, each step a job whose output is a new document
        members = alice.request("POST", "/v1/flex-offers", json=FLEXOFFERS)

        def step(doc_id: int, **body) -> dict:
            job = alice.request("POST", f"/v1/flex-offers/{doc_id}/jobs", json=body)
            done = _wait_for(body["kind"], lambda: (j := alice.get_job(job["id"]))["status"] != "queued"
                             and j["status"] != "running" and j)  # fmt: skip
            assert done["status"] == "succeeded", done["message"]
            return done["result"]

        aggs = step(members["id"], kind="aggregate", est_tolerance_min=120)
        assert aggs["n_members"] == 12 and 1 <= aggs["n_aggregates"] < 12
        sched = step(aggs["flex_offers_id"], kind="schedule", zone="France")
        split = step(sched["flex_offers_id"], kind="disaggregate", members_id=members["id"])
        agg_doc, out = (alice.request("GET", f"/v1/flex-offers/{k}/document") for k in
                        (sched["flex_offers_id"], split["flex_offers_id"]))  # fmt: skip
        batch = flexoffers_from_json(out)  # valid: every member schedule inside its own offer
        assert batch.schedule is not None and sorted(batch.ids.tolist()) == sorted(
            o["id"] for o in FLEXOFFERS["flexOffers"]
        )

        def kwh(doc: dict) -> float:
            return sum(x["energyAmount"] for o in doc["flexOffers"]
                       for x in o["flexOfferSchedule"]["scheduleSlices"])  # fmt: skip

        assert abs(kwh(out) - kwh(agg_doc)) < 1e-6  # the energy bought for the aggregates, no more, no less
        assert bob.request("GET", "/v1/flex-offers") == []
        # S2 on the same port: a simulated battery RM of alice's site, served by the site's CEM
        asyncio.run(_s2_on_the_api_port(url, site["id"], s["alice"], s["bob"]))
        devices = alice.request("GET", f"/v1/sites/{site['id']}/s2-devices")
        got = {d["resource_id"]: (d["connected"], d["control_type"]) for d in devices}
        assert got == {"bat-1": (False, "FILL_RATE_BASED_CONTROL"), "rm-hostile": (False, "NO_SELECTION")}
        bat = next(d for d in devices if d["resource_id"] == "bat-1")
        assert bat["last_plan_start"] is not None and bat["planned_power_kw"], bat
        with pytest.raises(ServerError) as e:
            bob.request("GET", f"/v1/sites/{site['id']}/s2-devices")
        assert e.value.status == 404


def _sse(stream: httpx.Response, stop) -> list[dict]:
    """The ``job`` events of ``stream`` up to the first for which ``stop`` holds."""
    out, event = [], None
    for line in stream.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "job":
            out.append(json.loads(line[6:]))
            if stop(out[-1]):
                return out
    raise AssertionError("stream ended")


async def _s2_on_the_api_port(url: str, site_id: int, token: str, stranger: str) -> None:
    ws_url = url.replace("http://", "ws://") + f"/s2/ws/{site_id}"
    for who in (stranger, "gfx_not-a-token"):  # refused in the upgrade: no S2 message is exchanged
        with pytest.raises(InvalidStatus) as refused:
            await ws_connect(f"{ws_url}/rm-1", additional_headers={"Authorization": f"Bearer {who}"})
        assert refused.value.response.status_code == 403
    async with ws_connect(
        f"{ws_url}/rm-hostile", additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        await ws.recv()  # the CEM's opening
        await ws.send("{not json")
        reply = json.loads(await ws.recv())
        assert reply["message_type"] == "ReceptionStatus" and reply["status"] == "INVALID_DATA", reply
    bat = Simulator("battery", ws_url, token, resource_id="bat-1", report_every_s=0.2, retries=0)
    await bat.run(duration_s=4)
    assert bat.controlled and bat.received, "the CEM selected a control type and sent instructions"


N_ORDERS = 20_000  # enough for loading and solving to take a moment (bulk reads made 5,000 too quick): the kill lands inside


def _fill_book(store: Store, w, pid: str, gate: str) -> None:
    now = Product.model_validate({**_product(pid, 0), "gate_closure": gate}).gate_closure - timedelta(
        seconds=1
    )
    rows = [
        {"participant_org_id": w.org_ids["alice" if i % 2 else "bob"], "product_id": pid, "place": "",
         "isp": (i // 2) % 24, "side": "buy" if i % 2 else "sell", "quantity_mw": 1.0 + i % 7,
         "price_eur_per_mwh": 20.0 + (i * 37) % 60, "execution": "normal", "status": "active", "reason": "",
         "accepted_mw": 0.0, "client_ref": "", "submitted_at": now, "updated_at": now}
        for i in range(N_ORDERS)
    ]  # fmt: skip
    with store.transaction() as s:
        s.execute(insert(OrderRow), rows)


def test_sigkill_during_a_clearing_job_loses_nothing(db_url: str, tmp_path: Path):
    store = Store(db_url)
    w = build_world(store)
    big = _product("BIG", gate_in_s=0)
    with store.repos(w.principals["operator"]) as r:  # what POST /v1/products does (its job: below)
        r.products.create(Product.model_validate(big))
    _fill_book(store, w, "BIG", big["gate_closure"])  # submitted before the gate closed

    def job() -> JobRow:
        with store.transaction() as s:
            return s.scalars(select(JobRow)).one()

    procs: list = []
    with serving(db_url, tmp_path, procs, args=("--job-lease-s", "2")):
        # queued once the server is up: a job due at start could be done before serving() returns
        with store.repos(w.principals["operator"]) as r:
            r.jobs.enqueue_clearing("BIG")
        _wait_for(
            "the clearing", lambda: job().stage in ("claimed", "loading", "solving", "writing")
        )  # claimed by the runner, before its commit (on an idle machine load and solve of 20,000 orders
        # pass between two polls, so the kill may land just before the load: still inside the job)
        os.killpg(procs[0].pid, signal.SIGKILL)  # the server and its worker processes, mid-clearing
        procs[0].wait()
    with store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ClearingRun)) == 0, "the kill came too late"
        assert s.scalar(select(func.count()).select_from(TradeRow)) == 0
        assert {o for o in s.scalars(select(OrderRow.status).where(OrderRow.product_id == "BIG"))} == {
            "active"
        }
    assert job().status == "running"  # orphaned: its lease runs out
    with serving(db_url, tmp_path, args=("--job-lease-s", "2")) as (url, _):
        done = _wait_for("the job again", lambda: (j := job()).status == "succeeded" and j)
        assert done.attempts == 2
        with store.transaction() as s:
            runs = s.scalars(select(ClearingRun)).all()
            assert [r.id for r in runs] == [done.result["run_id"]] and runs[0].n_orders == N_ORDERS
            trades = s.scalars(select(TradeRow)).all()
            bought = sum(t.quantity_mw for t in trades if t.side == "buy")
            assert bought > 0 and abs(bought - sum(t.quantity_mw for t in trades if t.side == "sell")) < 1e-6
            open_left = s.scalar(
                select(func.count()).select_from(OrderRow).where(OrderRow.status.in_(("active",)))
            )
            assert open_left == 0  # every order has its outcome
        assert httpx.get(url + "/health", timeout=30).status_code == 200
    store.close()
