"""Physics and S2 messages of the FRBC simulators ``heatpump`` and ``ev`` (used by
:mod:`gridflex.s2.rm.simulators`, with the device interface of :mod:`gridflex.s2.rm.sim_devices`).

* ``heatpump``: an air-water heat pump charging a buffer tank. Fill level = the buffer's temperature
  (°C, 35–55). The house's heat demand is the usage (a UsageForecast in K/s), the tank's heat loss
  to the room the leakage (a LeakageBehaviour by temperature band). Modes: ``off``; ``on`` (full
  heat, 8 kW at COP 3.5); ``modulating`` (3–8 kW heat, power linear in it). Minimum on and off times
  are timers: off → on/modulating starts ``min-on`` and is blocked by ``min-off``, the reverse
  starts ``min-off`` and is blocked by ``min-on``. The fill-level target profile is the comfort
  band (45–55 °C). The tank's thermostat switches the pump off at 55 °C (``clipped_k``).
* ``ev``: a charging session. The car arrives ``arrival_after_s`` after the first activation, needs
  ``need_kwh`` by ``departure_after_s``. Fill level = energy charged (kWh, 0 to ``max_kwh``). Modes:
  ``idle`` and ``charge`` (1.4–11 kW, 92 % into the battery). The system description is sent at
  arrival; the fill-level target is the need over the last ``target_window_s`` before departure. At
  departure the RM revokes its system description (RevokeObject), so the CEM stops planning it.
  Instructions for an absent car are aborted and counted.

Every mode change follows a declared transition and is ABORTED while one of its blocking timers
runs (counted in ``blocked``). Time is the simulator's clock (accelerated in tests).
"""

from __future__ import annotations

import itertools
import math
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
    PowerRange,
    RevokableObjects,
    RevokeObject,
    Timer,
    Transition,
)
from s2python.connection.async_ import S2AsyncConnection
from s2python.connection.async_.control_type.class_based import FRBCControlType, S2ControlType
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCActuatorStatus,
    FRBCFillLevelTargetProfile,
    FRBCFillLevelTargetProfileElement,
    FRBCInstruction,
    FRBCLeakageBehaviour,
    FRBCLeakageBehaviourElement,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageDescription,
    FRBCStorageStatus,
    FRBCSystemDescription,
    FRBCTimerStatus,
    FRBCUsageForecast,
    FRBCUsageForecastElement,
)

from gridflex.s2.rm.sim_devices import _Control

ELEC = CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC
FRBC_KINDS = ("heatpump", "ev")


def _uid() -> uuid.UUID:
    return uuid.uuid4()


@dataclass
class Mode:
    label: str
    f0: float  # fill units per second at factor 0
    f1: float
    p0_w: float  # electric power at factor 0
    p1_w: float

    def at(self, factor: float) -> tuple[float, float]:
        return self.f0 + factor * (self.f1 - self.f0), self.p0_w + factor * (self.p1_w - self.p0_w)


