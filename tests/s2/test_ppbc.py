"""PPBC (washing machine): sequences, starts and interruptions in the site optimiser, end to end."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.s2.ppbc import PpbcState
from gridflex.s2.sim_devices import WashingMachine
from tests.s2.helpers import msg, run
from tests.s2.modes_helpers import T0, assert_all_valid, gas_site, run_device, sent, session, statuses


def check_programme(definition: dict, instructions: list[dict]) -> dict:
    """Independent check of the PPBC instructions against the definition: order, durations, pauses
    within ``max_pause_before`` (inside interruptible sequences and between containers), window."""
    t = lambda s: __import__("datetime").datetime.fromisoformat(s)  # noqa: E731
    by_cont: dict[str, list[dict]] = {}
    for ins in instructions:
        by_cont.setdefault(ins["sequence_container_id"], []).append(ins)
    prev_end = None
    pauses = 0
    for cont in definition["power_sequences_containers"]:
        mine = sorted(by_cont.get(cont["id"], []), key=lambda i: t(i["execution_time"]))
        sched = [i for i in mine if i["message_type"] == "PPBC.ScheduleInstruction"]
        assert len(sched) == 1, "one schedule instruction per container"
        seq = next(s for s in cont["power_sequences"] if s["id"] == sched[0]["power_sequence_id"])
        assert all(i["power_sequence_id"] == seq["id"] for i in mine)
        start = t(sched[0]["execution_time"])
        assert start >= t(definition["start_time"])
        max_pause = timedelta(milliseconds=seq["max_pause_before"])
        if prev_end is not None:
            assert prev_end <= start <= prev_end + max_pause, "containers in order, pause within max"
        stops = [
            t(i["execution_time"]) for i in mine if i["message_type"] == "PPBC.StartInterruptionInstruction"
        ]
        goes = [
            t(i["execution_time"]) for i in mine if i["message_type"] == "PPBC.EndInterruptionInstruction"
        ]
        assert len(stops) == len(goes)
        assert not stops or seq["is_interruptible"], "only interruptible sequences pause"
        paused = timedelta()
        for a, b in zip(stops, goes, strict=True):
            assert start < a < b and b - a <= max_pause
            paused += b - a
            pauses += 1
        prev_end = start + timedelta(milliseconds=sum(e["duration"] for e in seq["elements"])) + paused
        for a in stops:
            assert a < prev_end
    assert prev_end is not None and prev_end <= t(definition["end_time"])
    return {"pauses": pauses}


def _plan(prices: list[float]) -> tuple[WashingMachine, dict, list[dict]]:
    wm = WashingMachine(window_s=len(prices) * 900.0)
    st = PpbcState()
    st.apply(wm.definition(T0))
    a = st.asset("wm", T0, 900, len(prices), T0)
    assert a is not None
    req = PlanRequest(T0, 900, len(prices))
    req.extra.append(a)
    plan = plan_site(gas_site(prices), req)
    ins = st.messages(plan.extra["wm/ppbc"], T0, T0 - timedelta(seconds=1), {})
    return wm, json.loads(wm.definition(T0).to_json()), [json.loads(i.to_json()) for i in ins]


def test_interruptible_sequences_pause_in_expensive_periods() -> None:
    wm, definition, ins = _plan([20, 90, 20, 90, 20, 90, 20, 20])
    assert check_programme(definition, ins)["pauses"] >= 1
    types = {i["message_type"] for i in ins}
    assert {"PPBC.ScheduleInstruction", "PPBC.StartInterruptionInstruction",
            "PPBC.EndInterruptionInstruction"} <= types  # fmt: skip
    eco = next(sid for sid, s in wm.containers[0].sequences.items() if s[0] == "eco")
    assert ins[0]["power_sequence_id"] == str(eco)  # the longer, leaner sequence that may pause


def test_cheapest_start_without_pauses_when_prices_are_smooth() -> None:
    _, definition, ins = _plan([90, 90, 90, 20, 20, 20, 20, 90])
    assert check_programme(definition, ins)["pauses"] == 0
    first = min(i["execution_time"] for i in ins)
    assert first == (T0 + timedelta(minutes=45)).isoformat().replace("+00:00", "Z")


def test_profile_that_does_not_fit_gives_no_plan() -> None:
    wm = WashingMachine(window_s=2 * 900.0)  # four periods of work, two periods of window
    st = PpbcState()
    st.apply(wm.definition(T0))
    assert st.asset("wm", T0, 900, 8, T0) is None


def test_unknown_references_are_invalid_content() -> None:
    wm = WashingMachine()
    s = session(["POWER_PROFILE_BASED_CONTROL"])
    assert statuses(s.handle_frame(wm.definition(T0).to_json())) == ["OK"]
    rev = s.device.revision
    good = json.loads(wm.status_message().to_json())
    frames = []
    for key in ("power_profile_id", "sequence_container_id", "selected_sequence_id"):
        bad = json.loads(json.dumps(good))
        bad["sequence_container_status"][0][key] = str(uuid.uuid4())
        frames.append(json.dumps({**bad, "message_id": str(uuid.uuid4())}))
    frames.append(msg("RevokeObject", object_type="PPBC.PowerProfileDefinition", object_id=str(uuid.uuid4())))
    assert [statuses(s.handle_frame(f)) for f in frames] == [["INVALID_CONTENT"]] * 4
    assert s.device.revision == rev and s.device.ppbc.status == {}
    assert statuses(s.handle_frame(json.dumps({**good, "message_id": str(uuid.uuid4())}))) == ["OK"]
    # the definition can be revoked by its id
    rv = msg("RevokeObject", object_type="PPBC.PowerProfileDefinition", object_id=str(wm.profile_id))
    assert statuses(s.handle_frame(rv)) == ["OK"] and s.device.ppbc.definition is None


def test_washing_machine_end_to_end() -> None:
    cem, sim, frames = run(
        run_device("washing-machine", gas_site([50, 20, 90, 20, 20, 90, 20, 100])), timeout_s=40
    )
    wm = sim.device
    assert isinstance(wm, WashingMachine)
    assert cem.plans >= 2 and cem.last_error is None
    assert wm.done and wm.violations == []  # the programme finished without breaking a rule
    assert abs(wm.energy_kwh - 0.7625) < 0.1  # physically consistent: the chosen sequences' energy
    assert_all_valid(frames)
    live = {i.id for i in sim.received} - {uuid.UUID(r["object_id"]) for r in sent(frames, "RevokeObject")}
    kept = [json.loads(i.to_json()) for i in sim.received if i.id in live]
    definition = json.loads(wm.definition(T0).to_json())
    check_programme(definition, kept)
