"""PEBC.EnergyConstraint in the optimiser: the planned production's average over the window stays
within the constraint's bounds (softly), revocation and other commodities, and over the socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from s2python.common import (
    CommodityQuantity,
    Duration,
    PowerForecast,
    PowerForecastElement,
    PowerForecastValue,
)
from s2python.pebc import PEBCEnergyConstraint, PEBCInstruction

from gridflex.s2.clock import Clock
from gridflex.s2.control.pebc import ENERGY_PENALTY_EUR_PER_KWH, PebcInputs, PebcState
from gridflex.s2.planner import Plan, PlanRequest, plan_site
from gridflex.s2.rm.simulators import Simulator, curtailable_pv_constraints
from gridflex.s2.server import CEM
from gridflex.scheduling import Site, parse_site
from tests.s2.helpers import TOKEN, run, small_site

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = 900
N = 8
ELEC = CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC
TOL = 1e-5


def site(price: float | list[float]) -> Site:
    return parse_site({
        "name": "pebc-test", "time": {"start": T0.isoformat(), "step_s": STEP, "n_periods": N},
        "prices": {"day_ahead_eur_per_mwh": price},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 20},
                   {"kind": "load", "name": "house", "profile_kw": 1.0}],
    })  # fmt: skip


def pv_state(available_kw: list[float] | np.ndarray) -> tuple[PebcState, PowerForecast]:
    state = PebcState()
    state.apply(curtailable_pv_constraints(uuid.uuid4(), T0, 10_000.0))
    forecast = PowerForecast(message_id=uuid.uuid4(), start_time=T0, elements=[
        PowerForecastElement(duration=Duration(STEP * 1000), power_values=[
            PowerForecastValue.model_validate({"value_expected": -kw * 1000.0, "commodity_quantity": ELEC})])
        for kw in available_kw
    ])  # fmt: skip
    return state, forecast


def energy(
    state: PebcState,
    start: datetime,
    end: datetime,
    lower_w: float,
    upper_w: float,
    cq: CommodityQuantity = ELEC,
) -> uuid.UUID:
    ec = PEBCEnergyConstraint(message_id=uuid.uuid4(), id=uuid.uuid4(), valid_from=start, valid_until=end,
                              lower_average_power=lower_w, upper_average_power=upper_w, commodity_quantity=cq)  # fmt: skip
    assert state.check(ec) is None
    state.apply(ec)
    return ec.id


def plan(s: Site, state: PebcState, forecast: PowerForecast, now: datetime = T0) -> tuple[Plan, PebcInputs]:
    spec = state.inputs("pv1", T0, STEP, N, forecast, None, now)
    assert spec is not None
    return plan_site(s, PlanRequest(T0, STEP, N, pebc=[spec])), spec


def at(k: float) -> datetime:
    return T0 + timedelta(seconds=k * STEP)


def window_avg_kw(pv: np.ndarray, a: datetime, b: datetime, now: datetime = T0) -> float:
    edges = np.arange(N + 1) * STEP
    lo = max((a - T0).total_seconds(), (now - T0).total_seconds())
    hi = (b - T0).total_seconds()
    h = np.maximum(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0)
    return float(h @ pv / h.sum())


def envelope_lower_w(instr: PEBCInstruction) -> np.ndarray:
    """The first envelope's lower limit per period (elements start at period 0 here)."""
    out: list[float] = []
    for el in instr.power_envelopes[0].power_envelope_elements:
        out += [el.lower_limit] * (el.duration.root // (STEP * 1000))
    return np.array(out)


def test_upper_production_bound_curtails_to_the_window_average() -> None:
    s = site([50, 40, 30, 20, 60, 80, 90, 100])
    state, fc = pv_state([5.0] * N)
    free, _ = plan(s, state, fc)
    assert np.allclose(free.pv_kw["pv1"], 5.0)  # positive prices: no curtailment without the constraint
    # 00:30–01:30: average power at least −2 kW, i.e. production at most 2 kW on average
    a, b = at(2), at(6)
    energy(state, a, b, lower_w=-2000.0, upper_w=0.0)
    p, spec = plan(s, state, fc)
    pv = p.pv_kw["pv1"]
    assert len(spec.energy) == 1 and abs(spec.energy[0].max_kwh - 2.0) < 1e-9
    assert abs(window_avg_kw(pv, a, b) - 2.0) < TOL
    assert np.allclose(pv[[0, 1, 6, 7]], 5.0)  # outside the window: as before
    assert p.costs_eur.get("penalty", 0.0) < 1e-6
    # the instruction follows the plan: the envelope lets at most the planned production through in
    # the window; outside it the plan curtails nothing, so no limit (the forecast is only an average)
    instr = state.instruction(spec, pv, T0, STEP, T0)
    assert instr is not None
    lower = envelope_lower_w(instr)
    assert np.allclose(lower[2:6], -pv[2:6] * 1000.0, atol=0.1)
    assert np.allclose(lower[[0, 1, 6, 7]], -10_000.0)  # the constraint's most permissive lower limit
    assert abs(-lower[2:6].mean() - 2000.0) < 0.5


def test_minimum_production_when_negative_prices_would_curtail() -> None:
    s = site(-50.0)
    state, fc = pv_state([6.0] * N)
    free, _ = plan(s, state, fc)
    assert np.allclose(free.pv_kw["pv1"], 0.0)  # negative prices: curtail everything
    # now = 00:10. 00:15–01:15: average power in [−4, −3] kW, i.e. production 3–4 kW on average
    a, b, now = at(1), at(5), T0 + timedelta(minutes=10)
    energy(state, a, b, lower_w=-4000.0, upper_w=-3000.0)
    # and 00:05–00:20: its part before now does not count (5 min of period 0, 5 min of period 1)
    energy(state, T0 + timedelta(minutes=5), T0 + timedelta(minutes=20), lower_w=-6000.0, upper_w=-2500.0)
    p, spec = plan(s, state, fc, now)
    pv = p.pv_kw["pv1"]
    assert abs(window_avg_kw(pv, a, b, now) - 3.0) < TOL  # the least production the constraint allows
    hours0 = (at(1) - now).total_seconds() / 3600
    h0 = spec.energy[0].hours if spec.energy[0].hours[0] > 0 else spec.energy[1].hours
    assert abs(h0[0] - hours0) < 1e-9 and abs(h0[1] - 5 / 60) < 1e-9  # cut at now and at 00:20
    assert window_avg_kw(pv, T0 + timedelta(minutes=5), T0 + timedelta(minutes=20), now) >= 2.5 - TOL
    assert np.allclose(pv[5:], 0.0)  # after the windows: curtailed again
    assert p.costs_eur.get("penalty", 0.0) < 1e-6


def test_revoked_constraint_and_other_commodities_have_no_effect() -> None:
    s = site(50.0)
    state, fc = pv_state([4.0] * N)
    cid = energy(state, at(0), at(8), lower_w=-1000.0, upper_w=0.0)
    p, _ = plan(s, state, fc)
    assert abs(p.pv_kw["pv1"].mean() - 1.0) < TOL
    assert state.revoke("PEBC.EnergyConstraint", cid)
    p, spec = plan(s, state, fc)
    assert spec.energy == [] and np.allclose(p.pv_kw["pv1"], 4.0)
    # heat, or a window before now / after the horizon: ignored
    energy(state, at(0), at(8), lower_w=-1000.0, upper_w=0.0, cq=CommodityQuantity.HEAT_THERMAL_POWER)
    energy(state, T0 - timedelta(hours=1), T0 + timedelta(minutes=10), lower_w=-1000.0, upper_w=0.0)
    energy(state, at(8), at(12), lower_w=-1000.0, upper_w=0.0)
    p, spec = plan(s, state, fc, now=T0 + timedelta(minutes=10))
    assert spec.energy == [] and np.allclose(p.pv_kw["pv1"], 4.0)
    bad = PEBCEnergyConstraint(message_id=uuid.uuid4(), id=uuid.uuid4(), valid_from=at(0), valid_until=at(1),
                               lower_average_power=-1000.0, upper_average_power=-2000.0, commodity_quantity=ELEC)  # fmt: skip
    assert state.check(bad) == "lower_average_power is above upper_average_power"


def test_infeasible_constraint_gives_a_plan_with_the_least_shortfall() -> None:
    s = site([50, 40, 30, 20, 60, 80, 90, 100])
    avail = np.array([1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0])
    state, fc = pv_state(avail)
    energy(state, at(2), at(6), lower_w=-9000.0, upper_w=-8000.0)  # 8 kW average: more than there is
    energy(state, at(0), at(2), lower_w=500.0, upper_w=1000.0)  # a PV cannot consume: infeasible too
    p, spec = plan(s, state, fc)
    pv = p.pv_kw["pv1"]
    assert np.allclose(pv[2:6], avail[2:6])  # every kWh available in the window
    assert np.allclose(pv[:2], 0.0)  # as close to consuming as a PV gets
    short = 8.0 * 1.0 - avail[2:6].sum() * 0.25 + 0.5 * 0.5  # kWh: 8 kW over 1 h; 0.5 kW consumed over 0.5 h
    assert (
        abs(p.costs_eur["penalty"] - ENERGY_PENALTY_EUR_PER_KWH * short) < 1e-3 * ENERGY_PENALTY_EUR_PER_KWH
    )
    assert len(spec.energy) == 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    avail=st.lists(st.floats(0.0, 6.0), min_size=N, max_size=N),
    a_min=st.integers(0, N * 15 - 1),
    length_min=st.integers(1, N * 15),
    now_min=st.integers(0, 14),
    bounds=st.tuples(st.floats(0.0, 6.0), st.floats(0.0, 6.0)).map(sorted),
    price=st.sampled_from([-80.0, 0.0, 45.0]),
)
def test_feasible_constraint_holds_over_its_window(
    avail: list[float], a_min: int, length_min: int, now_min: int, bounds: list[float], price: float
) -> None:
    now = T0 + timedelta(minutes=now_min)
    a = T0 + timedelta(minutes=a_min)
    b = min(a + timedelta(minutes=length_min), at(N))
    assume(b > max(a, now))
    lo_kw, hi_kw = bounds  # production average in [lo, hi]: power in [−hi, −lo] W·1000
    state, fc = pv_state(avail)
    energy(state, a, b, lower_w=-hi_kw * 1000.0, upper_w=-lo_kw * 1000.0)
    assume(window_avg_kw(np.array(avail), a, b, now) >= lo_kw + 1e-6)  # feasible
    p, _ = plan(site(price), state, fc, now)
    pv = p.pv_kw["pv1"]
    assert (pv >= -TOL).all() and (pv <= np.array(avail) + TOL).all()
    avg = window_avg_kw(pv, a, b, now)
    assert lo_kw - TOL <= avg <= hi_kw + TOL, (avg, lo_kw, hi_kw)
    assert p.costs_eur.get("penalty", 0.0) < 1e-3


