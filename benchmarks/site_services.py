"""Issue 14 services on the example sites, printed as JSON: wall and CPU time (median of --repeat),
and the figures the docs quote.

    .venv/bin/python benchmarks/site_services.py [--repeat 3] [--smoke]

(``--smoke``: one repeat and one battery size; the test suite runs it.)

(a) office_capacity (capacity mechanism, aFRR, RR, RC; 96 quarter-hours, EVs): schedule_site;
(b) chp_services (a CHP with minimum load providing aFRR up/down; MILP): schedule_site;
(c) sizing the office_capacity battery over three sizes (one representative day);
(d) the intraday second loop on home.yaml with synthetic intraday prices (cheap midday);
(e) the same site in the rolling horizon with intraday (run_mpc: 7 days, 1 h steps; 1 day in --smoke),
    with the value of the second loop against the same run without it.
No peer: none of the benchmark peers models these services.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, dict[str, float]]:
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return out, {
        "wall_s_median": round(statistics.median(walls), 4),
        "cpu_s_median": round(statistics.median(cpus), 4),
    }


def main() -> None:
    from gridflex.scheduling import compile_site, load_site, schedule_site
    from gridflex.scheduling.intraday import run_two_loop
    from gridflex.scheduling.mpc import run_mpc
    from gridflex.scheduling.site import IntradaySpec
    from gridflex.scheduling.sizing import SizeOption, size_site

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.repeat = 1
    sites = ROOT / "examples" / "sites"
    out: dict[str, Any] = {}
    office = load_site(sites / "office_capacity.yaml")
    res, t = _timed(lambda: schedule_site(office), args.repeat)
    out["office_capacity"] = t | {k: round(-v, 2) for k, v in res.costs_eur.items()
                                  if k.startswith(("capacity", "reserve")) and v}  # fmt: skip
    chp = load_site(sites / "chp_services.yaml")
    res, t = _timed(lambda: schedule_site(chp), args.repeat)
    out["chp_services"] = t | {"reserve_availability_eur": round(-res.costs_eur["reserve_availability"], 2)}
    option = SizeOption(
        "battery", "capacity_kwh", [100, 200, 400], 250.0, 12, linked={"charge_power_kw": 0.5}
    )
    res, t = _timed(lambda: size_site([(office, 120)], [option]), 1)
    out["sizing_office_battery"] = t | {"best": res.best}
    home = load_site(sites / "home.yaml")
    hours = compile_site(home).grid.index.tz_convert("Europe/Paris").hour
    prices = [60.0 - (25.0 if 10 <= h < 15 else 0.0) for h in hours]
    home = home.model_copy(update={"prices": home.prices.model_copy(
        update={"intraday": IntradaySpec(prices_eur_per_mwh=prices, max_kw=30)})})  # fmt: skip
    res, t = _timed(lambda: run_two_loop(home, forecast_error=0.15), args.repeat)
    out["intraday_two_loop_home"] = t | {"value_eur": round(res.value_eur, 2)}
    days = 1 if args.smoke else 7
    mpc, t = _timed(lambda: run_mpc(home, days=days, forecast_error=0.15, measure_cold=False), 1)
    summary = mpc.summary()
    out["intraday_mpc_home"] = t | {"days": days} | {
        k: summary[k] for k in ("steps", "milp_steps", "realised_cost_eur", "perfect_foresight_cost_eur",
                                "intraday_traded_kwh", "second_loop_value_eur", "median_solve_warm_s")
    }  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
