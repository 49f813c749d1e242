"""Continuous intraday book with price-time priority, one book per (product, place, ISP).

Orders: limit (a price) or market (no price); executions normal (the rest rests in the book),
fill-or-kill (all now or nothing) and fill-and-kill (what can be filled now, the rest cancelled);
partial fills; cancel; expiry at gate closure. A trade is priced at the resting order's price.

In memory and single-threaded: price levels are FIFO deques in a dict keyed by price, the best price
found through a heap (stale heap entries and cancelled orders are skipped lazily), so a submit costs
O(log levels + fills).
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from gridflex.market.orders import (
    Execution,
    Order,
    OrderResult,
    OrderStatus,
    Side,
)
from gridflex.market.products import Product, ProductKind

__all__ = ["ContinuousBook", "Trade"]

_EPS = 1e-9  # MW


class Trade(NamedTuple):  # a tuple: cheap to create by the hundred thousand
    seq: int
    product: str
    place: str
    isp: int
    buy_order: str
    sell_order: str
    buyer: str
    seller: str
    price_eur_per_mwh: float
    quantity_mw: float


class _Rec:
    """One order's state (kept for every order, resting or not)."""

    __slots__ = (
        "is_buy",
        "key",
        "live",
        "order_id",
        "participant",
        "price",
        "quantity",
        "reason",
        "remaining",
        "status",
    )

    def __init__(self, order_id, participant, key, is_buy, quantity, price):
        self.order_id, self.participant, self.key = order_id, participant, key
        self.is_buy, self.quantity, self.price = is_buy, quantity, price
        self.remaining = quantity
        self.live = False  # resting in the book (active or partially filled)
        self.status = OrderStatus.RECEIVED
        self.reason = ""

    @property
    def filled(self) -> float:
        return self.quantity - self.remaining


class _Side:
    __slots__ = ("heap", "levels", "sign", "volume")

    def __init__(self, is_buy: bool) -> None:
        self.sign = -1.0 if is_buy else 1.0  # heap key: best price first
        self.heap: list[float] = []
        self.levels: dict[float, deque[_Rec]] = {}
        self.volume: dict[float, float] = {}

    def add(self, rec: _Rec) -> None:
        level = self.levels.get(rec.price)
        if level is None:
            level = self.levels[rec.price] = deque()
            self.volume[rec.price] = 0.0
            heapq.heappush(self.heap, self.sign * rec.price)
        level.append(rec)
        rec.live = True
        self.volume[rec.price] += rec.remaining

    def best(self) -> float | None:
        """Best live price (drops empty levels on the way)."""
        heap, levels = self.heap, self.levels
        while heap:
            price = self.sign * heap[0]
            level = levels.get(price)
            while level and not level[0].live:
                level.popleft()
            if level:
                return price
            if level is not None:
                del levels[price], self.volume[price]
            heapq.heappop(heap)
        return None

    def available(self, limit: float, is_buy_taker: bool) -> float:
        """Volume resting at prices a taker with this limit accepts."""
        ok = (lambda p: p <= limit) if is_buy_taker else (lambda p: p >= limit)
        return sum(v for p, v in self.volume.items() if ok(p))


