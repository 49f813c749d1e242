"""Disaggregation: every feasible aggregate schedule splits into feasible member schedules.

The feasibility check here is the test's own (a plain loop per offer), independent of
``gridflex.flexoffer.validate`` and of the vectorized check inside ``disaggregate``.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflex.errors import DisaggregationError
from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.disaggregation import check_disaggregation, disaggregate
from gridflex.flexoffer.model import FlexOfferBatch, Schedule
from tests.flexoffer.strategies import BASE_S, INTERVAL_S, box_schedules, offers

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-7


# ---- the independent check ----------------------------------------------------------------------
def assert_feasible(batch: FlexOfferBatch, sched: Schedule, tol: float = TOL) -> None:
    """Every offer's start in its window on the grid, every interval in its bounds, total in its TEC."""
    assert sched.start_s.shape == (len(batch),) and sched.energy_kwh.shape == batch.lower_kwh.shape
    for i in range(len(batch)):
        s, est, lst = int(sched.start_s[i]), int(batch.est_s[i]), int(batch.lst_s[i])
        assert est <= s <= lst and (s - est) % batch.interval_s == 0, (i, s, est, lst)
        a, b = batch.offsets[i], batch.offsets[i + 1]
        x, lo, hi = sched.energy_kwh[a:b], batch.lower_kwh[a:b], batch.upper_kwh[a:b]
        assert np.all(x >= lo - tol) and np.all(x <= hi + tol), (i, x, lo, hi)
        total = float(x.sum())
        if not np.isnan(batch.tec_lower_kwh[i]):
            assert total >= batch.tec_lower_kwh[i] - tol, (i, total, batch.tec_lower_kwh[i])
        if not np.isnan(batch.tec_upper_kwh[i]):
            assert total <= batch.tec_upper_kwh[i] + tol, (i, total, batch.tec_upper_kwh[i])


def assert_sums_match(agg, member_sched: Schedule, agg_sched: Schedule, rel: float = 1e-9) -> None:
    """Per aggregate and absolute period, the members' energies add up to the aggregate's."""
    members, aggregates = agg.members, agg.aggregates
    total: dict[tuple[int, int], float] = {}
    scale: dict[tuple[int, int], float] = {}
    for i in range(len(members)):
        g = int(agg.group[i])
        for k in range(members.lengths[i]):
            key = (g, int(member_sched.start_s[i]) + k * members.interval_s)
            x = float(member_sched.energy_kwh[members.offsets[i] + k])
            total[key] = total.get(key, 0.0) + x
            scale[key] = scale.get(key, 0.0) + abs(x)
    for g in range(len(aggregates)):
        for k in range(aggregates.lengths[g]):
            key = (g, int(agg_sched.start_s[g]) + k * aggregates.interval_s)
            want = float(agg_sched.energy_kwh[aggregates.offsets[g] + k])
            got = total.pop(key, 0.0)
            assert abs(got - want) <= rel * max(1.0, scale.get(key, 0.0), abs(want)), (g, k, got, want)
    assert not total, f"member energy outside every aggregate period: {total}"


# ---- the main property --------------------------------------------------------------------------
@st.composite
def aggregations(draw):
    batch = draw(offers(max_size=10))
    how = draw(st.sampled_from(["cells", "tight", "one", "random"]))
    if how == "cells":
        return aggregate(batch)
    if how == "tight":
        return aggregate(batch, est_tolerance_s=900, tf_tolerance_s=900)
    if how == "one":
        return aggregate(batch, groups=np.zeros(len(batch), dtype=np.int64))
    groups = np.asarray(draw(st.lists(st.integers(0, 3), min_size=len(batch), max_size=len(batch))))
    return aggregate(batch, groups=groups)


@SETTINGS
@given(data=st.data())
def test_any_schedule_inside_the_aggregates_splits_into_feasible_members(data):
    agg = data.draw(aggregations())
    sched = data.draw(box_schedules(agg.aggregates))
    method = data.draw(st.sampled_from(["auto", "proportional"]))
    members = disaggregate(agg, sched, method=method)
    assert_feasible(agg.members, members)
    assert_sums_match(agg, members, sched)


