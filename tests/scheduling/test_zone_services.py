"""Buildings, fridges and freezers (thermal mass) and CAES/LAES offer services, against closed forms.

A zone's deviation from its schedule fades as ``exp(−H·t/C)``: holding ``Δ`` kW more heat for ``D``
hours warms it by ``Δ·(1 − e^{−H·D/C})/H``, so the most it can take within a band top ``T_max``
from ``T_0`` is ``Δ = H·(T_max − T_0)/(1 − e^{−H·D/C})`` (the 1R1C step response, exact).
"""

from __future__ import annotations

import math

import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from gridflex.scheduling.products import eligible_providers
from tests.scheduling.helpers import START


def _site(assets: list[dict], reserves: list[dict], n: int = 4) -> dict:
    return {
        "name": "zones",
        "time": {"start": START, "step_s": 3600, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": 50.0},
        "assets": [{"kind": "grid_connection", "name": "grid", "import_max_kw": 1000, "export_max_kw": 1000},
                   *assets],
        "services": {"reserves": reserves},
    }  # fmt: skip


def _reserve(product: str, **kw) -> dict:
    return {"name": "r", "product": product, "block_h": 4, "availability_price_eur_per_mw_h": 100.0, **kw}


HOUSE = {"kind": "building", "name": "house", "thermal_capacity_kwh_per_k": 10.0, "heat_loss_kw_per_k": 0.2,
         "outdoor_temperature_c": 0.0, "initial_temperature_c": 20.0, "comfort_min_c": 20.0,
         "comfort_max_c": 20.5}  # fmt: skip
HP = {"kind": "heat_pump", "name": "hp", "electric_power_kw": 6.0, "cop": 3.0}


def test_a_heat_pump_sells_the_buildings_thermal_mass_down_to_the_closed_form() -> None:
    """The house sits at its floor, 20 °C (least heat). Down = the heat pump draws more and the house
    warms: the band leaves 0.5 K, so Δ_heat = 0.2·0.5/(1 − e^{−0.02}) = 5.050 kW, 1.683 kW electric
    (without the loss to outdoors it would be 5.0 kW: 1 % less)."""
    r = schedule_site(parse_site(_site([HP, HOUSE], [_reserve("afrr_down")])))
    heat = 0.2 * 0.5 / (1.0 - math.exp(-0.2 / 10.0))
    assert r.service_kw["r"] == pytest.approx([heat / 3.0] * 4, rel=1e-6)
    assert r.service_allocation_kw["r"]["house"] == pytest.approx([heat] * 4, rel=1e-6)
    assert r.power_kw["house"]["heat"] == pytest.approx([4.0] * 4, rel=1e-6)  # the schedule is unchanged
    assert r.costs_eur["reserve_availability"] == pytest.approx(-4 * heat / 3.0 * 100.0 / 1000.0, rel=1e-6)


def test_a_fridge_sells_cold_down_to_the_closed_form() -> None:
    """A fridge at 6 °C in a 20 °C kitchen (C = 0.05 kWh/K, H = 0.002 kW/K, COP 2) draws 14·H/2 = 14 W.
    Down (more power, colder) within its 2–6 °C band for 1 h:
    Δ = H·4 K/(COP·(1 − e^{−H/C})) = 102.0 W."""
    fridge = {"kind": "fridge", "name": "fridge", "thermal_capacity_kwh_per_k": 0.05, "heat_loss_kw_per_k": 0.002,
              "compressor_kw": 0.5, "initial_temperature_c": 6.0}  # fmt: skip
    r = schedule_site(parse_site(_site([fridge], [_reserve("afrr_down")])))
    down = 0.002 * 4.0 / (2.0 * (1.0 - math.exp(-0.002 / 0.05)))
    assert r.power_kw["fridge"]["electricity"] == pytest.approx([0.014] * 4, rel=1e-6)
    assert r.service_kw["r"] == pytest.approx([down] * 4, rel=1e-6)
    # Up (less power, warmer) pays only after pre-cooling, and never beyond the power drawn.
    up = schedule_site(parse_site(_site([fridge], [_reserve("afrr_up")])))
    assert (up.service_kw["r"] <= up.power_kw["fridge"]["electricity"] + 1e-9).all()
    fcr = _site([fridge], [_reserve("fcr", providers=["fridge"])])
    with pytest.raises(ValidationError, match="responds in 180 s, the product needs 30 s"):
        schedule_site(parse_site(fcr))


CAES = {"kind": "compressed_air_storage", "name": "caes", "capacity_kwh": 1000, "charge_power_kw": 0,
        "discharge_power_kw": 500, "initial_soc_frac": 0.2, "air_kwh_per_kwh": 0.8, "gas_kwh_per_kwh": 1.6}  # fmt: skip
GAS = {"kind": "grid_connection", "name": "gas", "carrier": "gas", "export_max_kw": 0, "import_price_eur_per_mwh": 100.0}  # fmt: skip


def test_caes_sells_up_what_its_cavern_holds_for_the_delivery_closed_form() -> None:
    """200 kWh of compression work in the cavern, 0.8 kWh of it per kWh generated (gas from the grid,
    at a price that keeps the expander idle for energy): 1 h of mFRR up takes 200/0.8 = 250 kW."""
    r = schedule_site(parse_site(_site([CAES, GAS], [_reserve("mfrr")])))
    assert r.power_kw["caes"]["electricity"] == pytest.approx([0.0] * 4, abs=1e-7)
    assert r.service_kw["r"] == pytest.approx([250.0] * 4, rel=1e-6)


def test_who_may_provide_names_why_not() -> None:
    gas_tank = {
        "kind": "storage",
        "name": "tank",
        "carrier": "gas",
        "capacity_kwh": 100,
        "charge_power_kw": 10,
    }
    site = parse_site(_site([CAES, gas_tank, HP, HOUSE], [_reserve("mfrr")]))
    why = eligible_providers(site)
    assert why["caes"] == "needs a network connection of gas at its node"
    assert why["hp"] == ""  # the house's thermal mass is the store its heat goes to
    assert why["house"].startswith("a building takes heat")
    soft = {**HOUSE, "comfort_penalty_eur_per_kh": 1.0}
    assert eligible_providers(parse_site(_site([HP, soft], [])))["hp"] == "needs a store of heat at its node"
