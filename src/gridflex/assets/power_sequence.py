"""Power sequences: a programme of containers run in order, each one of its alternative sequences of
power steps, e.g. a washing machine's programme (S2's PPBC devices). The asset (kind
``power_sequence``, :class:`PowerSequenceAsset`) chooses a sequence per container, when it starts and
where an interruptible one pauses (MILP).

Times are whole periods of the horizon: a sequence of duration ``D`` takes ``L = ⌈D/step⌉`` periods,
its power per period the time-weighted average of its elements (:func:`profile_from`). For container
``c`` and sequence ``s`` a binary ``z[c,s]`` chooses the sequence (``Σ_s z = 1``):

* not interruptible: start binaries ``y[c,s,t]`` (``Σ_t y = z``), the sequence runs ``t .. t+L−1``;
* interruptible: one binary per step and period ``x[c,s,k,t]`` (``Σ_t x[k,·] = z``); steps keep their
  order, and a pause between two steps lasts at most ``max_pause`` periods;
* containers run in their order, the next one starting after the previous one ends (its exact end:
  a last step shorter than a period ends inside it), and at most the chosen sequence's
  ``max_pause_s`` after the end of the previous one's last period.

A fixed load (what is done or cannot change) comes with it. The S2 CEM makes the containers from a
PPBC.PowerProfileDefinition and the instructions that ran, and turns the placements back into
instructions (:mod:`gridflex.s2.control.ppbc`, docs/s2.md).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
from pydantic import PrivateAttr

from gridflex.assets.base import AssetBase, Built, Context, Output
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock

Mode = Literal["new", "run", "pause_now", "paused"]
Elements = list[tuple[float, float]]  # (duration s, kW) per element of a sequence


@dataclass
class SeqSpec:
    """One sequence (or the rest of a running one) on the period grid."""

    container_id: uuid.UUID
    sequence_id: uuid.UUID
    profile_kw: np.ndarray  # one value per step (period) it runs
    interruptible: bool
    max_pause: int  # whole periods (pauses inside the sequence)
    max_pause_s: float | None = None  # max_pause_before (None: unbounded)
    lo: int = 0  # first period of its first step
    first_max: int | None = None  # last period of its first step (None: only the window)
    end_frac: float = 1.0  # the part of its last step's period it runs
    pre_kw: np.ndarray | None = None  # power per period of the horizon that comes with this choice
    mode: Mode = "new"  # new sequence; running (runs on until b0); pauses at τ; interrupted
    pause_at: datetime | None = None  # "pause_now": the time of the pause


def profile_from(els: Elements, progress_s: float, step_s: int) -> tuple[np.ndarray, float]:
    """The rest of a sequence from ``progress_s`` on, in steps of one period: average kW per step, and
    the part of the last step's period it runs."""
    rest = max(sum(d for d, _ in els) - progress_s, 0.0)
    steps = max(1, math.ceil(rest / step_s - 1e-9))
    edges = progress_s + np.arange(steps + 1, dtype=float) * step_s
    energy = np.zeros(steps)  # kW·s
    t = 0.0
    for dur, kw in els:
        ov = np.maximum(np.minimum(edges[1:], t + dur) - np.maximum(edges[:-1], t), 0.0)
        energy += ov * kw
        t += dur
    return energy / step_s, rest / step_s - (steps - 1)


@dataclass
class Placement:
    """The plan of one container: its sequence and the periods of its (remaining) steps."""

    container_id: uuid.UUID
    sequence_id: uuid.UUID
    periods: list[int]
    profile_kw: np.ndarray
    mode: Mode = "new"
    lo: int = 0
    pause_at: datetime | None = None
    end_frac: float = 1.0
    max_pause_s: float | None = None