@SETTINGS
@given(data=st.data())
def test_the_one_sweep_split_is_the_inner_box_formula_and_passes_the_full_check(data):
    """The split computes ``l + (u − l)(α + (1 − α − β) f)`` and checks only what construction does not
    guarantee: against the formula on the stored inner boxes (an independent path), and against the
    full check (bounds and TEC too)."""
    agg = data.draw(aggregations())
    sched = data.draw(box_schedules(agg.aggregates))
    members = disaggregate(agg, sched, method="proportional")
    g = agg.aggregates
    span = g.upper_kwh - g.lower_kwh
    f = np.clip(
        np.divide(sched.energy_kwh - g.lower_kwh, span, out=np.zeros(len(span)), where=span > 0), 0, 1
    )
    lo, hi = agg.inner_lower_kwh, agg.inner_upper_kwh
    want = lo + f[agg.flat_index] * (hi - lo)
    alone = agg.alone[agg.members.owner_index]
    want[alone] = sched.energy_kwh[agg.flat_index[alone]]
    np.testing.assert_allclose(members.energy_kwh, want, rtol=1e-12, atol=1e-12)
    assert check_disaggregation(agg, members, sched.energy_kwh, tol=1e-9) == []


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_lp_method_on_inside_schedules_is_feasible_too(data):
    agg = data.draw(aggregations())
    sched = data.draw(box_schedules(agg.aggregates))
    members = disaggregate(agg, sched, method="lp")
    assert_feasible(agg.members, members, tol=1e-6)
    assert_sums_match(agg, members, sched, rel=1e-6)


def exact_set_schedule(batch: FlexOfferBatch, rng: np.random.Generator) -> np.ndarray:
    """Flat energies feasible for the members' exact sets (box and TEC) but typically outside their
    inner boxes: a random total in the effective TEC, filled greedily from the front or the back."""
    t_lo, t_hi = batch.tec_effective
    out = np.empty_like(batch.lower_kwh)
    for i in range(len(batch)):
        a, b = batch.offsets[i], batch.offsets[i + 1]
        lo, hi = batch.lower_kwh[a:b], batch.upper_kwh[a:b]
        need = t_lo[i] + rng.random() * (t_hi[i] - t_lo[i]) - lo.sum()
        order = np.arange(b - a) if rng.random() < 0.5 else np.arange(b - a)[::-1]
        x = lo.copy()
        for k in order:
            take = min(hi[k] - lo[k], max(0.0, need))
            x[k] += take
            need -= take
        out[a:b] = x
    return out


@settings(max_examples=150, deadline=None)
@given(batch=offers(max_size=8), data=st.data())
def test_schedules_of_the_exact_sets_split_by_the_lp(batch, data):
    """An aggregate schedule summed from feasible member schedules (box and TEC, shifted together)
    generally leaves the inner aggregate; the auto method still finds feasible members."""
    agg = aggregate(batch, groups=np.zeros(len(batch), dtype=np.int64))
    g = agg.aggregates
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    delta = data.draw(st.integers(0, int(g.time_flex[0])))
    x = np.bincount(agg.flat_index, weights=exact_set_schedule(batch, rng), minlength=len(g.lower_kwh))
    sched = Schedule(g.est_s + delta * INTERVAL_S, x)
    members = disaggregate(agg, sched, method="auto")
    assert_feasible(batch, members, tol=1e-6)
    assert_sums_match(agg, members, sched, rel=1e-6)


# ---- hand examples ------------------------------------------------------------------------------
def _pair(tec_a=(1.0, 1.0), tec_b=(1.0, 1.0)):
    """Two members of two intervals in [0, 1], EST 0, tf 2."""
    return FlexOfferBatch.from_profiles(
        ["a", "b"],
        [BASE_S, BASE_S],
        [BASE_S + 2 * INTERVAL_S] * 2,
        [[0.0, 0.0], [0.0, 0.0]],
        [[1.0, 1.0], [1.0, 1.0]],
        interval_s=INTERVAL_S,
        tec_lower_kwh=[tec_a[0], tec_b[0]],
        tec_upper_kwh=[tec_a[1], tec_b[1]],
    )


