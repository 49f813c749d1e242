"""Hypothesis strategies shared by the flex-offer tests: random *valid* batches."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from gridflex.flexoffer.model import FlexOfferBatch, Schedule

BASE_S = 1_527_804_000  # 2018-05-31T22:00:00Z, on the 15-min grid
INTERVAL_S = 900


@st.composite
def offers(
    draw: st.DrawFn,
    min_size: int = 1,
    max_size: int = 8,
    max_len: int = 6,
    max_tf: int = 6,
    with_tec: bool = True,
    signed: bool = True,
) -> FlexOfferBatch:
    """A valid batch: EST <= LST on the grid, lower <= upper, TEC inside the profile sums,
    and a feasible default schedule starting at EST."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    est = BASE_S + INTERVAL_S * rng.integers(0, 12, n)
    lst = est + INTERVAL_S * rng.integers(0, max_tf + 1, n)
    lengths = rng.integers(1, max_len + 1, n)
    total = int(lengths.sum())
    lo = rng.uniform(-5.0 if signed else 0.0, 5.0, total).round(3)
    width = rng.uniform(0.0, 5.0, total).round(3)
    width[rng.random(total) < 0.2] = 0.0  # some fixed intervals
    hi = lo + width
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    owner = np.repeat(np.arange(n), lengths)
    lo_sum = np.bincount(owner, lo, n)
    hi_sum = np.bincount(owner, hi, n)
    tec_lo = np.full(n, np.nan)
    tec_hi = np.full(n, np.nan)
    if with_tec:
        has = rng.random(n) < 0.6
        a = rng.uniform(0, 1, n)
        b = rng.uniform(0, 1, n)
        t1 = lo_sum + np.minimum(a, b) * (hi_sum - lo_sum)
        t2 = lo_sum + np.maximum(a, b) * (hi_sum - lo_sum)
        tec_lo = np.where(has, t1, np.nan)
        tec_hi = np.where(has, t2, np.nan)
    target_lo = np.where(np.isnan(tec_lo), lo_sum, tec_lo)
    target_hi = np.where(np.isnan(tec_hi), hi_sum, tec_hi)
    target = (target_lo + target_hi) / 2
    span = hi_sum - lo_sum
    theta = np.divide(target - lo_sum, span, out=np.zeros(n), where=span > 0)
    default = lo + theta[owner] * (hi - lo)
    return FlexOfferBatch(
        ids=np.array([f"fo-{i}" for i in range(n)]),
        owners=np.array([f"owner-{i % 3}" for i in range(n)]),
        est_s=est,
        lst_s=lst,
        offsets=offsets,
        lower_kwh=lo,
        upper_kwh=hi,
        interval_s=INTERVAL_S,
        tec_lower_kwh=tec_lo,
        tec_upper_kwh=tec_hi,
        default=Schedule(est, default),
    )


@st.composite
def full_offers(draw: st.DrawFn, **kwargs: object) -> FlexOfferBatch:
    """A valid batch from :func:`offers` with every optional field exercised: owners, acceptance and
    assignment deadlines (some absent), unit prices (some absent), one-sided TECs, default schedules
    starting anywhere in the window (some absent) and an assigned schedule (some absent)."""
    from dataclasses import replace

    from gridflex.flexoffer.model import NO_TIME

    b = draw(offers(**kwargs))  # type: ignore[arg-type]
    n = len(b)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    gap = rng.integers(0, 8, n)
    asg = b.lst_s - INTERVAL_S * gap
    acc = asg - INTERVAL_S * rng.integers(0, 8, n)
    acc = np.where(rng.random(n) < 0.3, NO_TIME, acc)
    asg = np.where(rng.random(n) < 0.3, NO_TIME, asg)
    price_a = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(-100, 300, n).round(2))
    price_b = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(-100, 300, n).round(2))
    tec_lo, tec_hi = b.tec_lower_kwh.copy(), b.tec_upper_kwh.copy()
    one_sided = rng.random(n) < 0.2
    tec_hi[one_sided & ~np.isnan(tec_lo)] = np.nan
    tf = b.time_flex
    owner = b.owner_index

    def start(absent_share: float) -> np.ndarray:
        s = b.est_s + INTERVAL_S * np.floor(rng.random(n) * (tf + 1)).astype(np.int64)
        return np.where(rng.random(n) < absent_share, NO_TIME, s)

    d_start = start(0.2)
    d_energy = np.where(d_start[owner] == NO_TIME, np.nan, b.default.energy_kwh)
    s_start = start(0.3)
    s_energy = np.where(s_start[owner] == NO_TIME, np.nan, b.default.energy_kwh)
    return replace(
        b,
        owners=np.array([f"site-{i % 4}" for i in range(n)]),
        accept_before_s=acc,
        assign_before_s=asg,
        price_above_eur_per_mwh=price_a,
        price_below_eur_per_mwh=price_b,
        tec_lower_kwh=tec_lo,
        tec_upper_kwh=tec_hi,
        default=Schedule(d_start, d_energy),
        schedule=Schedule(s_start, s_energy),
        _cache={},
    )


@st.composite
def box_schedules(draw: st.DrawFn, batch: FlexOfferBatch) -> Schedule:
    """A schedule inside the boxes of ``batch``: every start on the grid in ``[EST, LST]``, every
    energy in ``[lower, upper]``; for offers with a TEC (aggregates of one member), inside their inner
    box, so the TEC holds too. Mixes random starts / energies with the extreme ones (EST or LST; all
    lower or all upper)."""
    from gridflex.flexoffer.aggregation import inner_bounds

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    start_mode = draw(st.sampled_from(["random", "est", "lst"]))
    energy_mode = draw(st.sampled_from(["random", "random", "lower", "upper"]))
    tf = batch.time_flex
    shift = {"random": rng.integers(0, tf + 1), "est": np.zeros_like(tf), "lst": tf}[start_mode]
    theta = {
        "random": rng.random(len(batch.lower_kwh)),
        "lower": np.zeros(len(batch.lower_kwh)),
        "upper": np.ones(len(batch.lower_kwh)),
    }[energy_mode]
    lo, hi = inner_bounds(batch)
    energy = lo + theta * (hi - lo)
    if energy_mode == "upper":
        energy = hi.copy()
    return Schedule(batch.est_s + shift * batch.interval_s, energy)
