"""Balance matrix z, scores, log fit, storage effect on RTS-24, and serial = pool = Dask."""

from pathlib import Path

import numpy as np
import pytest

from gridflex.grid.economics import fit_log
from gridflex.grid.evaluation import balance_z, evaluate
from gridflex.grid.network import Network
from gridflex.grid.opf import OPFResult
from gridflex.grid.study import load_study, study_from_dict
from gridflex.grid.summary import StateResult
from gridflex.parallel import runner

ROOT = Path(__file__).resolve().parents[2]


def two_bus(pmax=(60.0, 40.0)) -> Network:
    """Two buses, one line; units of pmax 60 and 40 MW (Σ 100 MW); one 100 MW nominal load at bus 1."""
    return Network(
        name="two-bus", base_mva=100.0, bus_ids=np.array([0, 1]), line_from=np.array([0]),
        line_to=np.array([1]), line_x_pu=np.array([0.1]), line_rate_mw=np.array([np.inf]),
        gen_bus=np.array([0, 1]), gen_pmin_mw=np.zeros(2), gen_pmax_mw=np.array(pmax),
        gen_cost_c2=np.zeros(2), gen_cost_c1=np.array([10.0, 20.0]), gen_cost_c0=np.zeros(2),
        gen_ramp_mw_per_h=np.full(2, np.inf), gen_type=np.array(["a", "b"]), load_bus=np.array([1]),
        load_mw=np.array([100.0]), slack_bus=0,
    )  # fmt: skip


def tiny_study(shape, **extra):
    doc = {"network": {"case": "case9"}, "load": {"shape": shape}, "sensitivity": {"scales": [0.5, 1.0]}}
    doc.update(extra)
    return study_from_dict(doc)


def test_load_above_capacity_fails_exactly_those_periods():
    # Σ pmax = 100 MW; load 50, 120, 80, 101.5, 100.5 MW; tolerance 1 MW
    st = tiny_study([0.5, 1.2, 0.8, 1.015, 1.005])
    res = evaluate(st, 3, seed=0, net=two_bus())
    for state in res.states.values():
        np.testing.assert_array_equal(state.z, [[1, 0, 1, 0, 1]] * 3)
        np.testing.assert_allclose(state.shed_mwh[0], [0, 20, 0, 1.5, 0.5], atol=1e-6)
        assert state.failing_periods() == [1, 3]
        assert state.score == pytest.approx(60.0)


def test_forced_over_generation_is_out_of_balance():
    net = two_bus()
    import dataclasses

    net = dataclasses.replace(net, gen_pmin_mw=np.array([30.0, 0.0]))  # unit 0 cannot go below 30 MW
    st = tiny_study([0.5, 0.2, 0.8])  # 20 MW load in period 1 < 30 MW minimum
    res = evaluate(st, 2, seed=0, net=net)
    np.testing.assert_array_equal(res.states["simulated"].z, [[1, 0, 1]] * 2)
    np.testing.assert_allclose(res.states["simulated"].spill_mwh[0], [0, 10, 0], atol=1e-6)


def test_storage_shifts_energy_into_the_short_period():
    # 120 MW in period 1 of 3: a 30 MW / 60 MWh battery charged in the other periods balances it
    st = tiny_study(
        [0.7, 1.2, 0.7],
        storage=[{"id": "b", "bus": 1, "power_mw": 30, "energy_mwh": 60, "soc_min": 0.0, "soc_max": 1.0,
                  "soc_init": 0.5, "eta_charge": 1.0, "eta_discharge": 1.0}],
    )  # fmt: skip
    res = evaluate(st, 2, seed=0, net=two_bus())
    assert res.states["simulated"].score == pytest.approx(100 * 2 / 3)
    assert res.states["current"].score == 100.0
    assert res.sensitivity.score.tolist() == pytest.approx([100 * 2 / 3, 100.0])  # 15 MW battery is too small