def test_proportional_split_by_hand():
    batch = _pair(tec_a=(np.nan, np.nan), tec_b=(np.nan, np.nan))
    agg = aggregate(batch)
    sched = Schedule([BASE_S + INTERVAL_S], [0.5, 2.0])
    members = disaggregate(agg, sched)
    assert members.start_s.tolist() == [BASE_S + INTERVAL_S] * 2
    np.testing.assert_allclose(members.energy_kwh, [0.25, 1.0, 0.25, 1.0])


def test_lp_path_splits_a_schedule_outside_the_inner_aggregate():
    # each member must take exactly 1 kWh over two intervals: the inner boxes are the points 0.5,
    # so the inner aggregate is the point (1, 1); (2, 0) is still reachable: both members (1, 0)
    batch = _pair()
    agg = aggregate(batch)
    np.testing.assert_allclose(agg.aggregates.lower_kwh, [1.0, 1.0])
    np.testing.assert_allclose(agg.aggregates.upper_kwh, [1.0, 1.0])
    sched = Schedule([BASE_S], [2.0, 0.0])
    with pytest.raises(DisaggregationError, match=r"agg-0.*period 0.*2 kWh outside"):
        disaggregate(agg, sched, method="proportional")
    members = disaggregate(agg, sched)
    assert_feasible(batch, members)
    np.testing.assert_allclose(members.energy_kwh, [1.0, 0.0, 1.0, 0.0], atol=1e-9)


def test_complementary_tecs():
    # a takes [0, 0.5] in total, b [1.5, 2]: the inner aggregate is [0.75, 1.25] in each period, so
    # (1.5, 0.5) lies outside it, yet a = (0.5, 0), b = (1, 0.5) meets it
    batch = _pair(tec_a=(0.0, 0.5), tec_b=(1.5, 2.0))
    agg = aggregate(batch)
    sched = Schedule([BASE_S], [1.5, 0.5])
    assert not (agg.aggregates.lower_kwh[0] <= 1.5 <= agg.aggregates.upper_kwh[0])  # outside inner
    members = disaggregate(agg, sched)
    assert_feasible(batch, members)
    assert_sums_match(agg, members, sched)


def test_non_disaggregable_schedules_name_the_aggregate_and_the_reason():
    batch = _pair()
    agg = aggregate(batch)
    with pytest.raises(DisaggregationError, match=r"agg-0.*total 3 kWh outside the sum .* \[2, 2\]") as e:
        disaggregate(agg, Schedule([BASE_S], [2.0, 1.0]))  # TECs allow 2 in total
    assert [(p.object_id, p.field) for p in e.value.problems] == [("agg-0", "energy_kwh")]
    with pytest.raises(DisaggregationError, match=r"agg-0.*period 0: 2.5 kWh outside .*\[0, 2\]") as e:
        disaggregate(agg, Schedule([BASE_S], [2.5, -0.5]))  # beyond the summed boxes
    assert [(p.object_id, p.field) for p in e.value.problems] == [("agg-0", "energy_kwh[0]")]
    assert "2.5 kWh outside" in e.value.problems[0].message


def test_conflicting_period_sums_and_tecs_are_named():
    # two periods; a: interval 0 fixed at 0, b free; TEC a = 1 forces a's interval 1 = 1
    batch = FlexOfferBatch.from_profiles(
        ["a", "b"],
        [BASE_S, BASE_S],
        [BASE_S, BASE_S],
        [[0.0, 0.0], [0.0, 0.0]],
        [[0.0, 1.0], [1.0, 1.0]],
        interval_s=INTERVAL_S,
        tec_lower_kwh=[1.0, 0.0],
        tec_upper_kwh=[1.0, 2.0],
    )
    agg = aggregate(batch)
    with pytest.raises(DisaggregationError, match=r"agg-0.*conflict"):
        disaggregate(agg, Schedule([BASE_S], [1.0, 0.5]))  # a needs 1 in period 1, but only 0.5 there


