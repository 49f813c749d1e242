"""Baselines: local days (DST), like days, X-of-Y, same-day adjustment, MBMA, references, accuracy, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import DataError, TimeGridError, ValidationError
from gridflex.flexoffer.model import FlexOfferBatch, Schedule
from gridflex.market.baselines import (
    WEEKDAY,
    WEEKEND,
    BaselineSpec,
    accuracy,
    baselines_from_files,
    day_layout,
    fixed_reference,
    held_out_accuracy,
    like_day_average,
    meter_before_meter_after,
    nominated,
    nominated_from_flexoffers,
    read_meter_csv,
    same_day_adjustment,
    x_of_y,
)
from gridflex.timegrid import TimeGrid, local_day_grid

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "market" / "baselines"
SIMBENCH = EXAMPLES / "simbench_2016_spring_kw.csv"
TZ = "Europe/Berlin"


def days_grid(first: str, n_days: int, tz: str = TZ) -> TimeGrid:
    start = local_day_grid(first, tz).start
    end = local_day_grid(str((pd.Timestamp(first) + pd.Timedelta(days=n_days)).date()), tz).start
    return TimeGrid.between(start, end, 900)


def daily_levels(layout, levels: np.ndarray) -> np.ndarray:
    """(meters × days) levels → (meters × periods), flat within each day."""
    return layout.per_day(np.asarray(levels, dtype=float))


# ── local days ────────────────────────────────────────────────────────────────────────────────


def test_dst_days_have_92_and_100_quarter_hours_and_day_types():
    spring = day_layout(days_grid("2018-03-24", 3))
    assert np.bincount(spring.day_of_period).tolist() == [96, 92, 96]
    assert spring.day_type.tolist() == [WEEKEND, WEEKEND, WEEKDAY]  # Sat, Sun, Mon
    autumn = day_layout(days_grid("2018-10-28", 1), holidays=["2018-10-28"])
    assert autumn.grid.n == 100 and autumn.repeated.shape == (4, 2)
    assert day_layout(days_grid("2018-05-01", 1), holidays=["2018-05-01"]).day_type.tolist() == [WEEKEND]


@settings(max_examples=30, deadline=None)
@given(first=st.sampled_from(["2018-03-23", "2018-10-26", "2018-06-01"]), seed=st.integers(0, 2**31))
def test_cube_round_trip_keeps_every_period_and_averages_the_repeated_hour(first, seed):
    layout = day_layout(days_grid(first, 4))
    values = np.random.default_rng(seed).uniform(0, 10, (3, layout.grid.n))
    back = layout.uncube(layout.cube(values))
    once = np.ones(layout.grid.n, dtype=bool)
    cells = layout.day_of_period * layout.slots_per_day + layout.slot_of_period
    for cell, second in layout.repeated:
        (first_period,) = np.flatnonzero((cells == cell) & (np.arange(layout.grid.n) != second))
        once[[first_period, second]] = False
        mean = 0.5 * (values[:, first_period] + values[:, second])
        np.testing.assert_allclose(back[:, [first_period, second]], np.column_stack([mean, mean]))
    np.testing.assert_array_equal(back[:, once], values[:, once])


def test_grid_must_be_whole_local_days():
    with pytest.raises(TimeGridError, match="local midnight"):
        day_layout(TimeGrid("2018-06-01T00:00Z", 900, 96), TZ)
    with pytest.raises(TimeGridError, match="not local days"):
        day_layout(days_grid("2018-06-01", 2)).day_mask(["2018-06-05"])


# ── like days, X-of-Y ─────────────────────────────────────────────────────────────────────────


def test_like_day_average_uses_only_earlier_like_days_and_skips_event_days():
    layout = day_layout(days_grid("2018-06-04", 21))  # Monday, three weeks
    levels = np.where(layout.day_type == WEEKDAY, 2.0, 5.0)[None, :]
    events = layout.day_mask(["2018-06-12"])
    levels[0, events] = 100.0  # an activation day: never part of a history
    base = like_day_average(daily_levels(layout, levels), layout, days=3, exclude_days=events)
    day = layout.day_of_period
    assert np.isnan(base[0, day < 3]).all()  # Mon–Wed of week 1: fewer than 3 weekdays before
    later = day >= 3
    expected = np.where(layout.day_type[day] == WEEKDAY, 2.0, 5.0)
    weekend_short = (layout.day_type[day] == WEEKEND) & (day < 13)  # fewer than 3 weekend days before
    np.testing.assert_array_equal(base[0, later & ~weekend_short], expected[later & ~weekend_short])
    assert np.isnan(base[0, weekend_short]).all()


@pytest.mark.parametrize(
    ("variant", "x", "expected"), [("high", 3, 4.0), ("low", 3, 2.0), ("mid", 3, 3.0), ("mid", 2, 3.5)]
)
def test_x_of_y_picks_the_high_mid_or_low_days(variant, x, expected):
    layout = day_layout(days_grid("2018-06-04", 8))  # Mon 4 … Mon 11
    levels = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 9.0, 9.0, 0.0]])  # weekdays 1–5, weekend 9, then Monday
    base = x_of_y(daily_levels(layout, levels), layout, x=x, y=5, variant=variant)
    assert np.all(base[0, layout.day_of_period == 7] == expected)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), y=st.integers(1, 6), data=st.data())
def test_x_of_y_variants_are_ordered_and_y_of_y_is_the_like_day_average(seed, y, data):
    x = data.draw(st.integers(1, y))
    layout = day_layout(days_grid("2018-10-15", 28))  # includes the autumn DST day
    metered = np.random.default_rng(seed).gamma(2.0, 1.0, (4, layout.grid.n))
    high, mid, low = (x_of_y(metered, layout, x, y, v) for v in ("high", "mid", "low"))
    full = x_of_y(metered, layout, y, y, "high")
    np.testing.assert_allclose(full, like_day_average(metered, layout, y), equal_nan=True)
    day_mean = lambda b: np.add.reduceat(b, layout.day_start, axis=1) / np.bincount(layout.day_of_period)  # noqa: E731
    normal = np.bincount(layout.day_of_period) == 96  # on DST days the slots weigh differently
    ok = ~np.isnan(day_mean(high)) & normal[None, :]
    assert np.all(day_mean(high)[ok] >= day_mean(mid)[ok] - 1e-9)
    assert np.all(day_mean(mid)[ok] >= day_mean(low)[ok] - 1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), y=st.integers(1, 5), data=st.data())
def test_x_of_y_matches_a_day_by_day_reference(seed, y, data):
    x = data.draw(st.integers(1, y))
    variant = data.draw(st.sampled_from(["high", "mid", "low"]))
    first_day = data.draw(st.sampled_from(["2018-03-19", "2018-10-22"]))  # a DST day inside
    layout = day_layout(days_grid(first_day, 15))
    rng = np.random.default_rng(seed)
    metered = rng.integers(0, 4, (3, layout.grid.n)).astype(float)  # small integers: many ties
    events = layout.day_mask([str(layout.dates[rng.integers(0, 15)])])
    window = data.draw(st.sampled_from([None, (32, 48), (68, 80)]))  # whole day, 08–12 h, 17–20 h
    rank = None if window is None else (np.arange(96) >= window[0]) & (np.arange(96) < window[1])
    got = x_of_y(metered, layout, x, y, variant, exclude_days=events, rank_window=rank)
    cube = layout.cube(metered)
    score = cube.mean(axis=2) if rank is None else cube[:, :, rank].mean(axis=2)
    for day in range(layout.n_days):
        like = [k for k in range(day) if layout.day_type[k] == layout.day_type[day] and not events[k]][-y:]
        cols = layout.day_of_period == day
        if len(like) < y:
            assert np.isnan(got[:, cols]).all()
            continue
        for meter in range(3):
            # ascending by mean, a tie puts the older day first (a stable sort of oldest-first days)
            ranked = sorted(like, key=lambda k: score[meter, k])
            first = {"low": 0, "mid": (y - x) - (y - x) // 2, "high": y - x}[variant]
            profile = cube[meter, ranked[first : first + x]].mean(axis=0)
            np.testing.assert_allclose(got[meter, cols], profile[layout.slot_of_period[cols]], atol=1e-9)


def test_x_of_y_rejects_bad_parameters():
    layout = day_layout(days_grid("2018-06-04", 7))
    with pytest.raises(ValidationError, match="x"):
        x_of_y(np.ones((1, layout.grid.n)), layout, x=6, y=5)
    with pytest.raises(ValidationError, match="shape"):
        x_of_y(np.ones((1, 10)), layout)


# ── same-day adjustment, MBMA ─────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("kind", "cap", "expected"),
    [
        ("multiplicative", None, 1.5),
        ("multiplicative", 0.2, 1.2),
        ("additive", None, 1.5),
        ("additive", 0.1, 1.1),
    ],
)
def test_same_day_adjustment_follows_the_window_within_its_cap(kind, cap, expected):
    layout = day_layout(days_grid("2018-06-04", 2))
    base = np.ones((1, layout.grid.n))
    metered = base.copy()
    metered[0, layout.day_of_period == 1] = 1.5  # day 2 runs 50 % above its baseline
    out = same_day_adjustment(base, metered, layout, ("08:00", "10:00"), kind, cap)
    assert np.all(out[0, layout.day_of_period == 0] == 1.0)
    np.testing.assert_allclose(out[0, layout.day_of_period == 1], expected)


def test_same_day_adjustment_leaves_a_zero_baseline_window_alone():
    layout = day_layout(days_grid("2018-06-04", 1))
    base = np.zeros((1, layout.grid.n))
    base[0, 60:] = 2.0  # zero in the window, not after it
    metered = np.full((1, layout.grid.n), 3.0)
    for kind in ("multiplicative", "additive"):
        out = same_day_adjustment(base, metered, layout, ("08:00", "10:00"), kind, 0.2)  # type: ignore[arg-type]
        np.testing.assert_array_equal(out, base)


def test_mbma_holds_the_level_before_the_event_or_interpolates_to_the_level_after():
    metered = np.arange(20, dtype=float)[None, :]
    events = np.zeros(20, dtype=bool)
    events[10:14] = True
    flat = meter_before_meter_after(metered, events, before_periods=4)
    assert np.all(flat[0, 10:14] == np.mean([6, 7, 8, 9]))
    np.testing.assert_array_equal(flat[0, ~events], metered[0, ~events])
    ramp = meter_before_meter_after(metered, events, before_periods=2, after_periods=2)
    before, after = 8.5, 14.5
    np.testing.assert_allclose(ramp[0, 10:14], before + (np.arange(4) + 0.5) / 4 * (after - before))
    early = np.zeros(20, dtype=bool)
    early[1:3] = True
    assert np.isnan(meter_before_meter_after(metered, early, before_periods=4)[0, 1:3]).all()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), after=st.integers(0, 3))
def test_per_meter_events_and_windows_give_what_each_meter_gives_alone(seed, after):
    rng = np.random.default_rng(seed)
    layout = day_layout(days_grid("2018-10-27", 3))  # the autumn DST day inside
    metered = rng.uniform(0, 5, (3, layout.grid.n))
    events = rng.random((3, layout.grid.n)) < 0.1
    both = meter_before_meter_after(metered, events, 3, after)
    window = rng.random((3, layout.grid.n)) < 0.2
    base = rng.uniform(1, 5, (3, layout.grid.n))
    adjusted = same_day_adjustment(base, metered, layout, window, "additive", 0.3)
    for i in range(3):
        alone = meter_before_meter_after(metered[i : i + 1], events[i], 3, after)
        np.testing.assert_allclose(both[i : i + 1], alone, equal_nan=True)
        one = same_day_adjustment(base[i : i + 1], metered[i : i + 1], layout, window[i], "additive", 0.3)
        np.testing.assert_allclose(adjusted[i : i + 1], one)


# ── stated baselines ──────────────────────────────────────────────────────────────────────────


def test_nominated_from_flexoffer_default_schedules():
    grid = TimeGrid("2018-06-01T00:00Z", 900, 8)
    batch = FlexOfferBatch.from_profiles(
        ["ev", "hp"], [grid.start_s, grid.start_s], [grid.start_s + 3600, grid.start_s], [[0, 0], [0]], [[3, 3], [2]],
        default=Schedule([grid.start_s + 1800, grid.start_s + 900], [1.0, 2.0, 0.5]),
    )  # fmt: skip
    kw = nominated_from_flexoffers(batch, grid)
    np.testing.assert_allclose(kw[0], [0, 0, 4, 8, 0, 0, 0, 0])  # kWh per 15 min × 4 = kW
    np.testing.assert_allclose(kw[1], [0, 2, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValidationError, match="default"):
        nominated_from_flexoffers(batch.with_default(None), grid)
    with pytest.raises(ValidationError, match="finite"):
        nominated(np.array([[1.0, np.nan, 1, 1, 1, 1, 1, 1]]), grid)


def test_fixed_reference_reads_a_daily_profile_by_wall_clock_slot_on_dst_days():
    layout = day_layout(days_grid("2018-03-25", 1))
    profile = np.arange(96, dtype=float)[None, :]
    out = fixed_reference(profile, layout)
    assert out.shape == (1, 92)
    assert out[0, 7] == 7 and out[0, 8] == 12  # 01:45, then 03:00: the 02:00 hour does not exist
    assert fixed_reference(3.0, layout).tolist() == [[3.0] * 92]


# ── accuracy ──────────────────────────────────────────────────────────────────────────────────


def test_accuracy_leaves_zero_loads_out_of_mape_and_counts_them():
    metered = np.array([[2.0, 0.0, 4.0, 1.0]])
    baseline = np.array([[3.0, 1.0, 3.0, np.nan]])
    r = accuracy(baseline, metered, method="toy")
    assert (r.periods, r.zero_periods, r.missing_periods) == (3, 1, 1)
    assert r.mape_pct == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert r.nmae_pct == pytest.approx(100 * 3 / 6)
    assert r.bias_kw == pytest.approx(1 / 3) and r.bias_pct == pytest.approx(100 * 1 / 6)


def test_held_out_accuracy_on_real_simbench_load():
    data = read_meter_csv(SIMBENCH)
    layout = day_layout(data.grid, TZ, holidays=["2016-03-25", "2016-03-28"])
    held = [str(d) for d in layout.dates[-10:]]
    specs = {
        "like_days": BaselineSpec(method="like_days", days=5),
        "x_of_y": BaselineSpec(method="x_of_y", x=4, y=5, variant="high"),
        "adjusted": BaselineSpec(
            method="like_days",
            days=5,
            adjustment={"kind": "additive", "window": ("13:00", "16:00"), "cap": None},
        ),
        "mbma": BaselineSpec(method="mbma"),
    }
    reports = {r.method: r for r in held_out_accuracy(data.kw, layout, specs, held, ("17:00", "20:00"))}
    for r in reports.values():
        assert r.periods == 8 * 10 * 12 and r.missing_periods == 0 and np.isfinite(r.mape_pct)
    # the high variant sits above the plain average of the same like days
    assert reports["x_of_y"].bias_kw > reports["like_days"].bias_kw
    # the same-day adjustment removes most of the plain average's bias on this data
    assert abs(reports["adjusted"].bias_pct) < abs(reports["like_days"].bias_pct)


# ── files ─────────────────────────────────────────────────────────────────────────────────────


def test_baselines_from_files_writes_a_csv_per_meter(tmp_path):
    out = tmp_path / "baseline.csv"
    result = baselines_from_files(SIMBENCH, EXAMPLES / "x_of_y.json", out)
    back = read_meter_csv(out)
    assert back.meter_ids == result.meter_ids and back.grid == result.grid
    np.testing.assert_allclose(back.kw, result.kw, rtol=1e-5, equal_nan=True)
    assert np.isnan(result.kw[:, 0]).all() and np.isfinite(result.kw[:, -1]).all()


def test_mbma_document_moves_only_the_event_meters():
    result = baselines_from_files(SIMBENCH, EXAMPLES / "mbma.json")
    metered = read_meter_csv(SIMBENCH).kw
    changed = np.flatnonzero((result.kw != metered).any(axis=1))
    assert [result.meter_ids[i] for i in changed] == ["g0-a", "g4-a"]


def test_bad_documents_and_files_name_the_field_or_line(tmp_path):
    doc = {"baseline": {"method": "x_of_y", "x": 0}}
    with pytest.raises(ValidationError, match=r"baseline\.x"):
        baselines_from_files(SIMBENCH, doc)
    with pytest.raises(ValidationError, match="method"):
        baselines_from_files(SIMBENCH, {"baseline": {"method": "guess"}})
    with pytest.raises(ValidationError, match="events"):
        baselines_from_files(SIMBENCH, {"baseline": {"method": "mbma"}})
    bad = tmp_path / "bad.csv"
    bad.write_text("time_utc,a\n2018-06-01T00:00:00Z,1\n2018-06-01T00:15:00Z,x\n")
    with pytest.raises(DataError, match="line 3, column 'a'"):
        read_meter_csv(bad)
    (tmp_path / "doc.json").write_text(json.dumps({"baseline": {"method": "like_days"}}))
    with pytest.raises(DataError, match="cannot read"):
        baselines_from_files(tmp_path / "missing.csv", tmp_path / "doc.json")
