"""Orders: submit (with an ``Idempotency-Key``), list and read the visible ones, cancel one's own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from sqlalchemy.orm import Session

from gridflex.api.deps import Bearer, CachedCaller, Cookie, Now, Using, now, secret_of
from gridflex.api.groupcommit import GroupCommit
from gridflex.api.schemas import MAX_ID, DbId, OrderIn, OrderOut
from gridflex.market import OrderStatus
from gridflex.store import AuthError, authenticate
from gridflex.store.market import Orders, Submitted
from gridflex.store.tokens import digest

router = APIRouter(prefix="/v1/orders", tags=["orders"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="The same key and body again return the first answer; no second order is made.",
    ),
]


@router.post("", response_model=OrderOut, status_code=status.HTTP_201_CREATED)
async def submit_order(
    body: OrderIn,
    request: Request,
    response: Response,
    _: CachedCaller,
    creds: Bearer,
    cookie: Cookie = None,
    key: IdempotencyKey = None,
) -> OrderOut:
    # The hot path (ADR 0025): no thread-pool dependencies; the write joins the group commit, which
    # checks the token again in its transaction, so a token revoked a moment ago is refused.
    secret, at, fields = secret_of(creds, cookie), now(request), body.model_dump(mode="json")

    def work(session: Session, batched: bool) -> Submitted:
        verified = session.info.setdefault("gridflex.principals", {})  # once per token and batch
        principal = verified.get(secret)
        if principal is None:
            try:
                principal = verified[secret] = authenticate(session, secret, now=at)
            except AuthError:
                request.app.state.token_cache.drop(digest(secret))
                raise
        return Orders(session, principal).submit(fields, idempotency_key=key, now=at, savepoint=not batched)

    group: GroupCommit = request.app.state.group_commit
    done = await group.run(work)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderOut.model_validate(done.order)


@router.get("", response_model=list[OrderOut])
def list_orders(
    r: Using,
    product: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_ID, description="Return orders with an id above this (paging).")
    ] = 0,
) -> list[OrderOut]:
    rows = r.orders.list(product, None if status_ is None else status_.value, limit, after)
    return [OrderOut.model_validate(o) for o in rows]


@router.get("/{order_id}", response_model=OrderOut)
def get_order(order_id: DbId, r: Using) -> OrderOut:
    return OrderOut.model_validate(r.orders.get(order_id))


@router.post("/{order_id}/cancel", response_model=OrderOut)
def cancel_order(order_id: DbId, r: Using, at: Now) -> OrderOut:
    return OrderOut.model_validate(r.orders.cancel(order_id, now=at))
