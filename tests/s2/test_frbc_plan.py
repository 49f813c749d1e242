"""The FRBC fleet in the site model: one actuator never fills and empties in the same period."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.s2.planner import PlanRequest, WarmModel, plan_site
from gridflex.scheduling import parse_site
from tests.s2.fleet import battery_fleet

N = 12
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _site(prices: list[float]) -> object:
    return parse_site({"name": "neg", "time": {"start": T0.isoformat(), "step_s": 900, "n_periods": N},
                       "prices": {"day_ahead_eur_per_mwh": prices},
                       "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 30}]})  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(
    prices=st.lists(st.floats(-300, 100, allow_nan=False), min_size=N, max_size=N), seed=st.integers(0, 99)
)
def test_no_simultaneous_fill_in_and_out(prices: list[float], seed: int) -> None:
    """At negative prices the LP would burn energy by filling and emptying at once (losses bought
    at a profit); the real device runs one mode, so the plan must not rely on that."""
    devs = battery_fleet(2, N, seed)
    plan = plan_site(_site(prices), PlanRequest(T0, 900, N, frbc=devs))
    for d in devs:
        rate = plan.frbc_rate_per_s[d.name][d.actuators[0].actuator_id] * 3600.0  # kWh per hour
        power = plan.frbc_power_kw[d.name]
        ch, dis = d.actuators[0].charge, d.actuators[0].discharge
        assert ch is not None and dis is not None
        # the net rate alone explains the power: charge mode when filling, discharge mode when emptying
        expected = (
            np.where(rate >= 0, rate / (ch.f1 * 3600.0) * ch.p1_w, rate / (dis.f0 * 3600.0) * dis.p0_w) / 1000
        )
        assert np.allclose(power, expected, atol=1e-4)
        fill = plan.frbc_fill[d.name]
        assert (fill >= -1e-6).all() and (fill <= 10.0 + 1e-6).all()


def test_negative_prices_need_the_exclusivity_binaries() -> None:
    """The LP relaxation cycles at negative prices; the binaries of that actuator make it exact, and
    the fill level follows the net rate and the drain period by period."""
    devs = battery_fleet(1, N, 3)
    warm = WarmModel()
    plan = plan_site(_site([-200.0] * N), PlanRequest(T0, 900, N, frbc=devs, warm=warm))
    assert warm.sm is not None and any("FRBC device 's2-0'" in b for b in warm.sm.binaries)
    d = devs[0]
    rate = plan.frbc_rate_per_s[d.name][d.actuators[0].actuator_id] * 3600.0
    fill = np.concatenate([[d.fill_now], plan.frbc_fill[d.name]])
    assert np.allclose(np.diff(fill), (rate - d.drain_per_h) * 0.25, atol=1e-6)
