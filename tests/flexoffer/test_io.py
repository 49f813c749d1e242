"""FlexOffer JSON: round trips, slice semantics, time zones and every kind of bad input."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from gridflex.errors import DataError, FlexOfferValidationError
from gridflex.flexoffer.io import (
    flexoffers_from_json,
    flexoffers_to_json,
    read_flexoffers,
    write_flexoffers,
)
from gridflex.flexoffer.jsonparse import _fast_fill, _parse, _Parser
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule

from .strategies import BASE_S, INTERVAL_S, full_offers, offers

ARRAYS = (
    "ids",
    "owners",
    "est_s",
    "lst_s",
    "offsets",
    "lower_kwh",
    "upper_kwh",
    "tec_lower_kwh",
    "tec_upper_kwh",
    "accept_before_s",
    "assign_before_s",
    "price_above_eur_per_mwh",
    "price_below_eur_per_mwh",
)


def absent_as_none(s: Schedule | None) -> Schedule | None:
    """A schedule given for no offer is written as no schedule at all."""
    return None if s is None or np.all(s.start_s == NO_TIME) else s


def assert_same(a: FlexOfferBatch, b: FlexOfferBatch) -> None:
    assert a.interval_s == b.interval_s
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name, strict=True)
    for name in ("default", "schedule"):
        sa, sb = absent_as_none(getattr(a, name)), absent_as_none(getattr(b, name))
        assert (sa is None) == (sb is None), name
        if sa is not None:
            np.testing.assert_array_equal(sa.start_s, sb.start_s, err_msg=name)
            np.testing.assert_array_equal(sa.energy_kwh, sb.energy_kwh, err_msg=name)


def through_json(batch: FlexOfferBatch) -> FlexOfferBatch:
    return flexoffers_from_json(json.loads(json.dumps(flexoffers_to_json(batch))))


@settings(max_examples=80, deadline=None)
@given(full_offers(max_size=10, max_len=8))
def test_round_trip_all_fields(batch):
    assert_same(batch, through_json(batch))


@settings(max_examples=40, deadline=None)
@given(offers(max_size=6))
def test_round_trip_without_optional_fields(batch):
    back = through_json(batch)
    assert_same(batch, back)
    assert back.schedule is None


@settings(max_examples=40, deadline=None)
@given(full_offers(max_size=10))
def test_fast_parser_equals_careful_parser(batch):
    items = json.loads(json.dumps(flexoffers_to_json(batch)))["flexOffers"]
    careful = _Parser()
    for pos, fo in enumerate(items):
        careful.offer(pos, fo)
    assert not careful.problems
    fast = _Parser()
    assert _fast_fill(fast, items)  # well-formed documents take the fast path
    assert_same(careful.build(), fast.build())
    assert_same(careful.build(), _parse(items).build())


@settings(max_examples=5, deadline=None)
@given(full_offers(min_size=20, max_size=20))
def test_file_round_trip(batch):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "offers.json"
        write_flexoffers(batch, path, indent=2)
        assert_same(batch, read_flexoffers(path))


def ev_offer() -> dict:
    """An EV charging offer in the style of the FlexOffer specification."""
    return {
        "id": "ev-42",
        "offeredById": "home-7",
        "startAfterTime": "2018-06-01T18:00:00Z",
        "startBeforeTime": "2018-06-01T22:00:00Z",
        "acceptBeforeTime": "2018-06-01T12:00:00Z",
        "assignmentBeforeTime": "2018-06-01T17:00:00Z",
        "numSecondsPerInterval": 900,
        "flexOfferProfileConstraints": [
            {"minDuration": 4, "maxDuration": 4, "energyConstraintList": [{"lower": 0, "upper": 11}]},
            {"minDuration": 2, "maxDuration": 2, "energyConstraintList": [{"lower": 0.3, "upper": 0.3}]},
        ],
        "totalEnergyConstraint": {"lower": 6, "upper": 10},
        "defaultSchedule": {
            "startTime": "2018-06-01T18:00:00Z",
            "scheduleSlices": [
                {"duration": 2, "energyAmount": 5.5},
                {"duration": 2, "energyAmount": 2.5},
                {"duration": 2, "energyAmount": 0.3},
            ],
        },
        "unitPrices": {"aboveDefaultEurPerMWh": 45.0, "belowDefaultEurPerMWh": 30.0},
    }


def test_spec_example_expands_slices_to_intervals():
    b = flexoffers_from_json({"flexOffers": [ev_offer()]})
    t0 = 1_527_876_000  # 2018-06-01T18:00:00Z
    assert (b.est_s[0], b.lst_s[0]) == (t0, t0 + 4 * 3600)
    assert b.accept_before_s[0] == t0 - 6 * 3600 and b.assign_before_s[0] == t0 - 3600
    np.testing.assert_allclose(b.lower_kwh, [0, 0, 0, 0, 0.15, 0.15])
    np.testing.assert_allclose(b.upper_kwh, [2.75] * 4 + [0.15, 0.15])
    np.testing.assert_allclose(b.default.energy_kwh, [2.75, 2.75, 1.25, 1.25, 0.15, 0.15])
    assert b.time_flex[0] == 16 and b.owners[0] == "home-7" and b.schedule is None
    assert (b.tec_lower_kwh[0], b.tec_upper_kwh[0]) == (6, 10)
    assert (b.price_above_eur_per_mwh[0], b.price_below_eur_per_mwh[0]) == (45, 30)


def test_writing_keeps_the_input_slices():
    fo = ev_offer()
    del fo["defaultSchedule"]
    out = flexoffers_to_json(flexoffers_from_json([fo]))["flexOffers"][0]
    assert out["flexOfferProfileConstraints"] == fo["flexOfferProfileConstraints"]
    for key in ("startAfterTime", "startBeforeTime", "acceptBeforeTime", "assignmentBeforeTime"):
        assert out[key] == fo[key]
    assert out["totalEnergyConstraint"] == fo["totalEnergyConstraint"]
    assert out["unitPrices"] == fo["unitPrices"]
    assert "flexOfferSchedule" not in out and "defaultSchedule" not in out


def test_schedule_slices_are_written_aligned_with_the_profile_slices():
    # The default charges 5.5 then 2.5 kWh per half hour inside one 4-interval profile slice: the
    # profile slice is cut where the schedule changes, so slice j of both has the same duration.
    fo = ev_offer()
    out = flexoffers_to_json(flexoffers_from_json([fo]))["flexOffers"][0]
    prof = out["flexOfferProfileConstraints"]
    assert [s["minDuration"] for s in prof] == [2, 2, 2]
    assert [s["energyConstraintList"][0] for s in prof] == [
        {"lower": 0.0, "upper": 5.5},
        {"lower": 0.0, "upper": 5.5},
        {"lower": 0.3, "upper": 0.3},
    ]
    assert out["defaultSchedule"] == fo["defaultSchedule"]


def test_equal_schedule_slices_are_not_merged_across_profile_slices():
    # Two one-interval profile slices with different bounds, scheduled at the same energy: two
    # schedule slices of one interval each, never {"duration": 2, ...}.
    b = FlexOfferBatch.from_profiles(
        ["x"], [BASE_S], [BASE_S], [[0.0, 0.5]], [[1.0, 2.0]], interval_s=INTERVAL_S
    ).with_schedule(Schedule([BASE_S], [0.75, 0.75]))
    out = flexoffers_to_json(b)["flexOffers"][0]
    assert out["flexOfferSchedule"]["scheduleSlices"] == [
        {"duration": 1, "energyAmount": 0.75},
        {"duration": 1, "energyAmount": 0.75},
    ]
    assert_same(b, through_json(b))


def test_merged_schedule_slices_are_still_read():
    fo = ev_offer()
    fo["defaultSchedule"]["scheduleSlices"] = [
        {"duration": 4, "energyAmount": 8.0},  # spans 1.5 profile slices of the input
        {"duration": 2, "energyAmount": 0.3},
    ]
    b = flexoffers_from_json([fo])
    np.testing.assert_array_equal(b.default.energy_kwh, [2.0, 2.0, 2.0, 2.0, 0.15, 0.15])


@settings(max_examples=60, deadline=None)
@given(full_offers(max_size=8, max_len=8))
def test_every_schedule_slice_matches_its_profile_slice(batch):
    """Property: slice j of every written schedule has the duration of profile slice j and an energy
    inside that slice's bounds (as a FlexOffer tool reading slice by slice checks it)."""
    for fo in flexoffers_to_json(batch)["flexOffers"]:
        prof = fo["flexOfferProfileConstraints"]
        for name in ("defaultSchedule", "flexOfferSchedule"):
            if name not in fo:
                continue
            slices = fo[name]["scheduleSlices"]
            assert [s["duration"] for s in slices] == [p["minDuration"] for p in prof]
            for s, p in zip(slices, prof, strict=True):
                c = p["energyConstraintList"][0]
                tol = 1e-6 * (1 + abs(c["lower"]) + abs(c["upper"]))
                assert c["lower"] - tol <= s["energyAmount"] <= c["upper"] + tol


