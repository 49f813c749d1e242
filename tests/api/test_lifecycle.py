"""The market lifecycle through the service (SQLite and PostgreSQL; one played world per module and
database): meter readings uploaded idempotently and corrected with an audit trail, activations
acknowledged or declined by the provider, baselines and settlement by the market engine, statements
that conserve money and volume, each party seeing its own only; bad input names the row and field."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from gridflex.api import create_app
from gridflex.client import ServerError
from gridflex.store import Store
from tests.api.lifecycle import (
    BEFORE_KW,
    CALLED_KW,
    DAY,
    HISTORY_DAYS,
    LIKE_DAYS,
    ON_DAY_KW,
    PENALTY,
    PRICE,
    START,
    TRANSFER,
    Played,
    play,
)
from tests.store import databases
from tests.store.world import BEFORE_GATE, build_world


@pytest.fixture(scope="module", params=databases.BACKENDS)
def life(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('lifecycle') / 'g.db'}"
        Store(url).upgrade()
    else:
        template = request.getfixturevalue("pg_template")
        name = f"gf_life_{uuid.uuid4().hex[:12]}"
        with databases._admin_engine().connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        url, drop = databases._url_for(name), name
    store = Store(url)
    world = build_world(store)
    with TestClient(create_app(store, clock=lambda: BEFORE_GATE), raise_server_exceptions=False) as http:
        yield play(http, store, world.secrets, world.org_ids)
    store.close()
    if drop:
        with databases._admin_engine().connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))


def _refused(call, status: int) -> ServerError:
    with pytest.raises(ServerError) as e:
        call()
    assert e.value.status == status, e.value
    assert "Traceback" not in str(e.value)
    return e.value


def test_readings_upload_is_idempotent_and_a_correction_is_audited(life: Played):
    n = 96 * (HISTORY_DAYS + 1) * 2
    assert life.answers["upload"] == {"inserted": n, "unchanged": 0, "corrected": 0, "connection_points": ["EAN-1", "EAN-2"]}  # fmt: skip
    assert life.answers["again"] == {"inserted": 0, "unchanged": n, "corrected": 0, "connection_points": ["EAN-1", "EAN-2"]}  # fmt: skip
    assert life.answers["correction"]["corrected"] == 1
    got = life.clients["bob"].readings("EAN-1", START.isoformat(), (START + timedelta(hours=1)).isoformat())
    assert got["power_kw"] == ON_DAY_KW["EAN-1"]
    trail = life.clients["bob"].audit_events("connection_point")
    fix = [e for e in trail if e["action"] == "meter_readings.corrected"]
    assert fix[0]["detail"]["corrections"] == [
        {"period_start": START.isoformat(), "old_kw": 0.0, "new_kw": ON_DAY_KW["EAN-1"][0]}
    ]
    assert not [e for e in life.clients["alice"].audit_events() if e["object_id"] in ("EAN-1", "EAN-2")]
    # the DSO of the congestion point sees the points behind it; the BRP the one in its perimeter
    assert {p["name"] for p in life.clients["dso1"].request("GET", "/v1/connection-points")} >= {
        "EAN-1",
        "EAN-2",
    }
    assert [p["name"] for p in life.clients["erin"].request("GET", "/v1/connection-points")] == ["EAN-1"]
    assert life.clients["dso2"].request("GET", "/v1/connection-points") == []


def test_the_provider_acknowledges_or_declines_and_is_told(life: Played):
    ack = life.answers["acknowledged"]
    assert ack["status"] == "acknowledged" and ack["connection_points"] == ["EAN-1", "EAN-2"]
    assert ack["power_kw"] == CALLED_KW and ack["direction"] == "up" and ack["price_eur_per_mwh"] == PRICE
    assert life.answers["declined"]["status"] == "declined"
    assert "heat pumps" in life.answers["declined"]["reason"]
    bob = life.clients["bob"]
    assert {a["id"]: a["status"] for a in bob.list_activations()} == {
        life.ids["activation"]: "settled",
        life.ids["declined"]: "declined",
    }
    hooks = bob.request("GET", f"/v1/webhooks/{life.ids['bob_webhook']}/deliveries")
    assert sorted(d["event"] for d in hooks) == ["activations", "activations"]  # one per call, in the outbox
    acts = [e["action"] for e in life.clients["dso1"].audit_events("activation")]
    assert acts == ["activation.sent", "activation.acknowledged", "activation.sent", "activation.declined"]


def test_settlement_pays_what_was_delivered_and_conserves_money_and_volume(life: Played):
    s = life.answers["settlement"]
    [summary] = s["activations"]
    # delivered per activated ISP (kWh): baseline − metered summed over both meters, × 0.25 h,
    # from the numbers of the play (the baseline of a flat history is that level)
    moved = [sum(BEFORE_KW[m] - ON_DAY_KW[m][k] for m in BEFORE_KW) * 0.25 for k in range(4)]
    ordered = [kw * 0.25 for kw in CALLED_KW]
    on = [k for k in range(4) if CALLED_KW[k] > 0]
    assert summary["ordered_kwh"] == pytest.approx(sum(ordered[k] for k in on))
    assert summary["delivered_kwh"] == pytest.approx(sum(moved[k] for k in on))
    paid = sum(PRICE * min(max(moved[k], 0), ordered[k]) / 1000 for k in on)
    short = sum(PENALTY * max(ordered[k] - moved[k], 0) / 1000 for k in on)
    brp = sum((BEFORE_KW["EAN-1"] - ON_DAY_KW["EAN-1"][k]) * 0.25 for k in on) * TRANSFER / 1000
    assert (summary["activation_eur"], summary["penalty_eur"]) == (pytest.approx(paid), pytest.approx(short))
    # the runner (dso1) sees every line: each period's amounts over all parties sum to zero
    rows = life.clients["dso1"].statement(life.ids["settlement"])
    per_period: dict[str, float] = defaultdict(float)
    for r in rows:
        per_period[r["period_start_utc"]] += r["amount_eur"]
    assert len(per_period) == 3 and all(abs(v) < 1e-9 for v in per_period.values())
    net = defaultdict(float)
    for r in rows:
        net[r["participant"]] += r["amount_eur"]
    assert net == pytest.approx({"bob": paid - short - brp, "dso1": short - paid, "erin": brp})
    # volume: the energy paid for plus the shortfall is the energy called
    energy = defaultdict(float)
    for r in rows:
        if r["participant"] == "bob" and r["item"] in ("activation", "penalty"):
            energy[r["item"]] += abs(r["energy_kwh"])
    assert energy["activation"] + energy["penalty"] == pytest.approx(sum(ordered[k] for k in on))
    # the baselines the settlement used are kept, with the readings beside them
    base = life.clients["dso1"].request("GET", f"/v1/baselines/{life.ids['baseline']}")
    assert base["settlement_id"] == s["id"] and len(base["baseline_kw"]) == 96
    assert set(base["baseline_kw"]) == {BEFORE_KW[base["connection_point"]]}


def test_each_party_reads_its_own_statement_only(life: Played):
    sid = life.ids["settlement"]
    bob = life.clients["bob"].statement(sid, period="D")
    assert {r["participant"] for r in bob} == {"bob"} and {r["counterparty"] for r in bob} == {"dso1", "erin"}
    erin = life.clients["erin"].statement(sid)
    assert {(r["participant"], r["item"], r["counterparty"]) for r in erin} == {
        ("erin", "imbalance_correction", "bob")
    }
    csv = life.clients["bob"].statement(sid, period="D", csv=True)
    assert csv.splitlines()[0] == "participant,role,period_start_utc,item,counterparty,energy_kwh,amount_eur"
    assert len(csv.splitlines()) == 1 + len(bob)
    assert [x["id"] for x in life.clients["erin"].list_settlements()] == [sid]
    assert life.clients["erin"].request("GET", f"/v1/settlements/{sid}")["activations"] == []  # not hers
    for who in ("dso2", "alice"):
        assert life.clients[who].list_settlements() == []
        _refused(lambda w=who: life.clients[w].statement(sid), 404)
        _refused(
            lambda w=who: life.clients[w].request("GET", f"/v1/activations/{life.ids['activation']}"), 404
        )
        _refused(lambda w=who: life.clients[w].request("GET", f"/v1/baselines/{life.ids['baseline']}"), 404)


def test_refusals_name_the_row_and_field_and_change_nothing(life: Played):
    bob, dso1, alice = life.clients["bob"], life.clients["dso1"], life.clients["alice"]
    e = _refused(
        lambda: bob.upload_meter_csv("time_utc,EAN-1\n2026-06-03T00:00:00Z,1\n2026-06-03T00:15:00Z,x\n"), 422
    )
    assert "line 3, column 'EAN-1': not a number in kW" in str(e)
    e = _refused(lambda: bob.upload_readings([{"connection_point": "EAN-2", "start": START.isoformat(), "power_kw": [1, 2e6]}]), 422)  # fmt: skip
    assert e.detail[0]["loc"] == ["body", "readings", "0", "power_kw", "1"]
    e = _refused(lambda: bob.upload_readings([{"connection_point": "EAN-2", "start": "2026-06-03T00:05:00Z", "power_kw": [1]}]), 422)  # fmt: skip
    assert e.detail[0]["loc"] == ["body", "readings", "0", "start"]
    e = _refused(lambda: alice.upload_readings([{"connection_point": "EAN-1", "start": START.isoformat(), "power_kw": [1]}]), 422)  # fmt: skip
    assert "unknown connection point 'EAN-1'" in str(e)  # another provider's point does not exist for her
    _refused(lambda: alice.upload_meter_csv("time_utc,EAN-A\n2026-06-03T00:00:00Z,1e9\n"), 422)
    assert bob.readings("EAN-2", START.isoformat(), (START + timedelta(minutes=30)).isoformat())[
        "power_kw"
    ] == [10, 30]
    # activations: only the buyer calls, never more than ordered, only the provider answers, once
    e = _refused(lambda: dso1.activate(life.ids["offer"], [80, 0, 0, 0]), 422)
    assert (
        e.detail[0]["loc"] == ["body", "power_kw", "0"] and "more than the 0 kW ordered" in e.detail[0]["msg"]
    )
    _refused(lambda: bob.activate(life.ids["offer"]), 403)
    _refused(lambda: life.clients["dso2"].activate(life.ids["offer"]), 404)
    _refused(lambda: dso1.acknowledge_activation(life.ids["activation"], ["EAN-1"]), 403)
    _refused(lambda: bob.decline_activation(life.ids["activation"], "too late"), 409)
    # settlements: nothing left to settle; whole local days; a known time zone
    end = (DAY + timedelta(days=1)).isoformat()
    _refused(lambda: dso1.run_settlement(DAY.isoformat(), end, LIKE_DAYS), 409)
    e = _refused(lambda: dso1.run_settlement(START.isoformat(), end, LIKE_DAYS), 422)
    assert e.detail[0]["loc"] == ["body", "start"] and "not a local midnight" in e.detail[0]["msg"]
    e = _refused(lambda: dso1.run_settlement(DAY.isoformat(), end, LIKE_DAYS, tz="Mars/Olympus"), 422)
    assert e.detail[0]["loc"] == ["body", "tz"]
    e = _refused(lambda: dso1.run_settlement(DAY.isoformat(), end, {"method": "x_of_y", "x": 0}), 422)
    assert e.detail[0]["loc"] == ["body", "baseline", "x"]
    _refused(lambda: bob.run_settlement(DAY.isoformat(), end, LIKE_DAYS), 403)


def test_a_provider_checks_a_baseline_method_on_its_own_readings(life: Played):
    end = (DAY + timedelta(days=1)).isoformat()
    got = life.clients["bob"].compute_baseline(
        "EAN-2", DAY.isoformat(), end, {"method": "x_of_y", "x": 4, "y": 5}, history_days=HISTORY_DAYS
    )
    assert got["connection_point"] == "EAN-2" and got["settlement_id"] is None
    assert set(got["baseline_kw"]) == {BEFORE_KW["EAN-2"]} and got["metered_kw"][68:72] == ON_DAY_KW["EAN-2"]
    short = life.clients["bob"].compute_baseline("EAN-2", DAY.isoformat(), end, LIKE_DAYS, history_days=1)
    assert set(short["baseline_kw"]) == {None}  # too little history: no baseline rather than a guess
    _refused(lambda: life.clients["alice"].compute_baseline("EAN-2", DAY.isoformat(), end, LIKE_DAYS), 404)


values = st.lists(st.one_of(st.none(), st.integers(-500, 500).map(float)), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(first=values, second=values)
def test_uploads_count_new_unchanged_and_corrected_readings(life: Played, first: list, second: list):
    bob, name = life.clients["bob"], f"EAN-P{uuid.uuid4().hex[:8]}"
    bob.register_connection_point(name)
    start = DAY + timedelta(days=30)
    series = lambda kw: [{"connection_point": name, "start": start.isoformat(), "power_kw": kw}]  # noqa: E731
    got = bob.upload_readings(series(first))
    assert got["inserted"] == sum(v is not None for v in first) and got["corrected"] == 0
    assert bob.upload_readings(series(first))["unchanged"] == got["inserted"]
    n = max(len(first), len(second))
    old = first + [None] * (n - len(first))
    new = second + [None] * (n - len(second))
    got = bob.upload_readings(series(second))
    assert got["inserted"] == sum(a is None and b is not None for a, b in zip(old, new, strict=True))
    assert got["corrected"] == sum(None not in (a, b) and a != b for a, b in zip(old, new, strict=True))
    assert got["unchanged"] == sum(None not in (a, b) and a == b for a, b in zip(old, new, strict=True))
    stored = bob.readings(name, start.isoformat(), (start + timedelta(minutes=15 * n)).isoformat())[
        "power_kw"
    ]
    assert stored == [b if b is not None else a for a, b in zip(old, new, strict=True)]
