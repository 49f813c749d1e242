"""Model-predictive control of the office with services at full size, printed as one JSON document.

    .venv/bin/python benchmarks/mpc.py [--days 7] [--smoke]

The two runs the test suite makes at a smaller size (tests/scheduling/test_mpc.py: 2 days, one EV or
none, 4 h steps), here at full size: office_services.yaml (PV, battery, heat pump + buffer, three
EVs, FCR in 4 h blocks with bid rules, a DSO evening contract) over ``--days`` days of real French
day-ahead prices (SMARD), 24 h horizon:

(a) 1 h steps, no forecast error: every commitment decided day-ahead (12:00 the day before) and
    kept in full in the realised run, headroom intact, EV needs met;
(b) 2 h steps, forecast error 0.1 (seed 2): the assets keep their allocated headroom; only the grid
    connection, taking the load forecast error, may miss (reported by name).

Each run gives the MPC summary (steps, builds, stages, realised vs perfect-foresight cost, services
revenue, shortfalls, median warm and cold re-solve times) and its wall time. ``--smoke``: one day,
no EVs, 6 h steps, 12 h horizon (seconds; run by the test suite).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from gridflex.scheduling import load_site, run_mpc

OFFICE = Path(__file__).resolve().parents[1] / "examples" / "sites" / "office_services.yaml"


def _run(site, label: str, **kw) -> dict:
    t = time.perf_counter()
    res = run_mpc(site, **kw)
    return {"case": label, **kw, **res.summary(), "time_run_s": round(time.perf_counter() - t, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny size: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    site = load_site(OFFICE)
    if args.smoke:
        site = site.model_copy(update={"assets": [a for a in site.assets if a.kind != "ev"]})
        runs = [_run(site, "smoke", days=1, step_h=6.0, horizon_h=12.0, forecast_error=0.1, seed=2)]
    else:
        runs = [
            _run(
                site, "a_committed_day_ahead", days=args.days, step_h=1.0, horizon_h=24.0, forecast_error=0.0
            ),
            _run(
                site,
                "b_forecast_error",
                days=args.days,
                step_h=2.0,
                horizon_h=24.0,
                forecast_error=0.1,
                seed=2,
            ),
        ]
    print(json.dumps({"site": OFFICE.name, "zone": "France", "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
