"""An external congestion signal (DSO / market) caps the site's planned import; set in Python or over /admin."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gridflex.s2.clock import Clock
from gridflex.s2.rm.simulators import Simulator
from gridflex.s2.server import CEM
from tests.s2.helpers import TOKEN, run, small_site, stop_all

ADMIN = "dso-secret"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_limit_forms_map_onto_periods() -> None:
    cem = CEM(small_site(), {TOKEN: None}, clock=Clock(1.0, start=T0))
    cem.set_congestion_limit(import_kw=5.0, start=T0 + timedelta(minutes=30))
    imp, exp = cem.congestion_limit_kw(T0, 900, 4)
    assert imp.tolist() == [np.inf, np.inf, 5.0, 5.0] and np.isinf(exp).all()
    cem.set_congestion_limit(import_kw=[7.0, 6.0], export_kw=2.0, start=T0)
    imp, exp = cem.congestion_limit_kw(T0, 900, 3)
    assert imp.tolist() == [7.0, 6.0, np.inf] and exp.tolist() == [2.0, 2.0, 2.0]
    series = [("2024-01-01T00:20:00+00:00", 4.0), (T0 + timedelta(minutes=40), 9.0)]
    cem.set_congestion_limit(import_kw=series)
    imp, _ = cem.congestion_limit_kw(T0, 900, 5)
    # 00:20-00:40 at 4 kW touches periods 1 and 2; 00:40-00:55 at 9 kW touches 2 and 3 (lowest wins)
    assert imp.tolist() == [np.inf, 4.0, 4.0, 9.0, np.inf]
    with pytest.raises(ValueError):
        cem.set_congestion_limit(import_kw=-1.0)
    cem.clear_congestion_limit()
    assert np.isinf(cem.congestion_limit_kw(T0, 900, 2)[0]).all()
    assert cem.replans["congestion"] == 4


def test_instructions_after_the_signal_keep_import_under_the_limit() -> None:
    """Three batteries must each charge 5 kWh within 90 min (about 10 kW together); the DSO caps the
    site at 6 kW (1 kW house): from the signal on, the plan and the executed powers stay below it."""

    async def go() -> None:
        cem = CEM(
            small_site(), {TOKEN: None}, clock=Clock(900.0, start=T0), debounce_s=0.02, ping_interval_s=None
        )
        port = await cem.start("127.0.0.1", 0)
        tasks: list[asyncio.Task[Any]] = []
        try:
            sims = [Simulator("battery", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, tick_s=0.01,
                              report_every_s=0.1) for _ in range(3)]  # fmt: skip
            tasks[:] = [asyncio.create_task(s.run(duration_s=3600)) for s in sims]
            for _ in range(200):
                await asyncio.sleep(0.02)
                if cem.last_plan is not None and len(cem.last_plan.frbc_fill) == 3:
                    break
            assert cem.last_plan is not None and cem.last_plan.net_import_kw.max() > 6.5  # unconstrained
            plans = cem.plans
            cem.set_congestion_limit(import_kw=6.0)
            # wait for the re-plan (debounced), not for a fixed time: a loaded machine is slower
            for _ in range(400):
                await asyncio.sleep(0.02)
                if cem.plans > plans:
                    break
            assert cem.plans > plans and cem.replans["congestion"] == 1

            def site_kw() -> float:
                return 1.0 + sum(s.battery.power() for s in sims if s.battery is not None) / 1000.0

            for _ in range(250):  # the batteries take the new instructions (their time, not a fixed sleep)
                if site_kw() <= 6.0 + 0.05:
                    break
                await asyncio.sleep(0.02)
            worst = 0.0
            for _ in range(60):  # about 45 simulated minutes
                await asyncio.sleep(0.05)
                worst = max(worst, site_kw())
                assert cem.last_plan is not None
                assert cem.last_plan.net_import_kw.max() <= 6.0 + 1e-6
            assert worst <= 6.0 + 0.05, worst
            assert cem.last_error is None
        finally:
            await stop_all(cem, tasks)

    run(go(), timeout_s=40)


def test_admin_socket_sets_the_limit_and_needs_an_admin_token() -> None:
    async def go() -> None:
        tokens = {TOKEN: None, ADMIN: frozenset({"@admin"})}
        cem = CEM(small_site(), tokens, clock=Clock(1.0, start=T0), ping_interval_s=None)
        port = await cem.start("127.0.0.1", 0)
        try:
            url = f"ws://127.0.0.1:{port}/admin"
            for tok in (TOKEN, "wrong"):
                with pytest.raises(InvalidStatus) as info:
                    await connect(url, additional_headers={"Authorization": f"Bearer {tok}"})
                assert info.value.response.status_code == 401
            with pytest.raises(InvalidStatus):  # an admin token is no RM token
                await connect(f"ws://127.0.0.1:{port}/s2/{uuid.uuid4()}",
                              additional_headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
            ws = await connect(url, additional_headers={"Authorization": f"Bearer {ADMIN}"})
            await ws.send(json.dumps({"action": "set_congestion_limit", "import_kw": [3.0, 4.0]}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply["ok"] and reply["import_limit_kw"][:3] == [3.0, 4.0, None]
            await ws.send(json.dumps({"action": "nope"}))
            assert not json.loads(await asyncio.wait_for(ws.recv(), 5))["ok"]
            await ws.send("{not json")
            assert not json.loads(await asyncio.wait_for(ws.recv(), 5))["ok"]
            await ws.send(json.dumps({"action": "clear_congestion_limit"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["import_limit_kw"][0] is None
            await ws.close()
        finally:
            await cem.stop()

    run(go())
