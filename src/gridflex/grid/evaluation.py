"""Flexibility evaluation of a transmission network (Guo, Li, Deng, Energies 2025, generalised).

``evaluate(study, n_scenarios, seed)`` runs:

1. seeded scenarios of load and renewables (:mod:`gridflex.grid.scenarios`);
2. a multi-period DC-OPF per scenario and state, with load-shed and over-generation slacks at every
   bus priced far above any fuel cost;
3. the balance matrix ``z(s, t)`` and its scores in the paper's three states — *simulated* (no
   storage), *current* (installed storage), *future* (storage × ``states.future_storage_scale``);
4. a storage sweep and the fit ``score = β·ln(E) + γ``;
5. the available flexible capacity of the expected-load scenario with installed storage.

**The z rule.** ``z(s, t) = 1`` when the OPF of scenario s solved to optimality and, in period t,
``Σ_b shed_mw(t, b) + Σ_b spill_mw(t, b) ≤ tolerance_mw``; otherwise 0. ``shed`` is load not
served, ``spill`` is forced over-generation (generation the network cannot absorb, e.g. units at
their minimum, ramp limits, or SOC_end = SOC_init); both are priced at ``shed_cost_eur_per_mwh`` /
``spill_cost_eur_per_mwh`` (default 10 000 EUR/MWh, far above any fuel cost), so the OPF uses them
only when no dispatch of generators, storage and renewable curtailment within the network's limits
balances the period. Curtailing renewables is not an imbalance. A scenario whose solve fails counts
as 0 in every period.

Results, scores and ``summary.json`` live in :mod:`gridflex.grid.summary`; the storage sweep's fit
and the economic model in :mod:`gridflex.grid.economics`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gridflex.errors import Problem, SolverError, ValidationError
from gridflex.grid import limits
from gridflex.grid.capacity import (
    Capacity,
    combine,
    generation_capacity,
    load_capacity,
    load_limit_capacity,
    storage_capacity,
)
from gridflex.grid.economics import sweep
from gridflex.grid.scenarios import Scenarios, ScenarioSeed, expected_load_mw, expected_renewable_mw
from gridflex.grid.study import Study, as_study, build_network, unit_data, validate_study_buses
from gridflex.grid.summary import STATES, UNDECIDED, EvaluationResult, StateResult

if TYPE_CHECKING:  # pragma: no cover
    from gridflex.grid.network import Network
    from gridflex.grid.opf import MultiPeriodDCOPF, OPFResult


# ---- balance ------------------------------------------------------------------------------------


def balance_z(res: OPFResult, tolerance_mw: float, certain: np.ndarray | None = None) -> np.ndarray:
    """(T,) int8: 1 where the period is balanced (see the module docstring for the rule).

    A solve stopped by the MILP time limit still has a feasible schedule: a period balanced in it
    is balanced (1); one out of balance in it is 0 only where ``certain`` (:func:`certain_imbalance`)
    proves it, else :data:`UNDECIDED`. Any other status counts 0 in every period.
    """
    shed = np.asarray(res.shed_mw).sum(axis=1)
    spill = np.asarray(res.spill_mw).sum(axis=1)
    ok = shed + spill <= tolerance_mw
    if str(res.status) == "time_limit":
        sure = np.zeros(len(ok), dtype=bool) if certain is None else np.asarray(certain, dtype=bool)
        return np.where(ok, 1, np.where(sure, 0, UNDECIDED)).astype(np.int8)
    if not _optimal(res):
        return np.zeros(len(shed), dtype=np.int8)
    return ok.astype(np.int8)


def certain_imbalance(
    study: Study | str | Path,
    net: Network,
    scale: float,
    load_mw: np.ndarray,
    renewable_mw: np.ndarray | None,
    online: np.ndarray | None = None,
) -> np.ndarray:
    """(T,) bool: periods out of balance in *every* schedule, by a copper-plate bound.

    Spill is at least ``Σ pmin (units in service) + Σ import_min − load − Σ P_charge`` (renewables
    curtailed to 0, storage charging at full power) and shed at least ``load − Σ pmax − renewables
    − Σ P_discharge − Σ import_max``; lines only make either larger. Above the tolerance, the period
    is out of balance whatever the MILP would have found.
    """
    study = as_study(study)
    units = unit_data(study, net)
    on = np.ones(net.n_gens) if online is None else np.asarray(online, dtype=float)
    load = np.asarray(load_mw, dtype=float).sum(axis=1)
    ren = np.zeros(len(load)) if renewable_mw is None else np.asarray(renewable_mw, dtype=float).sum(axis=1)
    a = study.storage_arrays(scale)
    lo = sum((study.import_bounds(i)[0] for i in range(len(study.imports))), np.zeros(len(load)))
    hi = sum((study.import_bounds(i)[1] for i in range(len(study.imports))), np.zeros(len(load)))
    surplus = units.pmin_mw @ on + lo - load - a["charge_power_mw"].sum()
    short = load - units.pmax_mw @ on - ren - a["discharge_power_mw"].sum() - hi
    return np.asarray((surplus > study.tolerance_mw) | (short > study.tolerance_mw))


def _optimal(res: OPFResult) -> bool:
    return str(res.status) == "optimal"


# ---- runners ----------------------------------------------------------------------------------
Runner = Callable[[Callable[[Any], Any], Sequence[Any], Callable[[int], None] | None], list[Any]]
"""``runner(fn, chunks, on_chunk)`` returns ``[fn(c) for c in chunks]`` in order, calling ``on_chunk(i)``
as chunk ``i`` completes. Adapters hand in a parallel one (``gridflex.parallel.runner``)."""


def run_serial(
    fn: Callable[[Any], Any], chunks: Sequence[Any], on_chunk: Callable[[int], None] | None = None
) -> list[Any]:
    """The default runner: every chunk in this process, in order."""
    out = []
    for i, c in enumerate(chunks):
        out.append(fn(c))
        if on_chunk is not None:
            on_chunk(i)
    return out


# ---- workers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    key: str  # identifies (study, network, scale): one model per process/thread and key
    study: Study
    net: Network
    scale: float  # 0 = no storage
    scenarios: Scenarios | ScenarioSeed  # a seed is drawn in the worker (nothing else shipped)

    @property
    def n(self) -> int:
        return self.scenarios.n


@dataclass(frozen=True)
class _ChunkResult:
    z: np.ndarray
    shed_mwh: np.ndarray
    spill_mwh: np.ndarray
    cost_eur: np.ndarray
    solved: np.ndarray
    solver_time_s: float
    build_time_s: float
    limited: np.ndarray  # (n,) bool: the MILP time limit stopped the solve


class _ModelCache(threading.local):
    """One model per thread: the last key's (a worker solves the chunks of one scale after another).

    A model of T periods holds about 0.5 MB per period on RTS-24 inside HiGHS; keeping one per storage
    scale (10 on examples/rts24.yaml) made memory grow 5.7 MB per period. Thread-local, so a thread's
    model goes with the thread.
    """

    key: str | None = None
    model: MultiPeriodDCOPF | None = None
    basis: Any = None


_CACHE = _ModelCache()


def cached_models() -> int:
    """Models kept by this thread (0 or 1): what a long-lived worker holds between tasks."""
    return int(_CACHE.model is not None)


def release_models() -> None:
    """Forget this thread's cached model (``evaluate`` calls it when the solves are done)."""
    _CACHE.key, _CACHE.model, _CACHE.basis = None, None, None


