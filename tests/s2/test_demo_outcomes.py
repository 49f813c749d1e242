"""The S2 demo's outcomes as executed by the simulators (not as planned): EV needs met at departure,
heat-pump buffers inside their band, no PV curtailment at a positive price unless a limit binds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gridflex.assets.fill_rate import ActuatorPlanSpec, FillRateDevice, ModeChoice
from gridflex.assets.power_envelope import PowerEnvelopeDevice
from gridflex.demos.s2 import BAND_TOL_C, EV_NEED_TOL, run_s2_demo
from gridflex.s2.control.pebc import PebcState
from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.s2.rm.simulators import curtailable_pv_constraints
from gridflex.scheduling import parse_site

START = datetime(2018, 6, 12, 6, tzinfo=UTC)


def _site() -> object:
    return parse_site({"name": "t", "time": {"start": START.isoformat(), "step_s": 900, "n_periods": 8},
                       "prices": {"day_ahead_eur_per_mwh": 50.0},
                       "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 50.0}]})  # fmt: skip


def test_a_running_period_is_filled_in_the_part_still_ahead() -> None:
    """Re-planned half-way through a period, the device must run at twice the period's average rate
    to deliver the planned fill (the cause of EVs ending short at departure)."""
    aid = uuid.uuid4()
    charge = ModeChoice(uuid.uuid4(), 0.0, 10.0 / 3600.0, 0.0, 10_000.0)  # 10 kWh/h at 10 kW
    idle = ModeChoice(uuid.uuid4(), 0.0, 0.0, 0.0, 0.0)
    lo = np.full(8, -np.inf)
    lo[0] = 1.0  # 1 kWh by the end of the running period: 4 kW average, 8 kW in its second half
    dev = FillRateDevice("ev", 0.0, 0.0, 30.0, [ActuatorPlanSpec(aid, charge, None, idle)], np.zeros(8), lo,
                         np.full(8, np.inf), first_frac=0.5)  # fmt: skip
    plan = plan_site(_site(), PlanRequest(START, 900, 8, frbc=[dev]))  # type: ignore[arg-type]
    rate_kwh_per_h = plan.frbc_rate_per_s["ev"][aid][0] * 3600.0
    assert abs(rate_kwh_per_h * 0.25 * 0.5 - 1.0) < 1e-3  # executed in the half left, it gives 1 kWh
    assert abs(plan.frbc_power_kw["ev"][0] - 8.0) < 1e-3  # the power it runs at, for deviation checks
    assert abs(plan.frbc_fill["ev"][0] - 1.0) < 1e-3


def test_pv_is_not_capped_where_the_plan_takes_all_of_it() -> None:
    """The forecast is a period average: an envelope at the planned production would curtail the
    sun above it, at any price. Where the plan curtails nothing, the envelope sets no limit."""
    state = PebcState()
    pc = curtailable_pv_constraints(uuid.uuid4(), START, 4000.0)
    state.apply(pc)
    avail = np.array([1.0, 2.0, 3.0, 3.0])
    spec = PowerEnvelopeDevice("pv", pc.id, avail)
    ins = state.instruction(spec, np.array([1.0, 2.0, 1.5, 3.0]), START, 900, START)
    assert ins is not None
    lows = [e.lower_limit for e in ins.power_envelopes[0].power_envelope_elements]
    assert lows == [-4000.0, -1500.0, -4000.0]  # only the curtailed period is capped


def test_demo_meets_needs_and_holds_bands_in_execution(tmp_path: Path) -> None:
    # 9 simulated hours so each EV departs (8 h after it connects); 1000x: ~32 s of wall time
    out = run_s2_demo(tmp_path / "s2.html", speed=1000.0, hours=9.0)
    for name in ("household", "office"):
        oc = out[name]["outcomes"]
        ev, hp, pv = oc["ev"], oc["heatpump"], oc["pv"]
        # every EV departed within the run, with its need (≥ 99.5 % of it)
        assert ev["charged_at_departure_kwh"] is not None, (name, ev)
        assert ev["charged_at_departure_kwh"] >= ev["need_kwh"] * (1 - EV_NEED_TOL), (name, ev)
        # the buffer inside its 45–55 °C band at every simulated tick (0.1 K tolerance)
        lo, hi = hp["band_c"]
        assert lo - BAND_TOL_C <= hp["temp_min_c"] and hp["temp_max_c"] <= hi + BAND_TOL_C, (name, hp)
        # all day-ahead prices of that day are positive and no export limit binds (PV 4 kW under a
        # 17 / 60 kW fuse): nothing may be curtailed
        assert pv["curtailed_at_positive_price_kwh"] < 0.01, (name, pv)
        assert ev["ok"] and hp["ok"] and pv["ok"]
        assert out[name]["max_over_limit_kw"] <= 0.5


def test_pv_curtailment_is_explained_only_where_the_export_limit_binds() -> None:
    from datetime import timedelta

    from gridflex.demos.s2 import DEMO_START, _outcomes
    from gridflex.s2.rm.simulators import Simulator

    sim = Simulator("pv", "ws://127.0.0.1:1/s2", "t")  # not run: only its physics' record is read
    assert sim.pv is not None
    a, b = DEMO_START, DEMO_START + timedelta(minutes=15)
    sim.pv.curtailed_by_slot = {a: 0.2, b: 0.3}
    sim.pv.curtailed_kwh = 0.5
    prices = np.full(96, 50.0)
    oc = _outcomes(sim, prices, DEMO_START, export_bound={a})
    assert oc is not None and not oc["ok"]
    assert oc["curtailed_at_positive_price_kwh"] == 0.5 and oc["curtailed_with_a_limit_binding_kwh"] == 0.2
    assert "no limit binding" in oc["why"] and "export was at its limit" in oc["why"]
    ok = _outcomes(sim, prices, DEMO_START, export_bound={a, b})
    assert ok is not None and ok["ok"]
    prices[:2] = -5.0  # at a negative price curtailing is what the plan should do
    neg = _outcomes(sim, prices, DEMO_START)
    assert neg is not None and neg["ok"] and neg["curtailed_at_positive_price_kwh"] == 0
