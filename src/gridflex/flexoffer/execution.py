"""Execution of a flex-offer schedule: what the devices did (measured) against what they were told.

Devices do not follow schedules exactly: :func:`simulate_measurements` makes plausible measurements
from a schedule (synthetic noise). :func:`execute` compares measurements with the schedule, places the
deviations on the market time grid and prices the resulting imbalance; :func:`activation_payment_eur`
prices the prosumers' effort of moving away from their default schedule.

Sign: positive energy = consumption. A positive deviation or imbalance means the portfolio consumed
more (or produced less) than scheduled: it is *short* and buys the missing energy in the imbalance
settlement. Energies kWh, prices EUR/MWh, money EUR (so every kWh × EUR/MWh product is divided by 1000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule
from gridflex.timegrid import TimeGrid

__all__ = ["ExecutionResult", "activation_payment_eur", "execute", "simulate_measurements"]


# ---- input checks -------------------------------------------------------------------------------
def _raise(what: str, problems: list[Problem]) -> None:
    if problems:
        raise ValidationError(what, problems)


def _first_ids(batch: FlexOfferBatch, bad: np.ndarray, k: int = 3) -> str:
    idx = np.flatnonzero(bad)
    names = ", ".join(str(batch.ids[i]) for i in idx[:k])
    return names + (f" and {len(idx) - k} more" if len(idx) > k else "")


def _check_schedule(batch: FlexOfferBatch, schedule: Schedule | None, name: str) -> list[Problem]:
    """Shape, NaN and start checks of a schedule against its batch (problems named ``<name>.<field>``)."""
    if schedule is None:
        return [Problem("batch", name, "is missing")]
    n, m = len(batch), int(batch.offsets[-1])
    problems = []
    if len(schedule.start_s) != n:
        problems.append(
            Problem("batch", f"{name}.start_s", f"has {len(schedule.start_s)} values for {n} offers")
        )
    if len(schedule.energy_kwh) != m:
        problems.append(
            Problem("batch", f"{name}.energy_kwh", f"has {len(schedule.energy_kwh)} values for {m} intervals")
        )
    if problems:
        return problems
    no_start = schedule.start_s == NO_TIME
    if no_start.any():
        problems.append(Problem("batch", f"{name}.start_s", f"absent for {_first_ids(batch, no_start)}"))
    bad_energy = ~np.isfinite(schedule.energy_kwh)
    if bad_energy.any():
        offers = np.bincount(batch.owner_index[bad_energy], minlength=n) > 0
        problems.append(
            Problem("batch", f"{name}.energy_kwh", f"NaN or infinite for {_first_ids(batch, offers)}")
        )
    return problems


def _check_flat(batch: FlexOfferBatch, values: np.ndarray, name: str) -> list[Problem]:
    m = int(batch.offsets[-1])
    if values.ndim != 1 or len(values) != m:
        return [
            Problem("execution", name, f"has shape {values.shape}, expected ({m},), one value per interval")
        ]
    if not np.isfinite(values).all():
        k = int(np.count_nonzero(~np.isfinite(values)))
        return [Problem("execution", name, f"{k} NaN or infinite value(s)")]
    return []


def _grid_periods(batch: FlexOfferBatch, schedule: Schedule, grid: TimeGrid, name: str) -> np.ndarray:
    """Grid period of every flat interval of ``schedule``; raises naming the offers that do not fit."""
    if grid.step_s != batch.interval_s:
        _raise(
            "execution inputs",
            [
                Problem(
                    "execution",
                    "grid.step_s",
                    f"{grid.step_s} s differs from the offers' {batch.interval_s} s",
                )
            ],
        )
    rel = schedule.start_s - grid.start_s
    off = rel % batch.interval_s != 0
    first = rel // batch.interval_s
    outside = (first < 0) | (first + batch.lengths > grid.n)
    problems = []
    if off.any():
        problems.append(
            Problem("execution", f"{name}.start_s", f"not on the grid for {_first_ids(batch, off)}")
        )
    if outside.any():
        problems.append(
            Problem(
                "execution",
                f"{name}.start_s",
                f"profile outside the grid [{grid.start}, {grid.end}) for {_first_ids(batch, outside)}",
            )
        )
    _raise("execution inputs", problems)
    return first[batch.owner_index] + batch.position


# ---- measurements -------------------------------------------------------------------------------
def _bound_scale_kwh(batch: FlexOfferBatch) -> np.ndarray:
    """Per flat interval: mean over its offer's profile of ``(|lower| + |upper|) / 2`` (kWh)."""
    size = (np.abs(batch.lower_kwh) + np.abs(batch.upper_kwh)) / 2.0
    mean = batch.sum_per_offer(size) / np.maximum(batch.lengths, 1)
    return mean[batch.owner_index]


