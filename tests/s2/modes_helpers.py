"""Helpers of the PPBC / OMBC / DDBC tests: a site with gas, a real CEM with one simulator, sessions."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from gridflex.s2.clock import Clock
from gridflex.s2.protocol import Device, Session
from gridflex.s2.schema import parse_problems, schema_problems
from gridflex.s2.server import CEM
from gridflex.s2.simulators import Simulator
from gridflex.scheduling import Site, parse_site
from tests.s2.helpers import TOKEN, details, handshake

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def gas_site(prices: list[float], gas_eur_per_mwh: float = 25.0) -> Site:
    """Eight quarter hours, electricity (import and export at ``prices``), gas, a 1 kW house."""
    return parse_site({
        "name": "s2-modes", "time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": len(prices)},
        "prices": {"day_ahead_eur_per_mwh": prices},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 25, "export_price_eur_per_mwh": prices},
                   {"kind": "grid_connection", "name": "gas", "carrier": "gas",
                    "import_price_eur_per_mwh": gas_eur_per_mwh, "export_max_kw": 0},
                   {"kind": "load", "name": "house", "profile_kw": 1.0}],
    })  # fmt: skip


async def run_device(
    kind: str, site: Site, duration_s: float = 7200.0, speed: float = 1800.0, setup: Any = None
) -> tuple[CEM, Simulator, list[str]]:
    """A real CEM on 127.0.0.1 (ephemeral port) and one simulator over the socket until the end."""
    cem = CEM(site, {TOKEN: None}, clock=Clock(speed), debounce_s=0.05, ping_interval_s=None)
    frames: list[str] = []
    cem.frame_tap = lambda rid, f: frames.append(f)
    port = await cem.start("127.0.0.1", 0)
    try:
        sim = Simulator(kind, f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.2)
        if setup is not None:
            setup(sim)
        await sim.run(duration_s=duration_s)
    finally:
        await cem.stop()
    return cem, sim, frames


def assert_all_valid(frames: list[str]) -> None:
    """Every frame the CEM sent conforms to the schema and parses with s2-python; nothing refused."""
    assert frames
    for f in frames:
        assert schema_problems(f) == [], f
        assert parse_problems(f) == [], f
        m = json.loads(f)
        if m["message_type"] == "ReceptionStatus":
            assert m["status"] == "OK", m


def sent(frames: list[str], mtype: str) -> list[dict[str, Any]]:
    return [m for m in map(json.loads, frames) if m["message_type"] == mtype]


def session(control_types: list[str], rid: str | None = None) -> Session:
    rid = rid or str(uuid.uuid4())
    s = Session(Device(rid), rate_per_s=1e9, burst=1e9)
    s.opening()
    s.handle_frame(handshake())
    s.handle_frame(details(rid, control_types))
    return s


def statuses(out: Any) -> list[str]:
    return [m.status.value for m in out.replies if m.message_type == "ReceptionStatus"]
