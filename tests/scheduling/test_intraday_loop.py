"""Intraday as a second loop: the day-ahead position is kept, intraday re-trades the forecast error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site
from gridflex.scheduling.intraday import run_two_loop
from gridflex.scheduling.mpc import run_mpc
from tests.scheduling.helpers import START

DA = [40, 35, 30, 28, 30, 45, 70, 90, 80, 60, 50, 45, 40, 38, 40, 50, 65, 95, 110, 90, 70, 55, 50, 45.0]


def _site(
    intraday: list[float] | None, battery: bool = True, services: dict | None = None, tou: float = 0.0
) -> dict:
    assets = [
        {"kind": "grid_connection", "name": "grid", "import_max_kw": 200, "export_max_kw": 200},
        {"kind": "load", "name": "load", "profile_kw": [20.0] * 8 + [40.0] * 10 + [30.0] * 6},
        {
            "kind": "pv",
            "name": "pv",
            "profile_kw": [0] * 7 + [5, 10, 15, 18, 20, 20, 18, 15, 10, 5] + [0] * 7,
        },
    ]
    if battery:
        assets.append({"kind": "battery", "name": "b", "capacity_kwh": 40, "charge_power_kw": 20,
                       "soc_min_frac": 0.1, "initial_soc_frac": 0.5, "target_soc_frac": 0.5,
                       "charge_efficiency": 0.95, "discharge_efficiency": 0.95})  # fmt: skip
    prices: dict = {"day_ahead_eur_per_mwh": DA, "tou_eur_per_mwh": tou}
    if intraday is not None:
        prices["intraday"] = {"prices_eur_per_mwh": intraday, "max_kw": 200}
    return {
        "name": "two-loop",
        "time": {"start": START, "step_s": 3600, "n_periods": 24, "timezone": "Europe/Paris"},
        "prices": prices,
        "assets": assets,
        **({"services": services} if services else {}),
    }


def test_without_assets_to_move_the_intraday_trades_are_the_forecast_error_hand_computed() -> None:
    """Load and PV only: the day-ahead position is the forecast net load; intraday buys exactly the
    error at the intraday price, and the second loop is worth nothing (nothing can re-dispatch). The
    network tariff is paid on the metered import, not on the day-ahead and intraday trades."""
    intraday = [p + 5.0 for p in DA]
    tou = 30.0
    # A PV larger than the midday load: the site exports at midday, so some forecasts are off in sign.
    data = _site(intraday, battery=False, tou=tou)
    data["assets"][2]["profile_kw"] = [2.0 * v for v in data["assets"][2]["profile_kw"]]
    run = run_two_loop(parse_site(data), forecast_error=0.6, seed=3)
    actual = np.array([20.0] * 8 + [40.0] * 10 + [30.0] * 6) - 2.0 * np.array(
        [0] * 7 + [5, 10, 15, 18, 20, 20, 18, 15, 10, 5] + [0] * 7, float
    )
    pos = run.position_kw["grid"]
    assert run.intraday.power_kw["grid"]["electricity"] == pytest.approx(actual)
    expected = float((pos * np.array(DA)).sum() + ((actual - pos) * np.array(intraday)).sum()) / 1000
    assert run.intraday.costs_eur["energy"] + run.intraday.costs_eur["feed_in"] + run.intraday.costs_eur[
        "intraday"
    ] == pytest.approx(expected)
    # The tariff is on the metered import; on the trades it would be more wherever intraday sells back.
    tariff = float(np.maximum(actual, 0.0).sum()) * tou / 1000
    on_trades = float((np.maximum(pos, 0.0) + np.maximum(actual - pos, 0.0)).sum()) * tou / 1000
    assert run.intraday.costs_eur["tariff"] == pytest.approx(tariff)
    assert on_trades > tariff + 0.01
    assert run.value_eur == pytest.approx(0.0, abs=1e-7)
    assert run.traded_intraday_kwh() == pytest.approx(float(np.abs(actual - pos).sum()))


def test_the_second_loop_is_worth_something_with_a_battery_and_keeps_the_position() -> None:
    # Intraday is cheap at midday (a PV surplus the day-ahead did not see): the battery moves its
    # charge there, selling back intraday what it bought day-ahead at night.
    intraday = [p - (50.0 if 10 <= h <= 14 else 0.0) for h, p in enumerate(DA)]
    run = run_two_loop(parse_site(_site(intraday)), forecast_error=0.2, seed=1)
    # The day-ahead position is kept: the energy term is the position at the day-ahead prices.
    pos = run.position_kw["grid"]
    da = run.intraday.costs_eur["energy"] + run.intraday.costs_eur["feed_in"]
    assert da == pytest.approx(float(pos @ np.array(DA)) / 1000, abs=1e-6)
    assert run.value_eur > 0.5
    assert run.intraday.costs_eur["total"] <= run.single_loop.costs_eur["total"] + 1e-7
    with_zero_error = run_two_loop(parse_site(_site(intraday)), forecast_error=0.0)
    assert with_zero_error.value_eur >= -1e-7


def test_service_commitments_of_the_gate_are_kept_intraday() -> None:
    fcr = {"reserves": [{"name": "fcr", "product": "fcr", "availability_price_eur_per_mw_h": 20.0}]}
    run = run_two_loop(parse_site(_site(list(DA), services=fcr)), forecast_error=0.1)
    assert run.intraday.service_kw["fcr"] == pytest.approx(run.day_ahead.service_kw["fcr"], abs=1e-6)


def test_a_site_without_intraday_prices_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        run_two_loop(parse_site(_site(None)))
    assert (info.value.problems[0].object_id, info.value.problems[0].field) == ("prices", "intraday")


def test_the_rolling_horizon_trades_intraday_around_the_day_ahead_position() -> None:
    """run_mpc with an intraday market: each day's position is bought at its gate (a stage per day,
    services or not); the steps re-plan on intraday prices with it fixed. Money and volume add up:
    day-ahead = position × day-ahead price, intraday = (metered − position) × intraday price,
    tariff on the metered import. (Perfect foresight is no lower bound here: it trades on one market
    per period, while the rolling run may sell back intraday what its position bought.)"""
    intraday = [p - (50.0 if 10 <= h <= 14 else 0.0) for h, p in enumerate(DA)]
    tou = 20.0
    res = run_mpc(
        parse_site(_site(intraday, tou=tou)), days=2, forecast_error=0.2, seed=1, measure_cold=False
    )
    assert res.stages == 2 and res.realised is not None
    pos, metered = res.position_kw["grid"], res.realised.power_kw["grid"]["electricity"]
    assert not np.isnan(pos).any()
    c = res.realised.costs_eur
    assert c["energy"] + c["feed_in"] == pytest.approx(float(pos @ np.tile(DA, 2)) / 1000, abs=1e-6)
    assert c["intraday"] == pytest.approx(float((metered - pos) @ np.tile(intraday, 2)) / 1000, abs=1e-6)
    assert c["tariff"] == pytest.approx(float(np.maximum(metered, 0.0).sum()) * tou / 1000, abs=1e-6)
    assert res.intraday_traded_kwh == pytest.approx(float(np.abs(metered - pos).sum()))
    assert res.intraday_traded_kwh > 1.0
    assert res.milp_steps == 0  # every day-ahead trade fixed: no exclusivity binaries in the steps


def test_two_loop_as_the_site_files_strategy_reports_the_value_of_the_second_loop() -> None:
    """``strategy: two_loop`` in a site file (examples/sites/home_intraday.yaml): schedule_site runs
    the two loops with the file's error and seed; the result is run_two_loop's second loop, with the
    value of the second loop in the result, its JSON and the HTML report."""
    import json

    from gridflex.reports.site import site_report_sections
    from gridflex.scheduling import load_site, schedule_site
    from tests.scheduling.test_site_format import ROOT

    site = load_site(ROOT / "examples" / "sites" / "home_intraday.yaml")
    assert (site.strategy.name, site.strategy.forecast_error, site.strategy.seed) == ("two_loop", 0.15, 0)
    result = schedule_site(site)
    run = run_two_loop(site, forecast_error=0.15, seed=0)
    assert result.strategy == "two_loop"
    assert result.costs_eur["total"] == pytest.approx(run.intraday.costs_eur["total"], abs=1e-6)
    assert result.second_loop["value_eur"] == pytest.approx(run.value_eur, abs=1e-6)
    assert result.second_loop["single_loop_cost_eur"] == pytest.approx(
        result.costs_eur["total"] + result.second_loop["value_eur"], abs=1e-6
    )
    assert result.second_loop["value_eur"] >= -1e-7 and result.second_loop["traded_intraday_kwh"] > 0
    assert json.loads(result.to_json())["second_loop"]["value_eur"] == pytest.approx(run.value_eur, abs=1e-5)
    assert any(s.title == "Intraday second loop" for s in site_report_sections(result))


def test_the_two_loop_strategy_without_intraday_prices_or_with_a_bad_error_is_named() -> None:
    data = _site(None)
    data["strategy"] = {"name": "two_loop"}
    with pytest.raises(ValidationError) as info:
        parse_site(data)
    assert ("strategy", "name") in {(p.object_id, p.field) for p in info.value.problems}
    data["strategy"] = {"name": "two_loop", "forecast_error": -1}
    with pytest.raises(ValidationError) as info:
        parse_site(data)
    assert ("site", "strategy.forecast_error") in {(p.object_id, p.field) for p in info.value.problems}


def test_the_value_of_the_second_loop_inside_the_mpc() -> None:
    """run_mpc with an intraday market also runs the MPC without its second loop: each day-ahead
    stage's plan applied as it stands, the error settled intraday, the stages seeing the same
    forecast draws. Nothing to re-dispatch (load and PV only): the two runs are one, the value is 0
    to the cent and the positions are equal. With a battery and cheap midday intraday prices the
    second loop is worth something; day 0's stage is the same in both runs (same state, same draws),
    so its position is too; the single loop keeps its own position at the day-ahead prices."""
    intraday = [p - (50.0 if 10 <= h <= 14 else 0.0) for h, p in enumerate(DA)]
    kw = {"days": 2, "forecast_error": 0.2, "seed": 1, "measure_cold": False}
    flat = run_mpc(parse_site(_site(intraday, battery=False, tou=20.0)), **kw)
    assert flat.second_loop_value_eur == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(flat.single_loop_position_kw["grid"], flat.position_kw["grid"], atol=1e-6)
    res = run_mpc(parse_site(_site(intraday, tou=20.0)), **kw)
    assert res.single_loop is not None and res.second_loop_value_eur is not None
    assert res.second_loop_value_eur > 0.5
    assert res.summary()["second_loop_value_eur"] == pytest.approx(res.second_loop_value_eur, abs=1e-4)
    single_pos = res.single_loop_position_kw["grid"]
    np.testing.assert_allclose(single_pos[:24], res.position_kw["grid"][:24], atol=1e-6)
    c = res.single_loop.costs_eur
    assert c["energy"] + c["feed_in"] == pytest.approx(float(single_pos @ np.tile(DA, 2)) / 1000, abs=1e-6)
    metered = res.single_loop.power_kw["grid"]["electricity"]
    assert c["intraday"] == pytest.approx(
        float((metered - single_pos) @ np.tile(intraday, 2)) / 1000, abs=1e-6
    )
    without = run_mpc(parse_site(_site(None)), days=1, forecast_error=0.0, measure_cold=False)
    assert without.single_loop is None and without.second_loop_value_eur is None
    assert "second_loop_value_eur" not in without.summary()


@settings(max_examples=8, deadline=None)
@given(
    spread=st.lists(st.floats(-60.0, 60.0), min_size=24, max_size=24),
    step_h=st.sampled_from([1.0, 2.0, 3.0, 4.0, 6.0]),
    capacity=st.floats(10.0, 80.0),
)
def test_without_forecast_error_the_mpc_loops_equal_the_one_day_two_loop(
    spread: list[float], step_h: float, capacity: float
) -> None:
    """An independent check of the MPC's second-loop value: over one day without forecast error the
    rolling run (steps re-planning with the position fixed) reaches the optimum of the whole day's
    re-dispatch, and its single loop is the day-ahead plan — run_two_loop's two runs, built apart."""
    data = _site([p + d for p, d in zip(DA, spread, strict=True)], tou=20.0)
    data["assets"][3]["capacity_kwh"] = capacity
    site = parse_site(data)
    mpc = run_mpc(site, days=1, step_h=step_h, forecast_error=0.0, measure_cold=False)
    day = run_two_loop(site, forecast_error=0.0)
    assert mpc.realised_cost_eur == pytest.approx(day.intraday.costs_eur["total"], abs=1e-6)
    assert mpc.single_loop_cost_eur == pytest.approx(day.single_loop.costs_eur["total"], abs=1e-6)
    assert mpc.second_loop_value_eur == pytest.approx(day.value_eur, abs=1e-6)
    assert day.value_eur >= -1e-7
