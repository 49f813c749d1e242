"""Asset kinds: results against independent formulations and brute force, invariants by hypothesis."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from gridflex.assets import carnot_cop
from gridflex.scheduling import schedule_site
from gridflex.timegrid import expand
from tests.scheduling.helpers import balance_residual, grid, site

PRICES = np.array(
    [40, 35, 30, 28, 30, 45, 70, 90, 80, 60, 50, 45, 40, 38, 40, 50, 65, 95, 110, 90, 70, 55, 50, 45.0]
)


def test_carnot_cop_formula_and_clipping() -> None:
    cop = carnot_cop(45.0, np.array([-10.0, 7.0, 44.0, 45.0, 60.0]), 0.45, 1.0, 6.0)
    t_hot = 45 + 273.15
    assert cop[0] == pytest.approx(0.45 * t_hot / 55.0)
    assert cop[1] == pytest.approx(0.45 * t_hot / 38.0)
    assert list(cop[2:]) == [6.0, 6.0, 6.0]


def test_expand_series() -> None:
    assert expand(2.0, 3).tolist() == [2.0, 2.0, 2.0]
    assert expand([1, 2], 4).tolist() == [1, 1, 2, 2]
    assert expand([1, 2, 3], 4) is None


def _battery_linprog(
    prices: np.ndarray, cap: float, p: float, eta_c: float, eta_d: float, e0: float
) -> float:
    """Independent LP: x = [ch, dis, e], min Σ price·(ch − dis)·dt, e_T >= e0, grid limit p each way."""
    n = prices.size
    c = np.r_[prices, -prices, np.zeros(n)] / 1000.0
    a_eq = np.zeros((n, 3 * n))
    for t in range(n):
        a_eq[t, 2 * n + t] = 1.0
        if t:
            a_eq[t, 2 * n + t - 1] = -1.0
        a_eq[t, t] = -eta_c
        a_eq[t, n + t] = 1.0 / eta_d
    b_eq = np.r_[e0, np.zeros(n - 1)]
    a_ub = np.zeros((1, 3 * n))
    a_ub[0, 3 * n - 1] = -1.0
    bounds = [(0, p)] * (2 * n) + [(0, cap)] * n
    res = linprog(c, A_ub=a_ub, b_ub=[-e0], A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert res.status == 0
    return float(res.fun)


def _battery(cap: float, p: float, eta_c: float, eta_d: float, init: float, **kw) -> dict:
    return {"kind": "battery", "name": "b", "capacity_kwh": cap, "charge_power_kw": p, "charge_efficiency": eta_c,
            "discharge_efficiency": eta_d, "soc_min_frac": 0.0, "initial_soc_frac": init, "target_soc_frac": init, **kw}  # fmt: skip


def test_battery_arbitrage_matches_an_independent_lp() -> None:
    s = site([grid(), _battery(20.0, 5.0, 0.92, 0.95, 0.5)], prices=PRICES)
    result = schedule_site(s)
    assert not result.exclusivity_binaries
    assert result.costs_eur["total"] == pytest.approx(
        _battery_linprog(PRICES, 20, 5, 0.92, 0.95, 10.0), abs=1e-7
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=st.lists(st.floats(-50, 200), min_size=8, max_size=8),
    cap=st.floats(1.0, 50.0),
    power=st.floats(0.5, 20.0),
    eta_c=st.floats(0.7, 1.0),
    eta_d=st.floats(0.7, 1.0),
    init=st.floats(0.0, 1.0),
    loss=st.floats(0.0, 0.1),
    carrier=st.sampled_from(["electricity", "heat"]),
)
def test_storage_invariants(prices, cap, power, eta_c, eta_d, init, loss, carrier) -> None:
    prices = np.array(prices)
    if carrier == "electricity":
        store = _battery(cap, power, eta_c, eta_d, init)
        assets = [grid(import_max_kw=100, export_max_kw=100), store]
        idle = 0.0
    else:  # a heat store between an electric boiler and a heat demand
        store = {**_battery(cap, power, eta_c, eta_d, init, loss_per_h=loss), "kind": "thermal_storage",
                 "name": "b", "carrier": "heat", "target_soc_frac": None}  # fmt: skip
        assets = [grid(import_max_kw=100, export_max_kw=0), store,
                  {"kind": "converter", "name": "boiler", "input_carrier": "electricity",
                   "outputs": {"heat": 0.99}, "input_max_kw": 50},
                  {"kind": "load", "name": "demand", "carrier": "heat", "profile_kw": 1.0}]  # fmt: skip
        idle = float(np.maximum(prices, 0) @ np.full(8, 1.0 / 0.99)) / 1000
    result = schedule_site(site(assets, n=8, prices=prices))
    e = result.soc_kwh["b"]
    net = result.power_kw["b"][carrier]
    r = (1 - (loss if carrier == "heat" else 0.0)) ** 1.0
    ch, dis = np.maximum(net, 0), np.maximum(-net, 0)
    prev = np.r_[init * cap, e[:-1]]
    assert e == pytest.approx(r * prev + eta_c * ch - dis / eta_d, abs=1e-6)  # SOC continuity
    assert (e >= -1e-6).all() and (e <= cap + 1e-6).all()
    assert (ch <= power + 1e-6).all() and (dis <= power + 1e-6).all()
    if carrier == "electricity":
        assert e[-1] >= init * cap - 1e-6
        assert result.costs_eur["total"] <= idle + 1e-7  # doing nothing is feasible
    for residual in balance_residual(result).values():
        assert np.abs(residual).max() < 1e-6
    up, down = result.flex_up_kw, result.flex_down_kw
    assert (up >= 0).all() and (down >= 0).all()


def test_shiftable_process_matches_brute_force() -> None:
    profile = [3.0, 1.0, 2.0]
    s = site([grid(), {"kind": "shiftable_process", "name": "wm", "profile_kw": profile,
                       "earliest_start": "04:00", "latest_end": "14:00"}], prices=PRICES)  # fmt: skip
    result = schedule_site(s)
    best = min(PRICES[k : k + 3] @ profile for k in range(4, 12)) / 1000
    assert result.costs_eur["total"] == pytest.approx(best)
    assert result.is_mip


def test_interruptible_process_matches_brute_force() -> None:
    profile = [3.0, 1.0, 2.0]
    window = range(4, 11)
    s = site([grid(), {"kind": "shiftable_process", "name": "wm", "profile_kw": profile, "earliest_start": 4,
                       "latest_end": 11, "interruptible": True}], prices=PRICES)  # fmt: skip
    result = schedule_site(s)
    best = min(PRICES[list(ts)] @ profile for ts in itertools.combinations(window, 3)) / 1000
    assert result.costs_eur["total"] == pytest.approx(best)
    power = result.power_kw["wm"]["electricity"]
    assert sorted(power[power > 0]) == sorted(profile)


def test_chp_ratio_and_minimum_load() -> None:
    s = site(
        [grid(), grid(name="gas", carrier="gas", import_price_eur_per_mwh=30.0),
         {"kind": "converter", "name": "chp", "input_carrier": "gas", "outputs": {"electricity": 0.4, "heat": 0.5},
          "input_max_kw": 100, "min_load_frac": 0.5},
         {"kind": "storage", "name": "tank", "carrier": "heat", "capacity_kwh": 1000, "charge_power_kw": 100,
          "initial_soc_frac": 0.0, "soc_min_frac": 0.0},
         {"kind": "load", "name": "power", "profile_kw": 10.0}],
        prices=PRICES,
    )  # fmt: skip
    result = schedule_site(s)
    gas_in = result.power_kw["chp"]["gas"]
    assert result.power_kw["chp"]["electricity"] == pytest.approx(-0.4 * gas_in)
    assert result.power_kw["chp"]["heat"] == pytest.approx(-0.5 * gas_in)
    assert np.all((gas_in < 1e-6) | (gas_in >= 50 - 1e-6))
    # Gas at 30 EUR/MWh makes power at 75 EUR/MWh: the CHP runs exactly where the price is higher.
    running = gas_in > 1e-6
    assert np.array_equal(running, PRICES > 75.0)


def test_heat_pump_flexibility_needs_a_heat_store() -> None:
    hp = {
        "kind": "heat_pump",
        "name": "hp",
        "electric_power_kw": 10,
        "outdoor_temperature_c": list(np.linspace(-5, 8, 24)),
    }
    demand = {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": 15.0}
    alone = schedule_site(site([grid(), hp, demand], prices=PRICES))
    assert alone.flex_up_kw.max() == pytest.approx(0.0) and alone.flex_down_kw.max() == pytest.approx(0.0)
    tank = {
        "kind": "thermal_storage",
        "name": "tank",
        "capacity_kwh": 60,
        "charge_power_kw": 30,
        "initial_soc_frac": 0.5,
    }
    with_tank = schedule_site(site([grid(), hp, demand, tank], prices=PRICES))
    assert with_tank.flex_up_kw.max() > 0 or with_tank.flex_down_kw.max() > 0
    cop = carnot_cop(45.0, np.linspace(-5, 8, 24), 0.45, 1.0, 6.0)
    heat = -with_tank.power_kw["hp"]["heat"]
    assert heat == pytest.approx(cop * with_tank.power_kw["hp"]["electricity"])


def test_pv_is_curtailed_at_negative_prices_and_reports_its_flexibility() -> None:
    prices = np.r_[np.full(12, 40.0), np.full(12, -20.0)]
    s = site([grid(), {"kind": "pv", "name": "pv", "profile_kw": 5.0}], prices=prices)
    result = schedule_site(s)
    pv = result.power_kw["pv"]["electricity"]
    assert pv[:12] == pytest.approx(-5.0) and pv[12:] == pytest.approx(0.0, abs=1e-9)
    # up = more power into the grid: releasing the curtailed PV; down = curtailing it.
    assert result.flex_down_kw[:12] == pytest.approx(5.0) and result.flex_up_kw[12:] == pytest.approx(5.0)
    assert result.flex_up_kw[:12] == pytest.approx(0.0, abs=1e-9)
    assert result.flex_by_asset_kw["pv"]["down"][:12] == pytest.approx(5.0)


def test_ev_with_v2g_meets_its_need_and_exports_at_the_peak() -> None:
    ev = {"kind": "ev", "name": "car", "battery_kwh": 60, "initial_kwh": 30, "energy_need_kwh": 10,
          "charger_kw": 11, "v2g_kw": 11, "arrival": "00:00", "departure": "23:00"}  # fmt: skip
    result = schedule_site(site([grid(), ev], prices=PRICES))
    e = result.soc_kwh["car"]
    assert e[22] >= 40 - 1e-6
    assert result.power_kw["car"]["electricity"][18] == pytest.approx(-11.0)  # the highest price
    assert result.power_kw["car"]["electricity"][23] == pytest.approx(0.0)  # gone
