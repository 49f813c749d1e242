"""``GET /v1/events``: a server-sent-events stream of what the caller may see happen, from the moment
it connects: ``job`` (a visible job's status, stage or progress changed: its clearing, its site
schedules, its flex-offer steps), ``trade`` (a new trade of its own, or at its congestion points
for a DSO) and ``flex_request`` (a new local flexibility request it may see). The same mechanism as
the book's stream (:mod:`gridflex.api.routers.book`): the store is polled, so events written by any
process arrive; tenancy is the repositories' own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from gridflex.api.deps import Caller, store_of
from gridflex.api.routers.book import HEARTBEAT_S, POLL_S, _event
from gridflex.api.routers.flexrequests import request_out
from gridflex.api.schemas import JobOut, TradeOut
from gridflex.store import FlexRequests, Principal, Store
from gridflex.store.columns import utcnow

__all__ = ["router"]

router = APIRouter(prefix="/v1/events", tags=["events"])

Cursor = tuple[int, int, dict[int, tuple[str, str, float]]]  # last trade, last request, jobs seen


def _poll(store: Store, p: Principal, since: datetime, cur: Cursor) -> tuple[list[str], Cursor]:
    last_trade, last_req, seen = cur
    out: list[str] = []
    with store.repos(p) as r:
        for job in r.jobs.changing(since):
            state = (job.status, job.stage, job.progress)
            if seen.get(job.id) != state:
                seen[job.id] = state
                j = JobOut.model_validate(job)
                out.append(
                    _event("job", j.model_copy(update={"result": {}}))
                )  # the result: GET /v1/jobs/{id}
        for t in r.clearing.list_trades(None, 500, last_trade):
            last_trade = t.id
            out.append(_event("trade", TradeOut.model_validate(t), t.id))
        flex = FlexRequests(r.jobs.s, p)
        for req in reversed(flex.list_requests()):
            if req.id > last_req:
                last_req = req.id
                out.append(_event("flex_request", request_out(flex, req)))
    return out, (last_trade, last_req, seen)


def _start(store: Store, p: Principal) -> Cursor:
    with store.repos(p) as r:
        last_trade = 0
        while page := r.clearing.list_trades(None, 1000, last_trade):  # to the newest visible trade
            last_trade = page[-1].id
        reqs = FlexRequests(r.jobs.s, p).list_requests()
        return last_trade, max((q.id for q in reqs), default=0), {}


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events."}},
)
async def stream_events(request: Request, principal: Caller) -> StreamingResponse:
    """``event: job`` | ``trade`` | ``flex_request``, each with the object as JSON ``data``."""
    store = store_of(request)
    since = utcnow()

    async def events() -> AsyncIterator[str]:
        cur = await run_in_threadpool(_start, store, principal)
        quiet = 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            out, cur = await run_in_threadpool(_poll, store, principal, since, cur)
            for e in out:
                yield e
            if out:
                quiet = 0.0
            elif quiet >= HEARTBEAT_S:
                quiet = 0.0
                yield ": keep-alive\n\n"
            await asyncio.sleep(POLL_S)
            quiet += POLL_S

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