def test_balance_z_rule_and_failed_solve():
    shed = np.array([[0.0, 0.0], [0.6, 0.6], [0.0, 0.9]])
    spill = np.array([[0.0, 0.0], [0.0, 0.0], [0.2, 0.0]])
    kw = {k: np.zeros((3, 1)) for k in ("gen_mw", "flow_mw", "charge_mw", "discharge_mw", "soc_mwh",
                                         "curtail_mw", "renewable_mw")}  # fmt: skip
    res = OPFResult("optimal", 0.0, shed_mw=shed, spill_mw=spill, time_solver_s=0, time_build_s=0,
                    used_milp=False, **kw)  # fmt: skip
    np.testing.assert_array_equal(balance_z(res, 1.0), [1, 0, 0])  # 1.2 > 1 and 0.9 + 0.2 > 1
    np.testing.assert_array_equal(balance_z(res, 1.2), [1, 1, 1])
    # a solve stopped by the time limit: balanced periods of its schedule are balanced, the others
    # undecided unless the copper-plate bound proves them out of balance
    res.status = "time_limit"
    np.testing.assert_array_equal(balance_z(res, 1.0), [1, -1, -1])
    np.testing.assert_array_equal(balance_z(res, 1.0, np.array([False, False, True])), [1, -1, 0])
    res.status = "infeasible"
    np.testing.assert_array_equal(balance_z(res, 1.0), [0, 0, 0])


def test_scores_arithmetic_with_undecided_periods_between_the_bounds():
    z = np.array([[1, 1, 1, 1], [1, 1, 0, 1], [1, 0, 0, 1], [1, 1, -1, 1]], dtype=np.int8)
    n = np.zeros(4)
    st = StateResult("current", 1.0, z, n, n, n, np.ones(4, dtype=bool), 0.0)
    np.testing.assert_allclose(st.score_per_period, [100, 75, 25, 100])
    np.testing.assert_allclose(st.score_per_scenario, [100, 75, 50, 75])
    assert st.score == pytest.approx(75.0)  # the undecided period counts as not balanced
    assert st.score_if_undecided_balanced == pytest.approx(100 * 13 / 16) and st.undecided == 1
    assert st.failing_periods() == [1, 2]  # provably out of balance only


def test_log_fit_recovers_parameters_and_skips_saturated_points():
    x = np.array([10.0, 20.0, 50.0, 100.0, 200.0, 400.0, 800.0])
    y = np.minimum(1.19 * np.log(x) + 85.14, 100.0)
    y[-2:] = 100.0  # saturated
    fit, saturated = fit_log(x, y, saturation_eps=0.05)
    assert saturated.tolist() == [False] * 5 + [True, True]
    assert fit.beta == pytest.approx(1.19) and fit.gamma == pytest.approx(85.14)
    assert fit.r2 == pytest.approx(1.0) and fit.n_points == 5
    none, _ = fit_log(np.array([1.0, 2.0]), np.array([99.0, 100.0]))
    assert none.beta is None and "need 2" in none.reason


def test_storage_lifts_the_rts24_score_where_the_paper_fails():
    st = load_study(ROOT / "examples" / "rts24.yaml")
    st = st.model_copy(
        update={"sensitivity": st.sensitivity.model_copy(update={"scales": [1.0], "n_scenarios": 5})}
    )
    res = evaluate(st, 40, seed=0)
    sim, cur = res.states["simulated"], res.states["current"]
    assert 85.0 < sim.score < 99.5
    assert cur.score > sim.score
    worst = np.argsort(sim.score_per_period)[:2]
    assert set(worst.tolist()) <= {16, 17, 18}  # T17..T19: the evening peak of the RTS peak day
    cap = res.capacity
    assert np.all(cap.available["system"].up_mw <= cap.total["system"].up_mw + 1e-9)
    assert cap.available["load"].up_mw[0] > 0 and cap.total["storage"].up_mw[0] == 100.0


@pytest.fixture(scope="module")
def small():
    st = tiny_study(
        [0.8, 0.95, 1.02, 0.9],
        load={"shape": [0.8, 0.95, 1.02, 0.9], "noise": {"sigma_pu": 0.05}},
        storage=[{"id": "b", "bus": 1, "power_mw": 5, "energy_mwh": 10}],
        chunk_size=2,
    )
    return st, evaluate(st, 7, seed=3, net=two_bus())


