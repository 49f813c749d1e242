"""Physics and S2 messages of the PPBC / OMBC / DDBC simulators (used by :mod:`gridflex.s2.rm.simulators`).

* ``washing-machine`` (PPBC): a programme of three containers (heating: an interruptible *eco* or a
  short *quick* sequence; washing, interruptible; spinning). Sequences start, pause and resume at the
  execution times of the instructions; progress is time since start minus pauses. Breaking a rule
  (starting a container before the previous one finished, pausing a non-interruptible sequence,
  pausing longer than ``max_pause_before``, finishing after ``end_time``) counts a violation.
* ``chp`` (OMBC): modes off / low (2.5 kW electric) / full (5 kW); off ↔ low ↔ full only; minimum
  on and off times as timers. A mode change that is not a declared transition, or is
  blocked by a running timer, is ABORTED and counts a violation.
* ``hybrid-heatpump`` (DDBC): a heat pump (2–8 kW heat, COP 3.6) and a gas boiler (4–20 kW heat)
  meet a house's heat demand (kW); heat not supplied (or supplied beyond demand) is counted in kWh.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from s2python.common import (
    Commodity,
    CommodityQuantity,
    ControlType,
    Duration,
    InstructionStatus,
    NumberRange,
    PowerForecastValue,
    PowerRange,
    Timer,
    Transition,
)
from s2python.connection.async_ import S2AsyncConnection
from s2python.connection.async_.control_type.class_based import (
    DDBCControlType,
    OMBCControlType,
    PPBCControlType,
    S2ControlType,
)
from s2python.ddbc import (
    DDBCActuatorDescription,
    DDBCActuatorStatus,
    DDBCAverageDemandRateForecast,
    DDBCAverageDemandRateForecastElement,
    DDBCInstruction,
    DDBCOperationMode,
    DDBCSystemDescription,
    DDBCTimerStatus,
)
from s2python.generated.gen_s2 import ID, PPBCPowerSequenceStatus
from s2python.generated.gen_s2 import Transition as GenTransition
from s2python.ombc import (
    OMBCInstruction,
    OMBCOperationMode,
    OMBCStatus,
    OMBCSystemDescription,
    OMBCTimerStatus,
)
from s2python.ppbc import (
    PPBCEndInterruptionInstruction,
    PPBCPowerProfileDefinition,
    PPBCPowerProfileStatus,
    PPBCPowerSequence,
    PPBCPowerSequenceContainer,
    PPBCPowerSequenceContainerStatus,
    PPBCPowerSequenceElement,
    PPBCScheduleInstruction,
    PPBCStartInterruptionInstruction,
)

from gridflex.s2.control.ombc import as_uuid

ELEC = CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC
GAS = CommodityQuantity.NATURAL_GAS_FLOW_RATE
HEAT = CommodityQuantity.HEAT_THERMAL_POWER
DEVICE_KINDS = ("washing-machine", "chp", "hybrid-heatpump")
TOLERANCE_S = 1.0  # timing slack of the rule checks (simulated seconds)


def _uid() -> uuid.UUID:
    return uuid.uuid4()


def _transition(a: uuid.UUID, b: uuid.UUID, start: list[uuid.UUID], block: list[uuid.UUID]) -> Transition:
    return Transition.model_validate({"id": _uid(), "from": a, "to": b, "start_timers": start,
                                      "blocking_timers": block, "abnormal_condition_only": False})  # fmt: skip


class _Control:
    """Bridges s2-python's control-type classes to a device of this module."""

    def __init__(self, dev: Any, sim: Any) -> None:
        self.dev, self.sim = dev, sim

    async def activate(self, connection: S2AsyncConnection) -> None:
        await self.dev.activate(connection, self.sim)

    async def deactivate(self, connection: S2AsyncConnection) -> None:
        self.sim.deactivate()

    async def handle_instruction(self, connection: S2AsyncConnection, msg: Any, send_okay: Any) -> None:
        await send_okay()
        await self.sim.queue_instruction(connection, msg)


