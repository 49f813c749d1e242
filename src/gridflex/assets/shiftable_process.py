"""Shiftable process: a fixed power sequence whose start moves within a window (MILP).

Non-interruptible: one binary per possible start ``s`` (``Σ_s y_s = 1``); the process takes
``profile[k]`` at period ``s + k``. Interruptible: one binary ``x_{k,t}`` per step ``k`` and period
``t`` of the window; every step runs once (``Σ_t x_{k,t} = 1``), at most one step per period
(``Σ_k x_{k,t} ≤ 1``) and steps keep their order (``Σ_t t·x_{k+1,t} ≥ Σ_t t·x_{k,t} + 1``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Output, TimeRef
from gridflex.errors import Problem
from gridflex.optimize import Solution


class ShiftableProcess(AssetBase):
    """A washing machine, a dishwasher, a batch process: its sequence is fixed, its start is not."""

    kind: Literal["shiftable_process"]
    carrier: str = Field(ELECTRICITY, min_length=1, description="carrier consumed")
    profile_kw: list[float] = Field(
        min_length=1, description="power of each step of the sequence, one per period, kW"
    )
    earliest_start: TimeRef = Field(
        0, description="first period it may run: index, ISO time or local 'HH:MM'"
    )
    latest_end: TimeRef | None = Field(
        None, description="end (exclusive) by which it must have finished (default: horizon end)"
    )
    interruptible: bool = Field(False, description="whether it may pause between steps")

    def window(self, ctx: Context) -> tuple[int | None, int | None]:
        a = ctx.period(self.earliest_start)
        b = ctx.n if self.latest_end is None else ctx.period(self.latest_end, after=a or 0)
        return a, b

    def check(self, ctx: Context) -> list[Problem]:
        a, b = self.window(ctx)
        out = []
        if a is None:
            out.append(ctx.period_problem(self.name, "earliest_start", self.earliest_start))
        if b is None:
            out.append(ctx.period_problem(self.name, "latest_end", self.latest_end or 0, after=a or 0))
        return [p for p in out if p is not None]

    def precheck(self, ctx: Context) -> list[Problem]:
        a, b = self.window(ctx)
        assert a is not None and b is not None
        steps = len(self.profile_kw)
        if b - a >= steps:
            return []
        return [
            Problem(
                self.name,
                "latest_end",
                f"{self.label} cannot run its {steps * ctx.dt_h:g} h sequence between {ctx.clock(a)} and "
                f"{ctx.clock(b)} ({max(b - a, 0) * ctx.dt_h:g} h)",
            )
        ]

    def build(self, ctx: Context) -> Built:
        a, b = self.window(ctx)
        assert a is not None and b is not None
        prof = np.asarray(self.profile_kw, dtype=float)
        steps = prof.size
        if self.interruptible:
            return self._build_interruptible(ctx, a, b, prof)
        starts = np.arange(a, b - steps + 1)
        y = ctx.add_vars(f"{self.label} start", starts.size, 0.0, 1.0, integer=True)
        ctx.relation(f"{self.label} one start", np.zeros(starts.size, np.int64), y.idx, 1.0, 1.0, 1.0, 1)
        periods = (starts[:, None] + np.arange(steps)[None, :]).ravel()
        cols = np.repeat(y.idx, steps)
        coef = np.tile(prof, starts.size)
        ctx.flow(self.carrier, self.node, periods, cols, coef)
        return self._reader(ctx, periods, cols, coef)

    def _build_interruptible(self, ctx: Context, a: int, b: int, prof: np.ndarray) -> Built:
        steps, width = prof.size, b - a
        x = ctx.add_vars(f"{self.label} step placement", steps * width, 0.0, 1.0, integer=True)
        k = np.repeat(np.arange(steps), width)  # step of each variable
        t = np.tile(np.arange(a, b), steps)  # period of each variable
        ctx.relation(f"{self.label} each step once", k, x.idx, 1.0, 1.0, 1.0, steps)
        ctx.relation(f"{self.label} one step per period", t - a, x.idx, 1.0, 0.0, 1.0, width)
        if steps > 1:
            # Row j (j = 0..steps-2): Σ t·x_{j+1,t} − Σ t·x_{j,t} >= 1.
            later = k >= 1
            earlier = k <= steps - 2
            rows = np.concatenate([k[later] - 1, k[earlier]])
            cols = np.concatenate([x.idx[later], x.idx[earlier]])
            vals = np.concatenate([t[later], -t[earlier]]).astype(float)
            ctx.relation(f"{self.label} step order", rows, cols, vals, 1.0, np.inf, steps - 1)
        coef = prof[k]
        ctx.flow(self.carrier, self.node, t, x.idx, coef)
        return self._reader(ctx, t, x.idx, coef)

    def _reader(self, ctx: Context, periods: np.ndarray, cols: np.ndarray, coef: np.ndarray) -> Built:
        def read(sol: Solution) -> Output:
            on = np.round(sol.x[cols])
            power = np.bincount(periods, weights=on * coef, minlength=ctx.n)
            return Output({self.carrier: power})

        return Built(read)


class DailyProcess(ShiftableProcess):
    """One run a day over several days, for rolling-horizon control (``run_mpc``); non-interruptible.

    Each day ``k`` it may start in periods ``k·n_day + [start_period, end_period − steps]``. The model
    of a horizon (first period ``offset`` of the run) has one start binary ``y_t`` per period (upper
    bound 0 where no start is allowed) and one row per period, ``Σ_{u=t−W+1..t} y_u`` over the width
    ``W`` of a day's start window: in ``[0, 1]`` everywhere (one start per day at most), ``[1, 1]`` at
    the last allowed start of a day whose run has not started (it must start by then). State carried
    between steps: ``starts`` (the run periods where runs started); a run under way at the horizon
    start continues as committed, as a fixed load (its remaining steps); days already started are
    closed. Only bounds and right-hand sides change with the offset: one structure per horizon length.
    """

    n_day: int = Field(gt=0, description="periods per day")
    start_period: int = Field(ge=0, description="first period of each day's window")
    end_period: int = Field(gt=0, description="end (exclusive) of each day's window")
    offset: int = Field(0, ge=0, description="period of the run at which this horizon starts")
    starts: list[int] = Field(default_factory=list, description="run periods where runs started")

    def check(self, ctx: Context) -> list[Problem]:
        return []  # checked as a one-day process before repetition

    def precheck(self, ctx: Context) -> list[Problem]:
        one = self.model_copy(update={"earliest_start": self.start_period, "latest_end": self.end_period})
        return ShiftableProcess.precheck(one, ctx)

    def arrays(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Per period: start allowed, row lower bound (1 = must have started), fixed load; width W."""
        n, steps = ctx.n, len(self.profile_kw)
        first, last_start = self.start_period, self.end_period - steps
        t = self.offset + np.arange(n)
        pos, day = t % self.n_day, t // self.n_day
        closed = np.isin(day, [s // self.n_day for s in self.starts])
        allowed = (pos >= first) & (pos <= last_start) & ~closed
        must = ((pos == last_start) & ~closed).astype(float)
        fixed = np.zeros(n)
        if self.starts:
            done = self.offset - max(self.starts)
            if 0 < done < steps:
                tail = np.asarray(self.profile_kw[done:], float)[:n]
                fixed[: tail.size] = tail
        return allowed, must, fixed, last_start - first + 1

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        prof = np.asarray(self.profile_kw, dtype=float)
        steps = prof.size
        allowed, must, fixed, width = self.arrays(ctx)
        y = ctx.add_vars(f"{self.label} start", n, 0.0, allowed.astype(float), integer=True)
        j = np.arange(n)
        k = np.arange(width)
        rows = np.repeat(j, width)
        src = rows - np.tile(k, n)
        keep = src >= 0
        ctx.relation(f"{self.label} one start a day", rows[keep], y.idx[src[keep]], 1.0, must, 1.0, n)
        start = np.repeat(j, steps)
        periods = start + np.tile(np.arange(steps), n)
        inside = periods < n
        cols, coef = y.idx[start[inside]], np.tile(prof, n)[inside]
        ctx.flow(self.carrier, self.node, periods[inside], cols, coef)
        ctx.fixed_flow(self.carrier, self.node, fixed, self.label)
        reader = self._reader(ctx, periods[inside], cols, coef)

        def read(sol: Solution) -> Output:
            out = reader.read(sol)
            out.power_kw[self.carrier] = out.power_kw[self.carrier] + fixed
            return out

        return Built(read)
