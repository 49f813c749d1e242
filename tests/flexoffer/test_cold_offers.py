"""Fridge and freezer flex-offers: every schedule inside an offer keeps the compartment in its band,
checked by an independent simulation of the compartment (exact 1R1C per interval)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.flexoffer.fleet import _clock, cold_offers, draw_cold_params, generate_fleet
from gridflex.flexoffer.validate import validate_flexoffers


def _simulate(p, i: int, energy_kwh: np.ndarray, dt_h: float) -> np.ndarray:
    """Compartment temperature at each interval end, from the middle of the band."""
    c, h, cop = p.capacity_kwh_per_k[i], p.loss_kw_per_k[i], p.cop[i]
    a = np.exp(-h * dt_h / c)
    t = (p.min_c[i] + p.max_c[i]) / 2.0
    out = []
    for e in energy_kwh:
        eq = p.room_c[i] + (p.gains_kw[i] - cop * e / dt_h) / h  # where the compartment heads
        t = eq + (t - eq) * a
        out.append(t)
    return np.array(out)


def _fill(upper: np.ndarray, total: float, front: bool) -> np.ndarray:
    u = upper if front else upper[::-1]
    e = np.clip(total - np.concatenate([[0.0], np.cumsum(u)[:-1]]), 0.0, u)
    return e if front else e[::-1]


@pytest.fixture(scope="module", params=["fridge", "freezer"])
def offers(request):
    kind = request.param
    rng = np.random.default_rng(4)
    p = draw_cold_params(kind, rng, 300)
    return kind, p, cold_offers(kind, p, rng, _clock("2018-06-12", "Europe/Paris", 900))


def _check(p, batch, i: int, energy: np.ndarray) -> None:
    temps = _simulate(p, i, energy, batch.interval_s / 3600.0)
    assert temps.min() >= p.min_c[i] - 1e-9 and temps.max() <= p.max_c[i] + 1e-9, (i, temps)


def test_extreme_schedules_keep_the_band(offers) -> None:
    _, p, batch = offers
    assert validate_flexoffers(batch) == []
    for i in range(len(batch)):
        lo, hi = batch.offsets[i], batch.offsets[i + 1]
        upper = batch.upper_kwh[lo:hi]
        for total in (batch.tec_lower_kwh[i], batch.tec_upper_kwh[i]):
            for front in (True, False):
                _check(p, batch, i, _fill(upper, total, front))
        _check(p, batch, i, batch.default.energy_kwh[lo:hi])


@settings(max_examples=60, deadline=None)
@given(
    i=st.integers(0, 299), share=st.floats(0, 1), weights=st.lists(st.floats(0, 1), min_size=40, max_size=40)
)
def test_any_schedule_inside_an_offer_keeps_the_band(offers, i, share, weights) -> None:
    _, p, batch = offers
    lo, hi = batch.offsets[i], batch.offsets[i + 1]
    upper = batch.upper_kwh[lo:hi]
    total = batch.tec_lower_kwh[i] + share * (batch.tec_upper_kwh[i] - batch.tec_lower_kwh[i])
    w = np.array(weights[: hi - lo]) + 1e-3
    e = np.minimum(w / w.sum() * total, upper)
    for _ in range(50):  # spread what the cap cut off over the intervals with room left
        rest = total - e.sum()
        room = upper - e
        if rest < 1e-12 or room.sum() < 1e-12:
            break
        e = e + np.minimum(room, rest * room / room.sum())
    _check(p, batch, i, e)


def test_offers_shift_real_energy_and_end_near_the_middle(offers) -> None:
    kind, p, batch = offers
    dt_h = batch.interval_s / 3600.0
    width = batch.tec_upper_kwh - batch.tec_lower_kwh
    assert np.all(width > 0)
    assert np.all(batch.lengths >= 1)
    # a freezer holds its band longer than a fridge (more mass, wider band)
    mean_h = float(np.mean(batch.lengths) * dt_h)
    assert (1.0 <= mean_h <= 3.0) if kind == "fridge" else (3.0 <= mean_h <= 8.0)
    # the default is energy neutral: the compartment ends where it started
    for i in range(0, len(batch), 37):
        lo, hi = batch.offsets[i], batch.offsets[i + 1]
        end = _simulate(p, i, batch.default.energy_kwh[lo:hi], dt_h)[-1]
        half = (p.max_c[i] - p.min_c[i]) / 2
        assert abs(end - (p.min_c[i] + half)) < 0.25 * half


def test_fleets_with_cold_appliances() -> None:
    fleet = generate_fleet(1000, mix={"ev": 0.5, "fridge": 0.3, "freezer": 0.2}, seed=3)
    kinds = np.array([i.rsplit("-", 1)[0] for i in fleet.ids])
    assert (np.count_nonzero(kinds == "fridge"), np.count_nonzero(kinds == "freezer")) == (300, 200)
    assert validate_flexoffers(fleet) == []
    cold = np.isin(kinds[fleet.owner_index], ["fridge", "freezer"])
    assert np.all(fleet.lower_kwh[cold] == 0) and np.all(fleet.upper_kwh[cold] > 0)
    # adding cold appliances leaves the other types' devices as they were
    ev_only = generate_fleet(500, mix={"ev": 1.0}, seed=3)
    np.testing.assert_array_equal(ev_only.est_s, fleet.est_s[kinds == "ev"])
