"""Converters with several inputs, compressed-air and liquid-air storage: hand-computed cases,
energy conservation, no free energy from looping a store, bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import schedule_site
from tests.scheduling.helpers import grid, site

GAS = {
    "kind": "grid_connection",
    "name": "gas",
    "carrier": "gas",
    "import_price_eur_per_mwh": 30.0,
    "export_max_kw": 0,
}


def _vent(carrier: str) -> dict:
    return {"kind": "grid_connection", "name": f"{carrier}-vent", "carrier": carrier, "import_max_kw": 0}


def test_two_input_converter_takes_its_inputs_at_fixed_ratios() -> None:
    burner = {"kind": "converter", "name": "burner", "inputs": {"gas": 0.8, "hydrogen": 0.2}, "outputs": {"heat": 0.9},
              "input_max_kw": 100}  # fmt: skip
    h2 = {"kind": "grid_connection", "name": "h2", "carrier": "hydrogen", "import_price_eur_per_mwh": 100.0}
    load = {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": [45.0, 90.0, 18.0, 0.0]}
    r = schedule_site(site([grid(), GAS, h2, burner, load], n=4))
    heat = np.array([45.0, 90.0, 18.0, 0.0])
    np.testing.assert_allclose(r.power_kw["gas"]["gas"], 0.8 * heat / 0.9, atol=1e-9)
    np.testing.assert_allclose(r.power_kw["h2"]["hydrogen"], 0.2 * heat / 0.9, atol=1e-9)
    np.testing.assert_allclose(r.power_kw["burner"]["heat"], -heat, atol=1e-9)
    # input_max_kw bounds the activity: 100 kW of activity gives at most 90 kW of heat
    with pytest.raises(Exception, match="heat"):
        schedule_site(site([grid(), GAS, h2, burner, {**load, "profile_kw": 95.0}], n=4))


def test_single_input_form_is_the_ratio_one_case() -> None:
    chp_old = {"kind": "converter", "name": "chp", "input_carrier": "gas", "outputs": {"electricity": 0.4, "heat": 0.5},
               "input_max_kw": 50}  # fmt: skip
    chp_new = {**chp_old, "input_carrier": None, "inputs": {"gas": 1.0}}
    heat = {"kind": "load", "name": "h", "carrier": "heat", "profile_kw": [10.0, 20.0, 25.0, 5.0]}
    prices = [20.0, 80.0, 150.0, 10.0]
    a = schedule_site(site([grid(), GAS, chp_old, heat, _vent("heat")], n=4, prices=prices))
    b = schedule_site(site([grid(), GAS, chp_new, heat, _vent("heat")], n=4, prices=prices))
    assert a.costs_eur["total"] == pytest.approx(b.costs_eur["total"], rel=1e-12)
    for c in ("gas", "electricity", "heat"):
        np.testing.assert_allclose(a.power_kw["chp"][c], b.power_kw["chp"][c], atol=1e-9)


def _caes(**kw) -> dict:
    return {"kind": "compressed_air_storage", "name": "caes", "capacity_kwh": 100.0, "charge_power_kw": 10.0,
            "discharge_power_kw": 20.0, "initial_soc_frac": 0.0, **kw}  # fmt: skip


def test_caes_hand_computed_cycle() -> None:
    # Compress 10 kW for one hour (10 kWh of work in the cavern), expand in the dear hour:
    # 10 / 0.8 = 12.5 kWh of electricity, burning 1.6 × 12.5 = 20 kWh of gas.
    r = schedule_site(site([grid(), GAS, _caes()], n=2, prices=[10.0, 200.0]))
    np.testing.assert_allclose(r.power_kw["caes"]["electricity"], [10.0, -12.5], atol=1e-9)
    np.testing.assert_allclose(r.power_kw["caes"]["gas"], [0.0, 20.0], atol=1e-9)
    np.testing.assert_allclose(r.soc_kwh["caes"], [10.0, 0.0], atol=1e-9)
    assert r.costs_eur["total"] == pytest.approx((10 * 10 - 12.5 * 200 + 20 * 30) / 1000, rel=1e-12)


def test_caes_never_compresses_and_expands_at_once() -> None:
    # Expanding is worth 0.8 kWh of work + 1.6 kWh of gas per kWh: at 150 EUR/MWh it pays to burn gas
    # through a loop; the one machine train forbids it (the exactness check adds binaries).
    r = schedule_site(site([grid(), GAS, _caes(initial_soc_frac=0.5, heat_output={"carrier": "heat", "kwh_per_kwh": 0.3}),
                            _vent("heat")], n=3, prices=[150.0, 150.0, 150.0]))  # fmt: skip
    e = r.power_kw["caes"]["electricity"]
    gas = r.power_kw["caes"]["gas"]
    np.testing.assert_allclose(gas, 1.6 * np.maximum(-e, 0.0), atol=1e-6)  # gas only while expanding
    np.testing.assert_allclose(r.power_kw["caes"]["heat"], -0.3 * np.maximum(-e, 0.0), atol=1e-6)
    stored = 50.0 + np.cumsum(np.maximum(e, 0.0)) - np.cumsum(0.8 * np.maximum(-e, 0.0))
    np.testing.assert_allclose(r.soc_kwh["caes"], stored, atol=1e-6)


def _laes(**kw) -> dict:
    return {"kind": "liquid_air_storage", "name": "laes", "capacity_kwh": 50.0, "charge_power_kw": 10.0,
            "initial_soc_frac": 0.0, "charge_efficiency": 0.55, **kw}  # fmt: skip


def test_laes_round_trip_and_couplings() -> None:
    laes = _laes(heat_input={"carrier": "heat", "kwh_per_kwh": 0.5}, cold_output={"carrier": "cold", "kwh_per_kwh": 0.8},
                 heat_output={"carrier": "heat", "kwh_per_kwh": 0.2})  # fmt: skip
    heat = {"kind": "grid_connection", "name": "heat", "carrier": "heat", "import_price_eur_per_mwh": 5.0}
    r = schedule_site(site([grid(), laes, heat, _vent("cold")], n=2, prices=[10.0, 300.0]))
    # 10 kWh in → 5.5 kWh deliverable stored → 5.5 kWh out, taking 2.75 kWh of waste heat and giving
    # 4.4 kWh of cold; the liquefier gives 2 kWh of compression heat.
    np.testing.assert_allclose(r.power_kw["laes"]["electricity"], [10.0, -5.5], atol=1e-9)
    np.testing.assert_allclose(r.power_kw["laes"]["heat"], [-2.0, 2.75], atol=1e-9)
    np.testing.assert_allclose(r.power_kw["laes"]["cold"], [0.0, -4.4], atol=1e-9)
    np.testing.assert_allclose(r.soc_kwh["laes"], [5.5, 0.0], atol=1e-9)


def test_laes_cannot_make_cold_from_nothing() -> None:
    # Cold is valuable and electricity free to move: any cold must still cost its round-trip loss.
    laes = _laes(
        initial_soc_frac=0.5, cold_output={"carrier": "cold", "kwh_per_kwh": 0.8}, target_soc_frac=0.5
    )
    cold = {"kind": "load", "name": "cold-load", "carrier": "cold", "profile_kw": [4.0, 4.0, 4.0, 4.0]}
    backup = {
        "kind": "grid_connection",
        "name": "chiller",
        "carrier": "cold",
        "import_price_eur_per_mwh": 500.0,
    }
    r = schedule_site(site([grid(), laes, cold, backup], n=4, prices=10.0))
    e = r.power_kw["laes"]["electricity"]
    out = np.maximum(-e, 0.0).sum()
    assert np.maximum(e, 0.0).sum() >= out / 0.55 - 1e-6  # energy in covers energy out at the round trip
    np.testing.assert_allclose(-r.power_kw["laes"]["cold"], 0.8 * np.maximum(-e, 0.0), atol=1e-6)


@pytest.mark.parametrize(
    ("asset", "field", "says"),
    [
        ({"kind": "converter", "name": "c", "input_carrier": "gas", "inputs": {"gas": 1}, "outputs": {"heat": 1},
          "input_max_kw": 5}, "inputs", "exactly one of"),
        ({"kind": "converter", "name": "c", "outputs": {"heat": 1}, "input_max_kw": 5}, "inputs", "exactly one of"),
        ({"kind": "converter", "name": "c", "inputs": {"gas": -1}, "outputs": {"heat": 1}, "input_max_kw": 5},
         "inputs.gas", "ratio must be > 0"),
        ({"kind": "converter", "name": "c", "inputs": {"gas": 1}, "outputs": {"heat": 1}, "inputs_max_kw": {"coal": 3}},
         "inputs_max_kw.coal", "is not an input"),
        ({**_caes(), "name": "c", "air_kwh_per_kwh": 0}, "air_kwh_per_kwh", "greater than 0"),
        ({**_laes(), "name": "c", "cold_output": {"carrier": "cold"}}, "cold_output.kwh_per_kwh", "Field required"),
    ],
)  # fmt: skip
def test_bad_converters_and_stores_name_the_field(asset: dict, field: str, says: str) -> None:
    with pytest.raises(ValidationError) as info:
        site([grid(), asset])
    assert any(p.object_id == "c" and p.field == field and says in p.message for p in info.value.problems), (
        info.value.problems
    )
