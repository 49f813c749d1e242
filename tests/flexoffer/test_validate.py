"""Validation rules: each rule names the offending offer and JSON field; problems are collected."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings

from gridflex.errors import FlexOfferValidationError
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule
from gridflex.flexoffer.validate import check_flexoffers, validate_flexoffers, validate_schedule

from .strategies import BASE_S, INTERVAL_S, full_offers, offers

H = INTERVAL_S


def good() -> FlexOfferBatch:
    """Three valid offers: a, b (TEC [3, 5]), c; all with a default schedule at EST."""
    return FlexOfferBatch.from_profiles(
        ids=["a", "b", "c"],
        est_s=[BASE_S, BASE_S + H, BASE_S],
        lst_s=[BASE_S + 4 * H, BASE_S + H, BASE_S + 2 * H],
        lower_kwh=[[0.0, 1.0], [1.0, 1.0, 1.0], [-3.0]],
        upper_kwh=[[2.0, 2.0], [2.0, 2.0, 2.0], [-1.0]],
        interval_s=H,
        tec_lower_kwh=[np.nan, 3.0, np.nan],
        tec_upper_kwh=[np.nan, 5.0, np.nan],
        accept_before_s=[BASE_S - H, NO_TIME, NO_TIME],
        assign_before_s=[BASE_S, NO_TIME, NO_TIME],
        price_above_eur_per_mwh=[50.0, np.nan, np.nan],
        default=(np.array([BASE_S, BASE_S + H, BASE_S]), [[1.0, 1.5], [1.0, 1.5, 1.5], [-2.0]]),
    )


def fields(problems):
    return {(p.object_id, p.field) for p in problems}


def set_at(arr: np.ndarray, i: int, value) -> np.ndarray:
    a = arr.copy()
    a[i] = value
    return a


def test_good_batch_has_no_problems():
    b = good()
    assert validate_flexoffers(b) == []
    assert check_flexoffers(b) is b


@settings(max_examples=60, deadline=None)
@given(offers(max_size=12))
def test_random_valid_batches_have_no_problems(batch):
    assert validate_flexoffers(batch) == []


@settings(max_examples=60, deadline=None)
@given(full_offers(max_size=12))
def test_random_full_batches_have_no_problems(batch):
    assert validate_flexoffers(batch) == []


B = good()
# name -> (changes to the good batch, expected (offer id, field), words in the message)
CASES = {
    "est after lst": (dict(est_s=set_at(B.est_s, 2, BASE_S + 3 * H)), ("c", "startBeforeTime"), "before"),
    "est off grid": (dict(est_s=set_at(B.est_s, 0, BASE_S + 60)), ("a", "startAfterTime"), "grid"),
    "lst off grid": (dict(lst_s=set_at(B.lst_s, 2, BASE_S + H + 1)), ("c", "startBeforeTime"), "grid"),
    "accept off grid": (
        dict(accept_before_s=set_at(B.accept_before_s, 0, BASE_S - 7)),
        ("a", "acceptBeforeTime"),
        "grid",
    ),
    "assign off grid": (
        dict(assign_before_s=set_at(B.assign_before_s, 0, BASE_S + 5)),
        ("a", "assignmentBeforeTime"),
        "grid",
    ),
    "lower nan": (
        dict(lower_kwh=set_at(B.lower_kwh, 1, np.nan)),
        ("a", "flexOfferProfileConstraints[1].lower"),
        "finite",
    ),
    "upper inf": (
        dict(upper_kwh=set_at(B.upper_kwh, 4, np.inf)),
        ("b", "flexOfferProfileConstraints[2].upper"),
        "finite",
    ),
    "lower above upper": (
        dict(lower_kwh=set_at(B.lower_kwh, 3, 2.5)),
        ("b", "flexOfferProfileConstraints[1].lower"),
        "above upper",
    ),
    "tec inf": (
        dict(tec_upper_kwh=set_at(B.tec_upper_kwh, 1, np.inf)),
        ("b", "totalEnergyConstraint.upper"),
        "finite",
    ),
    "tec lower above tec upper": (
        dict(tec_lower_kwh=set_at(B.tec_lower_kwh, 1, 5.5)),
        ("b", "totalEnergyConstraint.lower"),
        "above upper",
    ),
    "tec above reachable": (
        dict(tec_lower_kwh=set_at(B.tec_lower_kwh, 0, 4.5)),
        ("a", "totalEnergyConstraint.lower"),
        "above the reachable range [1, 4]",
    ),
    "tec below reachable": (
        dict(tec_upper_kwh=set_at(B.tec_upper_kwh, 2, -3.5)),
        ("c", "totalEnergyConstraint.upper"),
        "below the reachable range [-3, -1]",
    ),
    "accept after assign": (
        dict(accept_before_s=set_at(B.accept_before_s, 0, BASE_S + H)),
        ("a", "acceptBeforeTime"),
        "after assignmentBeforeTime",
    ),
    "assign after lst": (
        dict(assign_before_s=set_at(B.assign_before_s, 1, BASE_S + 2 * H)),
        ("b", "assignmentBeforeTime"),
        "after startBeforeTime",
    ),
    "accept after lst": (
        dict(accept_before_s=set_at(B.accept_before_s, 2, BASE_S + 3 * H)),
        ("c", "acceptBeforeTime"),
        "after startBeforeTime",
    ),
    "empty id": (dict(ids=np.array(["a", "", "c"])), ("", "id"), "empty"),
    "price inf": (
        dict(price_below_eur_per_mwh=np.array([np.nan, -np.inf, np.nan])),
        ("b", "unitPrices.belowDefaultEurPerMWh"),
        "finite",
    ),
    "default start before est": (
        dict(default=Schedule(set_at(B.default.start_s, 1, BASE_S), B.default.energy_kwh)),
        ("b", "defaultSchedule.startTime"),
        "outside the start window",
    ),
    "default start off grid": (
        dict(default=Schedule(set_at(B.default.start_s, 0, BASE_S + 1), B.default.energy_kwh)),
        ("a", "defaultSchedule.startTime"),
        "grid",
    ),
    "default energy above upper": (
        dict(default=Schedule(B.default.start_s, set_at(B.default.energy_kwh, 1, 2.1))),
        ("a", "defaultSchedule.scheduleSlices[1]"),
        "above upper",
    ),
    "default energy below lower": (
        dict(default=Schedule(B.default.start_s, set_at(B.default.energy_kwh, 5, -3.5))),
        ("c", "defaultSchedule.scheduleSlices[0]"),
        "below lower",
    ),
    "default energy nan": (
        dict(default=Schedule(B.default.start_s, set_at(B.default.energy_kwh, 2, np.nan))),
        ("b", "defaultSchedule.scheduleSlices[0]"),
        "finite",
    ),
    "default total outside tec": (
        dict(default=Schedule(B.default.start_s, np.array([1.0, 1.5, 2.0, 2.0, 2.0, -2.0]))),
        ("b", "defaultSchedule.scheduleSlices"),
        "outside the reachable total [3, 5]",
    ),
    "assigned start after lst": (
        dict(schedule=Schedule(set_at(B.default.start_s, 0, BASE_S + 5 * H), B.default.energy_kwh)),
        ("a", "flexOfferSchedule.startTime"),
        "outside the start window",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_rule_names_offer_and_field(name):
    changes, expected, words = CASES[name]
    bad = replace(good(), _cache={}, **changes)
    problems = validate_flexoffers(bad)
    assert expected in fields(problems), problems
    assert any(words in p.message for p in problems if (p.object_id, p.field) == expected), problems
    with pytest.raises(FlexOfferValidationError) as e:
        check_flexoffers(bad)
    assert e.value.problems == problems
    assert expected[1] in str(e.value)


def test_interval_length_must_be_positive():
    problems = validate_flexoffers(replace(good(), interval_s=0, _cache={}))
    assert ("batch", "numSecondsPerInterval") in fields(problems)


def test_empty_profile():
    b = FlexOfferBatch.from_profiles(["x", "y"], [BASE_S] * 2, [BASE_S] * 2, [[1.0], []], [[2.0], []])
    assert fields(validate_flexoffers(b)) == {("y", "flexOfferProfileConstraints")}


def test_duplicate_ids_name_every_holder():
    b = replace(good(), ids=np.array(["a", "c", "c"]), _cache={})
    problems = [p for p in validate_flexoffers(b) if p.field == "id"]
    assert len(problems) == 2 and all(p.object_id == "c" and "duplicate" in p.message for p in problems)


def test_all_problems_collected_at_once():
    b = good()
    bad = replace(
        b,
        est_s=set_at(b.est_s, 2, BASE_S + 3 * H),
        lower_kwh=set_at(b.lower_kwh, 3, 9.0),
        tec_lower_kwh=set_at(b.tec_lower_kwh, 0, 100.0),
        _cache={},
    )
    with pytest.raises(FlexOfferValidationError) as e:
        check_flexoffers(bad)
    got = fields(e.value.problems)
    assert {
        ("c", "startBeforeTime"),
        ("b", "flexOfferProfileConstraints[1].lower"),
        ("a", "totalEnergyConstraint.lower"),
    } <= got


def test_many_bad_intervals_of_one_offer_give_one_problem():
    b = good()
    bad = replace(b, lower_kwh=np.full_like(b.lower_kwh, np.nan), _cache={})
    problems = [p for p in validate_flexoffers(bad) if p.field.endswith(".lower")]
    assert sorted(p.object_id for p in problems) == ["a", "b", "c"]
    b_problem = next(p for p in problems if p.object_id == "b")
    assert b_problem.field == "flexOfferProfileConstraints[0].lower" and "2 more" in b_problem.message


def test_absent_schedules_are_skipped_but_missing_starts_count_for_validate_schedule():
    b = good()
    sched = Schedule(set_at(b.default.start_s, 1, NO_TIME), set_at(b.default.energy_kwh, [2, 3, 4], np.nan))
    assert validate_flexoffers(b.with_schedule(sched)) == []
    problems = validate_schedule(b, sched)
    assert fields(problems) == {("b", "flexOfferSchedule.startTime")}
    assert validate_schedule(b, sched, allow_missing=True) == []


def test_validate_schedule_tolerance_and_field_name():
    b = good()
    e = b.default.energy_kwh.copy()
    e[1] = 2.0 + 1e-9  # within tolerance
    assert validate_schedule(b, Schedule(b.default.start_s, e), field="x") == []
    e[1] = 2.01
    assert fields(validate_schedule(b, Schedule(b.default.start_s, e), field="x")) == {
        ("a", "x.scheduleSlices[1]")
    }
    assert validate_schedule(b, Schedule(b.default.start_s, e), tol=0.1) == []


def test_wrong_shapes_are_problems_not_tracebacks():
    b = good()
    problems = validate_schedule(b, Schedule(b.default.start_s[:2], b.default.energy_kwh))
    assert problems and problems[0].object_id == "batch"
    bad = replace(b, offsets=np.array([0, 2, 5, 9]), _cache={})
    assert ("batch", "lower_kwh") in fields(validate_flexoffers(bad))


def test_large_valid_batch_vectorized():
    n = 20_000
    rng = np.random.default_rng(1)
    lengths = rng.integers(1, 10, n)
    lo = rng.uniform(-5, 5, lengths.sum())
    b = FlexOfferBatch(
        ids=np.char.add("fo-", np.arange(n).astype(str)),
        est_s=np.full(n, BASE_S),
        lst_s=np.full(n, BASE_S + 4 * H),
        offsets=np.concatenate(([0], np.cumsum(lengths))),
        lower_kwh=lo,
        upper_kwh=lo + 1,
    )
    assert validate_flexoffers(b) == []
    bad = replace(b, upper_kwh=set_at(b.upper_kwh, [0, -1], -10.0), _cache={})
    assert {p.object_id for p in validate_flexoffers(bad)} == {"fo-0", f"fo-{n - 1}"}


@pytest.mark.parametrize("year", [1000, 1969, 2200, 2999, 9999])
def test_times_outside_the_supported_years_are_refused(year):
    from datetime import UTC, datetime

    t = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    b = FlexOfferBatch.from_profiles(["y"], [t], [t], [[0.0]], [[1.0]], interval_s=H)
    problems = validate_flexoffers(b)
    assert fields(problems) == {("y", "startAfterTime"), ("y", "startBeforeTime")}
    assert "supported years 1970 to 2199" in problems[0].message


def test_the_last_supported_year_is_accepted():
    from datetime import UTC, datetime

    t = int(datetime(2199, 12, 31, 23, 45, tzinfo=UTC).timestamp())
    assert (
        validate_flexoffers(FlexOfferBatch.from_profiles(["y"], [t], [t], [[0.0]], [[1.0]], interval_s=H))
        == []
    )
