"""The market lifecycle after the FlexOrder, played through `gridflex.client` on a test world:
dso1's request at CP-A, bob's accepted offer, its activation, meter readings (a wrong value corrected),
bob's acknowledgement, dso1's settlement with like-day baselines. Reused by the route enumeration.

Numbers (one-hour request from 2026-06-03 15:00 UTC, a Wednesday; 15-min ISPs; up = less consumption):
EAN-1 (bob's, BRP erin) draws 50 kW and EAN-2 (bob's, no BRP) 30 kW on every day before; on the day
they draw [-10, 0, 50, 20] and [10, 30, 30, 30] kW in the four ISPs. dso1 calls [80, 80, 0, 40] kW of
bob's 80 kW offer at 200 EUR/MWh with a 300 EUR/MWh penalty; the transfer price is 100 EUR/MWh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridflex.client import Client
from gridflex.store import Principal, Store
from gridflex.store.runner import run_due_jobs

DAY = datetime(2026, 6, 2, 22, tzinfo=UTC)  # 2026-06-03 00:00 in Europe/Berlin
HISTORY_DAYS = 10
START = DAY + timedelta(hours=17)  # 15:00 UTC
CALLED_KW = [80.0, 80.0, 0.0, 40.0]
ON_DAY_KW = {"EAN-1": [-10.0, 0.0, 50.0, 20.0], "EAN-2": [10.0, 30.0, 30.0, 30.0]}
BEFORE_KW = {"EAN-1": 50.0, "EAN-2": 30.0}
PRICE, PENALTY, TRANSFER = 200.0, 300.0, 100.0
LIKE_DAYS = {"method": "like_days", "days": 5}


@dataclass
class Played:
    clients: dict[str, Client]
    org_ids: dict[str, int]
    ids: dict[str, int] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)


def meter_csv(first_wrong: bool) -> str:
    """11 local days of both meters, 15-min, as a meter CSV (the first activated ISP of EAN-1 wrong)."""
    t0 = DAY - timedelta(days=HISTORY_DAYS)
    lines = ["time_utc,EAN-1,EAN-2"]
    for k in range(96 * (HISTORY_DAYS + 1)):
        t = t0 + timedelta(minutes=15 * k)
        i = int((t - START).total_seconds() // 900)
        kw = {m: ON_DAY_KW[m][i] if 0 <= i < 4 else BEFORE_KW[m] for m in BEFORE_KW}
        if first_wrong and i == 0:
            kw["EAN-1"] = 0.0
        lines.append(f"{t:%Y-%m-%dT%H:%M:%SZ},{kw['EAN-1']:g},{kw['EAN-2']:g}")
    return "\n".join(lines) + "\n"


def play(http: Any, store: Store, secrets: dict[str, str], org_ids: dict[str, int]) -> Played:
    """Run the lifecycle; ``http`` is an httpx client on the app (FastAPI's TestClient)."""
    secrets, org_ids = dict(secrets), dict(org_ids)
    with store.repos(Principal.system()) as r:
        erin = r.accounts.create_org("erin", ["brp"])
        org_ids["erin"] = erin.id
        secrets["erin"] = r.accounts.create_token(erin.id, "erin").secret
    c = {who: Client("http://testserver", s, http=http) for who, s in secrets.items()}
    p = Played(c, org_ids)
    hook = c["bob"].request(
        "POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/acts", "events": ["activations"]}
    )
    p.ids["bob_webhook"] = hook["id"]
    c["bob"].register_connection_point("EAN-1", "CP-A", brp_org_id=erin.id)
    c["bob"].register_connection_point("EAN-2", "CP-A")
    c["alice"].register_connection_point("EAN-A", "CP-A")
    p.answers["upload"] = c["bob"].upload_meter_csv(meter_csv(first_wrong=True))
    p.answers["again"] = c["bob"].upload_meter_csv(meter_csv(first_wrong=True))
    fix = [{"connection_point": "EAN-1", "start": START.isoformat(), "power_kw": [ON_DAY_KW["EAN-1"][0]]}]
    p.answers["correction"] = c["bob"].upload_readings(fix)
    req = c["dso1"].request("POST", "/v1/flex-requests", json={
        "congestion_point": "CP-A", "direction": "up", "start": START.isoformat(), "volume_kw": [100] * 4,
        "max_price_eur_per_mwh": 250})  # fmt: skip
    offer = c["bob"].request("POST", f"/v1/flex-requests/{req['id']}/offers",
                             json={"volume_kw": [80] * 4, "price_eur_per_mwh": PRICE})  # fmt: skip
    c["dso1"].request("POST", f"/v1/flex-request-offers/{offer['id']}/accept")
    p.ids["offer"] = offer["id"]
    act = c["dso1"].activate(offer["id"], CALLED_KW, penalty_eur_per_mwh=PENALTY)
    p.ids["activation"] = act["id"]
    p.answers["acknowledged"] = c["bob"].acknowledge_activation(act["id"], ["EAN-1", "EAN-2"])
    spare = c["dso1"].activate(offer["id"], [0, 0, 80, 0])  # the ISP left: declined by bob
    p.answers["declined"] = c["bob"].decline_activation(spare["id"], "the heat pumps are off at 15:30")
    p.ids["declined"] = spare["id"]
    job = c["dso1"].run_settlement(
        DAY.isoformat(), (DAY + timedelta(days=1)).isoformat(), LIKE_DAYS, tz="Europe/Berlin",
        history_days=HISTORY_DAYS, transfer_price_eur_per_mwh=TRANSFER,
    )  # fmt: skip
    assert job["kind"] == "settlement" and job["status"] == "queued", job
    assert job["id"] in run_due_jobs(store)  # what `gridflex serve`'s runner does (with any other due job)
    p.answers["settlement_job"] = job = c["dso1"].get_job(job["id"])
    assert job["status"] == "succeeded", job
    p.answers["settlement"] = c["dso1"].get_settlement(job["result"]["settlement_id"])
    p.ids["settlement"] = p.answers["settlement"]["id"]
    p.ids["baseline"] = c["dso1"].request(
        "GET", "/v1/baselines", params={"settlement_id": p.ids["settlement"]}
    )[0]["id"]
    return p
