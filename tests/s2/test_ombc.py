"""OMBC (CHP): mapping onto the site optimiser, transitions and timers, references, end to end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import numpy as np
import pytest
from s2python.common import Duration, Timer
from s2python.generated.gen_s2 import ID
from s2python.ombc import OMBCStatus, OMBCSystemDescription, OMBCTimerStatus

from gridflex.s2.control.ddbc import DdbcState
from gridflex.s2.control.ombc import OmbcAsset, OmbcState
from gridflex.s2.planner import PlanRequest, WarmModel, plan_site
from gridflex.s2.rm.sim_devices import CHP, HybridHeatPump
from gridflex.scheduling import Site
from tests.s2.helpers import msg, run
from tests.s2.modes_helpers import (
    CHP_HEAT_W,
    T0,
    assert_all_valid,
    chp_with_heat,
    chp_without_heat,
    gas_site,
    heat_site,
    run_device,
    sent,
    session,
    statuses,
)


def _state(
    chp: CHP,
    mode: uuid.UUID,
    timers: dict[uuid.UUID, datetime] | None = None,
    sd: OMBCSystemDescription | None = None,
    factor: float = 0.0,
) -> OmbcState:
    st = OmbcState()
    st.apply(sd or chp.system_description(T0))
    st.apply(OMBCStatus(message_id=uuid.uuid4(), active_operation_mode_id=ID(str(mode)), operation_mode_factor=factor,
                        previous_operation_mode_id=None, transition_timestamp=None))  # fmt: skip
    for tid, until in (timers or {}).items():
        st.apply(OMBCTimerStatus(message_id=uuid.uuid4(), timer_id=tid, finished_at=until))
    return st


def _plan(st: OmbcState, prices: Sequence[float]) -> list:
    a = st.asset("chp", T0, 900, len(prices), T0)
    assert a is not None
    req = PlanRequest(T0, 900, len(prices))
    req.extra.append(a)
    plan = plan_site(gas_site(prices), req)
    return st.messages(plan.extra["chp/ombc"], T0, T0, {}, 20)


def check_rules(chp: CHP, start_mode: uuid.UUID, instructions: list, timers: dict | None = None) -> None:
    """Independent check: every change is a declared transition, none while a blocking timer runs."""
    sd = chp.system_description(T0)
    dur = {t.id: timedelta(milliseconds=t.duration.root) for t in sd.timers}
    until = dict(timers or {})
    mode = start_mode
    for ins in sorted(instructions, key=lambda i: i.execution_time):
        new = uuid.UUID(str(ins.operation_mode_id))
        if new == mode:
            continue
        tr = [t for t in sd.transitions if t.from_ == mode and t.to == new]
        assert tr, f"no transition {mode} -> {new}"
        for b in tr[0].blocking_timers:
            assert until.get(b, T0 - timedelta(days=1)) <= ins.execution_time, "blocked by a running timer"
        for b in tr[0].start_timers:
            until[b] = ins.execution_time + dur[b]
        mode = new


@pytest.mark.parametrize(
    ("prices", "expect"),
    [
        ([100] * 8, ["low", "full"]),  # off -> full only through low
        ([100, 100, 20, 20, 20, 100, 100, 100], ["low", "off", "low", "full"]),  # min on / min off honoured
        ([20] * 8, []),  # never worth it
    ],
)
def test_mode_choice_follows_transitions_and_timers(prices: list[float], expect: list[str]) -> None:
    chp = CHP()
    ins = _plan(_state(chp, chp.off), prices)
    label = {chp.off: "off", chp.low: "low", chp.full: "full"}
    assert [label[uuid.UUID(str(i.operation_mode_id))] for i in ins] == expect
    check_rules(chp, chp.off, ins)


def test_running_timer_blocks_the_transition() -> None:
    chp = CHP()
    blocked = {chp.t_off: T0 + timedelta(minutes=40)}  # switched off at T0 - 20 min: min-off runs
    ins = _plan(_state(chp, chp.off, blocked), [100] * 8)
    assert ins and ins[0].execution_time >= T0 + timedelta(minutes=40)
    assert ins[0].execution_time == T0 + timedelta(minutes=45)  # the first period boundary after it
    check_rules(chp, chp.off, ins, blocked)


def test_unknown_references_are_invalid_content() -> None:
    chp = CHP()
    s = session(["OPERATION_MODE_BASED_CONTROL", "NOT_CONTROLABLE"])
    assert s.device.control_type.value == "OPERATION_MODE_BASED_CONTROL"
    assert statuses(s.handle_frame(chp.system_description(T0).to_json())) == ["OK"]
    rev = s.device.revision
    bad_sd = json.loads(chp.system_description(T0).to_json())
    bad_sd["transitions"][0]["to"] = str(uuid.uuid4())
    frames = [
        msg("OMBC.Status", active_operation_mode_id=str(uuid.uuid4()), operation_mode_factor=0.0),
        msg("OMBC.TimerStatus", timer_id=str(uuid.uuid4()), finished_at=T0.isoformat()),
        json.dumps({**bad_sd, "message_id": str(uuid.uuid4())}),
        msg("RevokeObject", object_type="OMBC.SystemDescription", object_id=str(uuid.uuid4())),
    ]
    assert [statuses(s.handle_frame(f)) for f in frames] == [["INVALID_CONTENT"]] * 4
    assert s.device.revision == rev and s.device.ombc.status is None and not s.device.ombc.timers_finish
    ok = msg("OMBC.Status", active_operation_mode_id=str(chp.low), operation_mode_factor=0.0)
    assert statuses(s.handle_frame(ok)) == ["OK"]


def test_chp_end_to_end() -> None:
    cem, sim, frames = run(run_device("chp", gas_site([100] * 8)), timeout_s=40)
    chp = sim.device
    assert isinstance(chp, CHP)
    assert cem.plans >= 2 and cem.last_error is None
    assert chp.violations == []  # the RM never had to refuse a transition or a timer
    label = {chp.off: "off", chp.low: "low", chp.full: "full"}
    assert [label[m] for _, m, _ in chp.m.history] == ["low", "full"]  # off -> low -> full
    assert chp.produced_kwh > 5.0  # 2 h: mostly at 5 kW
    assert_all_valid(frames)
    assert sent(frames, "OMBC.Instruction")


def test_a_mode_without_modulation_ignores_the_factor() -> None:
    """The CHP's modes are fixed points: a reported factor (0.6) is no reason for an instruction."""
    chp = CHP()
    assert _plan(_state(chp, chp.full, factor=0.6), [150] * 8) == []  # full all along: nothing to send


