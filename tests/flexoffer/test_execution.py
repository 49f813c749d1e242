"""Execution: simulated measurements, deviations, two-price imbalance cost, activation payment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.flexoffer.execution import (
    ExecutionResult,
    activation_payment_eur,
    execute,
    simulate_measurements,
)
from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
from gridflex.flexoffer.model import FlexOfferBatch, Schedule
from gridflex.timegrid import TimeGrid

from .strategies import offers

T0 = 1_528_761_600  # 2018-06-12T00:00:00Z
GRID = TimeGrid(pd.Timestamp(T0, unit="s", tz="UTC"), 900, 4)


@pytest.fixture(scope="module")
def fleet() -> FlexOfferBatch:
    return generate_fleet(3000, seed=3)


def prices_for(grid: TimeGrid, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-20.0, 150.0, grid.n)


def two_offers() -> tuple[FlexOfferBatch, Schedule, np.ndarray]:
    """A starts at period 0, B at period 1; both two intervals long."""
    batch = FlexOfferBatch.from_profiles(
        ids=["A", "B"],
        est_s=[T0, T0 + 900],
        lst_s=[T0, T0 + 900],
        lower_kwh=[[0, 0], [0, 0]],
        upper_kwh=[[5, 5], [5, 5]],
    )
    schedule = Schedule([T0, T0 + 900], [1.0, 2.0, 0.5, 0.5])
    measured = np.array([1.5, 1.0, 1.0, 0.0])
    return batch, schedule, measured


# ---- zero noise, balance, identities ------------------------------------------------------------
def test_zero_noise_gives_zero_deviation_and_cost(fleet: FlexOfferBatch) -> None:
    grid = fleet_horizon("2018-06-12")
    measured = simulate_measurements(fleet, fleet.default, noise=0.0, seed=9)
    np.testing.assert_array_equal(measured, fleet.default.energy_kwh)
    r = execute(fleet, fleet.default, measured, grid, prices_for(grid))
    assert isinstance(r, ExecutionResult)
    assert np.all(r.deviation_kwh == 0) and np.all(r.imbalance_kwh == 0)
    assert np.all(r.deviation_per_offer_kwh == 0) and np.all(r.abs_deviation_per_offer_kwh == 0)
    assert r.imbalance_cost_eur == 0 and r.imbalance_settlement_eur == 0
    assert r.energy_cost_measured_eur == pytest.approx(r.energy_cost_scheduled_eur)


def test_measurements_reproducible_and_near_the_schedule(fleet: FlexOfferBatch) -> None:
    a = simulate_measurements(fleet, fleet.default, noise=0.05, seed=1)
    b = simulate_measurements(fleet, fleet.default, noise=0.05, seed=1)
    c = simulate_measurements(fleet, fleet.default, noise=0.05, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == fleet.default.energy_kwh.shape and np.all(np.isfinite(a))
    assert not np.array_equal(a, fleet.default.energy_kwh)
    # clipped to the bounds widened by 3σ, σ = noise · √(x² + s²), s = mean (|lower| + |upper|) / 2
    size = fleet.sum_per_offer((abs(fleet.lower_kwh) + abs(fleet.upper_kwh)) / 2) / fleet.lengths
    widen = 3 * 0.05 * np.hypot(fleet.default.energy_kwh, size[fleet.owner_index])
    assert np.all(a >= fleet.lower_kwh - widen - 1e-12) and np.all(a <= fleet.upper_kwh + widen + 1e-12)
    # relative error of the portfolio total is small, and the noise is not biased
    assert abs(a.sum() - fleet.default.energy_kwh.sum()) < 0.05 * np.abs(fleet.default.energy_kwh).sum()
    assert abs((a - fleet.default.energy_kwh).mean()) < 3 * (a - fleet.default.energy_kwh).std() / np.sqrt(
        len(a)
    )


def test_energy_balance_and_cost_identities(fleet: FlexOfferBatch) -> None:
    grid = fleet_horizon("2018-06-12")
    prices = prices_for(grid, 4)
    measured = simulate_measurements(fleet, fleet.default, noise=0.1, seed=4)
    r = execute(fleet, fleet.default, measured, grid, prices, imbalance_spread_eur_per_mwh=12.0)
    assert r.imbalance_kwh.sum() == pytest.approx(r.deviation_kwh.sum(), abs=1e-9)
    assert r.deviation_per_offer_kwh.sum() == pytest.approx(r.deviation_kwh.sum(), abs=1e-9)
    np.testing.assert_allclose(r.measured_kwh - r.scheduled_kwh, r.imbalance_kwh, atol=1e-9)
    assert np.all(r.abs_deviation_per_offer_kwh >= np.abs(r.deviation_per_offer_kwh) - 1e-12)
    assert r.imbalance_cost_eur == pytest.approx(np.abs(r.imbalance_kwh).sum() * 12.0 / 1000)
    assert r.imbalance_cost_eur > 0
    shift = r.imbalance_kwh @ prices / 1000
    assert r.energy_cost_measured_eur == pytest.approx(r.energy_cost_scheduled_eur + shift)
    assert r.imbalance_settlement_eur - shift == pytest.approx(r.imbalance_cost_eur)
    # the measured load equals the schedule placed with the model's own place_on_grid
    from gridflex.flexoffer.model import place_on_grid

    on_grid = place_on_grid(fleet, fleet.default, grid.start_s, grid.n)
    np.testing.assert_allclose(r.scheduled_kwh, on_grid, atol=1e-9)


def test_two_price_imbalance_hand_example() -> None:
    batch, schedule, measured = two_offers()
    prices = np.array([40.0, 100.0, -20.0, 30.0])
    r = execute(batch, schedule, measured, GRID, prices, imbalance_spread_eur_per_mwh=10.0)
    # deviations A: [+0.5, -1.0], B: [+0.5, -0.5]
    np.testing.assert_allclose(r.deviation_kwh, [0.5, -1.0, 0.5, -0.5])
    np.testing.assert_allclose(r.deviation_per_offer_kwh, [-0.5, 0.0])
    np.testing.assert_allclose(r.abs_deviation_per_offer_kwh, [1.5, 1.0])
    # per period: t0 +0.5 (short), t1 -1.0+0.5 = -0.5 (long), t2 -0.5 (long), t3 0
    np.testing.assert_allclose(r.imbalance_kwh, [0.5, -0.5, -0.5, 0.0])
    np.testing.assert_allclose(r.scheduled_kwh, [1.0, 2.5, 0.5, 0.0])
    np.testing.assert_allclose(r.measured_kwh, [1.5, 2.0, 0.0, 0.0])
    # short 0.5 bought at 40+10; long 0.5 sold at 100-10; long 0.5 sold at -20-10 (pays 15)
    assert r.imbalance_settlement_eur == pytest.approx((0.5 * 50 - 0.5 * 90 - 0.5 * -30) / 1000)  # -0.005
    assert r.imbalance_cost_eur == pytest.approx(1.5 * 10 / 1000)  # 0.015
    assert r.energy_cost_scheduled_eur == pytest.approx((1.0 * 40 + 2.5 * 100 + 0.5 * -20) / 1000)  # 0.28
    assert r.energy_cost_measured_eur == pytest.approx((1.5 * 40 + 2.0 * 100) / 1000)  # 0.26


def test_zero_spread_makes_imbalance_free() -> None:
    batch, schedule, measured = two_offers()
    r = execute(batch, schedule, measured, GRID, np.array([40.0, 100.0, -20.0, 30.0]), 0.0)
    assert r.imbalance_cost_eur == 0
    assert r.imbalance_settlement_eur == pytest.approx(
        r.energy_cost_measured_eur - r.energy_cost_scheduled_eur
    )


# ---- activation payment -------------------------------------------------------------------------
def shifted_batch() -> tuple[FlexOfferBatch, Schedule]:
    batch = FlexOfferBatch.from_profiles(
        ids=["later", "earlier", "still"],
        est_s=[T0, T0, T0],
        lst_s=[T0 + 3600, T0 + 3600, T0 + 3600],
        lower_kwh=[[0, 0, 0], [0, 0], [0]],
        upper_kwh=[[5, 5, 5], [5, 5], [5]],
        price_above_eur_per_mwh=[20.0, 30.0, np.nan],
        price_below_eur_per_mwh=[10.0, 5.0, np.nan],
        default=([T0, T0 + 1800, T0], [[1, 2, 0], [1, 1], [2]]),
    )
    schedule = Schedule([T0 + 900, T0, T0], [0.0, 1.0, 3.0, 1.0, 1.0, 2.0])
    return batch, schedule


def test_activation_payment_hand_example_with_shifted_start() -> None:
    batch, schedule = shifted_batch()
    pay = activation_payment_eur(batch, schedule)
    # "later": default [1,2,0,·] from t0, schedule [·,0,1,3] from t1 -> x−d = [-1,-2,+1,+3]
    #          up 4 kWh × 20 + down 3 kWh × 10 = 110 EUR·kWh/MWh -> 0.11 EUR
    # "earlier": default [·,·,1,1] from t2, schedule [1,1,·,·] from t0 -> up 2 × 30 + down 2 × 5 -> 0.07
    # "still": unchanged -> 0, even without prices
    np.testing.assert_allclose(pay, [0.11, 0.07, 0.0])
    # the batch's own assigned schedule is the default argument
    np.testing.assert_allclose(activation_payment_eur(batch.with_schedule(schedule)), pay)


def test_activation_payment_of_the_default_is_zero(fleet: FlexOfferBatch) -> None:
    assert np.all(activation_payment_eur(fleet, fleet.default) == 0)


def test_activation_payment_without_price_for_a_move_is_nan() -> None:
    batch, schedule = shifted_batch()
    moved = Schedule(schedule.start_s, np.array([0.0, 1.0, 3.0, 1.0, 1.0, 1.0]))
    assert np.isnan(activation_payment_eur(batch, moved)[2])


def naive_payment(batch: FlexOfferBatch, schedule: Schedule) -> np.ndarray:
    """Loop reference: dictionaries of absolute interval -> energy."""
    out = []
    for i in range(len(batch)):
        a, b = batch.offsets[i], batch.offsets[i + 1]
        x: dict[int, float] = {}
        d: dict[int, float] = {}
        for k in range(b - a):
            x[int(schedule.start_s[i]) // 900 + k] = schedule.energy_kwh[a + k]
            d[int(batch.default.start_s[i]) // 900 + k] = batch.default.energy_kwh[a + k]
        up = sum(max(0.0, x.get(t, 0.0) - d.get(t, 0.0)) for t in set(x) | set(d))
        down = sum(max(0.0, d.get(t, 0.0) - x.get(t, 0.0)) for t in set(x) | set(d))
        out.append((batch.price_above_eur_per_mwh[i] * up + batch.price_below_eur_per_mwh[i] * down) / 1000)
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(batch=offers(max_size=6), data=st.data())
def test_activation_payment_matches_a_loop(batch: FlexOfferBatch, data: st.DataObject) -> None:
    n = len(batch)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    batch = FlexOfferBatch.from_profiles(
        ids=batch.ids,
        est_s=batch.est_s,
        lst_s=batch.lst_s,
        lower_kwh=[batch.profile(i)[0] for i in range(n)],
        upper_kwh=[batch.profile(i)[1] for i in range(n)],
        price_above_eur_per_mwh=rng.uniform(0, 50, n),
        price_below_eur_per_mwh=rng.uniform(0, 50, n),
        default=batch.default,
    )
    tf = batch.time_flex
    start = batch.est_s + 900 * np.floor(rng.random(n) * (tf + 1)).astype(np.int64)
    theta = rng.random(len(batch.lower_kwh))
    energy = batch.lower_kwh + theta * (batch.upper_kwh - batch.lower_kwh)
    schedule = Schedule(start, energy)
    pay = activation_payment_eur(batch, schedule)
    np.testing.assert_allclose(pay, naive_payment(batch, schedule), rtol=1e-9, atol=1e-12)
    assert np.all(pay >= 0)


# ---- bad inputs ---------------------------------------------------------------------------------
def fields(err: pytest.ExceptionInfo) -> set[str]:
    return {p.field for p in err.value.problems}


def test_bad_execution_inputs_name_the_field() -> None:
    batch, schedule, measured = two_offers()
    prices = np.array([40.0, 100.0, -20.0, 30.0])
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, measured[:3], GRID, prices)
    assert fields(err) == {"measured_kwh"}
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, np.array([1.0, np.nan, 0.0, 0.0]), GRID, prices)
    assert fields(err) == {"measured_kwh"} and "NaN" in str(err.value)
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, measured, GRID, prices[:3])
    assert fields(err) == {"prices_eur_per_mwh"}
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, measured, GRID, np.array([1.0, np.nan, 0.0, 0.0]))
    assert fields(err) == {"prices_eur_per_mwh"}
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, measured, GRID, prices, imbalance_spread_eur_per_mwh=-1.0)
    assert fields(err) == {"imbalance_spread_eur_per_mwh"}
    with pytest.raises(ValidationError) as err:  # several at once
        execute(batch, schedule, measured[:2], GRID, prices[:2])
    assert fields(err) == {"measured_kwh", "prices_eur_per_mwh"}


def test_schedule_outside_or_off_the_grid_names_the_offer() -> None:
    batch, schedule, measured = two_offers()
    prices = np.zeros(4)
    late = Schedule([T0, T0 + 3 * 900], schedule.energy_kwh)  # B would need period 4
    with pytest.raises(ValidationError) as err:
        execute(batch, late, measured, GRID, prices)
    assert fields(err) == {"schedule.start_s"} and "B" in str(err.value)
    early = Schedule([T0 - 900, T0 + 900], schedule.energy_kwh)
    with pytest.raises(ValidationError, match="A"):
        execute(batch, early, measured, GRID, prices)
    off = Schedule([T0 + 60, T0 + 900], schedule.energy_kwh)
    with pytest.raises(ValidationError, match="not on the grid"):
        execute(batch, off, measured, GRID, prices)
    hourly = TimeGrid(GRID.start, 3600, 1)
    with pytest.raises(ValidationError) as err:
        execute(batch, schedule, measured, hourly, np.zeros(1))
    assert fields(err) == {"grid.step_s"}


def test_bad_schedule_and_noise_name_the_field() -> None:
    batch, schedule, _ = two_offers()
    with pytest.raises(ValidationError) as err:
        simulate_measurements(batch, Schedule([T0], schedule.energy_kwh))
    assert fields(err) == {"schedule.start_s"}
    with pytest.raises(ValidationError) as err:
        simulate_measurements(batch, Schedule(schedule.start_s, [1.0, np.nan, 0.0, 0.0]))
    assert fields(err) == {"schedule.energy_kwh"} and "A" in str(err.value)
    with pytest.raises(ValidationError) as err:
        simulate_measurements(batch, schedule, noise=-0.1)
    assert fields(err) == {"noise"}
    with pytest.raises(ValidationError) as err:
        activation_payment_eur(batch, schedule)  # no default
    assert fields(err) == {"default"}
    with pytest.raises(ValidationError) as err:
        activation_payment_eur(batch.with_default(schedule))  # no assigned schedule
    assert fields(err) == {"schedule"}