class _PPBC(_Control, PPBCControlType):
    def register_handlers(self, connection: S2AsyncConnection) -> None:
        super().register_handlers(connection)  # ScheduleInstruction; the interruptions too:
        connection.register_handler(PPBCStartInterruptionInstruction, self.handle_instruction)
        connection.register_handler(PPBCEndInterruptionInstruction, self.handle_instruction)


class _OMBC(_Control, OMBCControlType):
    pass


class _DDBC(_Control, DDBCControlType):
    pass


# ── washing machine (PPBC) ─────────────────────────────────────────────────────────────────────


@dataclass
class _Container:
    cid: uuid.UUID
    sequences: dict[
        uuid.UUID, tuple[str, list[tuple[float, float]], bool, float]
    ]  # label, (s, W), int., pause
    status: PPBCPowerSequenceStatus = PPBCPowerSequenceStatus.NOT_SCHEDULED
    selected: uuid.UUID | None = None
    started: datetime | None = None
    paused_s: float = 0.0
    pause_from: datetime | None = None
    finished: datetime | None = None

    def duration_s(self) -> float:
        assert self.selected is not None
        return sum(d for d, _ in self.sequences[self.selected][1])

    def progress_s(self, t: datetime) -> float:
        if self.started is None:
            return 0.0
        extra = (t - self.pause_from).total_seconds() if self.pause_from is not None else 0.0
        return (t - self.started).total_seconds() - self.paused_s - extra

    def power_w(self, t: datetime) -> float:
        if self.status != PPBCPowerSequenceStatus.EXECUTING or self.selected is None:
            return 0.0
        p, acc = self.progress_s(t), 0.0
        for d, w in self.sequences[self.selected][1]:
            acc += d
            if p < acc:
                return w
        return 0.0