@dataclass
class _Frbc:
    """What both devices share: modes, transitions with timers, instruction execution, reporting."""

    modes: dict[uuid.UUID, Mode] = field(default_factory=dict)
    transitions: list[tuple[uuid.UUID, uuid.UUID, list[uuid.UUID], list[uuid.UUID]]] = field(
        default_factory=list
    )
    timers: dict[uuid.UUID, tuple[str, float]] = field(default_factory=dict)  # id → (label, duration s)
    timer_until: dict[uuid.UUID, datetime] = field(default_factory=dict)
    actuator_id: uuid.UUID = field(default_factory=_uid)
    mode: uuid.UUID | None = None
    factor: float = 0.0
    changes: list[tuple[datetime, uuid.UUID, float]] = field(default_factory=list)  # executed changes
    blocked: int = 0  # instructions aborted: a blocking timer ran, no such transition, device absent
    history: list[tuple[datetime, float, float]] = field(default_factory=list)  # (time, fill, power W)
    control_types: tuple[ControlType, ...] = (ControlType.FILL_RATE_BASED_CONTROL,)
    changed: bool = False

    # ---- S2 descriptions -------------------------------------------------------------------
    def actuator(self, fill_lo: float, fill_hi: float, label: str) -> FRBCActuatorDescription:
        def mode(mid: uuid.UUID, m: Mode) -> FRBCOperationMode:
            el = FRBCOperationModeElement(
                fill_level_range=NumberRange(start_of_range=fill_lo, end_of_range=fill_hi),
                fill_rate=NumberRange(start_of_range=m.f0, end_of_range=m.f1),
                power_ranges=[
                    PowerRange(start_of_range=m.p0_w, end_of_range=m.p1_w, commodity_quantity=ELEC)
                ],
            )
            return FRBCOperationMode(
                id=mid, diagnostic_label=m.label, elements=[el], abnormal_condition_only=False
            )

        transitions = [
            Transition.model_validate({"id": _uid(), "from": a, "to": b, "start_timers": start,
                                       "blocking_timers": block, "abnormal_condition_only": False})
            for a, b, start, block in self.transitions
        ]  # fmt: skip
        return FRBCActuatorDescription(
            id=self.actuator_id, diagnostic_label=label, supported_commodities=[Commodity.ELECTRICITY],
            operation_modes=[mode(mid, m) for mid, m in self.modes.items()], transitions=transitions,
            timers=[Timer(id=t, diagnostic_label=lab, duration=Duration(int(d * 1000)))
                    for t, (lab, d) in self.timers.items()],
        )  # fmt: skip

    def actuator_status(
        self, prev: uuid.UUID | None = None, at: datetime | None = None
    ) -> FRBCActuatorStatus:
        assert self.mode is not None
        return FRBCActuatorStatus(message_id=_uid(), actuator_id=self.actuator_id,
                                  active_operation_mode_id=self.mode, operation_mode_factor=self.factor,
                                  previous_operation_mode_id=prev, transition_timestamp=at)  # fmt: skip

    def timer_statuses(self) -> list[FRBCTimerStatus]:
        return [FRBCTimerStatus(message_id=_uid(), timer_id=t, actuator_id=self.actuator_id, finished_at=u)
                for t, u in self.timer_until.items()]  # fmt: skip

    # ---- instructions ------------------------------------------------------------------------
    def known(self, msg: Any) -> bool:
        return (
            isinstance(msg, FRBCInstruction)
            and msg.actuator_id == self.actuator_id
            and msg.operation_mode in self.modes
        )

    def can_run(self, at: datetime) -> bool:
        return True

    def execute(self, msg: Any, at: datetime) -> tuple[InstructionStatus, list[Any]]:
        """Run an instruction at its execution time: ABORTED if the device cannot (see module doc)."""
        target, factor = msg.operation_mode, float(msg.operation_mode_factor)
        if not self.can_run(at):
            self.blocked += 1
            return InstructionStatus.ABORTED, []
        out: list[Any] = []
        if target != self.mode:
            tr = next((t for t in self.transitions if t[0] == self.mode and t[1] == target), None)
            running = tr is not None and any(self.timer_until.get(b, at) > at for b in tr[3])
            if tr is None or running:
                self.blocked += 1
                return InstructionStatus.ABORTED, []
            for t in tr[2]:
                self.timer_until[t] = at + timedelta(seconds=self.timers[t][1])
                out.append(FRBCTimerStatus(message_id=_uid(), timer_id=t, actuator_id=self.actuator_id,
                                           finished_at=self.timer_until[t]))  # fmt: skip
        prev = self.mode
        self.mode, self.factor = target, factor
        self.changes.append((at, target, factor))
        out.append(self.actuator_status(prev, at))
        return InstructionStatus.SUCCEEDED, out

    def rate_and_power(self) -> tuple[float, float]:
        m = self.modes.get(self.mode) if self.mode is not None else None
        return (0.0, 0.0) if m is None else m.at(self.factor)

    def power_w(self, t: datetime) -> float:
        return self.rate_and_power()[1]

    def on_durations(self, idle: uuid.UUID) -> tuple[list[float], list[float]]:
        """Durations (s) of completed on and off stretches from the executed changes."""
        ons: list[float] = []
        offs: list[float] = []
        seq = [(t, m != idle) for t, m, _ in self.changes]
        if not seq:
            return ons, offs
        since, state = seq[0]
        for t, on in seq[1:]:
            if on != state:
                (ons if state else offs).append((t - since).total_seconds())
                since, state = t, on
        return ons, offs


# ── heat pump with a buffer tank ────────────────────────────────────────────────────────────────


