"""Issue 14 defects: one up/down convention with per-asset flexibility; DSO contracts across seasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from tests.scheduling.test_services import _check_deliverable, _site


def _idle_battery_site(import_max: float, export_max: float) -> dict:
    return {
        "name": "flex",
        "time": {"start": "2018-06-12T00:00:00+02:00", "step_s": 3600, "n_periods": 4, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": 50.0},
        "assets": [
            {"kind": "grid_connection", "name": "grid", "import_max_kw": import_max, "export_max_kw": export_max},
            {"kind": "load", "name": "load", "profile_kw": 10.0},
            # Wear above the energy price: the battery stays idle at 50 kWh of 100.
            {"kind": "battery", "name": "b", "capacity_kwh": 100, "charge_power_kw": 20, "soc_min_frac": 0.0,
             "initial_soc_frac": 0.5, "degradation_eur_per_mwh": 80.0},
        ],
    }  # fmt: skip


def test_flexibility_up_is_more_power_into_the_grid_hand_computed() -> None:
    result = schedule_site(parse_site(_idle_battery_site(import_max=25, export_max=5)))
    assert result.power_kw["b"]["electricity"] == pytest.approx(0.0, abs=1e-9)
    # The battery alone: up = discharge 20 kW, down = charge 20 kW (50 kWh stored, 50 kWh room).
    assert result.flex_by_asset_kw["b"]["up"] == pytest.approx(20.0)
    assert result.flex_by_asset_kw["b"]["down"] == pytest.approx(20.0)
    # The site: up capped by the export room 5 + 10 (the load's import can fall to zero first),
    # down by the import room 25 − 10.
    assert result.flex_up_kw == pytest.approx(15.0) and result.flex_down_kw == pytest.approx(15.0)
    loose = schedule_site(parse_site(_idle_battery_site(import_max=100, export_max=100)))
    assert loose.flex_up_kw == pytest.approx(20.0) and loose.flex_down_kw == pytest.approx(20.0)
    assert "load" not in result.flex_by_asset_kw  # inflexible loads cannot move
    frame = result.to_frame()
    assert frame["flex_up_kw/b"].to_numpy() == pytest.approx(20.0)
    data = json.loads(result.to_json())
    assert data["flexibility_kw"]["convention"].startswith("up = more power into the grid")
    assert data["flexibility_kw"]["assets"]["b"]["up"] == pytest.approx([20.0] * 4)


def test_flexibility_and_services_share_the_direction() -> None:
    """An 'up' service sold from a full battery discharges it: the same sense as flex_up_kw."""
    data = _idle_battery_site(import_max=100, export_max=100)
    data["assets"][2].update(initial_soc_frac=1.0, soc_min_frac=0.0)
    data["services"] = {"dso_contracts": [{"name": "d", "power_kw": 20, "min_duration_h": 1, "direction": "up",
                                           "calendar": [{"start": "02:00", "end": "03:00"}]}]}  # fmt: skip
    result = schedule_site(parse_site(data))
    assert result.service_kw["d"][2] == pytest.approx(20.0)
    assert result.service_allocation_kw["d"]["b"][2] == pytest.approx(20.0)
    assert result.flex_by_asset_kw["b"]["up"][2] >= 20.0 - 1e-6  # what was sold up is up here too


WINTER = {
    "name": "winter", "power_kw": 15, "min_duration_h": 2, "availability_price_eur_per_mw_h": 40,
    "start": "2018-11-01T00:00:00+01:00", "end": "2019-04-01T00:00:00+02:00",
    "calendar": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "17:00", "end": "20:00"}],
}  # fmt: skip


def test_a_dso_contract_outside_the_horizon_is_inactive_and_one_file_serves_every_season() -> None:
    june = schedule_site(parse_site(_site({"dso_contracts": [WINTER]})))  # the site's horizon: 12 June 2018
    assert not june.service_kw["winter"].any() and june.service_blocks["winter"] == []
    assert june.costs_eur["dso_availability"] == 0.0
    data = _site({"dso_contracts": [WINTER]})
    data["time"]["start"] = "2018-12-04T00:00:00+01:00"  # a Tuesday inside the contract
    dec = schedule_site(parse_site(data))
    window = np.zeros(24, bool)
    window[17:20] = True
    assert (
        dec.service_kw["winter"][window] == pytest.approx(15.0)
        and not dec.service_kw["winter"][~window].any()
    )
    assert _check_deliverable(data, dec, ["winter"], up=True, only=window) > 0
    assert -dec.costs_eur["dso_availability"] == pytest.approx(15 / 1000 * 40 * 3)


def test_a_contract_ending_before_it_starts_is_still_named() -> None:
    bad = dict(WINTER, end="2018-10-01T00:00:00+02:00")
    with pytest.raises(ValidationError) as info:
        parse_site(_site({"dso_contracts": [bad]}))
    assert ("winter", "end") in {(p.object_id, p.field) for p in info.value.problems}
