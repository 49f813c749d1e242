"""Eligibility by response time for every reserve product; rapid and complementary reserves with delays."""

from __future__ import annotations

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from gridflex.scheduling.service_spec import DEFAULT_RESPONSE_S
from tests.scheduling.helpers import START
from tests.scheduling.test_services import PRICES

HP = {"kind": "heat_pump", "name": "hp", "electric_power_kw": 10, "outdoor_temperature_c": 5.0}
TANK = {
    "kind": "thermal_storage",
    "name": "tank",
    "capacity_kwh": 60,
    "charge_power_kw": 30,
    "initial_soc_frac": 0.5,
}
HEAT = {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": 15.0}
BATTERY = {"kind": "battery", "name": "b", "capacity_kwh": 40, "charge_power_kw": 20, "soc_min_frac": 0.0,
           "initial_soc_frac": 0.5, "charge_efficiency": 0.95, "discharge_efficiency": 0.95}  # fmt: skip


def _site(services: dict, assets: list[dict] | None = None, n: int = 24, step_s: int = 3600) -> dict:
    grid = {"kind": "grid_connection", "name": "grid", "import_max_kw": 100, "export_max_kw": 100}
    return {
        "name": "eligibility",
        "time": {"start": START, "step_s": step_s, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": PRICES if n == 24 else 50.0},
        "assets": [grid, *(assets if assets is not None else [BATTERY, HP, TANK, HEAT])],
        "services": services,
    }


def _reserve(product: str, **kw) -> dict:
    return {"name": product, "product": product, "availability_price_eur_per_mw_h": 20.0, **kw}


def test_the_products_default_response_times() -> None:
    assert DEFAULT_RESPONSE_S == {
        "fcr": 30,
        "afrr_up": 300,
        "afrr_down": 300,
        "mfrr": 900,
        "rr": 780,
        "rc": 1800,
    }


@pytest.mark.parametrize(
    ("product", "hp_provides"),
    [("fcr", False), ("afrr_up", True), ("afrr_down", True), ("mfrr", True), ("rr", True), ("rc", True)],
)
def test_a_heat_pump_too_slow_for_a_product_does_not_provide_it(product: str, hp_provides: bool) -> None:
    # A heat pump reaches a new set point in 120 s (default): too slow for FCR (30 s), fast enough for
    # aFRR (300 s) and the slower products.
    result = schedule_site(parse_site(_site({"reserves": [_reserve(product)]})))
    assert ("hp" in result.service_info[product]["providers"]) is hp_provides
    assert "b" in result.service_info[product]["providers"]
    assert result.service_info[product]["response_time_s"] == DEFAULT_RESPONSE_S[product]


def test_a_slow_provider_named_explicitly_is_refused_with_its_response_time() -> None:
    with pytest.raises(ValidationError) as info:
        parse_site(_site({"reserves": [_reserve("fcr", providers=["hp"])]}))
    problem = next(p for p in info.value.problems if p.object_id == "fcr")
    assert problem.field == "providers" and "responds in 120 s, the product needs 30 s" in problem.message


def test_per_asset_response_times_override_the_defaults_and_are_checked() -> None:
    fast_hp = {"reserves": [_reserve("fcr")], "response_times_s": {"hp": 20}}
    result = schedule_site(parse_site(_site(fast_hp)))
    assert "hp" in result.service_info["fcr"]["providers"]
    slow_battery = {"reserves": [_reserve("fcr")], "response_times_s": {"b": 60, "hp": 600}}
    result = schedule_site(parse_site(_site(slow_battery)))
    assert result.service_info["fcr"]["providers"] == [] and not result.service_kw["fcr"].any()
    with pytest.raises(ValidationError) as info:
        parse_site(_site({"reserves": [_reserve("fcr")], "response_times_s": {"ghost": 1, "b": -2}}))
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert ("services", "response_times_s.ghost") in fields


def test_a_product_response_time_overrides_its_default() -> None:
    result = schedule_site(parse_site(_site({"reserves": [_reserve("mfrr", response_time_s=60)]})))
    assert result.service_info["mfrr"]["providers"] == ["b"]


def _deliverable_with_delay(result, p_kw: float, e0: float, name: str, fine: int = 40) -> int:
    """From every offered period, a call delivered from delay to delay + D (fine time steps, not the
    model's checkpoints) keeps the battery within power and stored-energy limits."""
    dt = result.grid.step_h
    n = result.grid.n
    info = result.service_info[name]
    delay, dur = info["activation_delay_h"], info["delivery_duration_h"]
    net = result.power_kw["b"]["electricity"]
    e = np.r_[e0, result.soc_kwh["b"]]
    r = result.service_allocation_kw[name]["b"]
    checks = 0
    for t in np.flatnonzero(result.service_kw[name] > 1e-9):
        for tau in np.linspace(0, delay + dur, fine + 1)[1:]:
            k = int(np.ceil(tau / dt - 1e-9)) - 1
            if t + k >= n:
                break
            if tau > delay + 1e-9:  # delivering at τ: the discharge limit holds in the period of τ
                assert net[t + k] - r[t] >= -p_kw - 1e-6, (t, tau)
            f = tau / dt - k
            sched = (1 - f) * e[t + k] + f * e[t + k + 1]
            moved = r[t] * min(max(tau - delay, 0.0), dur) / 0.95
            assert sched - moved >= -1e-6, (t, tau, sched, moved)
            checks += 1
    return checks


@pytest.mark.parametrize("product", ["rr", "rc"])
def test_rapid_and_complementary_reserves_deliver_after_their_delay(product: str) -> None:
    data = _site({"reserves": [_reserve(product, block_h=1, availability_price_eur_per_mw_h=60.0)]}, [BATTERY],
                 n=96, step_s=900)  # fmt: skip
    data["prices"]["day_ahead_eur_per_mwh"] = list(np.repeat(PRICES, 4))
    result = schedule_site(parse_site(data))
    info = result.service_info[product]
    assert info["activation_delay_h"] == pytest.approx({"rr": 13 / 60, "rc": 0.5}[product])
    assert result.service_kw[product].max() > 0
    assert _deliverable_with_delay(result, 20, 20, product) > 0
    # Calls whose delivery would start after the horizon are not sold on it.
    tail = np.arange(96) * 0.25 + info["activation_delay_h"] >= 24 - 1e-9
    assert not result.service_kw[product][tail].any()


def test_a_delay_reaches_a_car_that_plugs_in_later_hand_computed() -> None:
    """An EV plugs in at 01:00 (1 h periods, prices 0): a reserve called at 00:00 without delay would
    be delivered while the car is away (0 kW); with a 1 h delay it is delivered at 01:00-02:00, where
    stopping its 11 kW charge and discharging 10 kW (V2G) gives 21 kW up."""
    car = {"kind": "ev", "name": "car", "battery_kwh": 50, "initial_kwh": 20, "energy_need_kwh": 5,
           "charger_kw": 11, "v2g_kw": 10, "arrival": "01:00", "departure": "03:00"}  # fmt: skip

    def committed(delay_s: float) -> float:
        r = _reserve(
            "mfrr", block_h=1, availability_price_eur_per_mw_h=[1000.0, 0, 0], activation_delay_s=delay_s
        )
        data = _site({"reserves": [r]}, [car], n=3)
        data["prices"]["day_ahead_eur_per_mwh"] = [0.0, 0.0, 0.0]
        return float(schedule_site(parse_site(data)).service_kw["mfrr"][0])

    assert committed(0.0) == pytest.approx(0.0, abs=1e-7)
    assert committed(3600.0) == pytest.approx(21.0)
