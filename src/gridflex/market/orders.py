"""Orders (UMEI-shaped), their lifecycle, and the screening that rejects bad ones one by one.

Every order is keyed by participant, product, place and ISP. Quantities are MW per ISP (MW × ISP
hours = MWh), prices EUR/MWh, times UTC. A buy order bids to take energy, a sell order offers to
deliver it. ``price_eur_per_mwh = None`` is a market order (continuous book only).

Lifecycle (:class:`OrderStatus`)::

    received ─▶ rejected (with a reason)        screening failed
             └▶ active ─▶ partially_filled ─▶ filled
                      ├▶ cancelled                by the participant, or the rest of a fill-and-kill
                      └▶ expired                  gate closed / auction cleared without (the rest of) it

Screening is vectorized (:func:`screen_orders`): each bad order gets its own reason, and the others
go on to clearing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridflex.market.products import Product, epoch_s

__all__ = [
    "BlockOrder",
    "Execution",
    "Order",
    "OrderArrays",
    "OrderResult",
    "OrderStatus",
    "Side",
    "screen_orders",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Execution(StrEnum):
    """Execution restriction (continuous book)."""

    NORMAL = "normal"  # rests in the book until filled, cancelled or expired
    FILL_OR_KILL = "fill_or_kill"  # all at once or nothing, never rests
    FILL_AND_KILL = "fill_and_kill"  # whatever can be filled now, the rest is cancelled


class OrderStatus(StrEnum):
    RECEIVED = "received"
    ACTIVE = "active"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


_KEYS = ConfigDict(extra="forbid")


class Order(BaseModel):
    """A single-ISP order. Quantity and price are not range-checked here: screening does it, per order."""

    model_config = _KEYS

    order_id: str = Field(min_length=1)
    participant: str = Field(min_length=1)
    product: str = Field(description="product_id of the product traded.")
    place: str = Field("", description="Bidding zone or congestion point.")
    side: Side
    isp: int = Field(description="ISP index in the product horizon, 0-based.")
    quantity_mw: float = Field(description="Power over the ISP, MW (> 0).")
    price_eur_per_mwh: float | None = Field(
        None, description="Limit price; null is a market order (continuous book only)."
    )
    execution: Execution = Execution.NORMAL
    submitted_at: AwareDatetime | None = Field(
        None, description="Arrival time; defaults to the clearing time."
    )


class BlockOrder(BaseModel):
    """An order over several ISPs at one limit price (e.g. a baseload block), all or nothing unless
    ``min_acceptance_ratio`` < 1 (then any share between it and 1, the same in every ISP)."""

    model_config = _KEYS

    order_id: str = Field(min_length=1)
    participant: str = Field(min_length=1)
    product: str
    place: str = ""
    side: Side
    isps: list[int] = Field(min_length=1, description="ISP indices covered by the block.")
    quantity_mw: float | list[float] = Field(description="MW in every ISP, or one value per ISP of `isps`.")
    price_eur_per_mwh: float = Field(description="Limit price, volume-weighted over the block.")
    min_acceptance_ratio: float = Field(
        1.0, gt=0, le=1, description="Smallest share of the block that may be accepted (1: all or nothing)."
    )
    submitted_at: AwareDatetime | None = None


class OrderResult(BaseModel):
    """What happened to one order, and why."""

    order_id: str
    status: OrderStatus
    accepted_mw: float = 0.0
    reason: str = ""


# ---- arrays ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class OrderArrays:
    """Single-ISP orders as parallel arrays (what clearing runs on).

    ``product`` holds product ids (str); ``is_buy`` bool; ``isp`` int64; ``quantity_mw``,
    ``price_eur_per_mwh`` float64 (NaN: market order); ``submitted_s`` int64 seconds since the epoch
    (``NO_TIME``: not given, taken as the clearing time).
    """

    order_id: np.ndarray
    participant: np.ndarray
    product: np.ndarray
    place: np.ndarray
    is_buy: np.ndarray
    isp: np.ndarray
    quantity_mw: np.ndarray
    price_eur_per_mwh: np.ndarray
    submitted_s: np.ndarray

    def __len__(self) -> int:
        return len(self.order_id)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderArrays:
        def col(name: str) -> np.ndarray:
            return np.array([str(getattr(o, name)) for o in orders], dtype=str)

        return cls(
            order_id=col("order_id").astype(str),
            participant=col("participant").astype(str),
            product=col("product").astype(str),
            place=col("place").astype(str),
            is_buy=np.array([o.side is Side.BUY for o in orders], dtype=bool),
            isp=np.array([o.isp for o in orders], dtype=np.int64),
            quantity_mw=np.array([o.quantity_mw for o in orders], dtype=float),
            price_eur_per_mwh=np.array(
                [np.nan if o.price_eur_per_mwh is None else o.price_eur_per_mwh for o in orders], dtype=float
            ),
            submitted_s=np.array(
                [NO_TIME if o.submitted_at is None else epoch_s(o.submitted_at) for o in orders],
                dtype=np.int64,
            ),
        )

    @classmethod
    def build(
        cls,
        is_buy: np.ndarray,
        isp: np.ndarray,
        quantity_mw: np.ndarray,
        price_eur_per_mwh: np.ndarray,
        product: str = "P",
        place: str = "",
    ) -> OrderArrays:
        """Anonymous orders of one product and place, ids ``o0..``, participants ``p0..`` (tests, benchmarks)."""
        n = len(is_buy)
        ids = np.char.add("o", np.arange(n).astype(str))
        return cls(
            order_id=ids,
            participant=np.char.add("p", np.arange(n).astype(str)),
            product=np.full(n, product),
            place=np.full(n, place),
            is_buy=np.asarray(is_buy, dtype=bool),
            isp=np.asarray(isp, dtype=np.int64),
            quantity_mw=np.asarray(quantity_mw, dtype=float),
            price_eur_per_mwh=np.asarray(price_eur_per_mwh, dtype=float),
            submitted_s=np.full(n, NO_TIME, dtype=np.int64),
        )


NO_TIME = np.iinfo(np.int64).min


# ---- screening ------------------------------------------------------------------------------------
def _fmt(x: object) -> str:
    return f"{float(x):g}"  # type: ignore[arg-type]


def screen_orders(
    orders: OrderArrays,
    products: Mapping[str, Product] | Iterable[Product],
    now_s: int | None = None,
    kinds: Iterable[str] | None = None,
    market_orders: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Check every order against its product; return ``(ok, reason)``.

    ``ok`` is a bool array; ``reason`` an object array, ``""`` for a good order and one sentence for
    a rejected one (the first rule it breaks). ``now_s``: submission time assumed for orders without
    one. ``kinds``: product kinds the caller's mechanism accepts. ``market_orders``: whether a missing
    price is allowed. Runs in a few vectorized passes; only rejected orders get a formatted message.
    """
    if not isinstance(products, Mapping):
        products = {p.product_id: p for p in products}
    n = len(orders)
    reason = np.full(n, "", dtype=object)
    bad = np.zeros(n, dtype=bool)

    def reject(mask: np.ndarray, message) -> None:  # message: str or callable(index) -> str
        new = mask & ~bad
        if new.any():
            idx = np.flatnonzero(new)
            reason[idx] = [message(i) for i in idx] if callable(message) else message
            bad[idx] = True

    ids = orders.order_id
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = np.ones(n, dtype=bool)
        dup[first] = False  # the first occurrence of an id stays; later ones are rejected
        reject(dup, "duplicate order_id")
    q, p = orders.quantity_mw, orders.price_eur_per_mwh
    reject(~np.isfinite(q), "quantity_mw is not a finite number")
    reject(q <= 0, lambda i: f"quantity_mw must be > 0, got {_fmt(q[i])}")
    if market_orders:
        reject(np.isinf(p), "price_eur_per_mwh is not finite")
    else:
        reject(~np.isfinite(p), "price_eur_per_mwh is required (no market orders here)")
    known = np.isin(orders.product, list(products))
    reject(~known, lambda i: f"unknown product '{orders.product[i]}'")
    allowed_kinds = None if kinds is None else {str(k) for k in kinds}
    for pid in np.unique(orders.product[known]).tolist():
        prod = products[pid]
        sel = orders.product == pid
        if allowed_kinds is not None and str(prod.kind) not in allowed_kinds:
            reject(sel, f"product '{pid}' is a {prod.kind} product, not traded here")
            continue
        reject(
            sel & ((orders.isp < 0) | (orders.isp >= prod.n_isps)),
            lambda i, prod=prod: (
                f"ISP {orders.isp[i]} is outside the horizon of '{prod.product_id}' (0..{prod.n_isps - 1})"
            ),
        )
        if prod.places:
            reject(
                sel & ~np.isin(orders.place, prod.places),
                lambda i: f"place '{orders.place[i]}' not in product",
            )
        lo, hi = prod.price_min_eur_per_mwh, prod.price_max_eur_per_mwh
        reject(
            sel & ((p < lo) | (p > hi)),
            lambda i, lo=lo, hi=hi: f"price {_fmt(p[i])} EUR/MWh outside the limits [{_fmt(lo)}, {_fmt(hi)}]",
        )
        t = orders.submitted_s
        t = np.where(t == NO_TIME, NO_TIME if now_s is None else now_s, t)
        in_h = sel & ~bad
        gate = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        gate[in_h] = prod.gate_closure_s(orders.isp[in_h])
        reject(
            in_h & (t > gate),
            lambda i, gate=gate: f"submitted after gate closure ({np.datetime64(int(gate[i]), 's')}Z)",
        )
    return ~bad, reason
