"""Uniform-price (pay-as-clear) double auction per ISP, with all-or-nothing block orders.

Curve orders (single ISP, divisible)
    Per cell (product × place × ISP) the traded volume is ``V* = max_p min(D(p), S(p))`` with ``D(p)``
    the buy volume priced ``>= p`` and ``S(p)`` the sell volume priced ``<= p``; the maximum is reached
    at an order price, so every order's price is a candidate and all cells are solved at once with one
    sort and a few ``searchsorted`` calls. Buys are filled from the highest price down and sells from
    the lowest up until ``V*``; orders at the marginal price level share the rest pro rata.

Clearing price
    Any price ``λ`` with every accepted buy priced ``>= λ``, every accepted sell ``<= λ``, every buy
    left (partly) unfilled ``<= λ`` and every sell left unfilled ``>= λ`` supports the result; that set
    is an interval ``[λ_lo, λ_hi]`` and the clearing price is its midpoint (the finite end when the
    other is open). Buyers pay and sellers receive ``λ`` per MWh: money balances per cell.

Block orders (several ISPs, all or nothing)
    A MILP over the cells the blocks touch maximises welfare (binary per block, the curve orders of
    those cells continuous); prices then follow from the curve orders with the accepted blocks as
    price-takers. A block that loses money at those prices (paradoxically accepted) is excluded and
    the MILP solved again, until none is left (blocks may be paradoxically rejected, as in EUPHEMIA:
    their reason says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from gridflex.errors import SolverError
from gridflex.market.orders import (
    BlockOrder,
    OrderArrays,
    OrderResult,
    OrderStatus,
    Side,
    screen_orders,
)
from gridflex.market.products import Product, ProductKind, epoch_s
from gridflex.optimize import Model

__all__ = ["AuctionResult", "BlockOutcome", "clear_auction", "clear_curves"]

_TOL = 1e-9  # MW: below this an order counts as not filled


@dataclass(frozen=True, eq=False)
class Curves:
    """Result of :func:`clear_curves` over cells ``0..n_cells-1``."""

    volume_mw: np.ndarray  # (n_cells,) traded
    price_eur_per_mwh: np.ndarray  # (n_cells,) midpoint of [price_lo, price_hi]
    price_lo: np.ndarray
    price_hi: np.ndarray
    accepted_mw: np.ndarray  # (n,) per order


def _maxat(n: int, idx: np.ndarray, val: np.ndarray, fill: float) -> np.ndarray:
    out = np.full(n, fill)
    if fill < 0:
        np.maximum.at(out, idx, val)
    else:
        np.minimum.at(out, idx, val)
    return out


def clear_curves(
    cell: np.ndarray,
    is_buy: np.ndarray,
    quantity_mw: np.ndarray,
    price_eur_per_mwh: np.ndarray,
    n_cells: int,
    taker: np.ndarray | None = None,
) -> Curves:
    """Clear divisible orders cell by cell, all cells at once (see the module docstring).

    ``taker``: orders that must be filled whatever the price (accepted blocks); they go first in
    merit order and do not bound the clearing price.
    """
    cell = np.asarray(cell, dtype=np.int64)
    q = np.asarray(quantity_mw, dtype=float)
    p = np.asarray(price_eur_per_mwh, dtype=float)
    is_buy = np.asarray(is_buy, dtype=bool)
    n = len(q)
    taker = np.zeros(n, dtype=bool) if taker is None else np.asarray(taker, dtype=bool)
    p_eff = np.where(taker, np.where(is_buy, np.inf, -np.inf), p)
    # One sort by (cell, price); every sum below is a difference of two prefix sums at segment ends.
    perm = np.lexsort((p_eff, cell))
    c_s, p_s, q_s, b_s = cell[perm], p_eff[perm], q[perm], is_buy[perm]
    new_cell = np.ones(n, dtype=bool)
    new_cell[1:] = c_s[1:] != c_s[:-1]
    new_level = new_cell.copy()
    new_level[1:] |= p_s[1:] != p_s[:-1]
    cb = np.concatenate(([0.0], np.cumsum(np.where(b_s, q_s, 0.0))))
    cs = np.concatenate(([0.0], np.cumsum(np.where(b_s, 0.0, q_s))))

    def seg(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # first and one-past-last position
        first = np.flatnonzero(starts)
        lengths = np.diff(np.append(first, n))
        return np.repeat(first, lengths), np.repeat(first + lengths, lengths)

    lv0, lv1 = seg(new_level)
    ce0, ce1 = seg(new_cell)
    demand = cb[ce1] - cb[lv0]  # buys in the cell priced >= this level
    demand_better = cb[ce1] - cb[lv1]  # priced above it
    supply = cs[lv1] - cs[ce0]  # sells priced <= this level
    supply_better = cs[lv0] - cs[ce0]
    vol = np.minimum(demand, supply)
    volume = np.zeros(n_cells)
    if n:
        first = np.flatnonzero(new_cell)
        volume[c_s[first]] = np.maximum.reduceat(vol, first)
    better = np.where(b_s, demand_better, supply_better)
    level = np.where(b_s, demand - demand_better, supply - supply_better)
    fill = np.clip(volume[c_s] - better, 0.0, level)
    acc_s = np.divide(q_s * fill, level, out=np.zeros(n), where=level > 0)  # pro rata on the level
    accepted = np.empty(n)
    accepted[perm] = acc_s
    filled = (accepted > _TOL) & ~taker
    residual = (accepted < q - _TOL) & ~taker
    lo_mask = (filled & ~is_buy) | (residual & is_buy)
    hi_mask = (filled & is_buy) | (residual & ~is_buy)
    lo = _maxat(n_cells, cell[lo_mask], p[lo_mask], -np.inf)
    hi = _maxat(n_cells, cell[hi_mask], p[hi_mask], np.inf)
    both = np.isfinite(lo) & np.isfinite(hi)
    price = np.where(np.isfinite(lo), lo, hi)
    price[both] = (lo[both] + hi[both]) / 2
    price[~np.isfinite(price)] = np.nan  # a cell without orders has no price
    return Curves(volume, price, lo, hi, accepted)


# ---- result ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockOutcome:
    order_id: str
    accepted: bool
    surplus_eur: float  # at the clearing prices, of the share accepted (NaN when rejected at screening)
    reason: str
    accepted_ratio: float = 0.0


@dataclass(frozen=True, eq=False)
class AuctionResult:
    """Clearing prices, volumes and welfare per cell; fills and explanations per order.

    Cells are (product, place, ISP): ``cell_product``, ``cell_place``, ``cell_isp``. Per cell:
    ``price_eur_per_mwh``, ``volume_mw`` (traded, buy = sell), ``welfare_eur``, ``marginal_order``
    (the accepted order priced closest to the clearing price; "" when nothing traded). Per order
    (aligned with the input ``orders``): ``accepted_mw``, ``status``; :meth:`reason` explains.
    """

    orders: OrderArrays
    cell_product: np.ndarray
    cell_place: np.ndarray
    cell_isp: np.ndarray
    cell_isp_h: np.ndarray
    price_eur_per_mwh: np.ndarray
    price_lo: np.ndarray
    price_hi: np.ndarray
    volume_mw: np.ndarray
    welfare_eur: np.ndarray
    marginal_order: np.ndarray
    order_cell: np.ndarray  # -1 for rejected orders
    accepted_mw: np.ndarray
    valid: np.ndarray
    rejection: np.ndarray  # object: screening reason ("" when valid)
    blocks: list[BlockOutcome] = field(default_factory=list)
    block_volume_mw: np.ndarray | None = None  # net (buy − sell) block volume per cell
    mip_gap: float = 0.0
    iterations: int = 0

    @property
    def n_cells(self) -> int:
        return len(self.cell_isp)

    @property
    def status(self) -> np.ndarray:
        q = self.orders.quantity_mw
        out = np.full(len(q), OrderStatus.EXPIRED.value, dtype=object)
        out[self.accepted_mw > _TOL] = OrderStatus.PARTIALLY_FILLED.value
        out[self.accepted_mw >= q - 1e-9 * np.maximum(1.0, np.abs(q))] = OrderStatus.FILLED.value
        out[~self.valid] = OrderStatus.REJECTED.value
        return out

    def reason(self, i: int) -> str:
        """Why order ``i`` was (not) accepted, in one sentence."""
        if not self.valid[i]:
            return f"rejected: {self.rejection[i]}"
        c = self.order_cell[i]
        lam, p, x = self.price_eur_per_mwh[c], self.orders.price_eur_per_mwh[i], self.accepted_mw[i]
        q = self.orders.quantity_mw[i]
        buy = bool(self.orders.is_buy[i])
        word, cmp_ = ("bid", "above") if buy else ("ask", "below")
        at = f"clearing price {lam:.4g} EUR/MWh"
        if x >= q - 1e-9 * max(1.0, q):
            return f"filled: {word} {p:g} is at or {cmp_} the {at}"
        if x > _TOL:
            return f"partially filled ({x:.6g} of {q:g} MW): {word} {p:g} is on the marginal price level; the rest is not needed at the {at}"
        if p == lam:
            return f"not filled: {word} {p:g} equals the {at} but no more volume is matched"
        rel = "below" if buy else "above"
        return f"not filled: {word} {p:g} is {rel} the {at}"

    def order_results(self) -> list[OrderResult]:
        st = self.status
        return [
            OrderResult(
                order_id=str(self.orders.order_id[i]),
                status=OrderStatus(st[i]),
                accepted_mw=float(self.accepted_mw[i]),
                reason=self.reason(i),
            )
            for i in range(len(self.orders))
        ]

    def money_eur(self) -> dict[str, float]:
        """Paid by buyers and received by sellers at the clearing prices (curve orders and blocks)."""
        c = self.order_cell
        ok = self.valid
        value = np.zeros(len(c))
        value[ok] = self.accepted_mw[ok] * self.price_eur_per_mwh[c[ok]] * self.cell_isp_h[c[ok]]
        paid = float(value[self.orders.is_buy].sum())
        received = float(value[~self.orders.is_buy].sum())
        if self.block_volume_mw is not None:
            b = self.block_volume_mw * np.nan_to_num(self.price_eur_per_mwh) * self.cell_isp_h
            paid += float(b[b > 0].sum())
            received -= float(b[b < 0].sum())
        return {"paid_by_buyers_eur": paid, "received_by_sellers_eur": received}

    def to_json(self, orders: bool = True) -> dict:
        cells = [
            {
                "product": str(self.cell_product[k]),
                "place": str(self.cell_place[k]),
                "isp": int(self.cell_isp[k]),
                "price_eur_per_mwh": None
                if np.isnan(self.price_eur_per_mwh[k])
                else float(self.price_eur_per_mwh[k]),
                "volume_mw": float(self.volume_mw[k]),
                "welfare_eur": float(self.welfare_eur[k]),
                "marginal_order": str(self.marginal_order[k]),
            }
            for k in range(self.n_cells)
        ]
        out: dict = {
            "cells": cells,
            "welfare_eur": float(self.welfare_eur.sum()),
            **self.money_eur(),
            "blocks": [b.__dict__ for b in self.blocks],
        }
        if orders:
            out["orders"] = [r.model_dump(mode="json") for r in self.order_results()]
        return out


# ---- cells ----------------------------------------------------------------------------------------
def _cells(products: Mapping[str, Product], markets: list[tuple[str, str]]):
    base, prod, place, isp, isp_h = {}, [], [], [], []
    start = 0
    for pid, pl in markets:
        pr = products[pid]
        base[(pid, pl)] = start
        prod += [pid] * pr.n_isps
        place += [pl] * pr.n_isps
        isp.append(np.arange(pr.n_isps))
        isp_h.append(np.full(pr.n_isps, pr.isp_h))
        start += pr.n_isps
    cat = lambda a: np.concatenate(a) if a else np.zeros(0)  # noqa: E731
    return base, np.array(prod, dtype=str), np.array(place, dtype=str), cat(isp).astype(np.int64), cat(isp_h)


def _pairs(product: np.ndarray, place: np.ndarray) -> list[tuple[str, str]]:
    """The distinct (product, place) pairs, without a Python loop over the orders."""
    if not len(product):
        return []
    uprod, iprod = np.unique(product, return_inverse=True)
    uplace, iplace = np.unique(place, return_inverse=True)
    codes = np.unique(iprod * len(uplace) + iplace)
    return [(str(uprod[k // len(uplace)]), str(uplace[k % len(uplace)])) for k in codes.tolist()]


def _order_cells(orders: OrderArrays, valid: np.ndarray, base: dict) -> np.ndarray:
    cell = np.full(len(orders), -1, dtype=np.int64)
    if valid.any():
        uprod, iprod = np.unique(orders.product[valid], return_inverse=True)
        uplace, iplace = np.unique(orders.place[valid], return_inverse=True)
        code = iprod * len(uplace) + iplace
        ucode, inv = np.unique(code, return_inverse=True)
        keys = [(str(uprod[k // len(uplace)]), str(uplace[k % len(uplace)])) for k in ucode.tolist()]
        cell[valid] = np.array([base[k] for k in keys], dtype=np.int64)[inv] + orders.isp[valid]
    return cell


def _screen_block(b: BlockOrder, products: Mapping[str, Product], now_s: int | None, seen: set) -> str:
    if b.order_id in seen:
        return "duplicate order_id"
    prod = products.get(b.product)
    if prod is None:
        return f"unknown product '{b.product}'"
    if prod.kind is not ProductKind.ENERGY_AUCTION:
        return f"product '{b.product}' is a {prod.kind} product, not traded here"
    q = (
        np.broadcast_to(np.asarray(b.quantity_mw, dtype=float), (len(b.isps),))
        if np.ndim(b.quantity_mw) == 0
        else np.asarray(b.quantity_mw, dtype=float)
    )
    if q.shape != (len(b.isps),):
        return f"quantity_mw has {q.size} values for {len(b.isps)} ISPs"
    if len(set(b.isps)) != len(b.isps):
        return "an ISP appears twice in the block"
    if not np.isfinite(q).all() or (q <= 0).any():
        return f"quantity_mw must be > 0 in every ISP, got {min(q.tolist()):g}"
    bad = [k for k in b.isps if not 0 <= k < prod.n_isps]
    if bad:
        return f"ISP {bad[0]} is outside the horizon of '{prod.product_id}' (0..{prod.n_isps - 1})"
    if prod.places and b.place not in prod.places:
        return f"place '{b.place}' not in product"
    lo, hi = prod.price_min_eur_per_mwh, prod.price_max_eur_per_mwh
    if not lo <= b.price_eur_per_mwh <= hi:
        return f"price {b.price_eur_per_mwh:g} EUR/MWh outside the limits [{lo:g}, {hi:g}]"
    t = epoch_s(b.submitted_at) if b.submitted_at is not None else now_s
    if t is not None and t > int(prod.gate_closure_s(np.asarray(b.isps)).min()):
        return "submitted after gate closure"
    return ""


def _block_arrays(blocks: Sequence[BlockOrder], ok: list[bool], base: dict, products: Mapping[str, Product]):
    """Flat (block index, cell, signed MW) of the valid blocks; sign +1 buy, −1 sell."""
    bi, cells, qs = [], [], []
    for j, b in enumerate(blocks):
        if not ok[j]:
            continue
        q = np.broadcast_to(np.asarray(b.quantity_mw, dtype=float), (len(b.isps),))
        bi.append(np.full(len(b.isps), j))
        cells.append(base[(b.product, b.place)] + np.asarray(b.isps, dtype=np.int64))
        qs.append(q * (1.0 if b.side is Side.BUY else -1.0))
    if not bi:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(bi), np.concatenate(cells), np.concatenate(qs)


# ---- entry ----------------------------------------------------------------------------------------
def clear_auction(
    products: Mapping[str, Product] | Iterable[Product],
    orders: OrderArrays,
    blocks: Sequence[BlockOrder] = (),
    now_s: int | None = None,
    time_limit_s: float = 10.0,
    max_iterations: int = 50,
) -> AuctionResult:
    """Screen, then clear every (product, place, ISP) of an energy auction; see the module docstring.

    ``now_s``: clearing time, taken as the submission time of orders that give none (gate check).
    Bad orders and blocks are rejected one by one with a reason; the rest clears.
    """
    if not isinstance(products, Mapping):
        products = {p.product_id: p for p in products}
    valid, rejection = screen_orders(orders, products, now_s, kinds=[ProductKind.ENERGY_AUCTION])
    seen: set[str] = set(orders.order_id.tolist()) if blocks else set()
    block_reason = []
    for b in blocks:
        block_reason.append(_screen_block(b, products, now_s, seen))
        seen.add(b.order_id)
    block_ok = [r == "" for r in block_reason]
    markets = sorted(
        set(_pairs(orders.product[valid], orders.place[valid]))
        | {(b.product, b.place) for b, ok in zip(blocks, block_ok, strict=True) if ok}
    )
    base, c_prod, c_place, c_isp, c_h = _cells(products, markets)
    n_cells = len(c_isp)
    cell = _order_cells(orders, valid, base)
    v = np.flatnonzero(valid)
    b_idx, b_cell, b_q = _block_arrays(blocks, block_ok, base, products)
    accepted_blocks: dict[int, float] = {}  # block index → share accepted
    excluded: dict[int, float] = {}
    gap, iterations = 0.0, 0
    curves_in = (cell[v], orders.is_buy[v], orders.quantity_mw[v], orders.price_eur_per_mwh[v])
    curves = None
    if len(b_idx):
        try:
            accepted_blocks, excluded, gap, iterations, curves = _with_blocks(
                blocks, b_idx, b_cell, b_q, curves_in, n_cells, c_h, time_limit_s, max_iterations
            )
        except SolverError as e:  # no block solution within the time limit: clear without blocks, say why
            why = f"no block selection found within {time_limit_s:g} s ({e.status}); blocks not accepted"
            block_reason = [r or why for r in block_reason]
            b_idx = b_idx[:0]
    if curves is None:
        curves = clear_curves(*curves_in, n_cells)
    accepted = np.zeros(len(orders))
    accepted[v] = curves.accepted_mw[: len(v)]
    block_net = np.zeros(n_cells)
    b_share = np.array([accepted_blocks.get(int(j), 0.0) for j in b_idx.tolist()])
    np.add.at(block_net, b_cell, b_q * b_share)
    price = curves.price_eur_per_mwh
    sign = np.where(orders.is_buy[v], 1.0, -1.0)
    welfare = (
        np.bincount(cell[v], weights=sign * orders.price_eur_per_mwh[v] * accepted[v], minlength=n_cells)
        * c_h
    )
    outcomes = _block_outcomes(
        blocks, block_reason, b_idx, b_cell, b_q, accepted_blocks, excluded, price, c_h
    )
    for j, o in enumerate(outcomes):
        if o.accepted:
            welfare_b = (
                blocks[j].price_eur_per_mwh * b_q[b_idx == j] * o.accepted_ratio * c_h[b_cell[b_idx == j]]
            )
            np.add.at(welfare, b_cell[b_idx == j], welfare_b)
    return AuctionResult(
        orders=orders, cell_product=c_prod, cell_place=c_place, cell_isp=c_isp, cell_isp_h=c_h,
        price_eur_per_mwh=price, price_lo=curves.price_lo, price_hi=curves.price_hi,
        volume_mw=curves.volume_mw, welfare_eur=welfare,
        marginal_order=_marginal(orders, v, cell[v], accepted[v], price, n_cells),
        order_cell=cell, accepted_mw=accepted, valid=valid, rejection=rejection, blocks=outcomes,
        block_volume_mw=block_net, mip_gap=gap, iterations=iterations,
    )  # fmt: skip


def _marginal(orders: OrderArrays, v, cell, acc, price, n_cells) -> np.ndarray:
    out = np.full(n_cells, "", dtype=object)
    m = acc > _TOL
    if not m.any():
        return out
    dist = np.abs(orders.price_eur_per_mwh[v][m] - price[cell[m]])
    partial = acc[m] < orders.quantity_mw[v][m] - _TOL
    o = np.lexsort((~partial, dist, cell[m]))
    c_sorted = cell[m][o]
    first = np.concatenate(([True], c_sorted[1:] != c_sorted[:-1]))
    out[c_sorted[first]] = orders.order_id[v][m][o][first]
    return out


def _with_blocks(blocks, b_idx, b_cell, b_q, curves_in, n_cells, c_h, time_limit_s, max_iterations):
    """MILP over the cells blocks touch, then prices with accepted blocks as takers; exclude PABs."""
    cell, is_buy, q, p = curves_in
    touched = np.zeros(n_cells, dtype=bool)
    touched[b_cell] = True
    x_lo, x_hi = _acceptance_range(curves_in, b_cell, b_q, n_cells)
    # Only orders whose acceptance depends on the blocks are variables; the others are fixed and
    # move to the right-hand side (this keeps the MILP small: a window around each margin).
    free = touched[cell] & (x_hi - x_lo > _TOL)
    fixed = touched[cell] & ~free
    in_milp = np.flatnonzero(free)
    ublocks = np.unique(b_idx)
    bpos = np.searchsorted(ublocks, b_idx)
    local = -np.ones(n_cells, dtype=np.int64)
    local[touched] = np.arange(int(touched.sum()))
    sign_all = np.where(is_buy, 1.0, -1.0)
    rhs = -np.bincount(
        local[cell[fixed]], weights=sign_all[fixed] * x_lo[fixed], minlength=int(touched.sum())
    )
    m = Model(name="auction-blocks")
    sign = sign_all[in_milp]
    x = m.add_vars(
        len(in_milp),
        lb=x_lo[in_milp],
        ub=x_hi[in_milp],
        cost=-sign * p[in_milp] * c_h[cell[in_milp]],
        name="x",
    )
    b_price = np.array([blocks[j].price_eur_per_mwh for j in ublocks.tolist()])
    b_value = np.bincount(bpos, weights=b_q * c_h[b_cell], minlength=len(ublocks)) * b_price
    mar = np.array([blocks[j].min_acceptance_ratio for j in ublocks.tolist()])
    nb = len(ublocks)
    y = m.add_vars(nb, ub=1.0, integer=True, name="y")  # block on or off
    f = m.add_vars(nb, ub=1.0, cost=-b_value, name="f")  # share accepted: 0, or in [ratio, 1]
    k = np.arange(nb)
    m.add_constrs("share_hi", row=np.concatenate((k, k)), col=np.concatenate((f.idx, y.idx)),
                  val=np.concatenate((np.ones(nb), -np.ones(nb))), lb=-np.inf, ub=0.0, n_rows=nb)  # fmt: skip
    m.add_constrs("share_lo", row=np.concatenate((k, k)), col=np.concatenate((f.idx, y.idx)),
                  val=np.concatenate((np.ones(nb), -mar)), lb=0.0, ub=np.inf, n_rows=nb)  # fmt: skip
    m.add_constrs(
        "balance", row=np.concatenate((local[cell[in_milp]], local[b_cell])),
        col=np.concatenate((x.idx, f.start + bpos)), val=np.concatenate((sign, b_q)),
        lb=rhs, ub=rhs, n_rows=int(touched.sum()),
    )  # fmt: skip
    excluded: dict[int, float] = {}
    gap, it = 0.0, 0
    while True:
        it += 1
        sol = m.solve(time_limit_s=time_limit_s, mip_rel_gap=1e-6)
        gap = max(gap, 0.0 if np.isnan(sol.mip_gap) else sol.mip_gap)
        acc = sol.value(y) > 0.5
        share = np.where(acc, np.clip(sol.value(f), mar, 1.0), 0.0)
        taker_rows = np.flatnonzero(acc[bpos])
        t_cell, t_q = b_cell[taker_rows], b_q[taker_rows] * share[bpos[taker_rows]]
        curves = clear_curves(
            np.concatenate((cell, t_cell)), np.concatenate((is_buy, t_q > 0)), np.concatenate((q, np.abs(t_q))),
            np.concatenate((p, np.zeros(len(t_q)))), n_cells,
            taker=np.concatenate((np.zeros(len(q), bool), np.ones(len(t_q), bool))),
        )  # fmt: skip
        surplus = _block_surplus(bpos, b_cell, b_q, b_price, curves.price_eur_per_mwh, c_h, len(ublocks))
        pab = np.flatnonzero(acc & (surplus < -1e-6))
        if not len(pab) or it >= max_iterations:
            break
        worst = pab[np.argmin(surplus[pab])]
        excluded[int(ublocks[worst])] = float(surplus[worst])
        m.set_bounds(y, 0.0, 0.0, index=np.array([worst]))
    return {int(ublocks[j]): float(share[j]) for j in np.flatnonzero(acc)}, excluded, gap, it, curves


def _acceptance_range(curves_in, b_cell, b_q, n_cells) -> tuple[np.ndarray, np.ndarray]:
    """Per curve order, the least and most it can be accepted whatever blocks are accepted.

    Accepted buys grow and accepted sells shrink monotonically with the net block supply in a cell,
    so the two extremes (every sell block in, every buy block in) bound every block combination.
    """
    cell, is_buy, q, p = curves_in
    out = []
    for side in (b_q < 0, b_q > 0):
        t_cell, t_q = b_cell[side], b_q[side]
        c = clear_curves(
            np.concatenate((cell, t_cell)), np.concatenate((is_buy, t_q > 0)), np.concatenate((q, np.abs(t_q))),
            np.concatenate((p, np.zeros(len(t_q)))), n_cells,
            taker=np.concatenate((np.zeros(len(q), bool), np.ones(len(t_q), bool))),
        )  # fmt: skip
        out.append(c.accepted_mw[: len(q)])
    return np.minimum(*out), np.maximum(*out)


def _block_surplus(bpos, b_cell, b_q, b_price, price, c_h, n) -> np.ndarray:
    """Per block: (limit − clearing) × volume for buys, (clearing − limit) × volume for sells, EUR."""
    lam = np.nan_to_num(price[b_cell])
    return np.bincount(bpos, weights=(b_price[bpos] - lam) * b_q * c_h[b_cell], minlength=n)


def _block_outcomes(
    blocks, reasons, b_idx, b_cell, b_q, accepted, excluded, price, c_h
) -> list[BlockOutcome]:
    out = []
    for j, b in enumerate(blocks):
        if reasons[j]:
            out.append(BlockOutcome(b.order_id, False, float("nan"), f"rejected: {reasons[j]}"))
            continue
        rows = b_idx == j
        lam = np.nan_to_num(price[b_cell[rows]])
        s = float(((b.price_eur_per_mwh - lam) * b_q[rows] * c_h[b_cell[rows]]).sum())
        avg = float(np.average(lam, weights=np.abs(b_q[rows])))
        at = f"volume-weighted clearing price {avg:.4g} vs limit {b.price_eur_per_mwh:g} EUR/MWh"
        ratio = accepted.get(j, 0.0)
        s *= ratio if ratio else 1.0
        if j in accepted:
            part = "" if ratio >= 1 - 1e-9 else f" {ratio:.4g} of it (minimum {b.min_acceptance_ratio:g})"
            why = f"accepted{part}: surplus {s:.2f} EUR >= 0 ({at})"
        elif j in excluded:
            why = f"not accepted: would be paradoxically accepted (surplus {excluded[j]:.2f} EUR at the prices with it); excluded"
        elif s > 1e-6:
            why = f"not accepted: paradoxically rejected (surplus {s:.2f} EUR at the final prices, but accepting it lowers total welfare) ({at})"
        else:
            why = f"not accepted: out of the money ({at})"
        out.append(BlockOutcome(b.order_id, j in accepted, s, why, ratio))
    return out
