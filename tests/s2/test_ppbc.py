"""PPBC (washing machine): sequences, starts and interruptions in the site optimiser, end to end."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from s2python.common import InstructionStatus
from s2python.generated.gen_s2 import PPBCPowerSequenceStatus

from gridflex.s2.control.ppbc import PpbcAsset, PpbcState
from gridflex.s2.planner import Plan, PlanRequest, plan_site
from gridflex.s2.protocol import InstructionRecord
from gridflex.s2.rm.sim_devices import WashingMachine, _Container
from gridflex.s2.rm.simulators import Simulator
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, msg, run, start_cem
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


# ── re-planning a started programme ─────────────────────────────────────────────────────────────

Seq = tuple[str, list[tuple[float, float]], bool, float]  # label, elements (s, W), interruptible, max pause s


class Harness:
    """The CEM's side of one PPBC device without sockets (asset → plan → messages, the device's
    instruction records as the server keeps them) and the simulated machine as its RM: it runs the
    instructions at their execution times, reports InstructionStatusUpdates and its status, and
    integrates its energy second by second."""

    def __init__(self, *containers: Seq, n: int = 8) -> None:
        self.wm = WashingMachine(window_s=n * 900.0)
        self.wm.containers = [_Container(uuid.uuid4(), {uuid.uuid4(): c}) for c in containers]
        self.definition = self.wm.definition(T0)
        self.st = PpbcState()
        self.st.apply(self.definition)
        self.records: dict[uuid.UUID, InstructionRecord] = {}
        self.t = T0
        self.asset: PpbcAsset | None = None
        self.plan: Plan | None = None

    def replan(self, prices: list[float], now: datetime, delay_s: float = 1.0, import_kw: list[float] | None = None,
               rolling: bool = False, solve_s: float = 0.0) -> list[Any]:  # fmt: skip
        """One plan at ``now`` on the horizon from T0 (prices per period from there), or from the
        current period (``rolling``, as the CEM does); the machine runs on for ``solve_s`` before the
        plan's messages are made. Returns what the CEM sends."""
        earliest = now + timedelta(seconds=delay_s)
        start = T0 + timedelta(seconds=max((now - T0).total_seconds() // 900, 0) * 900) if rolling else T0
        a = self.st.asset("wm", start, 900, len(prices), earliest)
        if a is None:
            assert rolling
            return []
        req = PlanRequest(start, 900, len(prices))
        req.extra.append(a)
        if import_kw is not None:
            req.import_limit_kw = np.array(import_kw, dtype=float)
        self.plan = plan_site(gas_site(prices), req)
        self.asset = self.plan.extra["wm/ppbc"]
        if solve_s:
            self.run_until(now + timedelta(seconds=solve_s))
            now, earliest = self.t, self.t + timedelta(seconds=delay_s)
        out = self.st.messages(self.asset, earliest, now, self.records)
        for m in out:
            if m.message_type.endswith("Instruction"):
                self.records[m.id] = InstructionRecord(m, InstructionStatus.ACCEPTED)
        return out

    def run_until(self, until: datetime) -> None:
        """The machine runs (and executes what is due) until ``until``; its status goes to the CEM."""
        while self.t < until:
            for rec in sorted(self.records.values(), key=lambda r: r.instruction.execution_time):
                if rec.status == InstructionStatus.ACCEPTED and rec.instruction.execution_time <= self.t:
                    rec.status = self.wm.execute(rec.instruction, rec.instruction.execution_time)
            self.wm.step(self.t, 1.0)
            self.t += timedelta(seconds=1)
        self.st.apply(self.wm.status_message())

    def live(self) -> list[dict]:
        """What the RM runs: the instructions sent and not revoked (JSON), for check_programme."""
        return [json.loads(r.instruction.to_json()) for r in self.records.values()
                if r.status != InstructionStatus.REVOKED]  # fmt: skip

    def energy_kwh(self) -> float:
        return sum(d * w for c in self.wm.containers for _, els, _, _ in c.sequences.values()
                   for d, w in els) / 3.6e6  # fmt: skip


def kinds(out: list[Any], cid: uuid.UUID | None = None) -> list[tuple[str, datetime]]:
    return [(m.message_type.removeprefix("PPBC."), m.execution_time) for m in out
            if m.message_type != "RevokeObject" and (cid is None or m.sequence_container_id == cid)]  # fmt: skip


def test_replan_moves_the_next_container_and_resends_only_what_changed() -> None:
    h = Harness(("pre", [(900, 1000), (900, 1000)], False, 900.0), ("main", [(900, 2000)], False, 3600.0))
    c1, c2 = (c.cid for c in h.wm.containers)
    before = T0 - timedelta(seconds=1)
    out = h.replan([20, 20, 30, 90, 90, 90, 90, 90], before)
    assert kinds(out) == [("ScheduleInstruction", T0), ("ScheduleInstruction", T0 + timedelta(minutes=30))]
    old = next(m.id for m in out if m.sequence_container_id == c2)
    h.run_until(T0 + timedelta(minutes=5))
    assert h.st.status[c1].status.value == "EXECUTING"
    # the same prices again: the pending instruction stays, nothing is revoked or resent
    assert h.replan([20, 20, 30, 90, 90, 90, 90, 90], h.t) == []
    # a cheaper hour later: the second container moves (within its max_pause_before after the first)
    out = h.replan([20, 20, 90, 90, 30, 90, 90, 90], h.t)
    assert [m.object_id for m in out if m.message_type == "RevokeObject"] == [old]
    assert kinds(out) == [("ScheduleInstruction", T0 + timedelta(minutes=60))]
    assert kinds(out, c1) == []  # the running container is not touched
    assert h.records[old].status == InstructionStatus.REVOKED
    h.run_until(T0 + timedelta(hours=2, minutes=1))
    assert h.wm.done and h.wm.violations == []
    assert abs(h.wm.energy_kwh - h.energy_kwh()) < 1e-3
    check_programme(json.loads(h.definition.to_json()), h.live())


WASH: Seq = ("wash", [(900, 1000), (900, 2000), (900, 2000), (900, 1000)], True, 1800.0)
RISING: list[float] = [20, 21, 22, 23, 24, 25, 26, 27]


@pytest.mark.parametrize(
    ("prices", "limit", "expect"),
    [  # a price spike in the current and the next period: pause now (now + delay), resume at 00:45
        ([20, 200, 200, 22, 23, 24, 25, 26], None, [("StartInterruptionInstruction", timedelta(minutes=20, seconds=1)),
                                                    ("EndInterruptionInstruction", timedelta(minutes=45))]),
        # a congestion limit in the next two periods: run on to 00:30, resume 30 min later (its maximum)
        (RISING, [np.inf, np.inf, 1.5, 1.5, np.inf, np.inf, np.inf, np.inf],
         [("StartInterruptionInstruction", timedelta(minutes=30)), ("EndInterruptionInstruction", timedelta(minutes=60))]),
    ],
)  # fmt: skip
def test_running_interruptible_sequence_pauses_and_keeps_its_energy(
    prices: list[float], limit: list[float] | None, expect: list[tuple[str, timedelta]]
) -> None:
    h = Harness(WASH)
    out = h.replan(RISING, T0 - timedelta(seconds=1))
    assert kinds(out) == [("ScheduleInstruction", T0)]  # rising prices: at once, without pauses
    h.run_until(T0 + timedelta(minutes=20))
    out = h.replan(prices, h.t, import_kw=limit)
    assert kinds(out) == [(k, T0 + dt) for k, dt in expect]
    (a, b) = (t for _, t in kinds(out))
    assert b - a <= timedelta(seconds=WASH[3])  # the pause within max_pause_before
    assert h.asset is not None and h.asset._power_kw is not None and h.plan is not None
    # every step is still delivered: the planned energy (done + remaining) is the sequence's energy
    assert abs(h.asset._power_kw.sum() * 0.25 - h.energy_kwh()) < 1e-9
    if limit is not None:
        assert (h.plan.net_import_kw <= np.array(limit) + 1e-6).all()
    # a re-plan on the same data changes nothing
    h.run_until(h.t + timedelta(seconds=30))
    assert h.replan(prices, h.t, import_kw=limit) == []
    h.run_until(T0 + timedelta(hours=2, minutes=1))
    assert h.wm.done and h.wm.violations == []
    assert h.wm.containers[0].paused_s == (b - a).total_seconds()
    assert abs(h.wm.energy_kwh - h.energy_kwh()) < 1e-3
    check_programme(json.loads(h.definition.to_json()), h.live())


def test_interrupted_sequence_resumes_earlier_when_prices_drop() -> None:
    h = Harness(WASH)
    h.replan([20, 21, 200, 200, 24, 25, 26, 27], T0 - timedelta(seconds=1))  # pause 00:30 – 01:00
    h.run_until(T0 + timedelta(minutes=35))
    assert h.st.status[h.wm.containers[0].cid].status.value == "INTERRUPTED"
    out = h.replan([20, 21, 200, 22, 24, 25, 26, 27], h.t)
    assert [m.message_type for m in out] == ["RevokeObject", "PPBC.EndInterruptionInstruction"]
    assert kinds(out) == [("EndInterruptionInstruction", T0 + timedelta(minutes=45))]
    h.run_until(T0 + timedelta(hours=2, minutes=1))
    assert h.wm.done and h.wm.violations == [] and h.wm.containers[0].paused_s == 900.0


@settings(max_examples=25, deadline=None)
@given(
    prices=st.lists(st.floats(-50.0, 300.0, allow_nan=False), min_size=8, max_size=8),
    minutes=st.integers(1, 44),
)
def test_running_sequence_that_is_not_interruptible_is_never_interrupted(
    prices: list[float], minutes: int
) -> None:
    h = Harness(("heat", [(900, 1500), (900, 500), (900, 1500)], False, 900.0),
                ("rinse", [(900, 800), (900, 400)], True, 1800.0))  # fmt: skip
    heat = h.wm.containers[0].cid
    h.replan([0, 0, 0, 50, 50, 50, 50, 50], T0 - timedelta(seconds=1))
    h.run_until(T0 + timedelta(minutes=minutes))
    out = h.replan(prices, h.t)
    assert kinds(out, heat) == []  # neither paused nor scheduled again
    assert h.asset is not None and h.asset._power_kw is not None
    assert (h.asset._power_kw[:3] >= np.array([1.5, 0.5, 1.5]) - 1e-9).all()  # its power stays as it runs
    assert abs(h.asset._power_kw.sum() * 0.25 - h.energy_kwh()) < 1e-9
    h.run_until(T0 + timedelta(hours=2, minutes=1))
    assert h.wm.done and h.wm.violations == []
    assert h.wm.containers[0].paused_s == 0.0
    check_programme(json.loads(h.definition.to_json()), h.live())


def test_pause_now_sent_late_moves_the_next_container_with_it() -> None:
    """The solve takes 60 s: the pause starts 60 s after the planned time, so the heating ends 60 s
    earlier than planned, and the next container (max pause 300 s) starts 60 s earlier too."""
    h = Harness(
        ("a", [(900, 1000), (900, 2000), (450, 1000)], True, 1800.0), ("b", [(900, 500)], False, 300.0)
    )
    out = h.replan(RISING, T0 - timedelta(seconds=1))
    # "a" ends at 00:37:30, inside a period: "b" starts 300 s later, not at the next period start
    assert kinds(out) == [
        ("ScheduleInstruction", T0),
        ("ScheduleInstruction", T0 + timedelta(minutes=42, seconds=30)),
    ]
    h.run_until(T0 + timedelta(minutes=20))
    out = h.replan([20, 200, 22, 23, 24, 25, 26, 27], h.t, solve_s=60)
    assert kinds(out) == [("StartInterruptionInstruction", T0 + timedelta(minutes=21, seconds=1)),
                          ("EndInterruptionInstruction", T0 + timedelta(minutes=30)),
                          ("ScheduleInstruction", T0 + timedelta(minutes=51, seconds=29))]  # fmt: skip
    h.run_until(T0 + timedelta(hours=2))
    assert h.wm.done and h.wm.violations == []


def test_sequence_whose_deadline_passes_while_solving_is_not_sent() -> None:
    """After the first container, "s" (max pause 300 s) is in time when the plan starts but not
    when it is ready (a 300 s solve): the CEM sends nothing, and the pending "l" stays."""
    h = Harness(("a", [(900, 1000)], False, 900.0), ("s", [(900, 500)], False, 300.0))
    h.wm.containers[1].sequences[uuid.uuid4()] = ("l", [(900, 2000)], False, 3600.0)
    h.definition = h.wm.definition(T0)
    h.st.apply(h.definition)
    out = h.replan([20, 200, 200, -100, 20, 20, 20, 20], T0 - timedelta(seconds=1))
    assert [h.wm.containers[i].sequences[m.power_sequence_id][0] for i, m in enumerate(out)] == ["a", "l"]
    h.run_until(T0 + timedelta(minutes=16))
    assert h.replan([20, 20, 20, 300, 20, 20, 20, 20], h.t, solve_s=300) == []
    h.replan([20, 20, 20, 300, 20, 20, 20, 20], h.t)  # "s" is late now: "l", moved off the dear period
    h.run_until(T0 + timedelta(hours=2))
    assert h.wm.done and h.wm.violations == []


@pytest.mark.parametrize("interrupted", [False, True])
def test_started_container_without_a_record_is_taken_from_the_rm_status(interrupted: bool) -> None:
    """A CEM that has no record of the running container (e.g. after its restart) takes the RM's
    status: EXECUTING or INTERRUPTED now, with all of the sequence still to do."""
    h = Harness(WASH)
    h.replan(RISING, T0 - timedelta(seconds=1))
    h.run_until(T0 + timedelta(minutes=20))
    if interrupted:
        h.wm.containers[0].status, h.wm.containers[0].pause_from = PPBCPowerSequenceStatus.INTERRUPTED, h.t
    fresh = PpbcState()
    fresh.apply(h.definition)
    fresh.apply(h.wm.status_message())
    a = fresh.asset("wm", T0, 900, 8, h.t + timedelta(seconds=1))
    assert a is not None and not a._frozen and len(a._containers) == 1
    modes = {s.mode for s in a._containers[0]}
    assert modes == ({"paused"} if interrupted else {"run", "pause_now"})
    req = PlanRequest(T0, 900, 8)
    req.extra.append(a)
    plan = plan_site(gas_site(RISING), req)
    out = fresh.messages(plan.extra["wm/ppbc"], h.t + timedelta(seconds=1), h.t, {})
    assert all(m.message_type != "PPBC.ScheduleInstruction" for m in out)
    assert a._power_kw is not None and abs(a._power_kw.sum() * 0.25 - h.energy_kwh()) < 1e-9  # all, from now
    assert [m.message_type for m in out] == (["PPBC.EndInterruptionInstruction"] if interrupted else [])


def _random_sequence(rnd: random.Random, label: str) -> Seq:
    els = [(float(rnd.choice([300, 450, 600, 900, 1000, 1200, 1800])), float(rnd.choice([0, 200, 800, 1500, 2500])))
           for _ in range(rnd.randint(1, 4))]  # fmt: skip
    return label, els, rnd.random() < 0.6, float(rnd.choice([300, 600, 900, 1800, 2700, 3600]))


@pytest.mark.parametrize("seed", [0, 1, 3, 26, 122])  # 3, 26, 122 caught bugs of the first versions
def test_random_programmes_replanned_while_they_run_break_no_rule(seed: int) -> None:
    """Random programmes (1–3 containers, some with a choice of sequences; durations off the period
    grid), re-planned every 20 s – 15 min with random prices, congestion limits, processing delays
    and solve times, on a rolling horizon or not: the machine ends with no violation, all its energy."""
    rnd = random.Random(seed)
    h = Harness(*[_random_sequence(rnd, f"c{i}") for i in range(rnd.randint(1, 3))], n=14)
    for c in h.wm.containers:
        if rnd.random() < 0.4:
            c.sequences[uuid.uuid4()] = _random_sequence(rnd, "alt")
    h.definition = h.wm.definition(T0)
    h.st.apply(h.definition)
    rolling = seed % 2 == 1
    n, end = (8 if rolling else 14), T0 + timedelta(hours=3.5)
    while h.t < end:
        prices = [rnd.uniform(-20, 200) for _ in range(n)]
        limit = [rnd.choice([np.inf, np.inf, 1.2, 2.0]) for _ in range(n)] if rnd.random() < 0.5 else None
        h.replan(prices, h.t - timedelta(seconds=1) if h.t == T0 else h.t, rnd.choice([0.1, 1.0, 30.0]), limit,
                 rolling, rnd.choice([0, 0, 5, 60, 200]))  # fmt: skip
        h.run_until(h.t + timedelta(seconds=rnd.randint(20, 900)))
    h.run_until(end + timedelta(minutes=1))
    assert h.wm.violations == []
    if any(c.started for c in h.wm.containers):
        assert h.wm.done
        used = (
            sum(sum(d * w for d, w in c.sequences[c.selected][1]) for c in h.wm.containers if c.selected)
            / 3.6e6
        )
        assert abs(h.wm.energy_kwh - used) < 2e-3
        check_programme(json.loads(h.definition.to_json()), h.live())


async def _washing_machine_under_congestion(prices: list[float]) -> tuple[CEM, Simulator, list[str]]:
    """The real CEM and the washing-machine simulator over the socket; 2 simulated minutes after the
    heating sequence starts, a DSO limits the import to 1.2 kW in this period and the next."""
    cem, port, frames = await start_cem(gas_site(prices), 1800)
    sim = Simulator(
        "washing-machine", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.2
    )
    wm = sim.device = WashingMachine(window_s=len(prices) * 900.0)

    async def dso() -> None:
        heat = wm.containers[0]
        while heat.status.value != "EXECUTING" or heat.progress_s(cem.clock.now()) < 120:
            await asyncio.sleep(0.005)
        cem.set_congestion_limit([1.2, 1.2])

    task = asyncio.create_task(dso())
    try:
        await sim.run(duration_s=len(prices) * 900.0)
    finally:
        task.cancel()
        await cem.stop()
    return cem, sim, frames


def test_washing_machine_pauses_for_a_congestion_limit_end_to_end() -> None:
    cem, sim, frames = run(
        _washing_machine_under_congestion([20, 21, 22, 23, 24, 25, 26, 27, 28]), timeout_s=30
    )
    wm = sim.device
    assert cem.last_error is None and cem.replans.get("congestion") == 1
    assert wm.done and wm.violations == []
    heat = wm.containers[0]
    assert wm.containers[0].sequences[heat.selected][0] == "eco"  # the interruptible heating sequence
    assert 0 < heat.paused_s <= 1800 + 1  # paused for the limit, within its max_pause_before
    assert abs(wm.energy_kwh - 0.7125) < 0.08  # eco 0.45 + wash 0.1375 + spin 0.125 kWh: all delivered
    assert_all_valid(frames)
    assert sent(frames, "PPBC.StartInterruptionInstruction") and sent(
        frames, "PPBC.EndInterruptionInstruction"
    )
    live = {i.id for i in sim.received} - {uuid.UUID(r["object_id"]) for r in sent(frames, "RevokeObject")}
    kept = [json.loads(i.to_json()) for i in sim.received if i.id in live]
    check_programme(json.loads(wm.definition(T0).to_json()), kept)
