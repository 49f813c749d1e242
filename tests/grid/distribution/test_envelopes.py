"""Operating envelopes: using a connection's envelope alone keeps the grid within limits, going beyond breaks one."""

from datetime import datetime

import numpy as np
import pytest

from gridflex.grid.distribution import PowerFlow
from gridflex.grid.distribution.congestion import Limits, find_violations
from gridflex.grid.distribution.envelopes import ENVELOPE_CAP_MW, operating_envelopes
from gridflex.grid.distribution.sensitivity import sensitivities


@pytest.fixture(scope="module")
def winter_evening(mv):
    series = mv.profiles.series(mv.network, start=datetime(2016, 1, 20, 17), periods=2)
    pf = PowerFlow(mv.network)
    res = pf.run(series, angles=True)
    env = operating_envelopes(mv.network, series, res, sensitivities(mv.network, res), pf=pf)
    return series, pf, env


def _at_limit(mv, series, env, c, factor, which):
    """The series with connection c moved to factor × its import (or export) limit in every period."""
    bus_of = mv.network.element_bus()
    element = int(
        np.flatnonzero(bus_of == np.flatnonzero(mv.network.bus.name == env.connection_names[c])[0])[0]
    )
    target = env.import_limit_mw[:, c] if which == "import" else -env.export_limit_mw[:, c]
    delta = np.zeros_like(series.p_mw)
    delta[:, element] = factor * target - env.forecast_mw[:, c]
    return series.with_changes(delta)


def test_forecast_lies_inside_every_envelope(winter_evening):
    _, _, env = winter_evening
    assert np.all(env.import_limit_mw >= env.forecast_mw) and np.all(-env.export_limit_mw <= env.forecast_mw)


@pytest.mark.parametrize("which", ["import", "export"])
def test_an_envelope_used_alone_keeps_the_limits_and_more_breaks_one(mv, winter_evening, which):
    series, pf, env = winter_evening
    limit = env.import_limit_mw if which == "import" else env.export_limit_mw
    reachable = np.flatnonzero((limit < ENVELOPE_CAP_MW).all(axis=0))
    assert len(reachable)
    for c in reachable[:: max(1, len(reachable) // 4)]:
        inside = pf.run(_at_limit(mv, series, env, c, 1.0, which))
        # after the secant corrections the limits hold within their margins (1 point, 0.002 pu)
        assert find_violations(mv.network, inside, Limits(loading_pct=100.5, voltage_min_pu=0.899)) == []
        beyond = pf.run(_at_limit(mv, series, env, c, 1.1, which))
        assert find_violations(mv.network, beyond, Limits(loading_margin_pct=0, voltage_margin_pu=0))


def test_envelopes_serialise(winter_evening):
    _, _, env = winter_evening
    d = env.to_dict()
    assert (
        len(d["connections"]) == len(env.connection_names) and "import = consumption" in d["sign_convention"]
    )
