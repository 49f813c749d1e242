"""Local days of a meter grid: which local day and wall-clock slot each UTC period belongs to.

Baselines compare like days by wall-clock time (the 18:00 quarter-hour of Tuesday with the 18:00
quarter-hour of the Tuesdays before), so meter data (meters × UTC periods) is viewed as a cube
(meters × local days × wall-clock slots). DST, in the site's time zone:

* the spring day has no 02:00–03:00 wall-clock hour: in the cube those slots repeat the last
  quarter-hour before the gap (01:45), so that every day of the cube is complete; no baseline is
  ever asked for them, since they are not periods of the grid;
* the autumn day has 02:00–03:00 twice: in the cube the slot holds the mean of both quarter-hours;
  when mapped back, both periods get the slot's baseline.

Weekends and the given holidays are one day type, the other days another ("like days").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from gridflex.errors import Problem, TimeGridError, ValidationError
from gridflex.timegrid import TimeGrid

__all__ = ["WEEKDAY", "WEEKEND", "DayLayout", "as_meter_array", "copy_runs", "day_layout", "runs"]

WEEKDAY, WEEKEND = 0, 1
"""Day types: Monday–Friday, and Saturday, Sunday or a holiday."""


@dataclass(frozen=True, eq=False)
class DayLayout:
    """Where each period of ``grid`` sits in local days of ``tz``; see the module docstring."""

    grid: TimeGrid
    tz: str
    dates: np.ndarray  # datetime64[D] (n_days,): the local calendar days, in order
    day_type: np.ndarray  # int8 (n_days,): WEEKDAY or WEEKEND (holidays count as WEEKEND)
    day_of_period: np.ndarray  # int64 (n,): local day of each period
    slot_of_period: np.ndarray  # int64 (n,): wall-clock slot of each period, 0 … slots_per_day-1
    day_start: np.ndarray  # int64 (n_days,): first period of each day
    slots_per_day: int
    gather: np.ndarray  # int64 (n_days*slots_per_day,): period shown in each (day, slot) of the cube
    repeated: np.ndarray  # int64 (k, 2): cube cell, and the second period of an autumn slot

    @property
    def n_days(self) -> int:
        return len(self.dates)

    def cube(self, values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(meters × periods) → (meters × days × slots), a copy (into ``out`` when given, a
        C-contiguous array of that shape and dtype); see the module docstring for DST."""
        m = values.shape[0]
        flat = np.empty((m, len(self.gather)), values.dtype) if out is None else out.reshape(m, -1)
        copy_runs(values, self.gather_runs, flat)
        if len(self.repeated):
            cells, second = self.repeated[:, 0], self.repeated[:, 1]
            flat[:, cells] = 0.5 * (flat[:, cells] + values[:, second])
        return flat.reshape(m, self.n_days, self.slots_per_day)

    def uncube(self, cube: np.ndarray) -> np.ndarray:
        """(meters × days × slots) → (meters × periods): the value of each period's day and slot."""
        m = cube.shape[0]
        return copy_runs(cube.reshape(m, -1), self.cell_runs, np.empty((m, self.grid.n), cube.dtype))

    @cached_property
    def gather_runs(self) -> np.ndarray:
        """:attr:`gather` as runs of consecutive periods (see :func:`runs`)."""
        return runs(self.gather)

    @cached_property
    def cell_runs(self) -> np.ndarray:
        """The cube cell of every period, as runs of consecutive cells (see :func:`runs`)."""
        return runs(self.day_of_period * self.slots_per_day + self.slot_of_period)

    def per_day(self, daily: np.ndarray) -> np.ndarray:
        """(meters × days) → (meters × periods): each period gets its day's value."""
        return np.take(daily, self.day_of_period, axis=1)

    def day_mask(self, days: Iterable[str | date] | None) -> np.ndarray:
        """Boolean (n_days,) of the listed local days; a day outside the grid is an error."""
        mask = np.zeros(self.n_days, dtype=bool)
        if days is None:
            return mask
        wanted = _as_dates(days, "days")
        pos = np.searchsorted(self.dates, wanted)
        outside = [str(d) for d, p in zip(wanted, pos, strict=True) if p >= self.n_days or self.dates[p] != d]
        if outside:
            raise TimeGridError(
                f"day(s) {', '.join(outside)} are not local days of the grid "
                f"({self.dates[0]} … {self.dates[-1]} in {self.tz})"
            )
        mask[pos] = True
        return mask

    def slot_mask(self, window: tuple[str, str]) -> np.ndarray:
        """Boolean (n,) of the periods whose wall-clock start lies in ``[from, to)`` ("HH:MM")."""
        lo, hi = (_slot_of_clock(t, self.grid.step_s) for t in window)
        if hi <= lo and window[1] not in ("24:00", "00:00"):
            raise TimeGridError(f"window {window[0]}–{window[1]} is empty")
        hi = self.slots_per_day if hi <= lo else hi
        return (self.slot_of_period >= lo) & (self.slot_of_period < hi)


