"""PPBC (power-profile based control), e.g. a washing machine: choose a sequence per container, when
it starts and where an interruptible sequence pauses; re-plan the rest of a started programme.

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
* containers run in their order, the next one starting after the previous one ends (its exact end:
  a last step shorter than a period ends inside it), and at most the chosen sequence's
  ``max_pause_before`` after the end of the previous one's last period (so that the first period
  start after the end is always possible; the instructions then move earlier, see below).

Back from the schedule: one PPBC.ScheduleInstruction per container (its first step's period start),
and for each pause of an interruptible sequence a PPBC.StartInterruptionInstruction at the end of
the step before it and a PPBC.EndInterruptionInstruction at the start of the step after it. A
container whose start is more than ``max_pause_before`` after the previous one's exact end starts at
that end + ``max_pause_before`` instead, its interruptions moved alike.

Re-planning a started programme. s2-python 0.11 types ``PPBC.PowerSequenceContainerStatus.progress``
as a UUID (the schema: a duration), so the CEM does not use ``progress``: it follows its own
instructions (the device's instruction records, with the RM's InstructionStatusUpdates). An
instruction is *done* when its time is before now + the RM's processing delay (``τ``) or the RM
reported it STARTED or SUCCEEDED, unless it was revoked, rejected or aborted. The done
ScheduleInstruction of a container gives its start, its done Start/EndInterruptionInstructions its
pauses, so its progress at any time. Then, on every plan:

* containers before the running one, and FINISHED ones, are over (their power until ``τ`` is a
  fixed load of the site);
* the running container: its power until ``τ`` is fixed. A sequence that is not interruptible
  runs to its end as a fixed load. An interruptible one is re-planned from its progress: its
  remaining duration is cut into steps of a period, placed from the first period start ``b0`` ≥
  ``τ`` on, as for a new sequence. Running, it either runs on until ``b0`` (its power in
  ``[τ, b0)`` then counts, and a first step after ``b0`` means a pause from ``b0``), or pauses at
  ``τ`` ("pause now", remaining steps cut from the progress at ``τ``); the pause lasts at most
  ``max_pause_before``. Interrupted (since ``t_p``), it resumes at a period start at most
  ``max_pause_before`` after ``t_p``;
* the containers that have not started are planned as above, the first one after the end of the
  running one; a sequence whose deadline (that end + its ``max_pause_before``) is before ``τ`` only
  if no other one is in time.

Instructions of the new plan that equal a pending one (type, container, sequence, time) are not sent
again; the other pending ones (time ≥ ``τ``) are revoked. The plan sends nothing (the next plan sees
what ran) when, by the time it is ready (the solve takes time): its first period start passed, a
pending instruction it drops runs before now + the processing delay, a container's deadline passed,
or a "pause now" would start so late that the rest no longer fits its steps. A "pause now" that
starts a little late makes the sequence end that much earlier; the next container follows it. A
started programme that no longer fits by ``end_time`` is planned up to the horizon's end; if it does
not fit the horizon, it keeps its instructions, as a fixed load.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from s2python.common import ControlType, InstructionStatus, RevokableObjects, RevokeObject
from s2python.generated.gen_s2 import PPBCPowerSequenceStatus
from s2python.ppbc import (
    PPBCEndInterruptionInstruction,
    PPBCPowerProfileDefinition,
    PPBCPowerProfileStatus,
    PPBCPowerSequence,
    PPBCPowerSequenceContainer,
    PPBCScheduleInstruction,
    PPBCStartInterruptionInstruction,
)

from gridflex.assets.power_sequence import Elements, Mode, Placement, SeqSpec, profile_from
from gridflex.assets.power_sequence import PowerSequenceAsset as PpbcAsset
from gridflex.s2.control.base import Control
from gridflex.s2.control.frbc import ELECTRIC
from gridflex.s2.control.ombc import mode_instructions_of, mode_snapshot

PpbcMessage = PPBCPowerProfileDefinition | PPBCPowerProfileStatus
PpbcInstruction = PPBCScheduleInstruction | PPBCStartInterruptionInstruction | PPBCEndInterruptionInstruction
STARTED = {
    PPBCPowerSequenceStatus.EXECUTING,
    PPBCPowerSequenceStatus.INTERRUPTED,
    PPBCPowerSequenceStatus.FINISHED,
}
_INSTRUCTIONS = (PPBCScheduleInstruction, PPBCStartInterruptionInstruction, PPBCEndInterruptionInstruction)
_PENDING = {InstructionStatus.NEW, InstructionStatus.ACCEPTED}
_DEAD = {InstructionStatus.REVOKED, InstructionStatus.REJECTED, InstructionStatus.ABORTED}
_RAN = {InstructionStatus.STARTED, InstructionStatus.SUCCEEDED}
_EPS_S = 1e-6


def elements(seq: PPBCPowerSequence) -> Elements:
    """A sequence's elements as (duration in s, expected electric power in kW)."""
    return [(el.duration.root / 1000.0,
             sum(v.value_expected for v in el.power_values if v.commodity_quantity in ELECTRIC) / 1000.0)
            for el in seq.elements]  # fmt: skip