def test_equal_neighbouring_intervals_merge():
    b = FlexOfferBatch.from_profiles(
        ["x"], [BASE_S], [BASE_S], [[0.25, 0.25, 0.25, 1.0]], [[0.5, 0.5, 0.5, 1.0]], interval_s=INTERVAL_S
    )
    slices = flexoffers_to_json(b)["flexOffers"][0]["flexOfferProfileConstraints"]
    assert [s["minDuration"] for s in slices] == [3, 1]
    assert slices[0]["energyConstraintList"] == [{"lower": 0.75, "upper": 1.5}]
    assert_same(b, through_json(b))


def test_offsets_are_converted_to_utc():
    fo = ev_offer()
    fo["startAfterTime"] = "2018-06-01T20:00:00+02:00"
    fo["startBeforeTime"] = "2018-06-01T17:00:00-05:00"
    b = flexoffers_from_json([fo])
    assert b.est_s[0] == 1_527_876_000 and b.lst_s[0] == 1_527_876_000 + 4 * 3600
    out = flexoffers_to_json(b)["flexOffers"][0]
    assert out["startAfterTime"] == "2018-06-01T18:00:00Z"
    assert out["startBeforeTime"] == "2018-06-01T22:00:00Z"


def test_one_sided_tec_and_absent_fields():
    fo = ev_offer()
    fo["totalEnergyConstraint"] = {"lower": 7}
    for key in ("acceptBeforeTime", "assignmentBeforeTime", "unitPrices", "defaultSchedule", "offeredById"):
        del fo[key]
    b = flexoffers_from_json([fo])
    assert b.tec_lower_kwh[0] == 7 and np.isnan(b.tec_upper_kwh[0])
    assert b.accept_before_s[0] == NO_TIME and b.default is None and b.owners[0] == ""
    assert flexoffers_to_json(b)["flexOffers"][0]["totalEnergyConstraint"] == {"lower": 7.0}


