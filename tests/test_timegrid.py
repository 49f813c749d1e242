"""TimeGrid: UTC periods, positions, alignment of series; local wall-clock times to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import TimeGridError
from gridflex.timegrid import TimeGrid, local_to_utc, to_utc

T0 = pd.Timestamp("2018-03-25T00:00Z")


def series(start: str, step: str, values, tz: str = "UTC") -> pd.Series:
    index = pd.date_range(pd.Timestamp(start), periods=len(values), freq=step)
    return pd.Series(np.asarray(values, dtype=float), index=index).tz_convert(tz)


# ── construction, times ───────────────────────────────────────────────────────────────────────


def test_to_utc_converts_offsets_and_refuses_naive_times():
    assert to_utc("2018-03-25T03:00+02:00") == pd.Timestamp("2018-03-25T01:00Z")
    assert str(to_utc(datetime(2018, 1, 1, tzinfo=timezone(timedelta(hours=1)))).tz) == "UTC"
    for naive in ("2018-01-01 00:00", datetime(2018, 1, 1), pd.Timestamp("2018-01-01")):
        with pytest.raises(TimeGridError, match="time zone"):
            to_utc(naive)


def test_naive_grid_start_is_refused():
    with pytest.raises(TimeGridError):
        TimeGrid("2018-01-01 00:00", 900, 4)
    with pytest.raises(TimeGridError):
        TimeGrid.between("2018-01-01", "2018-01-02", 900)


@pytest.mark.parametrize(("step_s", "n"), [(0, 1), (-900, 1), (900, -1)])
def test_bad_step_or_length_is_refused(step_s, n):
    with pytest.raises(TimeGridError):
        TimeGrid(T0, step_s, n)


def test_between_counts_whole_steps():
    grid = TimeGrid.between("2018-03-25T00:00+01:00", "2018-03-26T00:00+02:00", 900)
    assert grid.start == pd.Timestamp("2018-03-24T23:00Z")
    assert grid.n == 92  # the 23-hour local spring day
    assert grid.end == pd.Timestamp("2018-03-25T22:00Z")
    assert TimeGrid.between(T0, T0, 900).n == 0


@pytest.mark.parametrize(
    ("end", "step_s"),
    [
        ("2018-03-25T01:10Z", 900),  # not whole steps
        ("2018-03-24T23:00Z", 900),  # end before start
        ("2018-03-25T00:15:00.5Z", 900),  # sub-second remainder
        ("2018-03-25T01:00Z", 0),  # zero step
    ],
)
def test_between_refuses_partial_or_backward_spans(end, step_s):
    with pytest.raises(TimeGridError):
        TimeGrid.between(T0, end, step_s)


def test_end_index_epoch_s():
    grid = TimeGrid("2018-03-25T01:00+01:00", 900, 6)
    assert grid.end == pd.Timestamp("2018-03-25T01:30Z")
    assert grid.step_h == 0.25
    idx = grid.index
    assert len(idx) == 6
    assert str(idx.tz) == "UTC"
    assert idx[0] == grid.start
    assert ((idx[1:] - idx[:-1]) == pd.Timedelta(minutes=15)).all()
    epoch = grid.epoch_s()
    assert epoch.dtype == np.int64
    assert epoch.tolist() == [int(t.timestamp()) for t in idx]
    assert grid.start_s == int(datetime(2018, 3, 25, 0, 0, tzinfo=UTC).timestamp())


def test_position():
    grid = TimeGrid(T0, 900, 8)
    assert grid.position("2018-03-25T00:00Z") == 0
    assert grid.position("2018-03-25T03:45+02:00") == 7
    assert grid.position(datetime(2018, 3, 25, 0, 30, tzinfo=UTC)) == 2


@pytest.mark.parametrize(
    "ts",
    [
        "2018-03-25T00:05Z",  # off the grid
        "2018-03-25T00:15:00.001Z",  # off by a millisecond
        "2018-03-24T23:45Z",  # before the start
        "2018-03-25T02:00Z",  # the end is not a period start
    ],
)
def test_position_refuses_times_off_or_outside_the_grid(ts):
    with pytest.raises(TimeGridError):
        TimeGrid(T0, 900, 8).position(ts)


def test_position_refuses_naive_time():
    with pytest.raises(TimeGridError):
        TimeGrid(T0, 900, 8).position("2018-03-25 00:15")


# ── align ─────────────────────────────────────────────────────────────────────────────────────


def test_align_repeats_a_coarser_series():
    hourly = series("2018-03-25T00:00Z", "h", [10.0, 20.0, 30.0])
    out = TimeGrid(T0, 900, 12).align(hourly)
    np.testing.assert_array_equal(out, np.repeat([10.0, 20.0, 30.0], 4))


def test_align_averages_a_finer_series():
    quarter = series("2018-03-25T00:00Z", "15min", [1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 20.0, 20.0])
    np.testing.assert_allclose(TimeGrid(T0, 3600, 2).align(quarter), [2.5, 15.0])


def test_align_same_step_is_identity_and_takes_a_window():
    hourly = series("2018-03-24T22:00Z", "h", np.arange(6.0))
    np.testing.assert_array_equal(TimeGrid(T0, 3600, 3).align(hourly), [2.0, 3.0, 4.0])


def test_align_converts_other_time_zones():
    paris = series("2018-03-25T00:00Z", "h", [1.0, 2.0], tz="Europe/Paris")
    np.testing.assert_array_equal(TimeGrid(T0, 1800, 4).align(paris), [1.0, 1.0, 2.0, 2.0])


def test_align_names_the_first_missing_period_of_a_gap():
    hourly = series("2018-03-25T00:00Z", "h", [1.0, 2.0, 3.0, 4.0]).drop(pd.Timestamp("2018-03-25T02:00Z"))
    with pytest.raises(TimeGridError, match=r"price.*4 period.*first at 2018-03-25 02:00:00\+00:00"):
        TimeGrid(T0, 900, 16).align(hourly, name="price")


def test_align_treats_nan_as_missing():
    hourly = series("2018-03-25T00:00Z", "h", [1.0, np.nan, 3.0])
    with pytest.raises(TimeGridError, match=r"first at 2018-03-25 01:00:00\+00:00"):
        TimeGrid(T0, 900, 12).align(hourly)


def test_align_does_not_extend_a_series_past_its_end_or_before_its_start():
    hourly = series("2018-03-25T01:00Z", "h", [1.0, 2.0])
    with pytest.raises(TimeGridError, match=r"first at 2018-03-25 00:00:00\+00:00"):
        TimeGrid(T0, 900, 12).align(hourly)
    with pytest.raises(TimeGridError, match=r"first at 2018-03-25 03:00:00\+00:00"):
        TimeGrid(T0 + pd.Timedelta(hours=1), 900, 12).align(hourly)


def test_align_refuses_naive_or_non_time_index():
    naive = pd.Series([1.0, 2.0], index=pd.date_range("2018-03-25", periods=2, freq="h"))
    with pytest.raises(TimeGridError, match="tz-aware"):
        TimeGrid(T0, 900, 4).align(naive)
    with pytest.raises(TimeGridError):
        TimeGrid(T0, 900, 4).align(pd.Series([1.0, 2.0]))


@pytest.mark.parametrize(
    "stamps",
    [
        ["2018-03-25T00:00Z", "2018-03-25T00:00Z", "2018-03-25T01:00Z"],  # duplicate
        ["2018-03-25T01:00Z", "2018-03-25T00:00Z", "2018-03-25T02:00Z"],  # out of order
    ],
)
def test_align_refuses_duplicate_or_unsorted_times(stamps):
    s = pd.Series([1.0, 2.0, 3.0], index=pd.DatetimeIndex(stamps))
    with pytest.raises(TimeGridError, match="strictly increasing"):
        TimeGrid(T0, 900, 8).align(s)


# ── local wall-clock times ────────────────────────────────────────────────────────────────────


def test_local_to_utc_autumn_repeated_hour_in_file_order():
    local = ["2018-10-28 01:00", "2018-10-28 02:00", "2018-10-28 02:00", "2018-10-28 03:00"]
    utc = local_to_utc(local, "Europe/Berlin")
    expected = pd.date_range("2018-10-27T23:00Z", periods=4, freq="h")
    assert list(utc) == list(expected)


def test_local_to_utc_spring_day_skips_an_hour():
    utc = local_to_utc(["2018-03-25 01:00", "2018-03-25 03:00"], "Europe/Berlin")
    assert list(utc) == [pd.Timestamp("2018-03-25T00:00Z"), pd.Timestamp("2018-03-25T01:00Z")]


def test_local_to_utc_refuses_a_nonexistent_local_time():
    with pytest.raises(TimeGridError, match="Europe/Berlin"):
        local_to_utc(["2018-03-25 01:00", "2018-03-25 02:00", "2018-03-25 03:00"], "Europe/Berlin")


def test_local_to_utc_refuses_aware_input():
    with pytest.raises(TimeGridError, match="naive"):
        local_to_utc(pd.DatetimeIndex(["2018-01-01T00:00Z"]), "Europe/Berlin")


# ── properties ────────────────────────────────────────────────────────────────────────────────

starts = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
).map(lambda d: pd.Timestamp(d).floor("s"))
steps = st.sampled_from([1, 60, 300, 900, 1800, 3600, 7200, 86400]) | st.integers(1, 100_000)


@settings(max_examples=200, deadline=None)
@given(start=starts, step_s=steps, n=st.integers(1, 2000), data=st.data())
def test_position_inverts_index(start, step_s, n, data):
    grid = TimeGrid(start, step_s, n)
    k = data.draw(st.integers(0, n - 1))
    assert grid.position(grid.index[k]) == k
    assert grid.position(pd.Timestamp(int(grid.epoch_s()[k]), unit="s", tz="UTC")) == k
    assert grid.index[k] + pd.Timedelta(seconds=step_s) <= grid.end


@settings(max_examples=200, deadline=None)
@given(start=starts, step_s=st.integers(2, 100_000), n=st.integers(1, 2000), data=st.data())
def test_position_rejects_off_grid_times(start, step_s, n, data):
    grid = TimeGrid(start, step_s, n)
    k = data.draw(st.integers(0, n - 1))
    off = data.draw(st.integers(1, step_s - 1))
    with pytest.raises(TimeGridError, match="not on the"):
        grid.position(grid.index[k] + pd.Timedelta(seconds=off))
