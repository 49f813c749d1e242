"""Local wall-clock windows on a moving horizon: the rules :func:`site_on_horizon` applies, and the
check a long-running planner (the S2 CEM) makes once, when it loads a site.

A window written in local wall-clock time (an EV session ``arrival: "18:30"`` / ``departure:
"07:00"``, a process's ``earliest_start`` / ``latest_end``) recurs every local day. On a horizon
``[S, E)`` it becomes period indices by these rules (docs/site-format.md, "Rolling horizon"):

* the occurrence planned is the first one that is not over at ``S``: an occurrence already open at
  ``S`` is clipped to ``S``; an EV's need is then scaled by the share of the session still ahead
  (the elapsed share is assumed charged: ``initial_kwh`` grows by it), and a process whose
  remaining window no longer fits its sequence counts as run, so the next occurrence is taken;
* an occurrence that ends after ``E`` is left to a later plan (the asset is not in this plan):
  :func:`check_rolling` makes sure every window fits the horizon, so each occurrence is planned in
  full from the moment it opens at the latest;
* local times are placed with the zone's rules on each day (DST days: a skipped time moves forward,
  a repeated time is its first, summer-time occurrence); a time that falls between two period
  boundaries of the horizon (a start off the step) rounds to the next boundary.

One occurrence per asset and plan: a site-file asset holds one session or run.

A planner that re-plans as time passes (the S2 CEM) keeps :class:`Commitments`: what its last plan
of each occurrence put into an EV and when it started a process. With them an open occurrence is no
longer guessed: the EV's energy so far is what the plans charged (not the elapsed share), and a
process run that has started continues as committed (its remaining steps, fixed) or, finished,
counts as run. :func:`record` writes them after each plan.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd

from gridflex.assets.ev import EV
from gridflex.assets.shiftable_process import DailyProcess, ShiftableProcess
from gridflex.timegrid import TimeGrid

log = logging.getLogger("gridflex.scheduling")

WINDOW_FIELDS: dict[type, tuple[str, str]] = {EV: ("arrival", "departure"), ShiftableProcess: ("earliest_start", "latest_end")}  # fmt: skip
"""The asset kinds with a local-time window: (start field, end field)."""


def wall_minutes(ref: Any) -> int | None:
    """Minutes after local midnight of a wall-clock ``"HH:MM"`` (``"24:00"`` allowed), else None."""
    if not isinstance(ref, str):
        return None
    text = ref.strip()
    if len(text) > 5 or ":" not in text:
        return None
    try:
        hh, mm = (int(p) for p in text.split(":"))
    except ValueError:
        return None
    if not (0 <= hh <= 24 and 0 <= mm < 60) or hh * 60 + mm > 24 * 60:
        return None
    return hh * 60 + mm


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a daily window on a horizon, in periods (fractions before rounding)."""

    start: float  # periods from the horizon start (negative: opened before it)
    end: float

    @property
    def span(self) -> float:
        return self.end - self.start