def test_energy_constraint_from_an_s2python_rm_changes_the_instructions() -> None:
    """A PV simulator (s2-python RM) at noon; an EnergyConstraint of at most 1 kW production over
    the next hour makes the CEM send a PEBC.Instruction whose envelope holds production to it."""

    async def go() -> None:
        clock = Clock(1.0, start=datetime(2024, 6, 1, 12, 1, tzinfo=UTC))
        cem = CEM(small_site(), {TOKEN: None}, clock=clock, debounce_s=0.02, ping_interval_s=None)
        port = await cem.start("127.0.0.1", 0)
        try:
            sim = Simulator("pv", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=clock, report_every_s=0.2)
            task = asyncio.create_task(sim.run(duration_s=120))
            for _ in range(250):
                await asyncio.sleep(0.02)
                if sim.received and sim._active is not None:
                    break
            first = sim.received[-1]
            assert isinstance(first, PEBCInstruction)
            assert min(el.lower_limit for el in first.power_envelopes[0].power_envelope_elements) < -3000
            now = clock.now()
            conn = sim._active
            assert conn is not None
            await conn.send_msg_and_await_reception_status(PEBCEnergyConstraint(
                message_id=uuid.uuid4(), id=uuid.uuid4(), valid_from=now, valid_until=now + timedelta(hours=1),
                lower_average_power=-1000.0, upper_average_power=0.0, commodity_quantity=ELEC))  # fmt: skip
            count = len(sim.received)
            for _ in range(250):
                await asyncio.sleep(0.02)
                if len(sim.received) > count:
                    break
            instr = sim.received[-1]
            assert len(sim.received) > count and isinstance(instr, PEBCInstruction)
            # energy the envelope lets through over the window, against 1 kW × 1 h (plus the part of the
            # window before the instruction's execution time at most)
            t, kwh = instr.execution_time, 0.0
            for el in instr.power_envelopes[0].power_envelope_elements:
                end = t + timedelta(milliseconds=el.duration.root)
                overlap = (min(end, now + timedelta(hours=1)) - max(t, now)).total_seconds()
                kwh += max(overlap, 0.0) / 3600 * -el.lower_limit / 1000.0
                t = end
            assert 0.95 <= kwh <= 1.0 + 1e-3, kwh
            assert cem.last_error is None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            # let the planner handle the disconnect first: on Python 3.11 a cancel that arrives just as
            # its wait_for wakes is lost, and stop() would wait for the next periodic plan (15 min here)
            await asyncio.sleep(0.2)
        finally:
            await cem.stop()

    run(go(), timeout_s=30)


