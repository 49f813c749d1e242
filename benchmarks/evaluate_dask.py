"""Grid flexibility evaluation on a local multi-process Dask cluster: scaling with the workers, as JSON.

    .venv/bin/python benchmarks/evaluate_dask.py [--scenarios 2000] [--workers 1 2] [--smoke]

For each worker count, a ``distributed.LocalCluster`` of that many single-threaded processes solves
the *current* state of examples/rts24.yaml for ``--scenarios`` scenarios through the same runner
``gridflex evaluate --scheduler`` uses. Reported: wall time (median of ``--repeat``), scenarios per
second, speed-up over one worker, and the main process's CPU time (the workers' CPU is theirs).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from gridflex.grid.evaluation import solve_state
from gridflex.grid.scenarios import generate_scenarios
from gridflex.grid.study import build_network, load_study
from gridflex.parallel import runner

ROOT = Path(__file__).resolve().parents[1]


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
    from distributed import LocalCluster

    study = load_study(ROOT / "examples" / "rts24.yaml")
    net = build_network(study)
    sc = generate_scenarios(study, net.load_mw, a.scenarios, seed=0)
    rows = []
    for k in a.workers:
        with LocalCluster(
            n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            run = runner(scheduler=cluster.scheduler_address)
            walls, cpus, score = [], [], 0.0
            for _ in range(a.repeat):
                t, c = time.perf_counter(), time.process_time()
                score = solve_state(study, net, sc, 1.0, runner=run).score
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c)
        wall = statistics.median(walls)
        rows.append({"workers": k, "wall_s_median": round(wall, 3), "wall_s_runs": [round(w, 3) for w in walls],
                     "main_cpu_s": round(statistics.median(cpus), 3),
                     "scenarios_per_s": round(a.scenarios / wall, 1), "score": round(score, 3)})  # fmt: skip
    base = rows[0]["wall_s_median"]
    for r in rows:
        r["speedup_vs_first"] = round(base / r["wall_s_median"], 2)
    print(
        json.dumps({"study": "examples/rts24.yaml (current state)", "scenarios": a.scenarios, "runs": rows})
    )


if __name__ == "__main__":
    main()