@dataclass
class WashingMachine:
    """PPBC: sequences start, pause and resume at the instructions' execution times (progress = time
    since start minus pauses). A violation (the instruction ABORTED where it cannot run): a container
    scheduled twice or before the previous one finished, a pause before it that is too long, a start
    before ``start_time``, an interruption of a sequence that does not run or is not interruptible,
    an EndInterruption for a container that is not interrupted, a pause longer than
    ``max_pause_before`` (the machine resumes by itself), finishing after ``end_time``."""

    window_s: float = 7200.0
    profile_id: uuid.UUID = field(default_factory=_uid)
    containers: list[_Container] = field(default_factory=list)
    start_time: datetime | None = None
    end_time: datetime | None = None
    violations: list[str] = field(default_factory=list)
    energy_kwh: float = 0.0
    changed: bool = False
    control_types: tuple[ControlType, ...] = (ControlType.POWER_PROFILE_BASED_CONTROL,)

    def __post_init__(self) -> None:
        q = 900.0
        heat = _Container(_uid(), {_uid(): ("eco", [(q, 900.0), (q, 900.0)], True, 1800.0),
                                   _uid(): ("quick", [(q, 2000.0)], False, 1800.0)})  # fmt: skip
        wash = _Container(_uid(), {_uid(): ("wash", [(q, 300.0), (q, 250.0)], True, 900.0)})
        spin = _Container(_uid(), {_uid(): ("spin", [(q, 500.0)], False, 900.0)})
        self.containers = [heat, wash, spin]

    def definition(self, now: datetime) -> PPBCPowerProfileDefinition:
        self.start_time = self.start_time or now
        self.end_time = self.end_time or now + timedelta(seconds=self.window_s)
        conts = [
            PPBCPowerSequenceContainer(id=c.cid, power_sequences=[
                PPBCPowerSequence(id=sid, is_interruptible=intr, max_pause_before=Duration(int(pause * 1000)),
                                  abnormal_condition_only=False, elements=[
                    PPBCPowerSequenceElement(duration=Duration(int(d * 1000)), power_values=[
                        PowerForecastValue.model_validate({"value_expected": w, "commodity_quantity": ELEC})])
                    for d, w in els])
                for sid, (_, els, intr, pause) in c.sequences.items()])
            for c in self.containers
        ]  # fmt: skip
        return PPBCPowerProfileDefinition(message_id=_uid(), id=self.profile_id, start_time=self.start_time,
                                          end_time=self.end_time, power_sequences_containers=conts)  # fmt: skip

    async def activate(self, conn: S2AsyncConnection, sim: Any) -> None:
        await conn.send_msg_and_await_reception_status(self.definition(sim.clock.now()))
        sim.set_active(conn)
        await self.report(conn, sim.clock.now(), status=True)

    def status_message(self) -> PPBCPowerProfileStatus:
        return PPBCPowerProfileStatus(message_id=_uid(), sequence_container_status=[
            PPBCPowerSequenceContainerStatus(power_profile_id=self.profile_id, sequence_container_id=c.cid,
                                             selected_sequence_id=c.selected, progress=None, status=c.status)
            for c in self.containers])  # fmt: skip

    def known(self, msg: Any) -> bool:
        c = self._container(msg)
        return (msg.power_profile_id == self.profile_id and c is not None
                and msg.power_sequence_id in c.sequences)  # fmt: skip

    def _container(self, msg: Any) -> _Container | None:
        return next((c for c in self.containers if c.cid == msg.sequence_container_id), None)

    def execute(self, msg: Any, at: datetime) -> InstructionStatus:
        self.advance(at)
        c = self._container(msg)
        assert c is not None
        idx = self.containers.index(c)
        seq = c.sequences[msg.power_sequence_id]
        S = PPBCPowerSequenceStatus
        self.changed = True
        if isinstance(msg, PPBCScheduleInstruction):
            prev = self.containers[idx - 1] if idx else None
            if c.status not in (S.NOT_SCHEDULED, S.SCHEDULED):
                return self._bad(f"container {idx} scheduled twice")
            if prev is not None and prev.status != S.FINISHED:
                return self._bad(f"container {idx} started before container {idx - 1} finished")
            if prev is not None and prev.finished is not None:
                gap = (at - prev.finished).total_seconds()
                if gap > seq[3] + TOLERANCE_S:
                    self.violations.append(f"pause of {gap:.0f} s before container {idx} > {seq[3]:.0f} s")
            if self.start_time is not None and at < self.start_time - timedelta(seconds=TOLERANCE_S):
                self.violations.append(f"container {idx} started before start_time")
            c.status, c.selected, c.started = S.EXECUTING, msg.power_sequence_id, at
            return InstructionStatus.SUCCEEDED
        if c.selected != msg.power_sequence_id:
            return self._bad(f"interruption of sequence {msg.power_sequence_id} that does not run")
        if isinstance(msg, PPBCStartInterruptionInstruction):
            if c.status != S.EXECUTING or not seq[2]:
                return self._bad(
                    f"cannot interrupt container {idx} ({c.status.value}, interruptible={seq[2]})"
                )
            c.status, c.pause_from = S.INTERRUPTED, at
            return InstructionStatus.SUCCEEDED
        if c.status != S.INTERRUPTED or c.pause_from is None:
            return self._bad(f"container {idx} is not interrupted")
        pause = (at - c.pause_from).total_seconds()
        if pause > seq[3] + TOLERANCE_S:
            self.violations.append(f"interruption of {pause:.0f} s in container {idx} > {seq[3]:.0f} s")
        c.paused_s += pause
        c.status, c.pause_from = S.EXECUTING, None
        return InstructionStatus.SUCCEEDED

    def _bad(self, why: str) -> InstructionStatus:
        self.violations.append(why)
        return InstructionStatus.ABORTED

    def advance(self, t: datetime) -> None:
        """Finish sequences whose progress reached their duration (at their exact end time). A
        machine does not stay paused beyond ``max_pause_before``: it resumes by itself then (a violation)."""
        for i, c in enumerate(self.containers):
            limit = c.sequences[c.selected][3] if c.selected is not None else None
            if (c.status == PPBCPowerSequenceStatus.INTERRUPTED and c.pause_from is not None and limit is not None
                    and (t - c.pause_from).total_seconds() > limit + TOLERANCE_S):  # fmt: skip
                self.violations.append(f"pause in container {i} > {limit:.0f} s: resumed by itself")
                c.paused_s += limit
                c.status, c.pause_from = PPBCPowerSequenceStatus.EXECUTING, None
                self.changed = True
            if c.status == PPBCPowerSequenceStatus.EXECUTING and c.progress_s(t) >= c.duration_s() - 1e-6:
                c.finished = t - timedelta(seconds=c.progress_s(t) - c.duration_s())
                c.status = PPBCPowerSequenceStatus.FINISHED
                self.changed = True
                if self.end_time is not None and c.finished > self.end_time + timedelta(seconds=TOLERANCE_S):
                    self.violations.append(f"container {i} finished after end_time")

    def step(self, t: datetime, dt_s: float) -> None:
        self.energy_kwh += self.power_w(t) * dt_s / 3.6e6
        self.advance(t)

    def power_w(self, t: datetime) -> float:
        return sum(c.power_w(t) for c in self.containers)

    @property
    def done(self) -> bool:
        return all(c.status == PPBCPowerSequenceStatus.FINISHED for c in self.containers)

    async def report(self, conn: S2AsyncConnection, now: datetime, status: bool) -> None:
        if self.changed or status:
            self.changed = False
            await conn.send_and_forget(self.status_message())

    def summary(self) -> dict[str, Any]:
        return {"finished": self.done, "energy_kwh": self.energy_kwh, "violations": list(self.violations)}


