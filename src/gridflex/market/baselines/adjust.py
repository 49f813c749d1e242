"""Same-day adjustment of a baseline, and meter-before-meter-after (MBMA).

Same-day adjustment moves a day's baseline towards what the meter showed in a window of the same
day before the event (e.g. 2–4 hours before it), once per meter and day:

* additive: ``baseline + clip(mean(metered − baseline) over the window, ±cap × mean(baseline))``;
* multiplicative: ``baseline × clip(mean(metered) / mean(baseline), 1 − cap, 1 + cap)``.

A window whose mean baseline is zero (or NaN) leaves the day unadjusted: the ratio is undefined,
and an additive cap of ``cap × 0`` allows nothing either. ``cap=None`` means uncapped.

MBMA takes the level just before each event (the mean of ``before_periods`` metered periods) as
the baseline during the event, flat, or, with ``after_periods``, linearly interpolated to the level
just after it. Outside events the baseline is the metered load itself (nothing was delivered).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.market.baselines.calendar import DayLayout, as_meter_array

__all__ = ["meter_before_meter_after", "same_day_adjustment"]


def _window_mask(layout: DayLayout, window: tuple[str, str] | np.ndarray, m: int) -> np.ndarray:
    if isinstance(window, tuple | list) and len(window) == 2 and all(isinstance(t, str) for t in window):
        return layout.slot_mask((window[0], window[1]))[None, :]
    mask = np.asarray(window, dtype=bool)
    if mask.ndim == 1:
        mask = mask[None, :]
    if mask.shape[1] != layout.grid.n or mask.shape[0] not in (1, m):
        raise ValidationError(
            "same-day adjustment",
            [
                Problem(
                    "adjustment",
                    "window",
                    f"expected ('HH:MM', 'HH:MM') or a mask of {layout.grid.n} periods",
                )
            ],
        )
    return mask


def same_day_adjustment(
    baseline_kw: np.ndarray,
    metered_kw: np.ndarray,
    layout: DayLayout,
    window: tuple[str, str] | np.ndarray,
    kind: Literal["additive", "multiplicative"] = "multiplicative",
    cap: float | None = 0.2,
) -> np.ndarray:
    """The baseline adjusted per meter and local day on ``window`` (see the module docstring).

    ``window``: local wall-clock ``("HH:MM", "HH:MM")``, or a boolean mask over periods (n,) or
    (meters × n) for windows that differ per day or meter. Days without window periods are unchanged.
    """
    problems = []
    if kind not in ("additive", "multiplicative"):
        problems.append(Problem("adjustment", "kind", f"expected additive or multiplicative, got {kind!r}"))
    if cap is not None and not cap >= 0:
        problems.append(Problem("adjustment", "cap", f"must be >= 0 or None, got {cap}"))
    if problems:
        raise ValidationError("same-day adjustment", problems)
    base = as_meter_array(baseline_kw, layout.grid.n, "baseline_kw")
    meas = as_meter_array(metered_kw, layout.grid.n, "metered_kw", meters=base.shape[0])
    mask = _window_mask(layout, window, base.shape[0])
    base_mean, meas_mean = _window_means(layout, mask, base, meas)
    with np.errstate(invalid="ignore", divide="ignore"):
        defined = np.isfinite(base_mean) & np.isfinite(meas_mean) & (base_mean != 0)
        if kind == "multiplicative":
            factor = meas_mean / base_mean
            if cap is not None:
                factor = np.clip(factor, 1.0 - cap, 1.0 + cap)
            change = np.where(defined, factor, 1.0).astype(base.dtype)
        else:
            offset = meas_mean - base_mean
            if cap is not None:
                limit = cap * np.abs(base_mean)
                offset = np.clip(offset, -limit, limit)
            change = np.where(defined, offset, 0.0).astype(base.dtype)
    out = np.empty_like(base)
    apply = np.multiply if kind == "multiplicative" else np.add
    block = 64  # meters: the day-to-period gather stays small, its buffer is reused
    spread = np.empty((min(block, base.shape[0]), layout.grid.n), dtype=base.dtype)
    for lo in range(0, base.shape[0], block):
        hi = min(lo + block, base.shape[0])
        np.take(change[lo:hi], layout.day_of_period, axis=1, out=spread[: hi - lo], mode="clip")
        apply(base[lo:hi], spread[: hi - lo], out=out[lo:hi])
    return out


def _window_means(
    layout: DayLayout, mask: np.ndarray, base: np.ndarray, meas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of baseline and metered over each day's window periods (meters × days); NaN without any."""
    n_days = layout.n_days
    if mask.shape[0] == 1:  # one window for all meters: only its columns are read
        cols = np.flatnonzero(mask[0])
        days = layout.day_of_period[cols]
        count = np.bincount(days, minlength=n_days).astype(np.float64)
        starts = np.searchsorted(days, np.arange(n_days))
        has = count > 0
        sums = []
        first = np.minimum(starts[has], len(cols) - 1)
        block = 256  # meters: the gathered window columns stay small, their buffer is reused
        for a in (base, meas):
            total = np.zeros((a.shape[0], n_days))
            picked = np.empty((min(block, a.shape[0]), len(cols)), dtype=a.dtype)
            for lo in range(0, a.shape[0] if len(cols) else 0, block):
                hi = min(lo + block, a.shape[0])
                np.take(a[lo:hi], cols, axis=1, out=picked[: hi - lo], mode="clip")
                total[lo:hi, has] = np.add.reduceat(picked[: hi - lo], first, axis=1, dtype=np.float64)
            sums.append(total)
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums[0] / count, sums[1] / count
    full = np.broadcast_to(mask, base.shape)
    count = np.add.reduceat(full.astype(np.int64), layout.day_start, axis=1)
    base_sum = np.add.reduceat(np.where(full, base, 0.0), layout.day_start, axis=1)
    meas_sum = np.add.reduceat(np.where(full, meas, 0.0), layout.day_start, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return base_sum / count, meas_sum / count


def meter_before_meter_after(
    metered_kw: np.ndarray,
    event_mask: np.ndarray,
    before_periods: int = 4,
    after_periods: int = 0,
) -> np.ndarray:
    """MBMA baseline (meters × periods, kW) for the events in ``event_mask`` ((n,) or (meters × n)).

    Each run of consecutive event periods is one event. NaN during an event whose ``before_periods``
    (or ``after_periods``) periods fall outside the data.
    """
    problems = []
    if before_periods < 1:
        problems.append(Problem("mbma", "before_periods", f"must be >= 1, got {before_periods}"))
    if after_periods < 0:
        problems.append(Problem("mbma", "after_periods", f"must be >= 0, got {after_periods}"))
    if problems:
        raise ValidationError("meter-before-meter-after", problems)
    values = np.asarray(metered_kw)
    values = as_meter_array(values, values.shape[-1], "metered_kw")
    m, n = values.shape
    mask = np.asarray(event_mask, dtype=bool)
    if mask.ndim == 2 and mask.shape == (m, n) and (mask == mask[:1]).all():
        mask = mask[0]  # the same events for every meter: the fast path
    if mask.shape not in ((n,), (m, n)):
        raise ValidationError(
            "meter-before-meter-after", [Problem("mbma", "event_mask", f"expected {m}×{n}")]
        )
    out = values.copy()
    cells = mask if mask.ndim == 2 else mask[None, :]
    start, end = _runs(cells)
    r, c = np.nonzero(cells)  # only event cells are computed
    s, e = start[r, c], end[r, c]
    shared = mask.ndim == 1
    # a run's level is computed once, then spread over its cells
    key = s if shared else r * n + s
    _, first_cell, run_of_cell = np.unique(key, return_index=True, return_inverse=True)
    meter = None if shared else r[first_cell]
    before = _level(values, s[first_cell] - before_periods, before_periods, meter)
    if after_periods:
        after = _level(values, e[first_cell] + 1, after_periods, meter)
        frac = (c - s + 0.5) / (e - s + 1)
        during = before[..., run_of_cell] + frac * (after[..., run_of_cell] - before[..., run_of_cell])
    else:
        during = before[..., run_of_cell]
    if shared:
        out[:, c] = during
    else:
        out[r, c] = during
    return out


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last period of the run of consecutive True each cell of ``mask`` (rows × n) is in."""
    rows, n = mask.shape
    t = np.arange(n, dtype=np.int64)
    edge = np.zeros((rows, 1), dtype=bool)
    starts = mask & ~np.concatenate([edge, mask[:, :-1]], axis=1)
    ends = mask & ~np.concatenate([mask[:, 1:], edge], axis=1)
    start_of = np.maximum.accumulate(np.where(starts, t, 0), axis=1)
    end_of = np.minimum.accumulate(np.where(ends, t, n - 1)[:, ::-1], axis=1)[:, ::-1]
    return start_of, end_of


def _level(values: np.ndarray, first: np.ndarray, k: int, row: np.ndarray | None) -> np.ndarray:
    """Mean of periods ``[first, first + k)``: per event cell (``row`` given: one meter each), else for
    every meter (meters × cells); NaN where the periods leave the data."""
    n = values.shape[1]
    ok = (first >= 0) & (first + k <= n)
    cols = np.clip(first[:, None] + np.arange(k)[None, :], 0, n - 1)  # (cells × k)
    if row is None:
        mean = values[:, cols].mean(axis=2, dtype=np.float64)  # (meters × cells)
        return np.where(ok[None, :], mean, np.nan)
    mean = values[row[:, None], cols].mean(axis=1, dtype=np.float64)
    return np.where(ok, mean, np.nan)