def build_model(
    study: Study | str | Path, net: Network, scale: float, n_periods: int | None = None
) -> MultiPeriodDCOPF:
    """The study's multi-period DC-OPF with storage × ``scale`` (no storage when 0).

    ``n_periods`` (default: the study's) builds the same model over fewer periods, e.g. to size it.
    """
    from gridflex.grid.opf import Imports, MultiPeriodDCOPF, Renewables, Storage
    from gridflex.grid.study import bus_positions

    study = as_study(study)
    t = study.n_periods if n_periods is None else n_periods
    rows = np.arange(t) % study.n_periods  # the study's per-period data over t periods (sizing models)
    storage = None
    if study.storage and scale > 0:
        a = study.storage_arrays(scale)
        storage = Storage(
            bus=bus_positions(net, a["bus_id"], "storage"),
            power_mw=a["power_mw"],
            charge_power_mw=a["charge_power_mw"],
            discharge_power_mw=a["discharge_power_mw"],
            energy_mwh=a["energy_mwh"],
            eta_charge=a["eta_charge"],
            eta_discharge=a["eta_discharge"],
            soc_min=a["soc_min"],
            soc_max=a["soc_max"],
            soc_init=a["soc_init"],
        )
    renewables = None
    if study.renewables:
        renewables = Renewables(
            bus=bus_positions(net, np.array([r.bus for r in study.renewables]), "renewables"),
            kind=np.array([r.kind for r in study.renewables]),
        )
    imports = None
    if study.imports:
        bounds = [study.import_bounds(i) for i in range(len(study.imports))]
        imports = Imports(
            bus=bus_positions(net, np.array([x.bus for x in study.imports]), "imports"),
            min_mw=np.stack([b[0] for b in bounds], axis=1)[rows],
            max_mw=np.stack([b[1] for b in bounds], axis=1)[rows],
            price_eur_per_mwh=np.array([x.price_eur_per_mwh for x in study.imports], dtype=float),
        )
    units = unit_data(study, net)
    return MultiPeriodDCOPF(
        net,
        t,
        dt_h=study.dt_h,
        storage=storage,
        renewables=renewables,
        pwl_segments=study.pwl_segments,
        shed_cost_eur_per_mwh=study.shed_cost_eur_per_mwh,
        spill_cost_eur_per_mwh=study.spill_cost_eur_per_mwh,
        enforce_lines=study.enforce_lines,
        ramp=study.ramp,
        milp_rel_gap=study.solver.milp_rel_gap,
        milp_time_limit_s=study.solver.milp_time_limit_s,
        gen_limits_mw=(units.pmin_mw[rows], units.pmax_mw[rows]),
        ramp_up_mw_per_h=units.ramp_up_mw_per_h,
        ramp_down_mw_per_h=units.ramp_down_mw_per_h,
        imports=imports,
    )