def test_empty_document():
    b = flexoffers_from_json({"flexOffers": []})
    assert len(b) == 0
    assert flexoffers_to_json(b) == {"flexOffers": []}


def broken(path: tuple, value=None, delete: bool = False, offers: int = 1) -> list:
    docs = [ev_offer() for _ in range(offers)]
    for i, d in enumerate(docs):
        d["id"] = f"ev-{i}"
    target = docs[-1]
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    elif isinstance(target, list) and path[-1] == len(target):
        target.append(value)
    else:
        target[path[-1]] = value
    return docs


PROFILE = "flexOfferProfileConstraints"
BAD = {
    "missing id": (broken(("id",), delete=True, offers=2), "flexOffers[1]", "id", "missing"),
    "missing est": (broken(("startAfterTime",), delete=True), "ev-0", "startAfterTime", "missing"),
    "naive time": (
        broken(("startBeforeTime",), "2018-06-01T22:00:00"),
        "ev-0",
        "startBeforeTime",
        "time zone",
    ),
    "unparseable time": (broken(("acceptBeforeTime",), "tomorrow"), "ev-0", "acceptBeforeTime", "parse"),
    "time as number": (broken(("startAfterTime",), 1527876000), "ev-0", "startAfterTime", "ISO 8601"),
    "bound is text": (
        broken((PROFILE, 1, "energyConstraintList", 0, "lower"), "abc"),
        "ev-0",
        f"{PROFILE}[1].lower",
        "number",
    ),
    "bound is bool": (
        broken((PROFILE, 0, "energyConstraintList", 0, "upper"), True),
        "ev-0",
        f"{PROFILE}[0].upper",
        "number",
    ),
    "missing upper": (
        broken((PROFILE, 0, "energyConstraintList", 0, "upper"), delete=True),
        "ev-0",
        f"{PROFILE}[0].upper",
        "missing",
    ),
    "variable duration": (
        broken((PROFILE, 1, "maxDuration"), 3),
        "ev-0",
        f"{PROFILE}[1].maxDuration",
        "fixed slice durations",
    ),
    "two energy constraints": (
        broken((PROFILE, 0, "energyConstraintList", 1), {"lower": 0, "upper": 1}),
        "ev-0",
        f"{PROFILE}[0].energyConstraintList",
        "exactly one",
    ),
    "zero duration": (
        broken((PROFILE, 0, "minDuration"), 0),
        "ev-0",
        f"{PROFILE}[0].minDuration",
        "positive",
    ),
    "profile missing": (broken((PROFILE,), delete=True), "ev-0", PROFILE, "missing"),
    "mixed intervals": (
        broken(("numSecondsPerInterval",), 3600, offers=3),
        "ev-2",
        "numSecondsPerInterval",
        "share one interval length",
    ),
    "interval as float": (
        broken(("numSecondsPerInterval",), 900.5),
        "ev-0",
        "numSecondsPerInterval",
        "integer",
    ),
    "schedule too short": (
        broken(("defaultSchedule", "scheduleSlices", 2, "duration"), 1),
        "ev-0",
        "defaultSchedule.scheduleSlices",
        "covers 5 intervals, the profile has 6",
    ),
    "schedule energy text": (
        broken(("defaultSchedule", "scheduleSlices", 0, "energyAmount"), "5"),
        "ev-0",
        "defaultSchedule.scheduleSlices[0].energyAmount",
        "number",
    ),
    "empty tec": (
        broken(("totalEnergyConstraint",), {}),
        "ev-0",
        "totalEnergyConstraint",
        "lower and/or upper",
    ),
    "prices not an object": (broken(("unitPrices",), [1, 2]), "ev-0", "unitPrices", "object"),
    "offer not an object": ([ev_offer(), "ev-1"], "flexOffers[1]", "", "offer object"),
    # rules checked after parsing, with interval indices mapped back to JSON slice indices
    "slice lower above upper": (
        broken((PROFILE, 1, "energyConstraintList", 0, "lower"), 0.5),
        "ev-0",
        f"{PROFILE}[1].lower",
        "above upper",
    ),
    "schedule above bounds": (
        broken(("defaultSchedule", "scheduleSlices", 2, "energyAmount"), 0.4),
        "ev-0",
        "defaultSchedule.scheduleSlices[2]",
        "above upper",
    ),
    "est after lst": (
        broken(("startAfterTime",), "2018-06-02T00:00:00Z"),
        "ev-0",
        "startBeforeTime",
        "before startAfterTime",
    ),
    "tec out of reach": (
        broken(("totalEnergyConstraint",), {"lower": 50, "upper": 60}),
        "ev-0",
        "totalEnergyConstraint.lower",
        "reachable range",
    ),
    "duplicate ids": (
        [ev_offer(), ev_offer()],
        "ev-42",
        "id",
        "duplicate",
    ),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_names_offer_and_field(name):
    doc, oid, field, words = BAD[name]
    with pytest.raises(FlexOfferValidationError) as e:
        flexoffers_from_json({"flexOffers": copy.deepcopy(doc)})
    hits = [p for p in e.value.problems if p.object_id == oid and p.field == field]
    assert hits, e.value.problems
    assert any(words in p.message for p in hits), hits
    assert (f"{oid}.{field}" if field else f"{oid}:") in str(e.value)  # an empty field is not printed


def test_every_problem_of_a_document_in_one_error():
    docs = [ev_offer() for _ in range(3)]
    docs[0]["id"] = "a"
    docs[0]["startAfterTime"] = "2018-06-01T18:00:00"
    docs[1]["id"] = "b"
    docs[1][PROFILE][0]["maxDuration"] = 9
    docs[2]["id"] = "c"
    docs[2]["numSecondsPerInterval"] = "900"
    with pytest.raises(FlexOfferValidationError) as e:
        flexoffers_from_json(docs)
    assert {(p.object_id, p.field) for p in e.value.problems} == {
        ("a", "startAfterTime"),
        ("b", f"{PROFILE}[0].maxDuration"),
        ("c", "numSecondsPerInterval"),
    }


@pytest.mark.parametrize("doc", [{"offers": []}, {"flexOffers": {}}, "text", 3])
def test_bad_document_shape(doc):
    with pytest.raises(FlexOfferValidationError, match="document"):
        flexoffers_from_json(doc)


def test_malformed_json_names_path_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"flexOffers": [\n  {"id": "x",,}\n]}\n')
    with pytest.raises(DataError) as e:
        read_flexoffers(path)
    msg = str(e.value)
    assert str(path) in msg and "line 2" in msg and "column 14" in msg


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.json"):
        read_flexoffers(tmp_path / "nope.json")


