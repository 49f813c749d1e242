"""Local FlexOrders down a pool's flex-offers, against their baselines (market.dispatch.dispatch_orders)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import ValidationError
from gridflex.flexoffer.from_site import SiteFlexibility, site_flexoffers
from gridflex.flexoffer.validate import validate_schedule
from gridflex.market.dispatch import dispatch_orders

START = datetime(2018, 1, 17, tzinfo=UTC)


def pool(rows):
    sites = [
        SiteFlexibility(f"s{i}", "bus", START, np.array(p), np.array(u), np.zeros(len(p)))
        for i, (p, u) in enumerate(rows)
    ]
    return site_flexoffers(sites).batch


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.floats(0, 20), st.floats(0, 20)), min_size=4, max_size=4), min_size=1, max_size=5),
       st.lists(st.floats(0, 1), min_size=4, max_size=4))  # fmt: skip
def test_every_site_stays_inside_its_offer_and_the_pool_moves_by_the_order(rows, share):
    fleet = pool([([a for a, _ in r], [min(a, b) for a, b in r]) for r in rows])
    room_kw = np.array([[min(a, b) for a, b in r] for r in rows]).sum(axis=0)
    kw = room_kw * np.array(share)
    d = dispatch_orders({"bus": fleet}, {"bus": kw}, "up")["bus"]
    assert validate_schedule(d.members, d.members.schedule) == []
    got = d.members.schedule.energy_kwh.reshape(len(fleet), 4).sum(axis=0) * 4
    np.testing.assert_allclose(got, d.planned_kw - kw, atol=1e-6)
    np.testing.assert_allclose(d.instructed_kw, kw)


def test_an_order_beyond_the_pool_or_for_no_pool_is_refused():
    fleet = pool([([2.0, 2.0], [1.0, 1.0])])
    from gridflex.errors import DisaggregationError

    with pytest.raises(DisaggregationError):
        dispatch_orders({"bus": fleet}, {"bus": np.array([1.5, 0.0])}, "up")
    with pytest.raises(ValidationError) as exc:
        dispatch_orders({"bus": fleet}, {"nowhere": np.zeros(2), "bus": np.array([-1.0, 0.0])}, "sideways")
    fields = {(p.object_id, p.field) for p in exc.value.problems}
    assert fields == {("orders", "direction"), ("nowhere", "pool"), ("bus", "activated_kw")}