def sequence_profile(seq: PPBCPowerSequence, step_s: int) -> np.ndarray:
    """Average electric power (kW) per period of a sequence started at a period boundary."""
    return profile_from(elements(seq), 0.0, step_s)[0]


@dataclass
class _Run:
    """A sequence as the CEM's done instructions ran it: its start and pauses (open: end None)."""

    sequence_id: uuid.UUID
    started: datetime
    pauses: list[tuple[datetime, datetime | None]]


Segment = tuple[datetime, datetime, float]  # running from, to, progress (s) at from


def _trace(
    run: _Run, total_s: float, until: datetime
) -> tuple[list[Segment], datetime | None, float, datetime | None]:
    """The run up to ``until``: running segments, the time it finished (None: not by ``until``), the
    progress at ``until`` and the start of the pause under way at ``until`` (None: running)."""
    segs: list[Segment] = []
    t, p = run.started, 0.0

    def run_to(x: datetime) -> datetime | None:
        nonlocal t, p
        if x <= t:
            return None
        dur = (x - t).total_seconds()
        if p + dur >= total_s - _EPS_S:
            end = t + timedelta(seconds=total_s - p)
            segs.append((t, end, p))
            p = total_s
            return end
        segs.append((t, x, p))
        t, p = x, p + dur
        return None

    if until <= t:
        return segs, None, 0.0, None
    for a, b in run.pauses:
        if a >= until:
            break
        end = run_to(a)
        if end is not None:
            return segs, end, p, None
        if b is None or b >= until:
            return segs, None, p, max(a, t)
        t = max(t, b)
    end = run_to(until)
    return segs, end, p, None


def _energy(out: np.ndarray, els: Elements, segs: list[Segment], start: datetime, step_s: int) -> None:
    """Add the energy (kW·s) of running segments to ``out``, per period of the grid from ``start``."""
    edges = np.arange(out.size + 1, dtype=float) * step_s
    for t0, t1, p0 in segs:
        x0, dur, acc = (t0 - start).total_seconds(), (t1 - t0).total_seconds(), 0.0
        for d, kw in els:
            q0, q1 = max(acc, p0), min(acc + d, p0 + dur)
            acc += d
            if q1 > q0 and kw != 0.0:
                a, b = x0 + q0 - p0, x0 + q1 - p0
                out += np.maximum(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0) * kw


