"""The CEM: an asyncio WebSocket server (websockets ≥ 14 asyncio API) speaking s2-ws-json.

RMs connect to ``ws[s]://HOST:PORT/s2/<resource-id>`` with ``Authorization: Bearer <token>``. The
token is checked in the HTTP upgrade (``process_request``): an unknown token gets HTTP 401 before
the WebSocket opens, so no S2 message is ever exchanged. Each connection gets a
:class:`~gridflex.s2.protocol.Session` over the resource's :class:`~gridflex.s2.protocol.Device`
(kept by resource id, so a reconnecting RM finds its state again). Frames are handled by the pure
``Session.handle_frame``; events wake the planner task, which coalesces bursts (``debounce_s``),
also runs once per period, snapshots the devices on the loop and solves in a worker thread
(``asyncio.to_thread``) so the loop keeps answering pings and frames while HiGHS works. Frames over
``max_frame_bytes`` close the connection (1009) inside websockets; pings keep idle links alive.

Tokens file: one token per line, optionally followed by the resource ids it may use
(``s3cr3t  6f1c…  a2b4…``); blank lines and ``#`` comments are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import signal
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

from s2python.common import ControlType, InstructionStatus, RevokableObjects, RevokeObject
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gridflex.errors import DataError, GridflexError
from gridflex.s2.clock import Clock
from gridflex.s2.planner import Plan, PlanRequest, plan_site
from gridflex.s2.protocol import Device, Session, SessionState
from gridflex.scheduling import Site, load_site

log = logging.getLogger("gridflex.s2")

PATH = re.compile(r"^/s2/([A-Za-z0-9_\-:.]{1,128})$")


def read_tokens(path: str | Path) -> dict[str, frozenset[str] | None]:
    """Token → the resource ids it may use (None: any). Raises DataError if the file is unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read tokens file {path}: {exc.strerror or exc}") from None
    out: dict[str, frozenset[str] | None] = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            out[words[0]] = frozenset(words[1:]) or None
    if not out:
        raise DataError(f"tokens file {path} holds no token")
    return out


@dataclass
class _Conn:
    ws: ServerConnection
    session: Session
    tap: Callable[[str, str], None] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, msgs: list[Any]) -> bool:
        try:
            async with self.lock:
                for m in msgs:
                    frame = m.to_json()
                    if self.tap is not None:
                        self.tap(self.session.device.resource_id, frame)
                    await self.ws.send(frame)
            return True
        except ConnectionClosed:
            return False


