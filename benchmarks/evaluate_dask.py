"""Grid flexibility evaluation on a local multi-process Dask cluster: scaling with the workers, as JSON.

    .venv/bin/python benchmarks/evaluate_dask.py                # the full size: 10^4 scenarios, 1 and 2 workers
    .venv/bin/python benchmarks/evaluate_dask.py --smoke        # 40 scenarios (tests/test_benchmarks.py)

For each worker count, a ``distributed.LocalCluster`` of that many single-threaded processes solves
the *current* state of examples/rts24.yaml for ``--scenarios`` scenarios through the same runner
``gridflex evaluate --scheduler`` uses. The client ships only the seed and each chunk's first scenario
(:class:`gridflex.grid.scenarios.ScenarioSeed`); every worker draws its own chunk (decision 0028).
Reported per worker count (medians over ``--repeat``): wall time, the CPU time of the workers (read
in each worker before and after) and of this process (the client, which also hosts the scheduler),
the 1-minute load average before and after, and the figures that do not depend on how loaded the
machine is: worker CPU per scenario and the share of the wall time the workers got a CPU
(``worker_cpu_share``: 1.0 = each worker on a core of its own). ``scaling`` projects the wall time of
N workers from them: client CPU (N-independent) + worker CPU / N. The run stops with exit code 1 when
the z matrix differs between worker counts or from a serial run of the first chunks in this process
(the results must not depend on the cluster).
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
from gridflex.grid.scenarios import ScenarioSeed
from gridflex.grid.study import build_network, load_study
from gridflex.parallel import runner

ROOT = Path(__file__).resolve().parents[1]


def worker_cpu_s() -> float:
    """CPU time (user + system) of the process this runs in: called in every worker by Client.run."""
    return time.process_time()


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def run_workers(study: Any, net: Any, sc: ScenarioSeed, k: int, repeat: int) -> tuple[dict[str, Any], Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        run = runner(scheduler=cluster.scheduler_address)
        walls, mains, workers, loads, z = [], [], [], [], None
        for _ in range(repeat):
            before = client.run(worker_cpu_s)
            load_before = load1()
            t, c = time.perf_counter(), time.process_time()
            z = solve_state(study, net, sc, 1.0, runner=run).z
            walls.append(time.perf_counter() - t)
            mains.append(time.process_time() - c)
            after = client.run(worker_cpu_s)
            workers.append(sum(after[w] - before[w] for w in after))
            loads.append([load_before, load1()])
    wall, cpu = statistics.median(walls), statistics.median(workers)
    row = {
        "workers": k,
        "wall_s_median": round(wall, 3),
        "wall_s_runs": [round(w, 3) for w in walls],
        "workers_cpu_s": round(cpu, 3),
        "client_cpu_s": round(statistics.median(mains), 3),
        "worker_cpu_ms_per_scenario": round(1e3 * cpu / sc.n, 4),
        "worker_cpu_share": round(cpu / (wall * k), 3),
        "scenarios_per_s": round(sc.n / wall, 1),
        "load_avg_1min_before_after": loads,
        "score": round(100.0 * float((z == 1).mean()), 4),
    }
    return row, z


def shipped_bytes_per_scenario(study: Any, net: Any, n: int) -> dict[str, float]:
    """Pickled size of the tasks per scenario: seeds (drawn in the workers) vs the drawn arrays."""
    import pickle

    from gridflex.grid.scenarios import generate_scenarios

    k = study.chunk_size
    parts = [slice(a, min(n, a + k)) for a in range(0, n, k)]
    common = len(pickle.dumps((study, net))) * len(parts)  # every task carries the study and the network
    seeds = sum(len(pickle.dumps(ScenarioSeed(0, n).take(p))) for p in parts)
    drawn = generate_scenarios(study, net.load_mw, n, 0)
    arrays = sum(len(pickle.dumps(drawn.take(p))) for p in parts)
    return {"seeds": round((common + seeds) / n, 1), "arrays": round((common + arrays) / n, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--serial-check", type=int, default=200, help="Scenarios re-solved in this process.")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.smoke:
        a.scenarios, a.workers, a.repeat, a.serial_check = 40, [1, 2], 1, 40
    logging.getLogger("distributed").setLevel(logging.ERROR)

    study = load_study(ROOT / "examples" / "rts24.yaml")
    net = build_network(study)
    sc = ScenarioSeed(0, a.scenarios)
    shipped = shipped_bytes_per_scenario(study, net, a.scenarios)  # before a solve caches into `net`
    rows, zs = [], []
    for k in a.workers:
        print(f"{a.scenarios:,} scenarios on {k} worker(s)…", file=sys.stderr)
        row, z = run_workers(study, net, sc, k, a.repeat)
        rows.append(row)
        zs.append(z)
    n_check = min(a.serial_check, a.scenarios)
    print(f"{n_check} scenarios serially in this process…", file=sys.stderr)
    serial = solve_state(study, net, sc.take(slice(0, n_check)), 1.0).z
    same = all((z == zs[0]).all() for z in zs) and bool((zs[0][:n_check] == serial).all())
    base = rows[0]["wall_s_median"]
    for r in rows:
        r["speedup_vs_first"] = round(base / r["wall_s_median"], 2)
    # the projection: the client's serial part (scheduling, shipping seeds, collecting) + worker CPU / N
    cpu_per = statistics.median(r["worker_cpu_ms_per_scenario"] for r in rows) / 1e3
    client_per = min(r["client_cpu_s"] for r in rows) / a.scenarios  # least inflated by a long wall
    serial_s = client_per * a.scenarios
    scaling = {
        "model": "wall(N) = client + n·worker_cpu_per_scenario / N, with a free core per worker",
        "client_cpu_s_per_scenario": round(client_per, 7),
        "worker_cpu_s_per_scenario": round(cpu_per, 7),
        "projected_wall_s": {
            str(n): round(serial_s + a.scenarios * cpu_per / n, 1) for n in (1, 2, 4, 8, 16, 32, 64)
        },
        "speedup_bound": round((serial_s + a.scenarios * cpu_per) / serial_s, 1) if serial_s > 0 else None,
    }
    doc = {
        "study": "examples/rts24.yaml (current state)",
        "scenarios": a.scenarios,
        "drawn_in": "workers (the client ships seeds)",
        "task_bytes_per_scenario": shipped,
        "cpus": os.cpu_count(),
        "runs": rows,
        "same_z_for_every_worker_count_and_serial": same,
        "serial_check_scenarios": n_check,
        "scaling": scaling,
    }
    print(json.dumps(doc))
    if not same:
        print("error: the z matrix depends on the workers (see runs[].score)", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
