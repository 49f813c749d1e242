"""The day from device to grid (``gridflex demo``): run time and the day's figures, as JSON.

Full size (the README's first command: five S2 sites standing for 185, 1440x, one simulated day)::

    .venv/bin/python benchmarks/day.py --repeat 3

``--smoke``: two sites at 7200x (the clock alone takes 12 s). The run time is bounded below by the
simulated day at ``speed`` (86,400 s / speed); the CPU time is that of this process (all its threads:
CEMs, planners, simulators, power flows, clearing). No peer runs this chain end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from gridflex.demos.day import HOMES, OFFICE, DayConfig, run_day


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--smoke", action="store_true", help="two sites at 7200x")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--speed", type=float, default=None, help="simulated seconds per real second")
    a = ap.parse_args()
    # smoke: two sites, at 0.95 of the winter stress (the default 0.85 needs all four sites' baselines to congest)
    config = DayConfig(sites=(HOMES[0], OFFICE), speed=7200.0, stress_scale=0.95) if a.smoke else DayConfig()
    if a.speed is not None:
        config = DayConfig(sites=config.sites, speed=a.speed, stress_scale=config.stress_scale)
    runs = []
    for k in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        r = run_day(
            DayConfig(sites=config.sites, speed=config.speed, seed=k, stress_scale=config.stress_scale)
        )
        runs.append({"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "result": r})
    last = runs[-1]["result"]
    acts = last.settlement.activations
    market = acts[acts.order_id.str.startswith("order-")]
    out = {
        "what": "gridflex demo: the day from device to grid",
        "sites": {s.name: {"devices": list(s.kinds), "like_sites": s.like_sites} for s in config.sites},
        "speed": config.speed,
        "simulated_day_at_speed_s": round(86_400 / config.speed, 1),
        "repeat": a.repeat,
        "cpu_count": os.cpu_count(),
        "median_wall_s": round(statistics.median(x["wall_s"] for x in runs), 2),
        "median_cpu_s": round(statistics.median(x["cpu_s"] for x in runs), 2),
        "steps_s_last": {k: round(v, 3) for k, v in last.step_s.items()},
        "requests": len(last.requests),
        "offers": len(last.offers),
        "ordered_kwh": round(float(market.ordered_kwh.sum()), 1),
        "delivered_kwh": round(float(market.delivered_kwh.sum()), 1),
        "max_loading_pct": {k: round(v, 2) for k, v in last.max_loading_pct.items()},
        "overloaded_isps": last.overloaded_isps,
        "s2_instructions_after_activation": sum(s.instructions_after for s in last.sites.values()),
        "gains_eur": last.gains_eur(),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