def test_starts_outside_the_window_or_off_the_grid_are_refused():
    agg = aggregate(_pair())
    with pytest.raises(DisaggregationError, match=r"agg-0.*start") as e:
        disaggregate(agg, Schedule([BASE_S + 3 * INTERVAL_S], [1.0, 1.0]))
    assert [(p.object_id, p.field) for p in e.value.problems] == [("agg-0", "start_s")]
    with pytest.raises(DisaggregationError, match="agg-0"):
        disaggregate(agg, Schedule([BASE_S + 60], [1.0, 1.0]))
    with pytest.raises(DisaggregationError, match="shapes") as e:
        disaggregate(agg, Schedule([BASE_S], [1.0]))
    assert e.value.problems and e.value.problems[0].field == "shape"
    with pytest.raises(DisaggregationError, match="not finite") as e:
        disaggregate(agg, Schedule([BASE_S], [1.0, np.nan]))
    assert [(p.object_id, p.field) for p in e.value.problems] == [("agg-0", "energy_kwh")]
    with pytest.raises(ValueError):
        disaggregate(agg, Schedule([BASE_S], [1.0, 1.0]), method="magic")  # type: ignore[arg-type]


def test_values_within_tolerance_outside_the_bounds_are_clipped():
    batch = _pair(tec_a=(np.nan, np.nan), tec_b=(np.nan, np.nan))
    agg = aggregate(batch)
    members = disaggregate(agg, Schedule([BASE_S], [2.0 + 1e-8, -1e-8]), method="proportional")
    assert_feasible(batch, members, tol=0.0)


def test_the_final_check_catches_a_broken_member_schedule():
    batch = _pair()
    agg = aggregate(batch)
    good = disaggregate(agg, Schedule([BASE_S], [1.0, 1.0]))
    assert check_disaggregation(agg, good, np.array([1.0, 1.0])) == []
    bad = Schedule(
        good.start_s + np.array([0, 3 * INTERVAL_S]), good.energy_kwh + np.array([0.0, 0.0, 0.7, 0.0])
    )
    fields = {(p.object_id, p.field) for p in check_disaggregation(agg, bad, np.array([1.0, 1.0]))}
    assert (
        ("b", "start_s") in fields and ("b", "energy_kwh") in fields and ("agg-0", "energy_kwh[0]") in fields
    )


def test_many_groups_with_some_outside_only_those_use_the_lp():
    rng = np.random.default_rng(3)
    n = 60
    batch = FlexOfferBatch.from_profiles(
        [f"fo-{i}" for i in range(n)],
        BASE_S + INTERVAL_S * rng.integers(0, 16, n),
        BASE_S + INTERVAL_S * (16 + rng.integers(0, 4, n)),
        [[0.0, 0.0]] * n,
        [[1.0, 1.0]] * n,
        interval_s=INTERVAL_S,
        tec_lower_kwh=np.full(n, 1.0),
        tec_upper_kwh=np.full(n, 1.0),
    )
    agg = aggregate(batch, est_tolerance_s=3600, tf_tolerance_s=3600)
    g = agg.aggregates
    x = g.lower_kwh + rng.random(len(g.lower_kwh)) * (g.upper_kwh - g.lower_kwh)
    # push the first aggregate outside its inner bounds, towards a still reachable point: all members'
    # energy into their first interval
    first = np.flatnonzero(agg.group == 0)
    x0 = np.bincount(agg.flat_index[batch.offsets[first]], minlength=len(x)).astype(float)
    x[g.offsets[0] : g.offsets[1]] = x0[g.offsets[0] : g.offsets[1]]
    sched = Schedule(g.est_s, x)
    members = disaggregate(agg, sched)
    assert_feasible(batch, members)
    assert_sums_match(agg, members, sched, rel=1e-7)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), chunk=st.sampled_from([1, 3, 8, 40]))