def _run_of(msgs: list[Any]) -> _Run | None:
    """A container's run from its done instructions (None: no ScheduleInstruction among them)."""
    ms = sorted(msgs, key=lambda m: m.execution_time)
    sched = next((m for m in ms if isinstance(m, PPBCScheduleInstruction)), None)
    if sched is None:
        return None
    pauses: list[tuple[datetime, datetime | None]] = []
    since: datetime | None = None
    for m in ms:
        if m.power_sequence_id != sched.power_sequence_id or m.execution_time < sched.execution_time:
            continue
        if isinstance(m, PPBCStartInterruptionInstruction) and since is None:
            since = m.execution_time
        elif isinstance(m, PPBCEndInterruptionInstruction) and since is not None:
            pauses.append((since, m.execution_time))
            since = None
    if since is not None:
        pauses.append((since, None))
    return _Run(sched.power_sequence_id, sched.execution_time, pauses)


@dataclass
class PpbcState:
    """What a PPBC resource manager has told the CEM; the CEM's instructions are the device's
    instruction records (``records``: ``Device.instructions``, linked by the Device, and set by
    ``messages`` for a state used on its own)."""

    definition: PPBCPowerProfileDefinition | None = None
    status: dict[uuid.UUID, Any] = field(default_factory=dict)  # container id → container status
    records: dict[uuid.UUID, Any] | None = field(default=None, repr=False, compare=False)

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
            self.definition, self.status = msg, {}
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
            self.definition, self.status = None, {}
            return True
        return False

    def _state(self, cid: uuid.UUID) -> Any:
        st = self.status.get(cid)
        return None if st is None else st.status

    def _runs(
        self, d: PPBCPowerProfileDefinition, tau: datetime, everything: bool = False
    ) -> tuple[dict[uuid.UUID, _Run], set[uuid.UUID]]:
        """The containers' runs by the done instructions (``everything``: by all live ones) and the
        ids of the pending instructions a plan may revoke (time ≥ ``tau``)."""
        done: dict[uuid.UUID, list[Any]] = {}
        revocable: set[uuid.UUID] = set()
        for iid, rec in (self.records or {}).items():
            m = rec.instruction
            if not isinstance(m, _INSTRUCTIONS) or m.power_profile_id != d.id or rec.status in _DEAD:
                continue
            if everything or m.execution_time < tau or rec.status in _RAN:
                done.setdefault(m.sequence_container_id, []).append(m)
            elif rec.status in _PENDING:
                revocable.add(iid)
        runs = {cid: run for cid, ms in done.items() if (run := _run_of(ms)) is not None}
        return runs, revocable

    def asset(self, name: str, start: datetime, step_s: int, n: int, earliest: datetime) -> PpbcAsset | None:
        d = self.definition
        if d is None:
            return None
        conts = d.power_sequences_containers
        if any(self._state(c.id) == PPBCPowerSequenceStatus.ABORTED for c in conts):
            return None
        tau = max(earliest, start)
        a = PpbcAsset(name=f"{name}/ppbc", node="site")
        a._start, a._step_s, a._tau = start, step_s, tau
        runs, a._revocable = self._runs(d, tau)
        last = max(
            (i for i, c in enumerate(conts) if c.id in runs or self._state(c.id) in STARTED), default=-1
        )
        lo = math.ceil((max(d.start_time, tau) - start).total_seconds() / step_s - 1e-9)
        hi_end = min(n, math.floor((d.end_time - start).total_seconds() / step_s + 1e-9))
        # a started programme that no longer fits by end_time still has to finish: then up to the horizon
        for hi in (hi_end, n) if last >= 0 else (hi_end,):
            laid = self._layout(conts, runs, last, start, step_s, n, tau, lo, hi)
            if laid is not None:
                a._fixed_kw, a._containers, a._prev_end = laid
                a._window = (lo, hi)
                return a
        if last < 0:
            return None  # the programme does not fit in the window and the horizon
        runs, _ = self._runs(d, tau, everything=True)
        fixed = np.zeros(n)
        far = start + timedelta(seconds=n * step_s)
        for c in conts:
            run = runs.get(c.id)
            seq = next((s for s in c.power_sequences if run is not None and s.id == run.sequence_id), None)
            if run is not None and seq is not None:
                els = elements(seq)
                _energy(fixed, els, _trace(run, sum(x for x, _ in els), far)[0], start, step_s)
        a._fixed_kw, a._frozen = fixed / step_s, True
        return a

    def _layout(
        self,
        conts: list[PPBCPowerSequenceContainer],
        runs: dict[uuid.UUID, _Run],
        last: int,
        start: datetime,
        step_s: int,
        n: int,
        tau: datetime,
        lo: int,
        hi: int,
    ) -> tuple[np.ndarray, list[list[SeqSpec]], datetime | None] | None:
        """(fixed kW per period, the containers to place, the end of the container before the first
        of them) with the window ``[lo, hi)``; None if the rest of the programme does not fit."""
        fixed = np.zeros(n)  # kW·s
        model: list[list[SeqSpec]] = []
        prev_end: datetime | None = None  # end of the previous container if it is not placed here
        first_prev: datetime | None = None
        for i, c in enumerate(conts):
            run = runs.get(c.id)
            if i < last or (i == last and self._state(c.id) == PPBCPowerSequenceStatus.FINISHED):
                prev_end = None
                seq = next(
                    (s for s in c.power_sequences if run is not None and s.id == run.sequence_id), None
                )
                if run is not None and seq is not None:
                    els = elements(seq)
                    segs, end, _, _ = _trace(run, sum(x for x, _ in els), tau)
                    _energy(fixed, els, segs, start, step_s)
                    prev_end = tau if end is None else min(end, tau)
                continue
            if i == last:
                specs, prev_end = self._resume(c, run, start, step_s, n, tau, fixed)
                if specs:
                    model.append(specs)
                continue
            specs = []
            late: list[SeqSpec] = []
            for s in c.power_sequences:
                if s.abnormal_condition_only:
                    continue
                prof, frac = profile_from(elements(s), 0.0, step_s)
                mp_s = None if s.max_pause_before is None else s.max_pause_before.root / 1000.0
                lo_c, first_max = lo, None
                if prev_end is not None:  # after a container that is over or runs as a fixed load
                    e = (prev_end - start).total_seconds() / step_s
                    lo_c = max(lo, math.ceil(e - 1e-9))
                    if mp_s is not None:  # the first period start after the end at least (see messages)
                        first_max = max(math.floor(e + mp_s / step_s + 1e-9), lo_c)
                if prof.size > hi - lo_c:
                    continue
                inside = n if mp_s is None else math.floor(mp_s / step_s + 1e-9)
                spec = SeqSpec(
                    c.id, s.id, prof, bool(s.is_interruptible), int(inside), mp_s, lo_c, first_max, frac
                )
                in_time = prev_end is None or mp_s is None or prev_end + timedelta(seconds=mp_s) >= tau
                (specs if in_time else late).append(spec)
            specs = specs or late  # a sequence past its max_pause_before only if no other one can start
            if not specs:
                return None
            if not model:
                first_prev = prev_end
            model.append(specs)
            prev_end = None
        if model and min(s.lo for s in model[0]) + sum(min(s.profile_kw.size for s in c) for c in model) > hi:
            return None
        return fixed / step_s, model, first_prev

    def _resume(
        self,
        c: PPBCPowerSequenceContainer,
        run: _Run | None,
        start: datetime,
        step_s: int,
        n: int,
        tau: datetime,
        fixed: np.ndarray,
    ) -> tuple[list[SeqSpec], datetime | None]:
        """The running container: its power until ``tau`` (into ``fixed``), then either the rest as a
        fixed load (returns its end) or the alternatives to place its remaining steps."""
        seqs = {s.id: s for s in c.power_sequences}
        if run is not None and run.sequence_id in seqs:
            seq = seqs[run.sequence_id]
            els = elements(seq)
            total = sum(x for x, _ in els)
            segs, end, p, since = _trace(run, total, tau)
            _energy(fixed, els, segs, start, step_s)
            if end is not None:
                return [], end
        else:  # the RM reports it started, the CEM has no record of it: take it as starting now
            st = self.status.get(c.id)
            sid = None if st is None else st.selected_sequence_id
            normal = [s for s in c.power_sequences if not s.abnormal_condition_only] or c.power_sequences
            seq = seqs[sid] if sid in seqs else normal[0]
            els = elements(seq)
            total = sum(x for x, _ in els)
            p = 0.0
            since = tau if self._state(c.id) == PPBCPowerSequenceStatus.INTERRUPTED else None
        kb0 = math.ceil((tau - start).total_seconds() / step_s - 1e-9)
        b0 = start + timedelta(seconds=kb0 * step_s)
        ahead = (b0 - tau).total_seconds()
        if not seq.is_interruptible or kb0 >= n or (since is None and p + ahead >= total - _EPS_S):
            rest = total - p  # it runs to its end (a pause under way ends now)
            _energy(fixed, els, [(tau, tau + timedelta(seconds=rest), p)], start, step_s)
            return [], tau + timedelta(seconds=rest)
        mp_s = None if seq.max_pause_before is None else seq.max_pause_before.root / 1000.0
        inside = n if mp_s is None else math.floor(mp_s / step_s + 1e-9)

        def latest(t0: datetime) -> int | None:  # last period start to resume after a pause from t0
            return None if mp_s is None else math.floor(((t0 - start).total_seconds() + mp_s) / step_s + 1e-9)

        def spec(p0: float, mode: Mode, first_max: int | None, pre: np.ndarray | None = None) -> SeqSpec:
            prof, frac = profile_from(els, p0, step_s)
            return SeqSpec(c.id, seq.id, prof, True, int(inside), mp_s, kb0, first_max, frac, pre, mode,
                           tau if mode == "pause_now" else None)  # fmt: skip

        if since is not None:
            last = latest(since)
            return [spec(p, "paused", None if last is None else max(last, kb0))], None
        pre = np.zeros(n)
        _energy(pre, els, [(tau, b0, p)], start, step_s)
        out = [spec(p + ahead, "run", None if mp_s is None else kb0 + inside, pre / step_s)]
        last = latest(tau)
        if ahead >= 1.0 and (last is None or last >= kb0):
            out.append(spec(p, "pause_now", last))
        return out, None

    def messages(
        self, asset: Any, earliest: datetime, now: datetime, records: dict[uuid.UUID, Any], max_count: int = 0
    ) -> list[Any]:
        """Revocations of pending instructions the new plan changes, then its new instructions."""
        self.records = records
        d = self.definition
        if d is None or asset._decision is None or asset._frozen:
            return []
        want = _instructions(asset, earliest)
        if want is None:
            return []

        def key(mtype: str, cid: uuid.UUID, sid: uuid.UUID, t: datetime) -> tuple[Any, ...]:
            return mtype, cid, sid, t

        wanted = Counter(key(cls.model_fields["message_type"].default, p.container_id, p.sequence_id, t)
                         for cls, p, t in want)  # fmt: skip
        kept: Counter[tuple[Any, ...]] = Counter()
        revoke: list[uuid.UUID] = []
        ordered = sorted(
            (records[i].instruction.execution_time, str(i), i) for i in asset._revocable if i in records
        )
        for _, _, iid in ordered:
            rec = records[iid]
            if rec.status in _DEAD:
                continue
            m = rec.instruction
            k = key(m.message_type, m.sequence_container_id, m.power_sequence_id, m.execution_time)
            if kept[k] < wanted[k]:
                kept[k] += 1
            elif rec.status in _PENDING and m.execution_time > earliest:
                revoke.append(iid)
            else:
                return []  # it runs before a revocation reaches the RM: the next plan takes it as done
        for iid, rec in records.items():  # pending instructions for an earlier power profile
            m = rec.instruction
            if (isinstance(m, _INSTRUCTIONS) and m.power_profile_id != d.id and rec.status in _PENDING
                    and m.execution_time > now):  # fmt: skip
                revoke.append(iid)
        out: list[Any] = []
        for iid in revoke:
            rec = records[iid]
            rec.status = InstructionStatus.REVOKED
            out.append(RevokeObject(message_id=uuid.uuid4(), object_id=iid,
                                    object_type=RevokableObjects(rec.instruction.message_type)))  # fmt: skip
        for cls, p, t in want:
            k = key(cls.model_fields["message_type"].default, p.container_id, p.sequence_id, t)
            if kept[k] > 0:
                kept[k] -= 1
                continue
            out.append(cls(message_id=uuid.uuid4(), id=uuid.uuid4(), power_profile_id=d.id,
                           sequence_container_id=p.container_id, power_sequence_id=p.sequence_id,
                           execution_time=t, abnormal_condition=False))  # fmt: skip
        return out


