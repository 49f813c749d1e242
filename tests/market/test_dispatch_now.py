"""A capacity call dispatched at a decision time: what the plan executed before it stays."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.disaggregation import disaggregate
from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
from gridflex.flexoffer.model import FlexOfferBatch
from gridflex.flexoffer.schedule import schedule_flexoffers
from gridflex.market.capacity import ActivationResult, Instruction
from gridflex.market.dispatch import dispatch_activation
from gridflex.market.prices import prices_on_grid

DAY = "2018-06-12"
NOW = datetime(2018, 6, 12, 22, tzinfo=UTC)


def _call(start: datetime, hours: float = 2.0, mw: float = 0.01) -> ActivationResult:
    end = datetime.fromtimestamp(start.timestamp() + hours * 3600, UTC)
    ins = Instruction(bid_id="b1", participant="agr", site_id="site-1", power_mw=mw, start=start, end=end)
    return ActivationResult(instructions=[ins], activated_mw=mw, unmet_mw=0.0, activation_cost_eur=0.0)


def _starts_and_energy_before(members: FlexOfferBatch, now_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Start of every device that started before now, and every energy of an interval before now."""
    sched = members.schedule
    assert sched is not None
    started = sched.start_s < now_s
    t = sched.start_s[members.owner_index] + members.position * members.interval_s
    done = started[members.owner_index] & (t < now_s)
    return np.where(started, sched.start_s, -1), np.where(done, sched.energy_kwh, np.nan)


@pytest.fixture(scope="module")
def setting():
    grid = fleet_horizon(DAY)
    return grid, prices_on_grid(grid, "France"), {"site-1": generate_fleet(300, day=DAY, seed=1)}


def test_a_call_at_a_decision_time_leaves_everything_before_it_as_planned(setting) -> None:
    """An up call overnight (EVs charging): the plan is the least-cost schedule; re-scheduled at
    22:00, every device started before 22:00 keeps its start and its energy in every interval before
    22:00, the site's power before 22:00 is the plan's, and the call is still followed. Without the
    decision time the same call moves energy into hours already past (the defect)."""
    grid, prices, fleets = setting
    now_s = int(NOW.timestamp())
    call = _call(datetime(2018, 6, 13, 0, tzinfo=UTC))
    agg = aggregate(fleets["site-1"])  # the plan, as the aggregator made it before the call
    planned = fleets["site-1"].with_schedule(
        disaggregate(agg, schedule_flexoffers(agg.aggregates, grid, prices).schedule)
    )
    at_now = dispatch_activation(call, "up", fleets, grid, prices, now_s=now_s)["site-1"]
    past = grid.index < NOW
    np.testing.assert_allclose(at_now.dispatched_kw[past], at_now.planned_kw[past], atol=1e-6)
    s0, e0 = _starts_and_energy_before(planned, now_s)
    s1, e1 = _starts_and_energy_before(at_now.members, now_s)
    assert (s0 >= 0).sum() > 10  # devices running at 22:00
    np.testing.assert_array_equal(s1, s0)
    np.testing.assert_allclose(e1, e0, atol=1e-6)  # NaN where nothing was executed, in both
    on = at_now.instructed_kw > 0
    assert np.all(at_now.dispatched_kw[on] <= at_now.planned_kw[on] - 10.0 + 1e-6)
    # Later devices start at or after 22:00.
    assert at_now.members.schedule is not None
    assert np.all(at_now.members.schedule.start_s[s1 < 0] >= now_s)
    # Without a decision time the re-schedule changes the past.
    study = dispatch_activation(call, "up", fleets, grid, prices)["site-1"]
    assert np.abs(study.dispatched_kw[past] - study.planned_kw[past]).max() > 1.0


def test_a_call_that_starts_before_the_decision_time_is_named(setting) -> None:
    grid, prices, fleets = setting
    with pytest.raises(ValidationError) as info:
        dispatch_activation(_call(datetime(2018, 6, 12, 21, tzinfo=UTC)), "up", fleets, grid, prices,
                            now_s=int(NOW.timestamp()))  # fmt: skip
    p = info.value.problems[0]
    assert (p.object_id, p.field) == ("b1", "start") and "decision time" in p.message