@dataclass
class HeatPump(_Frbc):
    t_min_c: float = 35.0
    t_max_c: float = 55.0
    band_c: tuple[float, float] = (45.0, 55.0)  # comfort band: the fill-level target
    temp_c: float = 48.0
    room_c: float = 20.0
    kwh_per_k: float = 0.7  # 600 l of water
    loss_kw_per_k: float = 0.004  # tank to room
    heat_min_kw: float = 3.0
    heat_max_kw: float = 8.0
    cop: float = 3.5
    min_on_s: float = 1800.0
    min_off_s: float = 900.0
    demand_base_kw: float = 3.0
    demand_swing_kw: float = 1.5
    demand_kwh: float = 0.0
    clipped_k: float = 0.0
    off_id: uuid.UUID = field(default_factory=_uid)
    on_id: uuid.UUID = field(default_factory=_uid)
    mod_id: uuid.UUID = field(default_factory=_uid)
    t_on: uuid.UUID = field(default_factory=_uid)
    t_off: uuid.UUID = field(default_factory=_uid)

    def __post_init__(self) -> None:
        c, cop = self.kwh_per_k * 3600.0, self.cop  # kW·s per K: heat kW / c = K/s
        lo, hi = self.heat_min_kw, self.heat_max_kw
        self.modes = {
            self.off_id: Mode("off", 0.0, 0.0, 0.0, 0.0),
            self.on_id: Mode("on", hi / c, hi / c, hi / cop * 1000.0, hi / cop * 1000.0),
            self.mod_id: Mode("modulating", lo / c, hi / c, lo / cop * 1000.0, hi / cop * 1000.0),
        }
        self.timers = {self.t_on: ("min-on", self.min_on_s), self.t_off: ("min-off", self.min_off_s)}
        on = (self.on_id, self.mod_id)
        self.transitions = [(self.off_id, m, [self.t_on], [self.t_off]) for m in on]
        self.transitions += [(m, self.off_id, [self.t_off], [self.t_on]) for m in on]
        self.transitions += [(self.on_id, self.mod_id, [], []), (self.mod_id, self.on_id, [], [])]
        self.mode = self.mode or self.off_id

    def demand_kw(self, t: datetime) -> float:
        h = t.hour + t.minute / 60.0
        return self.demand_base_kw + self.demand_swing_kw * math.cos(2 * math.pi * (h - 6.0) / 24.0)

    def loss_kw(self, temp_c: float) -> float:
        return self.loss_kw_per_k * (temp_c - self.room_c)

    def step(self, t: datetime, dt_s: float) -> None:
        rate, _ = self.rate_and_power()  # K/s from the pump
        heat_kw = rate * self.kwh_per_k * 3600.0
        demand = self.demand_kw(t)
        self.demand_kwh += demand * dt_s / 3600.0
        dtemp = (heat_kw - demand - self.loss_kw(self.temp_c)) * dt_s / 3600.0 / self.kwh_per_k
        new = self.temp_c + dtemp
        if new > self.t_max_c:  # the tank's thermostat: the pump stops at the top
            self.clipped_k += new - self.t_max_c
            new = self.t_max_c
            if self.mode != self.off_id:
                self.mode, self.factor = self.off_id, 0.0
                self.changed = True
        self.temp_c = new
        self.history.append((t, self.temp_c, self.power_w(t)))

    def system_description(self, now: datetime) -> FRBCSystemDescription:
        storage = FRBCStorageDescription(
            diagnostic_label="buffer tank", fill_level_label="°C", provides_leakage_behaviour=True,
            provides_fill_level_target_profile=True, provides_usage_forecast=True,
            fill_level_range=NumberRange(start_of_range=self.t_min_c, end_of_range=self.t_max_c),
        )  # fmt: skip
        act = self.actuator(self.t_min_c, self.t_max_c, "heat pump")
        return FRBCSystemDescription(message_id=_uid(), valid_from=now, actuators=[act], storage=storage)

    def usage(self, now: datetime, hours: int = 48) -> FRBCUsageForecast:
        start = now.replace(minute=(now.minute // 15) * 15, second=0, microsecond=0)
        els = [
            FRBCUsageForecastElement.model_validate({"duration": 900_000, "usage_rate_expected":
                self.demand_kw(start + timedelta(minutes=15 * k + 7.5)) / self.kwh_per_k / 3600.0})
            for k in range(hours * 4)
        ]  # fmt: skip
        return FRBCUsageForecast(message_id=_uid(), start_time=start, elements=els)

    def leakage(self, now: datetime) -> FRBCLeakageBehaviour:
        edges = [self.t_min_c + k * 5.0 for k in range(int((self.t_max_c - self.t_min_c) / 5.0) + 1)]
        els = [
            FRBCLeakageBehaviourElement(fill_level_range=NumberRange(start_of_range=a, end_of_range=b),
                                        leakage_rate=self.loss_kw((a + b) / 2) / self.kwh_per_k / 3600.0)
            for a, b in itertools.pairwise(edges)
        ]  # fmt: skip
        return FRBCLeakageBehaviour(message_id=_uid(), valid_from=now, elements=els)

    def target(self, now: datetime) -> FRBCFillLevelTargetProfile:
        el = FRBCFillLevelTargetProfileElement(
            duration=Duration(48 * 3_600_000),
            fill_level_range=NumberRange(start_of_range=self.band_c[0], end_of_range=self.band_c[1]),
        )
        return FRBCFillLevelTargetProfile(message_id=_uid(), start_time=now, elements=[el])

    async def activate(self, conn: S2AsyncConnection, sim: Any) -> None:
        now = sim.clock.now()
        for m in (self.system_description(now), self.leakage(now), self.usage(now), self.target(now)):
            await conn.send_msg_and_await_reception_status(m)
        sim.set_active(conn)
        for ts in self.timer_statuses():
            await conn.send_and_forget(ts)
        await self.report(conn, now, status=True)

    async def report(self, conn: S2AsyncConnection, now: datetime, status: bool) -> None:
        await conn.send_and_forget(FRBCStorageStatus(message_id=_uid(), present_fill_level=self.temp_c))
        if status or self.changed:
            self.changed = False
            await conn.send_and_forget(self.actuator_status())

    def summary(self) -> dict[str, Any]:
        temps = [f for _, f, _ in self.history] or [self.temp_c]
        return {"temp_c": self.temp_c, "temp_min_c": min(temps), "temp_max_c": max(temps),
                "demand_kwh": self.demand_kwh, "clipped_k": self.clipped_k, "blocked": self.blocked,
                "changes": len(self.changes)}  # fmt: skip


# ── EV charging session ────────────────────────────────────────────────────────────────────────


@dataclass
class EVCharger(_Frbc):
    need_kwh: float = 20.0
    max_kwh: float = 30.0  # room in the car's battery at arrival
    p_min_w: float = 1400.0
    p_max_w: float = 11000.0
    eta: float = 0.92
    arrival_after_s: float = 1800.0
    departure_after_s: float = 8 * 3600.0
    target_window_s: float = 1800.0
    switch_timer_s: float = 60.0
    charged_kwh: float = 0.0
    clipped_kwh: float = 0.0
    t0: datetime | None = None
    sd_id: uuid.UUID | None = None  # message id of the system description sent (revoked at departure)
    revoked: bool = False
    charged_at_departure_kwh: float | None = None
    idle_id: uuid.UUID = field(default_factory=_uid)
    charge_id: uuid.UUID = field(default_factory=_uid)
    timer_id: uuid.UUID = field(default_factory=_uid)

    def __post_init__(self) -> None:
        k = self.eta / 3.6e6  # kWh per second per W
        self.modes = {
            self.idle_id: Mode("idle", 0.0, 0.0, 0.0, 0.0),
            self.charge_id: Mode("charge", self.p_min_w * k, self.p_max_w * k, self.p_min_w, self.p_max_w),
        }
        self.timers = {self.timer_id: ("contactor", self.switch_timer_s)}
        self.transitions = [(self.idle_id, self.charge_id, [self.timer_id], [self.timer_id]),
                            (self.charge_id, self.idle_id, [self.timer_id], [self.timer_id])]  # fmt: skip
        self.mode = self.mode or self.idle_id

    @property
    def arrival(self) -> datetime | None:
        return None if self.t0 is None else self.t0 + timedelta(seconds=self.arrival_after_s)

    @property
    def departure(self) -> datetime | None:
        return None if self.t0 is None else self.t0 + timedelta(seconds=self.departure_after_s)

    def present(self, t: datetime) -> bool:
        a, d = self.arrival, self.departure
        return a is not None and d is not None and a <= t < d

    def can_run(self, at: datetime) -> bool:
        return self.present(at)

    def step(self, t: datetime, dt_s: float) -> None:
        rate, _ = self.rate_and_power()
        if not self.present(t):
            if self.mode != self.idle_id:  # unplugged: the charge point stops
                self.mode, self.factor, self.changed = self.idle_id, 0.0, True
            d = self.departure
            if d is not None and t >= d and self.charged_at_departure_kwh is None:
                self.charged_at_departure_kwh = self.charged_kwh
        else:
            new = self.charged_kwh + rate * dt_s
            if new > self.max_kwh:  # the car's BMS stops at full
                self.clipped_kwh += new - self.max_kwh
                new = self.max_kwh
                self.mode, self.factor, self.changed = self.idle_id, 0.0, True
            self.charged_kwh = new
        self.history.append((t, self.charged_kwh, self.power_w(t)))

    def system_description(self, now: datetime) -> FRBCSystemDescription:
        storage = FRBCStorageDescription(
            diagnostic_label="EV session", fill_level_label="kWh charged", provides_leakage_behaviour=False,
            provides_fill_level_target_profile=True, provides_usage_forecast=False,
            fill_level_range=NumberRange(start_of_range=0.0, end_of_range=self.max_kwh),
        )  # fmt: skip
        act = self.actuator(0.0, self.max_kwh, "charge point")
        return FRBCSystemDescription(message_id=_uid(), valid_from=now, actuators=[act], storage=storage)

    def target(self, now: datetime) -> FRBCFillLevelTargetProfile:
        d = self.departure
        assert d is not None
        left = max((d - now).total_seconds(), 1.0)
        window = min(self.target_window_s, left)
        els = []
        if left > window:
            els.append(FRBCFillLevelTargetProfileElement(duration=Duration(int((left - window) * 1000)),
                       fill_level_range=NumberRange(start_of_range=0.0, end_of_range=self.max_kwh)))  # fmt: skip
        els.append(FRBCFillLevelTargetProfileElement(duration=Duration(int(window * 1000)),
                   fill_level_range=NumberRange(start_of_range=self.need_kwh, end_of_range=self.max_kwh)))  # fmt: skip
        return FRBCFillLevelTargetProfile(message_id=_uid(), start_time=now, elements=els)

    async def _arrive(self, conn: S2AsyncConnection, now: datetime) -> None:
        sd = self.system_description(now)
        await conn.send_msg_and_await_reception_status(sd)
        self.sd_id = sd.message_id
        await conn.send_msg_and_await_reception_status(self.target(now))
        for ts in self.timer_statuses():
            await conn.send_and_forget(ts)
        await conn.send_and_forget(self.actuator_status())

    async def activate(self, conn: S2AsyncConnection, sim: Any) -> None:
        now = sim.clock.now()
        self.t0 = self.t0 or now
        self.sd_id = None  # a new session (or a reconnect): describe the car again if it is there
        sim.set_active(conn)
        await self.report(conn, now, status=True)

    async def report(self, conn: S2AsyncConnection, now: datetime, status: bool) -> None:
        if self.present(now) and self.sd_id is None:
            await self._arrive(conn, now)
        d = self.departure
        if d is not None and now >= d and self.sd_id is not None and not self.revoked:
            self.revoked = True  # the car left: the CEM must stop planning it
            await conn.send_msg_and_await_reception_status(RevokeObject(
                message_id=_uid(), object_type=RevokableObjects.FRBC_SystemDescription, object_id=self.sd_id))  # fmt: skip
        if self.sd_id is not None and not self.revoked:
            await conn.send_and_forget(
                FRBCStorageStatus(message_id=_uid(), present_fill_level=self.charged_kwh)
            )
            if status or self.changed:
                self.changed = False
                await conn.send_and_forget(self.actuator_status())

    def summary(self) -> dict[str, Any]:
        return {"charged_kwh": self.charged_kwh, "need_kwh": self.need_kwh,
                "charged_at_departure_kwh": self.charged_at_departure_kwh, "blocked": self.blocked,
                "clipped_kwh": self.clipped_kwh}  # fmt: skip


class _FRBC(_Control, FRBCControlType):
    pass


def make_device(kind: str) -> HeatPump | EVCharger:
    return {"heatpump": HeatPump, "ev": EVCharger}[kind]()


def control_types(dev: Any, sim: Any) -> list[S2ControlType]:
    return [_FRBC(dev, sim)]
