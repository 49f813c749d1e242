"""The day end to end on a small size (two sites, 7200x): the chain's invariants.

Every disaggregated site schedule lies inside its flex-offer and the pool's schedule is their sum;
the settlement only moves money and the energy ordered from a pool is what its sites were asked
for; the relief is checked by an AC power flow, independent of the market's linear network model;
the S2 instructions of the activation reached the simulated devices for the activated ISPs.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from gridflex.demos.day import HOMES, OFFICE, DayConfig, run_day
from gridflex.errors import ValidationError
from gridflex.flexoffer.validate import validate_schedule


@pytest.fixture(scope="module")
def day():
    # two of the four sites: at 0.95 of the winter stress the feeder is overloaded whatever their plans
    # (at the default 0.85 it takes the four sites' baselines to overload it)
    return run_day(DayConfig(sites=(HOMES[0], OFFICE), speed=7200.0, seed=1, stress_scale=0.95))


def test_every_site_schedule_lies_inside_its_flexoffer_and_sums_to_its_pool(day):
    assert day.dispatch, "the market activated no pool"
    for pool, d in day.dispatch.items():
        members = d.members
        assert validate_schedule(members, members.schedule) == []
        n = int(members.lengths[0])
        kw = members.schedule.energy_kwh.reshape(len(members), n) / day.grid.step_h
        np.testing.assert_allclose(kw.sum(axis=0), d.dispatched_kw, atol=1e-6)
        np.testing.assert_allclose(d.planned_kw - d.dispatched_kw, d.instructed_kw, atol=1e-6)
        for sid in members.ids.tolist():
            s = day.sites[sid]
            assert s.bus_name == pool  # the location carried by the flex-offer is the pool's bus
            assert np.all(s.target_kw >= s.plan_kw - s.up_kw - 1e-6) and np.all(
                s.target_kw <= s.plan_kw + 1e-6
            )
    assert set(day.flexoffers.locations.tolist()) == {s.bus_name for s in day.sites.values()}
    assert {o.node for o in day.offers} <= set(day.flexoffers.locations.tolist())


def test_the_settlement_only_moves_money_and_keeps_the_energy_of_the_orders(day):
    lines = day.settlement.lines
    # every line is payer → payee: the statements sum to zero in every period
    statements = day.settlement.statements()
    per_period = statements.groupby("period_start_utc").amount_eur.sum()
    assert np.abs(per_period.to_numpy()).max() < 1e-9
    assert abs(day.settlement.totals().net_eur.sum()) < 1e-9
    assert (lines.payer != lines.payee).all()
    acts = day.settlement.activations.set_index("order_id")
    market, portfolio = day.settlement_docs
    ordered_by_pool = {}
    for a in market.activations:
        ordered_by_pool[a.meters[0]] = ordered_by_pool.get(a.meters[0], 0.0) + acts.ordered_kwh[a.id]
    # what the DSO ordered from the aggregator is what the aggregator asked of its sites
    asked = sum(acts.ordered_kwh[a.id] for a in portfolio.activations)
    np.testing.assert_allclose(sum(ordered_by_pool.values()), asked, rtol=1e-6)
    np.testing.assert_allclose(
        asked, sum(float(d.instructed_kw.sum()) for d in day.dispatch.values()) * 0.25, rtol=1e-6
    )
    # delivered = baseline − metered of the order's meters, recomputed here, capped at nothing
    k = day.meter_ids
    for a in market.activations:
        t = int(
            (np.datetime64(a.start.replace("Z", "")) - np.datetime64(day.grid.start.replace(tzinfo=None)))
            // np.timedelta64(15, "m")
        )
        rows = [k.index(m) for m in a.meters]
        want = float((day.baseline_kw[rows, t] - day.metered_kw[rows, t]).sum()) * 0.25
        assert acts.delivered_kwh[a.id] == pytest.approx(want, abs=1e-6)
    # the activation payment never pays more than ordered; penalties only for a shortfall
    assert (acts.activation_eur <= acts.ordered_kwh * 1e-3 * 1e3 + 1e-6).all()
    short = acts.delivered_kwh < acts.ordered_kwh - 1e-9
    assert (acts.penalty_eur[~short] == 0).all()


def test_the_relief_holds_in_an_ac_power_flow_independent_of_the_market_model(day):
    before, planned = day.loading_pct["before"], day.loading_pct["planned"]
    requested = sorted({r.isp for r in day.requests})
    assert before[requested].min() > 100.0  # the DSO asked only where the forecast overloads
    assert (planned[requested] <= before[requested] + 1e-6).all()
    assert planned[requested].max() < before[requested].max()
    # the market's linear model (sensitivity × activation) against the AC power flow's change
    e = day.network.elements.index(day.congestion_branch)
    nodes = day.network.nodes
    predicted_mw = np.zeros(day.grid.n)
    for d in day.dispatch.values():
        # sensitivity of each ISP: flow change per MW injected; up = more injection: the relief is its opposite
        for t in np.flatnonzero(d.instructed_kw):
            sens = day.network.sensitivity_of(int(t))[e, nodes.index(d.site_id)]
            predicted_mw[t] -= sens * d.instructed_kw[t] / 1000.0
    rating_mw = np.asarray(day.network.base_flow_mw)[e] / before * 100.0
    ac_mw = (before - planned) / 100.0 * rating_mw
    on = predicted_mw > 0.01
    assert on.any()
    np.testing.assert_allclose(ac_mw[on], predicted_mw[on], rtol=0.15)
    assert day.overloaded_isps["planned"] <= day.overloaded_isps["before"]
    assert 0 <= day.overload_mwh["planned"] < day.overload_mwh["before"]
    assert day.residual().startswith(
        f"{day.overloaded_requested['delivered']} requested ISPs over the ratings"
    )


def test_the_activation_reached_the_devices_as_s2_instructions(day):
    activated = [s for s in day.sites.values() if s.target_kw is not None]
    assert activated
    for s in activated:
        assert s.instructions_after > 0, s.spec.name
        on = np.flatnonzero(s.plan_kw - s.target_kw > 1e-6)
        first = day.grid.start + timedelta(minutes=15 * int(on[0]))
        last = day.grid.start + timedelta(minutes=15 * int(on[-1] + 1))
        assert any(first <= t < last for t in s.instructed_at), s.spec.name
    report = day.summary()
    assert any(k == "S2 instructions after the activation" for k, _ in report)


def test_a_bad_day_is_refused_naming_each_field():
    with pytest.raises(ValidationError) as exc:
        run_day(DayConfig(sites=(), speed=0.5, seed=-1))
    text = str(exc.value)
    assert "day.sites" in text and "day.speed" in text and "day.seed" in text
    with pytest.raises(ValidationError, match="appears more than once"):
        run_day(DayConfig(sites=(OFFICE, OFFICE)))


def test_the_held_clock_stands_still_and_resumes_without_a_jump():
    import time
    from datetime import UTC, datetime

    from gridflex.demos.day_sites import held_clock

    start = datetime(2018, 1, 17, tzinfo=UTC)
    clock = held_clock(3600.0, start)
    time.sleep(0.05)
    assert clock.now() == start  # it starts held: setting up takes no simulated time
    clock.release()
    time.sleep(0.05)
    t1 = clock.now()
    assert timedelta(seconds=100) < t1 - start < timedelta(seconds=3600)  # ~0.05 s × 3600, not 0.1 s × 3600
    clock.hold()
    t2 = clock.now()
    time.sleep(0.05)
    assert clock.now() == t2


def test_metering_integrates_the_sampled_power_per_isp_and_scales_like_sites():
    from types import SimpleNamespace

    from gridflex.demos.day_sites import meter as _meter
    from gridflex.timegrid import TimeGrid

    grid = TimeGrid(datetime_utc(), 900, 2)
    t0 = grid.start.timestamp()
    # 2 kW for the first ISP, 6 kW for the second (held from each sample to the next)
    samples = [(t0 + s, 2.0 if s < 900 else 6.0) for s in range(0, 1800, 60)] + [(t0 + 1800, 6.0)]
    spec = SimpleNamespace(name="s", like_sites=10)
    live = SimpleNamespace(config=SimpleNamespace(sites=[spec]), samples={"s": samples})
    out = _meter(live, grid, np.random.default_rng(0), 0.0)
    np.testing.assert_allclose(out["s"], [20.0, 60.0])


def datetime_utc():
    from datetime import UTC, datetime

    return datetime(2018, 1, 17, tzinfo=UTC)
