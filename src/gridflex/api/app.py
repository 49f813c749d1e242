"""The application factory: routers, auth and tenancy as dependencies, errors as JSON, a body limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from gridflex.api import s2 as s2_routes
from gridflex.api.deps import TokenCache
from gridflex.api.errors import install_error_handlers
from gridflex.api.groupcommit import GroupCommit
from gridflex.api.limits import BodyLimit, TokenBuckets
from gridflex.api.routers import activations as activation_routes
from gridflex.api.routers import book as book_routes
from gridflex.api.routers import (
    clearing,
    events,
    flexoffers,
    health,
    jobs,
    orders,
    participants,
    places,
    products,
    sites,
    studies,
    tokens,
    users,
    webhooks,
)
from gridflex.api.routers import flexrequests as flex_routes
from gridflex.api.routers import metering as metering_routes
from gridflex.api.routers import series as series_routes
from gridflex.api.routers import settlements as settlement_routes
from gridflex.api.schemas import ErrorOut
from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.web.app import mount_dashboard

__all__ = ["API_VERSION", "MAX_BODY_BYTES", "ROUTERS", "create_app"]

API_VERSION = "1"
# Every router of the app, in order: the app includes these and only these (a test enumerates them).
ROUTERS = tuple(m.router for m in (health, participants, tokens, places, products, orders, clearing))
ROUTERS += (users.router,)
ROUTERS += (jobs.router,)
ROUTERS += (webhooks.router,)
ROUTERS += (flex_routes.router, book_routes.router, series_routes.router)  # the dashboard's resources
ROUTERS += (metering_routes.router, activation_routes.router, settlement_routes.router)  # after the FlexOrder
ROUTERS += (sites.router, flexoffers.router, s2_routes.router)  # a participant's documents, jobs, RMs
ROUTERS += (studies.router,)  # evaluation studies, their jobs' files
ROUTERS += (events.router,)  # what the caller may see happen (SSE)
MAX_BODY_BYTES = 1_000_000
# What every route may answer besides its success and 422 (documented, so clients and schemathesis know).
REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)."},
    401: {"model": ErrorOut, "description": "No valid token (missing, unknown, revoked, expired)."},
    403: {"model": ErrorOut, "description": "The caller's roles do not allow this."},
    404: {"model": ErrorOut, "description": "Not found, or not the caller's to see."},
    409: {"model": ErrorOut, "description": "Conflicts with the stored state."},
    413: {"model": ErrorOut, "description": "Body larger than the limit."},
    429: {"model": ErrorOut, "description": "The token's rate limit is reached; see Retry-After."},
    503: {"model": ErrorOut, "description": "The database is busy or unreachable; see Retry-After."},
}


def create_app(
    store: Store | None = None,
    url: str | None = None,
    clock: Callable[[], datetime] = utcnow,
    max_body_bytes: int = MAX_BODY_BYTES,
    rate_limit: TokenBuckets | None = None,
) -> FastAPI:
    """The REST API on ``store`` (or a store opened on ``url``; its schema must be up to date).

    ``clock`` gives "now" (gate closures, expiry): tests pass a fixed one. ``rate_limit``: the
    per-token request budget (None: unlimited; `gridflex serve` sets one).
    """
    app = FastAPI(
        title="gridflex",
        version=API_VERSION,
        summary="Energy flexibility marketplace: participants, tokens, products, orders, clearing.",
        docs_url=None,  # every route but /health and /openapi.json needs a token: no public HTML pages
        redoc_url=None,
    )
    app.state.store = store if store is not None else Store(url)
    app.state.clock = clock
    app.state.rate_limits = rate_limit
    app.state.token_cache = TokenCache()
    app.state.group_commit = GroupCommit(app.state.store)  # order submissions (ADR 0025)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, responses=REFUSALS)
    app.include_router(s2_routes.ws_router)  # S2 RMs on the API's port (the CEM of each site)
    mount_dashboard(app)  # last: it serves every path the API does not
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
