"""One device must not stop the site: a device whose data makes the plan infeasible is isolated
(named in the log and in /admin status) and a well-behaved battery alongside still gets instructions."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import pytest
from websockets.asyncio.client import connect

from gridflex.s2.rm.simulators import Simulator
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, details, handshake, msg, run, site_clock, small_site

ELEC = "ELECTRIC.POWER.3_PHASE_SYMMETRIC"


@pytest.mark.parametrize("planner", ["thread", "process"])
def test_infeasible_load_is_isolated_and_the_battery_still_planned(
    caplog: pytest.LogCaptureFixture, planner: str
) -> None:
    bad = f"meter-{uuid.uuid4().hex[:8]}"

    async def go() -> None:
        site = small_site()
        cem = CEM(site, {TOKEN: None}, clock=site_clock(site, 60.0), debounce_s=0.05, ping_interval_s=None,
                  planner=planner)  # fmt: skip
        port = await cem.start("127.0.0.1", 0)
        try:
            hdr = {"Authorization": f"Bearer {TOKEN}"}
            async with connect(f"ws://127.0.0.1:{port}/s2/{bad}", additional_headers=hdr) as ws:
                await ws.recv()
                await ws.send(handshake())
                await ws.send(details(str(uuid.uuid4()), ["NOT_CONTROLABLE"]))
                # 500 kW: within the CEM's power bound, but far over the site's 20 kW fuse
                await ws.send(msg("PowerMeasurement", measurement_timestamp="2024-01-01T00:00:00Z",
                                  values=[{"commodity_quantity": ELEC, "value": 500_000.0}]))  # fmt: skip
                bat = Simulator(
                    "battery", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.2
                )
                task = asyncio.create_task(bat.run(duration_s=3600))
                for _ in range(1200):
                    await asyncio.sleep(0.05)
                    if bat.received and bad in cem.isolated:
                        break
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                assert bad in cem.isolated and bat.received, (cem.isolated, cem.last_error)
                assert str(bat.resource_id) not in cem.isolated  # not the innocent neighbour
                status = cem.admin_command({"action": "status"})
                assert bad in status["isolated"] and "plan" in status["isolated"][bad]
                json.dumps(status, allow_nan=False)
        finally:
            await cem.stop()

    with caplog.at_level(logging.INFO, logger="gridflex.s2"):
        run(go(), timeout_s=90)
    assert any(f"RM {bad} isolated" in r.getMessage() for r in caplog.records)  # the culprit, by name


def test_a_plan_out_of_time_isolates_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solve stopped at its time limit without a solution (a loaded machine) is no device's fault:
    on a loaded machine a trial without one device finished in time and that device was isolated."""
    from datetime import UTC, datetime

    import gridflex.s2.server as server
    from gridflex.errors import SolverError
    from gridflex.s2.planner import PlanRequest, plan_site
    from gridflex.s2.planning_process import OUT_OF_TIME
    from tests.s2.fleet import battery_fleet

    site = small_site()
    req = PlanRequest(datetime(2024, 1, 1, tzinfo=UTC), 900, 8, frbc=battery_fleet(3, 8, 0))

    def slow_when_whole(site: object, r: PlanRequest) -> object:
        if len(r.frbc) == len(req.frbc):  # the whole site does not finish in time, any part would
            raise SolverError(f"model 'site': HiGHS stopped with status '{OUT_OF_TIME}'", status=OUT_OF_TIME)
        return plan_site(site, r)  # type: ignore[arg-type]

    monkeypatch.setattr(server, "plan_site", slow_when_whole)
    cem = CEM(site, {TOKEN: None}, ping_interval_s=None)
    assert run(cem._plan_isolating(req)) is None
    assert cem.isolated == {} and cem.time_limit_hits == 1 and OUT_OF_TIME in str(cem.last_error)
