"""Compact (float32) storage of per-interval energies: what stays exact, and the stated tolerance.

See ``docs/decisions/0007-compact-flexoffer-arrays.md``: float32 bounds, defaults and schedules,
float64 accumulation. Interval bounds hold exactly (a value on a bound stays on it); a member
schedule in float32 may miss its TEC and the per-period sums by ``eps32 · Σ|x|`` beyond ``tol``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.flexoffer.aggregation import aggregate
from gridflex.flexoffer.disaggregation import check_disaggregation, disaggregate
from gridflex.flexoffer.fleet import generate_fleet
from gridflex.flexoffer.io import flexoffers_from_json, flexoffers_to_json
from gridflex.flexoffer.model import FlexOfferBatch, Schedule, segment_sum
from gridflex.flexoffer.validate import check_flexoffers, validate_schedule

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def fleets() -> tuple[FlexOfferBatch, FlexOfferBatch]:
    return generate_fleet(3000, seed=5), generate_fleet(3000, seed=5, dtype="float32")


def test_float32_is_kept_and_summed_in_float64() -> None:
    lo = np.array([0.1, 0.2, 0.3, 1e8, 1.0], dtype=np.float32)
    b = FlexOfferBatch(
        ids=["a", "b"], est_s=[0, 0], lst_s=[0, 0], offsets=[0, 3, 5], lower_kwh=lo, upper_kwh=lo
    )
    assert b.lower_kwh.dtype == np.float32 and b.upper_kwh.dtype == np.float32
    expected = [sum(float(v) for v in lo[:3]), float(lo[3]) + float(lo[4])]  # float64 sums
    assert b.sum_per_offer(b.lower_kwh).tolist() == expected
    assert b.sum_per_offer(b.lower_kwh).dtype == np.float64
    # anything not float32 is float64, as before
    assert FlexOfferBatch.from_profiles(["a"], [0], [0], [[1]], [[2]]).lower_kwh.dtype == np.float64


def test_segment_sum_of_float32_equals_the_float64_sum_over_many_blocks() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 40, 20_000)  # several blocks, empty segments included
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    x = rng.normal(size=int(offsets[-1])).astype(np.float32)
    assert np.array_equal(segment_sum(x, offsets), segment_sum(x.astype(np.float64), offsets))


def test_compact_fleet_is_the_float64_fleet_rounded(fleets) -> None:
    f64, f32 = fleets
    for name in ("lower_kwh", "upper_kwh"):
        assert getattr(f32, name).dtype == np.float32
        assert np.array_equal(getattr(f32, name), getattr(f64, name).astype(np.float32))
    assert f32.default is not None and f64.default is not None
    assert np.array_equal(f32.default.energy_kwh, f64.default.energy_kwh.astype(np.float32))
    assert np.array_equal(f32.default.start_s, f64.default.start_s)
    for name in ("est_s", "lst_s", "offsets", "tec_lower_kwh", "tec_upper_kwh", "price_above_eur_per_mwh"):
        assert np.array_equal(getattr(f32, name), getattr(f64, name), equal_nan=True), name
    assert f32.ids.tolist() == f64.ids.tolist() and f32.owners.tolist() == f64.owners.tolist()
    check_flexoffers(f32)  # valid: rounding is monotonic, the TECs hold within the tolerance


@pytest.mark.parametrize("dtype", ["float16", "int64", "nonsense", None])
def test_bad_fleet_dtype_names_the_field(dtype) -> None:
    with pytest.raises(ValidationError) as e:
        generate_fleet(10, dtype=dtype)
    assert any(p.field == "dtype" for p in e.value.problems)


@pytest.mark.parametrize("where", ["upper", "lower", "middle"])
def test_compact_lifecycle_keeps_bounds_exactly_and_conserves_energy(fleets, where) -> None:
    _, fleet = fleets
    agg = aggregate(fleet)
    a = agg.aggregates
    x_agg = {"upper": a.upper_kwh, "lower": a.lower_kwh, "middle": 0.5 * (a.lower_kwh + a.upper_kwh)}[where]
    # members alone pass through with their TEC: their aggregates take their default instead
    assert a.default is not None
    own_tec = (~np.isnan(a.tec_lower_kwh) | ~np.isnan(a.tec_upper_kwh))[a.owner_index]
    x_agg = np.where(own_tec, a.default.energy_kwh, x_agg)
    sched = disaggregate(agg, Schedule(a.est_s, x_agg))
    x = sched.energy_kwh
    assert x.dtype == np.float32
    # interval bounds without any tolerance: a schedule on a bound stays on it
    assert np.all(x >= fleet.lower_kwh) and np.all(x <= fleet.upper_kwh)
    no_tec = np.isnan(fleet.tec_lower_kwh) & np.isnan(fleet.tec_upper_kwh)
    flat_no_tec = no_tec[fleet.owner_index]
    if where != "middle":
        bound = fleet.upper_kwh if where == "upper" else fleet.lower_kwh
        assert np.array_equal(x[flat_no_tec], bound[flat_no_tec])
    # energy conservation within the stated tolerance
    sums = agg.sum_to_aggregates(x)
    scale = agg.sum_to_aggregates(np.abs(x))
    magnitude = np.maximum(np.abs(x_agg), np.maximum(np.abs(a.lower_kwh), np.abs(a.upper_kwh)))
    assert np.all(np.abs(sums - x_agg) <= 1e-6 * (1 + magnitude) + (1e-9 + EPS32) * scale)
    # TECs within tol · d · (1 + |TEC|) + eps32 · Σ|x|
    total, slack = segment_sum(x, fleet.offsets), EPS32 * segment_sum(np.abs(x), fleet.offsets)
    d = fleet.lengths
    has = ~no_tec
    t_lo, t_hi = fleet.tec_lower_kwh[has], fleet.tec_upper_kwh[has]
    assert np.all(total[has] >= t_lo - 1e-6 * d[has] * (1 + np.abs(t_lo)) - slack[has])
    assert np.all(total[has] <= t_hi + 1e-6 * d[has] * (1 + np.abs(t_hi)) + slack[has])
    assert check_disaggregation(agg, sched, x_agg) == []


def test_float32_rounding_allowance_is_eps32_of_the_absolute_sum() -> None:
    """With ``tol=0``: a float32 schedule off by its own rounding passes, one off by more fails."""
    lo = np.zeros(10, dtype=np.float32)
    hi = np.ones(10, dtype=np.float32)
    batch = FlexOfferBatch(
        ids=["a"], est_s=[0], lst_s=[0], offsets=[0, 10], lower_kwh=lo, upper_kwh=hi,
        tec_lower_kwh=[3.3], tec_upper_kwh=[3.3],
    )  # fmt: skip
    agg = aggregate(batch)
    exact = np.full(10, 0.33)  # float64: sums to 3.3 (within float64 rounding)
    rounded = Schedule([0], exact.astype(np.float32))  # each 0.33 rounded to float32
    assert float(segment_sum(rounded.energy_kwh, batch.offsets)[0]) != 3.3
    assert check_disaggregation(agg, rounded, exact, tol=0.0) == []
    off = exact.astype(np.float32)
    off[0] += np.float32(1e-4)  # far beyond eps32 · Σ|x| ≈ 4e-7
    problems = check_disaggregation(agg, Schedule([0], off), exact, tol=0.0)
    assert {p.field for p in problems} == {"energy_kwh", "energy_kwh[0]"}


def test_float32_json_shows_the_shortest_decimals_and_round_trips(fleets) -> None:
    _, fleet = fleets
    part = fleet.take(np.arange(0, len(fleet), 97))
    doc = flexoffers_to_json(part)
    text = json.dumps(doc)
    assert "1.85" in text and "1.850000023841858" not in text  # 7.4 kW · 0.25 h, as float32
    back = flexoffers_from_json(json.loads(text))
    assert back.lower_kwh.dtype == np.float64  # read as float64, as every file
    assert np.array_equal(back.lower_kwh.astype(np.float32), part.lower_kwh)
    assert np.array_equal(back.upper_kwh.astype(np.float32), part.upper_kwh)
    assert back.default is not None and part.default is not None
    assert np.array_equal(back.default.energy_kwh.astype(np.float32), part.default.energy_kwh)


def test_validation_sums_float32_in_float64_and_allows_its_rounding() -> None:
    n = 20_000
    x = np.full(n, 0.1, dtype=np.float32)
    exact = float(np.add.reduce(x.astype(np.float64)))  # the float64 sum of the stored values
    batch = FlexOfferBatch(
        ids=["a"], est_s=[0], lst_s=[0], offsets=[0, n], lower_kwh=np.zeros(n, np.float32),
        upper_kwh=np.ones(n, np.float32), tec_lower_kwh=[exact], tec_upper_kwh=[exact],
    )  # fmt: skip
    assert validate_schedule(batch, Schedule([0], x), tol=0.0) == []
    assert validate_schedule(batch, Schedule([0], x), tol=0.0) == validate_schedule(batch, Schedule([0], x))
    assert validate_schedule(batch, Schedule([0], x.astype(np.float64)), tol=0.0) == []
    low = x.copy()
    low[:100] = 0.0  # 10 kWh short
    assert [p.field for p in validate_schedule(batch, Schedule([0], low), tol=0.0)] == [
        "flexOfferSchedule.scheduleSlices"
    ]
