"""Thermal zones (building, fridge, freezer): the 1R1C model against closed forms, a second LP
formulation without state variables, pre-heating before a price peak, headroom, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from gridflex.errors import SiteInfeasibleError, ValidationError
from gridflex.scheduling import compile_site, schedule_site
from gridflex.scheduling.zones import zone_temperatures
from tests.scheduling.helpers import grid, site


def _house(**kw) -> dict:
    return {"kind": "building", "name": "house", "thermal_capacity_kwh_per_k": 10.0, "heat_loss_kw_per_k": 0.2,
            "outdoor_temperature_c": 0.0, "initial_temperature_c": 20.0, "comfort_min_c": 20.0,
            "comfort_max_c": 23.0, **kw}  # fmt: skip


def _hp(cop: float = 3.0, kw: float = 6.0) -> dict:
    return {"kind": "heat_pump", "name": "hp", "electric_power_kw": kw, "cop": cop}


def test_flat_prices_hold_the_band_floor_at_the_steady_state_heat() -> None:
    # Hand-computed: at T = 20 °C with 0 °C outside, H = 0.2 kW/K and 0.5 kW of gains, holding the
    # floor takes H·ΔT − gains = 3.5 kW of heat, 3.5/3 kW of electricity, in every period.
    s = site([grid(), _hp(), _house(internal_gains_kw=0.5)], prices=50.0)
    r = schedule_site(s)
    np.testing.assert_allclose(r.power_kw["house"]["heat"], 3.5, atol=1e-6)
    np.testing.assert_allclose(r.power_kw["hp"]["electricity"], 3.5 / 3.0, atol=1e-6)
    np.testing.assert_allclose(zone_temperatures(s, r)["house"], 20.0, atol=1e-6)
    assert r.costs_eur["energy"] == pytest.approx(24 * 3.5 / 3.0 * 50 / 1000, rel=1e-9)


def test_free_floating_zone_follows_the_exponential_decay() -> None:
    # No heat supplier: the house cools from 22 °C toward 5 °C with time constant C/H = 50 h, exactly
    # T(t) = T_out + (T0 − T_out)·exp(−t/τ) at each period end (piecewise-constant inputs).
    house = _house(initial_temperature_c=22.0, outdoor_temperature_c=5.0, comfort_min_c=0.0,
                   comfort_max_c=30.0, heat_carrier="heat")  # fmt: skip
    s = site([grid(), house, {"kind": "grid_connection", "name": "no-heat", "carrier": "heat", "import_max_kw": 0,
                               "export_max_kw": 0}], n=24)  # fmt: skip
    r = schedule_site(s)
    t_h = np.arange(1, 25)
    np.testing.assert_allclose(zone_temperatures(s, r)["house"], 5.0 + 17.0 * np.exp(-t_h / 50.0), atol=1e-9)


def test_preheats_before_a_price_peak_and_coasts_through_it() -> None:
    prices = np.array([40.0] * 14 + [45, 45] + [200.0] * 4 + [40.0] * 4)
    s = site([grid(), _hp(), _house()], prices=prices)
    r = schedule_site(s)
    temps = zone_temperatures(s, r)["house"]
    hp = r.power_kw["hp"]["electricity"]
    steady = 0.2 * 20 / 3.0
    assert hp[16:20].max() < steady - 0.5  # coasts through the peak
    assert hp[12:16].max() > steady + 0.5  # pre-heats before it
    assert temps[15] > 20.5 and temps.min() >= 20.0 - 1e-6 and temps.max() <= 23.0 + 1e-6
    # Without a band (floor = ceiling) there is no inertia to use: it costs more.
    rigid = schedule_site(site([grid(), _hp(), _house(comfort_max_c=20.0)], prices=prices))
    assert rigid.costs_eur["total"] > r.costs_eur["total"] + 0.05
    np.testing.assert_allclose(rigid.power_kw["hp"]["electricity"], steady, atol=1e-6)


def _linprog_cost(prices, t_out, gains, c, h, t0, lo, hi, cop, p_max) -> float:
    """Second formulation: heat-pump power only, temperatures eliminated by the convolution
    T_t = a^(t+1)·T0 + Σ_{k≤t} a^(t−k)·(1 − a)·(T_out,k + (g_k + COP·p_k)/H)."""
    n = prices.size
    a = np.exp(-h / c)
    k = np.arange(n)
    lag = k[:, None] - k[None, :]
    kernel = np.where(lag >= 0, a ** np.maximum(lag, 0), 0.0) * (1 - a)
    free = a ** (k + 1) * t0 + kernel @ (t_out + gains / h)
    m = kernel * cop / h  # T = free + m @ p
    a_ub = np.vstack([m, -m])
    b_ub = np.concatenate([hi - free, free - lo])
    res = linprog(prices / 1000.0, A_ub=a_ub, b_ub=b_ub, bounds=[(0, p_max)] * n, method="highs")
    assert res.status == 0
    return float(res.fun)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=st.lists(st.floats(0, 300), min_size=12, max_size=12),
    t_out=st.lists(st.floats(-10, 12), min_size=12, max_size=12),
    c=st.floats(2, 30),
    h=st.floats(0.05, 0.4),
    width=st.floats(0.5, 4),
)
def test_cost_equals_a_formulation_without_states(prices, t_out, c, h, width) -> None:
    p = np.array(prices)
    house = _house(thermal_capacity_kwh_per_k=c, heat_loss_kw_per_k=h, outdoor_temperature_c=t_out,
                   comfort_max_c=20.0 + width, internal_gains_kw=0.3)  # fmt: skip
    r = schedule_site(site([grid(), _hp(cop=3.0, kw=20.0), house], n=12, prices=list(p)))
    ref = _linprog_cost(p, np.array(t_out), np.full(12, 0.3), c, h, 20.0, np.full(12, 20.0),
                        np.full(12, 20.0 + width), 3.0, 20.0)  # fmt: skip
    assert r.costs_eur["total"] == pytest.approx(ref, rel=1e-6, abs=1e-7)


def test_fridge_at_flat_prices_sits_at_the_top_of_its_band() -> None:
    # Warmest allowed is cheapest: at 6 °C in a 20 °C kitchen, H = 2 W/K and COP 2 take
    # (0.002·14 + 0.001)/2 kW, every period (hand-computed).
    fridge = {"kind": "fridge", "name": "f", "thermal_capacity_kwh_per_k": 0.04, "heat_loss_kw_per_k": 0.002,
              "compressor_kw": 0.1, "internal_gains_kw": 0.001, "initial_temperature_c": 6.0}  # fmt: skip
    s = site([grid(), fridge], prices=50.0)
    r = schedule_site(s)
    np.testing.assert_allclose(r.power_kw["f"]["electricity"], (0.002 * 14 + 0.001) / 2.0, atol=1e-9)
    # the kind's defaults: band 2–6 °C, COP 2; a freezer: −24 to −16 °C, COP 1.5
    a = compile_site(s).site.assets[1]
    assert (a.temperature_min_c, a.temperature_max_c, a.cop) == (2.0, 6.0, 2.0)
    fz = compile_site(
        site([grid(), {**fridge, "kind": "freezer", "initial_temperature_c": None}])
    ).site.assets[1]
    assert (fz.temperature_min_c, fz.temperature_max_c, fz.cop, fz.initial_temperature_c) == (
        -24.0,
        -16.0,
        1.5,
        -20.0,
    )


def test_cheap_hours_precool_the_freezer() -> None:
    prices = [30.0] * 6 + [150.0] * 6 + [30.0] * 12
    freezer = {"kind": "freezer", "name": "fz", "thermal_capacity_kwh_per_k": 0.06, "heat_loss_kw_per_k": 0.0015,
               "compressor_kw": 0.12}  # fmt: skip
    s = site([grid(), freezer], prices=prices)
    r = schedule_site(s)
    temps = zone_temperatures(s, r)["fz"]
    assert temps[5] < -21.0 and temps[11] > -16.5  # cold before the peak, warm at its end
    assert r.power_kw["fz"]["electricity"][6:12].sum() < 1e-6  # off during it
    assert temps.max() <= -16.0 + 1e-6 and temps.min() >= -24.0 - 1e-6


def test_headroom_is_exactly_what_one_period_allows() -> None:
    prices = np.array([40.0] * 14 + [45, 45] + [200.0] * 4 + [40.0] * 4)
    s = site([grid(), _hp(kw=20.0), _house()], prices=prices)
    r = schedule_site(s)
    from gridflex.assets.thermal import free_temperatures

    compiled = compile_site(s)
    house = compiled.site.assets[2]
    z = house.zone(compiled.context(None))
    heat = r.power_kw["house"]["heat"]
    from gridflex.assets.thermal import zone_headroom

    warmer, cooler = zone_headroom(z, free_temperatures(z, heat, 1.0), 1.0)
    for t in (3, 10, 15, 18):
        for room, sign in ((warmer[t], 1.0), (min(cooler[t], heat[t]), -1.0)):
            q = heat.copy()
            q[t] += sign * room
            temps = free_temperatures(z, q, 1.0)
            assert temps.min() >= 20.0 - 1e-6 and temps.max() <= 23.0 + 1e-6
            if room > 1e-6 and room < cooler[t] + warmer[t]:
                q[t] += sign * 0.01
                temps = free_temperatures(z, q, 1.0)
                assert temps.min() < 20.0 - 1e-9 or temps.max() > 23.0 + 1e-9 or q[t] < 0


def test_soft_band_pays_for_each_kelvin_hour_outside() -> None:
    # 1 kW of heat cannot hold 20 °C at −10 °C outside (3 kW needed): soft, the house drifts.
    house = _house(outdoor_temperature_c=-10.0, comfort_penalty_eur_per_kh=2.0)
    s = site([grid(), _hp(cop=1.0, kw=1.0), house], n=6, prices=0.0)
    r = schedule_site(s)
    temps = zone_temperatures(s, r)["house"]
    assert r.costs_eur["penalty"] == pytest.approx(2.0 * np.maximum(20.0 - temps, 0).sum(), rel=1e-9)
    hard = site([grid(), _hp(cop=1.0, kw=1.0), _house(outdoor_temperature_c=-10.0)], n=6, prices=0.0)
    with pytest.raises(SiteInfeasibleError, match=r"building 'house' cannot stay within 20–23 °C from 01:00"):
        schedule_site(hard)


@pytest.mark.parametrize(
    ("asset", "field", "says"),
    [
        (_house(comfort_min_c=24.0), "comfort_min_c", "exceeds the band's top"),
        (_house(heat_carrier=None), "heat_carrier", "give heat_carrier, cold_carrier or both"),
        (_house(comfort_max_c=[22.0] * 5), "comfort_max_c", "has 5 values"),
        (_house(final_temperature_c=25.0), "final_temperature_c", "above the band's top"),
        (_house(thermal_capacity_kwh_per_k=0), "thermal_capacity_kwh_per_k", "greater than 0"),
        ({"kind": "fridge", "name": "house", "thermal_capacity_kwh_per_k": 0.04, "heat_loss_kw_per_k": 0.002,
          "compressor_kw": 0.1, "temperature_min_c": 8.0}, "comfort_min_c", "exceeds the band's top"),
    ],
)  # fmt: skip
def test_bad_zones_name_the_asset_and_field(asset: dict, field: str, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        site([grid(), _hp(), asset])
    assert any(
        p.object_id == "house" and p.field == field and says in p.message for p in info.value.problems
    ), info.value.problems


def test_precheck_names_a_heater_too_small_to_reach_the_band() -> None:
    house = _house(initial_temperature_c=15.0, heating_max_kw=1.0)
    with pytest.raises(SiteInfeasibleError, match="cannot reach 20 °C by 01:00"):
        schedule_site(site([grid(), _hp(), house]))


def test_cooled_building_sits_at_the_top_of_its_band() -> None:
    # Summer: 32 °C outside, a chiller (a heat pump giving cold, COP 3) holds 26 °C at flat prices:
    # H·(32 − 26) + gains = 0.2·6 + 0.4 = 1.6 kW of cooling, 1.6/3 kW of electricity (hand-computed).
    chiller = {
        "kind": "heat_pump",
        "name": "chiller",
        "electric_power_kw": 5.0,
        "cop": 3.0,
        "heat_carrier": "cold",
    }
    house = _house(heat_carrier=None, cold_carrier="cold", outdoor_temperature_c=32.0, initial_temperature_c=26.0,
                   comfort_min_c=22.0, comfort_max_c=26.0, internal_gains_kw=0.4)  # fmt: skip
    s = site([grid(), chiller, house], prices=50.0)
    r = schedule_site(s)
    np.testing.assert_allclose(r.power_kw["house"]["cold"], 1.6, atol=1e-6)
    np.testing.assert_allclose(r.power_kw["chiller"]["electricity"], 1.6 / 3.0, atol=1e-6)
    np.testing.assert_allclose(zone_temperatures(s, r)["house"], 26.0, atol=1e-6)
