"""A real CEM on 127.0.0.1 (ephemeral port) with s2-python RM peers (the simulators) and raw sockets."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid

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


def test_old_instruction_records_are_trimmed_and_ppbc_keeps_what_ran() -> None:
    """A long-running CEM keeps at most MAX_RECORDS instruction records per device, dropping the
    oldest finished ones; for PPBC (which follows its programme through the instructions that ran)
    only instructions that never ran are dropped."""
    from s2python.common import InstructionStatus

    from gridflex.s2.control.base import FINAL as _FINAL
    from gridflex.s2.control.base import MAX_RECORDS
    from gridflex.s2.control.base import NEVER_RAN as _NEVER_RAN
    from gridflex.s2.control.base import trim as _trim
    from gridflex.s2.protocol import Device, InstructionRecord

    dev = Device("r")
    statuses = [InstructionStatus.SUCCEEDED, InstructionStatus.REVOKED, InstructionStatus.NEW]
    for k in range(3 * MAX_RECORDS):
        dev.instructions[uuid.uuid4()] = InstructionRecord(instruction=None, status=statuses[k % 3])  # type: ignore[arg-type]
    first = list(dev.instructions)
    _trim(dev, _NEVER_RAN)
    kept = list(dev.instructions.values())
    assert sum(r.status == InstructionStatus.SUCCEEDED for r in kept) == MAX_RECORDS  # all that ran
    assert sum(r.status == InstructionStatus.NEW for r in kept) == MAX_RECORDS  # all pending
    assert sum(r.status == InstructionStatus.REVOKED for r in kept) == 0
    _trim(dev, _FINAL)
    assert len(dev.instructions) == MAX_RECORDS
    assert all(r.status == InstructionStatus.NEW for r in dev.instructions.values())
    assert list(dev.instructions) == [i for i in first if i in dev.instructions]  # order kept
