"""The aggregator's portfolio (decision 0032): it dispatches parts of an acknowledged activation to the
prosumers behind its connection points and settles them as a job with the market's engine. Money moves
between the aggregator and its prosumers only (zero per ISP, no BRP correction); a prosumer sees its
own lines, the aggregator its portfolio's, the DSO none of it.

Numbers (one UTC day, 15-min ISPs from 15:00; up = less consumption; fixed baselines): bob's EAN-P1
(alice's site, BRP erin) draws 50 kW and EAN-P2 (carol's) 30 kW, except [10, 20, 50, 30] and
[20, 10, 30, 30] kW in the four ISPs. dso1 calls [60, 40, 0, 20] kW of bob's offer; bob dispatches
[40, 30, 0, 10] kW to alice at 120 EUR/MWh and [20, 10, 0, 10] kW to carol at 100 EUR/MWh.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from gridflex.client import Client, ServerError
from gridflex.store import Principal
from gridflex.store.runner import run_due_jobs
from tests.api.conftest import Api

DAY = datetime(2026, 6, 3, tzinfo=UTC)
START = DAY + timedelta(hours=15)
BASE_KW = {"EAN-P1": 50.0, "EAN-P2": 30.0, "EAN-X": 10.0}
ON_DAY_KW = {"EAN-P1": [10.0, 20.0, 50.0, 30.0], "EAN-P2": [20.0, 10.0, 30.0, 30.0], "EAN-X": [10.0] * 4}
CALLED_KW = [60.0, 40.0, 0.0, 20.0]
TO_ALICE, TO_CAROL = [40.0, 30.0, 0.0, 10.0], [20.0, 10.0, 0.0, 10.0]


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def _day_kw(name: str) -> list[float]:
    k0 = int((START - DAY).total_seconds() // 900)
    kw = [BASE_KW[name]] * 96
    kw[k0 : k0 + 4] = ON_DAY_KW[name]
    return kw


def _settled(c: Client, store, job: dict) -> dict:
    assert job["kind"] == "settlement" and job["status"] == "queued", job
    run_due_jobs(store)
    done = c.get_job(job["id"])
    assert done["status"] == "succeeded", done
    return c.get_settlement(done["result"]["settlement_id"])


def test_an_aggregator_pays_its_prosumers_for_their_dispatched_part(api: Api):
    with api.store.repos(Principal.system()) as r:
        carol = r.accounts.create_org("carol", ["prosumer"])
        erin = r.accounts.create_org("erin", ["brp"])
        secrets = dict(api.world.secrets, carol=r.accounts.create_token(carol.id, "c").secret,
                       erin=r.accounts.create_token(erin.id, "e").secret)  # fmt: skip
    ids = dict(api.world.org_ids, carol=carol.id, erin=erin.id)
    c = {who: Client("http://testserver", s, http=api.client) for who, s in secrets.items()}
    bob, dso1, alice = c["bob"], c["dso1"], c["alice"]

    # the aggregator's points name the prosumer whose site they are; only a prosumer, only by an aggregator
    bob.register_connection_point("EAN-P1", "CP-A", brp_org_id=erin.id, prosumer_org_id=ids["alice"])
    bob.register_connection_point("EAN-P2", "CP-A", prosumer_org_id=carol.id)
    bob.register_connection_point("EAN-X", "CP-A")
    for who, org, why in (
        ("bob", ids["dso1"], "is not a prosumer"),
        ("alice", ids["alice"], "only an aggregator"),
    ):
        with pytest.raises(ServerError, match="422") as err:
            c[who].register_connection_point(f"EAN-{who}", prosumer_org_id=org)
        assert "prosumer_org_id" in str(err.value) and why in str(err.value)
    assert [p["name"] for p in alice.request("GET", "/v1/connection-points")] == ["EAN-P1"]
    bob.upload_readings(
        [{"connection_point": n, "start": _iso(DAY), "power_kw": _day_kw(n)} for n in BASE_KW]
    )
    got = alice.readings("EAN-P1", _iso(DAY), _iso(DAY + timedelta(days=1)))
    assert got["power_kw"] == _day_kw("EAN-P1")  # its site's meter

    req = dso1.request("POST", "/v1/flex-requests", json={
        "congestion_point": "CP-A", "direction": "up", "start": _iso(START), "volume_kw": [80] * 4,
        "max_price_eur_per_mwh": 250})  # fmt: skip
    offer = bob.request(
        "POST",
        f"/v1/flex-requests/{req['id']}/offers",
        json={"volume_kw": [80] * 4, "price_eur_per_mwh": 200},
    )
    dso1.request("POST", f"/v1/flex-request-offers/{offer['id']}/accept")
    act = dso1.activate(offer["id"], CALLED_KW, penalty_eur_per_mwh=300)
    with pytest.raises(ServerError, match="409"):  # not acknowledged yet
        bob.dispatch(act["id"], "EAN-P1", TO_ALICE, 120)
    bob.acknowledge_activation(act["id"], ["EAN-P1", "EAN-P2", "EAN-X"])

    d1 = bob.dispatch(act["id"], "EAN-P1", TO_ALICE, 120)
    assert (d1["parent_id"], d1["buyer_org_id"], d1["seller_org_id"], d1["status"]) == (
        act["id"], ids["bob"], ids["alice"], "acknowledged")  # fmt: skip
    bob.dispatch(act["id"], "EAN-P2", TO_CAROL, 100)
    bad = [
        ("EAN-X", TO_CAROL, 422, "names no prosumer"),
        ("EAN-P2", [0, 0, 5, 0], 422, "power_kw.2"),  # the DSO calls nothing there
        ("EAN-P2", [0, 0, 0, 0], 422, "dispatches nothing"),
        ("EAN-P2", [1, 0, 0], 422, "3 ISPs, the activation has 4"),
        ("EAN-B", TO_CAROL, 422, "does not deliver"),
        ("EAN-P2", [0, 0, 0, 5], 409, "dispatched at"),  # carol's point is called then already
    ]
    for point, kw, code, why in bad:
        with pytest.raises(ServerError, match=str(code)) as err:
            bob.dispatch(act["id"], point, kw, 100)
        assert why in str(err.value), (point, err.value)
    for who in ("alice", "dso2"):  # not the provider: the activation does not exist for them
        with pytest.raises(ServerError, match="404"):
            c[who].dispatch(act["id"], "EAN-P1", TO_ALICE, 1000)
    with pytest.raises(ServerError, match="409"):  # a dispatch is not dispatched again
        bob.dispatch(d1["id"], "EAN-P1", TO_ALICE, 120)
    # dispatches are parts of the DSO's call, not more of it: what is left of the offer is unchanged
    rest = dso1.activate(offer["id"])
    assert rest["power_kw"] == [80 - x for x in CALLED_KW]
    bob.decline_activation(rest["id"], "nothing left in the sites")
    # the prosumer sees its dispatch, the DSO none
    assert [a["id"] for a in alice.list_activations()] == [d1["id"]]
    assert {a["parent_id"] for a in dso1.list_activations()} == {None}

    fixed = {"method": "fixed", "reference_kw": [[BASE_KW[n]] * 96 for n in sorted(BASE_KW)]}
    span = (_iso(DAY), _iso(DAY + timedelta(days=1)))
    with pytest.raises(ServerError, match="403"):  # a DSO has no portfolio
        dso1.run_settlement(*span, fixed, tz="UTC", history_days=0, portfolio=True)
    market = _settled(dso1, api.store, dso1.run_settlement(*span, fixed, tz="UTC", history_days=0,
                                                            transfer_price_eur_per_mwh=50))  # fmt: skip
    assert [a["activation_id"] for a in market["activations"]] == [act["id"]]  # the DSO's call only
    fixed_p = {"method": "fixed", "reference_kw": [[BASE_KW[n]] * 96 for n in ("EAN-P1", "EAN-P2")]}
    mine = _settled(
        bob, api.store, bob.run_settlement(*span, fixed_p, tz="UTC", history_days=0, portfolio=True)
    )
    with pytest.raises(ServerError, match="409"):  # settled: nothing left to settle
        bob.run_settlement(*span, fixed_p, tz="UTC", history_days=0, portfolio=True)

    # by hand: alice delivered [40, 30, 0, 20] kW, paid up to the dispatch: 120 EUR/MWh × [40, 30, 0, 10] kW × ¼ h;
    # carol [10, 20, 0, 0] of [20, 10, 0, 10]: 100 × [10, 10, 0, 0] × ¼; no penalty, no BRP correction
    statement = bob.statement(mine["id"])
    total: dict[str, float] = defaultdict(float)
    per_isp: dict[str, float] = defaultdict(float)
    for r in statement:
        assert "bob" in (r["participant"], r["counterparty"]) and r["item"] in ("activation", "penalty"), r
        assert r["item"] == "activation" or r["amount_eur"] == 0.0, r  # no penalty agreed
        total[r["participant"]] += r["amount_eur"]
        per_isp[r["period_start_utc"]] += r["amount_eur"]
    assert total["alice"] == pytest.approx(120 * 80 * 0.25 / 1000)
    assert total["carol"] == pytest.approx(100 * 20 * 0.25 / 1000)
    assert total["bob"] == pytest.approx(-(total["alice"] + total["carol"]))
    assert all(abs(v) < 1e-9 for v in per_isp.values())

    # tenancy: each prosumer its own lines; the DSO and the BRP do not see the portfolio's settlement
    for who in ("alice", "carol"):
        rows = c[who].statement(mine["id"])
        assert {r["participant"] for r in rows} == {who} and {r["counterparty"] for r in rows} == {"bob"}
        assert all(
            ids[who] in (x["payer_org_id"], x["payee_org_id"]) for x in c[who].settlement_lines(mine["id"])
        )
        (summary,) = c[who].get_settlement(mine["id"])["activations"]
        assert summary["activation_id"] in {a["id"] for a in c[who].list_activations()}
    for who in ("dso1", "erin"):
        with pytest.raises(ServerError, match="404"):
            c[who].get_settlement(mine["id"])
    assert len(bob.get_settlement(mine["id"])["activations"]) == 2