# ── operation-mode machines (OMBC and DDBC) ────────────────────────────────────────────────────


@dataclass
class _Machine:
    """Modes with (power ranges per quantity at factor 0/1, supply 0/1), transitions and timers."""

    modes: dict[uuid.UUID, tuple[str, dict[CommodityQuantity, tuple[float, float]], tuple[float, float]]]
    transitions: list[Transition]
    timers: dict[uuid.UUID, tuple[str, float]]  # id → (label, duration s)
    mode: uuid.UUID
    factor: float = 0.0
    timer_until: dict[uuid.UUID, datetime] = field(default_factory=dict)
    history: list[tuple[datetime, uuid.UUID, float]] = field(default_factory=list)

    def ranges(self, mid: uuid.UUID) -> list[PowerRange]:
        return [PowerRange(start_of_range=a, end_of_range=b, commodity_quantity=q)
                for q, (a, b) in self.modes[mid][1].items()]  # fmt: skip

    def value(self, q: CommodityQuantity) -> float:
        a, b = self.modes[self.mode][1].get(q, (0.0, 0.0))
        return a + self.factor * (b - a)

    def supply(self) -> float:
        a, b = self.modes[self.mode][2]
        return a + self.factor * (b - a)

    def change(self, mid: uuid.UUID, factor: float, at: datetime) -> tuple[str | None, list[uuid.UUID]]:
        """Apply a mode change at ``at``: (why it is refused, or None; timers started)."""
        if mid not in self.modes or not 0.0 <= factor <= 1.0:
            return "unknown mode or factor out of range", []
        started: list[uuid.UUID] = []
        if mid != self.mode:
            tr = next((t for t in self.transitions if t.from_ == self.mode and t.to == mid), None)
            if tr is None:
                return f"no transition {self.modes[self.mode][0]} -> {self.modes[mid][0]}", []
            for b in tr.blocking_timers:
                until = self.timer_until.get(b)
                if until is not None and until > at + timedelta(seconds=TOLERANCE_S):
                    return (
                        f"timer {self.timers[b][0]} blocks {self.modes[self.mode][0]} -> {self.modes[mid][0]}",
                        [],
                    )
            for b in tr.start_timers:
                self.timer_until[b] = at + timedelta(seconds=self.timers[b][1])
                started.append(b)
        self.mode, self.factor = mid, factor
        self.history.append((at, mid, factor))
        return None, started


