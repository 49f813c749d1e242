"""Settlement through the service against the market engine alone, printed as one JSON document.

    .venv/bin/python benchmarks/service_settlement.py [--points 200] [--days 30] [--repeat 3]
    .venv/bin/python benchmarks/service_settlement.py --smoke      # tiny, seconds (the suite runs it)

One DSO request at one congestion point, one provider's offer activated over one hour and
acknowledged with ``--points`` connection points, ``--days`` local days of 15-min readings each
(synthetic: a flat level per point with noise; the time does not depend on the values). Timed, in
process on SQLite (FastAPI's test client, no network): uploading the readings as meter CSVs (under the
1 MB body limit), and ``POST /v1/settlements`` (like-day baselines, the engine's settlement, lines and
baselines written). The peer is the engine alone on the same arrays (``compute_baseline`` +
``settle``): the difference is the service's cost (loading readings, writing lines and baselines).
Wall and CPU seconds, medians of ``--repeat`` runs interleaved (service, engine, service, …).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

DAY = datetime(2026, 6, 2, 22, tzinfo=UTC)  # 2026-06-03 00:00 Europe/Berlin, a Wednesday
CALL = DAY + timedelta(hours=17)
SPEC = {"method": "like_days", "days": 5}


def _world(points: int, days: int, root: Path):
    from fastapi.testclient import TestClient

    from gridflex.api import create_app
    from gridflex.client import Client
    from gridflex.store import Principal, Store

    store = Store(f"sqlite:///{root / 'bench.db'}")
    store.upgrade()
    with store.repos(Principal.system()) as r:
        tokens = {}
        for name, roles in {"dso": ["dso"], "agg": ["aggregator"]}.items():
            org = r.accounts.create_org(name, roles)
            tokens[name] = r.accounts.create_token(org.id, "bench").secret
    http = TestClient(create_app(store, clock=lambda: DAY - timedelta(days=days + 1)))
    dso, agg = (Client("http://testserver", tokens[w], http=http) for w in ("dso", "agg"))
    area = dso.request("POST", "/v1/grid-areas", json={"name": "a"})
    dso.request("POST", f"/v1/grid-areas/{area['id']}/congestion-points", json={"name": "CP"})
    names = [f"EAN-{i:05d}" for i in range(points)]
    for n in names:
        agg.register_connection_point(n, "CP")
    rng = np.random.default_rng(1)
    t0 = DAY - timedelta(days=days)
    n_isps = 96 * (days + 1)
    kw = rng.uniform(5, 50, (points, 1)) + rng.normal(0, 1, (points, n_isps))
    k0 = int((CALL - t0).total_seconds() // 900)
    kw[:, k0 : k0 + 4] -= 2.0  # each point delivers 2 kW up in the called hour
    times = [f"{t0 + timedelta(minutes=15 * k):%Y-%m-%dT%H:%M:%SZ}" for k in range(n_isps)]
    return store, dso, agg, names, kw, times, t0


def _upload(agg, names, kw, times) -> int:
    per = max(1, 900_000 // (len(times) * 9))  # points per CSV under the 1 MB body limit
    for a in range(0, len(names), per):
        cols = names[a : a + per]
        rows = ["time_utc," + ",".join(cols)]
        rows += [t + "," + ",".join(f"{v:.3f}" for v in kw[a : a + per, k]) for k, t in enumerate(times)]
        agg.upload_meter_csv("\n".join(rows) + "\n")
    return kw.size


def _service(store, dso, agg, names) -> None:
    req = dso.request("POST", "/v1/flex-requests", json={"congestion_point": "CP", "direction": "up",
        "start": CALL.isoformat(), "volume_kw": [2.0 * len(names)] * 4, "max_price_eur_per_mwh": 300})  # fmt: skip
    offer = agg.request("POST", f"/v1/flex-requests/{req['id']}/offers",
                        json={"volume_kw": req["volume_kw"], "price_eur_per_mwh": 200})  # fmt: skip
    dso.request("POST", f"/v1/flex-request-offers/{offer['id']}/accept")
    act = dso.activate(offer["id"], penalty_eur_per_mwh=300)
    agg.acknowledge_activation(act["id"], names)
    job = dso.run_settlement(DAY.isoformat(), (DAY + timedelta(days=1)).isoformat(), SPEC, history_days=10)
    from gridflex.store.runner import run_due_jobs

    run_due_jobs(store)  # the settlement job, in this process (what the server's runner does)
    done = dso.get_job(job["id"])
    if done["status"] != "succeeded":
        raise SystemExit(f"settlement job failed: {done['message']}")


def _reset(store) -> None:
    """Drop the settlement and its activation: the next repeat activates a new offer and settles again."""
    from sqlalchemy import delete

    from gridflex.store.settling import ActivationRow, BaselineRow, SettlementLineRow, SettlementRow

    with store.transaction() as s:
        s.execute(delete(BaselineRow).where(BaselineRow.settlement_id.is_not(None)))
        s.execute(delete(SettlementLineRow))
        s.execute(delete(ActivationRow))
        s.execute(delete(SettlementRow))


def _engine(names, kw, t0, n_days_before: int) -> None:
    import pandas as pd

    from gridflex.market.baselines import BaselineSpec, compute_baseline, day_layout
    from gridflex.market.baselines.spec import BaselineInputs
    from gridflex.market.settlement import SettlementDocument, settle
    from gridflex.timegrid import TimeGrid

    first = (pd.Timestamp(DAY).tz_convert("Europe/Berlin") - pd.Timedelta(days=10)).tz_convert("UTC")
    off = int((first - pd.Timestamp(t0)).total_seconds() // 900)
    metered = kw[:, off:]
    grid = TimeGrid(first, 900, metered.shape[1])
    layout = day_layout(grid, "Europe/Berlin")
    event_days = np.zeros(layout.n_days, dtype=bool)
    event_days[-1] = True
    base = compute_baseline(metered, BaselineSpec(**SPEC), BaselineInputs(layout, event_days))
    acts = [{"id": f"1/{k}", "buyer": "dso", "seller": "agg", "direction": "up",
             "start": (CALL + timedelta(minutes=15 * k)).isoformat(), "end": (CALL + timedelta(minutes=15 * k + 15)).isoformat(),
             "power_kw": 2.0 * len(names), "price_eur_per_mwh": 200, "penalty_eur_per_mwh": 300, "meters": names}
            for k in range(4)]  # fmt: skip
    doc = SettlementDocument.model_validate({"participants": [{"id": "dso", "role": "DSO"}, {"id": "agg", "role": "aggregator"}],
                                             "meters": [{"id": n} for n in names], "activations": acts})  # fmt: skip
    day = metered.shape[1] - 96
    settle(doc, TimeGrid(pd.Timestamp(DAY), 900, 96), names, base[:, day:], metered[:, day:]).statements()


def _timed(fn) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="Tiny sizes (for the test suite).")
    a = ap.parse_args()
    if a.smoke:
        a.points, a.days, a.repeat = 3, 11, 1
    out = {
        "machine_cpus": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "points": a.points,
        "days": a.days,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store, dso, agg, names, kw, times, t0 = _world(a.points, a.days, Path(tmp))
        wall, cpu = _timed(lambda: _upload(agg, names, kw, times))
        out["upload"] = {"readings": int(kw.size), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
                         "readings_per_s_wall": round(kw.size / wall)}  # fmt: skip
        service, engine = [], []
        for r in range(a.repeat):
            if r:
                _reset(store)
            service.append(_timed(lambda: _service(store, dso, agg, names)))
            engine.append(_timed(lambda: _engine(names, kw, t0, a.days)))
        store.close()
    med = lambda xs, i: round(statistics.median(x[i] for x in xs), 3)  # noqa: E731
    out["settlement_via_service"] = {"wall_s": med(service, 0), "cpu_s": med(service, 1)}
    out["settlement_engine_alone"] = {"wall_s": med(engine, 0), "cpu_s": med(engine, 1)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
