"""The marketplace worked example (gridflex.demos.market): its invariants, and `gridflex demo market`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridflex.cli import app
from gridflex.demos.market import PENALTY_EUR_PER_MWH, run_market_demo


@pytest.fixture(scope="module")
def demo():
    return run_market_demo(seed=0)


def test_accepted_volume_relieves_the_congestion_through_the_sensitivity(demo):
    net, r = demo.network, demo.cleared
    assert r.status == "optimal" and sum(r.request_unmet_mw.values()) == 0
    injected = np.zeros(len(net.nodes))  # MW up per node: accepted offers
    for o in demo.offers:
        injected[net.nodes.index(o.node)] += r.activation.get(o.offer_id, 0.0) * float(o.power_mw)  # type: ignore[arg-type]
    base, limit = (np.asarray(a) for a in (net.base_flow_mw, net.limit_mw))
    # one sensitivity block per event ISP: the Jacobian at its operating point
    after = np.stack([base[:, t] + net.sensitivity_of(int(t)) @ injected for t in demo.event_isps], axis=1)
    sens = net.sensitivity_of(int(demo.event_isps[0]))
    # every requested element is brought within its limit (flows here are loading magnitudes, ≥ 0)
    for req in demo.requests:
        e = net.elements.index(req.congestion_point)
        k = int(np.flatnonzero(demo.event_isps == req.isp)[0])
        assert base[e, req.isp] - after[e, k] >= req.power_mw - 1e-6
        assert after[e, k] <= limit[e] + 1e-6
    # nothing that was within its limit is pushed over it
    ok = np.abs(base[:, demo.event_isps]) <= limit[:, None]  # loadings and voltages (MW-equivalent)
    assert np.all(np.abs(after[ok]) <= np.broadcast_to(limit[:, None], after.shape)[ok] + 1e-6)
    # the cheapest offer sits outside the feeder: next to no sensitivity, not selected
    outside = min(demo.offers, key=lambda o: o.price_eur_per_mwh)
    assert (
        abs(sens[net.elements.index(demo.congestion_point), net.nodes.index(outside.node)]) < 0.01
    )  # vs about 1 on the feeder
    assert r.offer_status[outside.offer_id] != "accepted"
    # and the AC power flow agrees: the congested branches end within their rating
    assert max(demo.loading_before_pct.values()) > 100.0
    assert max(demo.loading_after_pct.values()) <= 100.0
    # the pool that falls short leaves less relief than ordered
    assert max(demo.loading_delivered_pct.values()) > max(demo.loading_after_pct.values())


def test_money_only_moves_between_participants(demo):
    per_period = demo.settlement.statements().groupby("period_start_utc").amount_eur.sum()
    assert np.allclose(per_period, 0.0, atol=1e-9)
    assert demo.settlement.totals().net_eur.sum() == pytest.approx(0.0, abs=1e-9)
    assert set(demo.settlement.totals().index) == {"dso", "aggregator", "brp"}


def test_delivered_is_baseline_minus_metered_and_usef_rules_apply(demo):
    acts = demo.settlement.activations.set_index("order_id")
    lines = demo.settlement.lines
    h = demo.grid.step_h
    for a in demo.settlement_doc.activations:
        row = demo.meter_ids.index(a.meters[0])
        span = (demo.grid.index >= pd.Timestamp(a.start)) & (demo.grid.index < pd.Timestamp(a.end))
        delivered_kwh = (demo.baseline_kw[row, span] - demo.metered_kw[row, span]) * h  # up
        ordered_kwh = a.power_kw * h
        assert acts.loc[a.id, "delivered_kwh"] == pytest.approx(delivered_kwh.sum())
        mine = lines[lines.order_id == a.id].set_index(["item", "period_start_utc"]).amount_eur
        paid = mine["activation"].to_numpy()
        penalty = mine["penalty"].to_numpy()
        # USEF: pay as bid for the delivered energy up to the order; penalise the shortfall
        np.testing.assert_allclose(paid, a.price_eur_per_mwh * np.clip(delivered_kwh, 0, ordered_kwh) / 1000)
        np.testing.assert_allclose(
            penalty, PENALTY_EUR_PER_MWH * np.maximum(ordered_kwh - delivered_kwh, 0) / 1000
        )
    # the pool that under-delivers pays a penalty that matters; the others about noise only
    ratio = acts.performance_ratio
    assert ratio.min() < 0.8 < ratio.drop(ratio.idxmin()).min()
    assert acts.penalty_eur[ratio.idxmin()] == acts.penalty_eur.max()


def test_demo_market_command_writes_files_the_market_commands_read(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["demo", "market", "--out", str(tmp_path / "demo")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "settlement per participant" in r.output and "called (up)" in r.output
    d = tmp_path / "demo"
    summary = json.loads((d / "summary.json").read_text())
    report = (d / "report.html").read_text()
    assert (
        "Settlement per participant" in report and "<script src=" not in report
    )  # offline: plotly.js inline
    assert sum(t["net_eur"] for t in summary["totals_eur"].values()) == pytest.approx(0.0, abs=1e-9)
    r = runner.invoke(
        app, ["market", "local", str(d / "local-round.json"), "-o", str(tmp_path / "local.json")]
    )
    assert r.exit_code == 0, r.output
    again = json.loads((tmp_path / "local.json").read_text())
    assert again["cost_eur"] == pytest.approx(summary["clearing"]["cost_eur"])
    r = runner.invoke(app, ["market", "settle", str(d / "settlement-document.json"), str(d / "metered.csv"),
                            str(d / "baseline.csv"), "-o", str(tmp_path / "statements.csv")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert pd.read_csv(tmp_path / "statements.csv").amount_eur.sum() == pytest.approx(0.0, abs=1e-9)


def test_demo_market_bad_seed_is_one_line_exit_2(tmp_path):
    r = CliRunner().invoke(app, ["demo", "market", "--seed", "-1", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--seed" in r.output


# ── reserved capacity, activated within its calendar, reaching the devices ──────────────────────


@pytest.fixture(scope="module")
def capacity():
    from gridflex.demos.market import run_capacity_demo

    return run_capacity_demo(seed=0)


def test_capacity_call_reaches_every_device_through_the_flexoffer_path(capacity):
    from gridflex.flexoffer.model import place_on_grid
    from gridflex.flexoffer.validate import validate_schedule

    grid = capacity.grid
    assert capacity.award.procured_mw == pytest.approx(0.04) and capacity.activation.unmet_mw == 0
    assert (
        {i.site_id for i in capacity.activation.instructions} == set(capacity.sites) == {"site-1", "site-2"}
    )
    for site in capacity.sites.values():
        on = site.instructed_kw > 0
        called = grid.index[on]
        assert called[0] == pd.Timestamp("2018-06-13T01:00Z") and len(called) == 4  # 1 h of 15 min
        assert np.allclose(site.instructed_kw[on], 20.0)
        # up: the site takes at least the called power less from the grid than planned, in every period
        assert np.all(site.dispatched_kw[on] <= site.planned_kw[on] - site.instructed_kw[on] + 1e-6)
        # the devices' schedules are inside their flex-offers and add up to the site's power
        members = site.members
        assert members.schedule is not None
        assert validate_schedule(members, members.schedule) == []
        device_kw = place_on_grid(members, members.schedule, grid.start_s, grid.n) / grid.step_h
        np.testing.assert_allclose(device_kw, site.dispatched_kw, atol=1e-6)


def test_a_call_outside_the_activation_calendar_is_refused(capacity):
    from datetime import UTC, datetime

    from gridflex.errors import GridflexError
    from gridflex.market.capacity import activate

    with pytest.raises(GridflexError, match="calendar"):
        activate(
            capacity.tender, capacity.bids, capacity.award, datetime(2018, 6, 13, 5, tzinfo=UTC), 1.0, 0.04
        )


def test_the_d_prognosis_baseline_fits_the_cold_day_where_like_days_do_not(demo):
    nominated, like_days = demo.baseline_accuracy
    assert abs(nominated.bias_pct) < 2.0  # the aggregator's forecast error only
    assert like_days.bias_pct < -20.0  # heat pumps on a cold day: like days under-estimate the load


def test_a_down_call_raises_the_site_power_and_an_unknown_site_is_named():
    from datetime import UTC, datetime

    from gridflex.errors import ValidationError
    from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
    from gridflex.market.capacity import ActivationResult, Instruction
    from gridflex.market.dispatch import dispatch_activation
    from gridflex.market.prices import prices_on_grid

    grid = fleet_horizon("2018-06-12")
    prices = prices_on_grid(grid, "France")
    fleets = {"site-1": generate_fleet(300, day="2018-06-12", seed=1)}

    def call(site: str) -> ActivationResult:
        ins = Instruction(bid_id="b", participant="agr", site_id=site, power_mw=0.02,
                          start=datetime(2018, 6, 12, 14, tzinfo=UTC), end=datetime(2018, 6, 12, 15, tzinfo=UTC))  # fmt: skip
        return ActivationResult(instructions=[ins], activated_mw=0.02, unmet_mw=0.0, activation_cost_eur=0.0)

    site = dispatch_activation(call("site-1"), "down", fleets, grid, prices)["site-1"]
    on = site.instructed_kw > 0
    assert on.sum() == 4
    # down: at least the called power more into the site (less into the grid) than planned (PV hours)
    assert np.all(site.dispatched_kw[on] >= site.planned_kw[on] + 20.0 - 1e-6)
    with pytest.raises(ValidationError, match="site-9"):
        dispatch_activation(call("site-9"), "down", fleets, grid, prices)
    with pytest.raises(ValidationError, match="direction"):
        dispatch_activation(call("site-1"), "symmetric", fleets, grid, prices)
