"""Sensitivities of loadings and voltages to active power agree with finite-difference power flows (2 %)."""

from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.grid.distribution import PowerFlow, cigre, flat_profiles, from_pandapower
from gridflex.grid.distribution.sensitivity import JacobianSystem, flexible_buses, sensitivities

from .test_powerflow import radial_feeders

STEP_MW = 1e-3
REL_TOL = 0.02


def _finite_difference(pf, series, element, step_mw=STEP_MW):
    d = np.zeros_like(series.p_mw)
    d[:, element] = step_mw
    up, down = pf.run(series.with_changes(d)), pf.run(series.with_changes(-d))
    return (
        (up.voltage_pu - down.voltage_pu) / (2 * step_mw),
        (up.branch_loading_pct - down.branch_loading_pct) / (2 * step_mw),
    )


def _assert_close(analytic, fd, loading=None):
    scale = np.nanmax(np.abs(fd))
    err = np.abs(analytic - fd)
    if loading is not None:  # |I| has a kink at zero current: nearly unloaded branches say nothing
        err = np.where(loading > 1.0, err, 0.0)
    # within 2 % of each value, or of the largest one where a value is tiny
    assert np.all(np.nan_to_num(err) <= REL_TOL * np.maximum(np.abs(np.nan_to_num(fd)), 0.05 * scale))


def _check(net, series, n_connections, step_mw=STEP_MW):
    pf = PowerFlow(net)
    res = pf.run(series, angles=True)
    sens = sensitivities(net, res)
    bus_of = net.element_bus()
    picks = np.linspace(0, len(sens.connection_bus) - 1, n_connections).round().astype(int)
    for c in picks:
        element = np.flatnonzero(bus_of == sens.connection_bus[c])[0]
        fd_v, fd_l = _finite_difference(pf, series, element, step_mw)
        _assert_close(sens.voltage_pu_per_mw[:, :, c], fd_v)
        _assert_close(sens.loading_pct_per_mw[:, :, c], fd_l, res.branch_loading_pct)


@pytest.mark.parametrize("name", ["mv", "lv"])
def test_shipped_grids_match_finite_differences(name, request):
    case = request.getfixturevalue(name)
    series = case.profiles.series(case.network).window(96 * 172 + 44, 3)  # a summer midday: PV back-feed
    _check(case.network, series, 5)


def test_cigre_mv_with_open_rings_matches_finite_differences():
    net = cigre("mv")
    _check(net, flat_profiles(datetime(2024, 1, 1), 1).series(net), 6)


@settings(max_examples=10, deadline=None)
@given(
    period=st.integers(0, 35_135), bus=st.integers(0, 13), quantity=st.sampled_from(["voltage", "loading"])
)
def test_adjoint_rows_equal_forward_columns(lv, period, bus, quantity):
    series = lv.profiles.series(lv.network).window(period, 1)
    res = PowerFlow(lv.network).run(series, angles=True)
    system = JacobianSystem(lv.network, res)
    sens = sensitivities(lv.network, res)
    n_branch = sens.loading_pct_per_mw.shape[1]
    index = bus if quantity == "voltage" else bus % n_branch
    row = system.row(quantity, index)[:, sens.connection_bus]
    table = sens.voltage_pu_per_mw if quantity == "voltage" else sens.loading_pct_per_mw
    np.testing.assert_allclose(row, np.nan_to_num(table[:, index, :]), atol=1e-10)


def test_more_consumption_lowers_voltages(mv):
    series = mv.profiles.series(mv.network).window(96 * 20 + 72, 2)
    sens = sensitivities(mv.network, PowerFlow(mv.network).run(series, angles=True))
    assert np.nanmax(sens.voltage_pu_per_mw) <= 1e-12  # radial MV feeders: no voltage rises with load


def test_a_result_without_angles_is_refused(lv):
    series = lv.profiles.series(lv.network, periods=1)
    with pytest.raises(ValidationError, match="angles=True"):
        sensitivities(lv.network, PowerFlow(lv.network).run(series))


@settings(max_examples=8, deadline=None)
@given(original=radial_feeders())
def test_random_radial_feeders_match_finite_differences(original):
    net = from_pandapower(original)
    if len(flexible_buses(net)) == 0:
        return
    # 400 kVA feeders: a 1 kW step is a quarter point of loading, too coarse near a current minimum
    _check(net, flat_profiles(datetime(2024, 1, 1), 1).series(net), 3, step_mw=1e-5)
