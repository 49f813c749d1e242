"""Model-predictive control of the office with services at full size, printed as one JSON document.

    .venv/bin/python benchmarks/mpc.py [--days 7] [--seed 2] [--smoke]

The two runs the test suite makes at a smaller size (tests/scheduling/test_mpc.py: 2 days, one EV or
none, 4 h steps), here at full size: office_services.yaml (PV, battery, heat pump + buffer, three
EVs, FCR in 4 h blocks with bid rules, a DSO evening contract) over ``--days`` days of real French
day-ahead prices (SMARD), 24 h horizon:

(a) 1 h steps, no forecast error: every commitment decided day-ahead (12:00 the day before) and
    kept in full in the realised run, headroom intact, EV needs met;
(b) 2 h steps, forecast error 0.1 (``--seed``, default 2): the realised run measures what the applied
    allocations could not hold (PV below its forecast, the grid connection taking the load's error,
    a store re-planned after its applied period): ``undelivered_kwh`` per service and provider, paid
    in the cost (``undelivered_eur``), the broken row groups named in ``headroom_shortfall``;
(c) as (b) with an intraday market (made-up prices: the day-ahead price 25 EUR/MWh lower from 10:00
    to 15:00, 10 higher otherwise; 200 kW): each day's position bought at its gate, the steps re-trade
    intraday; ``second_loop_value_eur`` is what that second loop is worth against the same run
    without it (each stage's plan applied, the error settled intraday; same forecast draws).

Each run gives the MPC summary (steps, builds, stages, realised vs perfect-foresight cost, services
revenue, shortfalls, median warm and cold re-solve times) with its wall and CPU time and the load
average. ``--smoke``: one day, no EVs, 6 h steps, 12 h horizon, without and with the intraday
market (seconds; run by the test suite).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from gridflex.scheduling import Site, compile_site, load_site, run_mpc
from gridflex.scheduling.site import IntradaySpec

OFFICE = Path(__file__).resolve().parents[1] / "examples" / "sites" / "office_services.yaml"


def _run(site, label: str, **kw) -> dict:
    t, cpu = time.perf_counter(), time.process_time()
    res = run_mpc(site, **kw)
    return {"case": label, **kw, **res.summary(), "time_run_s": round(time.perf_counter() - t, 3),
            "cpu_run_s": round(time.process_time() - cpu, 3), "load_average_1min": os.getloadavg()[0]}  # fmt: skip


def with_intraday(site: Site) -> Site:
    """The site with an intraday market: made-up prices around its day-ahead ones (see above)."""
    compiled = compile_site(site)
    hours = compiled.grid.index.tz_convert(compiled.tz).hour
    da = compiled.prices["day_ahead"]
    prices = [float(p) + (-25.0 if 10 <= h < 15 else 10.0) for p, h in zip(da, hours, strict=True)]
    intraday = IntradaySpec(prices_eur_per_mwh=prices, max_kw=200.0)
    return site.model_copy(update={"prices": site.prices.model_copy(update={"intraday": intraday})})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=2, help="forecast errors of (b) and (c)")
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny size: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    site = load_site(OFFICE)
    if args.smoke:
        site = site.model_copy(update={"assets": [a for a in site.assets if a.kind != "ev"]})
        small = {"days": 1, "step_h": 6.0, "horizon_h": 12.0, "forecast_error": 0.1, "seed": 2}
        runs = [_run(site, "smoke", **small), _run(with_intraday(site), "smoke_intraday", **small)]
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
                seed=args.seed,
            ),
            _run(
                with_intraday(site),
                "c_intraday_second_loop",
                days=args.days,
                step_h=2.0,
                horizon_h=24.0,
                forecast_error=0.1,
                seed=args.seed,
            ),
        ]
    print(json.dumps({"site": OFFICE.name, "zone": "France", "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