def _model_for(task: _Task) -> tuple[MultiPeriodDCOPF, Any, float]:
    """The model of this thread for the task's key (cached), and the basis every solve starts from.

    The basis is that of the expected scenario. Starting every scenario from the same basis makes its
    result depend on the scenario only, not on which scenarios the worker solved before: the OPF is
    degenerate (e.g. which of two equally short periods sheds), so a basis carried over from the
    previous scenario could pick another optimal vertex, and the z matrix would depend on the
    number of workers.
    """
    if _CACHE.key == task.key and _CACHE.model is not None:
        return _CACHE.model, _CACHE.basis, 0.0
    release_models()  # free the old model before building the new one: never two at once
    t0 = time.perf_counter()
    m = build_model(task.study, task.net, task.scale)
    basis = None
    try:  # the expected scenario, all units in service
        m.solve(expected_load_mw(task.study, task.net.load_mw), expected_renewable_mw(task.study))
        basis = m.m.basis()
    except SolverError:
        basis = None
    _CACHE.key, _CACHE.model, _CACHE.basis = task.key, m, basis
    return m, basis, time.perf_counter() - t0


def solve_chunk(task: _Task) -> _ChunkResult:
    """Solve the scenarios of one task on one (cached, warm) model; module-level for process pools."""
    m, basis, build_s = _model_for(task)
    sc = task.scenarios
    if isinstance(sc, ScenarioSeed):  # drawn here, in the worker: the same bits as a draw in the client
        sc = sc.draw(task.study, task.net.load_mw, unit_data(task.study, task.net).outage_rate)
    n, t = sc.n, sc.n_periods
    z = np.zeros((n, t), dtype=np.int8)
    shed = np.zeros((n, t))
    spill = np.zeros((n, t))
    cost = np.full(n, np.nan)
    solved = np.zeros(n, dtype=bool)
    limited = np.zeros(n, dtype=bool)
    solver_s = 0.0
    dt = task.study.dt_h
    for s in range(n):
        ren = None if sc.renewable_mw is None else sc.renewable_mw[s]
        online = None if sc.online is None else sc.online[s]
        m.m.restart_from(basis)
        try:
            res = m.solve(sc.load_mw[s], ren, online)
        except SolverError:  # counted as out of balance in every period (z = 0), reported in summary
            continue
        solver_s += float(getattr(res, "time_solver_s", 0.0))
        solved[s] = _optimal(res)
        limited[s] = str(res.status) == "time_limit"
        certain = None
        if limited[s]:
            certain = certain_imbalance(task.study, task.net, task.scale, sc.load_mw[s], ren, online)
        z[s] = balance_z(res, task.study.tolerance_mw, certain)
        shed[s] = np.asarray(res.shed_mw).sum(axis=1) * dt
        spill[s] = np.asarray(res.spill_mw).sum(axis=1) * dt
        cost[s] = float(res.cost_eur)
    return _ChunkResult(z, shed, spill, cost, solved, solver_s, build_s, limited)


