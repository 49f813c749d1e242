"""OMBC (CHP): mapping onto the site optimiser, transitions and timers, references, end to end."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest
from s2python.ombc import OMBCStatus, OMBCTimerStatus

from gridflex.s2.ombc import OmbcState
from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.s2.sim_devices import CHP
from tests.s2.helpers import msg, run
from tests.s2.modes_helpers import T0, assert_all_valid, gas_site, run_device, sent, session, statuses


def _state(chp: CHP, mode: uuid.UUID, timers: dict[uuid.UUID, datetime] | None = None) -> OmbcState:
    st = OmbcState()
    st.apply(chp.system_description(T0))
    st.apply(OMBCStatus(message_id=uuid.uuid4(), active_operation_mode_id=str(mode), operation_mode_factor=0.0,
                        previous_operation_mode_id=None, transition_timestamp=None))  # fmt: skip
    for tid, until in (timers or {}).items():
        st.apply(OMBCTimerStatus(message_id=uuid.uuid4(), timer_id=tid, finished_at=until))
    return st


def _plan(st: OmbcState, prices: list[float]) -> list:
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
