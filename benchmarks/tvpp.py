"""Technical VPP figures (distribution grid), printed as one JSON document.

    .venv/bin/python benchmarks/tvpp.py            # the full sizes (a few minutes of CPU, mostly the summer year)
    .venv/bin/python benchmarks/tvpp.py --smoke    # seconds: checks the script runs

* year: a year at 15 min (35,136 periods) on SimBench ``1-MV-semiurb--0-sw`` (115 buses after fusing
  bus-bus switches), from gridflex's own grid file to voltages and loadings of every period: time
  including loading the file and building the per-element series; target ≤ 15 s;
* peer: pandapower's time-series loop (``pandapower.timeseries.run_timeseries`` with ``ConstControl``)
  on the same grid for ``--peer-periods`` periods (one week), extrapolated to the year, and the ratio;
  with numba when it is installed (pandapower's accelerator; compiled before timing), as reported;
  the largest voltage difference between the two on those periods;
* stressed year: the winter scenario over the whole year, forecast day by day → needs → delivered
  evenly (``relieve``, the stand-in for the market's clearing) → power flow again: the share of
  requested periods left without a violation (target ≥ 99 %) and the time;
* relief year: the closed loop over the stressed year, day by day (``relieve_by_market``): forecast →
  FlexRequests per overloaded branch and period → seeded offers at every connection (load, PV,
  storage; divisible and blocks) → ``clear_local`` with the round's sensitivities → activation → AC
  re-check (up to three rounds a day): requested periods, relieved share (target ≥ 99 %), cost,
  energy, time; target ≤ 5 min; ``relief_year_summer`` the same with PV × 12 (PV curtailment, down);
* forecast: a stressed winter day (96 periods; EVs and heat pumps in 80 % of homes) from the series to
  FlexRequests (power flow with angles, violations, congestion points, needs, pydantic messages),
  median over ``--repeat`` runs; target ≤ 1 s;
* envelopes: a stressed winter week from 20 January relieved on the market, then shared operating
  envelopes of every connection on the cleared series (``gridflex grid envelopes``) and the AC check
  with all connections at their import, then export limits.

CPU time (``time.process_time``) stands next to wall time: on a shared machine wall time says little.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import statistics
import sys
import time
import warnings
from datetime import datetime

import numpy as np

from gridflex.grid.distribution import PowerFlow, load_grid
from gridflex.grid.distribution.congestion import Limits, find_violations, forecast, forecast_by_day, relieve
from gridflex.grid.distribution.convert import to_pandapower
from gridflex.grid.distribution.envelopes import check_corners, operating_envelopes
from gridflex.grid.distribution.relief import relieve_by_market
from gridflex.grid.distribution.requests import request_batch
from gridflex.grid.distribution.sensitivity import sensitivities
from gridflex.grid.distribution.stress import SUMMER, WINTER, StressScenario, stress

GRID = "mv-semiurb"
WINTER_DAY = datetime(2016, 1, 20)


def year(periods: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    case = load_grid(GRID)
    t1 = time.perf_counter()
    series = case.profiles.series(case.network, periods=periods)
    t2 = time.perf_counter()
    res = PowerFlow(case.network).run(series)
    t3, c3 = time.perf_counter(), time.process_time()
    return {
        "grid": case.network.name,
        "buses": len(case.network.bus),
        "branches": len(case.network.branch_names()),
        "elements": case.network.n_elements,
        "periods": periods,
        "load_s": round(t1 - t0, 3),
        "series_s": round(t2 - t1, 3),
        "power_flow_s": round(t3 - t2, 3),
        "total_s": round(t3 - t0, 3),
        "cpu_s": round(c3 - c0, 3),  # wall time on a loaded machine says little: CPU time next to it
        "target_s": 15.0,
        "max_loading_pct": round(float(res.branch_loading_pct.max()), 2),
        "voltage_range_pu": [
            round(float(np.nanmin(res.voltage_pu)), 4),
            round(float(np.nanmax(res.voltage_pu)), 4),
        ],
        "_voltage_pu": res.voltage_pu,
    }


def pandapower_peer(periods: int) -> dict:
    try:  # pandapower's own accelerator, when installed (not a gridflex dependency)
        import numba  # noqa: F401

        has_numba = True
    except ImportError:
        has_numba = False
    if has_numba:
        _pandapower_run(2, has_numba)  # numba compiles on first use: not timed
    c0 = time.process_time()
    elapsed, vm = _pandapower_run(periods, has_numba)
    cpu = time.process_time() - c0  # includes building the controllers, a small part
    return {"periods": periods, "time_s": round(elapsed, 3), "cpu_s": round(cpu, 3), "numba": has_numba,
            "_voltage_pu": vm}  # fmt: skip


def _pandapower_run(periods: int, has_numba: bool) -> tuple[float, np.ndarray]:
    import pandas as pd
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    case = load_grid(GRID)
    net = case.network
    series = case.profiles.series(net, periods=periods)
    ppnet = to_pandapower(net)
    k = 0
    for kind in ("load", "sgen", "storage"):
        n = len(net.tables[kind])
        if n:
            sign = -1.0 if kind == "sgen" else 1.0
            for var, data in (("p_mw", series.p_mw), ("q_mvar", series.q_mvar)):
                df = pd.DataFrame(sign * data[:, k : k + n], columns=[f"{kind}_{var}_{i}" for i in range(n)])
                ConstControl(ppnet, kind, var, element_index=list(range(n)), data_source=DFData(df),
                             profile_name=list(df.columns))  # fmt: skip
        k += n
    ow = OutputWriter(
        ppnet, time_steps=range(periods), output_path=None, log_variables=[("res_bus", "vm_pu")]
    )
    t0 = time.perf_counter()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        run_timeseries(ppnet, time_steps=range(periods), verbose=False, numba=has_numba)
        logging.disable(logging.NOTSET)
    elapsed = time.perf_counter() - t0
    return elapsed, ow.output["res_bus.vm_pu"].to_numpy()


def day_ahead(repeat: int) -> dict:
    case = load_grid(GRID)
    net = case.network
    base = case.profiles.series(net, start=WINTER_DAY, periods=96)
    pf = PowerFlow(net)
    times, fc, batch = [], None, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        series = stress(net, base, WINTER)
        fc = forecast(net, series, pf=pf)
        batch = request_batch(fc)
        times.append(time.perf_counter() - t0)
    assert fc is not None and batch is not None
    return {
        "day": WINTER_DAY.date().isoformat(),
        "scenario": WINTER.describe(),
        "periods": 96,
        "time_s": round(statistics.median(times), 4),
        "power_flow_s": round(fc.timings_s["power_flow"], 4),
        "needs_s": round(fc.timings_s["needs"], 4),
        "target_s": 1.0,
        "violations": len(fc.violations),
        "congestion_points": len(fc.points),
        "requested_isps": sum(len(r.requested) for r in batch.requests),
    }


def stressed_year(periods: int) -> dict:
    case = load_grid(GRID)
    net = case.network
    pf = PowerFlow(net)
    t0 = time.perf_counter()
    series = stress(net, case.profiles.series(net, periods=periods), WINTER)
    days = forecast_by_day(net, series, pf=pf)
    t1 = time.perf_counter()
    requested = residual = 0
    for fc in days:
        if not fc.points:
            continue
        asked = np.flatnonzero(np.any([cp.requested_mw != 0 for cp in fc.points], axis=0))
        after = find_violations(net, pf.run(relieve(fc)), fc.limits)
        left = np.unique(np.concatenate([v.periods for v in after])) if after else np.zeros(0, int)
        requested += len(asked)
        residual += len(np.intersect1d(asked, left))
    t2 = time.perf_counter()
    return {
        "scenario": WINTER.describe(),
        "periods": periods,
        "days_congested": sum(1 for fc in days if fc.violations),
        "congested_periods": int(sum(len(fc.congested_periods) for fc in days)),
        "requested_periods": requested,
        "relieved_share": round(1 - residual / requested, 4) if requested else None,
        "target_share": 0.99,
        "forecast_s": round(t1 - t0, 2),
        "relieve_and_recheck_s": round(t2 - t1, 2),
    }


def relief_year(periods: int, scenario: StressScenario = WINTER, start: datetime | None = None) -> dict:
    case = load_grid(GRID)
    net = case.network
    t0, c0 = time.perf_counter(), time.process_time()
    series = stress(net, case.profiles.series(net, start=start, periods=periods), scenario)
    rel = relieve_by_market(net, series)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "scenario": scenario.describe(),
        "periods": periods,
        **rel.summary(),
        "target_share": 0.99,
        "time_s": round(elapsed, 2),
        "cpu_s": round(cpu, 2),
        "target_s": 300.0,
    }


def envelopes_day(days: int) -> dict:
    """Shared operating envelopes of the stressed winter days from 20 January, on the cleared series
    (market relief first), with the AC check at their corners: what `gridflex grid envelopes` runs."""
    case = load_grid(GRID)
    net = case.network
    pf = PowerFlow(net)
    series = stress(net, case.profiles.series(net, start=WINTER_DAY, periods=96 * days), WINTER)
    t0, c0 = time.perf_counter(), time.process_time()
    cleared = relieve_by_market(net, series, pf=pf).relieved
    t1, c1 = time.perf_counter(), time.process_time()
    res = pf.run(cleared, angles=True)
    env = operating_envelopes(net, cleared, res, sensitivities(net, res), pf=pf)
    t2, c2 = time.perf_counter(), time.process_time()
    corners = check_corners(net, cleared, env, pf, Limits())
    return {
        "periods": cleared.periods,
        "connections": len(env.connection_names),
        "relief_s": round(t1 - t0, 2),
        "relief_cpu_s": round(c1 - c0, 2),
        "envelopes_s": round(t2 - t1, 2),  # power flow, sensitivities, water-filling, 3 AC corrections
        "envelopes_cpu_s": round(c2 - c1, 2),
        "corners": corners,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--periods", type=int, default=35_136, help="Periods of the year run (15 min).")
    ap.add_argument(
        "--peer-periods", type=int, default=7 * 96, help="Periods pandapower runs (extrapolated)."
    )
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny sizes: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    if args.smoke:
        args.periods, args.peer_periods, args.repeat = 7 * 96, 4, 1

    sections = {
        "year power flow": lambda: year(args.periods),
        "pandapower peer": lambda: pandapower_peer(args.peer_periods),
        "day ahead": lambda: day_ahead(args.repeat),
        "stressed year": lambda: stressed_year(args.periods if not args.smoke else 2 * 96),
        # smoke: two congested winter days, so that the market is exercised
        "relief year (winter)": lambda: (
            relief_year(2 * 96, start=datetime(2016, 1, 27)) if args.smoke else relief_year(args.periods)
        ),
        "relief year (summer)": lambda: relief_year(args.periods if not args.smoke else 96, SUMMER, None),
        "envelopes": lambda: envelopes_day(1 if args.smoke else 7),
    }
    got = {}
    for name, run in sections.items():  # progress on stderr: the full run takes minutes
        print(f"tvpp benchmark: {name} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
        got[name] = run()
    ours, peer = got["year power flow"], got["pandapower peer"]
    n = args.peer_periods
    diff = float(np.nanmax(np.abs(ours.pop("_voltage_pu")[:n] - peer.pop("_voltage_pu"))))
    extrapolated = peer["time_s"] / n * args.periods
    out = {
        "year": ours,
        "pandapower": {
            **peer,
            "extrapolated_to_periods": args.periods,
            "extrapolated_s": round(extrapolated, 1),
            "ratio": round(extrapolated / ours["total_s"], 1),
            "cpu_ratio": round(peer["cpu_s"] / n * args.periods / ours["cpu_s"], 1),
            "max_voltage_difference_pu": diff,
        },
        "day_ahead": got["day ahead"],
        "stressed_year": got["stressed year"],
        "relief_year": got["relief year (winter)"],
        "relief_year_summer": got["relief year (summer)"],
        "envelopes_week": got["envelopes"],
        "machine": {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)},
        "smoke": args.smoke,
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