class CEM:
    """The customer energy manager: sessions, devices, the site and its planner (see module doc)."""

    def __init__(
        self,
        site: Site,
        tokens: dict[str, frozenset[str] | None],
        clock: Clock | None = None,
        debounce_s: float = 0.2,
        instructions_ahead: int = 8,
        max_frame_bytes: int = 1 << 20,
        ping_interval_s: float | None = 20.0,
        rate_per_s: float = 100.0,
    ) -> None:
        self.site = site
        self.tokens = tokens
        self.clock = clock or Clock()
        self.step_s = site.time.step_s
        self.n_periods = site.time.n_periods or 96
        self.debounce_s = debounce_s
        self.instructions_ahead = instructions_ahead
        self.max_frame_bytes = max_frame_bytes
        self.ping_interval_s = ping_interval_s
        self.rate_per_s = rate_per_s
        self.devices: dict[str, Device] = {}
        self.connections: dict[str, _Conn] = {}
        self.last_plan: Plan | None = None
        self.last_error: GridflexError | None = None
        self.plans = 0
        self.frame_tap: Callable[[str, str], None] | None = None  # (resource id, frame) of every frame sent
        self._dirty = asyncio.Event()
        self._server: Server | None = None
        self._planner_task: asyncio.Task[None] | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(
        self, host: str = "127.0.0.1", port: int = 8765, ssl_context: ssl.SSLContext | None = None
    ) -> int:
        """Listen (port 0: an ephemeral one); returns the port."""
        self._server = await ws_serve(
            self._handle,
            host,
            port,
            process_request=self._authorise,
            ssl=ssl_context,
            max_size=self.max_frame_bytes,
            ping_interval=self.ping_interval_s,
            ping_timeout=self.ping_interval_s,
            server_header="gridflex-cem",
        )
        self._planner_task = asyncio.create_task(self._planner(), name="cem-planner")
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        """Close every connection (1001 going away), stop the planner, wait until all is closed."""
        if self._planner_task is not None:
            self._planner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._planner_task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---- connections ------------------------------------------------------------------------
    def _authorise(self, connection: ServerConnection, request: Request) -> Response | None:
        m = PATH.match(request.path)
        if m is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "use /s2/<resource-id>\n")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        known: bool = False
        scope: frozenset[str] | None = None
        if scheme.lower() == "bearer":
            known, scope = self._token_scope(token.strip())
        if not known or (scope is not None and m.group(1) not in scope):
            resp = connection.respond(HTTPStatus.UNAUTHORIZED, "unknown token\n")
            resp.headers["WWW-Authenticate"] = 'Bearer realm="s2"'
            return resp
        return None

    def _token_scope(self, token: str) -> tuple[bool, frozenset[str] | None]:
        found: tuple[bool, frozenset[str] | None] = (False, None)
        for known, scope in self.tokens.items():  # compare with every token: no timing hint
            if hmac.compare_digest(known.encode(), token.encode()):
                found = (True, scope)
        return found

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        rid = ws.request.path.removeprefix("/s2/")
        device = self.devices.setdefault(rid, Device(rid))
        old = self.connections.get(rid)
        if old is not None:  # a newer connection of the same resource wins
            await old.ws.close(1000, "replaced by a newer connection")
        session = Session(device, self.max_frame_bytes, self.rate_per_s)
        conn = _Conn(ws, session, self.frame_tap)
        self.connections[rid] = conn
        try:
            await conn.send(session.opening())
            async for frame in ws:
                out = session.handle_frame(frame)
                await conn.send(out.replies)
                if any(e.replan for e in out.events):
                    self._dirty.set()
                if out.close:
                    await ws.close(1000, "session ended")
                    break
        except ConnectionClosed:
            pass
        finally:
            session.state = SessionState.CLOSED
            if self.connections.get(rid) is conn:
                del self.connections[rid]

    # ---- planning ---------------------------------------------------------------------------
    def request_replan(self) -> None:
        self._dirty.set()

    def snapshot(self) -> PlanRequest:
        """The devices of live sessions as plain data on the current horizon (on the loop)."""
        now = self.clock.now()
        epoch = int(now.timestamp()) // self.step_s * self.step_s
        start = datetime.fromtimestamp(epoch, UTC)
        req = PlanRequest(start, self.step_s, self.n_periods)
        for rid, conn in self.connections.items():
            dev = self.devices[rid]
            if conn.session.state != SessionState.CONTROL_TYPE_SELECTED:
                continue
            if dev.control_type == ControlType.FILL_RATE_BASED_CONTROL:
                fi = dev.frbc.inputs(dev.name, start, self.step_s, self.n_periods)
                if fi is not None:
                    req.frbc.append(fi)
            elif dev.control_type == ControlType.POWER_ENVELOPE_BASED_CONTROL:
                pi = dev.pebc.inputs(
                    dev.name, start, self.step_s, self.n_periods, dev.forecast, dev.measurement
                )
                if pi is not None:
                    req.pebc.append(pi)
            elif dev.control_type == ControlType.NOT_CONTROLABLE and dev.measurement is not None:
                from gridflex.s2.frbc import ELECTRIC

                w = sum(v.value for v in dev.measurement.values if v.commodity_quantity in ELECTRIC)
                req.loads_kw[dev.name] = [w / 1000.0] * self.n_periods  # type: ignore[assignment]
        return req

    async def replan(self) -> Plan | None:
        """Snapshot, solve in a worker thread, send instructions; returns the plan (None if none)."""
        req = self.snapshot()
        if not (req.frbc or req.pebc):
            return None
        try:
            plan = await asyncio.to_thread(plan_site, self.site, req)
        except GridflexError as exc:
            self.last_error = exc
            log.warning("re-optimisation failed: %s", exc)
            return None
        self.last_plan, self.last_error = plan, None
        self.plans += 1
        await self._send_instructions(plan, req)
        return plan

    async def _planner(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=max(self.clock.real_s(self.step_s), 0.05))
            await asyncio.sleep(self.debounce_s)  # coalesce a burst of events into one plan
            self._dirty.clear()
            try:
                await self.replan()
            except Exception:  # the planner must survive anything a device sent
                log.exception("planner error")

    async def _send_instructions(self, plan: Plan, req: PlanRequest) -> None:
        now = self.clock.now()
        by_name = {f.name: f for f in req.frbc}
        pv_by_name = {p.name: p for p in req.pebc}
        for conn in list(self.connections.values()):
            dev = conn.session.device
            if conn.session.state != SessionState.CONTROL_TYPE_SELECTED:
                continue
            delay_ms = dev.details.instruction_processing_delay.root if dev.details is not None else 0
            earliest = now + timedelta(milliseconds=delay_ms)
            new: list[Any] = []
            if dev.name in by_name:
                new = dev.frbc.instructions(by_name[dev.name], plan.frbc_rate_per_s[dev.name], plan.start,
                                            plan.step_s, earliest, self.instructions_ahead)  # fmt: skip
                kind = RevokableObjects.FRBC_Instruction
            elif dev.name in pv_by_name:
                one = dev.pebc.instruction(
                    pv_by_name[dev.name], plan.pv_kw[dev.name], plan.start, plan.step_s, earliest
                )
                new = [] if one is None else [one]
                kind = RevokableObjects.PEBC_Instruction
            else:
                continue
            msgs: list[Any] = [conn.session.sent(m) for m in self._revocations(dev, kind, now)]
            msgs += [conn.session.sent(m) for m in new]
            if msgs:
                await conn.send(msgs)

    @staticmethod
    def _revocations(dev: Device, kind: RevokableObjects, now: datetime) -> list[RevokeObject]:
        """Revoke the instructions of the previous plan that have not started yet."""
        out = []
        for iid, rec in dev.instructions.items():
            pending = rec.status in (InstructionStatus.NEW, InstructionStatus.ACCEPTED)
            if pending and rec.instruction.execution_time > now:
                rec.status = InstructionStatus.REVOKED
                out.append(RevokeObject(message_id=uuid.uuid4(), object_type=kind, object_id=iid))
        finished = [i for i, r in dev.instructions.items() if r.status in _FINAL]
        for iid in finished[: max(len(dev.instructions) - 1000, 0)]:
            del dev.instructions[iid]
        return out


_FINAL = {
    InstructionStatus.REVOKED,
    InstructionStatus.SUCCEEDED,
    InstructionStatus.ABORTED,
    InstructionStatus.REJECTED,
}


def tls_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certfile), None if keyfile is None else str(keyfile))
    return ctx


async def run_cem(
    site: Site,
    tokens: dict[str, frozenset[str] | None],
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a CEM until ``stop`` is set (or SIGINT / SIGTERM), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    cem = CEM(site, tokens)
    bound = await cem.start(host, port, ssl_context)
    scheme = "wss" if ssl_context else "ws"
    log.info("CEM for site '%s' listening on %s://%s:%d/s2/<resource-id>", site.name, scheme, host, bound)
    try:
        await stop.wait()
    finally:
        await cem.stop()


def serve(
    site_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    tokens_path: str | Path = "tokens.txt",
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
) -> None:
    """``gridflex cem serve``: load the site and tokens, serve until interrupted."""
    site = load_site(site_path)
    tokens = read_tokens(tokens_path)
    ctx = tls_context(certfile, keyfile) if certfile else None
    asyncio.run(run_cem(site, tokens, host, port, ctx))
