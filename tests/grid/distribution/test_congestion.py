"""Congestion forecast → congestion points → needs → FlexRequests; delivering the needs relieves the grid."""

from datetime import datetime

import numpy as np
import pytest

from gridflex.grid.distribution import PowerFlow
from gridflex.grid.distribution.congestion import Limits, find_violations, forecast, relieve
from gridflex.grid.distribution.requests import FlexRequestBatch, flex_requests, request_batch
from gridflex.grid.distribution.stress import SUMMER, WINTER, StressScenario, stress

WINTER_DAY, SUMMER_DAY = datetime(2016, 1, 20), datetime(2016, 6, 21)


@pytest.fixture(scope="module")
def winter(mv):
    return forecast(
        mv.network, stress(mv.network, mv.profiles.series(mv.network, start=WINTER_DAY, periods=96), WINTER)
    )


@pytest.fixture(scope="module")
def summer(mv):
    return forecast(
        mv.network, stress(mv.network, mv.profiles.series(mv.network, start=SUMMER_DAY, periods=96), SUMMER)
    )


def test_unstressed_days_need_nothing(mv):
    for day in (WINTER_DAY, SUMMER_DAY):
        fc = forecast(mv.network, mv.profiles.series(mv.network, start=day, periods=96))
        assert fc.violations == [] and fc.points == [] and flex_requests(fc) == []


@pytest.mark.parametrize(("name", "direction"), [("winter", "up"), ("summer", "down")])
def test_requests_ask_the_right_direction_only_in_congested_periods(name, direction, request):
    fc = request.getfixturevalue(name)
    assert fc.violations and fc.points
    requests = flex_requests(fc)
    assert requests
    congested = {fc.result.times()[t] for t in fc.congested_periods}
    for req in requests:
        assert {i.direction for i in req.requested} == {direction}
        assert {i.start for i in req.requested} <= congested | {i.start for i in req.requested}
        assert all(i.power_mw > 0 for i in req.requested)
        for isp in req.isps:
            if isp.disposition == "available":  # free capacity: no change at all is allowed
                assert (isp.min_power_mw or -np.inf) <= 0 <= (isp.max_power_mw or np.inf)
    requested_starts = {i.start for r in requests for i in r.requested}
    assert congested <= requested_starts  # every congested period is requested somewhere


@pytest.mark.parametrize("name", ["winter", "summer"])
def test_delivering_the_needs_leaves_no_violation_in_99_percent_of_requested_periods(name, request, mv):
    fc = request.getfixturevalue(name)
    after = find_violations(mv.network, PowerFlow(mv.network).run(relieve(fc)), fc.limits)
    requested = np.flatnonzero(np.any([cp.requested_mw != 0 for cp in fc.points], axis=0))
    residual = np.unique(np.concatenate([v.periods for v in after])) if after else np.zeros(0, int)
    assert len(np.intersect1d(residual, requested)) <= 0.01 * len(requested)


def test_needs_are_as_small_as_the_margin_allows(winter, mv):
    """Half the requested flexibility does not relieve the grid: the needs are not oversized."""
    half = winter.series.with_changes((relieve(winter).p_mw - winter.series.p_mw) / 2)
    assert PowerFlow(mv.network).run(half).branch_loading_pct.max() > 100


def test_voltage_band_violations_make_their_own_requests(mv):
    base = mv.profiles.series(mv.network, start=SUMMER_DAY, periods=96)
    series = stress(mv.network, base, StressScenario(pv_scale=6.0, seed=1))
    fc = forecast(mv.network, series, Limits(voltage_max_pu=1.05))  # midday PV lifts the feeder ends
    assert {v.quantity for v in fc.violations} == {"voltage"}
    reqs = flex_requests(fc)
    assert reqs and {i.direction for r in reqs for i in r.requested} == {"down"}
    assert find_violations(mv.network, PowerFlow(mv.network).run(relieve(fc)), fc.limits) == []


def test_limits_no_change_can_meet_are_reported_as_conflicts(mv):
    series = mv.profiles.series(mv.network, start=SUMMER_DAY, periods=96)
    fc = forecast(mv.network, series, Limits(voltage_max_pu=1.03))  # barely above the 1.025 pu slack
    conflicts = [t for r in flex_requests(fc) for t in r.conflicting_periods]
    assert conflicts  # lowering these voltages enough would overload the feeder: the DSO is told


def test_request_batch_round_trips_as_json(winter):
    batch = request_batch(winter)
    text = batch.model_dump_json()
    assert FlexRequestBatch.model_validate_json(text) == batch
    assert batch.notes == [WINTER.describe()] and "up = more power into the grid" in batch.sign_convention
    req = batch.requests[0]
    assert req.message_type == "FlexRequest" and req.isp_duration == "PT15M" and len(req.isps) == 96
