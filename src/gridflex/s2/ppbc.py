"""PPBC (power-profile based control), e.g. a washing machine: choose a sequence per container, when
it starts and where an interruptible sequence pauses.

State (:class:`PpbcState`): PPBC.PowerProfileDefinition and PPBC.PowerProfileStatus. ``check`` refuses
unknown references (profile, container or sequence id) before ``apply`` changes anything.

Mapping (docs/s2.md). Times are whole periods of the horizon: a sequence of duration ``D`` takes
``L = ⌈D/step⌉`` periods, its power per period the time-weighted average of its elements (expected
electric values). The programme may start at the first period boundary after both the profile's
``start_time`` and now + the RM's processing delay, and must end by ``end_time`` (and the horizon).
For container ``c`` and sequence ``s`` a binary ``z[c,s]`` chooses the sequence (``Σ_s z = 1``):

* not interruptible: start binaries ``y[c,s,t]`` (``Σ_t y = z``), the sequence runs ``t .. t+L−1``;
* interruptible: one binary per step and period ``x[c,s,k,t]`` (``Σ_t x[k,·] = z``); steps keep their
  order, and a pause between two steps lasts at most ``max_pause_before`` (our reading of the S2
  text for pauses inside a sequence);
* containers run in their order, the next one starting after the previous one ends, and at most the
  chosen sequence's ``max_pause_before`` later.

Back from the schedule: one PPBC.ScheduleInstruction per container (its first step's period start),
and for each pause of an interruptible sequence a PPBC.StartInterruptionInstruction at the end of
the step before it and a PPBC.EndInterruptionInstruction at the start of the step after it. Until
the programme starts, every plan revokes the previous plan's instructions and sends new ones; once a
container is EXECUTING, INTERRUPTED or FINISHED (or a ScheduleInstruction's time has passed) the
plan is committed: its instructions stay, and its remaining power is a fixed load of the site.

s2-python 0.11 types ``PPBC.PowerSequenceContainerStatus.progress`` as a UUID (the schema: a
duration), so the CEM does not rely on ``progress``; it follows its own committed plan.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from pydantic import PrivateAttr
from s2python.generated.gen_s2 import PPBCPowerSequenceStatus
from s2python.ppbc import (
    PPBCEndInterruptionInstruction,
    PPBCPowerProfileDefinition,
    PPBCPowerProfileStatus,
    PPBCPowerSequence,
    PPBCScheduleInstruction,
    PPBCStartInterruptionInstruction,
)

from gridflex.assets.base import AssetBase, Built, Context, Output
from gridflex.optimize import Solution, VarBlock
from gridflex.s2.frbc import ELECTRIC
from gridflex.s2.ombc import revoke_pending

PpbcMessage = PPBCPowerProfileDefinition | PPBCPowerProfileStatus
STARTED = {
    PPBCPowerSequenceStatus.EXECUTING,
    PPBCPowerSequenceStatus.INTERRUPTED,
    PPBCPowerSequenceStatus.FINISHED,
}


@dataclass
class SeqSpec:
    """One sequence on the period grid."""

    container_id: uuid.UUID
    sequence_id: uuid.UUID
    profile_kw: np.ndarray  # one value per period it runs
    interruptible: bool
    max_pause: int  # periods


def sequence_profile(seq: PPBCPowerSequence, step_s: int) -> np.ndarray:
    """Average electric power (kW) per period of a sequence started at a period boundary."""
    total_s = sum(el.duration.root for el in seq.elements) / 1000.0
    steps = max(1, math.ceil(total_s / step_s - 1e-9))
    edges = np.arange(steps + 1, dtype=float) * step_s
    energy = np.zeros(steps)  # kW·s
    t = 0.0
    for el in seq.elements:
        dur = el.duration.root / 1000.0
        kw = sum(v.value_expected for v in el.power_values if v.commodity_quantity in ELECTRIC) / 1000.0
        ov = np.maximum(np.minimum(edges[1:], t + dur) - np.maximum(edges[:-1], t), 0.0)
        energy += ov * kw
        t += dur
    return energy / step_s


@dataclass
class Placement:
    """The plan of one container: its sequence and the periods of its steps."""

    container_id: uuid.UUID
    sequence_id: uuid.UUID
    periods: list[int]
    profile_kw: np.ndarray


class PpbcAsset(AssetBase):
    """A PPBC device in the site (see the module docstring); or, once committed, a fixed load."""

    kind: Literal["s2_ppbc"] = "s2_ppbc"
    _containers: list[list[SeqSpec]] = PrivateAttr(default_factory=list)
    _window: tuple[int, int] = PrivateAttr((0, 0))
    _fixed_kw: np.ndarray | None = PrivateAttr(None)
    _decision: list[Placement] | None = PrivateAttr(None)
    _start: datetime | None = PrivateAttr(None)
    _step_s: int = PrivateAttr(900)

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        if self._fixed_kw is not None:
            fixed = self._fixed_kw
            ctx.fixed_flow("electricity", self.node, fixed)
            return Built(lambda sol: Output({"electricity": fixed.copy()}))
        a, b = self._window
        lab = self.name
        rows = _Rows()
        seq_vars: list[list[tuple[SeqSpec, VarBlock, VarBlock, np.ndarray, np.ndarray]]] = []
        # per container: (start terms, end terms) as (cols, coefs)
        starts: list[tuple[list[np.ndarray], list[np.ndarray]]] = []
        ends: list[tuple[list[np.ndarray], list[np.ndarray]]] = []
        for ci, cont in enumerate(self._containers):
            z = ctx.add_vars(f"s2 '{lab}' c{ci} sequence", len(cont), 0.0, 1.0, integer=True)
            rows.add("one sequence", z.idx, np.ones(len(cont)), 1.0, 1.0)
            cur: list[tuple[SeqSpec, VarBlock, VarBlock, np.ndarray, np.ndarray]] = []
            sc: list[np.ndarray] = []
            sv: list[np.ndarray] = []
            ec: list[np.ndarray] = []
            ev: list[np.ndarray] = []
            for si, seq in enumerate(cont):
                steps = seq.profile_kw.size
                zc = z.idx[si]
                if not seq.interruptible:
                    tt = np.arange(a, b - steps + 1)
                    y = ctx.add_vars(f"s2 '{lab}' c{ci}s{si} start", tt.size, 0.0, 1.0, integer=True)
                    rows.add(
                        "chosen sequence starts once",
                        np.append(y.idx, zc),
                        np.append(np.ones(tt.size), -1.0),
                        0.0,
                        0.0,
                    )
                    per = (tt[:, None] + np.arange(steps)[None, :]).ravel()
                    ctx.flow(
                        "electricity",
                        self.node,
                        per,
                        np.repeat(y.idx, steps),
                        np.tile(seq.profile_kw, tt.size),
                    )
                    sc.append(y.idx)
                    sv.append(tt.astype(float))
                    ec.append(y.idx)
                    ev.append((tt + steps).astype(float))
                    cur.append((seq, z, y, tt, np.zeros(0)))
                    continue
                width = b - a
                k = np.repeat(np.arange(steps), width)
                t = np.tile(np.arange(a, b), steps)
                ok = (t >= a + k) & (t <= b - steps + k)  # room before and after each step
                x = ctx.add_vars(
                    f"s2 '{lab}' c{ci}s{si} steps", steps * width, 0.0, ok.astype(float), integer=True
                )
                for j in range(steps):
                    sel = k == j
                    rows.add(
                        "each step once",
                        np.append(x.idx[sel], zc),
                        np.append(np.ones(sel.sum()), -1.0),
                        0.0,
                        0.0,
                    )
                for j in range(steps - 1):
                    nxt, now_ = k == j + 1, k == j
                    cols = np.concatenate([x.idx[nxt], x.idx[now_], [zc]])
                    gap = np.concatenate([t[nxt], -t[now_]]).astype(float)
                    rows.add("steps in order", cols, np.append(gap, -1.0), 0.0, np.inf)
                    rows.add("max pause inside", cols, np.append(gap, -(seq.max_pause + 1.0)), -np.inf, 0.0)
                ctx.flow("electricity", self.node, t, x.idx, seq.profile_kw[k])
                first, last = k == 0, k == steps - 1
                sc.append(x.idx[first])
                sv.append(t[first].astype(float))
                ec.append(x.idx[last])
                ev.append((t[last] + 1).astype(float))
                cur.append((seq, z, x, t, k))
            seq_vars.append(cur)
            starts.append((sc, sv))
            ends.append((ec, ev))
        for ci in range(1, len(self._containers)):
            sc, sv = starts[ci]
            ec, ev = ends[ci - 1]
            cols = np.concatenate([*sc, *ec])
            vals = np.concatenate([*sv, *[-v for v in ev]])
            rows.add("containers in order", cols, vals, 0.0, np.inf)
            zc = seq_vars[ci][0][1]
            pauses = np.array([-float(s.max_pause) for s in self._containers[ci]])
            rows.add(
                "max pause before",
                np.concatenate([cols, zc.idx]),
                np.concatenate([vals, pauses]),
                -np.inf,
                0.0,
            )
        rows.flush(ctx, f"s2 '{lab}'")

        def read(sol: Solution) -> Output:
            plan: list[Placement] = []
            power = np.zeros(n)
            for cont in seq_vars:
                for seq, _z, v, t, k in cont:
                    on = np.round(sol.value(v)) > 0.5
                    if not on.any():
                        continue
                    steps = seq.profile_kw.size
                    if seq.interruptible:
                        per = [int(t[on & (k == j)][0]) for j in range(steps)]
                    else:
                        s0 = int(t[on][0])
                        per = list(range(s0, s0 + steps))
                    plan.append(Placement(seq.container_id, seq.sequence_id, per, seq.profile_kw))
                    power[per] += seq.profile_kw
            self._decision = plan
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
class PpbcState:
    """What a PPBC resource manager has told the CEM, and the CEM's committed plan."""

    definition: PPBCPowerProfileDefinition | None = None
    status: dict[uuid.UUID, Any] = field(default_factory=dict)  # container id → container status
    plan: list[tuple[Placement, datetime]] = field(default_factory=list)  # last sent plan (grid start)
    plan_step_s: int = 900

    def check(self, msg: PpbcMessage) -> str | None:
        if isinstance(msg, PPBCPowerProfileDefinition):
            if msg.end_time <= msg.start_time:
                return "end_time is not after start_time"
            ids = [c.id for c in msg.power_sequences_containers]
            if not ids or len(set(ids)) != len(ids):
                return "sequence container ids are missing or not unique"
            for c in msg.power_sequences_containers:
                seqs = [s.id for s in c.power_sequences]
                if not seqs or len(set(seqs)) != len(seqs):
                    return f"sequence ids of container {c.id} are missing or not unique"
            return None
        d = self.definition
        if d is None:
            return "PPBC.PowerProfileStatus before any PPBC.PowerProfileDefinition"
        containers = {c.id: c for c in d.power_sequences_containers}
        for st in msg.sequence_container_status:
            if st.power_profile_id != d.id:
                return f"unknown power profile {st.power_profile_id}"
            cont = containers.get(st.sequence_container_id)
            if cont is None:
                return f"unknown sequence container {st.sequence_container_id}"
            if st.selected_sequence_id is not None and st.selected_sequence_id not in {
                s.id for s in cont.power_sequences
            }:
                return f"unknown power sequence {st.selected_sequence_id}"
        return None

    def apply(self, msg: PpbcMessage) -> None:
        if isinstance(msg, PPBCPowerProfileDefinition):
            self.definition, self.status, self.plan = msg, {}, []
        else:
            for st in msg.sequence_container_status:
                self.status[st.sequence_container_id] = st

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        d = self.definition
        if (
            object_type == "PPBC.PowerProfileDefinition"
            and d is not None
            and object_id in (d.id, d.message_id)
        ):
            self.definition, self.status, self.plan = None, {}, []
            return True
        return False

    def _state(self, cid: uuid.UUID) -> Any:
        st = self.status.get(cid)
        return None if st is None else st.status

    def started(self, now: datetime) -> bool:
        if any(self._state(c) in STARTED for c in self.status):
            return True
        return any(p.periods and t0 + timedelta(seconds=p.periods[0] * self.plan_step_s) <= now
                   for p, t0 in self.plan)  # fmt: skip

    def asset(self, name: str, start: datetime, step_s: int, n: int, earliest: datetime) -> PpbcAsset | None:
        d = self.definition
        if d is None:
            return None
        if any(self._state(c.id) == PPBCPowerSequenceStatus.ABORTED for c in d.power_sequences_containers):
            return None
        a = PpbcAsset(name=f"{name}/ppbc", node="site")
        a._start, a._step_s = start, step_s
        if self.started(earliest):
            a._fixed_kw = self._committed_kw(start, step_s, n)
            return a
        first = max(d.start_time, earliest, start)
        lo = math.ceil((first - start).total_seconds() / step_s - 1e-9)
        hi = min(n, math.floor((d.end_time - start).total_seconds() / step_s + 1e-9))
        containers = []
        for c in d.power_sequences_containers:
            if self._state(c.id) == PPBCPowerSequenceStatus.FINISHED:
                continue
            seqs = []
            for s in c.power_sequences:
                if s.abnormal_condition_only:
                    continue
                prof = sequence_profile(s, step_s)
                if prof.size > hi - lo:
                    continue
                pause = (
                    n
                    if s.max_pause_before is None
                    else math.floor(s.max_pause_before.root / 1000.0 / step_s + 1e-9)
                )
                seqs.append(SeqSpec(c.id, s.id, prof, bool(s.is_interruptible), int(pause)))
            if not seqs:
                return None  # the programme does not fit in the window and the horizon
            containers.append(seqs)
        if not containers or sum(min(s.profile_kw.size for s in c) for c in containers) > hi - lo:
            return None
        a._containers, a._window = containers, (lo, hi)
        return a

    def _committed_kw(self, start: datetime, step_s: int, n: int) -> np.ndarray:
        out = np.zeros(n)
        for p, t0 in self.plan:
            if self._state(p.container_id) == PPBCPowerSequenceStatus.FINISHED:
                continue
            for j, per in enumerate(p.periods):
                k = round(((t0 - start).total_seconds() + per * self.plan_step_s) / step_s)
                if 0 <= k < n:
                    out[k] += p.profile_kw[j]
        return out

    def messages(
        self, asset: Any, earliest: datetime, now: datetime, records: dict[uuid.UUID, Any], max_count: int = 0
    ) -> list[Any]:
        """Revocations of the previous plan and the instructions of the new one (nothing once started)."""
        d = self.definition
        if d is None or asset._decision is None or asset._fixed_kw is not None or self.started(now):
            return []
        out: list[Any] = list(revoke_pending(records, now))
        start, step = asset._start, asset._step_s
        self.plan, self.plan_step_s = [(p, start) for p in asset._decision], step

        def at(k: int) -> datetime:
            return max(start + timedelta(seconds=k * step), earliest)

        ids = {"message_id": None, "id": None, "power_profile_id": d.id, "abnormal_condition": False}
        for p in asset._decision:
            ref = {**ids, "sequence_container_id": p.container_id, "power_sequence_id": p.sequence_id}
            out.append(PPBCScheduleInstruction(**{**ref, "message_id": uuid.uuid4(), "id": uuid.uuid4()},
                                               execution_time=at(p.periods[0])))  # fmt: skip
            for k0, k1 in zip(p.periods[:-1], p.periods[1:], strict=True):
                if k1 > k0 + 1:
                    out.append(PPBCStartInterruptionInstruction(
                        **{**ref, "message_id": uuid.uuid4(), "id": uuid.uuid4()}, execution_time=at(k0 + 1)))  # fmt: skip
                    out.append(PPBCEndInterruptionInstruction(
                        **{**ref, "message_id": uuid.uuid4(), "id": uuid.uuid4()}, execution_time=at(k1)))  # fmt: skip
        return out