# ── heat (HEAT.THERMAL_POWER) on the site's heat bus ──────────────────────────────────────────


class HeatPlan(NamedTuple):
    asset: OmbcAsset
    modes: list[str]  # the planned mode per period
    vent: np.ndarray | None  # heat vented per period (kW); None: the CHP's heat is not on a bus
    heat: dict[str, np.ndarray]  # asset → kW taken from the site's heat bus
    produced: np.ndarray  # the CHP's heat per period from its planned modes (kW, >= 0)
    buses: list[str]  # the site model's balances

    @property
    def hours_on(self) -> float:
        return sum(m != "off" for m in self.modes) * 0.25


def _heat_plan(site: Site, prices: Sequence[float], with_heat: bool = True) -> HeatPlan:
    """Plan the CHP (with heat ranges, unless not ``with_heat``) on ``site``."""
    chp = CHP()
    st = _state(chp, chp.off, sd=chp_with_heat(chp, T0) if with_heat else chp_without_heat(chp, T0))
    a = st.asset("chp", T0, 900, len(prices), T0)
    assert a is not None
    req = PlanRequest(T0, 900, len(prices), warm=WarmModel())
    req.extra.append(a)
    asset = plan_site(site, req).extra["chp/ombc"]
    assert req.warm is not None and req.warm.sm is not None
    assert asset._decision is not None and asset._spec is not None
    sm, sol = req.warm.sm, req.warm.solution[-1]
    flows = {name: b.read(sol).power_kw for name, b in sm.built.items()}
    heat = {name: f["heat"] for name, f in flows.items() if "heat" in f}
    label = {chp.off: "off", chp.low: "low", chp.full: "full"}
    modes = [label[asset._spec.modes[int(k)].mode_id] for k in asset._decision[0]]
    produced = np.array([-CHP_HEAT_W[m] / 1000.0 for m in modes])
    return HeatPlan(asset, modes, asset._vent_kw, heat, produced, sorted(sm.balance))