def simulate_measurements(
    batch: FlexOfferBatch, schedule: Schedule, noise: float = 0.05, seed: int = 0
) -> np.ndarray:
    """Synthetic measured energy (kWh, flat, aligned with the profile) of devices told ``schedule``.

    Devices do not follow schedules exactly. For every interval with scheduled energy ``x``::

        m = x · (1 + noise · ε₁) + noise · s · ε₂,     ε₁, ε₂ ~ N(0, 1) independent

    where ``s`` is the mean ``(|lower| + |upper|) / 2`` of the offer's profile (so idle intervals of a
    device deviate too), then ``m`` is clipped to the physical range widened by three standard
    deviations of that noise, ``σ = noise·√(x² + s²)``: ``[lower − 3σ, upper + 3σ]`` (a narrower
    clip would bias devices scheduled at a bound, e.g. PV at full production). ``noise = 0`` returns the schedule clipped to its bounds.
    Reproducible from ``seed``. The noise model is an assumption (synthetic data).
    """
    problems = _check_schedule(batch, schedule, "schedule")
    if not (np.isfinite(noise) and noise >= 0):
        problems.append(Problem("execution", "noise", f"must be finite and >= 0, got {noise}"))
    _raise("measurement simulation inputs", problems)
    x = schedule.energy_kwh
    spread = noise * _bound_scale_kwh(batch)
    rng = np.random.default_rng(seed)
    m = x * (1.0 + noise * rng.standard_normal(len(x))) + spread * rng.standard_normal(len(x))
    width = 3.0 * np.hypot(noise * x, spread)
    return np.clip(m, batch.lower_kwh - width, batch.upper_kwh + width)


# ---- execution and settlement -------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ExecutionResult:
    """Measured against scheduled, per interval, per offer and per grid period.

    ``deviation_kwh``                flat (per profile interval): measured − scheduled
    ``deviation_per_offer_kwh``      per offer: Σ deviation (net)
    ``abs_deviation_per_offer_kwh``  per offer: Σ |deviation|
    ``scheduled_kwh``, ``measured_kwh``, ``imbalance_kwh``   per grid period; imbalance = measured − scheduled
    ``energy_cost_scheduled_eur``    Σ_t scheduled_t · p_t / 1000 (day-ahead prices)
    ``energy_cost_measured_eur``     Σ_t measured_t · p_t / 1000
    ``imbalance_settlement_eur``     Σ_t [max(imb_t, 0)·(p_t + s) − max(−imb_t, 0)·(p_t − s)] / 1000:
                                     paid for the imbalance (negative = received)
    ``imbalance_cost_eur``           the extra cost of deviating, against settling the same deviations
                                     at the day-ahead price: settlement − Σ_t imb_t · p_t / 1000
                                     = Σ_t |imb_t| · s / 1000

    Identities: ``energy_cost_measured = energy_cost_scheduled + Σ imb·p/1000`` and the portfolio's
    total ``energy_cost_scheduled + imbalance_settlement = energy_cost_measured + imbalance_cost``.
    """

    deviation_kwh: np.ndarray
    deviation_per_offer_kwh: np.ndarray
    abs_deviation_per_offer_kwh: np.ndarray
    scheduled_kwh: np.ndarray
    measured_kwh: np.ndarray
    imbalance_kwh: np.ndarray
    energy_cost_scheduled_eur: float
    energy_cost_measured_eur: float
    imbalance_settlement_eur: float
    imbalance_cost_eur: float