def test_an_unchanged_replan_sends_a_pebc_rm_nothing_and_a_changed_one_the_new_envelope() -> None:
    """Send only what changed (decision 0024), for PEBC as for FRBC: re-plans of the same inputs
    send the PV simulator (an s2-python RM) no instruction and no revocation; an EnergyConstraint
    changes the plan, and the RM gets one new envelope, which holds production to it."""

    async def go() -> None:
        clock = Clock(1.0, start=datetime(2024, 6, 1, 12, 1, tzinfo=UTC))
        cem = CEM(small_site(), {TOKEN: None}, clock=clock, debounce_s=0.02, ping_interval_s=None)
        sent: list[str] = []  # the instructions and revocations the CEM sent

        def tap(rid: str, frame: str) -> None:
            if (mtype := json.loads(frame)["message_type"]) in ("PEBC.Instruction", "RevokeObject"):
                sent.append(mtype)

        cem.frame_tap = tap
        port = await cem.start("127.0.0.1", 0)
        sim = Simulator("pv", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=clock, report_every_s=0.2)
        task = asyncio.create_task(sim.run(duration_s=120))
        try:
            for _ in range(500):
                await asyncio.sleep(0.02)
                if sim.received and sim._active is not None:
                    break
            await asyncio.sleep(0.3)  # the planner's own re-plans of the RM's first messages
            first = [m for m in sim.received if isinstance(m, PEBCInstruction)]
            assert first
            before, plans = len(sent), cem.plans
            for _ in range(3):
                assert await cem.replan() is not None
            assert cem.plans >= plans + 3
            assert sent[before:] == [] and len(sim.received) == len(first)  # the RM has that envelope
            now = clock.now()
            conn = sim._active
            assert conn is not None
            await conn.send_msg_and_await_reception_status(PEBCEnergyConstraint(
                message_id=uuid.uuid4(), id=uuid.uuid4(), valid_from=now, valid_until=now + timedelta(hours=1),
                lower_average_power=-1000.0, upper_average_power=0.0, commodity_quantity=ELEC))  # fmt: skip
            for _ in range(250):
                await asyncio.sleep(0.02)
                if len(sim.received) > len(first):
                    break
            await asyncio.sleep(0.3)
            new = sim.received[len(first) :]
            assert [type(m) for m in new] == [PEBCInstruction], new
            assert sent[before:] == ["PEBC.Instruction"]  # no revocation: the first envelope had started
            t, kwh = new[0].execution_time, 0.0  # the production it lets through in the hour: ≤ 1 kWh
            for el in new[0].power_envelopes[0].power_envelope_elements:
                end = t + timedelta(milliseconds=el.duration.root)
                kwh += (
                    max((min(end, now + timedelta(hours=1)) - max(t, now)).total_seconds(), 0.0)
                    / 3600
                    * -el.lower_limit
                    / 1000
                )
                t = end
            assert (
                kwh <= 1.0 + 1e-3
                and first[-1].power_envelopes[0].power_envelope_elements[0].lower_limit < -3000
            )
            count = len(sent)
            assert await cem.replan() is not None
            assert sent[count:] == []  # and that envelope is not sent again
            assert cem.last_error is None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.sleep(0.2)
            await cem.stop()

    run(go(), timeout_s=60)
