"""The whole lifecycle as a property: random valid offers → aggregate → schedule → disaggregate →
every member schedule inside its own flex-offer, members summing exactly to their aggregate."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflex.flexoffer.aggregation import aggregate, inner_bounds
from gridflex.flexoffer.disaggregation import disaggregate
from gridflex.flexoffer.model import place_on_grid
from gridflex.flexoffer.schedule import schedule_flexoffers
from gridflex.timegrid import TimeGrid

from .strategies import BASE_S, INTERVAL_S, offers

GRID = TimeGrid(np.datetime64(BASE_S, "s").astype(str) + "Z", INTERVAL_S, 40)


def assert_member_feasible(batch, schedule, tol=1e-6):
    """Independent check of every member: start window, grid, interval bounds and TEC."""
    s = schedule
    assert np.all(s.start_s >= batch.est_s) and np.all(s.start_s <= batch.lst_s)
    assert np.all((s.start_s - batch.est_s) % batch.interval_s == 0)
    scale = 1 + np.abs(batch.upper_kwh)
    assert np.all(s.energy_kwh >= batch.lower_kwh - tol * scale)
    assert np.all(s.energy_kwh <= batch.upper_kwh + tol * scale)
    total = batch.sum_per_offer(s.energy_kwh)
    has_lo, has_hi = ~np.isnan(batch.tec_lower_kwh), ~np.isnan(batch.tec_upper_kwh)
    assert np.all(total[has_lo] >= batch.tec_lower_kwh[has_lo] - 1e-5)
    assert np.all(total[has_hi] <= batch.tec_upper_kwh[has_hi] + 1e-5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=offers(max_size=12, max_len=5, max_tf=5),
    est_tol=st.sampled_from([900, 1800, 3600, 7200]),
    tf_tol=st.sampled_from([900, 3600, 14400]),
    price_seed=st.integers(0, 1000),
    slack=st.floats(0.0, 3.0),
    method=st.sampled_from(["milp", "colgen"]),
)
def test_aggregate_schedule_disaggregate_keeps_every_member_feasible(
    batch, est_tol, tf_tol, price_seed, slack, method
):
    agg = aggregate(batch, est_tolerance_s=est_tol, tf_tolerance_s=tf_tol)
    aggs = agg.aggregates
    prices = np.random.default_rng(price_seed).uniform(-30, 150, GRID.n)
    # A limit the aggregates can meet by construction (all at EST and at the lower bounds of their inner
    # boxes: a one-member aggregate carries its member's TEC), plus slack.
    floor_load = np.bincount(
        ((aggs.est_s - GRID.start_s) // INTERVAL_S)[aggs.owner_index] + aggs.position,
        inner_bounds(aggs)[0],
        GRID.n,
    )
    limit_kw = (floor_load.max() + slack) / GRID.step_h
    res = schedule_flexoffers(aggs, GRID, prices, limit_kw=limit_kw, method=method)
    assert res.load_kwh.max() <= limit_kw * GRID.step_h + 1e-6
    assert res.lower_bound_eur <= res.cost_eur + 1e-9
    members = disaggregate(agg, res.schedule)
    assert_member_feasible(batch, members)
    # Members sum exactly to the aggregate schedule, period by period, and cost the same.
    member_load = place_on_grid(batch, members, GRID.start_s, GRID.n)
    np.testing.assert_allclose(member_load, res.load_kwh, rtol=1e-9, atol=1e-7)
    assert np.isclose(float(member_load @ prices) / 1000, res.cost_eur, rtol=1e-9, atol=1e-7)
