"""The stress generator is reproducible, adds what it says, and congests the shipped MV grid."""

from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.grid.distribution import PowerFlow
from gridflex.grid.distribution.stress import SUMMER, WINTER, StressScenario, stress

WINTER_DAY, SUMMER_DAY = datetime(2016, 1, 20), datetime(2016, 6, 21)


def test_same_seed_same_series_other_seed_other_series(mv):
    base = mv.profiles.series(mv.network, start=WINTER_DAY, periods=96)
    a, b = stress(mv.network, base, WINTER), stress(mv.network, base, WINTER)
    c = stress(mv.network, base, StressScenario(**{**WINTER.__dict__, "seed": 2}))
    assert np.array_equal(a.p_mw, b.p_mw) and not np.array_equal(a.p_mw, c.p_mw)
    assert a.notes == [WINTER.describe()]


def test_no_stress_changes_nothing(mv):
    base = mv.profiles.series(mv.network, start=WINTER_DAY, periods=8)
    assert np.array_equal(stress(mv.network, base, StressScenario()).p_mw, base.p_mw)


@settings(max_examples=15, deadline=None)
@given(
    ev=st.floats(0, 1),
    hp=st.floats(0, 1),
    pv=st.floats(1, 20),
    seed=st.integers(0, 2**16),
    day=st.integers(0, 360),
)
def test_evs_and_heat_pumps_only_add_load_and_pv_only_adds_production(lv, ev, hp, pv, seed, day):
    net = lv.network
    base = lv.profiles.series(net).window(96 * day, 96)
    out = stress(
        net, base, StressScenario(ev_share=ev, heat_pump_share=hp, pv_scale=pv, household_kw=2.0, seed=seed)
    )
    n_load, n_sgen = len(net.load), len(net.sgen)
    assert np.all(out.p_mw[:, :n_load] >= base.p_mw[:, :n_load] - 1e-12)
    sg = slice(n_load, n_load + n_sgen)
    assert np.all(out.p_mw[:, sg] <= base.p_mw[:, sg] + 1e-12)  # more production = less consumption
    np.testing.assert_allclose(out.p_mw[:, sg], base.p_mw[:, sg] * pv)  # every sgen of this grid is PV
    np.testing.assert_array_equal(out.p_mw[:, n_load + n_sgen :], base.p_mw[:, n_load + n_sgen :])


@pytest.mark.parametrize("field", ["ev_share", "heat_pump_share", "pv_scale"])
def test_bad_scenarios_are_refused(lv, field):
    base = lv.profiles.series(lv.network, periods=2)
    with pytest.raises(ValidationError, match=f"stress.{field}"):
        stress(lv.network, base, StressScenario(**{field: -0.5}))


@pytest.mark.parametrize(("day", "scenario"), [(WINTER_DAY, WINTER), (SUMMER_DAY, SUMMER)])
def test_shipped_mv_grid_is_congested_only_when_stressed(mv, day, scenario):
    pf = PowerFlow(mv.network)
    base = mv.profiles.series(mv.network, start=day, periods=96)
    assert pf.run(base).branch_loading_pct.max() < 100
    assert pf.run(stress(mv.network, base, scenario)).branch_loading_pct.max() > 100