def test_blocked_passes_give_the_same_results_for_any_block_size(data, chunk):
    """Small blocks exercise both ways of summing the aggregate bounds (per block range, or one
    bincount over the stored flat index) and the block edges of every blocked pass."""
    # by module path: the package re-exports the function `aggregate`, which shadows the module name
    aggregate_module = importlib.import_module("gridflex.flexoffer.aggregation")
    batch = data.draw(offers(max_size=10))
    groups = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=len(batch), max_size=len(batch))))
    ref = aggregate(batch, groups=groups)
    sched = data.draw(box_schedules(ref.aggregates))
    ref_members = disaggregate(ref, sched)
    model_module = importlib.import_module("gridflex.flexoffer.model")
    saved = aggregate_module._CHUNK
    aggregate_module._CHUNK = model_module._CHUNK = chunk
    try:
        agg = aggregate(batch, groups=groups)
        members = disaggregate(agg, sched)
    finally:
        aggregate_module._CHUNK = model_module._CHUNK = saved
    np.testing.assert_allclose(agg.aggregates.lower_kwh, ref.aggregates.lower_kwh, atol=1e-12)
    np.testing.assert_allclose(agg.aggregates.upper_kwh, ref.aggregates.upper_kwh, atol=1e-12)
    np.testing.assert_array_equal(agg.flat_index, ref.flat_index)
    np.testing.assert_array_equal(members.start_s, ref_members.start_s)
    np.testing.assert_allclose(members.energy_kwh, ref_members.energy_kwh, atol=1e-12)


def test_a_member_alone_takes_its_aggregates_schedule_unchanged():
    # A TEC-bound member alone: any schedule inside its own box and TEC is handed over bit for bit,
    # also one the inner box (0.5..1 kWh per interval here) would have excluded.
    batch = FlexOfferBatch.from_profiles(
        ["ev"],
        [BASE_S],
        [BASE_S + 4 * INTERVAL_S],
        [[0.0, 0.0]],
        [[2.0, 2.0]],
        interval_s=INTERVAL_S,
        tec_lower_kwh=[1.0],
        tec_upper_kwh=[2.0],
    )
    agg = aggregate(batch)
    x = Schedule([BASE_S + 3 * INTERVAL_S], [0.1 + 0.2, 1.7])
    members = disaggregate(agg, x, method="proportional")
    np.testing.assert_array_equal(members.energy_kwh, x.energy_kwh)
    np.testing.assert_array_equal(members.start_s, x.start_s)
    with pytest.raises(DisaggregationError, match="TEC"):  # the TEC still holds, through the aggregate
        disaggregate(agg, Schedule([BASE_S], [0.2, 0.3]))


def test_unassigned_aggregates_leave_their_members_on_defaults_or_say_a_default_is_missing() -> None:
    """disaggregate_assigned: an aggregate left unscheduled (start NO_TIME, rejected at the decision
    time) gives its members their default schedules; without defaults it names the missing field."""
    from dataclasses import replace

    from gridflex.flexoffer.disaggregation import disaggregate_assigned
    from gridflex.flexoffer.model import NO_TIME

    h = INTERVAL_S
    batch = FlexOfferBatch.from_profiles(
        ["a", "b"],
        [BASE_S, BASE_S + 8 * h],
        [BASE_S + 2 * h, BASE_S + 10 * h],
        [[1.0, 0.5]] * 2,
        [[2.0, 1.0]] * 2,
    )
    default = Schedule(np.array([BASE_S, BASE_S + 9 * h]), np.array([1.5, 0.5, 1.0, 0.75]))
    agg = aggregate(replace(batch, default=default), groups=np.array([0, 1]))
    sched = Schedule(np.array([NO_TIME, BASE_S + 10 * h]), np.array([np.nan, np.nan, 2.0, 1.0]))
    out = disaggregate_assigned(agg, sched)
    assert out.start_s.tolist() == [BASE_S, BASE_S + 10 * h]
    np.testing.assert_allclose(out.energy_kwh, [1.5, 0.5, 2.0, 1.0])
    with pytest.raises(DisaggregationError, match="default schedule"):
        disaggregate_assigned(aggregate(batch, groups=np.array([0, 1])), sched)
