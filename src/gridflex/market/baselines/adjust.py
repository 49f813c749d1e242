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
    starts = layout.day_start
    count = np.add.reduceat(np.broadcast_to(mask, base.shape).astype(np.int64), starts, axis=1)
    base_sum = np.add.reduceat(np.where(mask, base, 0.0), starts, axis=1)
    meas_sum = np.add.reduceat(np.where(mask, meas, 0.0), starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        base_mean, meas_mean = base_sum / count, meas_sum / count
        defined = (count > 0) & np.isfinite(base_mean) & np.isfinite(meas_mean) & (base_mean != 0)
        if kind == "multiplicative":
            factor = meas_mean / base_mean
            if cap is not None:
                factor = np.clip(factor, 1.0 - cap, 1.0 + cap)
            factor = np.where(defined, factor, 1.0)
            return base * layout.per_day(factor.astype(base.dtype))
        offset = meas_mean - base_mean
        if cap is not None:
            limit = cap * np.abs(base_mean)
            offset = np.clip(offset, -limit, limit)
        offset = np.where(defined, offset, 0.0)
        return base + layout.per_day(offset.astype(base.dtype))


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
    mask = np.broadcast_to(mask[None, :] if mask.ndim == 1 else mask, (m, n)) if mask.size else mask
    if mask.shape != (m, n):
        raise ValidationError(
            "meter-before-meter-after", [Problem("mbma", "event_mask", f"expected {m}×{n}")]
        )
    t = np.arange(n, dtype=np.int64)
    edge = np.zeros((m, 1), dtype=bool)
    starts = mask & ~np.concatenate([edge, mask[:, :-1]], axis=1)
    ends = mask & ~np.concatenate([mask[:, 1:], edge], axis=1)
    start_of = np.maximum.accumulate(np.where(starts, t, 0), axis=1)
    end_of = np.minimum.accumulate(np.where(ends, t, n - 1)[:, ::-1], axis=1)[:, ::-1]
    csum = np.concatenate([np.zeros((m, 1)), np.cumsum(values, axis=1, dtype=np.float64)], axis=1)

    def level(first: np.ndarray, k: int) -> np.ndarray:
        """Mean of periods [first, first + k) per cell; NaN where they leave the data."""
        ok = (first >= 0) & (first + k <= n)
        lo, hi = np.clip(first, 0, n), np.clip(first + k, 0, n)
        mean = (np.take_along_axis(csum, hi, axis=1) - np.take_along_axis(csum, lo, axis=1)) / k
        return np.where(ok, mean, np.nan)

    before = level(start_of - before_periods, before_periods)
    if after_periods:
        after = level(end_of + 1, after_periods)
        frac = (t - start_of + 0.5) / (end_of - start_of + 1)
        during = before + frac * (after - before)
    else:
        during = before
    return np.where(mask, during, values).astype(values.dtype, copy=False)
