"""The batch power flow (power-grid-model) equals pandapower's Newton-Raphson on the same snapshots."""

import copy
from datetime import datetime

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import SolverError
from gridflex.grid.distribution import PowerFlow, flat_profiles, from_pandapower, run_power_flow
from gridflex.grid.distribution.convert import to_pandapower

VOLTAGE_TOL_PU = 1e-4
LOADING_TOL_PCT = 0.05
# winter night, a summer noon (PV peak), a winter evening peak, an autumn morning
SNAPSHOTS = [96 * 10 + 8, 96 * 172 + 52, 96 * 20 + 74, 96 * 300 + 36]


def _reference(net_pp, bus_names):
    """pandapower's results on gridflex's buses (fused buses share a voltage: any one of them will do)."""
    pp.runpp(net_pp, algorithm="nr", tolerance_mva=1e-10, max_iteration=50, numba=False)
    names = [n if isinstance(n, str) and n else f"bus{i}" for i, n in net_pp.bus.name.items()]  # as converted
    vm_of = dict(zip(names, net_pp.res_bus.vm_pu, strict=True))
    vm = np.array([vm_of[str(b)] for b in bus_names])
    return vm, net_pp.res_line.loading_percent.to_numpy(), net_pp.res_trafo.loading_percent.to_numpy()


def _check(res, t, vm, line, trafo):
    np.testing.assert_allclose(res.voltage_pu[t], vm, atol=VOLTAGE_TOL_PU, rtol=0)
    np.testing.assert_allclose(res.line_loading_pct[t], line, atol=LOADING_TOL_PCT, rtol=0)
    np.testing.assert_allclose(res.trafo_loading_pct[t], trafo, atol=LOADING_TOL_PCT, rtol=0)


@pytest.mark.parametrize("name", ["mv", "lv"])
def test_shipped_grid_equals_pandapower_on_snapshots(name, request):
    case = request.getfixturevalue(name)
    series = case.profiles.series(case.network)
    idx = np.array(SNAPSHOTS)
    picked = type(series)(series.start, 15, series.names, series.p_mw[idx], series.q_mvar[idx])
    res = run_power_flow(case.network, picked)
    for k, t in enumerate(SNAPSHOTS):
        vm, line, trafo = _reference(to_pandapower(case.network, series, t), case.network.bus.name)
        _check(res, k, vm, line, trafo)


@pytest.mark.parametrize(
    "maker", [lambda: pn.create_cigre_network_mv(with_der="all"), pn.create_cigre_network_lv]
)
def test_cigre_equals_pandapower_on_the_original_net(maker):
    original = maker()
    net = from_pandapower(original)
    res = run_power_flow(net, flat_profiles(datetime(2024, 1, 1), 1).series(net))
    vm, line, trafo = _reference(copy.deepcopy(original), net.bus.name)
    _check(res, 0, vm, line, trafo)


def test_storage_charging_raises_the_load_on_the_transformer(lv):
    series = lv.profiles.series(lv.network, periods=4)
    storage = np.arange(lv.network.n_elements)[-len(lv.network.storage) :]
    base = run_power_flow(lv.network, series)
    delta = np.zeros_like(series.p_mw)
    delta[:, storage] = 0.02  # every battery charges 20 kW more
    more = run_power_flow(lv.network, series.with_changes(delta))
    assert np.all(more.trafo_loading_pct >= base.trafo_loading_pct - 1e-9)
    assert np.all(np.nanmin(more.voltage_pu, axis=1) < np.nanmin(base.voltage_pu, axis=1))


def test_a_batch_equals_period_by_period(mv):
    series = mv.profiles.series(mv.network, periods=6)
    batch = run_power_flow(mv.network, series)
    for t in range(6):
        one = run_power_flow(mv.network, series.window(t, 1))
        np.testing.assert_allclose(one.voltage_pu[0], batch.voltage_pu[t], atol=1e-12)
        np.testing.assert_allclose(one.branch_loading_pct[0], batch.branch_loading_pct[t], atol=1e-9)


def test_matpower_feeder_equals_pandapower():
    from pandapower.converter.matpower.from_mpc import from_mpc

    from gridflex.grid.distribution import from_matpower

    path = "tests/grid/distribution/data/feeder4.m"
    net = from_matpower(path)
    res = run_power_flow(net, flat_profiles(datetime(2024, 1, 1), 1).series(net))
    vm, line, trafo = _reference(from_mpc(path, f_hz=50), net.bus.name)
    _check(res, 0, vm, line, trafo)
    assert res.voltage_pu[0].min() < 1.018  # the loads pull the feeder end below the slack's 1.02 pu