def execute(
    batch: FlexOfferBatch,
    schedule: Schedule,
    measured_kwh: np.ndarray,
    grid: TimeGrid,
    prices_eur_per_mwh: np.ndarray,
    imbalance_spread_eur_per_mwh: float = 10.0,
) -> ExecutionResult:
    """Compare ``measured_kwh`` (flat, aligned with the profile) with ``schedule`` and price the imbalance.

    The deviations of all offers are summed per period of ``grid`` (whose step must equal the offers'
    interval) at the scheduled positions. Two-price imbalance settlement with a symmetric spread
    ``s``: a short portfolio (imbalance > 0, consumed more than scheduled) buys at ``p_t + s``, a long
    one sells at ``p_t − s``. See :class:`ExecutionResult` for every quantity and identity.

    Raises :class:`~gridflex.errors.ValidationError` naming the field: ``measured_kwh`` of the wrong
    length or with NaN, ``prices_eur_per_mwh`` not matching the grid, ``schedule.start_s`` off or
    outside the grid, a bad ``imbalance_spread_eur_per_mwh``.
    """
    measured = np.asarray(measured_kwh, dtype=float)
    prices = np.asarray(prices_eur_per_mwh, dtype=float)
    spread = float(imbalance_spread_eur_per_mwh)
    problems = _check_schedule(batch, schedule, "schedule")
    problems += _check_flat(batch, measured, "measured_kwh")
    if prices.ndim != 1 or len(prices) != grid.n:
        problems.append(
            Problem(
                "execution", "prices_eur_per_mwh", f"has shape {prices.shape}, the grid has {grid.n} periods"
            )
        )
    elif not np.isfinite(prices).all():
        problems.append(Problem("execution", "prices_eur_per_mwh", "contains NaN or infinite values"))
    if not (np.isfinite(spread) and spread >= 0):
        problems.append(
            Problem("execution", "imbalance_spread_eur_per_mwh", f"must be finite and >= 0, got {spread}")
        )
    _raise("execution inputs", problems)

    t = _grid_periods(batch, schedule, grid, "schedule")
    deviation = measured - schedule.energy_kwh
    scheduled_t = np.bincount(t, weights=schedule.energy_kwh, minlength=grid.n)
    measured_t = np.bincount(t, weights=measured, minlength=grid.n)
    imbalance = np.bincount(t, weights=deviation, minlength=grid.n)
    short, long = np.maximum(imbalance, 0.0), np.maximum(-imbalance, 0.0)
    settlement = float(short @ (prices + spread) - long @ (prices - spread)) / 1000.0
    return ExecutionResult(
        deviation_kwh=deviation,
        deviation_per_offer_kwh=batch.sum_per_offer(deviation),
        abs_deviation_per_offer_kwh=batch.sum_per_offer(np.abs(deviation)),
        scheduled_kwh=scheduled_t,
        measured_kwh=measured_t,
        imbalance_kwh=imbalance,
        energy_cost_scheduled_eur=float(scheduled_t @ prices) / 1000.0,
        energy_cost_measured_eur=float(measured_t @ prices) / 1000.0,
        imbalance_settlement_eur=settlement,
        imbalance_cost_eur=float(np.abs(imbalance).sum()) * spread / 1000.0,
    )


# ---- activation payment -------------------------------------------------------------------------
def activation_payment_eur(batch: FlexOfferBatch, schedule: Schedule | None = None) -> np.ndarray:
    """Per offer: what the prosumer is paid (EUR) for moving from its default schedule to ``schedule``.

    With ``x_t`` the scheduled and ``d_t`` the default energy placed on the absolute time axis (they
    may start at different times; outside its profile an energy is 0)::

        payment = Σ_t [price_above · max(0, x_t − d_t) + price_below · max(0, d_t − x_t)] / 1000

    ``schedule`` defaults to ``batch.schedule``. An offer without a price for a direction it moved in
    gets NaN; one that did not move gets 0. Vectorized: each offer owns the span of absolute
    intervals covering both placements, laid out CSR-style.
    """
    schedule = batch.schedule if schedule is None else schedule
    problems = _check_schedule(batch, schedule, "schedule") + _check_schedule(batch, batch.default, "default")
    _raise("activation payment inputs", problems)
    assert schedule is not None and batch.default is not None  # checked above
    step = batch.interval_s
    xs, ds = schedule.start_s, batch.default.start_s
    off = (xs - ds) % step != 0
    if off.any():
        _raise(
            "activation payment inputs",
            [
                Problem(
                    "batch",
                    "schedule.start_s",
                    f"not a whole number of intervals from the default for {_first_ids(batch, off)}",
                )
            ],
        )
    first = np.minimum(xs, ds)
    span = batch.lengths + np.abs(xs - ds) // step  # intervals covering both placements
    base = np.concatenate(([0], np.cumsum(span)))[:-1]
    own, pos = batch.owner_index, batch.position
    at_x = base[own] + (xs - first)[own] // step + pos
    at_d = base[own] + (ds - first)[own] // step + pos
    total = int(span.sum())
    diff = np.bincount(at_x, weights=schedule.energy_kwh, minlength=total)
    diff -= np.bincount(at_d, weights=batch.default.energy_kwh, minlength=total)
    span_owner = np.repeat(np.arange(len(batch)), span)
    up = np.bincount(span_owner, weights=np.maximum(diff, 0.0), minlength=len(batch))
    down = np.bincount(span_owner, weights=np.maximum(-diff, 0.0), minlength=len(batch))
    pay_up = np.where(up > 0, np.asarray(batch.price_above_eur_per_mwh) * up, 0.0)
    pay_down = np.where(down > 0, np.asarray(batch.price_below_eur_per_mwh) * down, 0.0)
    return (pay_up + pay_down) / 1000.0