def test_writing_an_invalid_batch_is_refused(tmp_path):
    b = FlexOfferBatch.from_profiles(["x"], [BASE_S], [BASE_S], [[np.nan]], [[1.0]])
    with pytest.raises(FlexOfferValidationError, match=r"x\.flexOfferProfileConstraints\[0\]\.lower"):
        write_flexoffers(b, tmp_path / "x.json")


def test_awkward_floats_round_trip_exactly():
    lo = np.array([0.1, 0.1, 0.1, 1 / 3, 1 / 3, 1 / 3, 1e-300, 1e-300, 2.0**-1074, 2.0**-1074])
    b = FlexOfferBatch.from_profiles(
        ["x"],
        [BASE_S],
        [BASE_S],
        [lo],
        [lo + 1],
        interval_s=INTERVAL_S,
        default=(np.array([BASE_S]), [lo + 0.5]),
    )
    b = b.with_schedule(Schedule(np.array([BASE_S]), lo + 0.25))
    assert_same(b, through_json(b))


def test_documented_example_parses():
    text = (Path(__file__).parents[2] / "docs" / "flexoffer-format.md").read_text(encoding="utf-8")
    blocks = text.split("```json\n")
    doc = json.loads(blocks[1].split("```")[0])
    assigned = json.loads("{" + blocks[2].split("```")[0] + "}")
    doc["flexOffers"][0].update(assigned)
    b = flexoffers_from_json(doc)
    np.testing.assert_allclose(b.default.energy_kwh, [2.75, 2.75, 1.25, 1.25, 0.15, 0.15])
    np.testing.assert_allclose(b.schedule.energy_kwh, [2.75, 2.75, 0.6, 0.6, 0.15, 0.15])
    out = flexoffers_to_json(b)["flexOffers"][0]["flexOfferSchedule"]["scheduleSlices"]
    assert out[1] == {"duration": 2, "energyAmount": 1.2}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"flexOffers": [', "line 1"),
    ],
)
def test_unreadable_files_are_data_errors_naming_the_path(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=needle) as e:
        read_flexoffers(path)
    assert str(path) in str(e.value)