class PowerSequenceAsset(AssetBase):
    """A power-sequence device in the site (see the module docstring): a fixed load (what is done or
    cannot change) plus the containers still to place. Made by the S2 CEM (a PPBC device)."""

    kind: Literal["power_sequence"] = "power_sequence"
    _containers: list[list[SeqSpec]] = PrivateAttr(default_factory=list)
    _window: tuple[int, int] = PrivateAttr((0, 0))
    _fixed_kw: np.ndarray | None = PrivateAttr(None)
    _frozen: bool = PrivateAttr(False)  # keep the instructions sent (the rest does not fit)
    _decision: list[Placement] | None = PrivateAttr(None)
    _power_kw: np.ndarray | None = PrivateAttr(None)  # the planned power, fixed part included
    _revocable: set[uuid.UUID] = PrivateAttr(default_factory=set)  # pending ids the plan may change
    _start: datetime | None = PrivateAttr(None)
    _tau: datetime | None = PrivateAttr(None)  # now + processing delay: what is before is done
    _prev_end: datetime | None = PrivateAttr(None)  # end of the container before the first placed one
    _step_s: int = PrivateAttr(900)

    def check(self, ctx: Context) -> list[Problem]:
        if self._fixed_kw is None and not self._containers:
            return [Problem(self.name, "kind", "power_sequence is made by the S2 CEM (a PPBC device), "
                                               "not written in a site file")]  # fmt: skip
        return []

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        fixed = np.zeros(n) if self._fixed_kw is None else self._fixed_kw
        ctx.fixed_flow("electricity", self.node, fixed)
        if self._frozen or not self._containers:

            def read_fixed(sol: Solution) -> Output:
                self._decision, self._power_kw = [], fixed.copy()
                return Output({"electricity": fixed.copy()})

            return Built(read_fixed)
        b = self._window[1]
        lab = self.name
        rows = _Rows()
        seq_vars: list[list[_SeqVars]] = []
        zs: list[VarBlock] = []
        for ci, cont in enumerate(self._containers):
            z = ctx.add_vars(f"s2 '{lab}' c{ci} sequence", len(cont), 0.0, 1.0, integer=True)
            zs.append(z)
            rows.add("one sequence", z.idx, np.ones(len(cont)), 1.0, 1.0)
            cur: list[_SeqVars] = []
            for si, seq in enumerate(cont):
                zc = int(z.idx[si])
                if seq.pre_kw is not None and seq.pre_kw.any():
                    per = np.flatnonzero(seq.pre_kw)
                    ctx.flow("electricity", self.node, per, np.full(per.size, zc), seq.pre_kw[per])
                place = _stepped if seq.interruptible else _block
                sv = place(ctx, rows, self.node, f"s2 '{lab}' c{ci}s{si}", seq, zc, b)
                if sv is None:
                    rows.add("cannot start", np.array([zc]), np.ones(1), 0.0, 0.0)
                else:
                    cur.append(sv)
            seq_vars.append(cur)
        for ci in range(1, len(self._containers)):
            nxt, prev = seq_vars[ci], seq_vars[ci - 1]
            cols = np.concatenate([*(v.start_cols for v in nxt), *(v.end_cols for v in prev)])
            starts = [v.start_at for v in nxt]
            rows.add("containers in order", cols, np.concatenate([*starts, *(-v.end_at for v in prev)]),
                     0.0, np.inf)  # fmt: skip
            # the pause from the end of the previous one's last period (S2: a container that would start
            # too late for a period start gets an earlier ScheduleInstruction, gridflex.s2.control.ppbc)
            vals = np.concatenate([*starts, *(-v.end_period for v in prev)])
            pauses = np.array([-(float(n) if s.max_pause_s is None else s.max_pause_s / self._step_s)
                               for s in self._containers[ci]])  # fmt: skip
            rows.add("max pause before", np.concatenate([cols, zs[ci].idx]), np.concatenate([vals, pauses]),
                     -np.inf, 0.0)  # fmt: skip
        rows.flush(ctx, f"s2 '{lab}'")

        def read(sol: Solution) -> Output:
            plan: list[Placement] = []
            power = fixed.copy()
            for cont in seq_vars:
                for sv in cont:
                    seq, t, k = sv.seq, sv.t, sv.k
                    on = np.round(sol.value(sv.v)) > 0.5
                    if not on.any():
                        continue
                    steps = seq.profile_kw.size
                    if seq.interruptible:
                        per = [int(t[on & (k == j)][0]) for j in range(steps)]
                    else:
                        s0 = int(t[on][0])
                        per = list(range(s0, s0 + steps))
                    plan.append(Placement(seq.container_id, seq.sequence_id, per, seq.profile_kw, seq.mode,
                                          seq.lo, seq.pause_at, seq.end_frac, seq.max_pause_s))  # fmt: skip
                    power[per] += seq.profile_kw
                    if seq.pre_kw is not None:
                        power += seq.pre_kw
            self._decision, self._power_kw = plan, power
            return Output({"electricity": power})

        return Built(read)


