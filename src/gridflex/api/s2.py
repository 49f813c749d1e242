"""S2 on the REST API's port: ``ws[s]://HOST:PORT/s2/ws/<site-id>/<resource-id>`` serves the RMs of
an uploaded site through the existing CEM (:class:`gridflex.s2.server.CEM`, one per site, created at
the first connection), and ``GET /v1/sites/{site_id}/s2-devices`` lists them for the site's owner.

The RM authenticates with an API token of the site's owner (``Authorization: Bearer gfx_…``) in the
HTTP upgrade: no token, an unknown one, or a site that is not the caller's is refused before the
WebSocket opens (HTTP 403), so no S2 message is exchanged. Frames are handled by the CEM's session
exactly as on its own port (size, rate, schema and content checks of :mod:`gridflex.s2.protocol`).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.exceptions import ConnectionClosedOK

from gridflex.api.deps import Using
from gridflex.api.schemas import DbId
from gridflex.s2.server import CEM, PATH
from gridflex.scheduling.site import parse_site
from gridflex.store import AuthError, NotFoundError, authenticate
from gridflex.store.uploads import SITE, Uploads

__all__ = ["S2DeviceOut", "router", "ws_router"]

router = APIRouter(prefix="/v1/sites", tags=["s2"])
ws_router = APIRouter()
MAX_FRAME_BYTES = 1 << 20


class S2DeviceOut(BaseModel):
    resource_id: str
    connected: bool
    control_type: str = Field(description="The S2 control type in use (NO_SELECTION before one is).")
    name: str | None = Field(description="The RM's name from its ResourceManagerDetails.")
    last_plan_start: datetime | None = Field(description="Start of the site's last plan.")
    planned_power_kw: list[float] | None = Field(description="This device's power in the last plan, kW.")


class _Link:
    """A Starlette WebSocket seen as the websockets ``ServerConnection`` the CEM serves."""

    def __init__(self, ws: WebSocket, resource_id: str) -> None:
        self.ws = ws
        self.request = SimpleNamespace(path=f"/s2/{resource_id}")
        self.remote_address = (ws.client.host, ws.client.port) if ws.client else None

    def __aiter__(self) -> _Link:
        return self

    async def __anext__(self) -> str | bytes:
        msg = await self.ws.receive()
        if msg["type"] == "websocket.disconnect":
            raise StopAsyncIteration
        text: str | None = msg.get("text")
        return text if text is not None else bytes(msg.get("bytes") or b"")

    async def send(self, frame: str) -> None:
        if self.ws.application_state != WebSocketState.CONNECTED:
            raise ConnectionClosedOK(None, None)
        try:
            await self.ws.send_text(frame)
        except (WebSocketDisconnect, RuntimeError, OSError):
            raise ConnectionClosedOK(None, None) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(RuntimeError, OSError):
            await self.ws.close(code, reason)


def _cems(app: Any) -> dict[int, CEM]:
    if not hasattr(app.state, "cems"):
        app.state.cems = {}
        app.state.cems_lock = asyncio.Lock()
    cems: dict[int, CEM] = app.state.cems
    return cems


def _owned_site(ws: WebSocket, site_id: int) -> dict[str, Any] | None:
    """The site's file if the Bearer token is its owner's (or an admin's), else None."""
    scheme, _, token = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with ws.app.state.store.transaction() as s:
        try:
            principal = authenticate(s, token.strip(), now=ws.app.state.clock())
            return dict(Uploads(s, principal).get(SITE, site_id).body)
        except (AuthError, NotFoundError):
            return None


@ws_router.websocket("/s2/ws/{site_id}/{resource_id}")
async def s2_endpoint(ws: WebSocket, site_id: DbId, resource_id: str) -> None:
    body = await asyncio.to_thread(_owned_site, ws, site_id)
    if body is None or PATH.match(f"/s2/{resource_id}") is None:
        await ws.close(code=1008)  # before accept: the upgrade is refused (HTTP 403)
        return
    cems = _cems(ws.app)
    async with ws.app.state.cems_lock:
        cem = cems.get(site_id)
        if cem is None:
            cem = CEM(parse_site(body), tokens={}, max_frame_bytes=MAX_FRAME_BYTES)
            await cem.start_planning()
            cems[site_id] = cem
    await ws.accept()
    await cem.handle(_Link(ws, resource_id))


@router.get("/{site_id}/s2-devices", response_model=list[S2DeviceOut])
def list_s2_devices(site_id: DbId, request: Request, r: Using) -> list[S2DeviceOut]:
    """The RMs that connected for the site (the owner's only): control type and last plan."""
    r.uploads.get(SITE, site_id)  # the caller's site, else 404
    cem = _cems(request.app).get(site_id)
    if cem is None:
        return []
    plan, out = cem.last_plan, []
    for rid, dev in sorted(cem.devices.items()):
        power = None if plan is None else (plan.frbc_power_kw.get(dev.name) if plan.frbc_power_kw else None)
        if plan is not None and power is None and dev.name in plan.pv_kw:
            power = -plan.pv_kw[dev.name]  # production: negative, as in S2
        out.append(
            S2DeviceOut(
                resource_id=rid, connected=rid in cem.connections, control_type=dev.control_type.value,
                name=None if dev.details is None else dev.details.name,
                last_plan_start=None if plan is None else plan.start,
                planned_power_kw=None if power is None else [round(float(x), 6) for x in power],
            )
        )  # fmt: skip
    return out