def test_members_extension_round_trips_and_maps_to_groups(tmp_path):
    from gridflex.flexoffer.io import MEMBERS_FIELD, member_groups, read_flexoffer_document

    members = FlexOfferBatch.from_profiles(
        ["a", "b", "c"], [BASE_S] * 3, [BASE_S] * 3, [[0.0]] * 3, [[1.0]] * 3, interval_s=INTERVAL_S
    )
    aggs = FlexOfferBatch.from_profiles(
        ["agg-0", "agg-1"], [BASE_S] * 2, [BASE_S] * 2, [[0.0], [0.0]], [[2.0], [1.0]], interval_s=INTERVAL_S
    )
    path = tmp_path / "aggs.json"
    write_flexoffers(aggs, path, members=[["a", "c"], ["b"]])
    assert json.loads(path.read_text())["flexOffers"][0][MEMBERS_FIELD] == ["a", "c"]
    doc = read_flexoffer_document(path)
    assert doc.members == [["a", "c"], ["b"]]
    assert member_groups(members, doc).tolist() == [0, 1, 0]
    # every fault named with the aggregate and the field, in one error
    raw = json.loads(path.read_text())
    raw["flexOffers"][0][MEMBERS_FIELD] = ["a", "zz"]
    raw["flexOffers"][1][MEMBERS_FIELD] = ["a"]
    path.write_text(json.dumps(raw))
    with pytest.raises(FlexOfferValidationError) as e:
        member_groups(members, read_flexoffer_document(path))
    assert [(p.object_id, p.field) for p in e.value.problems] == [
        ("agg-0", MEMBERS_FIELD),
        ("agg-1", MEMBERS_FIELD),
    ]
    assert "'zz' is not in the members" in str(e.value) and "'a' is listed by 'agg-0' too" in str(e.value)
    raw["flexOffers"][1][MEMBERS_FIELD] = "b"
    path.write_text(json.dumps(raw))
    with pytest.raises(FlexOfferValidationError, match=r"agg-1\.gridflexMembers: expected a list"):
        read_flexoffer_document(path)