def _assert_heat_balance(hp: HeatPlan) -> None:
    """Heat demand = boiler heat + CHP heat − vent in every period; the vent only vents the CHP's heat."""
    assert hp.vent is not None
    demand = hp.heat.get("heat-load", np.zeros(hp.produced.size))
    boiler = -hp.heat.get("gas-boiler", np.zeros(hp.produced.size))
    assert np.allclose(demand, boiler + hp.produced - hp.vent, atol=1e-6)
    assert (hp.vent >= -1e-9).all() and (hp.vent <= hp.produced + 1e-6).all()
    assert np.allclose(hp.heat["chp/ombc"], -hp.produced + hp.vent, atol=1e-6)  # the CHP's net heat


def test_chp_heat_displaces_boiler_gas() -> None:
    """At 70 EUR/MWh the CHP loses money on electricity alone (gas 40 EUR/MWh: break-even about
    113 EUR/MWh) but earns when its heat saves boiler gas (about 52 EUR/MWh)."""
    prices = [40.0, 40, 70, 70, 70, 70, 70, 70]
    used = _heat_plan(heat_site(prices, 10.0), prices)
    unused = _heat_plan(heat_site(prices, None), prices)  # a heat bus (the boiler), no heat load
    assert "heat@site" in used.buses and "heat@site" in unused.buses
    assert used.hours_on >= 1.0 and unused.hours_on == 0.0
    assert used.hours_on > unused.hours_on
    _assert_heat_balance(used)
    _assert_heat_balance(unused)
    assert used.vent is not None and np.allclose(used.vent, 0.0, atol=1e-6)  # 10 kW of demand: all used


def test_surplus_heat_is_vented_not_infeasible() -> None:
    """Electricity at 150 EUR/MWh: the CHP runs for its power; 1 kW of heat demand takes little of
    its heat and the rest goes to its cooler (the plan stays feasible)."""
    prices = [150.0] * 8
    hp = _heat_plan(heat_site(prices, 1.0), prices)
    assert hp.hours_on >= 1.5
    _assert_heat_balance(hp)
    assert hp.vent is not None and hp.vent.max() > 5.0  # 7 kW of heat, 1 kW used
    assert np.allclose(hp.heat["gas-boiler"][hp.produced >= 1.0], 0.0, atol=1e-6)  # no boiler then


def test_heat_is_left_out_without_a_heat_bus() -> None:
    """No heat bus in the site (no heat asset): the CHP's heat is ignored, as before, and the CEM
    does not create a heat bus with only the CHP on it."""
    prices = [60.0, 60, 100, 100, 100, 100, 100, 60]  # gas 25 EUR/MWh: break-even about 70 EUR/MWh
    hp = _heat_plan(gas_site(prices), prices)
    plain = _heat_plan(gas_site(prices), prices, with_heat=False)  # no heat ranges at all
    assert "heat" in hp.asset.carriers and hp.buses == plain.buses == ["electricity@site", "gas@site"]
    assert hp.heat == {} and hp.vent is None
    assert hp.modes == plain.modes and hp.hours_on >= 1.0


def test_reference_problems_are_shared_by_ombc_and_ddbc() -> None:
    """One check (``machine_problem`` / ``status_problem``) for an OMBC device and a DDBC actuator."""
    chp = CHP()
    sd = chp.system_description(T0)
    twin = sd.model_copy(deep=True)
    twin.timers.append(Timer(id=sd.timers[0].id, diagnostic_label="twin", duration=Duration(1000)))
    assert OmbcState().check(twin) == "timer ids are not unique"
    stray = uuid.uuid4()
    bad = sd.model_copy(deep=True)
    bad.transitions[0].to = stray
    assert (
        OmbcState().check(bad) == f"transition {bad.transitions[0].id} names unknown operation mode {stray}"
    )

    hp = HybridHeatPump()
    dsd = hp.system_description(T0)
    act = next(a for a in dsd.actuators if a.id == hp.hp_id)
    act.timers.append(act.timers[0].model_copy())
    assert DdbcState().check(dsd) == f"timer ids of actuator {hp.hp_id} are not unique"
    act.timers.pop()
    act.transitions[0].blocking_timers = [ID(str(stray))]
    tid = act.transitions[0].id
    assert DdbcState().check(dsd) == f"transition {uuid.UUID(str(tid.root))} names unknown timer {stray}"
