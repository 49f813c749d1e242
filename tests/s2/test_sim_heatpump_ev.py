"""The FRBC simulators ``heatpump`` and ``ev`` end to end: a real CEM on 127.0.0.1, accelerated time."""

from __future__ import annotations

import json
from typing import Any

from gridflex.s2.rm.sim_frbc import EVCharger, HeatPump
from gridflex.s2.rm.simulators import KINDS, Simulator
from gridflex.s2.schema import parse_problems, schema_problems
from gridflex.s2.server import CEM
from gridflex.scheduling import Site, parse_site
from tests.s2.helpers import TOKEN, run, start_cem


def day_site() -> Site:
    prices = [60.0 + 40.0 * ((k // 16) % 2) for k in range(96)]  # 4 h cheap, 4 h dear, ...
    return parse_site({
        "name": "s2-day", "time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": 96},
        "prices": {"day_ahead_eur_per_mwh": prices},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 25},
                   {"kind": "load", "name": "house", "profile_kw": 0.5}],
    })  # fmt: skip


async def _run(kind: str, hours: float, speed: float, **device: Any) -> tuple[CEM, Simulator, list[str]]:
    cem, port, frames = await start_cem(day_site(), speed, debounce_s=0.02)
    try:
        sim = Simulator(kind, f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, tick_s=0.01,
                        report_every_s=0.1)  # fmt: skip
        for k, v in device.items():
            setattr(sim.device, k, v)
        await sim.run(duration_s=hours * 3600)
    finally:
        await cem.stop()
    return cem, sim, frames


def test_kinds_include_heatpump_and_ev() -> None:
    assert {"battery", "pv", "heatpump", "ev"} <= set(KINDS)


def test_heatpump_keeps_the_band_and_honours_its_timers() -> None:
    cem, sim, frames = run(_run("heatpump", hours=6, speed=3600.0), timeout_s=40)
    hp = sim.device
    assert isinstance(hp, HeatPump)
    assert cem.plans >= 3 and cem.last_error is None and sim.received
    temps = [f for _, f, _ in hp.history]
    assert min(temps) >= hp.t_min_c and max(temps) <= hp.t_max_c + 1e-9  # physical limits of the tank
    assert min(temps[len(temps) // 10 :]) >= hp.band_c[0] - 1.5  # the comfort band (target profile) held
    powers = [p for _, _, p in hp.history]
    assert max(powers) <= hp.heat_max_kw / hp.cop * 1000.0 + 1e-6
    ons, offs = hp.on_durations(hp.off_id)
    assert all(d >= hp.min_on_s - 1e-6 for d in ons) and all(d >= hp.min_off_s - 1e-6 for d in offs)
    assert hp.blocked <= 1  # the CEM planned changes after the timers (TimerStatus) finished
    assert len(hp.changes) >= 2  # it did switch
    for f in frames:
        assert schema_problems(f) == [] and parse_problems(f) == [], f


def test_ev_reaches_its_need_by_departure_and_is_revoked() -> None:
    # a short session: arrives after 30 min, leaves after 5 h, needs 20 kWh (about 2 h at 11 kW)
    cem, sim, frames = run(_run("ev", hours=5.5, speed=3600.0, departure_after_s=5 * 3600.0), timeout_s=40)
    ev = sim.device
    assert isinstance(ev, EVCharger)
    assert ev.charged_at_departure_kwh is not None
    assert ev.charged_at_departure_kwh >= ev.need_kwh - 0.5, ev.summary()
    assert ev.clipped_kwh == 0.0 and ev.charged_kwh == ev.charged_at_departure_kwh  # nothing after leaving
    assert max(p for _, _, p in ev.history) <= ev.p_max_w + 1e-6
    before = [f for t, f, _ in ev.history if ev.arrival is not None and t < ev.arrival]
    assert all(f == 0.0 for f in before)  # nothing charged before the car arrived
    ons, offs = ev.on_durations(ev.idle_id)
    assert all(d >= ev.switch_timer_s - 1e-6 for d in ons + offs)
    assert ev.revoked  # the RM revoked its system description at departure ...
    dev = next(iter(cem.devices.values()))
    assert dev.frbc.system_description is None  # ... and the CEM dropped it
    assert cem.replans.get("revoked", 0) >= 1
    types = {json.loads(f)["message_type"] for f in frames}
    assert "FRBC.Instruction" in types
