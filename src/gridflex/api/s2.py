"""S2 on the REST API's port: ``ws[s]://HOST:PORT/s2/ws/<site-id>/<resource-id>`` serves the RMs of
an uploaded site through the existing CEM (:class:`gridflex.s2.server.CEM`, one per site, created at
the first connection), and ``GET /v1/sites/{site_id}/s2-devices`` lists them for the site's owner.
A CEM that runs elsewhere (at the site, or ``gridflex demo --serve``'s on the day's clock) reports
its devices with ``PUT /v1/sites/{site_id}/s2-devices``: listed as ``source: reported``. Both are
kept in the server's memory, as its CEMs are: a restart forgets them until they report again.

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
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, WebSocket
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.websockets import WebSocketDisconnect, WebSocketState
from websockets.exceptions import ConnectionClosedOK

from gridflex.api.deps import Using
from gridflex.api.schemas import DbId
from gridflex.s2.server import CEM, PATH
from gridflex.scheduling.site import parse_site
from gridflex.store import AuthError, NotFoundError, authenticate
from gridflex.store.uploads import SITE, Uploads

__all__ = ["S2DeviceOut", "S2DeviceReport", "S2DevicesIn", "router", "ws_router"]

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
    source: Literal["service", "reported"] = Field(
        default="service", description="Served by this service's CEM, or reported by a CEM elsewhere."
    )
    power_kw: float | None = Field(default=None, description="Power now (reported), kW, + = consumption.")
    fill: float | None = Field(default=None, description="Fill level now (reported), in fill_unit.")
    fill_unit: str | None = None
    last_instruction: str | None = Field(
        default=None, description="The last S2 instruction's type (reported)."
    )
    last_instruction_at: datetime | None = Field(default=None, description="Its execution time (reported).")
    instructions: int | None = Field(
        default=None, description="S2 instructions the device received (reported)."
    )
    reported_at: datetime | None = Field(default=None, description="When the CEM reported, on its own clock.")


_Text = Annotated[str, Field(min_length=1, max_length=200)]


class S2DeviceReport(BaseModel):
    """One device as its CEM sees it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    resource_id: _Text
    name: _Text | None = None
    connected: bool
    control_type: Literal[
        "NO_SELECTION", "NOT_CONTROLABLE", "POWER_ENVELOPE_BASED_CONTROL", "POWER_PROFILE_BASED_CONTROL",
        "OPERATION_MODE_BASED_CONTROL", "FILL_RATE_BASED_CONTROL", "DEMAND_DRIVEN_BASED_CONTROL",
    ]  # fmt: skip
    power_kw: float | None = Field(None, ge=-1e6, le=1e6)
    fill: float | None = Field(None, ge=-1e6, le=1e6)
    fill_unit: Annotated[str, Field(max_length=16)] | None = None
    last_instruction: _Text | None = None
    last_instruction_at: AwareDatetime | None = None
    instructions: int = Field(0, ge=0, le=10**9)


class S2DevicesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime = Field(description="When the devices were in this state (the CEM's clock).")
    devices: list[S2DeviceReport] = Field(max_length=100)


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


def _reported(app: Any) -> dict[int, S2DevicesIn]:
    if not hasattr(app.state, "s2_reported"):
        app.state.s2_reported = {}
    reported: dict[int, S2DevicesIn] = app.state.s2_reported
    return reported


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
    report = _reported(request.app).get(site_id)
    out = [] if report is None else [
        S2DeviceOut(**d.model_dump(exclude={"last_instruction_at"}), source="reported",
                    last_instruction_at=d.last_instruction_at, reported_at=report.at, last_plan_start=None,
                    planned_power_kw=None)
        for d in report.devices
    ]  # fmt: skip
    cem = _cems(request.app).get(site_id)
    if cem is None:
        return out
    plan = cem.last_plan
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


@router.put("/{site_id}/s2-devices", response_model=list[S2DeviceOut])
def report_s2_devices(site_id: DbId, body: S2DevicesIn, request: Request, r: Using) -> list[S2DeviceOut]:
    """A CEM elsewhere reports the site's devices (the owner's only); replaces its last report."""
    r.uploads.get(SITE, site_id)  # the caller's site, else 404
    _reported(request.app)[site_id] = body
    return list_s2_devices(site_id, request, r)
