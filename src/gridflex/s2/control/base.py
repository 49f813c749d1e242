"""What every control type shares: the :class:`Control` entry of the registry, ids, instruction records.

A control type (FRBC, PPBC, OMBC, DDBC, PEBC, and NOT_CONTROLABLE) is one module of this package
with a ``CONTROL`` entry: its short name (the prefix of its messages), a fresh state for a device,
the event kind of each message that is not a status report, how a device of that type enters a plan
(``snapshot``) and what it is sent after one (``instructions``). The protocol handler, the CEM and
the planner look a type up in :data:`gridflex.s2.control.CONTROLS`, never compare control types.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from s2python.common import CommodityQuantity, ControlType, InstructionStatus, RevokableObjects, RevokeObject

if TYPE_CHECKING:  # only for the annotations: the planner imports the control modules
    from gridflex.s2.planner import Plan, PlanRequest

PENDING = {InstructionStatus.NEW, InstructionStatus.ACCEPTED}
NEVER_RAN = {InstructionStatus.REVOKED, InstructionStatus.ABORTED, InstructionStatus.REJECTED}
FINAL = NEVER_RAN | {InstructionStatus.SUCCEEDED}
MAX_RECORDS = 100
"""Instruction records kept per device at most (besides the instruction each actuator runs): beyond
it the oldest go, whatever their status (a plan sends at most ``instructions_ahead`` per device)."""


def as_uuid(value: Any) -> uuid.UUID:
    """An id as a UUID: s2-python 0.11 leaves some ids as the generated ``ID`` (a string model)."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(getattr(value, "root", value)))


def revoke_pending(records: dict[uuid.UUID, Any], now: datetime) -> list[RevokeObject]:
    """RevokeObjects for the instructions that have not started (their type from the instruction)."""
    out = []
    for iid, rec in records.items():
        if rec.status in PENDING and rec.instruction.execution_time > now:
            rec.status = InstructionStatus.REVOKED
            kind = RevokableObjects(rec.instruction.message_type)
            out.append(RevokeObject(message_id=uuid.uuid4(), object_type=kind, object_id=iid))
    return out


def revoke_previous(dev: Any, kind: RevokableObjects, now: datetime) -> list[RevokeObject]:
    """Revoke the instructions of the previous plan that have not started yet (PEBC: one envelope
    per plan)."""
    out = []
    for iid, rec in dev.instructions.items():
        if rec.status in PENDING and rec.instruction.execution_time > now:
            rec.status = InstructionStatus.REVOKED
            out.append(RevokeObject(message_id=uuid.uuid4(), object_type=kind, object_id=iid))
    return out


FACTOR_TOLERANCE = 5e-3
"""Two operation-mode factors closer than this (half a percent of the mode's range) are the same
instruction: re-plans from measured fill levels move a later period's factor by 0.1-0.3 %, which is
no reason to revoke and resend it (the deviation check re-plans when the device runs off)."""


def _mode_of(m: Any) -> uuid.UUID:
    mode = getattr(m, "operation_mode", None)  # FRBC; OMBC and DDBC say operation_mode_id
    return as_uuid(mode if mode is not None else m.operation_mode_id)


