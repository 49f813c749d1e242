"""Grid flexibility evaluation on a local multi-process Dask cluster: scaling with the workers, as JSON.

    .venv/bin/python benchmarks/evaluate_dask.py [--scenarios 2000] [--workers 1 2] [--repeat 3] [--smoke]
    .venv/bin/python benchmarks/evaluate_dask.py --scenarios 100000 --repeat 1    # the full size

For each worker count, a ``distributed.LocalCluster`` of that many single-threaded processes solves
the *current* state of examples/rts24.yaml for ``--scenarios`` scenarios through the same runner
``gridflex evaluate --scheduler`` uses (chunks of ``chunk_size`` scenarios as tasks). Reported per
worker count (medians over ``--repeat``): wall time, the CPU time of the workers (read in each
worker before and after) and of this process, the 1-minute load average before and after, and the
figures that do not depend on how loaded the machine is: worker CPU per scenario and the share of
the wall time the workers got a CPU (``worker_cpu_share``: 1.0 = each worker on a core of its own).
``scaling`` projects the wall time of N workers from them: drawing the scenarios (serial, in this
process) + N-independent client overhead + worker CPU / N. The run stops with exit code 1 when the
scores differ between worker counts (the results must not depend on the cluster).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from gridflex.grid.evaluation import solve_state
from gridflex.grid.scenarios import generate_scenarios
from gridflex.grid.study import build_network, load_study
from gridflex.parallel import runner

ROOT = Path(__file__).resolve().parents[1]


def worker_cpu_s() -> float:
    """CPU time (user + system) of the process this runs in: called in every worker by Client.run."""
    return time.process_time()


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def run_workers(study: Any, net: Any, sc: Any, k: int, repeat: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        run = runner(scheduler=cluster.scheduler_address)
        walls, mains, workers, loads, score = [], [], [], [], 0.0
        for _ in range(repeat):
            before = client.run(worker_cpu_s)
            load_before = load1()
            t, c = time.perf_counter(), time.process_time()
            score = solve_state(study, net, sc, 1.0, runner=run).score
            walls.append(time.perf_counter() - t)
            mains.append(time.process_time() - c)
            after = client.run(worker_cpu_s)
            workers.append(sum(after[w] - before[w] for w in after))
            loads.append([load_before, load1()])
    wall, cpu = statistics.median(walls), statistics.median(workers)
    return {
        "workers": k,
        "wall_s_median": round(wall, 3),
        "wall_s_runs": [round(w, 3) for w in walls],
        "workers_cpu_s": round(cpu, 3),
        "main_cpu_s": round(statistics.median(mains), 3),
        "worker_cpu_ms_per_scenario": round(1e3 * cpu / sc.n, 4),
        "worker_cpu_share": round(cpu / (wall * k), 3),
        "scenarios_per_s": round(sc.n / wall, 1),
        "load_avg_1min_before_after": loads,
        "score": round(score, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.scenarios, a.workers, a.repeat = 20, [1, 2], 1
    logging.getLogger("distributed").setLevel(logging.ERROR)

    study = load_study(ROOT / "examples" / "rts24.yaml")
    net = build_network(study)
    c = time.process_time()
    sc = generate_scenarios(study, net.load_mw, a.scenarios, seed=0)
    draw_cpu = time.process_time() - c
    rows = []
    for k in a.workers:
        print(f"{a.scenarios:,} scenarios on {k} worker(s)…", file=sys.stderr)
        rows.append(run_workers(study, net, sc, k, a.repeat))
    base = rows[0]["wall_s_median"]
    for r in rows:
        r["speedup_vs_first"] = round(base / r["wall_s_median"], 2)
    # the projection: serial parts (drawing; the client's scheduling and result handling) + worker CPU / N
    cpu_per = statistics.median(r["worker_cpu_ms_per_scenario"] for r in rows) / 1e3
    main_per = statistics.median(r["main_cpu_s"] for r in rows) / a.scenarios
    serial_s = draw_cpu + main_per * a.scenarios
    scaling = {
        "model": "wall(N) = draw + client + n·worker_cpu_per_scenario / N, with a free core per worker",
        "draw_scenarios_cpu_s": round(draw_cpu, 3),
        "client_cpu_s_per_scenario": round(main_per, 7),
        "worker_cpu_s_per_scenario": round(cpu_per, 7),
        "projected_wall_s": {
            str(n): round(serial_s + a.scenarios * cpu_per / n, 1) for n in (1, 2, 4, 8, 16, 32, 64)
        },
        "speedup_bound": round((serial_s + a.scenarios * cpu_per) / serial_s, 1) if serial_s > 0 else None,
    }
    doc = {
        "study": "examples/rts24.yaml (current state)",
        "scenarios": a.scenarios,
        "cpus": os.cpu_count(),
        "runs": rows,
        "same_score_for_every_worker_count": len({r["score"] for r in rows}) == 1,
        "scaling": scaling,
    }
    print(json.dumps(doc))
    if not doc["same_score_for_every_worker_count"]:
        print("error: the score depends on the number of workers (see runs[].score)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