@settings(max_examples=15, deadline=None)
@given(full_offers(min_size=5, max_size=12))
def test_files_are_written_and_read_in_chunks_of_offers(batch):
    import gridflex.flexoffer.io as fio

    chunk = fio._CHUNK_OFFERS
    fio._CHUNK_OFFERS = 2  # several chunks, the last one shorter
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "offers.json"
            write_flexoffers(batch, path, members=[[f"m{i}"] for i in range(len(batch))])
            text = path.read_text()
            assert text.count("\n") == len(batch) + 2  # one offer per line
            doc = fio.read_flexoffer_document(path)
            assert_same(batch, doc.batch)
            assert doc.members == [[f"m{i}"] for i in range(len(batch))]
            assert_same(batch, flexoffers_from_json(json.loads(text)))
    finally:
        fio._CHUNK_OFFERS = chunk


def test_chunked_reading_names_offers_by_their_place_in_the_whole_document(tmp_path, monkeypatch):
    import gridflex.flexoffer.io as fio

    monkeypatch.setattr(fio, "_CHUNK_OFFERS", 2)
    offers = [ev_offer() for _ in range(5)]
    for i, fo in enumerate(offers):
        fo["id"] = f"ev-{i}"
    del offers[3]["id"]
    offers[4]["numSecondsPerInterval"] = 1800
    offers[1]["startBeforeTime"] = "2018-06-01T17:00:00Z"  # before startAfterTime: found by validation
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"flexOffers": offers}))
    with pytest.raises(FlexOfferValidationError) as e:
        read_flexoffers(path)
    got = {(p.object_id, p.field) for p in e.value.problems}
    assert ("flexOffers[3]", "id") in got and ("ev-4", "numSecondsPerInterval") in got
    offers[3]["id"], offers[4]["numSecondsPerInterval"] = "ev-3", 900
    offers[2]["flexOfferProfileConstraints"][1]["energyConstraintList"] = [{"lower": 1, "upper": 0}]
    path.write_text(json.dumps(offers))  # a bare list; slice indices named as in the document
    with pytest.raises(FlexOfferValidationError) as e:
        read_flexoffers(path)
    got = {(p.object_id, p.field) for p in e.value.problems}
    assert {("ev-1", "startBeforeTime"), ("ev-2", "flexOfferProfileConstraints[1].lower")} <= got
    assert {p.object_id for p in e.value.problems} == {"ev-1", "ev-2"}


@pytest.mark.parametrize(
    "layout",
    [
        '{"note": "first", "flexOffers": [OFFER]}',
        '{"flexOffers": [OFFER], "note": [1]}',
        " \n [ OFFER ] \n",
        '{ "flexOffers" : [ OFFER ] }',
    ],
)
def test_any_document_layout_reads_the_same(tmp_path, layout):
    path = tmp_path / "doc.json"
    path.write_text(layout.replace("OFFER", json.dumps(ev_offer())))
    assert_same(read_flexoffers(path), flexoffers_from_json([ev_offer()]))


def test_trailing_garbage_is_malformed_json(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps([ev_offer()]) + " x")
    with pytest.raises(DataError, match=r"malformed JSON .* line 1"):
        read_flexoffers(path)
