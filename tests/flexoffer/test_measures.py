"""Flexibility measures: hand-computed values, monotonicity, and a naive per-offer reference."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.flexoffer import measures as m
from gridflex.flexoffer.model import FlexOfferBatch

from .strategies import BASE_S, INTERVAL_S, full_offers, offers

H = INTERVAL_S


def small() -> FlexOfferBatch:
    """A: tf 2, [1,3],[0,2]; B: tf 1, production [-2,-1]; C: tf 0, three intervals; D: tf 1, mixed sign."""
    return FlexOfferBatch.from_profiles(
        ids=["A", "B", "C", "D"],
        est_s=[BASE_S] * 4,
        lst_s=[BASE_S + 2 * H, BASE_S + H, BASE_S, BASE_S + H],
        lower_kwh=[[1.0, 0.0], [-2.0], [-1.0, 0.5, 2.0], [-1.0, 1.0]],
        upper_kwh=[[3.0, 2.0], [-1.0], [1.0, 0.7, 2.0], [2.0, 3.0]],
        interval_s=H,
        tec_lower_kwh=[2.0, np.nan, np.nan, np.nan],
        tec_upper_kwh=[3.5, np.nan, 10.0, np.nan],
    )


def test_hand_computed_values():
    b = small()
    np.testing.assert_allclose(m.time_flexibility(b), [2, 1, 0, 1])
    np.testing.assert_allclose(m.energy_flexibility(b), [4, 1, 2.2, 5])
    # A: TEC [2, 3.5] within sums [1, 5]; C: upper 10 cut to the profile sum 3.7, lower from the sum 1.5
    np.testing.assert_allclose(m.tec_energy_flexibility(b), [1.5, 1, 2.2, 5])
    np.testing.assert_allclose(m.product_flexibility(b), [8, 1, 0, 5])
    np.testing.assert_allclose(m.vector_flexibility(b), [[2, 4], [1, 1], [0, 2.2], [1, 5]])
    np.testing.assert_allclose(
        m.vector_flexibility_norm(b), [math.sqrt(20), math.sqrt(2), 2.2, math.sqrt(26)]
    )
    offsets, values = m.time_series_flexibility(b)
    np.testing.assert_array_equal(offsets, [0, 3, 5, 9, 12])
    np.testing.assert_allclose(values, [2, 2, 2, 1, 1, 0, 2, 0.2, 0, 1, 3, 2])
    np.testing.assert_allclose(
        m.time_series_magnitude(b), [math.sqrt(12), math.sqrt(2), math.sqrt(4.04), math.sqrt(14)]
    )
    # A: 3 starts · 3 · 3; B: 2 starts · {-2,-1}; C: no whole kWh in [0.5, 0.7]; D: 2 · 4 · 3
    np.testing.assert_allclose(
        m.assignment_flexibility(b), [math.log10(27), math.log10(4), -np.inf, math.log10(24)]
    )
    # area, interval by interval (a placement that misses t counts as 0):
    # A: t0 max(3,0)-min(1,0)=3, t1 3-0=3, t2 3-0=3, t3 2-0=2 -> 11
    # B: t0 0-(-2)=2, t1 2 -> 4;  C: tf 0 -> ef = 2.2
    # D: t0 2-(-1)=3, t1 max(3,2)-min(1,-1)=4, t2 3-0=3 -> 10
    np.testing.assert_allclose(m.absolute_area_flexibility(b), [11, 4, 2.2, 10])
    np.testing.assert_allclose(m.relative_area_flexibility(b), [11 / 5, 4 / 2, 2.2 / 3.7, 10 / 5])


def test_assignment_unit_and_float_noise():
    b = FlexOfferBatch.from_profiles(["x"], [BASE_S], [BASE_S], [[0.1]], [[0.3]], interval_s=H)
    assert m.assignment_flexibility(b, unit_kwh=0.1)[0] == pytest.approx(math.log10(3))
    assert m.assignment_flexibility(b)[0] == -np.inf
    with pytest.raises(ValueError):
        m.assignment_flexibility(b, unit_kwh=0)


def test_summary_keys_and_totals():
    b = small()
    s = m.flexibility_summary(b)
    expected_keys = {"time", "energy", "product", "vector", "time_series", "assignment_log10"}
    expected_keys |= {"absolute_area", "relative_area", "tec_energy"}
    assert expected_keys <= set(s)
    assert all(isinstance(v, float) for v in s.values())
    assert s["time"] == pytest.approx(4) and s["energy"] == pytest.approx(12.2)
    assert s["product"] == pytest.approx(14) and s["tec_energy"] == pytest.approx(9.7)
    assert s["assignment_log10"] == pytest.approx(math.log10(27 * 4 * 24))
    assert s["assignment_zero_count"] == 1
    assert s["absolute_area"] == pytest.approx(27.2)
    assert s["relative_area"] == pytest.approx((2.2 + 2 + 2.2 / 3.7 + 2) / 4)


def test_empty_batch():
    b = FlexOfferBatch.from_profiles([], [], [], [], [])
    s = m.flexibility_summary(b)
    assert all(v == 0 for v in s.values())
    assert m.vector_flexibility(b).shape == (0, 2)


# ---- naive reference ---------------------------------------------------------------------------


def reference(b: FlexOfferBatch, i: int) -> dict[str, float]:
    lo, hi = (list(map(float, x)) for x in b.profile(i))
    d = len(lo)
    tf = int((b.lst_s[i] - b.est_s[i]) // b.interval_s)
    ef = sum(u - a for a, u in zip(lo, hi, strict=True))
    count = tf + 1
    for a, u in zip(lo, hi, strict=True):
        count *= max(math.floor(round(u, 9)) - math.ceil(round(a, 9)) + 1, 0)
    area = 0.0
    for t in range(tf + d):
        highs, lows = [], []
        for delta in range(tf + 1):
            k = t - delta
            highs.append(hi[k] if 0 <= k < d else 0.0)
            lows.append(lo[k] if 0 <= k < d else 0.0)
        area += max(highs) - min(lows)
    denom = sum(max(abs(a), abs(u)) for a, u in zip(lo, hi, strict=True))
    return {
        "tf": tf,
        "ef": ef,
        "pf": tf * ef,
        "vector": math.hypot(tf, ef),
        "ts": math.sqrt(tf * tf + sum((u - a) ** 2 for a, u in zip(lo, hi, strict=True))),
        "assign": math.log10(count) if count else -math.inf,
        "area": area,
        "rel": area / denom if denom else 0.0,
    }


def vectorized(b: FlexOfferBatch) -> dict[str, np.ndarray]:
    return {
        "tf": m.time_flexibility(b),
        "ef": m.energy_flexibility(b),
        "pf": m.product_flexibility(b),
        "vector": m.vector_flexibility_norm(b),
        "ts": m.time_series_magnitude(b),
        "assign": m.assignment_flexibility(b),
        "area": m.absolute_area_flexibility(b),
        "rel": m.relative_area_flexibility(b),
    }


@settings(max_examples=80, deadline=None)
@given(offers(max_size=10, max_len=6, max_tf=8))
def test_vectorized_equals_naive_reference(b):
    got = vectorized(b)
    for i in range(len(b)):
        ref = reference(b, i)
        for key, value in ref.items():
            assert got[key][i] == pytest.approx(value, rel=1e-9, abs=1e-9), (key, i)
    offsets, values = m.time_series_flexibility(b)
    for i in range(len(b)):
        lo, hi = b.profile(i)
        np.testing.assert_allclose(values[offsets[i] : offsets[i + 1]], [b.time_flex[i], *(hi - lo)])


def test_integer_grid_example_for_assignment():
    b = FlexOfferBatch.from_profiles(
        ["x"], [BASE_S], [BASE_S + 3 * H], [[-1.0, 0.0]], [[1.0, 2.0]], interval_s=H
    )
    assert m.assignment_flexibility(b)[0] == pytest.approx(math.log10(4 * 3 * 3))
    assert reference(b, 0)["assign"] == pytest.approx(math.log10(36))


# ---- monotonicity ------------------------------------------------------------------------------

MONOTONE_IN_BOUNDS = ("ef", "pf", "vector", "ts", "assign", "area")
MONOTONE_IN_TIME = ("tf", "pf", "vector", "ts", "assign", "area", "rel")


@settings(max_examples=60, deadline=None)
@given(full_offers(max_size=8), st.integers(0, 2**32 - 1))
def test_widening_bounds_never_decreases(b, seed):
    rng = np.random.default_rng(seed)
    k = len(b.lower_kwh)
    wider = replace(
        b,
        lower_kwh=b.lower_kwh - rng.uniform(0, 2, k) * (rng.random(k) < 0.5),
        upper_kwh=b.upper_kwh + rng.uniform(0, 2, k) * (rng.random(k) < 0.5),
        default=None,
        schedule=None,
        _cache={},
    )
    before, after = vectorized(b), vectorized(wider)
    for key in MONOTONE_IN_BOUNDS:
        assert np.all(after[key] >= before[key] - 1e-9), key
    assert np.all(m.tec_energy_flexibility(wider) >= m.tec_energy_flexibility(b) - 1e-9)


@settings(max_examples=60, deadline=None)
@given(full_offers(max_size=8), st.integers(0, 2**32 - 1))
def test_more_time_flexibility_never_decreases(b, seed):
    rng = np.random.default_rng(seed)
    later = replace(b, lst_s=b.lst_s + H * rng.integers(0, 4, len(b)), _cache={})
    before, after = vectorized(b), vectorized(later)
    for key in MONOTONE_IN_TIME:
        assert np.all(after[key] >= before[key] - 1e-9), key


def test_aggregation_measures_in_words_agree_with_the_retained_shares():
    import re

    from gridflex.flexoffer import aggregate, generate_fleet
    from gridflex.flexoffer.measures import MEASURES, aggregation_in_words, flexibility_summary

    fleet = generate_fleet(300, seed=2)
    rep = aggregate(fleet).report()
    rows = dict(aggregation_in_words(rep))
    assert set(MEASURES) == set(flexibility_summary(fleet)) | {"time_per_member"}
    assert len(rows) == len(MEASURES)
    for key, (label, _, reading) in MEASURES.items():
        text = rows[label]
        assert reading in text
        assert "_" not in label + text  # no raw identifier such as assignment_log10
        kept = re.search(r"\(([\d.]+) % kept\)", text)
        if kept:
            assert float(kept.group(1)) == pytest.approx(100 * rep["retained"][key], abs=0.05)
    # the device's view and the summed view differ, and both say why
    assert "the row above" in rows["Start-time flexibility summed over offers"]
    assert "decades" in rows["Number of distinct schedules (whole kWh per interval)"]
