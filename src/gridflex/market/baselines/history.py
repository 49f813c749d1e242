"""Baselines from like days before the target day: X-of-Y (high/mid/low) and the rolling average.

Both look back only (a day's baseline never uses that day or a later one) over *eligible* days:
days of the same type (weekday, or weekend/holiday) that are not excluded (event days, days with a
known outage). A day whose history has too few eligible days gets NaN: no baseline is better than
a guessed one, and the settlement reports it.

Vectorized, in blocks of meters: meter data is viewed as a cube (meters × days × slots, see
``calendar``); the sum over the last Y eligible like days is a running sum per day type (each day
added once and dropped once, whatever Y); X-of-Y ranks the Y candidates per meter by their mean
load (over a window of the day, or the whole day) with a sort over the small last axis, then
gathers only the ``min(x, y − x)`` days it keeps (summed) or drops (taken off the window sum).
The cube and the result move between periods and days by runs of slices (``calendar.runs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.market.baselines.calendar import DayLayout, as_meter_array, runs

__all__ = ["like_day_average", "like_day_candidates", "x_of_y"]

Variant = Literal["high", "mid", "low"]


def like_day_candidates(layout: DayLayout, y: int, exclude_days: np.ndarray | None = None) -> np.ndarray:
    """(days × y) indices of the ``y`` most recent eligible like days before each day, newest last.

    -1 where fewer than ``y`` exist. ``exclude_days`` is a boolean (days,) mask of days never used.
    """
    excluded = np.zeros(layout.n_days, dtype=bool) if exclude_days is None else exclude_days
    out = np.full((layout.n_days, y), -1, dtype=np.int64)
    for t in np.unique(layout.day_type):
        eligible = np.flatnonzero((layout.day_type == t) & ~excluded)
        targets = np.flatnonzero(layout.day_type == t)
        before = np.searchsorted(eligible, targets)  # eligible days strictly before each target
        take = before[:, None] - y + np.arange(y)[None, :]
        ok = (before >= y)[:, None]
        out[targets] = np.where(ok, eligible[np.clip(take, 0, None)] if len(eligible) else -1, -1)
    return out


def _check(x: int, y: int) -> None:
    problems = []
    if y < 1:
        problems.append(Problem("baseline", "y", f"must be at least 1, got {y}"))
    if not 1 <= x <= max(y, 1):
        problems.append(Problem("baseline", "x", f"must be between 1 and y={y}, got {x}"))
    if problems:
        raise ValidationError("baseline parameters", problems)


BLOCK_METERS = 64
"""Meters per block: a block's cube (64 × 366 days × 96 slots of float32: 9 MB) stays near the
caches, and its temporaries are reused instead of faulting in fresh pages for the whole fleet
(measured on 1,024 meters × one year: 64 was fastest of 32 … 512)."""


class _Work:
    """Buffers reused from block to block: fresh ones would fault in new pages for every block,
    which cost as much kernel time as the arithmetic (``np.zeros`` and large temporaries are
    returned to the system when freed)."""

    def __init__(self) -> None:
        self._bufs: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
        size = int(np.prod(shape))
        buf = self._bufs.get(name)
        if buf is None or buf.size < size or buf.dtype != np.dtype(dtype):
            buf = self._bufs[name] = np.empty(size, dtype=dtype)
        return buf[:size].reshape(shape)


def _in_blocks(
    values: np.ndarray,
    layout: DayLayout,
    missing_day: np.ndarray,
    sums: Callable[[np.ndarray, _Work], np.ndarray],
    divisor: int,
) -> np.ndarray:
    """(meters × periods) → ``sums`` of the cube of each block of meters, divided by ``divisor`` on
    their way back to (meters × periods) (one pass: the divide writes the result)."""
    m = values.shape[0]
    out = np.empty((m, layout.grid.n), dtype=values.dtype)
    work = _Work()
    for lo in range(0, m, BLOCK_METERS):
        hi = min(lo + BLOCK_METERS, m)
        cube = work.get("cube", (hi - lo, layout.n_days, layout.slots_per_day), values.dtype)
        total = sums(layout.cube(values[lo:hi], out=cube), work).reshape(hi - lo, -1)
        for to, frm, length in layout.cell_runs.tolist():
            np.divide(total[:, frm : frm + length], divisor, out=out[lo:hi, to : to + length])
    for _, first, length in runs(np.flatnonzero(missing_day[layout.day_of_period])).tolist():
        out[:, first : first + length] = np.nan
    return out


@dataclass(frozen=True)
class _Windows:
    """For each day type: its eligible days, its target days, and where each window ends."""

    eligible: list[np.ndarray]
    targets: list[np.ndarray]
    before: list[np.ndarray]  # eligible days strictly before each target


def _windows(layout: DayLayout, y: int, exclude_days: np.ndarray | None) -> _Windows:
    excluded = np.zeros(layout.n_days, dtype=bool) if exclude_days is None else exclude_days
    out = _Windows([], [], [])
    for t in np.unique(layout.day_type):
        eligible = np.flatnonzero((layout.day_type == t) & ~excluded)
        targets = np.flatnonzero(layout.day_type == t)
        out.eligible.append(eligible)
        out.targets.append(targets)
        out.before.append(np.searchsorted(eligible, targets))
    return out


def _window_sums(cube: np.ndarray, win: _Windows, y: int, work: _Work) -> np.ndarray:
    """Sum over the ``y`` last eligible like days before each day (meters × days × slots).

    A running sum per day type, day by day: each eligible day is added once and dropped once,
    so the work does not grow with ``y``; the sums are float64 (one day of the block: small).
    Days with fewer than ``y`` eligible days before them get 0 (the caller marks them missing).
    """
    b, d, s = cube.shape
    out = work.get("sums", (b, d, s), cube.dtype)  # every day is a target of its type: all written
    for eligible, targets, before in zip(win.eligible, win.targets, win.before, strict=True):
        out[:, targets[before < y], :] = 0.0
        running = work.get("running", (b, s), np.float64)
        running.fill(0.0)
        added = 0  # eligible days of this type summed so far
        for target, n_before in zip(targets.tolist(), before.tolist(), strict=True):
            while added < n_before:  # bring the window up to the eligible days before the target
                running += cube[:, eligible[added], :]
                if added >= y:
                    running -= cube[:, eligible[added - y], :]
                added += 1
            if n_before >= y:
                out[:, target, :] = running
    return out


def _rows_sum(cube: np.ndarray, chosen: np.ndarray, work: _Work) -> np.ndarray:
    """Sum over k of cube[meter, chosen[meter, day, k], :] → (meters × days × slots).

    Gathered by whole rows (one local day of one meter: contiguous slots), one rank at a time.
    """
    m, d, s = cube.shape
    rows = cube.reshape(m * d, s)
    offset = (np.arange(m, dtype=np.int64) * d)[:, None]
    acc = work.get("rows", (m * d, s), cube.dtype)
    if chosen.shape[2] == 0:
        acc.fill(0.0)
    for k in range(chosen.shape[2]):
        idx = (offset + chosen[:, :, k]).ravel()
        if k == 0:
            np.take(rows, idx, axis=0, out=acc, mode="clip")
        else:
            acc += np.take(rows, idx, axis=0, out=work.get("row", (m * d, s), cube.dtype), mode="clip")
    return acc.reshape(m, d, s)


def like_day_average(
    metered_kw: np.ndarray,
    layout: DayLayout,
    days: int = 10,
    exclude_days: np.ndarray | None = None,
) -> np.ndarray:
    """Rolling average of the last ``days`` eligible like days, per wall-clock slot (meters × periods, kW)."""
    _check(days, days)
    values = as_meter_array(metered_kw, layout.grid.n, "metered_kw")
    win = _windows(layout, days, exclude_days)
    missing = like_day_candidates(layout, days, exclude_days)[:, 0] < 0

    return _in_blocks(values, layout, missing, lambda cube, work: _window_sums(cube, win, days, work), days)


def x_of_y(
    metered_kw: np.ndarray,
    layout: DayLayout,
    x: int = 4,
    y: int = 5,
    variant: Variant = "high",
    exclude_days: np.ndarray | None = None,
    rank_window: np.ndarray | None = None,
) -> np.ndarray:
    """X-of-Y baseline (meters × periods, kW): of the ``y`` last eligible like days, the ``x`` with the
    highest (``high``), middle (``mid``) or lowest (``low``) mean load, averaged per wall-clock slot.

    ``rank_window``: boolean (slots,) of the slots whose mean ranks the days (e.g. the event hours);
    the whole day by default. ``mid`` drops ``(y - x) // 2`` highest days and the rest lowest.
    Ties rank the more recent day higher.
    """
    _check(x, y)
    if variant not in ("high", "mid", "low"):
        raise ValidationError("baseline parameters", [Problem("baseline", "variant", f"unknown {variant!r}")])
    if x == y:  # every candidate is kept: nothing to rank
        return like_day_average(metered_kw, layout, y, exclude_days)
    values = as_meter_array(metered_kw, layout.grid.n, "metered_kw")
    idx = like_day_candidates(layout, y, exclude_days)
    missing = idx[:, 0] < 0
    safe = np.where(idx < 0, 0, idx)
    win = _windows(layout, y, exclude_days)
    window = slice(None) if rank_window is None else np.asarray(rank_window, dtype=bool)
    first = {"low": 0, "mid": (y - x) - (y - x) // 2, "high": y - x}[variant]
    keep = np.zeros(y, dtype=bool)
    keep[first : first + x] = True
    # sum the kept days, or the window minus the dropped ones: whichever gathers fewer rows
    gather_kept = x <= y - x

    def sums(cube: np.ndarray, work: _Work) -> np.ndarray:
        score = cube[:, :, window].mean(axis=2)  # (meters × days)
        cand_score = score[:, safe]  # (meters × days × y), candidates oldest first
        order = np.argsort(cand_score, axis=2, kind="stable")  # ascending; a tie keeps the older day lower
        ranks = order[:, :, keep if gather_kept else ~keep]
        picked = np.take_along_axis(np.broadcast_to(safe[None], cand_score.shape), ranks, axis=2)
        if gather_kept:
            total = _rows_sum(cube, picked, work)
        else:
            total = _window_sums(cube, win, y, work)
            total -= _rows_sum(cube, picked, work)
        return total

    return _in_blocks(values, layout, missing, sums, x)
