"""Site scheduling speed, printed as JSON.

    .venv/bin/python benchmarks/site.py [--repeat 20] [--smoke]

(``--smoke``: one repeat, a one-day MPC without EVs; the test suite runs it. The MPC runs the suite
makes smaller are at full size in ``benchmarks/mpc.py``.)

(a) one battery, 96 quarter-hours of real French day-ahead prices (2018-06-12), price arbitrage;
(b) ten batteries, 192 quarter-hours (2018-06-12/13), sharing one site connection limit.
Time = build + solve + results of ``schedule_site`` on a parsed site (prechecks, model assembly,
HiGHS, exactness check, result arrays and flexibility), median over ``--repeat`` runs; parsing the
file (pydantic) and resolving the SMARD prices are reported apart, once. ``outside_solver_share`` is
the time outside ``Highs.run()`` over the total.

(c) the office_services example (PV, battery, heat pump + buffer, three EVs, FCR with bid rules
    and a DSO contract), co-optimised: build (with the service groups) and solve, median; plus the
    three strategies side by side;
(d) MPC over a week of real prices on office_services (three EVs repeated daily, FCR and the DSO
    contract committed day-ahead at 12:00 the day before): steps, builds, day-ahead stages, median
    re-solve time warm (data written in place) vs cold (fresh model), realised cost vs perfect
    foresight at ``--forecast-error``, services revenue, headroom and EV need checks; and the office
    without services (office.yaml, with its EVs).

Peer (quoted, not installed): FlexMeasures' storage scheduler needs 140–235 ms for (a) and about
4 s for (b) on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from gridflex.market.prices import prices_on_grid
from gridflex.scheduling import (
    add_services,
    build_site_model,
    compare_strategies,
    compile_site,
    load_site,
    parse_site,
    run_mpc,
    schedule_site,
    solve_site_model,
)
from gridflex.scheduling.strategies import STRATEGIES
from gridflex.timegrid import local_day_grid

OFFICE = Path(__file__).resolve().parents[1] / "examples" / "sites" / "office_services.yaml"

DAY = "2018-06-12"


def _site(n_batteries: int, hours: int) -> dict:
    grid = local_day_grid(DAY, "Europe/Paris", 900, hours=hours)
    prices = prices_on_grid(grid, "France")
    assets: list[dict] = [
        {"kind": "grid_connection", "name": "grid", "import_max_kw": 50.0 * n_batteries * 0.6,
         "export_max_kw": 50.0 * n_batteries * 0.6},
    ]  # fmt: skip
    for i in range(n_batteries):
        assets.append(
            {"kind": "battery", "name": f"battery-{i}", "capacity_kwh": 100.0 + 10 * i, "charge_power_kw": 50.0,
             "charge_efficiency": 0.95, "discharge_efficiency": 0.95, "soc_min_frac": 0.1,
             "initial_soc_frac": 0.5, "target_soc_frac": 0.5, "degradation_eur_per_mwh": 5.0}
        )  # fmt: skip
    return {
        "name": f"{n_batteries} batteries",
        "time": {
            "start": grid.start.isoformat(),
            "step_s": 900,
            "n_periods": grid.n,
            "timezone": "Europe/Paris",
        },
        "prices": {"day_ahead_eur_per_mwh": [float(p) for p in prices]},
        "assets": assets,
    }


def _case(n_batteries: int, hours: int, repeat: int, target_s: float, peer_s: str) -> dict:
    data = _site(n_batteries, hours)
    t0 = time.perf_counter()
    compiled = compile_site(parse_site(data))
    t_parse = time.perf_counter() - t0
    runs, build, solver, outside = [], [], [], []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        result = schedule_site(compiled)
        runs.append(time.perf_counter() - t)
        build.append(result.time_build_s)
        solver.append(result.time_solver_s)
        outside.append(1 - result.time_solver_s / runs[-1])
    assert result is not None
    total = statistics.median(runs)
    solve = statistics.median(solver)
    return {
        "batteries": n_batteries,
        "periods": compiled.grid.n,
        "time_total_s": round(total, 5),
        "time_build_s": round(statistics.median(build), 5),
        "time_solver_s": round(solve, 5),
        "outside_solver_share": round(statistics.median(outside), 3),
        "time_parse_and_prices_s": round(t_parse, 5),
        "cost_eur": round(result.costs_eur["total"], 4),
        "milp_fallback": bool(result.exclusivity_binaries),
        "target_s": target_s,
        "meets_target": total <= target_s,
        "peer_flexmeasures_s": peer_s,
    }


def _services(repeat: int, strategies: tuple[str, ...] = STRATEGIES) -> dict:
    compiled = compile_site(load_site(OFFICE))
    build, solve, total = [], [], []
    result = None
    for _ in range(repeat):
        t = time.perf_counter()
        sm = build_site_model(compiled)
        add_services(sm, compiled.products)
        build.append(time.perf_counter() - t)
        result = solve_site_model(sm)
        solve.append(result.time_solver_s)
        total.append(time.perf_counter() - t)
    assert result is not None
    table = compare_strategies(compiled, strategies)
    return {
        "periods": compiled.grid.n,
        "variables": sm.model.n_vars,
        "rows": sm.model.n_rows,
        "integer_groups": sum(len(v["binaries"]) for v in result.service_info.values()),
        "time_build_s": round(statistics.median(build), 5),
        "time_solver_s": round(statistics.median(solve), 5),
        "time_total_s": round(statistics.median(total), 5),
        "strategies_value_eur": {c: round(float(table.loc["value_eur", c]), 3) for c in table.columns},
        "strategies_services_revenue_eur": {
            c: round(float(table.loc["services_revenue_eur", c]), 3) for c in table.columns
        },
    }


def _mpc(
    path: Path, days: int, horizon_h: float, error: float, step_h: float = 1.0, evs: bool = True
) -> dict:
    site = load_site(path)
    if not evs:
        site = site.model_copy(update={"assets": [a for a in site.assets if a.kind != "ev"]})
    t = time.perf_counter()
    res = run_mpc(site, days=days, step_h=step_h, horizon_h=horizon_h, forecast_error=error, seed=0)
    out = {"site": path.name, "evs": evs, "horizon_h": horizon_h, "step_h": step_h, **res.summary()}
    out["time_run_s"] = round(time.perf_counter() - t, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--forecast-error", type=float, default=0.1)
    ap.add_argument("--mpc-days", type=int, default=7)
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny sizes: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    mpc_h, errors, evs = (24.0, 1.0), (0.0, args.forecast_error), True  # horizon, step
    if args.smoke:  # one day, 6 h steps over 12 h horizons, no EVs (benchmarks/mpc.py: the full MPC)
        args.repeat, args.mpc_days, mpc_h, errors, evs = 1, 1, (12.0, 6.0), (args.forecast_error,), False
    out = {
        "day": DAY,
        "zone": "France",
        "repeat": args.repeat,
        "a_one_battery_96": _case(1, 24, args.repeat, 0.010, "0.140-0.235 (quoted)"),
        "b_ten_batteries_192": _case(10, 48, args.repeat, 0.3, "about 4 (quoted)"),
        # smoke: one strategy beside the co-optimised solve (tests/scheduling/test_services.py compares all)
        "c_office_services_cooptimised": _services(
            max(1, args.repeat // 10), ("energy_first",) if args.smoke else STRATEGIES
        ),
        "d_mpc": [
            _mpc(p, args.mpc_days, mpc_h[0], e, mpc_h[1], evs)
            for p in (OFFICE, OFFICE.with_name("office.yaml"))
            for e in errors
        ],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
