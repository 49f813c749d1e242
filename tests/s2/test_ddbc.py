"""DDBC (hybrid heat pump): the demand met by electricity or gas, references, end to end."""

from __future__ import annotations

import json
import uuid

import numpy as np
from s2python.ddbc import DDBCActuatorStatus

from gridflex.s2.ddbc import DdbcState
from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.s2.sim_devices import HybridHeatPump
from tests.s2.helpers import msg, run
from tests.s2.modes_helpers import T0, assert_all_valid, gas_site, run_device, sent, session, statuses


def _plan(prices: list[float], gas: float = 40.0) -> tuple[HybridHeatPump, DdbcState, object]:
    hp = HybridHeatPump()
    hp.started = T0
    st = DdbcState()
    st.apply(hp.system_description(T0))
    st.apply(hp.forecast(T0))
    for aid, m in hp.machines.items():
        st.apply(DDBCActuatorStatus(message_id=uuid.uuid4(), actuator_id=aid, active_operation_mode_id=m.mode,
                                    operation_mode_factor=0.0, previous_operation_mode_id=None,
                                    transition_timestamp=None))  # fmt: skip
    a = st.asset("hhp", T0, 900, len(prices), T0)
    assert a is not None
    req = PlanRequest(T0, 900, len(prices))
    req.extra.append(a)
    plan = plan_site(gas_site(prices, gas), req)
    return hp, st, plan.extra["hhp/ddbc"]


def test_demand_is_met_by_the_cheaper_carrier() -> None:
    hp, _, a = _plan([50, 40, 30, 20, 160, 200, 220, 250])
    demand = np.array(hp.demand_kw)
    assert np.allclose(a._supply, demand, atol=1e-6)  # the demand rate is met in every period
    hp_mode, _ = a._decision[hp.hp_id]
    on = [s.mode_id for s in dict(a._specs)[hp.hp_id].modes].index(
        next(mid for mid, v in hp.machines[hp.hp_id].modes.items() if v[0] == "on"))  # fmt: skip
    # cheap electricity (<= 50 EUR/MWh, COP 3.6 beats gas at 40): heat pump; at 160+ the boiler
    assert (hp_mode[:4] == on).all()
    # at 160+ EUR/MWh a kWh of heat costs 44 EUR/MWh from the heat pump, 42 from the boiler
    assert (hp_mode[4:] != on).all()


def test_instructions_only_along_transitions() -> None:
    hp, st, a = _plan([50, 40, 30, 20, 160, 200, 220, 250])
    ins = st.messages(a, T0, T0, {}, 20)
    assert ins
    for aid, m in hp.machines.items():
        mode = m.mode
        for i in sorted((i for i in ins if i.actuator_id == aid), key=lambda i: i.execution_time):
            new = uuid.UUID(str(i.operation_mode_id))
            assert new == mode or any(t.from_ == mode and t.to == new for t in m.transitions)
            assert 0.0 <= i.operation_mode_factor <= 1.0
            mode = new


def test_unknown_references_are_invalid_content() -> None:
    hp = HybridHeatPump()
    s = session(["DEMAND_DRIVEN_BASED_CONTROL", "NOT_CONTROLABLE"])
    assert s.device.control_type.value == "DEMAND_DRIVEN_BASED_CONTROL"
    assert statuses(s.handle_frame(hp.system_description(T0).to_json())) == ["OK"]
    rev = s.device.revision
    m = hp.machines[hp.hp_id]
    frames = [
        msg("DDBC.ActuatorStatus", actuator_id=str(uuid.uuid4()), active_operation_mode_id=str(m.mode),
            operation_mode_factor=0.0),
        msg("DDBC.ActuatorStatus", actuator_id=str(hp.hp_id), active_operation_mode_id=str(uuid.uuid4()),
            operation_mode_factor=0.0),
        msg("DDBC.TimerStatus", actuator_id=str(hp.hp_id), timer_id=str(uuid.uuid4()), finished_at=T0.isoformat()),
        msg("RevokeObject", object_type="DDBC.SystemDescription", object_id=str(uuid.uuid4())),
        msg("OMBC.Status", active_operation_mode_id=str(m.mode), operation_mode_factor=0.0),  # another type
    ]  # fmt: skip
    got = [statuses(s.handle_frame(f)) for f in frames]
    assert got == [["INVALID_CONTENT"]] * 4 + [["PERMANENT_ERROR"]]
    assert s.device.revision == rev and not s.device.ddbc.actuator_status
    ok = msg("DDBC.ActuatorStatus", actuator_id=str(hp.hp_id), active_operation_mode_id=str(m.mode),
             operation_mode_factor=0.0)  # fmt: skip
    assert statuses(s.handle_frame(ok)) == ["OK"]


def test_hybrid_heatpump_end_to_end() -> None:
    prices = [50, 40, 30, 20, 160, 200, 220, 250]
    cem, sim, frames = run(run_device("hybrid-heatpump", gas_site(prices, 40.0)), timeout_s=40)
    hp = sim.device
    assert isinstance(hp, HybridHeatPump)
    assert cem.plans >= 2 and cem.last_error is None
    assert hp.violations == []
    total = hp.heat_hp_kwh + hp.heat_boiler_kwh
    assert total > 10.0
    assert hp.unmet_kwh < 0.05 * total and hp.over_kwh < 0.05 * total  # the demand was met
    assert hp.heat_hp_kwh > 0 and hp.heat_boiler_kwh > 0  # both carriers used (the 12 kW peak)
    assert_all_valid(frames)
    assert sent(frames, "DDBC.Instruction")
    assert json.loads(frames[0])["message_type"] == "Handshake"
