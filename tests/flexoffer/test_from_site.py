"""The C-VPP arrow: a site's schedule plus its up/down flexibility as FlexOffer JSON with a location."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridflex.errors import FlexOfferValidationError
from gridflex.flexoffer.from_site import (
    SiteFlexibility,
    location_groups,
    scheduled_kw,
    site_flexoffers,
    site_flexoffers_from_json,
    site_flexoffers_to_json,
)
from gridflex.flexoffer.validate import validate_schedule

START = datetime(2018, 1, 17, 16, tzinfo=UTC)
kw = st.floats(-50, 50, allow_nan=False).map(lambda x: round(x, 3))
room = st.floats(0, 20, allow_nan=False).map(lambda x: round(x, 3))


@given(st.lists(st.tuples(kw, room, room), min_size=1, max_size=12))
def test_the_bounds_hold_the_schedule_and_give_back_the_flexibility(rows):
    p, up, down = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    offers = site_flexoffers([SiteFlexibility("home", "bus-7", START, p, up, down, 90.0, 20.0)])
    b = offers.batch
    assert validate_schedule(b, b.default) == []  # the baseline is inside its own offer
    np.testing.assert_allclose(scheduled_kw(b, b.default, 0), p)
    np.testing.assert_allclose(b.lower_kwh * 4 - p, -up, atol=1e-9)  # 15-min intervals: kWh × 4 = kW
    np.testing.assert_allclose(b.upper_kwh * 4 - p, down, atol=1e-9)
    assert b.price_below_eur_per_mwh[0] == 90.0 and b.price_above_eur_per_mwh[0] == 20.0
    assert b.est_s[0] == b.lst_s[0] == int(START.timestamp())


def test_json_carries_the_location_and_reads_back():
    sites = [
        SiteFlexibility(
            "home-1", "MV2.101 Bus 4", START, np.array([3.0, 5.0]), np.array([3.0, 5.5]), np.zeros(2)
        ),
        SiteFlexibility(
            "office", "MV2.101 Bus 6", START, np.array([12.0, 12.0]), np.array([4.0, 0.0]), np.ones(2)
        ),
        SiteFlexibility(
            "home-2", "MV2.101 Bus 4", START, np.array([1.0, 0.5]), np.array([1.0, 0.5]), np.zeros(2)
        ),
    ]
    offers = site_flexoffers(sites)
    doc = site_flexoffers_to_json(offers)
    assert [fo["locationId"] for fo in doc["flexOffers"]] == [
        "MV2.101 Bus 4",
        "MV2.101 Bus 6",
        "MV2.101 Bus 4",
    ]
    assert doc["flexOffers"][0]["defaultSchedule"]["startTime"] == "2018-01-17T16:00:00Z"
    back = site_flexoffers_from_json(doc)
    assert back.locations.tolist() == offers.locations.tolist()
    np.testing.assert_allclose(back.batch.lower_kwh, offers.batch.lower_kwh)
    group, places = location_groups(back)
    assert places.tolist() == ["MV2.101 Bus 4", "MV2.101 Bus 6"] and group.tolist() == [0, 1, 0]
    del doc["flexOffers"][1]["locationId"]
    with pytest.raises(FlexOfferValidationError, match=r"office\.locationId: missing"):
        site_flexoffers_from_json(doc)


def test_bad_site_input_names_each_site_and_field():
    naive = datetime(2018, 1, 17, 16)
    bad = [
        SiteFlexibility("a", "", START, np.array([1.0]), np.array([-1.0]), np.zeros(1)),
        SiteFlexibility("b", "bus", naive, np.array([1.0, np.nan]), np.zeros(3), np.zeros(2)),
        SiteFlexibility(
            "c", "bus", START.replace(minute=7), np.ones(1), np.zeros(1), np.zeros(1), float("inf")
        ),
        SiteFlexibility("c", "bus", START, np.ones(1), np.zeros(1), np.zeros(1)),
    ]
    with pytest.raises(FlexOfferValidationError) as exc:
        site_flexoffers(bad)
    fields = {(p.object_id, p.field) for p in exc.value.problems}
    assert {("a", "location"), ("a", "up_kw"), ("b", "start"), ("b", "schedule_kw"), ("b", "up_kw"),
            ("c", "start"), ("c", "price_up_eur_per_mwh"), ("c", "site_id")} <= fields  # fmt: skip
