"""Operating envelopes: every connection at its envelope at once keeps the feeder within limits (AC power flow);
none is stricter than needed (a step more breaks a limit), and the sharing is the max-min of an independent LP."""

import asyncio
import json
from datetime import UTC, datetime

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.grid.distribution import PowerFlow, stress
from gridflex.grid.distribution.congestion import Limits, find_violations
from gridflex.grid.distribution.envelopes import ENVELOPE_CAP_MW, MAX_LIMIT_KW, operating_envelopes
from gridflex.grid.distribution.relief import relieve_by_market
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


@pytest.fixture(scope="module")
def cleared_evening(mv):
    """The stressed winter evening from 19:00 (a feeder head at 109 %) after the market relieved it."""
    net = mv.network
    series = stress(net, mv.profiles.series(net, start=datetime(2016, 1, 20, 19), periods=4), WINTER)
    pf = PowerFlow(net)
    cleared = relieve_by_market(net, series, pf=pf).relieved
    res = pf.run(cleared, angles=True)
    sens = sensitivities(net, res)
    return cleared, pf, operating_envelopes(net, cleared, res, sens, pf=pf), res, sens


def _moved(mv, series, env, move_mw):
    """``series`` with each connection's net consumption changed by ``move_mw`` (periods × connections)."""
    bus_of = mv.network.element_bus()
    bus = {str(n): i for i, n in enumerate(mv.network.bus.name)}
    delta = np.zeros_like(series.p_mw)
    for c, name in enumerate(env.connection_names):
        delta[:, int(np.flatnonzero(bus_of == bus[str(name)])[0])] += move_mw[:, c]
    return series.with_changes(delta)


def _corners(env, rng, n):
    """Both all-import and all-export corners of the connections' boxes, and ``n`` random mixtures."""
    up, down = env.import_limit_mw - env.forecast_mw, env.export_limit_mw + env.forecast_mw
    yield up
    yield -down
    for _ in range(n):
        pick = rng.random(up.shape) < 0.5
        yield np.where(pick, up, -down) * rng.uniform(0.5, 1.0, up.shape)


@pytest.mark.parametrize("case", ["winter_evening", "cleared_evening"])
def test_every_connection_at_its_envelope_at_once_keeps_the_feeder_within_limits(mv, case, request):
    series, pf, env = request.getfixturevalue(case)[:3]
    assert (env.import_limit_mw < ENVELOPE_CAP_MW).all() and (env.export_limit_mw < ENVELOPE_CAP_MW).all()
    for move in _corners(env, np.random.default_rng(0), 4):
        # the envelopes keep the limits less their margins (1 point, 0.002 pu) up to what the AC
        # corrections leave, well inside the limits themselves
        assert find_violations(mv.network, pf.run(_moved(mv, series, env, move)), Limits()) == []


@pytest.mark.parametrize("case", ["winter_evening", "cleared_evening"])
def test_the_envelopes_of_a_series_within_limits_contain_its_forecast(case, request):
    env = request.getfixturevalue(case)[2]
    # the market relieves down to the limit less its margin, give or take half a point of loading:
    # at most 30 kW per connection left to give up (the feeder was 1.8 MW over; uncleared, the
    # envelopes ask for 90 kW from each connection behind it)
    assert (env.import_limit_mw >= env.forecast_mw - 0.03).all()
    assert (-env.export_limit_mw <= env.forecast_mw + 0.03).all()


def test_no_envelope_is_stricter_than_needed(mv, cleared_evening):
    """Every connection is stopped by a limit it moves: at the all-import corner, widening any one
    connection's import by a tenth of its headroom (at least 20 kW) breaks a limit less its margin,
    in the AC power flow."""
    series, pf, env, _, _ = cleared_evening
    up = env.import_limit_mw - env.forecast_mw
    tight = Limits(loading_pct=99.0, voltage_min_pu=0.902, voltage_max_pu=1.098)
    n_c = up.shape[1]
    for c in range(0, n_c, 7):
        more = up.copy()
        more[:, c] += np.maximum(0.1 * np.abs(up[:, c]), 0.02)
        res = pf.run(_moved(mv, series, env, more))
        bad = np.zeros(len(up), dtype=bool)
        for v in find_violations(mv.network, res, tight):
            bad[v.periods] = True
        assert bad.all(), (env.connection_names[c], bad)


def test_the_fair_share_is_the_max_min_of_an_independent_lp(cleared_evening):
    """The water-filling's lowest headroom per period equals the LP max t s.t. every headroom ≥ t and
    every limit's worst case within its room (scipy's HiGHS on the same linear rows)."""
    from scipy.optimize import linprog

    from gridflex.grid.distribution.envelopes import _constraints, _rows, _share

    _, _, _, res, sens = cleared_evening
    g0, rhs = _constraints(res, Limits())
    a = _rows(sens)
    for t in range(res.periods):
        room = rhs[t] - g0[t]
        keep = np.isfinite(room)
        up, down = _share(a[t], room)
        m = np.concatenate([np.clip(a[t], 0, None), np.clip(-a[t], 0, None)], axis=1)
        m = m[keep]
        n = m.shape[1]
        lp = linprog(
            np.r_[np.zeros(n), -1.0],
            A_ub=np.block([[m, np.zeros((len(m), 1))], [-np.eye(n), np.ones((n, 1))]]),
            b_ub=np.r_[room[keep], np.zeros(n)],
            bounds=[(None, ENVELOPE_CAP_MW)] * n + [(None, None)],
            method="highs",
        )
        assert lp.status == 0
        assert min(up.min(), down.min()) == pytest.approx(-lp.fun, rel=1e-6, abs=1e-9)
        # and Pareto: each headroom sits on a row that binds it (a step more breaks that row)
        x = np.r_[up, down]
        slack = room[keep] - m @ x
        for j in np.flatnonzero(x < ENVELOPE_CAP_MW):
            assert (slack[m[:, j] > 0] <= 1e-7 * (1 + np.abs(room[keep][m[:, j] > 0]))).any(), j


def test_over_limit_the_congestion_point_shares_the_relief(mv):
    """On the forecast itself (a feeder head at 109 % at 19:45) the connections that load that feeder
    all get the same negative import headroom: each gives up the same MW; the others keep theirs."""
    net = mv.network
    series = stress(net, mv.profiles.series(net, start=datetime(2016, 1, 20, 19, 45), periods=1), WINTER)
    pf = PowerFlow(net)
    res = pf.run(series, angles=True)
    sens = sensitivities(net, res)
    env = operating_envelopes(net, series, res, sens, pf=pf)
    up = (env.import_limit_mw - env.forecast_mw)[0]
    worst = int(np.argmax(res.branch_loading_pct[0]))
    behind = sens.loading_pct_per_mw[0, worst] > 0.02 * sens.loading_pct_per_mw[0, worst].max()
    assert (up[behind] < 0).all() and np.ptp(up[behind]) < 1e-9
    assert (up[~behind] > 0).all()
    after = pf.run(_moved(mv, series, env, up[None, :]))
    assert find_violations(net, after, Limits()) == []


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
