"""DDBC (hybrid heat pump): the demand met by electricity or gas, references, end to end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

import numpy as np
from s2python.ddbc import DDBCActuatorStatus

from gridflex.s2.control.ddbc import DdbcAsset, DdbcState
from gridflex.s2.planner import PlanRequest, WarmModel, plan_site
from gridflex.s2.rm.sim_devices import HybridHeatPump
from gridflex.scheduling import Site, parse_site
from tests.s2.helpers import msg, run
from tests.s2.modes_helpers import (
    T0,
    assert_all_valid,
    gas_site,
    heat_site,
    hot_water_tank,
    run_device,
    sent,
    session,
    statuses,
)


def _plan(prices: Sequence[float], gas: float = 40.0) -> tuple[HybridHeatPump, DdbcState, DdbcAsset]:
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
    assert a._supply is not None and a._decision is not None
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


def _solve(
    site: Site, st: DdbcState, n: int
) -> tuple[DdbcAsset, np.ndarray, dict[str, dict[str, np.ndarray]], list[str]]:
    """Plan one DDBC device on ``site``: the asset, its supply, every asset's flows (kW by carrier),
    the site model's buses."""
    a = st.asset("dev", T0, 900, n, T0)
    assert a is not None
    req = PlanRequest(T0, 900, n, warm=WarmModel())
    req.extra.append(a)
    plan = plan_site(site, req)
    assert req.warm is not None and req.warm.sm is not None
    sm, sol = req.warm.sm, req.warm.solution[-1]
    flows = {k: b.read(sol).power_kw for k, b in sm.built.items()}
    solved = plan.extra["dev/ddbc"]
    assert solved._supply is not None
    return solved, solved._supply, flows, sorted(sm.balance)


def test_demand_stays_in_the_device_and_gas_comes_from_the_added_connection() -> None:
    """A site with a heat bus (3 kW of heat from an electric boiler) and no gas connection: the CEM
    adds one for the hybrid heat pump's boiler, all its gas comes from there, and its demand (the
    house's heat, met by its own actuators) is not on the site's heat bus."""
    prices = [50, 40, 30, 20, 160, 200, 220, 250]
    site = parse_site({
        "name": "no-gas", "time": {"start": T0.isoformat(), "step_s": 900, "n_periods": len(prices)},
        "prices": {"day_ahead_eur_per_mwh": prices},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 25},
                   {"kind": "converter", "name": "e-boiler", "input_carrier": "electricity",
                    "outputs": {"heat": 0.99}, "input_max_kw": 10},
                   {"kind": "load", "name": "heat-load", "carrier": "heat", "profile_kw": 3.0}],
    })  # fmt: skip
    hp = HybridHeatPump()
    hp.started = T0
    st = DdbcState()
    st.apply(hp.system_description(T0))
    st.apply(hp.forecast(T0))
    _, supply, flows, buses = _solve(site, st, len(prices))
    assert buses == ["electricity@site", "gas@site", "heat@site"]
    assert np.allclose(flows["s2-gas"]["gas"], flows["dev/ddbc"]["gas"], atol=1e-6)  # one gas carrier
    assert flows["dev/ddbc"]["gas"].max() > 1.0  # the boiler runs at 160+ EUR/MWh
    assert np.allclose(-flows["e-boiler"]["heat"], 3.0, atol=1e-6)  # the site's heat: only its own load
    assert "heat" not in flows["dev/ddbc"]
    assert np.allclose(supply, hp.demand_kw, atol=1e-6)  # the device's demand met by its actuators


def test_a_heat_actuator_takes_heat_from_the_site_heat_bus() -> None:
    """A hot-water tank (DDBC) with a heat exchanger on the site's heat network (HEAT.THERMAL_POWER)
    and an electric heater: the exchanger's heat costs boiler gas (40 / 0.92 = 43 EUR/MWh), so cheap
    electricity (20) heats electrically and dear electricity (100) uses the exchanger."""
    prices = [20, 20, 20, 20, 100, 100, 100, 100]
    st = DdbcState()
    st.apply(hot_water_tank(T0, demand_kw=6.0))
    a, supply, flows, buses = _solve(heat_site(prices, 2.0), st, len(prices))
    assert "heat@site" in buses
    assert np.allclose(supply, 6.0, atol=1e-6)
    heat_taken, elec = flows["dev/ddbc"]["heat"], flows["dev/ddbc"]["electricity"]
    assert np.allclose(heat_taken, [0, 0, 0, 0, 6, 6, 6, 6], atol=1e-6)
    assert np.allclose(elec, [6, 6, 6, 6, 0, 0, 0, 0], atol=1e-6)
    assert np.allclose(-flows["gas-boiler"]["heat"], 2.0 + heat_taken, atol=1e-6)  # the site's heat balance
    assert a._vent_kw is None  # it only takes heat: no vent
    # without a heat bus the exchanger's heat is left out, as before: to the plan it is free
    _, supply0, flows0, buses0 = _solve(gas_site(prices), st, len(prices))
    assert "heat@site" not in buses0 and "heat" not in flows0["dev/ddbc"]
    assert np.allclose(supply0, 6.0, atol=1e-6)
    assert np.allclose(flows0["dev/ddbc"]["electricity"], 0.0, atol=1e-6)
