"""Flex-offer trading: the buyer schedules aggregates, assignments go back to the prosumers, money adds up."""

from __future__ import annotations

import numpy as np
import pytest

from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
from gridflex.flexoffer.model import place_on_grid
from gridflex.flexoffer.validate import validate_schedule
from gridflex.market.flexoffers import trade_flexoffers
from gridflex.market.prices import prices_on_grid

DAY = "2018-06-12"


@pytest.fixture(scope="module")
def setup():
    batch = generate_fleet(200, day=DAY, seed=3)
    grid = fleet_horizon(DAY)
    return aggregate(batch), grid, prices_on_grid(grid, "France")


def test_trade_disaggregates_and_money_balances(setup):
    agg, grid, prices = setup
    t = trade_flexoffers(agg, grid, prices, buyer="BRP-1", seller="agg-1", margin=0.2)
    assert t.accepted and t.reason.startswith("accepted")
    members = agg.members
    assert validate_schedule(members, t.member_schedule) == []
    # members' loads add up to the buyer's aggregate schedule, period by period
    member_load = place_on_grid(members, t.member_schedule, grid.start_s, grid.n)
    np.testing.assert_allclose(member_load, t.aggregate_schedule.load_kwh, atol=1e-6)
    # what the buyer pays = prosumers' payments + the aggregator's margin
    assert t.price_eur == pytest.approx(t.member_payment_eur.sum() * 1.2)
    assert t.aggregator_margin_eur == pytest.approx(0.2 * t.member_payment_eur.sum())
    assert t.buyer_value_eur == pytest.approx(t.default_cost_eur - t.assigned_cost_eur)
    assert t.buyer_value_eur >= t.price_eur


def test_no_trade_when_the_price_exceeds_the_buyers_value(setup):
    agg, grid, prices = setup
    t = trade_flexoffers(agg, grid, prices, margin=1000.0)
    assert not t.accepted and t.member_schedule is None and t.price_eur == 0.0
    assert "not accepted" in t.reason


def test_at_a_decision_time_late_offers_keep_their_defaults_and_are_not_paid(setup):
    """Decided at 08:00 local: the aggregates past a deadline stay unscheduled; their members run their
    default schedules (no payment); the rest are assigned after 08:00 and the money still balances."""
    agg, grid, prices = setup
    now_s = grid.start_s + 8 * 3600
    t = trade_flexoffers(agg, grid, prices, margin=0.0, now_s=now_s)
    rejected = t.aggregate_schedule.rejected
    assert rejected and len(rejected) < len(agg.aggregates)
    late = np.isin(agg.aggregates.ids[agg.group], list(rejected))
    members, sched = agg.members, t.member_schedule
    assert sched is not None and members.default is not None
    assert validate_schedule(members, sched) == []
    assert (sched.start_s[late] == members.default.start_s[late]).all()
    assert (t.member_payment_eur[late] == 0.0).all()
    assert (sched.start_s[~late] >= now_s).all()
    member_load = place_on_grid(members, sched, grid.start_s, grid.n)
    assert member_load.sum() == pytest.approx(
        t.aggregate_schedule.load_kwh.sum() + _default_kwh(members, late)
    )


def _default_kwh(members, mask) -> float:
    flat = np.repeat(mask, np.diff(members.offsets))
    return float(np.asarray(members.default.energy_kwh)[flat].sum())
