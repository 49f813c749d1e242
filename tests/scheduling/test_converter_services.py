"""CHP and fuel cells (converters with a minimum load) provide reserves while running."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import load_site, parse_site, schedule_site
from tests.scheduling.helpers import START

ROOT = Path(__file__).resolve().parents[2]
CHP = {"kind": "converter", "name": "chp", "input_carrier": "gas", "outputs": {"electricity": 0.4, "heat": 0.5},
       "input_max_kw": 100, "min_load_frac": 0.5}  # fmt: skip
TANK = {"kind": "thermal_storage", "name": "tank", "capacity_kwh": 200, "charge_power_kw": 100,
        "initial_soc_frac": 0.0, "soc_min_frac": 0.0}  # fmt: skip


def _site(reserves: list[dict], n: int = 1, assets: list[dict] | None = None, prices=0.0) -> dict:
    return {
        "name": "chp-services",
        "time": {"start": START, "step_s": 3600, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": prices},
        "assets": [
            {"kind": "grid_connection", "name": "grid", "import_max_kw": 100, "export_max_kw": 100},
            {"kind": "grid_connection", "name": "gas", "carrier": "gas", "export_max_kw": 0,
             "import_price_eur_per_mwh": 30.0},
            *(assets if assets is not None else [CHP, TANK]),
        ],
        "services": {"reserves": reserves},
    }  # fmt: skip


def _afrr_up(price: float) -> dict:
    return {"name": "afrr", "product": "afrr_up", "block_h": 1, "availability_price_eur_per_mw_h": price}


@pytest.mark.parametrize(("price", "runs"), [(100.0, True), (50.0, False)])
def test_the_optimiser_starts_a_chp_to_sell_its_headroom_hand_computed(price: float, runs: bool) -> None:
    """One hour, electricity at 0, gas at 30 EUR/MWh. For energy alone the CHP stays off. Running at
    its minimum (50 kW gas: 1.50 EUR) leaves 0.4·(100 − 50) = 20 kW of room above it, the extra heat
    (25 kW) going into the tank: worth 20 kW × price. At 100 EUR/MW·h that is 2.00 EUR > 1.50: it runs
    at minimum and commits 20 kW (total −0.50 EUR); at 50 EUR/MW·h (1.00 EUR) it stays off."""
    result = schedule_site(parse_site(_site([_afrr_up(price)])))
    gas = result.power_kw["chp"]["gas"][0]
    if runs:
        assert gas == pytest.approx(50.0) and result.service_kw["afrr"][0] == pytest.approx(20.0)
        assert result.service_allocation_kw["afrr"]["chp"][0] == pytest.approx(20.0)
        assert result.costs_eur["total"] == pytest.approx(1.5 - 2.0)
        # The tank takes the heat of the activation: 0.5/0.4 × 20 kW, allocated against the product.
        assert result.service_allocation_kw["afrr"]["tank"][0] == pytest.approx(25.0)
    else:
        assert gas == pytest.approx(0.0, abs=1e-9) and result.service_kw["afrr"][0] == pytest.approx(0.0)
        assert result.costs_eur["total"] == pytest.approx(0.0, abs=1e-9)


def test_a_chp_provides_up_and_down_only_between_its_minimum_and_maximum() -> None:
    """A day at real-shaped prices: from every period, a full activation keeps the CHP in
    [minimum, maximum] while on, gives nothing while off, and fits into the tank (independent check
    from the site parameters)."""
    prices = [
        40,
        35,
        30,
        28,
        30,
        45,
        70,
        90,
        80,
        60,
        50,
        45,
        40,
        38,
        40,
        50,
        65,
        95,
        110,
        90,
        70,
        55,
        50,
        45.0,
    ]
    heat = {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": 20.0}
    reserves = [
        {"name": "up", "product": "afrr_up", "block_h": 4, "availability_price_eur_per_mw_h": 25.0},
        {"name": "down", "product": "afrr_down", "block_h": 4, "availability_price_eur_per_mw_h": 15.0},
    ]
    result = schedule_site(parse_site(_site(reserves, n=24, assets=[CHP, TANK, heat], prices=prices)))
    u = result.power_kw["chp"]["gas"]
    up, down = result.service_allocation_kw["up"]["chp"], result.service_allocation_kw["down"]["chp"]
    on = u > 1e-6
    assert (up[~on] < 1e-9).all() and (down[~on] < 1e-9).all()
    assert (up <= 0.4 * (100 - u) + 1e-6).all() and (down <= 0.4 * np.maximum(u - 50, 0) + 1e-6).all()
    assert up.max() > 0 and down.max() > 0
    # Heat: up makes 0.5/0.4 more heat per kW, which the tank must store within its room for 1 h.
    e = np.r_[0.0, result.soc_kwh["tank"]]
    assert (e[1:] + 1.25 * up * 1.0 <= 200 + 1e-6).all()
    assert (e[1:] - 1.25 * down * 1.0 >= -1e-6).all()


def test_a_fuel_cell_on_a_hydrogen_store_provides_while_running() -> None:
    fc = {"kind": "converter", "name": "fc", "input_carrier": "hydrogen", "outputs": {"electricity": 0.5},
          "input_max_kw": 40, "min_load_frac": 0.25}  # fmt: skip
    h2 = {"kind": "storage", "name": "h2", "carrier": "hydrogen", "capacity_kwh": 400, "charge_power_kw": 100,
          "initial_soc_frac": 0.5, "soc_min_frac": 0.0}  # fmt: skip
    result = schedule_site(parse_site(_site([_afrr_up(200.0)], n=4, assets=[fc, h2])))
    r = result.service_allocation_kw["afrr"]["fc"]
    u = result.power_kw["fc"]["hydrogen"]
    assert r.max() > 0 and (r <= 0.5 * (40 - u) + 1e-6).all()
    # More electricity means more hydrogen drawn from the store: 1/0.5 per kW, in the product's sense.
    assert result.service_allocation_kw["afrr"]["h2"] == pytest.approx(2.0 * r)


def test_eligibility_of_converters_is_explained() -> None:
    boiler = {"kind": "converter", "name": "boiler", "input_carrier": "gas", "outputs": {"heat": 0.9},
              "input_max_kw": 50}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        parse_site(_site([dict(_afrr_up(10), providers=["boiler", "chp"])], assets=[CHP, boiler]))
    msgs = {p.message for p in info.value.problems if p.object_id == "afrr"}
    assert any(
        "'boiler' cannot provide services: a converter that neither takes nor gives" in m for m in msgs
    )
    assert any("'chp' cannot provide services: needs a store of heat" in m for m in msgs)
    # Too slow for FCR by default (a CHP reaches a set point in 300 s).
    with pytest.raises(ValidationError, match="responds in 300 s, the product needs 30 s"):
        parse_site(_site([{"name": "fcr", "product": "fcr", "availability_price_eur_per_mw_h": 10,
                           "providers": ["chp"]}]))  # fmt: skip


def test_the_chp_services_example() -> None:
    result = schedule_site(load_site(ROOT / "examples" / "sites" / "chp_services.yaml"))
    assert result.service_allocation_kw["afrr-up"]["chp"].max() > 0
    assert result.revenue_eur["reserve_availability"] > 0
