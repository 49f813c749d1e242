"""Settlement as a job, disputes and re-settlement (SQLite and PostgreSQL): a provider disputes a line
of its statement, a corrected meter reading behind it re-settles as a job, the new revision's
difference is what the correction is worth by hand, and money still sums to zero per ISP."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest

from gridflex.client import Client, ServerError
from gridflex.store.runner import run_due_jobs
from tests.api.conftest import Api
from tests.api.lifecycle import PENALTY, PRICE, START, Played, play


def _zero_per_isp(rows: list[dict]) -> None:
    """Every line is a transfer, seen by both parties: each ISP sums to zero over all statements."""
    total: dict[str, float] = defaultdict(float)
    for r in rows:
        total[r["period_start_utc"]] += r["amount_eur"]
    assert total and all(abs(v) < 1e-9 for v in total.values()), total


def _jobs(life: Played, api: Api, kind: str = "settlement") -> list[dict]:
    return [j for j in life.clients["dso1"].list_jobs() if j["kind"] == kind]


@pytest.fixture
def life(api: Api) -> Played:
    return play(api.client, api.store, api.world.secrets, api.world.org_ids)


def test_a_disputed_line_is_re_settled_after_a_corrected_reading(api: Api, life: Played):
    dso1, bob = life.clients["dso1"], life.clients["bob"]
    sid = life.ids["settlement"]
    assert life.answers["settlement_job"]["result"] == {"settlement_id": sid, "revision": 1}
    _zero_per_isp(dso1.statement(sid))
    # bob disputes his activation payment of the second called ISP (EAN-1 read 0 kW there: wrong)
    isp1 = (START + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    line = next(x for x in bob.settlement_lines(sid) if x["item"] == "activation"
                and x["period_start"].replace("+00:00", "Z") == isp1)  # fmt: skip
    dispute = bob.dispute(sid, line["id"], "EAN-1 was read 0 kW at 15:15; it drew -20 kW")
    assert dispute["status"] == "open" and dispute["raised_by_org_id"] == life.org_ids["bob"]
    for who in ("alice", "dso2"):  # not a party: the line does not exist for them
        with pytest.raises(ServerError, match="404"):
            life.clients[who].dispute(sid, line["id"], "mine?")
    assert [d["id"] for d in dso1.disputes(sid)] == [dispute["id"]]
    assert dso1.disputes(sid) == bob.disputes(sid)
    # a reading of another ISP and point than those settled changes nothing; the disputed one re-settles
    bob.upload_readings([{"connection_point": "EAN-2", "start": "2026-05-20T00:00:00Z", "power_kw": [31.0]}])
    assert [j for j in _jobs(life, api) if j["status"] == "queued"] == []
    got = bob.upload_readings([{"connection_point": "EAN-1", "start": isp1, "power_kw": [-20.0]}])
    assert got["corrected"] == 1
    bob.upload_readings(
        [{"connection_point": "EAN-1", "start": isp1, "power_kw": [-20.0]}]
    )  # again: unchanged
    queued = [j for j in _jobs(life, api) if j["status"] == "queued"]
    assert len(queued) == 1  # one re-settlement, however many corrections
    assert run_due_jobs(api.store) == [queued[0]["id"]]
    job = dso1.wait_job(queued[0]["id"], timeout_s=5)
    assert job["status"] == "succeeded" and job["result"]["revision"] == 2, job
    new = dso1.get_settlement(job["result"]["settlement_id"])
    old = dso1.get_settlement(sid)
    assert (new["revises_id"], old["superseded_by_id"]) == (sid, new["id"])
    assert bob.disputes(sid)[0]["status"] == "resolved"
    assert bob.disputes(sid)[0]["resolved_by_settlement_id"] == new["id"]
    # the difference, by hand: EAN-1's delivery at 15:15 goes from 50 - 0 to 50 + 20 kW (EAN-2: 0),
    # called 80 kW: the payment grows by PRICE × 20 kW × 0.25 h and the penalty shrinks by as much short
    diff = dso1.statement(new["id"], difference=True)
    _zero_per_isp(diff)
    _zero_per_isp(dso1.statement(new["id"]))
    mine = {(r["item"], r["counterparty"]): r["amount_eur"] for r in diff if r["participant"] == "bob"}
    assert mine[("activation", "dso1")] == pytest.approx(PRICE * 20 * 0.25 / 1000)
    assert mine[("penalty", "dso1")] == pytest.approx(PENALTY * 20 * 0.25 / 1000)
    assert len({r["period_start_utc"] for r in diff}) == 1  # only the corrected ISP changed
    # the difference is exactly new − old, for every party
    before = {(r["participant"], r["period_start_utc"], r["item"], r["counterparty"]): r["amount_eur"]
              for r in dso1.statement(sid)}  # fmt: skip
    after = {(r["participant"], r["period_start_utc"], r["item"], r["counterparty"]): r["amount_eur"]
             for r in dso1.statement(new["id"])}  # fmt: skip
    for r in diff:
        key = (r["participant"], r["period_start_utc"], r["item"], r["counterparty"])
        assert r["amount_eur"] == pytest.approx(after.get(key, 0.0) - before.get(key, 0.0))
    # an old revision is not disputed nor revised again; the new one can be
    with pytest.raises(ServerError, match="409"):
        bob.dispute(sid, line["id"], "again")
    with pytest.raises(ServerError, match="409"):
        dso1.revise_settlement(sid)
    with pytest.raises(ServerError, match="403"):
        bob.revise_settlement(new["id"])


def test_a_settlement_job_that_cannot_compute_fails_naming_why(api: Api):
    """Without history the baseline is missing: the job fails naming the activation and meter."""
    life = play(api.client, api.store, api.world.secrets, api.world.org_ids)
    dso1: Client = life.clients["dso1"]
    new = dso1.revise_settlement(life.ids["settlement"])
    assert new["status"] == "queued"
    # wipe the history the baselines need: a revision on no history fails, the settlement stays
    from sqlalchemy import delete

    from gridflex.store.metering import MeterReadingRow

    with api.store.transaction() as s:
        s.execute(delete(MeterReadingRow).where(MeterReadingRow.period_start < START - timedelta(hours=17)))
    run_due_jobs(api.store)
    job = dso1.get_job(new["id"])
    assert job["status"] == "failed" and "EAN-" in job["message"], job
    assert dso1.get_settlement(life.ids["settlement"])["superseded_by_id"] is None


def test_the_server_s_worker_processes_know_the_settlement_kind():
    """The pool of `gridflex serve` runs gridflex.api.jobkinds.run_job: every kind a route queues is there."""
    import gridflex.api.jobkinds  # noqa: F401 - registers the kinds, as a worker process does
    from gridflex.store.jobs import CLEARING, FLEXOFFER_KINDS, SETTLEMENT, SITE_SCHEDULE
    from gridflex.store.runner import EXECUTORS

    assert {CLEARING, SETTLEMENT, SITE_SCHEDULE, *FLEXOFFER_KINDS} <= set(EXECUTORS)


def test_a_real_server_settles_as_a_job(db_url: str, tmp_path):
    """`gridflex serve`'s runner (its spawned pool) re-settles as a job: a new revision, zero per ISP."""
    from fastapi.testclient import TestClient

    from gridflex.api import create_app
    from gridflex.store import Store
    from tests.api.test_jobs import _wait_for
    from tests.api.test_serve import serving
    from tests.store.world import BEFORE_GATE, build_world

    store = Store(db_url)
    w = build_world(store)
    with TestClient(create_app(store, clock=lambda: BEFORE_GATE)) as http:
        sid = play(http, store, w.secrets, w.org_ids).ids["settlement"]
    store.close()
    with serving(db_url, tmp_path) as (url, _):
        dso1 = Client(url, w.secrets["dso1"])
        job = dso1.revise_settlement(sid)
        assert job["status"] == "queued"
        done = _wait_for("the settlement job", lambda: (j := dso1.get_job(job["id"]))["status"] != "queued"
                         and j["status"] != "running" and j)  # fmt: skip
        assert done["status"] == "succeeded", done
        new = dso1.get_settlement(done["result"]["settlement_id"])
        assert (new["revision"], new["revises_id"]) == (2, sid)
        _zero_per_isp(dso1.statement(new["id"]))
        assert dso1.statement(new["id"], difference=True) == []  # the same readings: nothing changed
