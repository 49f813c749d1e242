"""A real CEM on 127.0.0.1 (ephemeral port) with s2-python RM peers (the simulators) and raw sockets."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from datetime import timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gridflex.s2 import server as server_mod
from gridflex.s2.rm.simulators import Simulator
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, details, handshake, msg, run, small_site, start_cem
from tests.s2.modes_helpers import assert_all_valid


async def start(speed: float = 900.0) -> tuple[CEM, int, list[str]]:
    return await start_cem(small_site(), speed)


def test_unknown_token_is_refused_before_any_s2_message() -> None:
    async def go() -> None:
        cem, port, frames = await start()
        try:
            for headers in ({"Authorization": "Bearer wrong"}, {}):
                with pytest.raises(InvalidStatus) as info:
                    await connect(f"ws://127.0.0.1:{port}/s2/{uuid.uuid4()}", additional_headers=headers)
                assert info.value.response.status_code == 401
            with pytest.raises(InvalidStatus) as info:
                await connect(
                    f"ws://127.0.0.1:{port}/elsewhere",
                    additional_headers={"Authorization": f"Bearer {TOKEN}"},
                )
            assert info.value.response.status_code == 404
            assert frames == [] and cem.devices == {}
        finally:
            await cem.stop()

    run(go())


def test_battery_and_pv_end_to_end_with_schema_valid_frames(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="gridflex.s2")

    async def go() -> None:
        cem, port, frames = await start(speed=1800.0)
        try:
            clock = cem.clock
            bat = Simulator("battery", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=clock, report_every_s=0.2)
            pv = Simulator("pv", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=clock, report_every_s=0.2)
            b = bat.battery
            assert b is not None
            b.target_after_s = 5400.0
            await asyncio.gather(bat.run(duration_s=7200), pv.run(duration_s=7200))
            assert cem.plans >= 2 and cem.last_error is None
            assert bat.received and pv.received  # FRBC.Instruction / PEBC.Instruction arrived
            assert 0.0 <= min(f for _, f in b.history) and max(f for _, f in b.history) <= b.capacity_kwh
            assert b.clipped_kwh < 0.05  # instructions never pushed the battery past its limits
            assert b.fill_kwh >= b.target_kwh - 0.3  # moved from 3 kWh to the 8 kWh target
            assert pv.pv is not None and pv.pv.violations == 0
            types = {json.loads(f)["message_type"] for f in frames}
            assert {"Handshake", "HandshakeResponse", "SelectControlType", "ReceptionStatus",
                    "FRBC.Instruction", "PEBC.Instruction"} <= types  # fmt: skip
            assert_all_valid(frames, statuses_ok=False)
        finally:
            await cem.stop()

    run(go(), timeout_s=40)
    # the operator sees every connection, control type and plan (gridflex cem serve logs at INFO)
    text = caplog.text
    assert text.count(" connected from ") == 2 and "control type FILL_RATE_BASED_CONTROL" in text
    # the first plan may come before the second device's data (the order of their frames is free)
    assert "control type POWER_ENVELOPE_BASED_CONTROL" in text and re.search(r"plan \d+: 2 device\(s\)", text)
    assert "disconnected" in text


async def _raw(port: int, rid: str):
    return await connect(
        f"ws://127.0.0.1:{port}/s2/{rid}", additional_headers={"Authorization": f"Bearer {TOKEN}"}
    )


async def _recv_until(ws, mtype: str) -> dict:
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if m["message_type"] == mtype:
            return m


def test_hostile_session_does_not_affect_another() -> None:
    async def go() -> None:
        cem, port, frames = await start()
        try:
            good_id, bad_id = str(uuid.uuid4()), str(uuid.uuid4())
            good, bad = await _raw(port, good_id), await _raw(port, bad_id)
            await _recv_until(good, "Handshake")
            await _recv_until(bad, "Handshake")
            for f in ("{", "[]", msg("FRBC.StorageStatus", present_fill_level=1), msg("Nope")):
                await bad.send(f)
                rs = await _recv_until(bad, "ReceptionStatus")
                assert rs["status"] != "OK"
            await bad.send("x" * (2 << 20))  # over max_size: clean close 1009, no crash
            await asyncio.wait_for(bad.wait_closed(), 5)
            assert bad.close_code == 1009
            await good.send(handshake())
            assert (await _recv_until(good, "ReceptionStatus"))["status"] == "OK"
            await _recv_until(good, "HandshakeResponse")
            await good.send(details(good_id, ["NOT_CONTROLABLE"]))
            assert (await _recv_until(good, "SelectControlType"))["control_type"] == "NOT_CONTROLABLE"
            assert cem.devices[bad_id].revision == 0 and cem.devices[bad_id].details is None
            await good.close()
            assert_all_valid(frames, statuses_ok=False)
        finally:
            await cem.stop()

    run(go())


def test_dropped_connection_is_resumed_and_state_restored() -> None:
    async def go() -> None:
        cem, port, frames = await start(speed=600.0)
        try:
            sim = Simulator(
                "battery", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.1
            )
            task = asyncio.create_task(sim.run(duration_s=2400))
            rid = str(sim.resource_id)
            for _ in range(100):
                await asyncio.sleep(0.05)
                if rid in cem.devices and cem.devices[rid].frbc.ready and cem.plans:
                    break
            dev = cem.devices[rid]
            sd = dev.frbc.system_description
            assert sd is not None
            await sim.drop()
            for _ in range(100):
                await asyncio.sleep(0.05)
                if (
                    sim.connections == 2
                    and rid in cem.connections
                    and cem.connections[rid].session.state.value == "CONTROL_TYPE_SELECTED"
                ):
                    break
            assert sim.connections == 2
            assert cem.devices[rid] is dev and dev.frbc.ready  # the device state survived the drop
            plans = cem.plans
            await task
            assert cem.plans > plans and cem.last_error is None
            assert_all_valid(frames, statuses_ok=False)
        finally:
            await cem.stop()

    run(go())


def test_loop_answers_pings_while_optimising(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solve runs in a worker thread: while it is held inside plan_site, the loop still answers
    pings (behaviour, not a latency figure: the solve is blocked until the pings are answered)."""
    real = server_mod.plan_site
    solving, release = threading.Event(), threading.Event()

    def slow(site, req):  # type: ignore[no-untyped-def]
        solving.set()
        release.wait(30.0)  # a long solve, in the worker thread, until the test lets it finish
        return real(site, req)

    monkeypatch.setattr(server_mod, "plan_site", slow)

    async def go() -> None:
        cem, port, _ = await start(speed=900.0)
        try:
            sim = Simulator(
                "battery", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.1
            )
            task = asyncio.create_task(sim.run(duration_s=1800))
            probe = await _raw(port, str(uuid.uuid4()))
            assert await asyncio.to_thread(solving.wait, 30.0), "no plan started"
            for _ in range(5):
                await asyncio.wait_for(await probe.ping(), 10.0)
                assert not release.is_set() and cem.plans == 0  # answered while the solve is held
            release.set()
            for _ in range(500):
                if cem.plans >= 1:
                    break
                await asyncio.sleep(0.02)
            await probe.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert cem.plans >= 1
        finally:
            release.set()
            await cem.stop()

    run(go())


