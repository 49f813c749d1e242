"""The time grid every series is aligned to: a tz-aware UTC start, a fixed step, a number of periods.

Internally all times are UTC. Local market time (e.g. Europe/Berlin for SMARD, with its DST days
of 23 and 25 hours) is converted once, at the boundary, by :func:`local_to_utc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from gridflex.errors import TimeGridError


def to_utc(ts: datetime | pd.Timestamp | str) -> pd.Timestamp:
    """A tz-aware UTC timestamp; naive input is refused, because its meaning is ambiguous."""
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        raise TimeGridError(f"timestamp {ts!r} has no time zone; give UTC ('...Z') or an offset")
    return t.tz_convert("UTC")


@dataclass(frozen=True)
class TimeGrid:
    """Periods ``[start + k*step_s, start + (k+1)*step_s)`` for ``k`` in ``range(n)``, in UTC."""

    start: pd.Timestamp
    step_s: int
    n: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", to_utc(self.start))
        if self.step_s <= 0:
            raise TimeGridError(f"TimeGrid.step_s must be positive, got {self.step_s}")
        if self.n < 0:
            raise TimeGridError(f"TimeGrid.n must be >= 0, got {self.n}")

    @classmethod
    def between(cls, start: datetime | str, end: datetime | str, step_s: int) -> TimeGrid:
        """Grid covering ``[start, end)``; ``end - start`` must be a whole number of steps."""
        s, e = to_utc(start), to_utc(end)
        if step_s <= 0:  # checked here too: the modulo below would divide by zero
            raise TimeGridError(f"TimeGrid.step_s must be positive, got {step_s}")
        span_s = (e - s).total_seconds()
        span = int(span_s)
        if span < 0 or span != span_s or span % step_s:  # a sub-second remainder is not whole steps
            raise TimeGridError(f"TimeGrid from {s} to {e} is not a whole number of {step_s} s steps")
        return cls(s, step_s, span // step_s)

    @property
    def end(self) -> pd.Timestamp:
        return self.start + timedelta(seconds=self.step_s * self.n)

    @property
    def start_s(self) -> int:
        """Start as integer seconds since the Unix epoch."""
        return int(self.start.value // 1_000_000_000)

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.n, freq=pd.Timedelta(seconds=self.step_s))

    def epoch_s(self) -> np.ndarray:
        """Period starts as int64 seconds since the Unix epoch."""
        return self.start_s + self.step_s * np.arange(self.n, dtype=np.int64)

    def position(self, ts: datetime | str | pd.Timestamp) -> int:
        """Index of the period starting at ``ts``; errors if ``ts`` is off the grid or outside it."""
        t = to_utc(ts)
        offset = (t - self.start).total_seconds()
        k, rem = divmod(int(offset), self.step_s)
        if rem or offset != int(offset):
            raise TimeGridError(f"{t} is not on the {self.step_s} s grid starting {self.start}")
        if not 0 <= k < self.n:
            raise TimeGridError(f"{t} is outside the grid [{self.start}, {self.end})")
        return k

    def align(self, series: pd.Series, name: str = "series") -> np.ndarray:
        """Values of ``series`` (UTC-indexed, any regular step) on this grid.

        A coarser series is repeated (hourly price → four quarter-hours); a finer one is averaged.
        Missing periods raise, naming the first one.
        """
        if not isinstance(series.index, pd.DatetimeIndex) or series.index.tz is None:
            raise TimeGridError(f"{name} must have a tz-aware DatetimeIndex")
        s = series.tz_convert("UTC")
        # A duplicate or out-of-order time would be averaged away or misread as a finer step.
        steps = s.index[1:] - s.index[:-1]
        bad = np.flatnonzero(np.asarray(steps) <= np.timedelta64(0, "ns"))
        if len(bad):
            t = s.index[bad[0] + 1]
            raise TimeGridError(f"{name} index must be strictly increasing; {t} repeats or goes back")
        step = pd.Timedelta(seconds=self.step_s)
        # Forward-fill within the source step only, then average onto the grid.
        src_step = pd.Series(s.index).diff().min() if len(s) > 1 else step
        if src_step >= step:
            fine = s.reindex(self.index, method="ffill", tolerance=src_step - pd.Timedelta(seconds=1))
        else:
            fine = s.resample(step, origin=self.start).mean().reindex(self.index)
        missing = fine.index[fine.isna().to_numpy()]
        if len(missing):
            raise TimeGridError(
                f"{name} has no value for {len(missing)} period(s) of the grid, first at {missing[0]}"
            )
        return fine.to_numpy(dtype=float)


def local_to_utc(local: pd.Series | pd.DatetimeIndex | list, tz: str) -> pd.DatetimeIndex:
    """Convert naive local wall-clock times, in chronological file order, to UTC.

    DST-safe: on the autumn day the repeated hour appears twice; the first occurrence is summer time,
    the second standard time (inferred from the order). A wall-clock time that does not exist (the
    skipped spring hour) raises :class:`TimeGridError`.
    """
    idx = pd.DatetimeIndex(local)
    if idx.tz is not None:
        raise TimeGridError("local_to_utc expects naive local times")
    try:
        aware = idx.tz_localize(tz, ambiguous="infer", nonexistent="raise")
    except Exception as exc:  # pytz/zoneinfo raise several types; name the cause once
        raise TimeGridError(f"cannot convert local times in {tz} to UTC: {exc}") from None
    return aware.tz_convert("UTC")


Series = float | list[float]
"""A scalar (every period), or a list of k values with k dividing the number of periods: each value
holds for n_periods/k consecutive periods (24 hourly values on a 96 quarter-hour grid)."""


def expand(value: Any, n: int) -> np.ndarray | None:
    """A series (see :data:`Series`) as ``n`` floats, or None when its length does not divide ``n``."""
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return np.full(n, float(a))
    k = a.size
    if k == n:
        return a
    if k == 0 or n % k:
        return None
    return np.repeat(a, n // k)


def local_day_grid(
    day: str | date, tz: str = "Europe/Paris", step_s: int = 900, hours: int | None = None
) -> TimeGrid:
    """Grid from local midnight of ``day`` in ``tz`` for ``hours`` hours, in UTC.

    By default ``hours`` is the length of that local day: 23 on the spring DST day, 25 in autumn,
    24 otherwise (so 92, 100 or 96 quarter-hours).
    """
    try:
        midnight = pd.Timestamp(day)
    except (ValueError, TypeError) as exc:
        raise TimeGridError(f"cannot read the day {day!r}: {exc}") from None
    if midnight.tzinfo is not None or midnight != midnight.normalize():
        raise TimeGridError(f"local_day_grid expects a calendar day (e.g. '2018-03-25'), got {day!r}")
    try:
        start, next_start = (
            d.tz_localize(tz, ambiguous=True, nonexistent="shift_forward")
            for d in (midnight, midnight + pd.Timedelta(days=1))
        )
    except Exception as exc:  # unknown zone names raise several types, depending on the tz backend
        raise TimeGridError(f"cannot place {midnight.date()} in time zone {tz!r}: {exc}") from None
    end = next_start if hours is None else start + pd.Timedelta(hours=hours)
    return TimeGrid.between(start, end, step_s)