def runs(index: np.ndarray) -> np.ndarray:
    """(k × 3) int64 runs ``(to, from, length)`` with ``index[to + j] == from + j`` for ``j < length``.

    Local days map to UTC periods by a few constant shifts (one per DST change), so a year of
    quarter-hours is a handful of runs: copied as slices, they move memory at copy speed where a
    gather of every element would not.
    """
    if not len(index):
        return np.zeros((0, 3), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(index) != 1])
    lengths = np.diff(np.r_[starts, len(index)])
    return np.column_stack([starts, index[starts], lengths]).astype(np.int64)


def copy_runs(src: np.ndarray, index_runs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[:, k] = src[:, index[k]]`` for every k, by the runs of ``index`` (see :func:`runs`)."""
    for to, frm, length in index_runs.tolist():
        out[:, to : to + length] = src[:, frm : frm + length]
    return out


def _slot_of_clock(text: str, step_s: int) -> int:
    try:
        hours, minutes = (int(x) for x in str(text).split(":"))
    except ValueError:
        raise TimeGridError(f"expected a wall-clock time 'HH:MM', got {text!r}") from None
    seconds = hours * 3600 + minutes * 60
    if not (0 <= hours <= 24 and 0 <= minutes < 60 and seconds <= 86400) or seconds % step_s:
        raise TimeGridError(f"{text!r} is not a time of day on the {step_s} s grid")
    return seconds // step_s


def _as_dates(days: Iterable[str | date], what: str) -> np.ndarray:
    try:
        return np.unique(np.array([np.datetime64(pd.Timestamp(d).date(), "D") for d in days], dtype="M8[D]"))
    except (ValueError, TypeError) as exc:
        raise TimeGridError(f"cannot read the {what}: {exc}") from None


def day_layout(grid: TimeGrid, tz: str = "Europe/Berlin", holidays: Iterable[str | date] = ()) -> DayLayout:
    """The local days of ``grid`` in ``tz``; the grid must start and end at local midnight.

    The step must divide one hour (so that DST shifts whole slots). Raises :class:`TimeGridError`.
    """
    step = grid.step_s
    if 3600 % step:
        raise TimeGridError(f"baselines need a step that divides one hour, got {step} s")
    if grid.n == 0:
        raise TimeGridError("the grid has no periods")
    try:
        local = grid.index.tz_convert(tz)
    except Exception as exc:  # unknown zone names raise several types, depending on the tz backend
        raise TimeGridError(f"unknown time zone {tz!r}: {exc}") from None
    end_local = grid.end.tz_convert(tz)
    for what, t in (("start", local[0]), ("end", end_local)):
        if t != t.normalize():
            raise TimeGridError(
                f"the grid's {what} {t} is not a local midnight in {tz}: give whole local days"
            )
    wall = local.tz_localize(None)
    day_floor = wall.normalize()
    dates = np.unique(day_floor.to_numpy().astype("M8[D]"))
    day_of_period = np.searchsorted(dates, day_floor.to_numpy().astype("M8[D]")).astype(np.int64)
    slot_of_period = ((wall - day_floor).total_seconds().to_numpy() // step).astype(np.int64)
    spd = 86400 // step
    n_days = len(dates)
    cell = day_of_period * spd + slot_of_period
    gather = np.full(n_days * spd, -1, dtype=np.int64)
    periods = np.arange(grid.n, dtype=np.int64)
    gather[cell[::-1]] = periods[::-1]  # reversed: the first of two autumn periods wins
    seen_first = gather[cell] == periods
    repeated = np.column_stack([cell[~seen_first], periods[~seen_first]]).astype(np.int64)
    # the skipped spring hour: repeat the last period before the gap (never the first slot of a day)
    missing = np.flatnonzero(gather < 0)
    if len(missing):
        filled = np.maximum.accumulate(np.where(gather >= 0, np.arange(len(gather)), 0))
        gather[missing] = gather[filled[missing]]
    weekday = pd.DatetimeIndex(dates).dayofweek.to_numpy()
    day_type = np.where(weekday >= 5, WEEKEND, WEEKDAY).astype(np.int8)
    hol = _as_dates(holidays, "holidays")
    day_type[np.isin(dates, hol)] = WEEKEND
    day_start = np.searchsorted(day_of_period, np.arange(n_days)).astype(np.int64)
    return DayLayout(
        grid, tz, dates, day_type, day_of_period, slot_of_period, day_start, spd, gather, repeated
    )


def as_meter_array(values: object, n: int, name: str, meters: int | None = None) -> np.ndarray:
    """``values`` as a float array (meters × n); a 1-D array is one meter. float32 stays float32.

    Raises :class:`ValidationError` naming ``name`` when the shape does not fit.
    """
    a = np.asarray(values)
    if a.dtype != np.float32:
        a = a.astype(np.float64, copy=False)
    if a.ndim == 1:
        a = a[None, :]
    problems = []
    if a.ndim != 2 or a.shape[1] != n:
        problems.append(Problem(name, "shape", f"expected (meters, {n}) periods, got {a.shape}"))
    elif meters is not None and a.shape[0] != meters:
        problems.append(Problem(name, "shape", f"expected {meters} meters, got {a.shape[0]}"))
    if problems:
        raise ValidationError(name, problems)
    return a