@dataclass
class CHP:
    """A gas engine CHP: electricity and heat (S2 sign: produced power is negative) from gas."""

    min_on_s: float = 1800.0
    min_off_s: float = 1800.0
    off: uuid.UUID = field(default_factory=_uid)
    low: uuid.UUID = field(default_factory=_uid)
    full: uuid.UUID = field(default_factory=_uid)
    t_on: uuid.UUID = field(default_factory=_uid)
    t_off: uuid.UUID = field(default_factory=_uid)
    machine: _Machine | None = None
    violations: list[str] = field(default_factory=list)
    produced_kwh: float = 0.0
    heat_kwh: float = 0.0
    gas_l: float = 0.0
    changed: bool = False
    control_types: tuple[ControlType, ...] = (
        ControlType.OPERATION_MODE_BASED_CONTROL,
        ControlType.NOT_CONTROLABLE,
    )

    def __post_init__(self) -> None:
        # S2 ranges run low → high with the factor, so an engine whose production rises with its gas
        # use cannot modulate in one mode: two fixed operating points (low, full) instead
        modes = {
            self.off: ("off", {ELEC: (0.0, 0.0), GAS: (0.0, 0.0), HEAT: (0.0, 0.0)}, (0.0, 0.0)),
            self.low: (
                "low",
                {ELEC: (-2500.0, -2500.0), GAS: (0.22, 0.22), HEAT: (-4300.0, -4300.0)},
                (0.0, 0.0),
            ),
            self.full: (
                "full",
                {ELEC: (-5000.0, -5000.0), GAS: (0.40, 0.40), HEAT: (-7000.0, -7000.0)},
                (0.0, 0.0),
            ),
        }
        trs = [_transition(self.off, self.low, [self.t_on], [self.t_off]),
               _transition(self.low, self.off, [self.t_off], [self.t_on]),
               _transition(self.low, self.full, [], []), _transition(self.full, self.low, [], [])]  # fmt: skip
        timers = {self.t_on: ("min-on", self.min_on_s), self.t_off: ("min-off", self.min_off_s)}
        self.machine = _Machine(modes, trs, timers, self.off)

    @property
    def m(self) -> _Machine:
        assert self.machine is not None
        return self.machine

    def system_description(self, now: datetime) -> OMBCSystemDescription:
        m = self.m
        return OMBCSystemDescription(
            message_id=_uid(), valid_from=now,
            operation_modes=[OMBCOperationMode(id=mid, diagnostic_label=label, power_ranges=m.ranges(mid),
                                               abnormal_condition_only=False, running_costs=None)
                             for mid, (label, _, _) in m.modes.items()],
            transitions=m.transitions,
            timers=[Timer(id=tid, diagnostic_label=label, duration=Duration(int(d * 1000)))
                    for tid, (label, d) in m.timers.items()],
        )  # fmt: skip

    async def activate(self, conn: S2AsyncConnection, sim: Any) -> None:
        now = sim.clock.now()
        await conn.send_msg_and_await_reception_status(self.system_description(now))
        sim.set_active(conn)
        for tid, until in self.m.timer_until.items():
            await conn.send_and_forget(OMBCTimerStatus(message_id=_uid(), timer_id=tid, finished_at=until))
        await self.report(conn, now, status=True)

    def known(self, msg: Any) -> bool:
        return isinstance(msg, OMBCInstruction) and as_uuid(msg.operation_mode_id) in self.m.modes

    def execute(self, msg: Any, at: datetime) -> tuple[InstructionStatus, list[Any]]:
        why, started = self.m.change(as_uuid(msg.operation_mode_id), msg.operation_mode_factor, at)
        if why is not None:
            self.violations.append(why)
            return InstructionStatus.ABORTED, []
        self.changed = True
        return InstructionStatus.SUCCEEDED, [
            OMBCTimerStatus(message_id=_uid(), timer_id=t, finished_at=self.m.timer_until[t]) for t in started
        ]

    def step(self, t: datetime, dt_s: float) -> None:
        self.produced_kwh += -self.m.value(ELEC) * dt_s / 3.6e6
        self.heat_kwh += -self.m.value(HEAT) * dt_s / 3.6e6
        self.gas_l += self.m.value(GAS) * dt_s

    def power_w(self, t: datetime) -> float:
        return self.m.value(ELEC)

    async def report(self, conn: S2AsyncConnection, now: datetime, status: bool) -> None:
        if self.changed or status:
            self.changed = False
            await conn.send_and_forget(OMBCStatus(message_id=_uid(), active_operation_mode_id=ID(str(self.m.mode)),
                                                  operation_mode_factor=self.m.factor, previous_operation_mode_id=None,
                                                  transition_timestamp=None))  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"produced_kwh": self.produced_kwh, "heat_kwh": self.heat_kwh, "gas_l": self.gas_l,
                "violations": list(self.violations)}  # fmt: skip