def test_instruction_records_stay_bounded_for_an_rm_that_sends_no_status() -> None:
    """An RM that never sends an InstructionStatusUpdate leaves every instruction NEW: over many
    plans (a period of simulated time every second, its fill level moving so that plans change) the
    CEM keeps only the records of the last ``keep_periods`` periods, the pending ones and the one
    its actuator runs, never more than MAX_RECORDS; the instructions it sends go on."""
    from gridflex.s2.control.base import MAX_RECORDS, running
    from gridflex.s2.rm.simulators import BatteryPhysics

    async def go() -> None:
        cem, port, _ = await start(speed=900.0)
        rid = str(uuid.uuid4())
        bat = BatteryPhysics()
        got = [0]

        async def answer(ws: object) -> None:  # ReceptionStatus OK for each frame, nothing else
            async for frame in ws:  # type: ignore[attr-defined]
                m = json.loads(frame)
                if m["message_type"] != "ReceptionStatus":
                    got[0] += m["message_type"] == "FRBC.Instruction"
                    await ws.send(json.dumps({"message_type": "ReceptionStatus",  # type: ignore[attr-defined]
                                              "subject_message_id": m["message_id"], "status": "OK"}))  # fmt: skip

        try:
            async with connect(f"ws://127.0.0.1:{port}/s2/{rid}",
                               additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:  # fmt: skip
                reader = asyncio.create_task(answer(ws))
                await ws.send(handshake())
                await ws.send(details(rid, ["FILL_RATE_BASED_CONTROL"]))
                await asyncio.sleep(0.1)
                await ws.send(bat.system_description(cem.clock.now()).to_json())
                await ws.send(msg("FRBC.ActuatorStatus", actuator_id=str(bat.actuator_id),
                                  active_operation_mode_id=str(bat.idle_id), operation_mode_factor=0.0))  # fmt: skip
                counts = []
                for k in range(60):
                    await ws.send(msg("FRBC.StorageStatus", present_fill_level=[1.0, 9.0, 5.0][k % 3]))
                    await asyncio.sleep(0.1)
                    await cem.replan()
                    dev = cem.devices[rid]
                    counts.append(len(dev.instructions))
                    now = cem.clock.now()
                    keep = set(running(dev.instructions, now).values())
                    old = now - timedelta(seconds=2 * 900 + 120)  # keep_periods, plus the loop's time
                    assert all(
                        r.instruction.execution_time >= old or i in keep for i, r in dev.instructions.items()
                    )
                reader.cancel()
            assert {r.status.value for r in dev.instructions.values()} <= {"NEW", "REVOKED"}  # no status came
            # records went (more were sent than were ever kept), and never more than the cap and the
            # running one; the age rule above held after every plan
            assert got[0] > max(counts) and max(counts) <= MAX_RECORDS + 1, (got[0], counts)
            assert cem.last_error is None
        finally:
            await cem.stop()

    run(go(), timeout_s=120)
