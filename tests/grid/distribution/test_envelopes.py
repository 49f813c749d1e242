"""Operating envelopes: using a connection's envelope alone keeps the grid within limits, going beyond breaks one."""

import asyncio
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.grid.distribution import PowerFlow, stress
from gridflex.grid.distribution.congestion import Limits, find_violations
from gridflex.grid.distribution.envelopes import ENVELOPE_CAP_MW, MAX_LIMIT_KW, operating_envelopes
from gridflex.grid.distribution.sensitivity import sensitivities
from gridflex.grid.distribution.stress import WINTER
from gridflex.s2.admin import MAX_LIMIT_KW as ADMIN_MAX_LIMIT_KW
from gridflex.s2.admin import check_command


@pytest.fixture(scope="module")
def winter_evening(mv):
    series = mv.profiles.series(mv.network, start=datetime(2016, 1, 20, 17), periods=2)
    pf = PowerFlow(mv.network)
    res = pf.run(series, angles=True)
    env = operating_envelopes(mv.network, series, res, sensitivities(mv.network, res), pf=pf)
    return series, pf, env


def _at_limit(mv, series, env, c, factor, which):
    """The series with connection c moved to factor × its import (or export) limit in every period."""
    bus_of = mv.network.element_bus()
    element = int(
        np.flatnonzero(bus_of == np.flatnonzero(mv.network.bus.name == env.connection_names[c])[0])[0]
    )
    target = env.import_limit_mw[:, c] if which == "import" else -env.export_limit_mw[:, c]
    delta = np.zeros_like(series.p_mw)
    delta[:, element] = factor * target - env.forecast_mw[:, c]
    return series.with_changes(delta)


def test_forecast_lies_inside_every_envelope(winter_evening):
    _, _, env = winter_evening
    assert np.all(env.import_limit_mw >= env.forecast_mw) and np.all(-env.export_limit_mw <= env.forecast_mw)