def _instructions(
    asset: Any, earliest: datetime
) -> list[tuple[type[PpbcInstruction], Placement, datetime]] | None:
    """The instructions of the plan (type, placement, time); None if the plan is stale: time passed
    while it was solved so that it can no longer run as planned."""
    start, step, tau = asset._start, asset._step_s, asset._tau
    first = start + timedelta(seconds=math.ceil((tau - start).total_seconds() / step - 1e-9) * step)
    if earliest > first:
        return None  # the plan's first period start passed while it was solved: the next plan

    def at(k: int) -> datetime:
        return start + timedelta(seconds=k * step)

    want: list[tuple[type[PpbcInstruction], Placement, datetime]] = []
    prev_end = asset._prev_end
    for p in asset._decision:
        ks = p.periods
        mine: list[tuple[type[PpbcInstruction], Placement, datetime]] = []
        if p.mode == "new":
            mine.append((PPBCScheduleInstruction, p, at(ks[0])))
        elif p.mode == "run" and ks[0] > p.lo:
            mine += [
                (PPBCStartInterruptionInstruction, p, at(p.lo)),
                (PPBCEndInterruptionInstruction, p, at(ks[0])),
            ]
        elif p.mode == "paused":
            mine.append((PPBCEndInterruptionInstruction, p, at(ks[0])))
        late = timedelta(0)  # a pause now that starts later runs that much more: it ends earlier
        if p.mode == "pause_now" and p.pause_at is not None:
            late = max(earliest - p.pause_at, timedelta(0))
            if p.pause_at + late >= at(ks[0]) or late.total_seconds() >= p.end_frac * step - 1.0:
                return None  # the solve took too long for this pause: the next plan
            mine += [(PPBCStartInterruptionInstruction, p, p.pause_at + late),
                     (PPBCEndInterruptionInstruction, p, at(ks[0]))]  # fmt: skip
        for k0, k1 in itertools.pairwise(ks):
            if k1 > k0 + 1:
                mine += [(PPBCStartInterruptionInstruction, p, at(k0 + 1)),
                         (PPBCEndInterruptionInstruction, p, at(k1))]  # fmt: skip
        # A container planned at the first period start after the previous one's end, when that is
        # more than its max_pause_before later, starts earlier (all its instructions move alike).
        shift = timedelta(0)
        if p.mode == "new" and prev_end is not None and p.max_pause_s is not None:
            deadline = prev_end + timedelta(seconds=p.max_pause_s)
            begin = max(min(at(ks[0]), deadline), prev_end, earliest)
            if begin > deadline >= tau:
                return None  # its deadline passed while the plan was solved: the next plan
            shift = at(ks[0]) - begin
        want += [(cls, q, t - shift) for cls, q, t in mine]
        prev_end = at(ks[-1]) + timedelta(seconds=p.end_frac * step) - shift - late

    return want


CONTROL = Control(
    ControlType.POWER_PROFILE_BASED_CONTROL,
    "PPBC",
    new_state=lambda records: PpbcState(records=records),  # it follows its programme through these
    events={"PPBC.PowerProfileDefinition": "system"},
    snapshot=mode_snapshot,
    instructions=mode_instructions_of,
    keep_periods=None,  # it follows its programme through what ran: keep that for a horizon
)