def _same(a, b):
    for name in a.states:
        np.testing.assert_array_equal(a.states[name].z, b.states[name].z)
        np.testing.assert_allclose(a.states[name].cost_eur, b.states[name].cost_eur, rtol=1e-9)
    np.testing.assert_array_equal(a.sensitivity.score, b.sensitivity.score)


def test_process_pool_equals_serial(small):
    st, serial = small
    assert 0 < serial.states["simulated"].score < 100  # the case is not trivial
    _same(serial, evaluate(st, 7, seed=3, runner=runner(workers=2), net=two_bus()))


def test_local_dask_equals_serial(small):
    distributed = pytest.importorskip("distributed")
    st, serial = small
    # a real cluster: two worker processes, each drawing the scenarios of the tasks it is given
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        _same(serial, evaluate(st, 7, seed=3, runner=runner(scheduler=c.scheduler_address), net=two_bus()))


def test_tasks_ship_the_seed_not_the_scenarios(small):
    import pickle

    from gridflex.grid.evaluation import run_serial
    from gridflex.grid.scenarios import ScenarioSeed

    st, serial = small
    shipped = []

    def spy(fn, chunks, on_chunk=None):
        shipped.extend(chunks)
        return run_serial(fn, chunks, on_chunk)

    _same(serial, evaluate(st, 7, seed=3, runner=spy, net=two_bus()))
    assert all(isinstance(t.scenarios, ScenarioSeed) and t.scenarios.seed == 3 for t in shipped)
    # chunks of 2: first scenarios 0, 2, 4, 6 for every storage scale
    assert sorted({(t.scenarios.first, t.scenarios.n) for t in shipped}) == [(0, 2), (2, 2), (4, 2), (6, 1)]
    # what a task weighs does not grow with the scenarios it stands for
    assert len(pickle.dumps(shipped[0].scenarios)) < 200


# ---- memory: one model per thread, none kept after a run ----------------------------------------


def _sweep_study(n_periods=48):
    shape = [0.6 + 0.4 * abs(np.sin(t / 5)) for t in range(n_periods)]
    return tiny_study(
        shape,
        load={"shape": shape, "noise": {"sigma_pu": 0.05}},
        storage=[{"id": "b", "bus": 1, "power_mw": 5, "energy_mwh": 10}],
        sensitivity={"scales": [0.25, 0.5, 0.75, 1.5, 3.0]},
        chunk_size=1,
    )


def test_at_most_one_cached_model_during_and_none_after_a_run():
    from gridflex.grid.evaluation import cached_models, run_serial

    seen = []

    def counting(fn, chunks, on_chunk=None):
        def each(c):
            out = fn(c)
            seen.append(cached_models())
            return out

        return run_serial(each, chunks, on_chunk)

    evaluate(_sweep_study(4), 2, seed=0, runner=counting, net=two_bus())
    assert len(seen) == 2 * 8 and max(seen) == 1  # 8 storage scales (0, 1, 2 and five sweep points)
    assert cached_models() == 0


def test_memory_does_not_grow_with_solves_over_many_scales():
    # numpy reports its buffers to tracemalloc, so a model kept per scale shows up here
    import tracemalloc

    from gridflex.grid.evaluation import _study_key, _Task, release_models, solve_chunk
    from gridflex.grid.scenarios import generate_scenarios

    st, net = _sweep_study(), two_bus()
    sc = generate_scenarios(st, net.load_mw, 2, seed=0)

    def task(scale):
        return _Task(f"{_study_key(st)}:{scale}", st, net, scale, sc)

    release_models()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        solve_chunk(task(1.0))
        one_model = tracemalloc.get_traced_memory()[0] - base
        for _ in range(2):
            for scale in (0.25, 0.5, 0.75, 1.5, 3.0, 4.0):
                solve_chunk(task(scale))
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
        release_models()
    assert one_model > 0
    assert grown < 1.5 * one_model, (one_model, grown)  # 12 solves over 6 scales hold one model, not six


