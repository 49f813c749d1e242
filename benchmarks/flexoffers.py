"""Flex-offer lifecycle figures, printed as JSON.

    .venv/bin/python benchmarks/flexoffers.py [--sizes 10000 100000 1000000] [--repeat 3]
    .venv/bin/python benchmarks/flexoffers.py --memory-child 10000000   # peak memory of one size

* ``--memory-child N``: generate N devices, aggregate, schedule and disaggregate them in a child
  process, and report its peak resident memory (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``)
  with the aggregation and disaggregation times, wall and CPU (user + system: on a shared machine the
  wall time also measures the others; the 1-minute load average is printed), nothing else running in
  that process; the fleet's
  per-interval energies are stored as float32 (``DTYPE``) and its default schedules are dropped once
  they have set the portfolio limit (docs/decisions/0007-compact-flexoffer-arrays.md);

* aggregation and disaggregation time for each size (fleet generation excluded), flexibility retained;
* end-to-end time for 1e5 devices (validate → aggregate → schedule → disaggregate → execute);
* scheduling: cost, LP-relaxation lower bound and optimality gap, with the portfolio limit binding;
* the peer: the same portfolio scheduled device by device without aggregation (column generation on
  the members, whose lower bound is the best any member-level schedule can reach): the ratio tells
  what aggregation costs in value and what it saves in time.
Medians over ``--repeat`` runs, wall and CPU (``*_cpu_s``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.disaggregation import disaggregate
from gridflex.flexoffer.execution import execute, simulate_measurements
from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
from gridflex.flexoffer.model import place_on_grid
from gridflex.flexoffer.schedule import schedule_flexoffers
from gridflex.flexoffer.validate import check_flexoffers
from gridflex.market.prices import prices_on_grid

DAY = "2018-06-12"
SLICE = 1 << 20  # values per slice of a whole-array check
DTYPE = (
    "float32"  # compact storage of per-interval energies (docs/decisions/0007-compact-flexoffer-arrays.md)
)


def cpu_s() -> float:
    """CPU time of this process, user + system (on a shared machine wall time measures the others too)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn, repeat: int):
    """Median wall and CPU seconds of ``repeat`` calls, and the last result."""
    times, cpus, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), cpu_s()
        out = fn()
        times.append(time.perf_counter() - t)
        cpus.append(cpu_s() - c)
    return statistics.median(times), statistics.median(cpus), out


