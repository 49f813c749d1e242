"""DDBC (demand-driven based control), e.g. a hybrid heat pump choosing between electricity and gas.

State (:class:`DdbcState`): DDBC.SystemDescription, DDBC.ActuatorStatus, DDBC.TimerStatus and
DDBC.AverageDemandRateForecast. ``check`` refuses unknown references (actuator, operation mode,
timer) before ``apply`` changes anything.

Mapping (docs/s2.md): a :class:`~gridflex.assets.mode_machine.DemandMachines` asset; every actuator is
an operation-mode machine (:func:`~gridflex.assets.mode_machine.add_machine`)
whose modes take power per carrier (electricity and natural gas, both buses of the site; the CEM's
planner adds a gas grid connection when the site has none) and deliver a supply rate, both linear in
the factor. Per period the supplies of all actuators meet the demand rate: ``Σ supply + short − over
= demand``; a unit of demand rate missed or exceeded for one hour costs ``DEMAND_PENALTY_EUR``, so a
demand the actuators cannot meet never makes the plan infeasible. The demand comes from the
AverageDemandRateForecast (expected values, the last one held after its end) and else from the
middle of the system description's ``present_demand_rate``.

The demand stays inside the device: S2 has the RM meet it with its own actuators, and its unit is
the device's own (a heat demand in kW, a water demand in l/s), so it is not put on the site's heat
bus (the supply is not heat the site can use elsewhere). Only an actuator's power ranges reach the
site; an actuator whose modes list HEAT.THERMAL_POWER gives or takes heat on the site's heat bus
under the same rule as OMBC (only where the site has one, with a vent for heat it produces).

s2-python 0.11 reads a DDBC.OperationMode with both ``Id`` and ``id`` and ``supply_range`` as a list
of NumberRanges; the first range is used.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from s2python.common import ControlType, RevokableObjects
from s2python.ddbc import (
    DDBCActuatorDescription,
    DDBCActuatorStatus,
    DDBCAverageDemandRateForecast,
    DDBCInstruction,
    DDBCSystemDescription,
    DDBCTimerStatus,
)
from s2python.generated.gen_s2 import ID

from gridflex.assets.mode_machine import DEMAND_PENALTY_EUR  # noqa: F401  (its home before)
from gridflex.assets.mode_machine import DemandMachines as DdbcAsset
from gridflex.s2.control.base import Control, changes
from gridflex.s2.control.frbc import profile_average
from gridflex.s2.control.ombc import (
    as_uuid,
    machine_problem,
    machine_spec,
    mode_instructions,
    mode_instructions_of,
    mode_snapshot,
    mode_specs,
    status_problem,
)

DdbcMessage = DDBCSystemDescription | DDBCActuatorStatus | DDBCTimerStatus | DDBCAverageDemandRateForecast


@dataclass
class DdbcState:
    """What a DDBC resource manager has told the CEM."""

    system_description: DDBCSystemDescription | None = None
    actuator_status: dict[uuid.UUID, DDBCActuatorStatus] = field(default_factory=dict)
    timers_finish: dict[tuple[uuid.UUID, uuid.UUID], datetime] = field(default_factory=dict)
    forecast: DDBCAverageDemandRateForecast | None = None

    def _actuator(self, actuator_id: uuid.UUID) -> DDBCActuatorDescription | None:
        sd = self.system_description
        return None if sd is None else next((a for a in sd.actuators if a.id == actuator_id), None)

    def check(self, msg: DdbcMessage) -> str | None:
        if isinstance(msg, DDBCSystemDescription):
            ids = [a.id for a in msg.actuators]
            if not ids or len(set(ids)) != len(ids):
                return "actuator ids are missing or not unique"
            for a in msg.actuators:
                problem = machine_problem(list(a.operation_modes), list(a.timers), list(a.transitions),
                                          of=f" of actuator {as_uuid(a.id)}")  # fmt: skip
                if problem is not None:
                    return problem
            return None
        if isinstance(msg, DDBCAverageDemandRateForecast):
            return None
        act = self._actuator(msg.actuator_id)
        if act is None:
            return f"unknown actuator {msg.actuator_id}"
        return status_problem(list(act.operation_modes), list(act.timers), msg)

    def apply(self, msg: DdbcMessage) -> None:
        if isinstance(msg, DDBCSystemDescription):
            self.system_description = msg
            keep = {a.id for a in msg.actuators}
            self.actuator_status = {k: v for k, v in self.actuator_status.items() if k in keep}
        elif isinstance(msg, DDBCActuatorStatus):
            self.actuator_status[msg.actuator_id] = msg
        elif isinstance(msg, DDBCTimerStatus):
            self.timers_finish[(msg.actuator_id, msg.timer_id)] = msg.finished_at
        else:
            self.forecast = msg

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        sd = self.system_description
        if object_type == "DDBC.SystemDescription" and sd is not None and sd.message_id == object_id:
            self.system_description = None
            self.actuator_status.clear()
            return True
        return False

    def demand(self, start: datetime, step_s: int, n: int) -> np.ndarray:
        sd = self.system_description
        assert sd is not None
        now_rate = 0.5 * (sd.present_demand_rate.start_of_range + sd.present_demand_rate.end_of_range)
        if self.forecast is None:
            return np.full(n, now_rate)
        out = profile_average(self.forecast, start, step_s, n, lambda e: e.demand_rate_expected,
                              default=np.nan, hold_last=True)  # fmt: skip
        return np.where(np.isfinite(out), out, now_rate)

    def asset(self, name: str, start: datetime, step_s: int, n: int, earliest: datetime) -> DdbcAsset | None:
        sd = self.system_description
        if sd is None:
            return None
        specs = []
        for i, act in enumerate(sd.actuators):
            modes, abnormal = mode_specs(list(act.operation_modes), supply=True)
            st = self.actuator_status.get(act.id)
            if not modes or (st is not None and st.active_operation_mode_id in abnormal):
                continue
            finish = {t: v for (a, t), v in self.timers_finish.items() if a == act.id}
            cur = None if st is None else st.active_operation_mode_id
            specs.append((act.id, machine_spec(f"{name}/a{i}", modes, list(act.transitions), list(act.timers),
                                               cur, finish, start, step_s, n, earliest)))  # fmt: skip
        if not specs:
            return None
        a = DdbcAsset(name=f"{name}/ddbc", node="site")
        a._specs, a._demand, a._start, a._step_s = specs, self.demand(start, step_s, n), start, step_s
        return a

    def messages(
        self, asset: Any, earliest: datetime, now: datetime, records: dict[uuid.UUID, Any], max_count: int
    ) -> list[Any]:
        """DDBC.Instructions per actuator for the mode changes of the solved plan."""
        sd = self.system_description
        if sd is None or asset._decision is None:
            return []
        new: list[Any] = []
        for aid, spec in asset._specs:
            act = self._actuator(aid)
            decision = asset._decision.get(aid)
            if act is None or decision is None:
                continue
            st = self.actuator_status.get(aid)
            current = None if st is None else (st.active_operation_mode_id, st.operation_mode_factor)
            finish = {t: v for (a, t), v in self.timers_finish.items() if a == aid}

            def make(mid: uuid.UUID, fac: float, when: datetime, aid: uuid.UUID = aid) -> DDBCInstruction:
                return DDBCInstruction(message_id=uuid.uuid4(), id=ID(str(uuid.uuid4())), execution_time=when, actuator_id=aid,
                                       operation_mode_id=mid, operation_mode_factor=fac, abnormal_condition=False)  # fmt: skip

            new += mode_instructions(make, spec, decision, list(act.transitions), finish, current,
                                     asset._start, asset._step_s, earliest, max_count)  # fmt: skip
        return changes(records, new, now, asset._step_s, RevokableObjects.DDBC_Instruction)


CONTROL = Control(
    ControlType.DEMAND_DRIVEN_BASED_CONTROL,
    "DDBC",
    new_state=lambda records: DdbcState(),
    events={"DDBC.SystemDescription": "system", "DDBC.AverageDemandRateForecast": "forecast"},
    snapshot=mode_snapshot,
    instructions=mode_instructions_of,
)
