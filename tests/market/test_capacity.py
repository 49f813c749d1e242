"""Capacity reservation (Enedis-style local tenders, pooling) and TSO balancing capacity."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.errors import MarketError
from gridflex.market.capacity import CapacityBid, CapacityTender, Site, Window, activate, procure_capacity

WINTER = dict(contract_start=datetime(2026, 11, 1, tzinfo=UTC), contract_end=datetime(2027, 3, 1, tzinfo=UTC))
HOURS = (datetime(2027, 3, 1, tzinfo=UTC) - datetime(2026, 11, 1, tzinfo=UTC)).total_seconds() / 3600


def _tender(**kw) -> CapacityTender:
    fields = dict(tender_id="T", buyer="Enedis", reserve="local", direction="up", place="poste-A", required_mw=1.0,
                  min_bid_mw=0.5, min_duration_h=2.0, **WINTER)  # fmt: skip
    fields.update(kw)
    return CapacityTender(**fields)


def _bid(i, sites, price, act_price=100.0, t_s=600, dur=4.0, direction="up", **kw) -> CapacityBid:
    return CapacityBid(bid_id=i, participant=f"agg-{i}", tender_id="T", direction=direction,
                       sites=[Site(site_id=f"{i}-s{k}", power_mw=p) for k, p in enumerate(sites)],
                       availability_price_eur_per_mw_h=price, activation_price_eur_per_mwh=act_price,
                       activation_time_s=t_s, max_duration_h=dur, **kw)  # fmt: skip


def test_pooling_reaches_the_tender_minimum_and_pay_as_bid():
    bids = [_bid("small", [0.3], 1.0), _bid("pool", [0.2, 0.2, 0.15], 2.0), _bid("big", [0.6], 3.0),
            _bid("short", [0.9], 0.5, dur=1.0)]  # fmt: skip
    r = procure_capacity(_tender(), bids)
    assert "single site of 0.3 MW < the 0.5 MW minimum" in r.reasons["small"]
    assert "sustains 1 h < the 2 h minimum duration" in r.reasons["short"]
    assert [a.bid_id for a in r.awards] == ["pool", "big"]
    assert r.procured_mw == pytest.approx(1.15) and r.unmet_mw == 0.0
    assert r.cost_eur == pytest.approx((0.55 * 2.0 + 0.6 * 3.0) * HOURS)


def test_pay_as_clear_pays_the_highest_accepted_price_to_everyone():
    bids = [_bid("a", [0.5], 2.0), _bid("b", [0.5], 3.0), _bid("c", [0.5], 9.0)]
    r = procure_capacity(_tender(pricing="pay_as_clear"), bids)
    assert r.clearing_price_eur_per_mw_h == 3.0
    assert {a.availability_price_eur_per_mw_h for a in r.awards} == {3.0}
    assert "not selected" in r.reasons["c"]


def test_balancing_eligibility_by_activation_time_and_direction():
    t = _tender(reserve="fcr", direction="symmetric", min_bid_mw=1.0, min_duration_h=0.25)
    bids = [_bid("fast", [1.0], 10.0, t_s=20, direction="symmetric"), _bid("slow", [1.0], 1.0, t_s=300, direction="symmetric"),
            _bid("up", [1.0], 1.0, t_s=10)]  # fmt: skip
    r = procure_capacity(t, bids)
    assert [a.bid_id for a in r.awards] == ["fast"]
    assert "too slow: full activation in 300 s > 30 s for fcr" in r.reasons["slow"]
    assert "direction up" in r.reasons["up"]
    afrr = procure_capacity(_tender(reserve="afrr", min_bid_mw=1.0), [_bid("slow", [1.0], 1.0, t_s=300)])
    assert afrr.procured_mw == 1.0  # 5 min is fast enough for aFRR
    rr = procure_capacity(
        _tender(reserve="rte_complementary", min_bid_mw=1.0), [_bid("x", [1.0], 1.0, t_s=1500)]
    )
    assert rr.procured_mw == 1.0


def test_shortfall_when_bids_cannot_cover():
    r = procure_capacity(_tender(required_mw=5.0), [_bid("a", [1.0], 2.0)])
    assert r.procured_mw == 1.0 and r.unmet_mw == 4.0


def test_activation_in_merit_order_within_the_calendar_split_over_sites():
    cal = [Window(start=datetime(2026, 12, 1, 17, tzinfo=UTC), end=datetime(2026, 12, 1, 21, tzinfo=UTC))]
    t = _tender(activation_calendar=cal)
    bids = [_bid("pool", [0.2, 0.3], 2.0, act_price=150.0), _bid("big", [0.6], 3.0, act_price=90.0)]
    r = procure_capacity(t, bids)
    act = activate(t, bids, r, datetime(2026, 12, 1, 18, tzinfo=UTC), 2.0, 0.9)
    got = {(i.bid_id, i.site_id): i.power_mw for i in act.instructions}
    assert got == pytest.approx(
        {("big", "big-s0"): 0.6, ("pool", "pool-s0"): 0.12, ("pool", "pool-s1"): 0.18}
    )
    assert act.activation_cost_eur == pytest.approx((0.6 * 90 + 0.3 * 150) * 2)
    with pytest.raises(MarketError, match="activation calendar"):
        activate(t, bids, r, datetime(2026, 12, 1, 20, tzinfo=UTC), 2.0, 0.5)
    with pytest.raises(MarketError, match="minimum"):
        activate(t, bids, r, datetime(2026, 12, 1, 18, tzinfo=UTC), 1.0, 0.5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.integers(0, 20)), min_size=1, max_size=7), st.integers(1, 20))
def test_award_is_least_cost(bids_in, need):
    bids = [_bid(f"b{k}", [mw / 4], float(p)) for k, (mw, p) in enumerate(bids_in)]
    r = procure_capacity(_tender(required_mw=need / 4, min_bid_mw=0.0), bids)
    best = min(
        (sum(b.power_mw * b.availability_price_eur_per_mw_h for b, y in zip(bids, pick, strict=True) if y)
         for pick in itertools.product([0, 1], repeat=len(bids))
         if sum(b.power_mw for b, y in zip(bids, pick, strict=True) if y) >= need / 4 - 1e-12),
        default=None,
    )  # fmt: skip
    if best is None:
        assert r.unmet_mw > 0
    else:
        assert r.unmet_mw == pytest.approx(0.0, abs=1e-9)
        assert r.cost_eur == pytest.approx(best * HOURS, rel=1e-6, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 8), st.integers(0, 20), st.booleans()), min_size=1, max_size=7),
       st.integers(1, 20), st.sampled_from(["pay_as_bid", "pay_as_clear"]))  # fmt: skip
def test_payments_add_up_and_no_award_is_paid_below_its_bid(bids_in, need, pricing):
    bids = [_bid(f"b{k}", [mw / 4], float(p), divisible=div) for k, (mw, p, div) in enumerate(bids_in)]
    r = procure_capacity(_tender(required_mw=need / 4, min_bid_mw=0.0, pricing=pricing), bids)
    by_id = {b.bid_id: b for b in bids}
    assert r.cost_eur == pytest.approx(sum(a.availability_payment_eur for a in r.awards))
    for a in r.awards:
        bid = by_id[a.bid_id]
        assert a.availability_price_eur_per_mw_h >= bid.availability_price_eur_per_mw_h
        assert 0 < a.awarded_mw <= bid.power_mw + 1e-9
        assert bid.divisible or a.awarded_mw == pytest.approx(bid.power_mw)
        assert a.availability_payment_eur == pytest.approx(
            a.awarded_mw * a.availability_price_eur_per_mw_h * HOURS
        )
    if pricing == "pay_as_clear" and r.awards:
        assert len({a.availability_price_eur_per_mw_h for a in r.awards}) == 1
    assert r.procured_mw + r.unmet_mw >= need / 4 - 1e-9
