"""Multi-period DC-OPF: cross-checks against pandapower's DC OPF, invariants, warm re-solves, errors.

Tolerances: pandapower's ``rundcopp`` solves with PYPOWER's interior point (PIPS), converged to
about 1e-6 relative; HiGHS' simplex is exact to ~1e-9. Costs are compared at relative 1e-6,
flows and unique dispatches at 1e-3 MW. Linear-cost dispatch is degenerate where several units
share a cost (RTS-24's identical units, case39), so there we compare cost and flows only.
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import cache

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from gridflex.errors import ValidationError
from gridflex.grid import (
    MultiPeriodDCOPF,
    Network,
    Renewables,
    Storage,
    rts24_load_mw,
    rts24_network,
    rts_peak_day_load_pu,
)


@cache
def _dcopp(case: str, linear: bool) -> tuple[object, Network]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = getattr(pn, case)()
        if linear:
            net.poly_cost["cp2_eur_per_mw2"] = 0.0
        pp.rundcopp(net)
    assert net.OPF_converged
    return net, Network.from_pandapower(net, name=case)


def _branch_flows(net, ours: Network) -> np.ndarray:
    flows = {f"line {i}": v for i, v in net.res_line.p_from_mw.items()}
    flows |= {f"trafo {i}": v for i, v in net.res_trafo.p_hv_mw.items()}
    return np.array([flows[n] for n in ours.line_name])


@pytest.mark.parametrize("case", ["case24_ieee_rts", "case14", "case30", "case39"])
def test_linear_cost_matches_pandapower_dcopp(case: str) -> None:
    net, ours = _dcopp(case, linear=True)
    res = MultiPeriodDCOPF(ours, 1, ramp=False).solve(ours.load_mw[None, :])
    assert res.status == "optimal" and not res.used_milp
    assert res.cost_eur == pytest.approx(net.res_cost, rel=1e-6)
    assert res.shed_mw.sum() == 0 and res.spill_mw.sum() == 0
    assert res.gen_mw.sum() == pytest.approx(ours.load_mw.sum(), abs=1e-6)
    if case in ("case24_ieee_rts", "case30"):  # flows unique here (case30: congested, distinct costs)
        np.testing.assert_allclose(res.flow_mw[0], _branch_flows(net, ours), atol=1e-3)
    if case == "case30":
        pg = np.concatenate([net.res_ext_grid.p_mw.values, net.res_gen.p_mw.values])
        np.testing.assert_allclose(res.gen_mw[0], pg, atol=1e-3)
        assert np.isclose(np.abs(res.flow_mw[0]), ours.line_rate_mw).any()  # a line binds
    if case == "case24_ieee_rts":  # identical units at one bus share a cost: compare per (bus, cost)
        key = ours.gen_bus * 1000 + np.unique(ours.gen_cost_c1, return_inverse=True)[1]
        pg = np.concatenate([net.res_ext_grid.p_mw.values, net.res_gen.p_mw.values, net.res_sgen.p_mw.values])
        np.testing.assert_allclose(np.bincount(np.unique(key, return_inverse=True)[1], res.gen_mw[0]),
                                   np.bincount(np.unique(key, return_inverse=True)[1], pg), atol=1e-3)  # fmt: skip


@pytest.mark.parametrize("case", ["case24_ieee_rts", "case39"])
def test_pwl_cost_brackets_pandapower_quadratic_optimum(case: str) -> None:
    # QP optimum <= PWL optimum <= QP optimum + bound (PWL over-estimates by at most the bound)
    net, ours = _dcopp(case, linear=False)
    for k in (4, 20):
        opf = MultiPeriodDCOPF(ours, 1, ramp=False, pwl_segments=k)
        res = opf.solve(ours.load_mw[None, :])
        assert (
            net.res_cost * (1 - 1e-6) <= res.cost_eur <= net.res_cost * (1 + 1e-6) + opf.pwl_error_bound_eur()
        )
    assert opf.pwl_error_bound_eur() > 0


@cache
def _rts_setup() -> tuple[Network, Storage, Renewables, np.ndarray, np.ndarray]:
    net = rts24_network()
    st = Storage(bus=np.array([2, 8, 20]), power_mw=np.array([100.0, 50.0, 150.0]), energy_mwh=[400.0, 100.0, 300.0],
                 eta_charge=0.92, eta_discharge=0.95, soc_min=0.1, soc_max=0.95, soc_init=[0.5, 0.2, 0.9])  # fmt: skip
    ren = Renewables(bus=np.array([0, 14, 20]), kind=np.array(["wind", "pv", "wind"]))
    rng = np.random.default_rng(3)
    T = 48  # 15-minute periods over 12 h: the RTS-96 ramp rates bind at this step
    pu = np.interp(np.arange(T) / 4.0, np.arange(24), rts_peak_day_load_pu()) * 1.05
    load = rts24_load_mw(pu, net) * rng.uniform(0.95, 1.05, (T, net.n_loads))
    avail = np.column_stack(
        [rng.uniform(0, 400, T), 300 * np.sin(np.linspace(0, np.pi, T)) ** 2, rng.uniform(0, 300, T)]
    )
    return net, st, ren, load, avail


def test_multi_period_invariants() -> None:
    net, st, ren, load, avail = _rts_setup()
    T, dt = load.shape[0], 0.25
    opf = MultiPeriodDCOPF(net, T, dt_h=dt, storage=st, renewables=ren, pwl_segments=4)
    res = opf.solve(load, avail)
    tol = 1e-6
    # energy balance per period
    lhs = (res.gen_mw.sum(1) + res.discharge_mw.sum(1) - res.charge_mw.sum(1) + res.renewable_mw.sum(1)
           + res.shed_mw.sum(1) - res.spill_mw.sum(1))  # fmt: skip
    np.testing.assert_allclose(lhs, load.sum(1), atol=1e-5)
    # generator limits and ramps (the U20/U76/U155/U197/U350 limits bind at 15 min)
    assert np.all(res.gen_mw >= net.gen_pmin_mw - tol) and np.all(res.gen_mw <= net.gen_pmax_mw + tol)
    step = np.abs(np.diff(res.gen_mw, axis=0))
    assert np.all(step <= net.gen_ramp_mw_per_h * dt + tol)
    assert np.isclose(step, net.gen_ramp_mw_per_h * dt, atol=1e-6).any()  # some ramp binds
    # storage dynamics, limits, cyclic end
    soc_prev = np.vstack([st.soc_init * st.energy_mwh, res.soc_mwh[:-1]])
    expect = soc_prev + (st.eta_charge * res.charge_mw - res.discharge_mw / st.eta_discharge) * dt
    np.testing.assert_allclose(res.soc_mwh, expect, atol=1e-6)
    np.testing.assert_allclose(res.soc_mwh[-1], st.soc_init * st.energy_mwh, atol=1e-6)
    assert np.all(res.soc_mwh >= st.soc_min * st.energy_mwh - tol) and np.all(
        res.soc_mwh <= st.soc_max * st.energy_mwh + tol
    )
    assert np.all(res.charge_mw <= st.power_mw + tol) and np.all(res.discharge_mw <= st.power_mw + tol)
    assert not np.any((res.charge_mw > 1e-6) & (res.discharge_mw > 1e-6))
    # renewables, lines
    np.testing.assert_allclose(res.renewable_mw + res.curtail_mw, avail, atol=1e-6)
    assert np.all(res.renewable_mw >= -tol) and np.all(res.renewable_mw <= avail + tol)
    assert np.all(np.abs(res.flow_mw) <= net.line_rate_mw + 1e-5)
    # cost: PWL >= true quadratic cost at the dispatch, within the documented bound
    g = res.gen_mw
    true = ((net.gen_cost_c2 * g**2 + net.gen_cost_c1 * g + net.gen_cost_c0).sum() * dt
            + (res.shed_mw.sum() + res.spill_mw.sum()) * 10_000.0 * dt)  # fmt: skip
    assert true - 1e-6 * abs(true) <= res.cost_eur <= true + opf.pwl_error_bound_eur() + 1e-6 * abs(true)
    assert res.time_build_s > 0 and res.time_solver_s > 0


def test_warm_resolve_equals_fresh_model() -> None:
    net, st, ren, load, avail = _rts_setup()
    opf = MultiPeriodDCOPF(net, 24, storage=st, renewables=ren)
    first = opf.solve(load[:24], avail[:24])
    rng = np.random.default_rng(11)
    load2, avail2 = load[24:] * rng.uniform(0.9, 1.1, load[24:].shape), avail[24:] * 0.5
    warm = opf.solve(load2, avail2)
    fresh = MultiPeriodDCOPF(net, 24, storage=st, renewables=ren).solve(load2, avail2)
    assert warm.cost_eur == pytest.approx(fresh.cost_eur, rel=1e-9)
    assert first.cost_eur != pytest.approx(warm.cost_eur, rel=1e-6)
    # the dispatch itself may differ between equally cheap optima (identical units, storage timing)
    np.testing.assert_allclose(warm.shed_mw + warm.spill_mw, fresh.shed_mw + fresh.spill_mw, atol=1e-6)


def test_overload_sheds_exactly_the_shortfall() -> None:
    net = rts24_network()
    pu = np.array([0.8, 1.25, 1.3, 1.0])  # Σ pmax = 3405 MW = 1.195 × peak
    load = rts24_load_mw(pu, net)
    res = MultiPeriodDCOPF(net, 4, enforce_lines=False).solve(load)
    short = np.maximum(load.sum(1) - net.gen_pmax_mw.sum(), 0.0)
    np.testing.assert_allclose(res.shed_mw.sum(1), short, atol=1e-6)
    assert res.spill_mw.sum() == 0
    assert res.unbalanced().tolist() == [False, True, True, False]
    assert np.all(res.shed_mw <= np.maximum(net.bus_load_mw(load), 0) + 1e-9)
    # with lines, the network can only shed more, never less
    lined = MultiPeriodDCOPF(net, 4).solve(load)
    assert np.all(lined.shed_mw.sum(1) >= short - 1e-6)


def test_forced_over_generation_triggers_milp_exclusivity() -> None:
    net = rts24_network()  # Σ pmin = 1036 MW: half the peak day's load forces over-generation
    st = Storage(bus=np.array([2, 8]), power_mw=100.0, energy_mwh=400.0, eta_charge=0.9, eta_discharge=0.9,
                 soc_min=0.1, soc_max=0.9, soc_init=0.5)  # fmt: skip
    opf = MultiPeriodDCOPF(net, 24, storage=st, milp_rel_gap=1e-2)  # a loose gap keeps the test fast
    low = rts24_load_mw(rts_peak_day_load_pu() * 0.5, net)
    # the LP relaxation burns surplus energy by charging and discharging at once
    lp = opf.m.solve(relax=True)
    assert np.any((lp.value(opf.ch) > 1e-3) & (lp.value(opf.dis) > 1e-3))
    res = opf.solve(low)
    assert res.used_milp
    assert not np.any((res.charge_mw > 1e-6) & (res.discharge_mw > 1e-6))
    assert res.spill_mw.sum() > 0 and res.unbalanced().any()
    normal = opf.solve(rts24_load_mw(rts_peak_day_load_pu(), net))
    assert not normal.used_milp and not normal.unbalanced().any()


def test_tiny_network_pwl_exact_at_breakpoints() -> None:
    # two buses, one line; unit 0 quadratic, unit 1 expensive and linear
    net = Network(name="tiny", base_mva=100.0, bus_ids=np.array([0, 1]), line_from=np.array([0]),
                  line_to=np.array([1]), line_x_pu=np.array([0.1]), line_rate_mw=np.array([np.inf]),
                  gen_bus=np.array([0, 1]), gen_pmin_mw=np.array([0.0, 0.0]), gen_pmax_mw=np.array([100.0, 100.0]),
                  gen_cost_c2=np.array([0.1, 0.0]), gen_cost_c1=np.array([10.0, 100.0]),
                  gen_cost_c0=np.array([5.0, 0.0]), gen_ramp_mw_per_h=np.array([np.inf, np.inf]),
                  gen_type=np.array(["", ""]), load_bus=np.array([1]), load_mw=np.array([50.0]), slack_bus=0)  # fmt: skip
    opf = MultiPeriodDCOPF(net, 2, pwl_segments=4)  # breakpoints 0, 25, 50, 75, 100
    res = opf.solve(np.array([[50.0], [60.0]]))
    np.testing.assert_allclose(res.gen_mw[:, 0], [50.0, 60.0], atol=1e-9)
    exact_50 = 0.1 * 50**2 + 10 * 50 + 5
    chord_60 = 0.1 * 50**2 + 10 * 50 + 5 + 10 * (0.1 * (50 + 75) + 10)  # slope of [50, 75]
    assert res.cost_eur == pytest.approx(exact_50 + chord_60)
    assert opf.pwl_error_bound_eur() == pytest.approx(0.1 * 25**2 / 4 * 2)
    assert opf.lines is None  # unrated line: no rows
    np.testing.assert_allclose(res.flow_mw[:, 0], [50.0, 60.0])


def test_bad_inputs_name_the_argument() -> None:
    net, st, ren, load, avail = _rts_setup()
    opf = MultiPeriodDCOPF(net, 4, storage=st, renewables=ren)
    with pytest.raises(ValidationError, match=r"load_mw: has shape \(3, 17\), expected"):
        opf.solve(load[:3], avail[:4])
    bad = load[:4].copy()
    bad[2, 5] = np.nan
    with pytest.raises(ValidationError, match="load_mw: not finite at period 2, load 5"):
        opf.solve(bad, avail[:4])
    with pytest.raises(ValidationError, match="renewable_mw: required"):
        opf.solve(load[:4])
    with pytest.raises(ValidationError, match="renewable_mw: must be finite and >= 0"):
        opf.solve(load[:4], -avail[:4])
    with pytest.raises(ValidationError, match=r"renewable_mw: has shape \(4, 2\)"):
        opf.solve(load[:4], avail[:4, :2])
    with pytest.raises(ValidationError, match="soc_init"):
        MultiPeriodDCOPF(net, 4, storage=dataclasses.replace(st, soc_init=np.array([0.5, 0.2, 0.99])))
    with pytest.raises(ValidationError, match="n_periods"):
        MultiPeriodDCOPF(net, 0)
    with pytest.raises(ValidationError, match="pwl_segments"):
        MultiPeriodDCOPF(net, 2, pwl_segments=0)
    with pytest.raises(ValidationError, match=r"renewable 1\.bus"):
        MultiPeriodDCOPF(net, 2, renewables=Renewables(bus=np.array([0, 99]), kind=np.array(["pv", "pv"])))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"power_mw": np.array([1e300, 50.0, 50.0])}, r"storage 0\.power_mw: must be in"),
        ({"energy_mwh": np.array([100.0, 1e300, 100.0])}, r"storage 1\.energy_mwh: must be in"),
        ({"eta_charge": np.array([0.9, 0.9, 1e-300])}, r"storage 2\.eta_charge: must be in"),
    ],
)
def test_values_the_solver_cannot_take_are_refused_before_highs(kw, match) -> None:
    net, st, _, _, _ = _rts_setup()
    with pytest.raises(ValidationError, match=match):
        MultiPeriodDCOPF(net, 2, storage=dataclasses.replace(st, **kw))
    with pytest.raises(ValidationError, match="shed_cost_eur_per_mwh: must be in"):
        MultiPeriodDCOPF(net, 2, shed_cost_eur_per_mwh=1e300)
    with pytest.raises(ValidationError, match="dt_h: must be in"):
        MultiPeriodDCOPF(net, 2, dt_h=1e300)


def test_model_is_built_once_and_vectorized() -> None:
    net, st, ren, load, avail = _rts_setup()
    opf = MultiPeriodDCOPF(net, 24, storage=st, renewables=ren)
    names = [b.name for b in opf.m.constr_blocks]
    assert names[:2] == ["balance", "lines"] and opf.bal.n == 24 and opf.lines is not None
    assert opf.lines.n == 24 * int(np.isfinite(net.line_rate_mw).sum())
    n_rows, n_vars = opf.m.n_rows, opf.m.n_vars
    opf.solve(load[:24], avail[:24])
    highs = opf.m._highs
    opf.solve(load[24:], avail[24:])
    assert (opf.m.n_rows, opf.m.n_vars) == (n_rows, n_vars)
    assert highs is not None and opf.m._highs is highs  # the same HiGHS instance, re-solved warm
