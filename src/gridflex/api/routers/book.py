"""The order book of one product as the caller may see it (the market operator: all of it), and a
server-sent-events stream of the orders that arrive in it.

``GET /v1/book?product=…`` (every caller, its visible orders): per ISP, the open bids and offers in merit order (offers by rising price,
bids by falling price, market orders first) and the last clearing price. ``GET /v1/book/stream`` (the
market operator) sends
one ``order`` event per new visible order (``id:`` is the order id, so a reconnecting ``EventSource``
resumes after ``Last-Event-ID``), one ``clearing`` event per new clearing run, and a comment every
15 s to keep proxies open. The stream polls the store (``POLL_S``), so orders written by any process
(another server on the same database, a shell command) arrive too.
Quantities MW per ISP, prices EUR/MWh, times UTC.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from gridflex.api.deps import Caller, Using, store_of
from gridflex.api.schemas import MAX_ID, OrderOut
from gridflex.market import Product
from gridflex.store import NotFoundError, Principal, Repos, Role, Store
from gridflex.store.market import OPEN_STATUSES, product_of
from gridflex.store.tables import OrderRow
from gridflex.store.tenancy import orders_visible, require_role

__all__ = ["BookOut", "IspBook", "book_of", "router"]

router = APIRouter(prefix="/v1/book", tags=["book"])

POLL_S = 0.5  # how often the stream looks for new orders (one short read transaction)
HEARTBEAT_S = 15.0
MAX_BOOK_ORDERS = 10_000


class Level(BaseModel):
    order_id: int
    participant_org_id: int
    place: str
    quantity_mw: float
    price_eur_per_mwh: float | None = Field(description="None: a market order (any price).")
    cumulative_mw: float = Field(description="Quantity of this and every better order of its side.")


class IspBook(BaseModel):
    isp: int
    start: datetime
    bids: list[Level] = Field(description="Buy orders, highest price first.")
    offers: list[Level] = Field(description="Sell orders, lowest price first.")
    cleared_price_eur_per_mwh: float | None = None
    cleared_volume_mw: float | None = None


class BookOut(BaseModel):
    product: Product
    last_order_id: int = Field(description="Resume the stream after this id.")
    n_open_orders: int
    isps: list[IspBook]


def _levels(orders: list[Any], buy: bool) -> list[Level]:
    # market orders (no price) first, then by price (bids falling, offers rising), then by time
    def key(o: Any) -> tuple[int, float, int]:
        if o.price_eur_per_mwh is None:
            return (0, 0.0, o.id)
        return (1, -o.price_eur_per_mwh if buy else o.price_eur_per_mwh, o.id)

    out, total = [], 0.0
    for o in sorted(orders, key=key):
        open_mw = o.quantity_mw - o.accepted_mw
        total += open_mw
        out.append(
            Level(
                order_id=o.id, participant_org_id=o.participant_org_id, place=o.place,
                quantity_mw=open_mw, price_eur_per_mwh=o.price_eur_per_mwh, cumulative_mw=round(total, 9),
            )
        )  # fmt: skip
    return out


def book_of(r: Repos, product_id: str) -> BookOut:
    """The visible open orders of a product, per ISP in merit order, with the last clearing's prices."""
    product = product_of(r.products.get(product_id))
    rows: list[Any] = []
    for st in OPEN_STATUSES:
        after = 0
        while len(rows) < MAX_BOOK_ORDERS:
            page = r.orders.list(product_id, st, 1000, after)
            rows += page
            if len(page) < 1000:
                break
            after = page[-1].id
    cleared: dict[int, tuple[float, float]] = {}
    runs = r.clearing.list_runs(product_id)
    if runs:
        for c in runs[-1].cells.get("cells", []):
            if c.get("price_eur_per_mwh") is not None:
                cleared[int(c["isp"])] = (float(c["price_eur_per_mwh"]), float(c.get("volume_mw", 0.0)))
    starts = product.isp_starts_s()
    isps = []
    for k in range(product.n_isps):
        here = [o for o in rows if o.isp == k]
        price, volume = cleared.get(k, (None, None))
        isps.append(
            IspBook(
                isp=k, start=datetime.fromtimestamp(int(starts[k]), tz=product.delivery_start.tzinfo),
                bids=_levels([o for o in here if o.side == "buy"], True),
                offers=_levels([o for o in here if o.side == "sell"], False),
                cleared_price_eur_per_mwh=price, cleared_volume_mw=volume,
            )
        )  # fmt: skip
    # the stream resumes after the newest visible order of the product, whatever its status
    last = r.orders.s.scalar(
        select(func.max(OrderRow.id)).where(OrderRow.product_id == product_id, orders_visible(r.orders.p))
    )
    last = int(last or 0)
    return BookOut(product=product, last_order_id=last, n_open_orders=len(rows), isps=isps)


@router.get("", response_model=BookOut)
def get_book(
    r: Using,
    product: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Default: the newest product.")
    ] = None,
) -> BookOut:
    if product is None:
        products = r.products.list()
        if not products:
            raise NotFoundError("no product yet")
        product = products[-1].product_id
    return book_of(r, product)


def _new_orders(store: Store, principal: Principal, product: str | None, after: int) -> list[OrderOut]:
    with store.repos(principal) as r:
        return [OrderOut.model_validate(o) for o in r.orders.list(product, None, 500, after)]


def _runs(store: Store, principal: Principal, product: str | None) -> list[int]:
    with store.repos(principal) as r:
        return [run.id for run in r.clearing.list_runs(product)]


def _event(kind: str, data: BaseModel, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {data.model_dump_json()}\n\n"


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
async def stream_book(
    request: Request,
    principal: Caller,
    product: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="Send orders with an id above this.")] = 0,
    last_event_id: Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    """``event: order`` per new visible order of ``product`` (all products when omitted); ``event:
    clearing`` with the run id when a clearing run of it is written (order statuses changed)."""
    require_role(principal, Role.MARKET_OPERATOR, action="the live order book")
    store = store_of(request)
    start = max(after, last_event_id or 0)

    async def events() -> AsyncIterator[str]:
        last, quiet = start, 0.0
        runs = set(await run_in_threadpool(_runs, store, principal, product))
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            new = await run_in_threadpool(_new_orders, store, principal, product, last)
            for o in new:
                last = o.id
                yield _event("order", o, o.id)
            now_runs = set(await run_in_threadpool(_runs, store, principal, product))
            for run_id in sorted(now_runs - runs):
                yield f"event: clearing\ndata: {json.dumps({'run_id': run_id})}\n\n"
            if new or now_runs != runs:
                quiet = 0.0
            elif quiet >= HEARTBEAT_S:
                quiet = 0.0
                yield ": keep-alive\n\n"
            runs = now_runs
            await asyncio.sleep(POLL_S)
            quiet += POLL_S

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
