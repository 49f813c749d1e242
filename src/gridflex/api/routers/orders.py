"""Orders: submit (with an ``Idempotency-Key``), list and read the visible ones, cancel one's own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request, Response, status
from sqlalchemy.orm import Session

from gridflex.api.deps import Bearer, CachedCaller, Cookie, Now, TokenCache, Using, now, secret_of
from gridflex.api.groupcommit import GroupCommit
from gridflex.api.schemas import MAX_ID, DbId, OrderIn, OrderOut
from gridflex.market import OrderStatus
from gridflex.store import AuthError
from gridflex.store.accounts import authenticate_all
from gridflex.store.market import Submission, Submitted, submit_orders
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
    fields, cache = body.model_dump(mode="json"), request.app.state.token_cache
    pending = _Pending(secret_of(creds, cookie), fields, key, now(request), cache)
    group: GroupCommit = request.app.state.group_commit
    done: Submitted = await group.run(_submit_batch, pending)
    if done.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return OrderOut.model_validate(done.order)


@dataclass(frozen=True)
class _Pending:
    """A submission waiting for the group commit; its caller is known once the token is checked."""

    secret: str
    fields: dict[str, Any]
    key: str | None
    at: datetime
    token_cache: TokenCache


def _submit_batch(session: Session, batch: list[_Pending], batched: bool) -> list[Submitted | Exception]:
    """The group commit's handler: the batch's tokens checked in its transaction, in one query
    (revoked → 401 for its submissions alone), then every submission in one :func:`submit_orders`."""
    verified = authenticate_all(session, {p.secret for p in batch}, now=max(p.at for p in batch))
    out: list[Submitted | Exception | None] = []
    todo: dict[int, Submission] = {}
    for i, p in enumerate(batch):
        who = verified[p.secret]
        if isinstance(who, AuthError):
            p.token_cache.drop(digest(p.secret))
            out.append(who)
        else:
            out.append(None)
            todo[i] = Submission(who, p.fields, p.key, p.at)
    for i, answer in zip(
        todo, submit_orders(session, list(todo.values()), savepoint=not batched), strict=True
    ):
        out[i] = answer
    return cast(list[Submitted | Exception], out)


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
