"""Shared helpers for the S2 tests (no pytest-asyncio: each test runs its own loop)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from gridflex.s2.clock import Clock
from gridflex.scheduling import Site, parse_site

TOKEN = "test-token"


def run(coro: Coroutine[Any, Any, Any], timeout_s: float = 30.0) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(guarded())


async def stop_all(cem: Any, tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel the simulators' tasks, wait for them, then stop the CEM (a test's ``finally``)."""
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await cem.stop()


def site_clock(site: Site, speed: float) -> Clock:
    """An accelerated clock from the site file's start: the site's series (read by timestamp) then
    line up the same way in every run, whatever the time of day."""
    return Clock(speed, start=datetime.fromisoformat(site.time.start.replace("Z", "+00:00")))


async def start_cem(site: Site, speed: float, debounce_s: float = 0.05) -> tuple[Any, int, list[str]]:
    """A CEM for ``site`` on 127.0.0.1 (ephemeral port, no pings) on :func:`site_clock`; returns it,
    its port and the list every frame it sends is appended to."""
    from gridflex.s2.server import CEM

    cem = CEM(site, {TOKEN: None}, clock=site_clock(site, speed), debounce_s=debounce_s, ping_interval_s=None)
    frames: list[str] = []
    cem.frame_tap = lambda rid, f: frames.append(f)
    return cem, await cem.start("127.0.0.1", 0), frames


def small_site(n: int = 8) -> Site:
    return parse_site({
        "name": "s2-test", "time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": n},
        "prices": {"day_ahead_eur_per_mwh": [50, 40, 30, 20, 60, 80, 90, 100][:n] if n == 8 else 50.0},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 20},
                   {"kind": "load", "name": "house", "profile_kw": 1.0}],
    })  # fmt: skip


def msg(mtype: str, **fields: Any) -> str:
    return json.dumps({"message_type": mtype, "message_id": str(uuid.uuid4()), **fields})


def handshake() -> str:
    return msg("Handshake", role="RM", supported_protocol_versions=["0.0.2-beta"])


def details(rid: str, control_types: list[str]) -> str:
    return msg("ResourceManagerDetails", resource_id=rid, roles=[{"role": "ENERGY_STORAGE", "commodity": "ELECTRICITY"}],
               instruction_processing_delay=100, available_control_types=control_types, provides_forecast=False,
               provides_power_measurement_types=["ELECTRIC.POWER.3_PHASE_SYMMETRIC"])  # fmt: skip
