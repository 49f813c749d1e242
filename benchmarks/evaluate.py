"""Grid flexibility evaluation figures on IEEE RTS-24, printed as JSON.

    .venv/bin/python benchmarks/evaluate.py [--scenarios 1000] [--workers 2] [--repeat 3] [--pypsa 20]

* ours: the *current* state of examples/rts24.yaml (two storage units), ``--scenarios`` × 24 h,
  multi-period DC-OPF per scenario on a local process pool of ``--workers``: wall time in total and
  per scenario (median of ``--repeat`` runs; process start-up included), and the whole
  ``evaluate`` (3 states + sensitivity sweep + capacity) once;
* the peer: the same study built in PyPSA (``pip install pypsa``, the ``bench`` extra) and solved
  with HiGHS through ``Network.optimize()`` for ``--pypsa`` scenarios, one model per scenario (PyPSA
  has no re-solve of a kept model with new bounds). For equal results the costs are made linear
  (marginal cost c1, no quadratic or constant term) on both sides; the objectives are compared per
  scenario and the per-scenario times (serial, one process each side) are given as a ratio
  (``speedup_per_scenario``: PyPSA's time over ours); without PyPSA the JSON says how to install it.

``--smoke`` runs tiny sizes (3 scenarios, 2 side by side) and prints the same one JSON document.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from gridflex.grid.evaluation import build_model, evaluate, memory_estimate, solve_state
from gridflex.grid.scenarios import generate_scenarios
from gridflex.grid.study import Study, build_network, bus_positions, load_study
from gridflex.parallel import runner

ROOT = Path(__file__).resolve().parents[1]


def ours(study: Study, n: int, workers: int, repeat: int) -> dict:
    net = build_network(study)
    sc = generate_scenarios(study, net.load_mw, n, seed=0)
    times, state = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        state = solve_state(study, net, sc, 1.0, runner=runner(workers=workers))
        times.append(time.perf_counter() - t)
    assert state is not None
    total = statistics.median(times)
    t = time.perf_counter()
    full = evaluate(study, n, seed=0, runner=runner(workers=workers), net=net)
    full_s = time.perf_counter() - t
    mem = memory_estimate(study, n, net, workers)
    return {
        "scenarios": n,
        "periods": study.n_periods,
        "workers": workers,
        "memory_estimate_mb": {  # what evaluate() checks against the memory available before a run
            "total": round(mem.total_bytes / 1e6, 1),
            "per_model": round(mem.model_bytes / 1e6, 1),
            "models_at_once": mem.models,
        },
        "current_state_total_s": round(total, 3),
        "current_state_per_scenario_ms": round(1e3 * total / n, 3),
        "current_state_runs_s": [round(x, 3) for x in times],
        "highs_time_inside_per_scenario_ms": round(1e3 * state.solver_time_s / n, 3),
        "current_state_score": round(state.score, 3),
        "full_evaluate_s": round(full_s, 3),
        "full_evaluate_solves": int(full.timings["n_solves"]),
        "scores": {k: round(v.score, 3) for k, v in full.states.items()},
    }


def _linear(study: Study):
    net = build_network(study)
    net = dataclasses.replace(net, gen_cost_c2=np.zeros(net.n_gens), gen_cost_c0=np.zeros(net.n_gens))
    return study.model_copy(update={"pwl_segments": 1}), net


def pypsa_side_by_side(study: Study, n: int) -> dict:
    try:
        import pypsa
    except ImportError as exc:
        return {
            "available": False,
            "reason": f"pypsa not importable: {exc}; install the bench extra: pip install -e '.[bench]'",
        }
    logging.getLogger("pypsa").setLevel(logging.ERROR)
    logging.getLogger("linopy").setLevel(logging.ERROR)
    study, net = _linear(study)
    sc = generate_scenarios(study, net.load_mw, n, seed=0)
    t0 = time.perf_counter()
    m = build_model(study, net, 1.0)
    m.solve(sc.expected_load_mw)  # the reference basis, as in evaluate()
    basis = m.m.basis()
    build_s = time.perf_counter() - t0
    ours_obj, ours_t = [], []
    for s in range(n):
        t = time.perf_counter()
        m.m.restart_from(basis)
        res = m.solve(sc.load_mw[s])
        ours_t.append(time.perf_counter() - t)
        ours_obj.append(res.cost_eur)
    theirs_obj, theirs_t = [], []
    try:
        for s in range(n):
            t = time.perf_counter()
            obj = _solve_pypsa(pypsa, study, net, sc.load_mw[s])
            theirs_t.append(time.perf_counter() - t)
            theirs_obj.append(obj)
    except Exception as exc:  # report, do not fake numbers
        return {
            "available": False,
            "pypsa_version": pypsa.__version__,
            "reason": f"{type(exc).__name__}: {exc}",
        }
    a, b = np.array(ours_obj), np.array(theirs_obj)
    per_ours, per_theirs = statistics.median(ours_t), statistics.median(theirs_t)
    return {
        "available": True,
        "pypsa_version": pypsa.__version__,
        "scenarios": n,
        "costs": "linear (c1) on both sides; shed/spill 1e4 EUR/MWh",
        "objective_max_rel_diff": float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))),
        "objective_mean_eur": {"gridflex": float(a.mean()), "pypsa": float(b.mean())},
        "per_scenario_ms": {"gridflex": round(1e3 * per_ours, 3), "pypsa": round(1e3 * per_theirs, 3)},
        "speedup_per_scenario": round(per_theirs / per_ours, 1),
        "speedup_means": "PyPSA's median time per scenario / gridflex's (above 1: gridflex is faster)",
        "gridflex_per_scenario_ms_incl_build": round(1e3 * (build_s + sum(ours_t)) / n, 3),
        "speedup_incl_build": round(per_theirs / ((build_s + sum(ours_t)) / n), 1),
        "note": "medians over the scenarios, serial, one process each; gridflex: one kept model re-solved "
        "from the reference basis (as evaluate() does), model build reported separately; "
        "pypsa: Network built and optimize() called per scenario (model build + HiGHS)",
    }


def _solve_pypsa(pypsa, study: Study, net, load_mw: np.ndarray) -> float:
    t_n = load_mw.shape[0]
    n = pypsa.Network()
    n.set_snapshots(range(t_n))
    buses = [f"b{i}" for i in range(net.n_buses)]
    for b in buses:
        n.add("Bus", b, v_nom=1.0)  # x in per unit of one common base: DC flows depend on ratios only
    for k in range(net.n_lines):
        rate = float(net.line_rate_mw[k]) if study.enforce_lines else np.inf
        n.add(
            "Line",
            f"l{k}",
            bus0=buses[net.line_from[k]],
            bus1=buses[net.line_to[k]],
            x=float(net.line_x_pu[k]),
            r=0.0,
            s_nom=rate if np.isfinite(rate) else 1e6,
        )
    for g in range(net.n_gens):
        pmax = float(net.gen_pmax_mw[g])
        if pmax <= 0:
            continue
        ramp = float(net.gen_ramp_mw_per_h[g]) * study.dt_h / pmax
        kw = (
            {}
            if not (study.ramp and np.isfinite(ramp) and ramp < 1)
            else {"ramp_limit_up": ramp, "ramp_limit_down": ramp}
        )
        n.add(
            "Generator",
            f"g{g}",
            bus=buses[net.gen_bus[g]],
            p_nom=pmax,
            p_min_pu=float(net.gen_pmin_mw[g]) / pmax,
            marginal_cost=float(net.gen_cost_c1[g]),
            **kw,
        )
    bus_load = load_mw @ _incidence(net)  # (T, B)
    for i, b in enumerate(net.load_bus):
        n.add("Load", f"d{i}", bus=buses[b], p_set=load_mw[:, i])
    shed_bus = np.unique(net.load_bus)
    for b in shed_bus:
        cap = max(float(bus_load[:, b].max()), 1e-6)
        n.add("Generator", f"shed{b}", bus=buses[b], p_nom=cap, p_max_pu=np.maximum(bus_load[:, b], 0) / cap,
              marginal_cost=study.shed_cost_eur_per_mwh)  # fmt: skip
    a = study.storage_arrays(1.0)
    st_bus = bus_positions(net, a["bus_id"], "storage")
    spill_bus = np.unique(np.concatenate([net.load_bus, net.gen_bus, st_bus]))
    for b in spill_bus:
        n.add("Generator", f"spill{b}", bus=buses[b], p_nom=1e5, p_min_pu=-1.0, p_max_pu=0.0,
              marginal_cost=-study.spill_cost_eur_per_mwh)  # fmt: skip
    for j in range(len(st_bus)):
        e, p = a["energy_mwh"][j], a["power_mw"][j]
        lo, hi, init = a["soc_min"][j] * e, a["soc_max"][j] * e, a["soc_init"][j] * e
        # PyPSA's SOC runs over [0, max_hours·p_nom]: shift ours by soc_min
        n.add("StorageUnit", f"s{j}", bus=buses[st_bus[j]], p_nom=p, max_hours=(hi - lo) / p,
              efficiency_store=a["eta_charge"][j], efficiency_dispatch=a["eta_discharge"][j],
              state_of_charge_initial=init - lo, cyclic_state_of_charge=False,
              state_of_charge_set=[np.nan] * (t_n - 1) + [init - lo])  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status, cond = n.optimize(solver_name="highs", solver_options={"output_flag": False})
    if status != "ok":
        raise RuntimeError(f"PyPSA/HiGHS status {status} ({cond})")
    return float(n.objective) * study.dt_h


def _incidence(net) -> np.ndarray:
    inc = np.zeros((net.n_loads, net.n_buses))
    inc[np.arange(net.n_loads), net.load_bus] = 1.0
    return inc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default=str(ROOT / "examples" / "rts24.yaml"))
    ap.add_argument("--scenarios", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pypsa", type=int, default=20, help="Scenarios run side by side with PyPSA (0: skip).")
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny sizes: checks the script runs (the test suite)."
    )
    args = ap.parse_args()
    if args.smoke:
        args.scenarios, args.workers, args.repeat, args.pypsa = 3, 1, 1, 2
    study = load_study(args.study)
    out = {
        "study": study.name,
        "ours": ours(study, args.scenarios, args.workers, args.repeat),
        "pypsa": pypsa_side_by_side(study, args.pypsa)
        if args.pypsa
        else {"available": False, "reason": "skipped"},
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
