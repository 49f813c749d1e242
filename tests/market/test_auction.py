"""Uniform-price clearing: worked examples, block orders, and the properties that must always hold."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from gridflex.market.auction import clear_auction, clear_curves
from gridflex.market.orders import BlockOrder, Order, OrderArrays
from tests.market.helpers import da_product


def _book(rows):  # (side, isp, mw, price)
    return OrderArrays.build(
        is_buy=[r[0] == "buy" for r in rows], isp=[r[1] for r in rows],
        quantity_mw=[r[2] for r in rows], price_eur_per_mwh=[r[3] for r in rows], product="DA",
    )  # fmt: skip


def test_worked_example_price_volume_marginal_and_reasons():
    rows = [("buy", 0, 10, 50), ("buy", 0, 10, 30), ("sell", 0, 5, 20), ("sell", 0, 10, 40)]
    r = clear_auction([da_product()], _book(rows))
    assert r.n_cells == 24
    assert r.price_eur_per_mwh[0] == 40.0
    assert r.volume_mw[0] == 10.0
    assert r.accepted_mw.tolist() == [10.0, 0.0, 5.0, 5.0]
    assert r.status.tolist() == ["filled", "expired", "filled", "partially_filled"]
    assert r.marginal_order[0] == "o3"
    assert r.welfare_eur[0] == pytest.approx(10 * 50 - 5 * 20 - 5 * 40)
    assert r.reason(1) == "not filled: bid 30 is below the clearing price 40 EUR/MWh"
    assert r.reason(3).startswith("partially filled (5 of 10 MW)")
    money = r.money_eur()
    assert money["paid_by_buyers_eur"] == money["received_by_sellers_eur"] == 400.0


def test_price_is_the_midpoint_when_curves_cross_on_a_vertical_segment():
    r = clear_curves([0, 0], [True, False], [10.0, 10.0], [60.0, 20.0], 1)
    assert r.volume_mw[0] == 10 and r.price_eur_per_mwh[0] == 40.0
    assert (r.price_lo[0], r.price_hi[0]) == (20.0, 60.0)


def test_bad_orders_are_rejected_one_by_one_and_the_rest_clears():
    orders = [
        Order(order_id="b", participant="A", product="DA", side="buy", isp=0, quantity_mw=10, price_eur_per_mwh=50),
        Order(order_id="s", participant="B", product="DA", side="sell", isp=0, quantity_mw=10, price_eur_per_mwh=10),
        Order(order_id="neg", participant="C", product="DA", side="sell", isp=0, quantity_mw=-1, price_eur_per_mwh=0),
        Order(order_id="far", participant="C", product="DA", side="sell", isp=99, quantity_mw=1, price_eur_per_mwh=0),
    ]  # fmt: skip
    r = clear_auction([da_product()], OrderArrays.from_orders(orders))
    res = {o.order_id: o for o in r.order_results()}
    assert res["b"].status == "filled" and res["s"].status == "filled"
    assert res["neg"].status == "rejected" and "quantity_mw must be > 0" in res["neg"].reason
    assert res["far"].status == "rejected" and "outside the horizon" in res["far"].reason
    assert r.price_eur_per_mwh[0] == 30.0


def _block(i, side, isps, mw, price):
    return BlockOrder(order_id=i, participant="X", product="DA", side=side, isps=isps, quantity_mw=mw,
                      price_eur_per_mwh=price)  # fmt: skip


def test_a_paradoxically_accepted_block_is_excluded():
    # The block alone serves both buys (welfare +200) but then sets the price to 40 < its limit 50.
    book = _book([("buy", 0, 5, 100), ("buy", 0, 5, 40)])
    r = clear_auction([da_product()], book, [_block("blk", "sell", [0], 10.0, 50.0)])
    assert not r.blocks[0].accepted
    assert "paradoxically accepted" in r.blocks[0].reason
    assert r.volume_mw[0] == 0.0
    assert r.iterations == 2


def test_an_in_the_money_block_is_accepted_and_volumes_balance():
    book = _book([("buy", 0, 10, 100), ("buy", 1, 10, 90), ("sell", 0, 10, 80), ("sell", 1, 10, 85)])
    r = clear_auction([da_product()], book, [_block("base", "sell", [0, 1], 10.0, 60.0)])
    assert r.blocks[0].accepted and r.blocks[0].surplus_eur >= 0
    for c in (0, 1):
        sel = r.order_cell == c
        buys = r.accepted_mw[sel & r.orders.is_buy].sum()
        sells = r.accepted_mw[sel & ~r.orders.is_buy].sum()
        assert buys - sells + r.block_volume_mw[c] == pytest.approx(0.0)
    assert r.accepted_mw.tolist() == [10.0, 10.0, 0.0, 0.0]
    money = r.money_eur()
    assert money["paid_by_buyers_eur"] == pytest.approx(money["received_by_sellers_eur"])


def test_rejected_block_carries_its_reason():
    r = clear_auction([da_product()], _book([("buy", 0, 1, 10)]), [_block("b", "sell", [0, 30], 1.0, 5.0)])
    assert r.blocks[0].reason.startswith("rejected: ISP 30 is outside the horizon")


# ---- properties -----------------------------------------------------------------------------------
orders_st = st.lists(
    st.tuples(st.booleans(), st.integers(0, 2), st.integers(1, 20), st.integers(-5, 12)),
    min_size=1,
    max_size=40,
)


def _welfare_lp(cell, is_buy, q, p, n_cells) -> float:
    sign = np.where(is_buy, 1.0, -1.0)
    a_eq = np.zeros((n_cells, len(q)))
    a_eq[cell, np.arange(len(q))] = sign
    res = linprog(
        -sign * p, A_eq=a_eq, b_eq=np.zeros(n_cells), bounds=list(zip(np.zeros(len(q)), q, strict=True))
    )
    return -res.fun


@settings(max_examples=150, deadline=None)
@given(orders_st)
def test_clearing_properties(rows):
    cell = np.array([r[1] for r in rows])
    is_buy = np.array([r[0] for r in rows])
    q = np.array([r[2] for r in rows], float)
    p = np.array([r[3] * 10.0 for r in rows])
    r = clear_curves(cell, is_buy, q, p, 3)
    lam = r.price_eur_per_mwh[cell]
    x = r.accepted_mw
    filled, residual = x > 1e-9, x < q - 1e-9
    # never accepts an order priced worse than the clearing price, never leaves a better one out
    assert (p[filled & is_buy] >= lam[filled & is_buy]).all()
    assert (p[filled & ~is_buy] <= lam[filled & ~is_buy]).all()
    assert (p[residual & is_buy] <= lam[residual & is_buy] + 1e-9).all()
    assert (p[residual & ~is_buy] >= lam[residual & ~is_buy] - 1e-9).all()
    assert ((x >= -1e-12) & (x <= q + 1e-9)).all()
    # volumes balance, money balances
    buys = np.bincount(cell[is_buy], x[is_buy], 3)
    sells = np.bincount(cell[~is_buy], x[~is_buy], 3)
    np.testing.assert_allclose(buys, r.volume_mw, atol=1e-9)
    np.testing.assert_allclose(sells, r.volume_mw, atol=1e-9)
    lam0 = np.nan_to_num(lam)
    assert (x * lam0)[is_buy].sum() == pytest.approx((x * lam0)[~is_buy].sum(), abs=1e-6)
    # the welfare is the optimum of the welfare LP (independent solver)
    welfare = float((np.where(is_buy, 1.0, -1.0) * p * x).sum())
    assert welfare == pytest.approx(_welfare_lp(cell, is_buy, q, p, 3), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    orders_st,
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 10), st.integers(-5, 12), st.sampled_from([1.0, 0.5])),
        max_size=4,
    ),
)
def test_blocks_never_paradoxically_accepted_and_balance(rows, blocks_in):
    book = _book([("buy" if b else "sell", c, m, p * 10.0) for b, c, m, p in rows])
    blocks = [
        _block(f"B{k}", "buy" if b else "sell", [0, 1, 2], float(m), p * 10.0).model_copy(
            update={"min_acceptance_ratio": ratio}
        )
        for k, (b, m, p, ratio) in enumerate(blocks_in)
    ]
    r = clear_auction([da_product(n_isps=3)], book, blocks)
    for b, blk in zip(r.blocks, blocks, strict=True):
        if b.accepted:
            assert b.surplus_eur >= -1e-6
            assert blk.min_acceptance_ratio - 1e-9 <= b.accepted_ratio <= 1 + 1e-9
    x, cell, buy = r.accepted_mw, r.order_cell, r.orders.is_buy
    net = np.bincount(cell[buy], x[buy], r.n_cells) - np.bincount(cell[~buy], x[~buy], r.n_cells)
    np.testing.assert_allclose(net + r.block_volume_mw, 0.0, atol=1e-6)
    money = r.money_eur()
    assert money["paid_by_buyers_eur"] == pytest.approx(money["received_by_sellers_eur"], abs=1e-6)
    p, lam = r.orders.price_eur_per_mwh, r.price_eur_per_mwh[cell]
    filled = x > 1e-9
    assert (p[filled & buy] >= lam[filled & buy] - 1e-9).all()
    assert (p[filled & ~buy] <= lam[filled & ~buy] + 1e-9).all()


def test_products_and_places_clear_separately():
    from tests.market.helpers import da_product as prod

    products = [prod(n_isps=2), prod(product_id="DA-15", isp_s=900, n_isps=3)]
    rows = [("DA", "FR", "buy", 0, 10, 50), ("DA", "FR", "sell", 0, 10, 10), ("DA", "DE", "buy", 0, 5, 80),
            ("DA", "DE", "sell", 0, 5, 70), ("DA-15", "FR", "buy", 2, 4, 30), ("DA-15", "FR", "sell", 2, 4, 20)]  # fmt: skip
    orders = OrderArrays.from_orders([
        Order(order_id=f"o{k}", participant="A", product=pr, place=pl, side=sd, isp=t, quantity_mw=q, price_eur_per_mwh=p)
        for k, (pr, pl, sd, t, q, p) in enumerate(rows)
    ])  # fmt: skip
    r = clear_auction(products, orders)
    cells = {
        (str(a), str(b), int(c)): k
        for k, (a, b, c) in enumerate(zip(r.cell_product, r.cell_place, r.cell_isp, strict=True))
    }
    assert r.price_eur_per_mwh[cells[("DA", "FR", 0)]] == 30.0
    assert r.price_eur_per_mwh[cells[("DA", "DE", 0)]] == 75.0
    assert r.price_eur_per_mwh[cells[("DA-15", "FR", 2)]] == 25.0
    assert r.welfare_eur[cells[("DA-15", "FR", 2)]] == pytest.approx(4 * 10 * 0.25)  # 15-min ISP: MW × 0.25 h
    assert np.isnan(r.price_eur_per_mwh[cells[("DA", "FR", 1)]])  # no orders, no price


@pytest.mark.parametrize("ratio, accepted", [(0.3, True), (0.5, False)])
def test_block_with_a_minimum_acceptance_ratio_is_accepted_in_part(ratio, accepted):
    block = _block("flex", "sell", [0], 10.0, 20.0).model_copy(update={"min_acceptance_ratio": ratio})
    r = clear_auction([da_product()], _book([("buy", 0, 4, 100)]), [block])
    b = r.blocks[0]
    assert b.accepted is accepted
    if accepted:
        assert b.accepted_ratio == pytest.approx(0.4) and "0.4 of it (minimum 0.3)" in b.reason
        assert r.volume_mw[0] == pytest.approx(4.0) and r.block_volume_mw[0] == pytest.approx(-4.0)
        assert b.surplus_eur == pytest.approx((100 - 20) * 4)
    else:
        assert r.volume_mw[0] == 0.0