# ---- limits checked up front, progress total, study or path ---------------------------------------


def test_progress_knows_the_total_before_the_first_solve():
    from gridflex.grid.evaluation import solve_plan

    st = _sweep_study(4)
    calls = []
    evaluate(st, 3, seed=0, progress=lambda done, total: calls.append((done, total)), net=two_bus())
    total = solve_plan(st, 3).n_solves
    assert total == 3 * 3 + 5 * 3  # states 0, 1, 2 and five sweep scales, 3 scenarios each
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert {t for _, t in calls} == {total}


def test_memory_check_refuses_too_many_scenarios_and_states_the_limit():
    from gridflex.errors import ValidationError
    from gridflex.grid.evaluation import check_evaluation, memory_estimate

    st, net = _sweep_study(4), two_bus()
    est = memory_estimate(st, 1000, net)
    avail = est.fixed_bytes + 500 * est.per_scenario_bytes
    assert check_evaluation(st, 500, net, available_bytes=avail) == []
    (p,) = check_evaluation(st, 501, net, available_bytes=avail)
    assert p.field == "n_scenarios" and "at most 500 scenarios fit" in p.message
    # a process pool holds one model per worker (and the workers themselves): fewer scenarios fit
    pool = memory_estimate(st, 1000, net, workers=2)
    assert pool.fixed_bytes > est.fixed_bytes
    (p,) = check_evaluation(
        st, 500, net, workers=2, available_bytes=pool.fixed_bytes + 100 * pool.per_scenario_bytes
    )
    assert p.field == "n_scenarios" and "at most 100 scenarios fit" in p.message
    with pytest.raises(ValidationError, match="n_scenarios: must be a whole number >= 1"):
        evaluate(st, 0, net=net)
    with pytest.raises(ValidationError, match="seed: must be a whole number >= 0, got -1"):
        evaluate(st, 2, seed=-1, net=net)  # not numpy's ValueError from SeedSequence
    with pytest.raises(ValidationError, match=r"n_scenarios: 1,000,000,000,000 scenarios .* at most"):
        evaluate(st, 10**12, net=net)  # refused before drawing: no MemoryError from numpy


def test_a_model_too_large_for_memory_is_refused_naming_the_shape():
    from gridflex.grid.evaluation import check_evaluation, memory_estimate

    st, net = _sweep_study(4), two_bus()
    long = _sweep_study(400)
    assert memory_estimate(long, 1, net).model_bytes > 50 * memory_estimate(st, 1, net).model_bytes
    (p,) = check_evaluation(long, 1, net, available_bytes=memory_estimate(long, 1, net).model_bytes // 2)
    assert p.field == "load.shape" and "400 periods need about" in p.message


def test_public_functions_that_take_a_study_take_its_path(tmp_path):
    import inspect

    import yaml

    import gridflex.grid.evaluation as ev
    import gridflex.grid.scenarios as scn
    import gridflex.grid.study as sty

    doc = {"network": {"case": "case9"}, "load": {"shape": [0.9, 1.0]}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    # every public function of the evaluation modules with a `study` argument says it takes a path
    for mod in (ev, scn, sty):
        for name, fn in vars(mod).items():
            if inspect.isfunction(fn) and not name.startswith("_") and fn.__module__ == mod.__name__:
                ann = inspect.signature(fn).parameters.get("study")
                if ann is not None:
                    assert "str | Path" in str(ann.annotation), f"{mod.__name__}.{name}"
    net = sty.build_network(path)
    sc = scn.generate_scenarios(path, net.load_mw, 2, seed=0)
    assert sc.load_mw.shape == (2, 2, net.n_loads)
    assert evaluate(str(path), 2, seed=0).states["current"].z.shape == (2, 2)
    assert ev.solve_state(path, net, sc).z.shape == (2, 2)
    assert ev.solve_plan(path, 2).n_solves == 2  # no storage: the three states are one set of solves
    with pytest.raises(TypeError, match="a Study or the path of a study file"):
        evaluate(doc, 2)