# ---- orchestration ------------------------------------------------------------------------------


def _study_key(study: Study) -> str:
    return hashlib.sha1(study.model_dump_json().encode()).hexdigest()[:16]


def _run_scales(
    study: Study,
    net: Network,
    sc: Scenarios | ScenarioSeed,
    needed: dict[float, int],
    runner: Runner,
    progress: Callable[[int, int], None] | None,
) -> dict[float, _ChunkResult]:
    """Solve the first ``needed[scale]`` scenarios for every storage scale, in one batch of the runner.

    With a :class:`ScenarioSeed` the tasks carry the seed and their first scenario, and each worker
    draws its chunk; with drawn :class:`Scenarios` they carry the chunk's arrays.
    """
    key = _study_key(study)
    tasks: list[_Task] = []
    owner: list[float] = []
    for scale, n in needed.items():
        for a in range(0, n, study.chunk_size):
            b = min(n, a + study.chunk_size)
            tasks.append(_Task(f"{key}:{scale!r}", study, net, scale, sc.take(slice(a, b))))
            owner.append(scale)
    total = sum(needed.values())
    done = 0
    if progress is not None:
        progress(0, total)  # the total is known before the first solve

    def on_chunk(i: int) -> None:
        nonlocal done
        done += tasks[i].n
        if progress is not None:
            progress(done, total)

    try:
        results = runner(solve_chunk, tasks, on_chunk)
    finally:
        release_models()  # a serial run solved here: do not keep its last model after the run
    out: dict[float, _ChunkResult] = {}
    for scale in needed:
        parts = [r for r, o in zip(results, owner, strict=True) if o == scale]
        out[scale] = _ChunkResult(
            np.concatenate([p.z for p in parts]),
            np.concatenate([p.shed_mwh for p in parts]),
            np.concatenate([p.spill_mwh for p in parts]),
            np.concatenate([p.cost_eur for p in parts]),
            np.concatenate([p.solved for p in parts]),
            sum(p.solver_time_s for p in parts),
            sum(p.build_time_s for p in parts),
            np.concatenate([p.limited for p in parts]),
        )
    return out