def changes(
    records: dict[uuid.UUID, Any], new: list[Any], now: datetime, step_s: int, kind: RevokableObjects
) -> list[Any]:
    """What to send so that an RM runs a new plan's mode instructions ``new`` (FRBC, OMBC, DDBC):
    RevokeObjects first, then the instructions it does not have yet.

    Instructions are compared by the period they apply to (execution time on the ``step_s`` grid,
    epoch aligned like the plans), actuator, mode and factor (within :data:`FACTOR_TOLERANCE`), not
    by execution time: the first period's instruction runs at "now + the RM's delay", which moves at
    every plan. The RM has an instruction when it is pending and runs no earlier than the new one (a
    blocking timer may have moved the new one), or when it is the last one that started on that
    actuator and did so in the current period. A pending instruction of ``kind`` the plan no longer
    has is revoked; one that already started is not (the new plan's first one follows it)."""
    mtype = kind.value

    def where(m: Any) -> tuple[int, Any, uuid.UUID]:
        return int(m.execution_time.timestamp() // step_s), getattr(m, "actuator_id", None), _mode_of(m)

    current = int(now.timestamp() // step_s)
    pending: list[tuple[uuid.UUID, Any]] = []
    ran: dict[Any, Any] = {}  # actuator → the last instruction that started on it
    for iid, rec in records.items():
        m = rec.instruction
        if m.message_type != mtype or rec.status in NEVER_RAN:
            continue
        if rec.status in PENDING and m.execution_time > now:
            pending.append((iid, rec))
        else:
            last = ran.get(getattr(m, "actuator_id", None))
            if last is None or m.execution_time >= last.instruction.execution_time:
                ran[getattr(m, "actuator_id", None)] = rec
    have: dict[tuple[int, Any, uuid.UUID], list[Any]] = {}
    for _, rec in pending:
        have.setdefault(where(rec.instruction), []).append(rec)
    for rec in ran.values():
        if where(rec.instruction)[0] == current:
            have.setdefault(where(rec.instruction), []).append(rec)
    kept: set[int] = set()
    send = []
    for m in new:
        f, at = float(m.operation_mode_factor), m.execution_time
        # a pending one must not run earlier than the new one: a timer the new plan's own changes
        # start may hold it back (the RM would abort it); one that started already ran
        same = [r for r in have.get(where(m), ()) if id(r) not in kept
                and (r.instruction.execution_time >= at or r.instruction.execution_time <= now)
                and abs(float(r.instruction.operation_mode_factor) - f) <= FACTOR_TOLERANCE]  # fmt: skip
        if same:
            kept.add(id(same[0]))
        else:
            send.append(m)
    revoke = []
    for iid, rec in pending:
        if id(rec) not in kept:
            rec.status = InstructionStatus.REVOKED
            revoke.append(RevokeObject(message_id=uuid.uuid4(), object_type=kind, object_id=iid))
    return [*revoke, *send]


def running(records: dict[uuid.UUID, Any], now: datetime) -> dict[tuple[str, Any], uuid.UUID]:
    """The instruction each actuator runs at ``now`` by message type: the latest that started and
    was not revoked, rejected or aborted (an RM that reports no status runs what it was sent)."""
    out: dict[tuple[str, Any], uuid.UUID] = {}
    for iid, rec in records.items():
        m = rec.instruction
        if m.execution_time <= now and rec.status not in NEVER_RAN:
            key = (m.message_type, getattr(m, "actuator_id", None))
            best = out.get(key)
            if best is None or m.execution_time >= records[best].instruction.execution_time:
                out[key] = iid
    return out


def trim(dev: Any, now: datetime, keep_s: float) -> None:
    """Bound a device's instruction records (a CEM that runs for a year, an RM that never sends an
    InstructionStatusUpdate): drop those that executed more than ``keep_s`` before ``now``,
    whatever their status, and those revoked, rejected or aborted once their time has passed, then
    the oldest beyond :data:`MAX_RECORDS`; the instruction each actuator runs (:func:`running`)
    stays, however old."""
    records = dev.instructions
    keep = set(running(records, now).values())
    cut = now - timedelta(seconds=keep_s)
    for iid in [i for i, r in records.items() if i not in keep and (r.instruction.execution_time < cut or (
            r.status in NEVER_RAN and r.instruction.execution_time <= now))]:  # fmt: skip
        del records[iid]
    excess = len(records) - len(keep) - MAX_RECORDS
    if excess > 0:
        by_age = sorted(
            (r.instruction.execution_time, str(i), i) for i, r in records.items() if i not in keep
        )
        for *_, iid in by_age[:excess]:
            del records[iid]


ELECTRIC = {
    CommodityQuantity.ELECTRIC_POWER_L1,
    CommodityQuantity.ELECTRIC_POWER_L2,
    CommodityQuantity.ELECTRIC_POWER_L3,
    CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC,
}
"""The commodity quantities of electric power."""


def electric_w(values: Any) -> float:
    """Electric power (W) of a PowerMeasurement's values (any phase)."""
    return float(sum(v.value for v in values if v.commodity_quantity in ELECTRIC))


def delay_s(dev: Any) -> float:
    """The RM's instruction processing delay, s (0 before its ResourceManagerDetails)."""
    return dev.details.instruction_processing_delay.root / 1000.0 if dev.details is not None else 0.0


Snapshot = Callable[[Any, Any, "PlanRequest", datetime, datetime], None]
"""(device, its state, the request to add it to, now, earliest instruction time) → None."""
Instructions = Callable[[Any, Any, "Plan", "PlanRequest", datetime, datetime, int], "list[Any] | None"]
"""(device, state, plan, request, earliest, now, instructions ahead) → messages to send, revocations
first (None: the device is not in the plan)."""


def _no_state(records: dict[uuid.UUID, Any]) -> None:
    return None


def _not_planned(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Control:
    """One control type in the registry (module docstring)."""

    control_type: ControlType
    short: str  # FRBC, PPBC, ...; its messages are "<short>.<name>"
    new_state: Callable[[dict[uuid.UUID, Any]], Any] = _no_state  # (the device's instruction records)
    events: Mapping[str, str] = field(default_factory=dict)  # message type → event kind (else "status")
    snapshot: Snapshot = _not_planned
    instructions: Instructions = _not_planned
    # records are kept this many periods after their instruction's execution time (None: the plan's
    # horizon; PPBC follows its programme through what ran), see :func:`trim`
    keep_periods: int | None = 2

    @property
    def prefix(self) -> str:
        return f"{self.short}."