@st.composite
def radial_feeders(draw):
    """A random radial 20/0.4 kV network: a transformer, then a tree of cables with loads, PV and storage."""
    n = draw(st.integers(2, 12))
    net = pp.create_empty_network()
    mv = pp.create_bus(net, 20.0, name="MV")
    pp.create_ext_grid(net, mv, vm_pu=draw(st.floats(0.98, 1.05)))
    lv = pp.create_bus(net, 0.4, name="LV0")
    pp.create_transformer_from_parameters(
        net, mv, lv, sn_mva=0.4, vn_hv_kv=20.0, vn_lv_kv=0.4, vk_percent=4.0, vkr_percent=1.2, pfe_kw=0.6,
        i0_percent=0.3, shift_degree=150, tap_side="hv", tap_neutral=0, tap_min=-2, tap_max=2,
        tap_step_percent=2.5, tap_pos=draw(st.integers(-2, 2)), tap_changer_type="Ratio",
    )  # fmt: skip
    buses = [lv]
    for i in range(1, n):
        parent = buses[draw(st.integers(0, len(buses) - 1))]
        b = pp.create_bus(net, 0.4, name=f"LV{i}")
        length = draw(st.floats(0.02, 0.3))
        pp.create_line_from_parameters(net, parent, b, length, 0.206, 0.08, 260.0, 0.27, name=f"cable{i}")
        kind = draw(st.sampled_from(["load", "sgen", "storage", "none"]))
        p = draw(st.floats(0.0, 0.03))
        if kind == "load":
            pp.create_load(net, b, p_mw=p, q_mvar=p / 4, name=f"load{i}")
        elif kind == "sgen":
            pp.create_sgen(net, b, p_mw=p, name=f"pv{i}")
        elif kind == "storage":
            pp.create_storage(net, b, p_mw=p - 0.015, max_e_mwh=0.05, name=f"bat{i}")
    return net


@settings(max_examples=15, deadline=None)
@given(radial_feeders())
def test_random_radial_feeders_equal_pandapower(original):
    net = from_pandapower(original)
    res = run_power_flow(net, flat_profiles(datetime(2024, 1, 1), 1).series(net))
    vm, line, trafo = _reference(copy.deepcopy(original), net.bus.name)
    _check(res, 0, vm, line, trafo)


def test_newton_raphson_takes_over_when_the_iterative_method_fails(lv, monkeypatch):
    from power_grid_model import CalculationMethod
    from power_grid_model.errors import IterationDiverge

    from gridflex.grid.distribution import powerflow

    series = lv.profiles.series(lv.network, periods=8)
    expected = run_power_flow(lv.network, series)
    solve = powerflow._solve_with
    used = []

    def failing(model, method, *args):
        used.append(method)
        if method == CalculationMethod.iterative_current:
            raise IterationDiverge("diverged")
        return solve(model, method, *args)

    monkeypatch.setattr(powerflow, "_solve_with", failing)
    np.testing.assert_allclose(run_power_flow(lv.network, series).voltage_pu, expected.voltage_pu, atol=1e-9)
    assert used == [CalculationMethod.iterative_current, CalculationMethod.newton_raphson]


def test_series_with_a_gap_is_refused_naming_the_element_and_period(lv):
    from gridflex.errors import ValidationError

    series = lv.profiles.series(lv.network, periods=4)
    series.p_mw[2, 5] = np.nan
    with pytest.raises(ValidationError, match=rf"{series.names[5]}\.p_mw: not a number in period 2"):
        run_power_flow(lv.network, series)


def test_tolerant_run_gives_nan_where_no_power_flow_converges(mv):
    """Past the voltage collapse (500 MW at one MV bus) no power flow converges: an error naming the
    network, or with ``tolerant`` NaN in that period and the others as solved alone."""
    series = mv.profiles.series(mv.network, periods=3)
    delta = np.zeros_like(series.p_mw)
    delta[1, 0] = 500.0
    pf = PowerFlow(mv.network)
    with pytest.raises(SolverError, match=mv.network.name):
        pf.run(series.with_changes(delta))
    res = pf.run(series.with_changes(delta), tolerant=True)
    alone = pf.run(series)
    assert np.isnan(res.voltage_pu[1]).all() and np.isnan(res.branch_loading_pct[1]).all()
    np.testing.assert_allclose(res.voltage_pu[[0, 2]], alone.voltage_pu[[0, 2]], atol=1e-9)
    np.testing.assert_allclose(res.branch_loading_pct[[0, 2]], alone.branch_loading_pct[[0, 2]], atol=1e-6)
