"""Re-planning on events: a deviating measurement / fill level, a new system description, a target
change, a revoked object, a disconnect; bursts coalesce into one plan (debounce)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from gridflex.s2.clock import Clock
from gridflex.s2.rm.simulators import BatteryPhysics
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, details, handshake, msg, run, small_site


async def _recv_until(ws: ClientConnection, mtype: str) -> dict[str, Any]:
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if m["message_type"] == mtype:
            return m


async def _settle(cem: CEM, plans: int, wait_s: float = 0.5) -> int:
    """Wait until a plan after ``plans`` exists (or ``wait_s`` passed); returns the plan count."""
    for _ in range(int(wait_s / 0.01)):
        await asyncio.sleep(0.01)
        if cem.plans > plans and not cem._dirty.is_set():
            break
    await asyncio.sleep(0.05)
    return cem.plans


def _target(lo: float, clock: Clock) -> str:
    now = clock.now()
    return msg("FRBC.FillLevelTargetProfile", start_time=now.isoformat(),
               elements=[{"duration": 3_600_000, "fill_level_range": {"start_of_range": lo, "end_of_range": 10.0}}])  # fmt: skip


def test_events_replan_and_bursts_coalesce() -> None:
    async def go() -> None:
        # real time, one minute into a 15 min period: no periodic plan and no new period during the test
        clock = Clock(1.0, start=datetime(2024, 1, 1, 0, 1, tzinfo=UTC))
        cem = CEM(small_site(), {TOKEN: None}, clock=clock, debounce_s=0.1, ping_interval_s=None)
        port = await cem.start("127.0.0.1", 0)
        try:
            rid = str(uuid.uuid4())
            ws = await connect(
                f"ws://127.0.0.1:{port}/s2/{rid}", additional_headers={"Authorization": f"Bearer {TOKEN}"}
            )
            await _recv_until(ws, "Handshake")
            await ws.send(handshake())
            await _recv_until(ws, "HandshakeResponse")
            await ws.send(details(rid, ["FILL_RATE_BASED_CONTROL"]))
            await _recv_until(ws, "SelectControlType")
            bat = BatteryPhysics()
            sd = bat.system_description(cem.clock.now())
            await ws.send(sd.to_json())
            await ws.send(msg("FRBC.StorageStatus", present_fill_level=3.0))
            await ws.send(msg("FRBC.ActuatorStatus", actuator_id=str(bat.actuator_id),
                              active_operation_mode_id=str(bat.idle_id), operation_mode_factor=0.0))  # fmt: skip
            n = await _settle(cem, 0)
            assert n >= 1 and cem.last_plan is not None and cem.replans.get("system", 0) >= 1

            # a measurement that follows the plan does not re-plan; one far off does (once per period)
            plan = cem.last_plan
            k = int((cem.clock.now() - plan.start).total_seconds() // plan.step_s)
            planned_w = plan.frbc_power_kw[f"s2-{rid}"][k] * 1000.0
            meas = lambda w: msg("PowerMeasurement", measurement_timestamp=cem.clock.now().isoformat(),  # noqa: E731
                                 values=[{"commodity_quantity": "ELECTRIC.POWER.3_PHASE_SYMMETRIC", "value": w}])  # fmt: skip
            await ws.send(meas(planned_w))
            assert await _settle(cem, n, 0.3) == n and "deviation" not in cem.replans
            await ws.send(meas(planned_w - 4000.0))
            n2 = await _settle(cem, n)
            assert n2 == n + 1 and cem.replans["deviation"] == 1
            await ws.send(meas(planned_w - 4000.0))  # the same period again: no loop
            assert await _settle(cem, n2, 0.3) == n2

            # a target change re-plans; a burst of five gives one plan
            await ws.send(_target(6.0, cem.clock))
            n3 = await _settle(cem, n2)
            assert n3 == n2 + 1 and cem.replans["target"] == 1
            for lo in (6.5, 7.0, 7.5, 8.0, 8.5):
                await ws.send(_target(lo, cem.clock))
            n4 = await _settle(cem, n3)
            assert n4 == n3 + 1 and cem.replans["target"] == 6
            fill = cem.last_plan.frbc_fill[f"s2-{rid}"]
            assert fill[3] >= 8.5 - 1e-6  # the last target counts

            # a new system description (another capacity) re-plans
            bat.capacity_kwh = 12.0
            await ws.send(bat.system_description(cem.clock.now()).to_json())
            n5 = await _settle(cem, n4)
            assert n5 == n4 + 1 and cem.replans["system"] >= 2

            # revoking the system description re-plans without the device (nothing left to plan)
            dev = cem.devices[rid]
            assert dev.frbc.system_description is not None
            await ws.send(msg("RevokeObject", object_type="FRBC.SystemDescription",
                              object_id=str(dev.frbc.system_description.message_id)))  # fmt: skip
            rs = await _recv_until(ws, "ReceptionStatus")
            assert rs["status"] == "OK"
            await asyncio.sleep(0.3)
            assert cem.replans["revoked"] == 1 and dev.frbc.system_description is None
            assert not cem.snapshot().frbc

            # a disconnect of a controlled device wakes the planner too
            await ws.close()
            for _ in range(50):
                await asyncio.sleep(0.01)
                if cem.replans.get("disconnect"):
                    break
            assert cem.replans["disconnect"] == 1
        finally:
            await cem.stop()

    run(go())