def occurrences(grid: TimeGrid, tz: tzinfo | str, a_min: int, b_min: int) -> list[Occurrence]:
    """Every occurrence of the daily window ``[a, b)`` (local minutes; ``b <= a``: ends the next
    day) that ends after the horizon start, first to last, up to one past the horizon end."""
    first = grid.start.tz_convert(tz).tz_localize(None).normalize() - pd.Timedelta(days=1)
    days = int((grid.end - grid.start).total_seconds() // 86400) + 3
    base = pd.DatetimeIndex([first + pd.Timedelta(days=d) for d in range(days)])
    cross = 1 if b_min <= a_min else 0
    out = []
    starts = _localize(base + pd.Timedelta(minutes=a_min), tz)
    ends = _localize(base + pd.Timedelta(days=cross, minutes=b_min), tz)
    for s, e in zip(starts, ends, strict=True):
        ks = (s - grid.start).total_seconds() / grid.step_s
        ke = (e - grid.start).total_seconds() / grid.step_s
        if ke > 0:
            out.append(Occurrence(ks, ke))
            if ks >= grid.n:
                break
    return out


def _localize(naive: pd.DatetimeIndex, tz: tzinfo | str) -> pd.DatetimeIndex:
    # DST: a skipped wall time moves forward, a repeated one is its first (summer-time) occurrence.
    flags = np.ones(len(naive), dtype=bool)
    return naive.tz_localize(tz, ambiguous=flags, nonexistent="shift_forward").tz_convert("UTC")


def _boundary(x: float) -> int:
    """The next period boundary at or after ``x`` periods (a time between two rounds up)."""
    return math.ceil(x - 1e-9)


@dataclass
class Commitments:
    """What the plans of a moving horizon committed for local-time windows, by (asset name, epoch
    second the occurrence ends): EV charging as planned from a start, and process run starts."""

    ev: dict[tuple[str, int], tuple[float, float, float, np.ndarray]] = field(default_factory=dict)
    """→ (kWh stored before ``t0``, ``t0`` epoch s, period s, kWh stored per period from ``t0``)."""
    runs: dict[tuple[str, int], float] = field(default_factory=dict)
    """→ epoch second the run starts (as last planned)."""

    def stored_kwh(self, key: tuple[str, int], at: float) -> float | None:
        """Energy the plans put into the car of occurrence ``key`` up to epoch second ``at``."""
        if key not in self.ev:
            return None
        before, t0, step, per_period = self.ev[key]
        done = (at - t0) / step  # periods since t0 (a fraction for a part)
        whole = int(min(max(math.floor(done), 0), len(per_period)))
        part = per_period[whole] * (done - whole) if whole < len(per_period) and done > whole else 0.0
        return before + float(per_period[:whole].sum()) + float(part)

    def forget_before(self, epoch: float) -> None:
        """Drop what ended before ``epoch`` (a CEM running for a year keeps a bounded memory)."""
        for book in (self.ev, self.runs):
            for key in [k for k in book if k[1] < epoch]:
                del book[key]


def record(
    commitments: Commitments, base_assets: dict[str, Any], rolled: list[Any], power_kw: Any, grid: TimeGrid
) -> None:
    """Remember what a solved plan does in each local-time window (see :class:`Commitments`).
    ``base_assets``: the site file's assets by name; ``rolled``: the same assets on the plan's grid;
    ``power_kw``: the result's power per asset and carrier."""
    t0, step, dt_h = grid.start.timestamp(), grid.step_s, grid.step_s / 3600.0
    for r in rolled:
        a = base_assets.get(r.name)
        fields_ = next((f for kind, f in WINDOW_FIELDS.items() if isinstance(r, kind)), None)
        if (
            a is None
            or fields_ is None
            or isinstance(r, DailyProcess)
            or None in (wall_minutes(getattr(a, fields_[0])), wall_minutes(getattr(a, fields_[1])))
        ):
            continue
        end = int(t0 + int(getattr(r, fields_[1])) * step)
        kw = np.asarray(
            power_kw.get(r.name, {}).get(r.carrier if isinstance(r, ShiftableProcess) else "electricity", ()),
            dtype=float,
        )
        if isinstance(r, EV):
            stored = np.where(kw > 0, kw * r.charge_efficiency, kw / r.discharge_efficiency) * dt_h
            commitments.ev[(r.name, end)] = (r.initial_kwh - a.initial_kwh, t0, float(step), stored)
        elif not r.interruptible and len(r.profile_kw) == len(a.profile_kw):  # a started run's rest: kept
            on = np.flatnonzero(np.abs(kw) > 1e-9)
            lead = next((i for i, p in enumerate(r.profile_kw) if abs(p) > 1e-9), None)
            if len(on) and lead is not None:
                commitments.runs[(r.name, end)] = t0 + float(on[0] - lead) * step
    commitments.forget_before(t0 - 86400.0)


def rolled_asset(
    asset: Any, grid: TimeGrid, tz: tzinfo | str, commitments: Commitments | None = None
) -> Any | None:
    """The asset with its local-time window as period indices on ``grid`` (see module doc), the
    asset unchanged if it has none, or None when its occurrence is left to a later plan.
    ``commitments``: what earlier plans did in open windows (see :class:`Commitments`)."""
    fields = next((f for kind, f in WINDOW_FIELDS.items() if isinstance(asset, kind)), None)
    if fields is None or isinstance(asset, DailyProcess):  # DailyProcess: MPC's own indices
        return asset
    fa, fb = fields
    ra, rb = getattr(asset, fa), getattr(asset, fb)
    a_min, b_min = wall_minutes(ra), wall_minutes(rb)
    if a_min is None and b_min is None:
        return asset  # indices count from the new start; ISO times are refused by check_rolling
    if a_min is None or b_min is None:  # one local time: its next occurrence, the other kept
        if a_min is not None:
            k = _next_time(grid, tz, a_min, 0)
        else:  # an end: after the start index (0 when the start is the horizon start)
            k = _next_time(grid, tz, b_min, (ra if isinstance(ra, int) else 0) + 1)  # type: ignore[arg-type]
        if k > grid.n:
            return None
        return asset.model_copy(update={fa if a_min is not None else fb: k})
    steps = len(asset.profile_kw) if isinstance(asset, ShiftableProcess) else 1
    t0 = grid.start.timestamp()
    for occ in occurrences(grid, tz, a_min, b_min):
        a, b = max(_boundary(occ.start), 0), _boundary(occ.end)
        if b > grid.n:
            return None  # ends after the horizon: the next plans take it
        key = (asset.name, int(t0 + b * grid.step_s))
        run = (
            None
            if commitments is None or not isinstance(asset, ShiftableProcess)
            else commitments.runs.get(key)
        )
        if run is not None and run < t0 and not asset.interruptible:
            ran = round((t0 - run) / grid.step_s)  # a started run continues as committed
            if ran >= steps:
                continue  # it has finished: this occurrence counts as run
            rest = [float(x) for x in asset.profile_kw[ran:]]
            return asset.model_copy(update={"profile_kw": rest, fa: 0, fb: len(rest)})
        if b - a < steps:
            continue  # an open process window too short to run in: counted as run
        update: dict[str, Any] = {fa: a, fb: b}
        if isinstance(asset, EV) and occ.start < 0:
            ahead = occ.end / occ.span  # share of the session still ahead of the start
            known = None if commitments is None else commitments.stored_kwh(key, t0)
            # what the plans charged, else the elapsed share (the first plan of an open session)
            done = (
                asset.energy_need_kwh * (1.0 - ahead)
                if known is None
                else min(max(known, 0.0), asset.energy_need_kwh)
            )
            update |= {
                "initial_kwh": asset.initial_kwh + done,
                "energy_need_kwh": asset.energy_need_kwh - done,
            }
        return asset.model_copy(update=update)
    return None


def _next_time(grid: TimeGrid, tz: tzinfo | str, minutes: int, first: int) -> int:
    """The boundary of the next occurrence of a local time at or after period ``first``."""
    day = grid.start.tz_convert(tz).tz_localize(None).normalize()
    days = int((grid.end - grid.start).total_seconds() // 86400) + 3
    naive = pd.DatetimeIndex([day + pd.Timedelta(days=d - 1, minutes=minutes) for d in range(days)])
    for t in _localize(naive, tz):
        k = _boundary((t - grid.start).total_seconds() / grid.step_s)
        if k >= first:
            return k
    return grid.n + 1


def window_hours(start: pd.Timestamp, tz: tzinfo | str, a_min: int, b_min: int) -> tuple[float, float]:
    """Shortest and longest real length (h) of the daily window ``[a, b)`` over a year of local days
    from ``start`` (DST days make it an hour shorter or longer)."""
    first = start.tz_convert(tz).tz_localize(None).normalize()
    base = pd.DatetimeIndex([first + pd.Timedelta(days=d) for d in range(366)])
    cross = 1 if b_min <= a_min else 0
    s = _localize(base + pd.Timedelta(minutes=a_min), tz)
    e = _localize(base + pd.Timedelta(days=cross, minutes=b_min), tz)
    hours = (e - s).total_seconds().to_numpy() / 3600.0
    return float(hours.min()), float(hours.max())
