"""The struct-of-arrays batch: selection, concatenation, placement on a grid, envelopes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

from gridflex.errors import FlexOfferValidationError, TimeGridError
from gridflex.flexoffer.model import FlexOfferBatch, Schedule, envelope_on_grid, place_on_grid

from .strategies import BASE_S, INTERVAL_S, offers

N = 40


@settings(max_examples=30, deadline=None)
@given(batch=offers(max_size=6))
def test_take_and_concat_round_trip(batch):
    idx = np.arange(len(batch))[::-1]
    rev = batch.take(idx)
    assert rev.ids.tolist() == batch.ids.tolist()[::-1]
    for j, i in enumerate(idx):
        np.testing.assert_array_equal(rev.profile(j)[0], batch.profile(i)[0])
        got = rev.default.energy_kwh[rev.offsets[j] : rev.offsets[j + 1]]
        np.testing.assert_array_equal(got, batch.default.energy_kwh[batch.offsets[i] : batch.offsets[i + 1]])
    both = FlexOfferBatch.concat([batch, rev])
    assert len(both) == 2 * len(batch)
    np.testing.assert_array_equal(both.take(np.arange(len(batch))).upper_kwh, batch.upper_kwh)
    lo, hi = batch.tec_effective
    assert np.all(lo <= hi + 1e-9)


def test_concat_refuses_mixed_interval_lengths():
    a = FlexOfferBatch.from_profiles(["a"], [0], [0], [[1.0]], [[1.0]], interval_s=900)
    b = FlexOfferBatch.from_profiles(["b"], [0], [0], [[1.0]], [[1.0]], interval_s=3600)
    with pytest.raises(FlexOfferValidationError, match="numSecondsPerInterval"):
        FlexOfferBatch.concat([a, b])


@settings(max_examples=30, deadline=None)
@given(batch=offers(max_size=5, max_tf=4))
def test_envelope_contains_every_placement(batch):
    """Brute force: every start and the extreme energies stay inside the envelope, which they touch."""
    lo_env, hi_env = envelope_on_grid(batch, BASE_S, N)
    lo_seen, hi_seen = np.zeros(N), np.zeros(N)
    base = (batch.est_s - BASE_S) // INTERVAL_S
    for i in range(len(batch)):
        lower, upper = batch.profile(i)
        per_lo, per_hi = np.full(N, np.inf), np.full(N, -np.inf)
        for d in range(int(batch.time_flex[i]) + 1):
            lo_t, hi_t = np.zeros(N), np.zeros(N)
            lo_t[base[i] + d : base[i] + d + len(lower)] = lower
            hi_t[base[i] + d : base[i] + d + len(upper)] = upper
            per_lo, per_hi = np.minimum(per_lo, lo_t), np.maximum(per_hi, hi_t)
        lo_seen += per_lo
        hi_seen += per_hi
    np.testing.assert_allclose(lo_env, lo_seen, atol=1e-9)
    np.testing.assert_allclose(hi_env, hi_seen, atol=1e-9)


def test_place_on_grid_sums_and_refuses_bad_starts():
    batch = FlexOfferBatch.from_profiles(
        ["a", "b"], [BASE_S, BASE_S], [BASE_S + 900, BASE_S], [[1, 1], [2]], [[1, 1], [2]]
    )
    s = Schedule([BASE_S + 900, BASE_S], [1.0, 1.5, 2.0])
    np.testing.assert_allclose(place_on_grid(batch, s, BASE_S, 4), [2.0, 1.0, 1.5, 0.0])
    with pytest.raises(TimeGridError, match="off the 900 s grid"):
        place_on_grid(batch, Schedule([BASE_S + 60, BASE_S], [1.0, 1.5, 2.0]), BASE_S, 4)
    with pytest.raises(TimeGridError, match="outside the grid"):
        place_on_grid(batch, s, BASE_S, 2)


def test_empty_result_is_a_writable_array_of_the_size_and_type_asked():
    from gridflex.flexoffer.model import _SMALL_PAGES_FROM, empty_result

    for n, dtype in ((10, np.float64), (_SMALL_PAGES_FROM // 4 + 3, np.float32)):  # np.empty, then mmap
        x = empty_result(n, dtype)
        assert x.shape == (n,) and x.dtype == dtype and x.flags.writeable and x.flags.c_contiguous
        x[:] = 1.5
        x[-1] = 2.5
        assert float(x.sum()) == 1.5 * (n - 1) + 2.5
        assert Schedule(np.zeros(1, dtype=np.int64), x).energy_kwh is x  # no copy on the way