@dataclass
class HybridHeatPump:
    """A heat pump and a gas boiler meeting a heat demand (kW): DDBC actuators ``hp`` and ``boiler``."""

    demand_kw: list[float] = field(default_factory=lambda: [5.0, 5.0, 6.0, 12.0, 12.0, 6.0, 5.0, 5.0])
    demand_step_s: float = 900.0
    hp_id: uuid.UUID = field(default_factory=_uid)
    boiler_id: uuid.UUID = field(default_factory=_uid)
    machines: dict[uuid.UUID, _Machine] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    started: datetime | None = None
    unmet_kwh: float = 0.0
    over_kwh: float = 0.0
    heat_hp_kwh: float = 0.0
    heat_boiler_kwh: float = 0.0
    changed: bool = False
    control_types: tuple[ControlType, ...] = (ControlType.DEMAND_DRIVEN_BASED_CONTROL,)

    def __post_init__(self) -> None:
        off, on, t_off = _uid(), _uid(), _uid()
        self.machines[self.hp_id] = _Machine(
            {off: ("off", {ELEC: (0.0, 0.0)}, (0.0, 0.0)), on: ("on", {ELEC: (550.0, 2200.0)}, (2.0, 8.0))},
            [_transition(off, on, [], [t_off]), _transition(on, off, [t_off], [])],
            {t_off: ("anti-cycling", 900.0)}, off)  # fmt: skip
        off2, on2 = _uid(), _uid()
        self.machines[self.boiler_id] = _Machine(
            {off2: ("off", {GAS: (0.0, 0.0)}, (0.0, 0.0)), on2: ("on", {GAS: (0.12, 0.6)}, (4.0, 20.0))},
            [_transition(off2, on2, [], []), _transition(on2, off2, [], [])], {}, off2)  # fmt: skip

    def demand_at(self, t: datetime) -> float:
        if self.started is None:
            return self.demand_kw[0]
        k = int((t - self.started).total_seconds() // self.demand_step_s)
        return self.demand_kw[min(max(k, 0), len(self.demand_kw) - 1)]

    def system_description(self, now: datetime) -> DDBCSystemDescription:
        acts = []
        for aid, m in self.machines.items():
            label = "heat pump" if aid == self.hp_id else "gas boiler"
            # s2-python 0.11 wants both "Id" and "id", and supply_range as a list (see gridflex.s2.control.ddbc)
            modes = [DDBCOperationMode.model_validate({
                "Id": str(mid), "id": mid, "diagnostic_label": lab, "power_ranges": m.ranges(mid),
                "supply_range": [NumberRange(start_of_range=s0, end_of_range=s1)], "abnormal_condition_only": False})
                for mid, (lab, _, (s0, s1)) in m.modes.items()]  # fmt: skip
            acts.append(DDBCActuatorDescription(
                id=aid, diagnostic_label=label, supported_commodites=[Commodity.ELECTRICITY if aid == self.hp_id
                                                                      else Commodity.GAS],
                operation_modes=modes, transitions=[GenTransition.model_validate(t.model_dump(mode="json", by_alias=True))
                                                for t in m.transitions],
                timers=[Timer(id=tid, diagnostic_label=lab, duration=Duration(int(d * 1000)))
                        for tid, (lab, d) in m.timers.items()]))  # fmt: skip
        d = self.demand_at(now)
        return DDBCSystemDescription(message_id=_uid(), valid_from=now, actuators=acts,
                                     present_demand_rate=NumberRange(start_of_range=d, end_of_range=d),
                                     provides_average_demand_rate_forecast=True)  # fmt: skip

    def forecast(self, now: datetime) -> DDBCAverageDemandRateForecast:
        assert self.started is not None
        els = [DDBCAverageDemandRateForecastElement.model_validate(
            {"duration": int(self.demand_step_s * 1000), "demand_rate_expected": v}) for v in self.demand_kw]  # fmt: skip
        return DDBCAverageDemandRateForecast(message_id=_uid(), start_time=self.started, elements=els)

    async def activate(self, conn: S2AsyncConnection, sim: Any) -> None:
        now = sim.clock.now()
        step = self.demand_step_s  # the demand steps on the clock's quarter hours
        self.started = self.started or datetime.fromtimestamp(now.timestamp() // step * step, now.tzinfo)
        await conn.send_msg_and_await_reception_status(self.system_description(now))
        await conn.send_msg_and_await_reception_status(self.forecast(now))
        sim.set_active(conn)
        await self.report(conn, now, status=True)

    def known(self, msg: Any) -> bool:
        m = self.machines.get(msg.actuator_id) if isinstance(msg, DDBCInstruction) else None
        return m is not None and as_uuid(msg.operation_mode_id) in m.modes

    def execute(self, msg: Any, at: datetime) -> tuple[InstructionStatus, list[Any]]:
        m = self.machines[msg.actuator_id]
        why, started = m.change(as_uuid(msg.operation_mode_id), msg.operation_mode_factor, at)
        if why is not None:
            self.violations.append(why)
            return InstructionStatus.ABORTED, []
        self.changed = True
        return InstructionStatus.SUCCEEDED, [
            DDBCTimerStatus(
                message_id=_uid(), timer_id=t, actuator_id=msg.actuator_id, finished_at=m.timer_until[t]
            )
            for t in started
        ]

    def step(self, t: datetime, dt_s: float) -> None:
        hp, boiler = self.machines[self.hp_id].supply(), self.machines[self.boiler_id].supply()
        gap = self.demand_at(t) - hp - boiler
        self.unmet_kwh += max(gap, 0.0) * dt_s / 3600.0
        self.over_kwh += max(-gap, 0.0) * dt_s / 3600.0
        self.heat_hp_kwh += hp * dt_s / 3600.0
        self.heat_boiler_kwh += boiler * dt_s / 3600.0

    def power_w(self, t: datetime) -> float:
        return self.machines[self.hp_id].value(ELEC)

    async def report(self, conn: S2AsyncConnection, now: datetime, status: bool) -> None:
        if self.changed or status:
            self.changed = False
            for aid, m in self.machines.items():
                await conn.send_and_forget(DDBCActuatorStatus(message_id=_uid(), actuator_id=aid,
                                                              active_operation_mode_id=m.mode,
                                                              operation_mode_factor=m.factor,
                                                              previous_operation_mode_id=None,
                                                              transition_timestamp=None))  # fmt: skip

    def summary(self) -> dict[str, Any]:
        return {"unmet_kwh": self.unmet_kwh, "over_kwh": self.over_kwh, "heat_hp_kwh": self.heat_hp_kwh,
                "heat_boiler_kwh": self.heat_boiler_kwh, "violations": list(self.violations)}  # fmt: skip


def make_device(kind: str) -> WashingMachine | CHP | HybridHeatPump:
    return {"washing-machine": WashingMachine, "chp": CHP, "hybrid-heatpump": HybridHeatPump}[kind]()


def control_types(dev: Any, sim: Any) -> list[S2ControlType]:
    """s2-python control-type objects for the control types the device offers."""
    table: dict[ControlType, type[_Control]] = {
        ControlType.POWER_PROFILE_BASED_CONTROL: _PPBC,
        ControlType.OPERATION_MODE_BASED_CONTROL: _OMBC,
        ControlType.DEMAND_DRIVEN_BASED_CONTROL: _DDBC,
    }  # NOT_CONTROLABLE: the simulator's own measurements-only type, for every kind
    return [table[ct](dev, sim) for ct in dev.control_types if ct in table]  # type: ignore[misc]


async def execute(dev: Any, conn: S2AsyncConnection, msg: Any, now: datetime, status: Any) -> None:
    """Run one due instruction on a device of this module, with its status updates."""
    await status(conn, as_uuid(msg.id), InstructionStatus.STARTED)
    res = dev.execute(msg, msg.execution_time)  # it runs at its execution time (the tick notices it later)
    extra: list[Any] = []
    if isinstance(res, tuple):
        res, extra = res
    for m in extra:
        await conn.send_and_forget(m)
    await status(conn, as_uuid(msg.id), res)
    await dev.report(conn, now, status=False)
