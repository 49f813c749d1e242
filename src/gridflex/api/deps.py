"""The dependencies every route takes: one transaction, the caller (Bearer token), its repositories.

Tests override them (``app.dependency_overrides``) or hand ``create_app`` a store and a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gridflex.api.limits import TokenBuckets
from gridflex.store import AuthError, Principal, Repos, Store, authenticate
from gridflex.store.tokens import digest

__all__ = [
    "SESSION_COOKIE",
    "Bearer",
    "CachedCaller",
    "Caller",
    "Cookie",
    "Now",
    "TokenCache",
    "Tx",
    "Using",
    "caller",
    "now",
    "repos",
    "secret_of",
    "transaction",
]

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


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
Cookie = Annotated[str | None, Depends(_cookie)]


def secret_of(creds: HTTPAuthorizationCredentials | None, cookie: str | None) -> str:
    if creds is not None and creds.scheme.lower() == "bearer" and creds.credentials:
        return creds.credentials
    if cookie:
        return cookie
    raise AuthError("missing bearer token")


def _take(request: Request, principal: Principal) -> Principal:
    buckets: TokenBuckets | None = request.app.state.rate_limits
    if buckets is not None and principal.token_id is not None:
        buckets.take(principal.token_id)
    return principal


def caller(request: Request, session: Tx, at: Now, creds: Bearer, cookie: Cookie = None) -> Principal:
    return _take(request, authenticate(session, secret_of(creds, cookie), now=at))


Caller = Annotated[Principal, Depends(caller)]


class TokenCache:
    """Principals of tokens verified in the last ``ttl_s`` seconds, by the digest of the secret.

    Only for routes that authenticate again inside their own write transaction (the group commit:
    :func:`cached_caller`): there a revoked or expired token is refused at once, and the cache only
    spares the event loop a database round trip (and a thread hop) before the body is read."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._seen: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._seen.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl_s:
            return None
        return hit[1]

    def put(self, key: str, principal: Principal) -> None:
        if len(self._seen) >= self.max_entries:
            self._seen.clear()
        self._seen[key] = (time.monotonic(), principal)

    def drop(self, key: str) -> None:
        self._seen.pop(key, None)


def _authenticate_now(store: Store, secret: str, at: datetime) -> Principal:
    with store.transaction() as session:
        return authenticate(session, secret, now=at)


async def cached_caller(request: Request, creds: Bearer, cookie: Cookie = None) -> Principal:
    """The caller from :class:`TokenCache` (no database, no thread): for group-commit routes only,
    whose work calls :func:`gridflex.store.authenticate` again in its transaction."""
    secret = secret_of(creds, cookie)
    cache: TokenCache = request.app.state.token_cache
    key = digest(secret)
    principal = cache.get(key)
    if principal is None:
        principal = await run_in_threadpool(_authenticate_now, store_of(request), secret, now(request))
        cache.put(key, principal)
    return _take(request, principal)


CachedCaller = Annotated[Principal, Depends(cached_caller)]


def repos(session: Tx, principal: Caller) -> Repos:
    return Repos.of(session, principal)


Using = Annotated[Repos, Depends(repos)]
