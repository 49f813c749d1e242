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