@dataclass(eq=False)
class ContinuousBook:
    """All instruments of the continuous products given; see the module docstring.

    ``submit`` screens an order against its product (unknown product, ISP outside the horizon,
    quantity, price limits, gate closure, duplicate id) and rejects it with a reason, or matches it.
    """

    products: Mapping[str, Product] | Iterable[Product]
    trades: list[Trade] = field(default_factory=list)
    _orders: dict[str, _Rec] = field(default_factory=dict)
    _books: dict[tuple, tuple[_Side, _Side]] = field(default_factory=dict)
    _gate: dict[tuple, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.products, Mapping):
            self.products = {p.product_id: p for p in self.products}

    # ---- entry points ------------------------------------------------------------------------
    def submit(self, order: Order, now_s: int | None = None) -> OrderResult:
        """Screen and match one order; the result says its status after matching, and why."""
        rec = _Rec(order.order_id, order.participant, (order.product, order.place, order.isp),
                   order.side is Side.BUY, order.quantity_mw, order.price_eur_per_mwh)  # fmt: skip
        if order.order_id in self._orders:
            return self._reject(rec, "duplicate order_id", register=False)
        why = self._screen(order, now_s)
        if why:
            return self._reject(rec, why)
        return self.match(rec, order.execution)

    def _screen(self, o: Order, now_s: int | None) -> str:
        """The rules of :func:`screen_orders` for one order, in plain Python (no arrays per order)."""
        q, p = o.quantity_mw, o.price_eur_per_mwh
        if not math.isfinite(q):
            return "quantity_mw is not a finite number"
        if q <= 0:
            return f"quantity_mw must be > 0, got {q:g}"
        if p is not None and math.isinf(p):
            return "price_eur_per_mwh is not finite"
        prod = self.products.get(o.product)  # type: ignore[union-attr]
        if prod is None:
            return f"unknown product '{o.product}'"
        if prod.kind is not ProductKind.ENERGY_CONTINUOUS:
            return f"product '{o.product}' is a {prod.kind} product, not traded here"
        if not 0 <= o.isp < prod.n_isps:
            return f"ISP {o.isp} is outside the horizon of '{prod.product_id}' (0..{prod.n_isps - 1})"
        if prod.places and o.place not in prod.places:
            return f"place '{o.place}' not in product"
        lo, hi = prod.price_min_eur_per_mwh, prod.price_max_eur_per_mwh
        if p is not None and not lo <= p <= hi:
            return f"price {p:g} EUR/MWh outside the limits [{lo:g}, {hi:g}]"
        t = int(o.submitted_at.timestamp()) if o.submitted_at is not None else now_s
        gate = self._gate_of((o.product, o.place, o.isp))
        if t is not None and t > gate:
            return f"submitted after gate closure ({np.datetime64(gate, 's')}Z)"
        return ""

    def submit_fast(
        self, order_id: str, participant: str, key: tuple, is_buy: bool, quantity_mw: float,
        price_eur_per_mwh: float | None, execution: Execution = Execution.NORMAL,
    ) -> OrderStatus:  # fmt: skip
        """Match an order already screened by the caller (bulk replay, benchmarks): no checks."""
        rec = _Rec(order_id, participant, key, is_buy, quantity_mw, price_eur_per_mwh)
        return self._match(rec, execution).status

    def cancel(self, order_id: str) -> OrderResult:
        rec = self._orders.get(order_id)
        if rec is None:
            return OrderResult(
                order_id=order_id, status=OrderStatus.REJECTED, reason="cancel: unknown order_id"
            )
        if rec.live:
            self._side(rec.key, rec.is_buy).volume[rec.price] -= rec.remaining
            rec.live = False
            rec.status, rec.reason = OrderStatus.CANCELLED, "cancelled by the participant"
        else:
            return OrderResult(order_id=order_id, status=rec.status, accepted_mw=rec.filled,
                               reason=f"cancel refused: order is already {rec.status}")  # fmt: skip
        return self._result(rec)

    def close_gates(self, now_s: int) -> list[str]:
        """Expire the resting orders of every ISP whose gate has closed at ``now_s``."""
        expired = []
        for rec in self._orders.values():
            if rec.live and now_s > self._gate_of(rec.key):
                self._side(rec.key, rec.is_buy).volume[rec.price] -= rec.remaining
                rec.live = False
                rec.status, rec.reason = OrderStatus.EXPIRED, "gate closed before it was filled"
                expired.append(rec.order_id)
        return expired

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._orders

    def status(self, order_id: str) -> OrderResult:
        return self._result(self._orders[order_id])

    def best_prices(self, product: str, isp: int, place: str = "") -> tuple[float | None, float | None]:
        """(best bid, best ask) of one instrument."""
        bids, asks = self._books.get((product, place, isp), (None, None))
        return (bids.best() if bids else None, asks.best() if asks else None)

    # ---- matching ------------------------------------------------------------------------------
    def match(self, rec: _Rec, execution: Execution) -> OrderResult:
        return self._result(self._match(rec, execution))

    def _match(self, rec: _Rec, execution: Execution) -> _Rec:
        self._orders[rec.order_id] = rec
        own, other = self._pair(rec.key, rec.is_buy)
        limit = rec.price if rec.price is not None else (math.inf if rec.is_buy else -math.inf)
        if execution is Execution.FILL_OR_KILL and other.available(limit, rec.is_buy) < rec.quantity - _EPS:
            rec.status, rec.reason = (
                OrderStatus.CANCELLED,
                "fill-or-kill: not enough volume at the limit price",
            )
            return rec
        rec.status = OrderStatus.ACTIVE
        self._take(rec, other, limit)
        if rec.remaining <= _EPS:
            rec.status, rec.reason = OrderStatus.FILLED, "filled"
        elif execution is not Execution.NORMAL or rec.price is None:
            word = "market order" if rec.price is None else "fill-and-kill"
            # the order is done: cancelled; `accepted_mw` tells what was filled before
            rec.status = OrderStatus.CANCELLED
            rec.reason = (
                f"{word}: the unfilled {rec.remaining:g} MW is cancelled (no more volume at the limit)"
            )
        else:
            rec.status = (
                OrderStatus.PARTIALLY_FILLED if rec.remaining < rec.quantity - _EPS else OrderStatus.ACTIVE
            )
            rec.reason = "resting in the book"
            own.add(rec)
        return rec

    def _take(self, rec: _Rec, other: _Side, limit: float) -> None:
        product, place, isp = rec.key
        trades, volume, levels, is_buy = self.trades, other.volume, other.levels, rec.is_buy
        while rec.remaining > _EPS:
            best = other.best()
            if best is None or (best > limit if is_buy else best < limit):
                return
            level = levels[best]
            maker = level[0]
            qty = min(rec.remaining, maker.remaining)
            buy, sell = (rec, maker) if is_buy else (maker, rec)
            trades.append(Trade(len(trades), product, place, isp, buy.order_id, sell.order_id, buy.participant,
                                sell.participant, best, qty))  # fmt: skip
            rec.remaining -= qty
            maker.remaining -= qty
            volume[best] -= qty
            if maker.remaining <= _EPS:
                maker.status, maker.reason, maker.live = OrderStatus.FILLED, "filled", False
                level.popleft()
            else:
                maker.status = OrderStatus.PARTIALLY_FILLED

    # ---- helpers -------------------------------------------------------------------------------
    def _pair(self, key: tuple, is_buy: bool) -> tuple[_Side, _Side]:
        sides = self._books.get(key)
        if sides is None:
            sides = self._books[key] = (_Side(True), _Side(False))
        return (sides[0], sides[1]) if is_buy else (sides[1], sides[0])

    def _side(self, key: tuple, is_buy: bool) -> _Side:
        return self._pair(key, is_buy)[0]

    def _gate_of(self, key: tuple) -> int:
        gate = self._gate.get(key)
        if gate is None:
            prod = self.products[key[0]]  # type: ignore[index]
            gate = self._gate[key] = int(prod.gate_closure_s(np.array([key[2]]))[0])
        return gate

    def _reject(self, rec: _Rec, reason: str, register: bool = True) -> OrderResult:
        rec.status, rec.reason = OrderStatus.REJECTED, reason
        if register:
            self._orders[rec.order_id] = rec
        return self._result(rec)

    @staticmethod
    def _result(rec: _Rec) -> OrderResult:
        return OrderResult(
            order_id=rec.order_id, status=rec.status, accepted_mw=rec.filled, reason=rec.reason
        )