def solve_state(
    study: Study | str | Path,
    net: Network,
    sc: Scenarios | ScenarioSeed,
    scale: float = 1.0,
    name: str = "current",
    runner: Runner | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StateResult:
    """Balance matrix of every scenario of ``sc`` with storage × ``scale`` (0: none), in parallel.

    ``sc`` is drawn scenarios (shipped to the workers) or a :class:`ScenarioSeed` (drawn there)."""
    study = as_study(study)
    r = _run_scales(study, net, sc, {float(scale): sc.n}, runner or run_serial, progress)[float(scale)]
    return StateResult(
        name, float(scale), r.z, r.shed_mwh, r.spill_mwh, r.cost_eur, r.solved, r.solver_time_s, r.limited
    )


def representative_capacity(study: Study | str | Path, net: Network) -> Capacity:
    """Available capacity (paper eqs. 18-37) of the expected-load scenario with installed storage."""
    study = as_study(study)
    m = build_model(study, net, 1.0)
    expected = expected_load_mw(study, net.load_mw)
    res = m.solve(expected, expected_renewable_mw(study))
    dt = study.dt_h
    units = unit_data(study, net)
    gen = generation_capacity(
        np.asarray(res.gen_mw), units.pmin_mw, units.pmax_mw, units.ramp_up_mw_per_h, dt,
        units.ramp_down_mw_per_h, 1.0 - units.outage_rate,
    )  # fmt: skip
    t = study.n_periods
    dr = study.demand_response
    nominal = np.zeros((t, len(dr)))
    for j, d in enumerate(dr):
        nominal[:, j] = np.broadcast_to(np.asarray(d.nominal_mw, dtype=float), (t,))
    from gridflex.grid.study import bus_positions

    node = bus_positions(net, np.array([d.bus for d in dr], dtype=np.int64), "demand_response")
    load = load_capacity(
        np.array([d.q for d in dr]), np.array([d.delta for d in dr]), nominal, node, study.alpha,
        rule=study.capacity.load_rule,
    )  # fmt: skip
    if study.capacity.load_total == "limits":
        lim = study.load_limits
        pos = bus_positions(net, np.array([x.bus for x in lim], dtype=np.int64), "load_limits")
        served = net.bus_load_mw(expected) - np.asarray(res.shed_mw)  # (T, B)
        total = load_limit_capacity(
            served[:, pos],
            np.stack([study.series(x.min_mw) for x in lim], axis=1),
            np.stack([study.series(x.max_mw) for x in lim], axis=1),
        )
        load = (total, load[1])
    a = study.storage_arrays(1.0)
    n_st = len(study.storage)
    empty = np.zeros((t, 0))
    stor = storage_capacity(
        np.asarray(res.charge_mw) if n_st else empty,
        np.asarray(res.discharge_mw) if n_st else empty,
        np.asarray(res.soc_mwh) if n_st else empty,
        a["discharge_power_mw"],
        a["energy_mwh"],
        a["eta_charge"],
        a["eta_discharge"],
        a["soc_min"],
        a["soc_max"],
        a["soc_init"],
        dt,
        a["charge_power_mw"],
        study.capacity.storage_rule,
    )
    return combine(expected.sum(axis=1), {"generation": gen, "load": load, "storage": stor})


# ---- the plan and its limits, known before any work --------------------------------------------


@dataclass(frozen=True)
class SolvePlan:
    """Which storage scales are solved for how many scenarios (the states, then the sweep)."""

    state_scale: dict[str, float]
    sens_scales: list[float]
    sens_n: int
    needed: dict[float, int]  # storage scale -> scenarios solved with it

    @property
    def n_solves(self) -> int:
        return sum(self.needed.values())


def solve_plan(study: Study | str | Path, n_scenarios: int) -> SolvePlan:
    """The solves ``evaluate(study, n_scenarios)`` runs; ``.n_solves`` is the progress total."""
    study = as_study(study)
    has_storage = bool(study.storage)
    state_scale = {"simulated": 0.0, "current": 1.0, "future": study.states.future_storage_scale}
    if not has_storage:
        state_scale = dict.fromkeys(STATES, 0.0)
    sens_n = min(study.sensitivity.n_scenarios or n_scenarios, n_scenarios)
    sens_scales = [float(x) for x in study.sensitivity.scales] if has_storage else []
    needed: dict[float, int] = {}
    for scale in state_scale.values():
        needed[scale] = n_scenarios
    for scale in sens_scales:
        needed[scale] = max(needed.get(scale, 0), sens_n)
    return SolvePlan(state_scale, sens_scales, sens_n, needed)


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a run, bytes, as ``fixed + per_scenario · n_scenarios`` (see gridflex.grid.limits)."""

    model_bytes: int  # one OPF model of the study's periods
    models: int  # held at once: one per worker process (one when serial)
    fixed_bytes: int  # the models, a task's scenarios per worker, and the worker processes
    per_scenario_bytes: int  # the results of every solve (the scenarios are drawn per task)
    n_scenarios: int

    @property
    def total_bytes(self) -> int:
        return self.fixed_bytes + self.per_scenario_bytes * self.n_scenarios

    def max_scenarios(self, available_bytes: int) -> int:
        return max(0, (available_bytes - self.fixed_bytes) // max(1, self.per_scenario_bytes))


def memory_estimate(
    study: Study | str | Path, n_scenarios: int, net: Network, workers: int = 1
) -> MemoryEstimate:
    """Estimate the peak memory of ``evaluate``; builds the model over 2 and 3 periods only (ms)."""
    study = as_study(study)
    t = study.n_periods
    sizes = []
    for n in (2, 3):  # the model grows linearly with the periods: two points give the line
        a = build_model(study, net, 1.0, n_periods=n).m.arrays().a
        sizes.append((a.nnz, a.shape[0] + a.shape[1]))
    nnz = sizes[0][0] + (t - 2) * (sizes[1][0] - sizes[0][0])
    rc = sizes[0][1] + (t - 2) * (sizes[1][1] - sizes[0][1])
    model = limits.MODEL_BYTES_PER_NONZERO * max(nnz, 0) + limits.MODEL_BYTES_PER_ROW_OR_COLUMN * max(rc, 0)
    models = max(1, workers)
    processes = workers if workers > 1 else 0
    solves_per_scenario = len(solve_plan(study, 1).needed)  # an upper bound: the sweep may solve fewer
    width = net.n_loads + 1 + len(study.renewables)  # + the common factor of the node correlation
    chunk = limits.SCENARIO_PEAK_FACTOR * 8 * width * t * study.chunk_size  # drawn in each worker, per task
    per_scenario = t * limits.RESULT_BYTES_PER_SOLVE_PERIOD * solves_per_scenario  # results, in the client
    fixed = models * (model + chunk) + processes * limits.WORKER_PROCESS_BYTES
    return MemoryEstimate(int(model), models, int(fixed), int(per_scenario), int(n_scenarios))


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def check_evaluation(
    study: Study | str | Path,
    n_scenarios: int,
    net: Network,
    workers: int = 1,
    available_bytes: int | None = None,
    seed: int = 0,
) -> list[Problem]:
    """Problems that stop ``evaluate`` before any work: scenario count, seed, buses, memory.

    ``available_bytes`` defaults to the memory this machine has available now
    (:func:`gridflex.grid.limits.available_memory_bytes`); the check is skipped when it is unknown.
    Problems name ``n_scenarios`` (object "evaluate") or the study field (``load.shape``).
    """
    study = as_study(study)
    if isinstance(n_scenarios, bool) or not isinstance(n_scenarios, int | np.integer) or n_scenarios < 1:
        return [Problem("evaluate", "n_scenarios", f"must be a whole number >= 1, got {n_scenarios!r}")]
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        return [Problem("evaluate", "seed", f"must be a whole number >= 0, got {seed!r}")]
    problems = validate_study_buses(study, net)
    if problems:
        return problems
    avail = limits.available_memory_bytes() if available_bytes is None else available_bytes
    if avail is None:
        return []
    est = memory_estimate(study, int(n_scenarios), net, workers)
    if est.total_bytes <= avail:
        return []
    t = study.n_periods
    per = f" × {est.models} worker processes" if est.models > 1 else ""
    if est.fixed_bytes + est.per_scenario_bytes > avail:  # not even one scenario: the model is too large
        return [
            Problem(
                "study",
                "load.shape",
                f"{t:,} periods need about {_gb(est.model_bytes)} per OPF model{per}, "
                f"{_gb(avail)} of memory available: shorten the shape"
                + (" or use fewer workers" if est.models > 1 else ""),
            )
        ]
    return [
        Problem(
            "evaluate",
            "n_scenarios",
            f"{n_scenarios:,} scenarios of {t:,} periods need about {_gb(est.total_bytes)} of memory, "
            f"{_gb(avail)} available: at most {est.max_scenarios(avail):,} scenarios fit",
        )
    ]


def evaluate(
    study: Study | str | Path,
    n_scenarios: int,
    seed: int = 0,
    runner: Runner | None = None,
    progress: Callable[[int, int], None] | None = None,
    net: Network | None = None,
) -> EvaluationResult:
    """Run the whole evaluation (see the module docstring); ``progress(done, total)`` counts solves.

    ``study`` is a :class:`Study` or the path of a study file. ``runner`` maps the scenario chunks
    (serial by default); ``gridflex.parallel.runner(workers=..., scheduler=...)`` gives a process
    pool or a Dask cluster, with results identical to the serial run: a task carries the seed and its
    first scenario, and draws its scenarios where it runs (:mod:`gridflex.grid.scenarios`). Before any scenario is drawn,
    :func:`check_evaluation` refuses a run that cannot fit in memory (one ValidationError).
    ``progress`` is first called with ``(0, total)``: the number of solves is known up front.
    """
    study = as_study(study)
    t0 = time.perf_counter()
    net = build_network(study) if net is None else net
    problems = check_evaluation(study, n_scenarios, net, seed=seed)
    if problems:
        raise ValidationError("evaluation", problems)
    sc = ScenarioSeed(int(seed), n_scenarios)  # each task draws its own chunk, in the worker
    t_scen = time.perf_counter()

    plan = solve_plan(study, n_scenarios)
    state_scale, sens_scales, sens_n, needed = plan.state_scale, plan.sens_scales, plan.sens_n, plan.needed
    runs = _run_scales(study, net, sc, needed, runner or run_serial, progress)
    t_solve = time.perf_counter()

    states = {
        name: StateResult(
            name,
            scale,
            runs[scale].z[:n_scenarios],
            runs[scale].shed_mwh[:n_scenarios],
            runs[scale].spill_mwh[:n_scenarios],
            runs[scale].cost_eur[:n_scenarios],
            runs[scale].solved[:n_scenarios],
            runs[scale].solver_time_s,
            runs[scale].limited[:n_scenarios],
        )
        for name, scale in state_scale.items()
    }
    sens = sweep(study, {s: 100.0 * float((runs[s].z[:sens_n] == 1).mean()) for s in sens_scales}, sens_n)
    cap = representative_capacity(study, net)
    t_end = time.perf_counter()
    n_solves = sum(needed.values())
    timings = {
        "total": t_end - t0,
        "setup": t_scen - t0,  # network and checks; the scenarios are drawn inside the solve tasks
        "solve": t_solve - t_scen,
        "solver_inside_highs": sum(r.solver_time_s for r in runs.values()),
        "model_builds": sum(r.build_time_s for r in runs.values()),
        "capacity": t_end - t_solve,
        "n_solves": float(n_solves),
        "wall_per_solve": (t_solve - t_scen) / n_solves,
    }
    return EvaluationResult(study, n_scenarios, seed, states, sens, cap, timings)
