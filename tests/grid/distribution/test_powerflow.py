"""The batch power flow (power-grid-model) equals pandapower's Newton-Raphson on the same snapshots."""

import copy
from datetime import datetime

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest

from gridflex.grid.distribution import flat_profiles, from_pandapower, run_power_flow
from gridflex.grid.distribution.convert import to_pandapower

VOLTAGE_TOL_PU = 1e-4
LOADING_TOL_PCT = 0.05
# winter night, a summer noon (PV peak), a winter evening peak, an autumn morning
SNAPSHOTS = [96 * 10 + 8, 96 * 172 + 52, 96 * 20 + 74, 96 * 300 + 36]


def _reference(net_pp, bus_names):
    """pandapower's results on gridflex's buses (fused buses share a voltage: any one of them will do)."""
    pp.runpp(net_pp, algorithm="nr", tolerance_mva=1e-10, max_iteration=50, numba=False)
    vm_of = dict(zip(net_pp.bus.name.astype(str), net_pp.res_bus.vm_pu, strict=True))
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
