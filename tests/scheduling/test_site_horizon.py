"""``site_on_horizon``: a site moved to another horizon reads every per-period series by timestamp."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.market.prices import prices_on_grid
from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.scheduling import Site, compile_site, parse_site, site_on_horizon
from gridflex.timegrid import TimeGrid

T0 = datetime(2018, 6, 12, 0, 0, tzinfo=UTC)
PRICES = [50.0, 40.0, 30.0, 20.0, 60.0, 80.0, 90.0, 100.0]
LOAD = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]


def _site(prices: object = PRICES, services: bool = True) -> Site:
    data: dict[str, Any] = {
        "name": "moved", "time": {"start": "2018-06-12T02:00:00+02:00", "step_s": 900, "n_periods": 8},
        "prices": {"day_ahead_eur_per_mwh": prices, "tou_eur_per_mwh": [1.0, 2.0]},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": 50,
                    "export_price_eur_per_mwh": [5.0, 6.0, 7.0, 8.0]},
                   {"kind": "load", "name": "house", "profile_kw": LOAD},
                   {"kind": "heat_pump", "name": "hp", "electric_power_kw": 3.0, "outdoor_temperature_c": 7.0}],
    }  # fmt: skip
    if services:
        data["assets"].append({"kind": "battery", "name": "bat", "capacity_kwh": 20, "charge_power_kw": 10})
        data["services"] = {"reserves": [{"name": "fcr", "product": "fcr",
                                          "availability_price_eur_per_mw_h": [10.0] * 8}]}  # fmt: skip
    return parse_site(data)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(-20, 40), minutes=st.sampled_from([0, 1, 14]))
def test_series_follow_their_timestamps(k: int, minutes: int) -> None:
    site = _site()
    start = T0 + timedelta(minutes=15 * k + minutes)
    moved = site_on_horizon(site, start, 12)
    idx = (k + np.arange(12)) % 8  # the site period holding each new period's start, site repeated
    compiled = compile_site(moved)
    assert compiled.grid.n == 12 and compiled.grid.start == start
    assert np.array_equal(compiled.prices["day_ahead"], np.asarray(PRICES)[idx])
    assert np.array_equal(compiled.prices["tou"], np.repeat([1.0, 2.0], 4)[idx])
    load = next(a for a in moved.assets if a.name == "house")
    meter = next(a for a in moved.assets if a.name == "meter")
    assert load.profile_kw == [LOAD[i] for i in idx]
    assert meter.export_price_eur_per_mwh == [float(x) for x in np.repeat([5.0, 6.0, 7.0, 8.0], 2)[idx]]
    hp = next(a for a in moved.assets if a.name == "hp")
    assert hp.outdoor_temperature_c == 7.0  # a constant stays a constant
    assert moved.services.reserves[0].availability_price_eur_per_mw_h == [10.0] * 12
    assert moved.time.start.endswith("+02:00")  # local times keep the site's offset


def test_smard_prices_are_read_at_the_new_start() -> None:
    site = _site(prices={"smard": {"zone": "France"}})
    start = T0 + timedelta(hours=30)
    moved = compile_site(site_on_horizon(site, start, 16))
    assert np.allclose(moved.prices["day_ahead"], prices_on_grid(TimeGrid(start, 900, 16), "France"))


def test_smard_prices_outside_the_data_repeat_the_sites_own_day(caplog: pytest.LogCaptureFixture) -> None:
    """A CEM running today (2026) with a 2018 SMARD site file: the file's own prices repeat."""
    site = _site(prices={"smard": {"zone": "France"}})
    own = compile_site(site).prices["day_ahead"]
    start = datetime(2026, 11, 23, 0, 45, tzinfo=UTC)
    with caplog.at_level("WARNING", logger="gridflex.scheduling"):
        moved = compile_site(site_on_horizon(site, start, 16))
    idx = (np.arange(16) + 3) % 8  # 00:45 UTC is the site's fourth period (it starts at 00:00 UTC)
    assert np.array_equal(moved.prices["day_ahead"], own[idx])


def test_the_cem_plans_against_the_prices_of_its_own_periods() -> None:
    """A CEM that has run for k periods pays the prices and serves the loads of those periods."""
    site = _site(services=False)
    for k in (0, 3, 11):
        start = T0 + timedelta(minutes=15 * k)
        plan = plan_site(site, PlanRequest(start, 900, 8, loads_kw={"dev": np.zeros(8)}))
        idx = (k + np.arange(8)) % 8
        load = np.asarray(LOAD)[idx]
        assert np.allclose(plan.net_import_kw, load, atol=1e-6)
        price = np.asarray(PRICES)[idx]
        assert abs(plan.costs_eur["energy"] - float(load @ price) * 0.25 / 1000.0) < 1e-6


def test_a_start_without_utc_offset_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        site_on_horizon(_site(), datetime(2018, 6, 12, 3, 0), 8)
    assert [(p.object_id, p.field) for p in err.value.problems] == [("time", "start")]
    assert "UTC offset" in str(err.value)
