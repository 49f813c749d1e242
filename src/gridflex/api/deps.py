"""The dependencies every route takes: one transaction, the caller (Bearer token), its repositories.

Tests override them (``app.dependency_overrides``) or hand ``create_app`` a store and a clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from gridflex.api.limits import TokenBuckets
from gridflex.store import AuthError, Principal, Repos, Store, authenticate

__all__ = ["SESSION_COOKIE", "Caller", "Now", "Tx", "Using", "caller", "now", "repos", "transaction"]

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer gfx_…`")
# The dashboard's sign-in keeps the same token in an HttpOnly, SameSite=Strict cookie (gridflex.web),
# so that pages, EventSource streams and fetches authenticate through this one dependency too.
SESSION_COOKIE = "gridflex_token"
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="The dashboard's sign-in cookie: an API token."
)


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def transaction(request: Request) -> Iterator[Session]:
    """The request's one transaction: committed before the response is sent, rolled back on error."""
    with store_of(request).transaction() as session:
        yield session


# scope="function": the commit happens before the answer leaves, so a 201 is always durable.
Tx = Annotated[Session, Depends(transaction, scope="function")]
Now = Annotated[datetime, Depends(now)]


def caller(
    request: Request,
    session: Tx,
    at: Now,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)] = None,
) -> Principal:
    if creds is not None and creds.scheme.lower() == "bearer" and creds.credentials:
        principal = authenticate(session, creds.credentials, now=at)
    elif cookie:
        principal = authenticate(session, cookie, now=at)
    else:
        raise AuthError("missing bearer token")
    buckets: TokenBuckets | None = request.app.state.rate_limits
    if buckets is not None and principal.token_id is not None:
        buckets.take(principal.token_id)
    return principal


Caller = Annotated[Principal, Depends(caller)]


def repos(session: Tx, principal: Caller) -> Repos:
    return Repos.of(session, principal)


Using = Annotated[Repos, Depends(repos)]
