"""Behaviour of the synthetic fleet generator: reproducible, valid by construction, exact counts."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import GridflexError, ValidationError
from gridflex.flexoffer.fleet import DEFAULT_MIX, DEVICE_TYPES, fleet_horizon, generate_fleet
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch
from gridflex.flexoffer.validate import validate_flexoffers

TOL = 1e-9
DST_DAYS = ["2018-03-25", "2018-10-28"]


def kinds(batch: FlexOfferBatch) -> np.ndarray:
    return np.array([i.rsplit("-", 1)[0] for i in batch.ids])


def assert_valid(batch: FlexOfferBatch, day: str, tz: str = "Europe/Paris") -> None:
    """Independent validity check (does not use gridflex.flexoffer.validate)."""
    step = batch.interval_s
    h = fleet_horizon(day, tz, step)
    n, lengths = len(batch), batch.lengths
    assert np.all(lengths > 0)
    # times on the grid, EST <= LST, whole window inside the horizon
    for name in ("est_s", "lst_s", "accept_before_s", "assign_before_s"):
        assert np.all((getattr(batch, name) - h.start_s) % step == 0), name
    assert np.all(batch.est_s <= batch.lst_s)
    assert np.all(batch.est_s >= h.start_s)
    assert np.all(batch.lst_s + lengths * step <= h.start_s + h.n * step)
    assert np.all(batch.accept_before_s <= batch.assign_before_s)
    assert np.all(batch.assign_before_s <= batch.lst_s)
    # EST − 2 h and EST − 15 min, rounded up to whole intervals
    assert np.all(batch.est_s - batch.accept_before_s == -(-7200 // step) * step)
    assert np.all(batch.est_s - batch.assign_before_s == -(-900 // step) * step)
    # bounds
    assert np.all(np.isfinite(batch.lower_kwh)) and np.all(np.isfinite(batch.upper_kwh))
    assert np.all(batch.lower_kwh <= batch.upper_kwh)
    # TEC within the profile sums
    lo_sum, hi_sum = batch.sum_per_offer(batch.lower_kwh), batch.sum_per_offer(batch.upper_kwh)
    has = ~np.isnan(batch.tec_lower_kwh)
    assert np.array_equal(has, ~np.isnan(batch.tec_upper_kwh))
    assert np.all(batch.tec_lower_kwh[has] <= batch.tec_upper_kwh[has])
    assert np.all(batch.tec_lower_kwh[has] >= lo_sum[has] - TOL)
    assert np.all(batch.tec_upper_kwh[has] <= hi_sum[has] + TOL)
    # default schedule: start in the window, inside the bounds and the TEC
    d = batch.default
    assert d is not None and len(d.start_s) == n and len(d.energy_kwh) == batch.offsets[-1]
    assert np.all(d.start_s != NO_TIME)
    assert np.all((batch.est_s <= d.start_s) & (d.start_s <= batch.lst_s))
    assert np.all(d.energy_kwh >= batch.lower_kwh - TOL) and np.all(d.energy_kwh <= batch.upper_kwh + TOL)
    total = batch.sum_per_offer(d.energy_kwh)
    assert np.all(total[has] >= batch.tec_lower_kwh[has] - 1e-6)
    assert np.all(total[has] <= batch.tec_upper_kwh[has] + 1e-6)
    # prices
    for p in (batch.price_above_eur_per_mwh, batch.price_below_eur_per_mwh):
        assert np.all((p >= 1.0) & (p <= 8.0))
    # the library's own validator, when present, agrees
    assert validate_flexoffers(batch) == []


def assert_same(a: FlexOfferBatch, b: FlexOfferBatch) -> None:
    for name in ("ids", "owners", "est_s", "lst_s", "offsets", "lower_kwh", "upper_kwh", "tec_lower_kwh"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("tec_upper_kwh", "accept_before_s", "assign_before_s", "price_above_eur_per_mwh"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.price_below_eur_per_mwh, b.price_below_eur_per_mwh)
    np.testing.assert_array_equal(a.default.start_s, b.default.start_s)
    np.testing.assert_array_equal(a.default.energy_kwh, b.default.energy_kwh)


@pytest.fixture(scope="module")
def fleet() -> FlexOfferBatch:
    return generate_fleet(5000, day="2018-06-12", seed=7)


def test_same_seed_same_fleet_other_seed_differs() -> None:
    a, b = generate_fleet(800, seed=11), generate_fleet(800, seed=11)
    assert_same(a, b)
    c = generate_fleet(800, seed=12)
    assert not np.array_equal(a.est_s, c.est_s)
    assert not np.array_equal(a.price_above_eur_per_mwh, c.price_above_eur_per_mwh)


def test_default_fleet_is_valid(fleet: FlexOfferBatch) -> None:
    assert len(fleet) == 5000
    assert_valid(fleet, "2018-06-12")


def test_ids_and_owners(fleet: FlexOfferBatch) -> None:
    assert len(set(fleet.ids.tolist())) == len(fleet)
    assert all(re.fullmatch(r"(ev|heat_pump|wet_appliance|home_battery|pv)-\d{6}", i) for i in fleet.ids)
    assert all(re.fullmatch(r"prosumer-\d+", o) for o in fleet.owners)
    assert fleet.ids[0] == "ev-000000"
    # several devices share a household
    assert len(set(fleet.owners.tolist())) < len(fleet)


def test_counts_follow_the_default_mix_exactly(fleet: FlexOfferBatch) -> None:
    k = kinds(fleet)
    for kind, share in DEFAULT_MIX.items():
        assert np.count_nonzero(k == kind) == round(share * 5000)
    # grouped by type in the order of DEFAULT_MIX
    first = [int(np.flatnonzero(k == kind)[0]) for kind in DEFAULT_MIX]
    assert first == sorted(first)


@pytest.mark.parametrize(
    ("n", "mix", "expected"),
    [
        (10, {"ev": 1, "heat_pump": 1, "pv": 1}, {"ev": 4, "heat_pump": 3, "pv": 3}),
        (7, {"ev": 0.5, "pv": 0.5}, {"ev": 4, "pv": 3}),
        (5, {"home_battery": 2.0}, {"home_battery": 5}),
        (3, {"ev": 0.0, "wet_appliance": 1e-9}, {"wet_appliance": 3}),
        (101, DEFAULT_MIX, {"ev": 36, "heat_pump": 20, "wet_appliance": 25, "home_battery": 10, "pv": 10}),
    ],
)
def test_counts_by_largest_remainder(n: int, mix: dict, expected: dict) -> None:
    b = generate_fleet(n, mix=mix, seed=1)
    k = kinds(b)
    assert len(b) == n
    for kind in DEVICE_TYPES:
        assert np.count_nonzero(k == kind) == expected.get(kind, 0)


def test_one_type_does_not_change_another() -> None:
    alone = generate_fleet(100, mix={"ev": 1.0}, seed=5)
    mixed = generate_fleet(200, mix={"ev": 1.0, "pv": 1.0}, seed=5)
    ev = mixed.take(np.flatnonzero(kinds(mixed) == "ev"))
    for name in ("est_s", "lst_s", "upper_kwh", "tec_lower_kwh"):
        np.testing.assert_array_equal(getattr(alone, name), getattr(ev, name))


def test_ev_default_meets_the_need_at_full_power_from_arrival(fleet: FlexOfferBatch) -> None:
    ev = fleet.take(np.flatnonzero(kinds(fleet) == "ev"))
    need = ev.tec_lower_kwh
    np.testing.assert_array_equal(need, ev.tec_upper_kwh)
    assert np.all((need >= 2.0) & (need <= 40.0))
    np.testing.assert_allclose(ev.sum_per_offer(ev.default.energy_kwh), need, atol=1e-9)
    np.testing.assert_array_equal(ev.default.start_s, ev.est_s)
    np.testing.assert_array_equal(ev.lower_kwh, 0.0)
    power_kw = ev.upper_kwh[ev.offsets[:-1]] * 4
    assert set(np.round(power_kw, 6).tolist()) == {3.7, 7.4, 11.0}
    # charge at full power first: the energies never increase along a profile
    same = ev.owner_index[1:] == ev.owner_index[:-1]
    assert np.all(np.diff(ev.default.energy_kwh)[same] <= 1e-12)
    # at least one spare interval (slower charging possible): profile sum of upper > need
    assert np.all(ev.sum_per_offer(ev.upper_kwh) > need)
    # arrival between 15:00 and 23:00 local, the end of charging before 10:00 next day
    local = pd.DatetimeIndex(pd.to_datetime(ev.est_s, unit="s", utc=True)).tz_convert("Europe/Paris")
    assert np.all((local.hour >= 15) & (local.hour <= 23))
    end = pd.to_datetime(ev.lst_s + ev.lengths * 900, unit="s", utc=True).tz_convert("Europe/Paris")
    assert np.all((end.day == 13) & (end.hour >= 5) & (end.hour * 60 + end.minute <= 600))


def test_sign_conventions(fleet: FlexOfferBatch) -> None:
    k = kinds(fleet)
    flat_kind = k[fleet.owner_index]
    for kind in ("ev", "heat_pump", "wet_appliance"):
        m = flat_kind == kind
        assert np.all(fleet.lower_kwh[m] >= 0) and np.all(fleet.upper_kwh[m] > 0)
    pv = flat_kind == "pv"
    assert np.all(fleet.upper_kwh[pv] == 0) and np.all(fleet.lower_kwh[pv] <= 0)
    assert np.all(fleet.default.energy_kwh[pv] <= 0)
    np.testing.assert_array_equal(fleet.default.energy_kwh[pv], fleet.lower_kwh[pv])
    assert fleet.default.energy_kwh[pv].sum() < 0  # June: production
    bat = flat_kind == "home_battery"
    np.testing.assert_array_equal(fleet.lower_kwh[bat], -fleet.upper_kwh[bat])
    assert np.all(fleet.default.energy_kwh[bat] == 0)
    wet = flat_kind == "wet_appliance"
    np.testing.assert_array_equal(fleet.lower_kwh[wet], fleet.upper_kwh[wet])


def test_pv_follows_the_sun(fleet: FlexOfferBatch) -> None:
    pv = fleet.take(np.flatnonzero(kinds(fleet) == "pv"))
    start = pd.Timestamp(int(pv.est_s[0]), unit="s", tz="UTC").tz_convert("Europe/Paris")
    assert (start.hour, start.minute) == (7, 0)
    assert np.all(pv.lengths == 13 * 4) and np.all(pv.est_s == pv.lst_s)
    first = pv.lower_kwh[: pv.offsets[1]]
    peak = int(np.argmin(first))
    assert 16 <= peak <= 32  # around 12:00–14:00 local summer time
    kwp = -pv.sum_per_offer(pv.lower_kwh)
    assert np.all(kwp > 0)
    # 3–9 kWp × 0.5–1 cloudiness: at most 9 kWp × 0.25 h per quarter-hour
    assert pv.lower_kwh.min() >= -9 * 0.25


def test_heat_pump_and_battery_shapes(fleet: FlexOfferBatch) -> None:
    hp = fleet.take(np.flatnonzero(kinds(fleet) == "heat_pump"))
    assert np.all(hp.lengths == 16) and np.all(hp.time_flex <= 8)
    e = hp.sum_per_offer(hp.default.energy_kwh)
    width = hp.tec_upper_kwh - hp.tec_lower_kwh
    assert np.all((width >= 0.2 * e - 1e-9) & (width <= 0.5 * e + 1e-9))
    bat = fleet.take(np.flatnonzero(kinds(fleet) == "home_battery"))
    assert np.all((bat.lengths >= 16) & (bat.lengths <= 24)) and np.all(bat.time_flex == 0)
    np.testing.assert_array_equal(bat.tec_lower_kwh, 0.0)


def test_horizon_is_36_hours_from_local_midnight() -> None:
    for day in ["2018-06-12", *DST_DAYS]:
        h = fleet_horizon(day)
        assert h.n == 144 and h.step_s == 900
        assert h.start == pd.Timestamp(day, tz="Europe/Paris")
    assert fleet_horizon("2018-06-12", interval_s=3600).n == 36


def test_empty_fleet() -> None:
    b = generate_fleet(0)
    assert len(b) == 0 and b.offsets.tolist() == [0]


@pytest.mark.parametrize("interval_s", [300, 3600])
def test_other_interval_lengths_are_valid(interval_s: int) -> None:
    b = generate_fleet(300, day="2018-10-28", seed=2, interval_s=interval_s)
    assert b.interval_s == interval_s
    assert_valid(b, "2018-10-28")


days = st.one_of(st.sampled_from(DST_DAYS), st.dates(dt.date(2018, 1, 1), dt.date(2018, 12, 31)))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 400), seed=st.integers(0, 2**32 - 1), day=days)
def test_any_fleet_is_valid(n: int, seed: int, day: object) -> None:
    day = str(day)
    b = generate_fleet(n, day=day, seed=seed)
    assert len(b) == n
    assert_valid(b, day)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mix": {"ev": 0.5, "toaster": 0.5}}, "mix.toaster"),
        ({"mix": {"ev": -0.1, "pv": 1.0}}, "mix.ev"),
        ({"mix": {"ev": float("nan")}}, "mix.ev"),
        ({"mix": {"ev": "lots"}}, "mix.ev"),
        ({"mix": {"ev": 0.0}}, "mix"),
        ({"mix": [0.5, 0.5]}, "mix"),
        ({"n_devices": -1}, "n_devices"),
        ({"n_devices": 2.5}, "n_devices"),
        ({"interval_s": 700}, "interval_s"),
        ({"day": "not a day"}, "day"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        generate_fleet(**{"n_devices": 10, **kwargs})
    assert isinstance(err.value, GridflexError)
    assert [p.field for p in err.value.problems] == [field]
    assert err.value.problems[0].object_id == "fleet"
    assert field in str(err.value)


def test_all_problems_reported_together() -> None:
    with pytest.raises(ValidationError) as err:
        generate_fleet(-5, mix={"ev": -1, "toaster": 1})
    assert {p.field for p in err.value.problems} == {"n_devices", "mix.ev", "mix.toaster"}