def memory_run(n: int) -> dict:
    """The lifecycle of ``n`` devices as the memory child runs it: times and the batch's own bytes."""
    grid = fleet_horizon(DAY)
    prices = prices_on_grid(grid, "France")
    t = time.perf_counter()
    fleet = generate_fleet(n, day=DAY, seed=1, dtype=DTYPE)
    t_gen = time.perf_counter() - t
    limit = place_on_grid(fleet, fleet.default, grid.start_s, grid.n).max() / grid.step_h
    # the defaults only set the limit: not held through aggregation and disaggregation
    fleet = fleet.with_default(None)
    t_agg, c_agg, agg = timed(lambda: aggregate(fleet), 1)
    res = schedule_flexoffers(agg.aggregates, grid, prices, limit_kw=limit)
    t_dis, c_dis, sched = timed(lambda: disaggregate(agg, res.schedule), 1)
    return {
        "devices": n,
        "profile_intervals": int(fleet.offsets[-1]),
        "aggregates": len(agg.aggregates),
        "generate_s": round(t_gen, 3),
        "aggregate_s": round(t_agg, 3),
        "disaggregate_s": round(t_dis, 3),
        "aggregate_cpu_s": round(c_agg, 3),
        "disaggregate_cpu_s": round(c_dis, 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        # in slices: a whole-array mask (1 byte per interval) would add to the peak measured
        "member_schedule_finite": all(
            bool(np.isfinite(sched.energy_kwh[i : i + SLICE]).all())
            for i in range(0, len(sched.energy_kwh), SLICE)
        ),
    }


def memory_child(n: int) -> dict:
    """Run :func:`memory_run` in a fresh child process; its peak RSS from ``getrusage``."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, __file__, "--memory-run", str(n)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"memory child for {n} devices failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
    out["peak_rss_gb"] = round(peak_kb / 1024**2, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-devices", type=int, default=2_000)
    ap.add_argument("--end-to-end", type=int, default=100_000, help="Devices in the end-to-end run.")
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny sizes: checks the script runs (the test suite)."
    )
    ap.add_argument("--memory-child", type=int, metavar="N", help="Peak memory of N devices, in a child.")
    ap.add_argument("--memory-run", type=int, help=argparse.SUPPRESS)  # what the child runs
    args = ap.parse_args()
    if args.memory_run:
        print(json.dumps(memory_run(args.memory_run)))
        return
    if args.memory_child:
        print(json.dumps({"memory": memory_child(args.memory_child)}, indent=2))
        return
    if args.smoke:
        args.sizes, args.repeat, args.peer_devices, args.end_to_end = [300], 1, 50, 300
    grid = fleet_horizon(DAY)
    prices = prices_on_grid(grid, "France")
    out: dict = {
        "day": DAY,
        "zone": "France",
        "repeat": args.repeat,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "sizes": {},
    }

    for n in args.sizes:
        fleet = generate_fleet(n, day=DAY, seed=1, dtype=DTYPE)
        t_agg, c_agg, agg = timed(lambda fleet=fleet: aggregate(fleet), args.repeat)
        limit = place_on_grid(fleet, fleet.default, grid.start_s, grid.n).max() / grid.step_h
        res = schedule_flexoffers(agg.aggregates, grid, prices, limit_kw=limit)
        t_dis, c_dis, _ = timed(lambda agg=agg, res=res: disaggregate(agg, res.schedule), args.repeat)
        rep = agg.report()
        out["sizes"][str(n)] = {
            "offers": n,
            "profile_intervals": len(fleet.lower_kwh),
            "aggregates": len(agg.aggregates),
            "aggregate_s": round(t_agg, 4),
            "disaggregate_s": round(t_dis, 4),
            "aggregate_cpu_s": round(c_agg, 4),
            "disaggregate_cpu_s": round(c_dis, 4),
            "retained": {k: round(float(v), 4) for k, v in rep["retained"].items()},
            "schedule_gap": res.gap,
        }
        print(f"size {n}: aggregate {t_agg:.3f} s, disaggregate {t_dis:.3f} s", file=sys.stderr)

    # End to end, generation excluded.
    fleet = generate_fleet(args.end_to_end, day=DAY, seed=2)
    limit = place_on_grid(fleet, fleet.default, grid.start_s, grid.n).max() / grid.step_h

    def end_to_end():
        t = {}
        t0 = time.perf_counter()
        check_flexoffers(fleet)
        t["validate"] = time.perf_counter() - t0
        agg = aggregate(fleet)
        t["aggregate"] = time.perf_counter() - t0 - sum(t.values())
        res = schedule_flexoffers(agg.aggregates, grid, prices, limit_kw=limit)
        t["schedule"] = time.perf_counter() - t0 - sum(t.values())
        sched = disaggregate(agg, res.schedule)
        t["disaggregate"] = time.perf_counter() - t0 - sum(t.values())
        measured = simulate_measurements(fleet, sched, noise=0.05, seed=0)
        execute(fleet, sched, measured, grid, prices)
        t["execute"] = time.perf_counter() - t0 - sum(t.values())
        return t, res

    runs = [end_to_end() for _ in range(args.repeat)]
    totals = [sum(t.values()) for t, _ in runs]
    k = int(np.argsort(totals)[len(totals) // 2])
    t_med, res = runs[k]
    out["end_to_end"] = {
        "devices": args.end_to_end,
        "total_s": round(statistics.median(totals), 3),
        "steps_s": {s: round(v, 3) for s, v in t_med.items()},
        "limit_kw": round(float(limit), 1),
        "cost_eur": round(res.cost_eur, 2),
        "lower_bound_eur": round(res.lower_bound_eur, 2),
        "gap": res.gap,
        "method": res.method,
        "iterations": res.iterations,
    }

    # Peer: member-level scheduling (no aggregation) of a smaller fleet, same prices and limit rule.
    fleet = generate_fleet(args.peer_devices, day=DAY, seed=3)
    limit = place_on_grid(fleet, fleet.default, grid.start_s, grid.n).max() / grid.step_h
    t_ours, _, ours = timed(
        lambda: schedule_flexoffers((_a := aggregate(fleet)).aggregates, grid, prices, limit_kw=limit), 1
    )
    t_peer, _, peer = timed(
        lambda: schedule_flexoffers(fleet, grid, prices, limit_kw=limit, method="colgen"), 1
    )
    default_cost = float(place_on_grid(fleet, fleet.default, grid.start_s, grid.n) @ prices) / 1000
    out["peer_member_level"] = {
        "devices": args.peer_devices,
        "default_cost_eur": round(default_cost, 2),
        "aggregated_cost_eur": round(ours.cost_eur, 2),
        "member_level_cost_eur": round(peer.cost_eur, 2),
        "member_level_lower_bound_eur": round(peer.lower_bound_eur, 2),
        "saving_captured_ratio": round(
            (default_cost - ours.cost_eur) / max(default_cost - peer.lower_bound_eur, 1e-9), 4
        ),
        "aggregated_s": round(t_ours, 3),
        "member_level_s": round(t_peer, 3),
        "speedup": round(t_peer / t_ours, 2),
    }
    if args.smoke:
        out["memory"] = memory_child(300)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
