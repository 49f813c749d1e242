"""Aggregation: inner boxes, start alignment, grouping, bin packing, balance, report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflex.errors import FlexOfferValidationError
from gridflex.flexoffer.aggregation import (
    Aggregation,
    aggregate,
    balance_aggregate,
    balance_groups,
    group_offers,
    imbalance,
    inner_bounds,
)
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch
from tests.flexoffer.strategies import BASE_S, INTERVAL_S, offers

H = 3600
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def batch_of(profiles, est, tf, tec=None, ids=None):
    """Small batch from (lower, upper) profile pairs; est / tf in intervals from BASE_S."""
    n = len(profiles)
    est_s = BASE_S + INTERVAL_S * np.asarray(est)
    tec = tec or [(np.nan, np.nan)] * n
    return FlexOfferBatch.from_profiles(
        ids or [f"fo-{i}" for i in range(n)],
        est_s,
        est_s + INTERVAL_S * np.asarray(tf),
        [p[0] for p in profiles],
        [p[1] for p in profiles],
        interval_s=INTERVAL_S,
        tec_lower_kwh=[t[0] for t in tec],
        tec_upper_kwh=[t[1] for t in tec],
    )


# ---- hand examples ------------------------------------------------------------------------------
def test_two_offers_with_different_est_and_tf_align_at_the_earliest_start():
    a = ([1.0, 0.0], [2.0, 1.0])  # EST 0, tf 2, two intervals
    b = ([0.0], [3.0])  # EST +1 interval, tf 1, one interval
    batch = batch_of([a, b], est=[0, 1], tf=[2, 1])
    agg = aggregate(batch, est_tolerance_s=H, tf_tolerance_s=H)
    assert len(agg.aggregates) == 1
    g = agg.aggregates
    assert g.ids.tolist() == ["agg-0"] and g.owners.tolist() == ["aggregator"]
    assert g.est_s[0] == BASE_S and g.lst_s[0] == BASE_S + 1 * INTERVAL_S  # tf_g = min(2, 1)
    np.testing.assert_allclose(g.lower_kwh, [1.0, 0.0])
    np.testing.assert_allclose(g.upper_kwh, [2.0, 4.0])
    assert agg.offset.tolist() == [0, 1]
    assert agg.group.tolist() == [0, 0]
    assert np.isnan(g.tec_lower_kwh).all() and np.isnan(g.tec_upper_kwh).all()
    assert g.default is None
    assert agg.ratio == 2.0


def test_gap_between_members_is_a_fixed_zero_interval():
    batch = batch_of([([1.0], [2.0]), ([3.0], [4.0])], est=[0, 2], tf=[1, 1])
    g = aggregate(batch).aggregates
    np.testing.assert_allclose(g.lower_kwh, [1.0, 0.0, 3.0])
    np.testing.assert_allclose(g.upper_kwh, [2.0, 0.0, 4.0])


def test_inner_box_of_tec_bound_members():
    box = ([0.0, 0.0], [2.0, 2.0])  # S_l = 0, S_u = 4
    batch = batch_of(
        [box, box, box], est=[0, 0, 0], tf=[0, 0, 0], tec=[(3.0, 4.0), (1.0, 2.0), (np.nan, 10.0)]
    )
    lo, hi = inner_bounds(batch)
    np.testing.assert_allclose(lo, [1.5, 1.5, 0.5, 0.5, 0.0, 0.0])  # α = 3/4; α = 1/4; no binding TEC
    np.testing.assert_allclose(hi, [2.0, 2.0, 1.0, 1.0, 2.0, 2.0])  # β = 0;  β = 1/2
    agg = aggregate(batch, groups=np.zeros(3, dtype=int))
    np.testing.assert_allclose(agg.inner_lower_kwh, lo)
    np.testing.assert_allclose(agg.aggregates.lower_kwh, [2.0, 2.0])
    np.testing.assert_allclose(agg.aggregates.upper_kwh, [5.0, 5.0])


def test_point_tec_gives_a_point_box():
    batch = batch_of([([0.0, -1.0], [2.0, 3.0])], est=[0], tf=[0], tec=[(2.0, 2.0)])
    lo, hi = inner_bounds(batch)
    np.testing.assert_allclose(lo, hi)
    assert lo.sum() == pytest.approx(2.0)


def test_invalid_batches_are_refused_with_problems():
    batch = batch_of([([1.0], [0.0]), ([0.0], [1.0])], est=[0, 0], tf=[0, 0], ids=["bad", "ok"])
    with pytest.raises(FlexOfferValidationError) as e:
        aggregate(batch)
    assert e.value.problems[0].object_id == "bad"
    batch = batch_of([([0.0], [1.0])], est=[0], tf=[0], tec=[(5.0, 6.0)], ids=["tec"])
    with pytest.raises(FlexOfferValidationError, match="tec"):
        aggregate(batch)
    batch = batch_of([([0.0], [np.nan])], est=[0], tf=[0], ids=["nan"])
    with pytest.raises(FlexOfferValidationError, match="nan"):
        aggregate(batch)


def test_group_mixing_interval_grids_is_refused():
    batch = batch_of([([0.0], [1.0]), ([0.0], [1.0])], est=[0, 0], tf=[0, 0])
    shifted = FlexOfferBatch(
        **{
            **_fields(batch),
            "est_s": batch.est_s + np.array([0, 300]),
            "lst_s": batch.lst_s + np.array([0, 300]),
        }
    )
    with pytest.raises(FlexOfferValidationError, match="grid"):
        aggregate(shifted, groups=np.zeros(2, dtype=int))
    assert len(set(group_offers(shifted).tolist())) == 2  # the grouping keeps grids apart


def _fields(b: FlexOfferBatch) -> dict:
    names = ["ids", "est_s", "lst_s", "offsets", "lower_kwh", "upper_kwh", "interval_s", "owners"]
    return {k: getattr(b, k) for k in names} | {
        "tec_lower_kwh": b.tec_lower_kwh,
        "tec_upper_kwh": b.tec_upper_kwh,
    }


def test_deadlines_are_the_earliest_and_stay_before_the_latest_start():
    batch = batch_of([([0.0], [1.0])] * 3, est=[0, 0, 0], tf=[8, 2, 8])
    from dataclasses import replace

    no = NO_TIME
    batch = replace(
        batch,
        accept_before_s=np.array([BASE_S - 900, no, no]),
        assign_before_s=np.array([BASE_S + 7 * 900, no, BASE_S + 6 * 900]),
        _cache={},
    )
    g = aggregate(batch, groups=np.zeros(3, dtype=int)).aggregates
    assert g.accept_before_s.tolist() == [BASE_S - 900]
    assert g.assign_before_s.tolist() == [BASE_S + 2 * 900]  # capped at the aggregate's LST (tf = 2)
    assert np.isnan(g.price_above_eur_per_mwh).all()


def test_empty_batch():
    batch = batch_of([], est=[], tf=[])
    agg = aggregate(batch)
    assert len(agg.aggregates) == 0 and len(agg.group) == 0 and math.isnan(agg.ratio)


def test_explicit_groups_need_not_be_dense():
    batch = batch_of([([0.0], [1.0])] * 3, est=[0, 0, 0], tf=[0, 0, 0])
    agg = aggregate(batch, groups=np.array([7, 3, 7]))
    assert agg.group.tolist() == [1, 0, 1]
    with pytest.raises(TypeError):
        aggregate(batch, groups=np.zeros(3, dtype=int), max_group_size=2)


# ---- properties of the aggregates ---------------------------------------------------------------
@SETTINGS
@given(
    batch=offers(max_size=12), est_tol=st.sampled_from([900, 3600, 4 * H]), tf_tol=st.sampled_from([900, H])
)
def test_aggregates_bound_the_inner_boxes(batch, est_tol, tf_tol):
    agg = aggregate(batch, est_tolerance_s=est_tol, tf_tolerance_s=tf_tol)
    g = agg.aggregates
    lo, hi = agg.inner_lower_kwh, agg.inner_upper_kwh
    # inner boxes: inside the offer's box, and their sums inside the effective TEC
    assert (lo >= batch.lower_kwh - 1e-9).all() and (hi <= batch.upper_kwh + 1e-9).all() and (lo <= hi).all()
    # ... except members alone in their aggregate, which keep their own box and TEC
    t_lo, t_hi = batch.tec_effective
    shared = ~agg.alone
    assert (batch.sum_per_offer(lo) >= t_lo - 1e-9)[shared].all()
    assert (batch.sum_per_offer(hi) <= t_hi + 1e-9)[shared].all()
    alone = np.flatnonzero(agg.alone)
    flat_alone = np.isin(batch.owner_index, alone)
    assert (lo[flat_alone] == batch.lower_kwh[flat_alone]).all()
    assert (hi[flat_alone] == batch.upper_kwh[flat_alone]).all()
    np.testing.assert_array_equal(g.tec_lower_kwh[agg.group[alone]], batch.tec_lower_kwh[alone])
    np.testing.assert_array_equal(g.tec_upper_kwh[agg.group[alone]], batch.tec_upper_kwh[alone])
    assert np.isnan(g.tec_lower_kwh[agg.group[shared]]).all()
    # start alignment: each member's window covers the aggregate's shift range
    member_tf = batch.time_flex
    agg_tf = g.time_flex[agg.group]
    assert (agg_tf <= member_tf).all()
    assert (batch.est_s == g.est_s[agg.group] + agg.offset * INTERVAL_S).all()
    # bounds: per aggregate interval, the sum of the members' inner boxes there (plain loop)
    exp_lo, exp_hi = np.zeros(len(g.lower_kwh)), np.zeros(len(g.lower_kwh))
    for i in range(len(batch)):
        gi = agg.group[i]
        for k in range(batch.lengths[i]):
            t = g.offsets[gi] + agg.offset[i] + k
            assert t < g.offsets[gi + 1]
            exp_lo[t] += lo[batch.offsets[i] + k]
            exp_hi[t] += hi[batch.offsets[i] + k]
    np.testing.assert_allclose(g.lower_kwh, exp_lo, atol=1e-9)
    np.testing.assert_allclose(g.upper_kwh, exp_hi, atol=1e-9)
    fresh = Aggregation(g, batch, agg.group, agg.offset, lo, hi)  # flat index rebuilt without the cache
    assert (fresh.flat_index == agg.flat_index).all()


def ev_offer_batch():
    """The EV example of docs/flexoffer-format.md: 0..11 kWh over 4 intervals, then a fixed 0.3 kWh over
    2 intervals, 6 to 10 kWh in total, 16 intervals of time flexibility."""
    return FlexOfferBatch.from_profiles(
        ["ev-42"],
        [BASE_S],
        [BASE_S + 16 * INTERVAL_S],
        [[0, 0, 0, 0, 0.15, 0.15]],
        [[2.75, 2.75, 2.75, 2.75, 0.15, 0.15]],
        interval_s=INTERVAL_S,
        tec_lower_kwh=[6.0],
        tec_upper_kwh=[10.0],
        price_above_eur_per_mwh=[45.0],
        price_below_eur_per_mwh=[30.0],
        default=([BASE_S], [[2.75, 2.75, 1.25, 1.25, 0.15, 0.15]]),
    )


def test_a_one_member_aggregate_passes_its_member_through():
    batch = ev_offer_batch()
    agg = aggregate(batch)
    g = agg.aggregates
    for name in ("est_s", "lst_s", "offsets", "lower_kwh", "upper_kwh", "tec_lower_kwh", "tec_upper_kwh"):
        np.testing.assert_array_equal(getattr(g, name), getattr(batch, name), err_msg=name)
    np.testing.assert_array_equal(g.price_above_eur_per_mwh, [45.0])
    np.testing.assert_array_equal(g.default.energy_kwh, batch.default.energy_kwh)
    retained = agg.report()["retained"]
    # all of it: before, the inner box kept 4 of the 11 kWh of energy flexibility (64 % lost)
    assert retained["energy"] == 1.0 and retained["tec_energy"] == 1.0
    assert retained["time_per_member"] == 1.0 and retained["absolute_area"] == 1.0


@SETTINGS
@given(batch=offers(max_size=10))
def test_singletons_retain_all_their_flexibility(batch):
    agg = aggregate(batch, groups=np.arange(len(batch)))
    retained = agg.report()["retained"]
    for k in ("energy", "tec_energy", "time", "time_per_member", "product", "absolute_area"):
        assert np.isnan(retained[k]) or retained[k] == pytest.approx(1.0, rel=1e-12), k


# ---- grouping -----------------------------------------------------------------------------------
@SETTINGS
@given(
    batch=offers(max_size=30, max_tf=12),
    est_tol=st.sampled_from([900, 1800, H]),
    tf_tol=st.sampled_from([900, H]),
)
def test_groups_respect_the_tolerances(batch, est_tol, tf_tol):
    groups = group_offers(batch, est_tolerance_s=est_tol, tf_tolerance_s=tf_tol)
    assert groups.dtype == np.int64 and set(groups.tolist()) == set(range(groups.max() + 1))
    cell = list(
        zip((batch.est_s // est_tol).tolist(), ((batch.lst_s - batch.est_s) // tf_tol).tolist(), strict=True)
    )
    for g in range(groups.max() + 1):
        assert len({cell[i] for i in np.flatnonzero(groups == g)}) == 1
    assert len(set(cell)) == groups.max() + 1  # no limits: one group per cell


def _weights(batch):
    return batch.sum_per_offer(np.maximum(np.abs(batch.lower_kwh), np.abs(batch.upper_kwh)))


@SETTINGS
@given(
    batch=offers(min_size=5, max_size=40),
    size=st.one_of(st.none(), st.integers(1, 6)),
    cap=st.one_of(st.none(), st.floats(1.0, 60.0)),
)
def test_bin_packing_respects_size_and_energy_limits(batch, size, cap):
    groups = group_offers(
        batch, est_tolerance_s=4 * H, tf_tolerance_s=4 * H, max_group_size=size, max_group_kwh=cap
    )
    w = _weights(batch)
    cell_groups = group_offers(batch, est_tolerance_s=4 * H, tf_tolerance_s=4 * H)
    for g in range(groups.max() + 1):
        members = np.flatnonzero(groups == g)
        assert len(set(cell_groups[members].tolist())) == 1  # bins stay inside a cell
        if size is not None:
            assert len(members) <= size
        if cap is not None and len(members) > 1:
            assert w[members].sum() <= cap * (1 + 1e-9)
    if cap is not None and size is None:  # the next-fit bound: at most 2·ceil(W / cap) bins per cell
        for c in range(cell_groups.max() + 1):
            in_cell = cell_groups == c
            n_bins = len(set(groups[in_cell].tolist()))
            assert n_bins <= max(1, 2 * math.ceil(w[in_cell].sum() / cap))


def test_bin_packing_hand_example():
    batch = batch_of([([0.0], [u]) for u in [5.0, 4.0, 3.0, 2.0, 1.0, 12.0]], est=[0] * 6, tf=[0] * 6)
    groups = group_offers(batch, max_group_kwh=6.0)
    w = _weights(batch)
    for g in range(groups.max() + 1):
        m = groups == g
        assert m.sum() == 1 or w[m].sum() <= 6.0
    assert groups[5] not in groups[:5]  # the offer above the limit is alone
    groups = group_offers(batch, max_group_size=4)
    assert np.bincount(groups).tolist() == [4, 2]


# ---- balance ------------------------------------------------------------------------------------
def test_balance_aggregation_pairs_consumers_with_producers():
    profiles = [([2.0], [4.0]), ([1.0], [1.0]), ([-3.0], [-3.0]), ([-1.5], [-0.5]), ([0.5], [0.7])]
    batch = batch_of(profiles, est=[0] * 5, tf=[1] * 5)
    groups = balance_groups(batch)
    # consumers by |mid|: 3.0 (0), 1.0 (1), 0.6 (4); producers: 3.0 (2), 1.0 (3)
    assert groups[0] == groups[2] and groups[1] == groups[3]
    assert groups[4] not in (groups[0], groups[1]) and len(set(groups.tolist())) == 3
    agg = balance_aggregate(batch)
    assert agg.ratio == pytest.approx(5 / 3)
    assert imbalance(batch, agg.group) == pytest.approx(0.6 / 8.6)
    rep = agg.report()
    assert rep["imbalance"]["before"] == 1.0 and rep["imbalance"]["after"] < 0.1


@SETTINGS
@given(batch=offers(min_size=4, max_size=30))
def test_balance_never_raises_imbalance(batch):
    agg = balance_aggregate(batch, est_tolerance_s=4 * H, tf_tolerance_s=4 * H)
    assert np.bincount(agg.group).max() <= 2
    assert imbalance(batch, agg.group) <= 1.0 + 1e-12
    mid = batch.sum_per_offer(agg.inner_lower_kwh + agg.inner_upper_kwh) / 2
    for g in range(len(agg.aggregates)):
        m = np.flatnonzero(agg.group == g)
        if len(m) == 2:
            assert mid[m[0]] * mid[m[1]] < 0  # a pair mixes a consumer and a producer


def test_balance_lowers_imbalance_on_a_mixed_set():
    rng = np.random.default_rng(5)
    n = 200
    lo = rng.uniform(-5, 5, n)
    batch = batch_of([([a], [a + 1.0]) for a in lo], est=rng.integers(0, 8, n), tf=rng.integers(0, 4, n))
    balanced = balance_aggregate(batch)
    singletons = np.arange(n)
    assert imbalance(batch, singletons) == pytest.approx(1.0)
    assert imbalance(batch, balanced.group) < 0.5
    rep = balanced.report()["imbalance"]
    assert rep["after"] == pytest.approx(imbalance(batch, balanced.group)) and rep["before"] == 1.0


# ---- report -------------------------------------------------------------------------------------
def test_report_has_before_after_and_retained_for_each_measure():
    from gridflex.flexoffer.measures import flexibility_summary

    batch = batch_of(
        [([0.0, 0.0], [2.0, 2.0]), ([1.0], [3.0]), ([-2.0, -1.0], [0.0, 0.0])],
        est=[0, 1, 0],
        tf=[4, 2, 3],
        tec=[(1.0, 3.0), (np.nan, np.nan), (-2.5, -1.0)],
    )
    agg = aggregate(batch)
    rep = agg.report()
    keys = set(flexibility_summary(batch))
    assert {"time", "energy", "product", "vector", "time_series", "assignment_log10"} <= keys
    assert {"absolute_area", "relative_area", "tec_energy"} <= keys
    assert set(rep["before"]) == keys and set(rep["after"]) == keys
    assert set(rep["retained"]) == keys | {"time_per_member"}
    assert set(rep["notes"]) == keys | {"time_per_member"}
    # tf = 4, 2, 3 all in one aggregate with tf 2: the members keep 2 + 2 + 2 of 9 intervals.
    if len(agg.aggregates) == 1:
        assert rep["retained"]["time_per_member"] == pytest.approx(6 / 9)
    assert rep["members"] == 3 and rep["aggregates"] == len(agg.aggregates)
    # tec_energy is kept exactly (the aggregates' implied TEC span is the sum of the members' spans)
    assert rep["retained"]["tec_energy"] == pytest.approx(1.0)
    assert 0.0 < rep["retained"]["energy"] <= 1.0
    assert isinstance(agg, Aggregation)
