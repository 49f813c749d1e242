"""Continuous book: price-time priority, executions, partial fills, cancel, gate closure, invariants."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.market.book import ContinuousBook
from gridflex.market.orders import Order
from gridflex.market.products import Product, ProductKind
from tests.market.helpers import DAY

ID = Product(product_id="ID", kind=ProductKind.ENERGY_CONTINUOUS, isp_s=900, delivery_start=DAY, n_isps=96,
             lead_time_s=300, price_min_eur_per_mwh=-9999, price_max_eur_per_mwh=9999)  # fmt: skip
EARLY = datetime(2018, 6, 11, 20, tzinfo=UTC)


def _o(i, side, mw, price, who="A", isp=10, **kw) -> Order:
    return Order(order_id=i, participant=who, product="ID", side=side, isp=isp, quantity_mw=mw,
                 price_eur_per_mwh=price, submitted_at=EARLY, **kw)  # fmt: skip


def test_price_then_time_priority_and_maker_price():
    book = ContinuousBook([ID])
    book.submit(_o("s1", "sell", 5, 50, "S1"))
    book.submit(_o("s2", "sell", 5, 48, "S2"))
    book.submit(_o("s3", "sell", 5, 48, "S3"))  # same price, later: after s2
    r = book.submit(_o("b1", "buy", 12, 55, "B"))
    assert r.status == "filled" and r.accepted_mw == 12
    assert [(t.sell_order, t.price_eur_per_mwh, t.quantity_mw) for t in book.trades] == [
        ("s2", 48, 5), ("s3", 48, 5), ("s1", 50, 2),
    ]  # fmt: skip
    assert book.status("s1").status == "partially_filled" and book.status("s1").accepted_mw == 2
    assert book.best_prices("ID", 10) == (None, 50)


def test_limit_order_rests_and_partial_fill():
    book = ContinuousBook([ID])
    book.submit(_o("s", "sell", 3, 40))
    r = book.submit(_o("b", "buy", 5, 45))
    assert r.status == "partially_filled" and r.accepted_mw == 3 and r.reason == "resting in the book"
    assert book.best_prices("ID", 10) == (45, None)


def test_fill_or_kill_and_fill_and_kill():
    book = ContinuousBook([ID])
    book.submit(_o("s", "sell", 3, 40))
    fok = book.submit(_o("fok", "buy", 5, 45, execution="fill_or_kill"))
    assert fok.status == "cancelled" and fok.accepted_mw == 0 and "fill-or-kill" in fok.reason
    assert book.trades == []
    fak = book.submit(_o("fak", "buy", 5, 45, execution="fill_and_kill"))
    assert fak.status == "cancelled" and fak.accepted_mw == 3 and "unfilled 2 MW is cancelled" in fak.reason
    assert book.best_prices("ID", 10) == (None, None)  # nothing rests
    book.submit(_o("s2", "sell", 5, 40))
    assert book.submit(_o("fok2", "buy", 5, 40, execution="fill_or_kill")).status == "filled"


def test_market_order_takes_any_price_and_never_rests():
    book = ContinuousBook([ID])
    book.submit(_o("s1", "sell", 1, 40))
    book.submit(_o("s2", "sell", 1, 900))
    r = book.submit(_o("m", "buy", 3, None))
    assert r.accepted_mw == 2 and r.status == "cancelled"
    assert [t.price_eur_per_mwh for t in book.trades] == [40, 900]


def test_cancel_removes_volume_and_is_refused_twice():
    book = ContinuousBook([ID])
    book.submit(_o("s", "sell", 3, 40))
    assert book.cancel("s").status == "cancelled"
    assert "already cancelled" in book.cancel("s").reason
    assert book.submit(_o("b", "buy", 3, 45)).accepted_mw == 0
    assert book.cancel("nope").status == "rejected"


def test_rejections_and_gate_closure():
    book = ContinuousBook([ID])
    assert "outside the horizon" in book.submit(_o("x", "buy", 1, 10, isp=96)).reason
    assert book.submit(_o("neg", "buy", -1, 10)).status == "rejected"
    late = _o("late", "buy", 1, 10, isp=0).model_copy(
        update={"submitted_at": datetime(2018, 6, 12, tzinfo=UTC)}
    )
    assert "gate closure" in book.submit(late).reason
    book.submit(_o("rest", "sell", 1, 10, isp=1))
    assert book.submit(_o("rest", "sell", 1, 10)).reason == "duplicate order_id"
    gate_isp1 = int(datetime(2018, 6, 12, 0, 10, tzinfo=UTC).timestamp())
    assert book.close_gates(gate_isp1) == []
    assert book.close_gates(gate_isp1 + 1) == ["rest"]
    assert book.status("rest").status == "expired"


events = st.lists(
    st.tuples(st.sampled_from(["buy", "sell", "cancel"]), st.integers(1, 5), st.integers(45, 55),
              st.sampled_from(["normal", "normal", "fill_or_kill", "fill_and_kill"]), st.integers(0, 1)),
    max_size=60,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(events)
def test_book_invariants(evs):
    book = ContinuousBook([ID])
    limits, qty = {}, {}
    for k, (kind, mw, price, ex, isp) in enumerate(evs):
        if kind == "cancel":
            if k:
                book.cancel(f"o{k // 2}")
            continue
        book.submit(_o(f"o{k}", kind, float(mw), float(price), isp=isp, execution=ex))
        limits[f"o{k}"], qty[f"o{k}"] = price, mw
        for i in (0, 1):
            bid, ask = book.best_prices("ID", i)
            assert bid is None or ask is None or bid < ask  # never crossed after matching
    filled: dict[str, float] = {}
    for t in book.trades:
        assert limits[t.buy_order] >= t.price_eur_per_mwh >= limits[t.sell_order]
        filled[t.buy_order] = filled.get(t.buy_order, 0) + t.quantity_mw
        filled[t.sell_order] = filled.get(t.sell_order, 0) + t.quantity_mw
    for oid in qty:
        r = book.status(oid)
        assert np.isclose(r.accepted_mw, filled.get(oid, 0.0)) and r.accepted_mw <= qty[oid] + 1e-9
        if r.status == "filled":
            assert np.isclose(r.accepted_mw, qty[oid])


@settings(max_examples=100, deadline=None)
@given(st.floats(-5, 20), st.one_of(st.none(), st.floats(-20000, 20000)), st.integers(-2, 100),
       st.sampled_from(["ID", "DA", "nope"]), st.integers(0, 3))  # fmt: skip
def test_scalar_screening_says_what_the_vectorized_one_says(mw, price, isp, product, hour):
    from gridflex.market.orders import OrderArrays, screen_orders
    from tests.market.helpers import da_product

    products = [ID, da_product()]
    when = datetime(2018, 6, 11, 22 + hour // 2, 30 * (hour % 2), tzinfo=UTC) if hour < 4 else EARLY
    o = Order(order_id="x", participant="A", product=product, side="buy", isp=isp, quantity_mw=mw,
              price_eur_per_mwh=price, submitted_at=when)  # fmt: skip
    ok, reason = screen_orders(
        OrderArrays.from_orders([o]), products, kinds=["energy_continuous"], market_orders=True
    )
    r = ContinuousBook(products).submit(o)
    assert (r.status == "rejected") == (not ok[0])
    if not ok[0]:
        assert r.reason == reason[0]