@pytest.mark.parametrize("which", ["import", "export"])
def test_an_envelope_used_alone_keeps_the_limits_and_more_breaks_one(mv, winter_evening, which):
    series, pf, env = winter_evening
    limit = env.import_limit_mw if which == "import" else env.export_limit_mw
    reachable = np.flatnonzero((limit < ENVELOPE_CAP_MW).all(axis=0))
    assert len(reachable)
    for c in reachable[:: max(1, len(reachable) // 4)]:
        inside = pf.run(_at_limit(mv, series, env, c, 1.0, which))
        # after the secant corrections the limits hold within their margins (1 point, 0.002 pu)
        assert find_violations(mv.network, inside, Limits(loading_pct=100.5, voltage_min_pu=0.899)) == []
        beyond = pf.run(_at_limit(mv, series, env, c, 1.1, which))
        assert find_violations(mv.network, beyond, Limits(loading_margin_pct=0, voltage_margin_pu=0))


def test_envelopes_serialise(winter_evening):
    _, _, env = winter_evening
    d = env.to_dict()
    assert (
        len(d["connections"]) == len(env.connection_names) and "import = consumption" in d["sign_convention"]
    )


@pytest.fixture(scope="module")
def congested_evening(mv):
    """The stressed winter evening from 19:00: a feeder head goes over its rating in the third period."""
    series = stress(
        mv.network, mv.profiles.series(mv.network, start=datetime(2016, 1, 20, 19), periods=4), WINTER
    )
    res = PowerFlow(mv.network).run(series, angles=True)
    # linear envelopes (no secant passes: their accuracy is tested above; here the delivery is)
    return operating_envelopes(mv.network, series, res, sensitivities(mv.network, res))


def test_a_site_gets_its_share_of_the_bus_envelope_as_cem_limits(congested_evening):
    env, bus = congested_evening, "MV2.101 Bus 4"
    c = int(np.flatnonzero(env.connection_names == bus)[0])
    room_kw = (env.import_limit_mw[:, c] - env.forecast_mw[:, c]) * 1e3
    assert room_kw[0] > 0 > room_kw[2]  # within its envelope at 19:00, over it (the feeder) at 19:30
    plan = np.array([10.0, 11.0, 12.0, 11.0])
    cmd = env.congestion_limit(bus, planned_import_kw=plan, share=0.02)
    assert cmd["action"] == "set_congestion_limit" and cmd["start"] == "2016-01-20T19:00:00+00:00"
    np.testing.assert_allclose(cmd["import_kw"], np.clip(plan + 0.02 * room_kw, 0, None), atol=1e-3)
    assert cmd["import_kw"][2] < plan[2]  # the site must move: its share of what the bus is over
    own = env.congestion_limit(bus, share=0.5)  # without a plan: half the bus's own envelope
    np.testing.assert_allclose(
        own["import_kw"], np.clip(0.5e3 * env.import_limit_mw[:, c], 0, None), atol=1e-3
    )
    assert check_command(cmd)[0] == "set_congestion_limit"  # what a CEM's /admin socket accepts
    assert MAX_LIMIT_KW == ADMIN_MAX_LIMIT_KW


@pytest.mark.parametrize(("args", "field"), [
    (("MV2.101 Bus 999",), "connection"),
    (("MV2.101 Bus 4", np.ones(3)), "planned_import_kw"),
    (("MV2.101 Bus 4", None, 0.0), "share"),
])  # fmt: skip
def test_bad_envelope_requests_name_the_field(congested_evening, args, field):
    with pytest.raises(ValidationError, match=field):
        congested_evening.congestion_limit(*args)


def test_the_envelope_reaches_a_cem_over_its_admin_socket_and_its_batteries_keep_it(congested_evening):
    """Two battery RMs charge behind a site on bus 4 (real CEM, WebSockets on loopback). The DSO sends
    the site's share of the bus's envelope on the CEM's /admin socket: the CEM re-plans under it, its
    S2 instructions go out, and the batteries' executed power keeps the cap while it binds."""
    from websockets.asyncio.client import connect

    from gridflex.s2.clock import Clock
    from gridflex.s2.rm.simulators import Simulator
    from gridflex.s2.server import CEM
    from gridflex.scheduling import parse_site

    env, bus = congested_evening, "MV2.101 Bus 4"
    start = env.start.replace(tzinfo=UTC)
    site = parse_site({
        "name": "site-on-bus-4", "time": {"start": start.isoformat(), "step_s": 900, "n_periods": 8},
        "prices": {"day_ahead_eur_per_mwh": [50, 40, 30, 20, 60, 80, 90, 100]},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 20},
                   {"kind": "load", "name": "house", "profile_kw": 1.0}],
    })  # fmt: skip
    admin, token = "dso-secret", "rm-token"

    async def go() -> None:
        # a 15-min period lasts 1.5 s; held while the devices connect and the CEM plans (as the day
        # demo's clock), so the plans start at 19:00 however loaded the machine is
        clock = Clock(600.0, start=start, stops_for_planning=True, held=True)
        cem = CEM(
            site,
            {token: None, admin: frozenset({"@admin"})},
            clock=clock,
            debounce_s=0.02,
            ping_interval_s=None,
        )
        port = await cem.start("127.0.0.1", 0)
        frames: list[str] = []
        cem.frame_tap = lambda rid, f: frames.append(f)
        sims = [Simulator("battery", f"ws://127.0.0.1:{port}/s2", token, clock=clock, tick_s=0.01, report_every_s=0.1)
                for _ in range(2)]  # fmt: skip
        tasks = [asyncio.create_task(s.run(duration_s=7200)) for s in sims]
        try:
            for _ in range(400):
                await asyncio.sleep(0.02)
                if cem.last_plan is not None and len(cem.last_plan.frbc_fill) == 2:
                    break
            plan = cem.last_plan
            assert plan is not None and len(plan.frbc_fill) == 2
            assert plan.start == start
            planned = plan.net_import_kw[:4]
            cmd = env.congestion_limit(bus, planned_import_kw=planned, share=0.02)
            cap = np.asarray(cmd["import_kw"])
            assert (cap < planned - 0.5).any()  # it binds somewhere
            plans, sent = cem.plans, len(frames)
            ws = await connect(
                f"ws://127.0.0.1:{port}/admin", additional_headers={"Authorization": f"Bearer {admin}"}
            )
            await ws.send(json.dumps(cmd))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            await ws.close()
            assert reply["ok"], reply
            imp, _ = cem.congestion_limit_kw(start, 900, 4)
            np.testing.assert_allclose(imp, cap)
            for _ in range(400):
                await asyncio.sleep(0.02)
                if cem.plans > plans:
                    break
            new = cem.last_plan
            assert new is not None and cem.replans["congestion"] >= 1 and new.start == start
            # the CEM plans under the cap: the batteries charge earlier and cover the house where it is 0
            assert (new.net_import_kw[:4] <= cap + 1e-6).all(), (new.net_import_kw[:4], cap)
            assert any("FRBC.Instruction" in f for f in frames[sent:])
            clock.release()
            # while the cap binds, the batteries' executed power keeps it
            k = int(np.flatnonzero(cap < planned - 0.5)[0])  # the first period it binds
            t_on = start.timestamp() + 900 * k + 60  # after the RMs' processing delay
            while clock.now().timestamp() < t_on:
                await asyncio.sleep(0.02)
            seen = []
            while clock.now().timestamp() < start.timestamp() + 900 * (k + 1) - 30:
                seen.append(1.0 + sum(s.battery.power() for s in sims if s.battery is not None) / 1000.0)
                await asyncio.sleep(0.05)
            assert len(seen) > 5 and np.mean(seen) <= cap[k] + 0.05, (seen, cap[k])
            assert cem.last_error is None
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await cem.stop()

    asyncio.run(asyncio.wait_for(go(), 60))
