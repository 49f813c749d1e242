"""OMBC (operation-mode based control), e.g. a CHP or a genset: S2 messages ↔ an operation-mode machine.

State (:class:`OmbcState`): OMBC.SystemDescription, OMBC.Status, OMBC.TimerStatus. ``check`` refuses
unknown references (an operation mode or timer the system description does not define, a transition
naming an unknown mode or timer) before ``apply`` changes anything.

The device is a :class:`~gridflex.assets.mode_machine.ModeMachine` (the MILP is documented there and
in docs/s2.md) whose spec is made here: its modes (abnormal-only ones left out), the reported active
mode as the mode before the horizon, the declared non-abnormal transitions and their timers, and the
``finished_at`` of running timers (OMBC.TimerStatus). Carriers: electric power goes to the
electricity bus and NATURAL_GAS.FLOW_RATE to the gas bus (both always). HEAT.THERMAL_POWER goes to
the heat bus of the device's node only when the site already has one, that is when an asset built
before the device (the site file's assets: the CEM appends its devices after them) takes heat from
or gives heat to it; otherwise the device's heat is left out. A device whose modes produce heat
also gets a vent, so heat without a use never makes the site infeasible.

Back from the schedule: the mode and factor per period (the factor of a mode whose power, supply
and costs do not depend on it is 0); each change (of mode, or of a modulating mode's factor by more
than 0.001) gives one OMBC.Instruction at the period start (not before ``now`` + the RM's processing
delay, nor before the blocking timers of its transition finish).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from s2python.common import (
    CommodityQuantity,
    ControlType,
    InstructionStatus,
    PowerRange,
    RevokableObjects,
)
from s2python.ombc import OMBCInstruction, OMBCStatus, OMBCSystemDescription, OMBCTimerStatus

from gridflex.assets.mode_machine import HEAT, MachineSpec, ModeSpec
from gridflex.assets.mode_machine import ModeMachine as OmbcAsset
from gridflex.s2.control.base import Control, as_uuid, changes
from gridflex.s2.control.frbc import ELECTRIC

GAS_KWH_PER_LITRE = 9.77e-3
"""Energy of natural gas per litre (Groningen quality, superior calorific value 9.77 kWh/m³):
S2 gives NATURAL_GAS.FLOW_RATE in l/s, so 1 l/s is 35.2 kW of gas."""

OmbcMessage = OMBCSystemDescription | OMBCStatus | OMBCTimerStatus
_PENDING = {InstructionStatus.NEW, InstructionStatus.ACCEPTED}


def carrier_kw(pr: PowerRange) -> tuple[str, float, float] | None:
    """A power range as (site carrier, kW at factor 0, kW at factor 1), + = taken from the site (the
    S2 sign); None for what the site does not model (hydrogen, oil, heat flow rates, temperatures).
    Heat (HEAT.THERMAL_POWER, W) reaches the site only where it has a heat bus (:func:`add_machine`)."""
    if pr.commodity_quantity in ELECTRIC:
        return "electricity", pr.start_of_range / 1000.0, pr.end_of_range / 1000.0
    if pr.commodity_quantity == CommodityQuantity.NATURAL_GAS_FLOW_RATE:
        k = GAS_KWH_PER_LITRE * 3600.0
        return "gas", pr.start_of_range * k, pr.end_of_range * k
    if pr.commodity_quantity == CommodityQuantity.HEAT_THERMAL_POWER:
        return HEAT, pr.start_of_range / 1000.0, pr.end_of_range / 1000.0
    return None


def machine_problem(modes: list[Any], timers: list[Any], transitions: list[Any], of: str = "") -> str | None:
    """Why the operation modes, timers and transitions of one machine (an OMBC.SystemDescription, a
    DDBC actuator: ``of`` names it in the message) do not hold together, or None: mode and timer ids
    unique, transitions naming known modes and timers."""
    mode_ids = [as_uuid(m.id) for m in modes]
    timer_ids = [as_uuid(t.id) for t in timers]
    if not mode_ids or len(set(mode_ids)) != len(mode_ids):
        return f"operation mode ids{of} are missing or not unique"
    if len(set(timer_ids)) != len(timer_ids):
        return f"timer ids{of} are not unique"
    for tr in transitions:
        for ref in (tr.from_, tr.to):
            if as_uuid(ref) not in mode_ids:
                return f"transition {as_uuid(tr.id)} names unknown operation mode {as_uuid(ref)}"
        for ref in (*tr.start_timers, *tr.blocking_timers):
            if as_uuid(ref) not in timer_ids:
                return f"transition {as_uuid(tr.id)} names unknown timer {as_uuid(ref)}"
    return None


def status_problem(modes: list[Any], timers: list[Any], msg: Any) -> str | None:
    """Why a status of one machine (OMBC.Status / DDBC.ActuatorStatus: operation modes; OMBC /
    DDBC.TimerStatus: a timer) names something the machine does not have, or None."""
    timer_id = getattr(msg, "timer_id", None)
    if timer_id is not None:
        if as_uuid(timer_id) not in {as_uuid(t.id) for t in timers}:
            return f"unknown timer {as_uuid(timer_id)}"
        return None
    known = {as_uuid(m.id) for m in modes}
    for ref in (msg.active_operation_mode_id, msg.previous_operation_mode_id):
        if ref is not None and as_uuid(ref) not in known:
            return f"unknown operation mode {as_uuid(ref)}"
    return None


def machine_spec(
    label: str,
    modes: list[ModeSpec],
    transitions: list[Any],
    timers: list[Any],
    current: uuid.UUID | None,
    timers_finish: dict[uuid.UUID, datetime],
    start: datetime,
    step_s: int,
    n: int,
    earliest: datetime,
) -> MachineSpec:
    """The machine of a system description on the grid ``start + k·step_s``."""
    index = {md.mode_id: i for i, md in enumerate(modes)}
    tindex = {as_uuid(tm.id): k for k, tm in enumerate(timers)}
    allowed: dict[tuple[int, int], float] = {}
    starts: dict[tuple[int, int], list[int]] = {}
    blocks: dict[tuple[int, int], list[int]] = {}
    before: dict[tuple[int, int], int] = {}
    for tr in transitions:
        src, dst = as_uuid(tr.from_), as_uuid(tr.to)
        if tr.abnormal_condition_only or src not in index or dst not in index:
            continue
        key = (index[src], index[dst])
        allowed[key] = float(tr.transition_costs or 0.0)
        starts[key] = [tindex[as_uuid(x)] for x in tr.start_timers if as_uuid(x) in tindex]
        blocks[key] = [tindex[as_uuid(x)] for x in tr.blocking_timers if as_uuid(x) in tindex]
        # a running timer (TimerStatus) blocks the transition until it finishes
        for x in tr.blocking_timers:
            done = timers_finish.get(as_uuid(x))
            if done is None:
                continue
            first = max(done, earliest)
            k = math.ceil((first - start).total_seconds() / step_s - 1e-9) if done > earliest else 0
            if k > 0:
                before[key] = max(before.get(key, 0), k)
    periods = [max(1, math.ceil(tm.duration.root / 1000.0 / step_s - 1e-9)) for tm in timers]
    cur = index.get(current) if current is not None else None
    spec = MachineSpec(
        label, modes, cur, allowed, starts, blocks, periods, before, restricted=bool(transitions)
    )
    return spec


# ── OMBC state ────────────────────────────────────────────────────────────────────────────────


def mode_specs(modes: list[Any], supply: bool = False) -> tuple[list[ModeSpec], set[uuid.UUID]]:
    """Plain-data modes (abnormal-only modes are left out of the plan)."""
    out, abnormal = [], set()
    for md in modes:
        if md.abnormal_condition_only:
            abnormal.add(md.id)
            continue
        p0: dict[str, float] = {}
        p1: dict[str, float] = {}
        for pr in md.power_ranges:
            ck = carrier_kw(pr)
            if ck is not None:
                p0[ck[0]] = p0.get(ck[0], 0.0) + ck[1]
                p1[ck[0]] = p1.get(ck[0], 0.0) + ck[2]
        rc = md.running_costs
        spec = ModeSpec(md.id, p0, p1, cost0_eur_per_s=0.0 if rc is None else rc.start_of_range,
                        cost1_eur_per_s=0.0 if rc is None else rc.end_of_range)  # fmt: skip
        if supply:
            ranges = md.supply_range if isinstance(md.supply_range, list) else [md.supply_range]
            spec.supply0 = float(ranges[0].start_of_range) if ranges else 0.0
            spec.supply1 = float(ranges[0].end_of_range) if ranges else 0.0
        out.append(spec)
    return out, abnormal


def mode_instructions(
    make: Any,
    spec: MachineSpec,
    decision: tuple[np.ndarray, np.ndarray],
    transitions: list[Any],
    timers_finish: dict[uuid.UUID, datetime],
    current: tuple[Any, float] | None,  # (mode id, factor)
    start: datetime,
    step_s: int,
    earliest: datetime,
    max_count: int,
) -> list[Any]:
    """Instructions for the mode changes of a decision (``make(mode_id, factor, when)`` builds one)."""
    mode, factor = decision
    out: list[Any] = []
    for k in range(mode.size):
        md = spec.modes[int(mode[k])]
        mid = md.mode_id
        fac = round(float(factor[k]), 4)
        if current is not None and current[0] == mid and (not md.modulates or abs(current[1] - fac) < 1e-3):
            continue
        when = max(start + timedelta(seconds=k * step_s), earliest)
        if current is not None and current[0] != mid and transitions:
            tr = next((x for x in transitions if as_uuid(x.from_) == current[0] and as_uuid(x.to) == mid
                       and not x.abnormal_condition_only), None)  # fmt: skip
            if tr is None:
                break  # the plan cannot go on from here (never happens: the MILP forbids it)
            for b in tr.blocking_timers:
                done = timers_finish.get(as_uuid(b))
                if done is not None and done > when:
                    when = done
        out.append(make(mid, fac, when))
        current = (mid, fac)
        if len(out) >= max_count:
            break
    return out


@dataclass
class OmbcState:
    """What an OMBC resource manager has told the CEM."""

    system_description: OMBCSystemDescription | None = None
    status: OMBCStatus | None = None
    timers_finish: dict[uuid.UUID, datetime] = field(default_factory=dict)

    def check(self, msg: OmbcMessage) -> str | None:
        if isinstance(msg, OMBCSystemDescription):
            return machine_problem(list(msg.operation_modes), list(msg.timers), list(msg.transitions))
        sd = self.system_description
        if sd is None:
            return f"{msg.message_type} before any OMBC.SystemDescription"
        return status_problem(list(sd.operation_modes), list(sd.timers), msg)

    def apply(self, msg: OmbcMessage) -> None:
        if isinstance(msg, OMBCSystemDescription):
            self.system_description = msg
            modes = {m.id for m in msg.operation_modes}
            if self.status is not None and as_uuid(self.status.active_operation_mode_id) not in modes:
                self.status = None
        elif isinstance(msg, OMBCStatus):
            self.status = msg
        else:
            self.timers_finish[msg.timer_id] = msg.finished_at

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        sd = self.system_description
        if object_type == "OMBC.SystemDescription" and sd is not None and sd.message_id == object_id:
            self.system_description = None
            return True
        return False

    @property
    def ready(self) -> bool:
        return self.system_description is not None and self.status is not None

    def asset(self, name: str, start: datetime, step_s: int, n: int, earliest: datetime) -> OmbcAsset | None:
        sd, st = self.system_description, self.status
        if sd is None or st is None:
            return None
        modes, abnormal = mode_specs(list(sd.operation_modes))
        active = as_uuid(st.active_operation_mode_id)
        if not modes or active in abnormal:
            return None
        spec = machine_spec(name, modes, list(sd.transitions), list(sd.timers), active,
                            self.timers_finish, start, step_s, n, earliest)  # fmt: skip
        a = OmbcAsset(name=f"{name}/ombc", node="site")
        a._spec, a._start, a._step_s = spec, start, step_s
        return a

    def messages(
        self, asset: Any, earliest: datetime, now: datetime, records: dict[uuid.UUID, Any], max_count: int
    ) -> list[Any]:
        """OMBC.Instructions of the solved plan (the CEM revokes the previous plan's pending ones)."""
        sd, st = self.system_description, self.status
        if sd is None or st is None or asset._decision is None or asset._spec is None:
            return []

        def make(mid: uuid.UUID, fac: float, when: datetime) -> OMBCInstruction:
            return OMBCInstruction(message_id=uuid.uuid4(), id=uuid.uuid4(), execution_time=when,
                                   operation_mode_id=mid, operation_mode_factor=fac, abnormal_condition=False)  # fmt: skip

        current = (as_uuid(st.active_operation_mode_id), st.operation_mode_factor)
        new = mode_instructions(make, asset._spec, asset._decision, list(sd.transitions), self.timers_finish,
                                current, asset._start, asset._step_s, earliest, max_count)  # fmt: skip
        return changes(records, new, now, asset._step_s, RevokableObjects.OMBC_Instruction)


def mode_snapshot(dev: Any, state: Any, req: Any, now: datetime, earliest: datetime) -> None:
    """A PPBC / OMBC / DDBC device enters the plan as its asset (a machine, a power sequence)."""
    asset = state.asset(dev.name, req.start, req.step_s, req.n, earliest)
    if asset is not None:
        req.extra.append(asset)


def mode_instructions_of(
    dev: Any, state: Any, plan: Any, req: Any, earliest: datetime, now: datetime, max_count: int
) -> list[Any] | None:
    """PPBC / OMBC / DDBC: the solved asset's messages (each type revokes and sends its own)."""
    key = next((k for k in plan.extra if k.split("/")[0] == dev.name), None)
    if key is None:
        return None
    return list(state.messages(plan.extra[key], earliest, now, dev.instructions, max_count))


CONTROL = Control(
    ControlType.OPERATION_MODE_BASED_CONTROL,
    "OMBC",
    new_state=lambda records: OmbcState(),
    events={"OMBC.SystemDescription": "system"},
    snapshot=mode_snapshot,
    instructions=mode_instructions_of,
)
