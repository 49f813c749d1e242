"""RTE capacity mechanism: capacity certified on PP1/PP2 peak windows, kept available, valued per MW."""

from __future__ import annotations

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from tests.scheduling.helpers import START


def _site(capacity: dict, n: int = 24) -> dict:
    return {
        "name": "capacity",
        "time": {"start": START, "step_s": 3600, "n_periods": n, "timezone": "Europe/Paris"},  # Tue 12 June 2018
        "prices": {"day_ahead_eur_per_mwh": 50.0},
        "assets": [
            {"kind": "grid_connection", "name": "grid", "import_max_kw": 100, "export_max_kw": 100},
            {"kind": "load", "name": "load", "profile_kw": 10.0},
            {"kind": "battery", "name": "b", "capacity_kwh": 40, "charge_power_kw": 20, "soc_min_frac": 0.0,
             "initial_soc_frac": 0.5, "charge_efficiency": 1.0, "discharge_efficiency": 1.0},
        ],
        "services": {"capacity": capacity},
    }  # fmt: skip


CAPACITY = {
    "price_eur_per_mw_year": 100_000, "pp2_days": ["2018-06-12"], "peak_hours_per_year": 300,
    "hours": [{"start": "07:00", "end": "09:00"}, {"start": "18:00", "end": "19:00"}],
}  # fmt: skip


def test_capacity_is_certified_over_whole_windows_hand_computed() -> None:
    """Battery 20 kW / 40 kWh, lossless. Holding C up for the 2 h window needs C ≤ 20 (power: it can
    at most swing from idle to full discharge, or stop a 20 kW charge into a full store) and the energy
    for 2 h (40 kWh at 07:00 ⇒ C ≤ 20): C = 20 kW. Paid 100 000 EUR/MW·year over 300 peak hours for
    the 3 peak hours of the day: 0.02 MW × 333.33 EUR/MW·h × 3 h = 20 EUR."""
    result = schedule_site(parse_site(_site(CAPACITY)))
    morning, evening = result.service_kw["capacity 07:00-09:00"], result.service_kw["capacity 18:00-19:00"]
    assert morning[7] == pytest.approx(20.0) and evening[18] == pytest.approx(20.0)
    assert morning.sum() == pytest.approx(20.0)  # offered once, at the window start
    assert -result.costs_eur["capacity_availability"] == pytest.approx(20.0)
    assert result.revenue_eur["capacity_availability"] == pytest.approx(20.0)
    assert result.service_info["capacity 07:00-09:00"]["group"] == "capacity"
    # Independent check: a full 2 h activation from 07:00 leaves the battery within its limits.
    e0 = np.r_[20.0, result.soc_kwh["b"]]
    net = result.power_kw["b"]["electricity"]
    for k in (0, 1):  # the two periods of the window
        assert net[7 + k] - 20.0 >= -20.0 - 1e-6
        assert e0[7 + k + 1] - 20.0 * (k + 1) >= -1e-6
    assert e0[19] - 20.0 >= -1e-6 and net[18] - 20.0 >= -20.0 - 1e-6


def test_a_horizon_without_peak_days_certifies_nothing() -> None:
    winter = dict(CAPACITY, pp2_days=["2018-12-04"], pp1_days=["2018-12-05"])
    result = schedule_site(parse_site(_site(winter)))
    assert not any(kw.any() for kw in result.service_kw.values())
    assert result.costs_eur["capacity_availability"] == 0.0


def test_the_capacity_price_weighs_against_energy_arbitrage() -> None:
    """At a tiny capacity price the battery keeps its energy for arbitrage; the value is never lower
    with the mechanism than without (doing nothing for it stays feasible)."""
    prices = [30.0] * 7 + [200.0, 200.0] + [30.0] * 15
    data = _site(dict(CAPACITY, price_eur_per_mw_year=1.0))
    data["prices"]["day_ahead_eur_per_mwh"] = prices
    cheap = schedule_site(parse_site(data))
    data["services"] = {}
    none = schedule_site(parse_site(data))
    assert cheap.costs_eur["total"] <= none.costs_eur["total"] + 1e-9


def test_bad_capacity_fields_are_named() -> None:
    bad = dict(CAPACITY, pp2_days=["12/06/2018"], hours=[{"start": "09:00", "end": "07:00"}])
    with pytest.raises(ValidationError) as info:
        parse_site(_site(bad))
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert {("capacity", "pp2_days.0"), ("capacity", "hours.0.end")} <= fields