class _Rows:
    """Constraint rows collected one by one, added as one group."""

    def __init__(self) -> None:
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def add(self, _what: str, cols: np.ndarray, vals: np.ndarray, lb: float, ub: float) -> None:
        self.r.append(np.full(len(cols), len(self.lb)))
        self.c.append(np.asarray(cols))
        self.v.append(np.asarray(vals, dtype=float))
        self.lb.append(lb)
        self.ub.append(ub)

    def flush(self, ctx: Context, name: str) -> None:
        if self.lb:
            ctx.relation(f"{name} sequences", np.concatenate(self.r), np.concatenate(self.c),
                         np.concatenate(self.v), np.array(self.lb), np.array(self.ub), len(self.lb))  # fmt: skip


@dataclass
class _SeqVars:
    """One sequence's placement variables ``v`` (per candidate period ``t`` and step ``k``) and its
    start / end terms: columns, start period, exact end and end of the last period."""

    seq: SeqSpec
    v: VarBlock
    t: np.ndarray
    k: np.ndarray
    start_cols: np.ndarray
    start_at: np.ndarray
    end_cols: np.ndarray
    end_at: np.ndarray
    end_period: np.ndarray


def _block(ctx: Context, rows: _Rows, node: str, lab: str, seq: SeqSpec, zc: int, b: int) -> _SeqVars | None:
    """A sequence that is not interruptible: one start binary per period, its steps back to back."""
    steps, lo = seq.profile_kw.size, seq.lo
    top = b - steps if seq.first_max is None else min(b - steps, seq.first_max)
    tt = np.arange(lo, top + 1)
    if tt.size == 0:
        return None
    y = ctx.add_vars(f"{lab} start", tt.size, 0.0, 1.0, integer=True)
    rows.add("chosen sequence starts once", np.append(y.idx, zc), np.append(np.ones(tt.size), -1.0), 0.0, 0.0)
    per = (tt[:, None] + np.arange(steps)[None, :]).ravel()
    ctx.flow("electricity", node, per, np.repeat(y.idx, steps), np.tile(seq.profile_kw, tt.size))
    return _SeqVars(seq, y, tt, np.zeros(0), y.idx, tt.astype(float), y.idx, tt + steps - 1 + seq.end_frac,
                    (tt + steps).astype(float))  # fmt: skip


def _stepped(
    ctx: Context, rows: _Rows, node: str, lab: str, seq: SeqSpec, zc: int, b: int
) -> _SeqVars | None:
    """An interruptible sequence: one binary per step and period, steps in order, pauses at most
    ``max_pause`` periods."""
    steps, lo = seq.profile_kw.size, seq.lo
    width = max(b - lo, 0)
    k = np.repeat(np.arange(steps), width)
    t = np.tile(np.arange(lo, lo + width), steps)
    ok = (t >= lo + k) & (t <= b - steps + k)  # room before and after each step
    if seq.first_max is not None:
        ok &= (k > 0) | (t <= seq.first_max)
    if not ok.any():
        return None
    x = ctx.add_vars(f"{lab} steps", steps * width, 0.0, ok.astype(float), integer=True)
    for j in range(steps):
        sel = k == j
        rows.add("each step once", np.append(x.idx[sel], zc), np.append(np.ones(sel.sum()), -1.0), 0.0, 0.0)
    for j in range(steps - 1):
        nxt, now_ = k == j + 1, k == j
        cols = np.concatenate([x.idx[nxt], x.idx[now_], [zc]])
        gap = np.concatenate([t[nxt], -t[now_]]).astype(float)
        rows.add("steps in order", cols, np.append(gap, -1.0), 0.0, np.inf)
        rows.add("max pause inside", cols, np.append(gap, -(seq.max_pause + 1.0)), -np.inf, 0.0)
    ctx.flow("electricity", node, t, x.idx, seq.profile_kw[k])
    first, last = k == 0, k == steps - 1
    return _SeqVars(seq, x, t, k, x.idx[first], t[first].astype(float), x.idx[last], t[last] + seq.end_frac,
                    (t[last] + 1).astype(float))  # fmt: skip
