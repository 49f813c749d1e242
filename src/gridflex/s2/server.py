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
(``s3cr3t  6f1c…  a2b4…``); blank lines and ``#`` comments are ignored. A token followed by the word
``@admin`` is an operator's token: it may open ``ws[s]://HOST:PORT/admin`` (and nothing else), where a
DSO or market agent sets a congestion limit at run time (JSON commands, see :meth:`CEM.admin_command`).

Re-planning: events that change the optimiser's input wake the planner at once (debounced); so does a
measurement or fill level that deviates from the running plan (at most once per device and period),
a disconnect of a controlled device and a new congestion limit. The last site model is kept
(:class:`~gridflex.s2.planner.WarmModel`): when only FRBC data or the limits changed, the re-solve is warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import json
import logging
import math
import re
import signal
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
from s2python.common import ControlType
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from gridflex.errors import DataError, GridflexError, Problem, SolverError, ValidationError
from gridflex.s2.admin import AdminError, check_command
from gridflex.s2.clock import Clock
from gridflex.s2.control import BY_SHORT, CONTROLS
from gridflex.s2.control.base import delay_s, trim
from gridflex.s2.planner import Plan, PlanRequest, WarmModel, plan_site
from gridflex.s2.planning_process import OUT_OF_TIME, PlanningProcess, in_daemon_thread
from gridflex.s2.protocol import MAX_POWER_W, SUPPORTED_CONTROL_TYPES, Device, Session, SessionState
from gridflex.scheduling import Site, load_site
from gridflex.scheduling.site import check_rolling

log = logging.getLogger("gridflex.s2")

PATH = re.compile(r"^/s2/([A-Za-z0-9_\-:.]{1,128})$")
ADMIN_PATH = "/admin"
ADMIN_SCOPE = "@admin"
Limit = float | list[float] | list[tuple[datetime | str, float]] | Any
"""A congestion limit: kW (from ``start`` on), kW per period, or ``(time, kW)`` pairs / a pandas Series."""


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
        rate_burst: float = 200.0,
        max_power_w: float = MAX_POWER_W,
        plan_time_limit_s: float | None = 10.0,
        plan_mip_rel_gap: float = 1e-3,
        planner: str = "thread",
        deviation_kw: float = 0.5,
        deviation_fill_frac: float = 0.05,
        control_types: Sequence[ControlType | str] | str | None = None,
        freeze_gc: bool = False,
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
        self.rate_per_s = rate_per_s  # frames per second per session (every frame counts), bursts of:
        self.rate_burst = rate_burst
        self.max_power_w = max_power_w  # a power value beyond it (W) is refused: INVALID_CONTENT
        # real time: HiGHS stops at the limit (or gap) and the best plan found is used; without one,
        # the last good plan is kept and its instructions sent again
        self.plan_time_limit_s = plan_time_limit_s
        self.plan_mip_rel_gap = plan_mip_rel_gap
        self.time_limit_hits = 0  # plans that stopped at the time limit
        if planner not in ("thread", "process"):
            raise ValueError(f"planner must be 'thread' or 'process', got {planner!r}")
        # "process": build and solve in a worker process (no GIL shared with the protocol loop)
        self.planner = planner
        self._process: PlanningProcess | None = None
        self.isolated: dict[str, Isolation] = {}  # resource id → why it is left out of the plans
        self._last_req: PlanRequest | None = None
        self._solved_req: PlanRequest | None = None  # the request the last solve was of
        self.devices: dict[str, Device] = {}
        # the control-type policy of every new device, best first (Session.set_preference changes one)
        self.control_types = (
            SUPPORTED_CONTROL_TYPES if control_types is None else parse_control_types(control_types)
        )
        self.connections: dict[str, _Conn] = {}
        self.last_plan: Plan | None = None
        self.last_error: GridflexError | None = None
        self.plans = 0
        self.frame_tap: Callable[[str, str], None] | None = None  # (resource id, frame) of every frame sent
        self.deviation_kw = deviation_kw  # |measured − planned| power of an FRBC device that re-plans
        self.deviation_fill_frac = deviation_fill_frac  # same for the fill level, share of its range
        self.replans: dict[str, int] = {}  # why the planner was woken: reason → count
        self.warm = WarmModel()  # the last site model, re-solved warm when only data changed
        self.loop_work = LoopWork()  # the last plan's steps on the loop (CPU, messages sent)
        self.freeze_gc = freeze_gc  # see freeze_after_plan
        self._frozen_at = 0  # connections at the last gc.freeze()
        self._limits: dict[str, list[tuple[float, float, float]]] = {"import": [], "export": []}
        self._deviation_period: dict[str, int] = {}
        self._planned_from: dict[str, float] = {}  # FRBC device → fill level the last plan started from
        self._dirty = asyncio.Event()
        self._plan_lock = asyncio.Lock()  # one plan at a time (see replan)
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
            # s2 frames are small JSON: deflate cost more CPU per frame than the frame's parsing and
            # about 50 KiB per connection (measured at 2,000 RMs), for a few hundred bytes saved
            compression=None,
        )
        if self.planner == "process":
            try:
                self._process = PlanningProcess(self.site)
            except (AssertionError, OSError) as exc:  # e.g. in a daemon process: no children allowed
                log.warning("no planning process (%s): planning in a thread", exc)
        self._planner_task = asyncio.create_task(self._planner(), name="cem-planner")
        sock = next(iter(self._server.sockets))
        return int(sock.getsockname()[1])

    async def start_planning(self) -> None:
        """Plan without listening: another server hands its connections to :meth:`handle`
        (`gridflex serve`'s ``/s2/ws``, on the REST API's port)."""
        if self._planner_task is None:
            self._planner_task = asyncio.create_task(self._planner(), name="cem-planner")

    async def handle(self, ws: Any) -> None:
        """Serve one authorised RM connection: ``ws`` behaves as a websockets ``ServerConnection``
        (``request.path`` ``/s2/<resource-id>``, ``remote_address``, async iteration of frames,
        ``send``, ``close``; a closed link raises ``ConnectionClosed``)."""
        await self._handle(ws)

    async def stop(self) -> None:
        """Close every connection (1001 going away), stop the planner, wait until all is closed."""
        if self._planner_task is not None:
            self._planner_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._planner_task
        if self._process is not None:
            self._process.close()  # a solve in progress is abandoned
            self._process = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # ---- connections ------------------------------------------------------------------------
    def _authorise(self, connection: ServerConnection, request: Request) -> Response | None:
        m = PATH.match(request.path)
        admin = request.path == ADMIN_PATH
        if m is None and not admin:
            return connection.respond(HTTPStatus.NOT_FOUND, "use /s2/<resource-id>\n")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        known: bool = False
        scope: frozenset[str] | None = None
        if scheme.lower() == "bearer":
            known, scope = self._token_scope(token.strip())
        is_admin = scope is not None and ADMIN_SCOPE in scope
        wrong = is_admin != admin or (m is not None and scope is not None and m.group(1) not in scope)
        if not known or wrong:
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
        if ws.request.path == ADMIN_PATH:
            await self._admin(ws)
            return
        rid = ws.request.path.removeprefix("/s2/")
        device = self.devices.setdefault(rid, Device(rid, preference=self.control_types))
        old = self.connections.get(rid)
        if old is not None:  # a newer connection of the same resource wins
            await old.ws.close(1000, "replaced by a newer connection")
        session = Session(device, self.max_frame_bytes, self.rate_per_s, self.rate_burst, self.max_power_w,
                          self.clock.now)  # fmt: skip
        conn = _Conn(ws, session, self.frame_tap)
        self.connections[rid] = conn
        log.info("RM %s connected from %s", rid, ws.remote_address)
        try:
            await conn.send(session.opening())
            async for frame in ws:
                if await self._on_frame(conn, frame):
                    await ws.close(1000, "session ended")
                    break
        except ConnectionClosed:
            pass
        finally:
            was_controlled = session.state == SessionState.CONTROL_TYPE_SELECTED
            session.state = SessionState.CLOSED
            if self.connections.get(rid) is conn:
                del self.connections[rid]
                log.info("RM %s disconnected (%d still connected)", rid, len(self.connections))
                if was_controlled:
                    self._wake("disconnect")

    async def _on_frame(self, conn: _Conn, frame: str | bytes) -> bool:
        """Handle one frame of an RM; whether to close. A method of its own, so that what a frame
        leaves (the outcome, its replies) is freed when it returns: held by the connection's loop
        until the next frame (a second later), it outlived young garbage collections and made each of
        them traverse it (at 2,000 RMs, a quarter of the objects a collection met)."""
        device = conn.session.device
        selected = device.control_type
        out = conn.session.handle_frame(frame)
        await conn.send(out.replies)
        if device.control_type != selected:
            log.info("RM %s: control type %s", device.resource_id, device.control_type.value)
        if any(e.replan for e in out.events):
            self._wake(next(e.kind for e in out.events if e.replan))
        elif any(e.kind in ("measurement", "status") for e in out.events) and self._deviates(device):
            self._wake("deviation")
        return out.close

    # ---- planning ---------------------------------------------------------------------------
    def request_replan(self, reason: str = "request") -> None:
        self._wake(reason)

    def _wake(self, reason: str) -> None:
        self.replans[reason] = self.replans.get(reason, 0) + 1
        self._dirty.set()

    def _deviates(self, dev: Device) -> bool:
        """Whether an FRBC device's measured power or fill level left the running plan (at most once
        per device and period, so a device that cannot follow does not re-plan in a loop)."""
        plan = self.last_plan
        if plan is None or dev.name not in plan.frbc_power_kw:
            return False
        now = self.clock.now()
        k = int((now - plan.start).total_seconds() // plan.step_s)
        if not 0 <= k < plan.n or self._deviation_period.get(dev.name) == k:
            return False
        # Instructions start with the RM's processing delay: accept the previous period's value too.
        ks = [k] if k == 0 else [k - 1, k]
        off = False
        if dev.measured_w is not None:
            kw = dev.measured_w / 1000.0
            planned = plan.frbc_power_kw[dev.name]
            off = all(abs(kw - planned[i]) > self.deviation_kw for i in ks)
        st, sd = dev.frbc.storage_status, dev.frbc.system_description
        if not off and st is not None and sd is not None:
            fr = sd.storage.fill_level_range
            tol = self.deviation_fill_frac * max(fr.end_of_range - fr.start_of_range, 1e-9)
            fill = plan.frbc_fill[dev.name]
            before = fill[k - 1] if k > 0 else self._planned_from.get(dev.name)
            levels = [x for x in (before, fill[k]) if x is not None]
            lo, hi = min(levels) - tol, max(levels) + tol
            off = not lo <= st.present_fill_level <= hi
        if off:
            self._deviation_period[dev.name] = k
        return off

    # ---- congestion (DSO / market signal) ----------------------------------------------------
    def set_congestion_limit(
        self,
        import_kw: Limit = None,
        export_kw: Limit = None,
        start: datetime | None = None,
        step_s: int | None = None,
    ) -> None:
        """Cap the site's grid import (and/or export) in the next plans; re-plan now.

        Each limit is ``None`` (no limit in that direction), a number (kW, from ``start`` on, open
        ended), a sequence of kW per period of ``step_s`` (default: the site's step) from ``start``
        (default: the current period's start), or a time-stamped series: ``(time, kW)`` pairs (ISO
        strings or aware datetimes) or a pandas Series with a DatetimeIndex, each value holding until
        the next time (the last for one step). A period partly under a limit gets the lowest limit
        that touches it. The cap is soft (``CONGESTION_PENALTY_EUR_PER_KWH`` per kWh over), so a
        limit below the site's inflexible load gives the least possible excess, never a failed plan.
        """
        if step_s is not None and not (isinstance(step_s, int | float) and 0 < step_s < math.inf):
            raise ValueError(f"step_s must be a number > 0, got {step_s!r}")
        step = int(step_s or self.step_s)
        if start is None:
            now = self.clock.now().timestamp()
            t0 = now // self.step_s * self.step_s
        else:
            t0 = _ts(start)
        for side, value in (("import", import_kw), ("export", export_kw)):
            self._limits[side] = _segments(value, t0, step, side)
        self._wake("congestion")

    def clear_congestion_limit(self) -> None:
        self._limits = {"import": [], "export": []}
        self._wake("congestion")

    def congestion_limit_kw(self, start: datetime, step_s: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(import, export) limits per period of the grid ``start + k·step_s`` (inf: none)."""
        edges = start.timestamp() + np.arange(n + 1) * float(step_s)
        out = []
        for side in ("import", "export"):
            lim = np.full(n, np.inf)
            if self._limits[side]:  # one vectorised pass (a limit may hold 10,000 values)
                a, b, kw = np.asarray(self._limits[side], dtype=float).T
                touch = (edges[:-1, None] < b) & (edges[1:, None] > a)
                lim = np.minimum(lim, np.where(touch, kw, np.inf).min(axis=1))
            out.append(lim)
        return out[0], out[1]

    async def _admin(self, ws: ServerConnection) -> None:
        """The operator's WebSocket: one JSON command per frame, one JSON reply each; a bad command
        gets ``{"ok": false, "error": "<field>: ..."}`` and the connection stays open."""
        try:
            async for frame in ws:
                try:
                    cmd = json.loads(frame)
                except (ValueError, RecursionError):
                    cmd = _NOT_JSON
                try:
                    text = json.dumps(self.admin_command(cmd), allow_nan=False)
                except Exception as exc:  # the operator's socket must survive any command
                    log.warning("admin command failed: %s: %s", type(exc).__name__, str(exc)[:200])
                    text = json.dumps({"ok": False, "error": f"internal error: {type(exc).__name__}"})
                await ws.send(text)
        except ConnectionClosed:
            pass

    def admin_command(self, cmd: Any) -> dict[str, Any]:
        """Run one operator command (the ``/admin`` WebSocket's frames); returns the JSON reply.

        * ``{"action": "set_congestion_limit", "import_kw": …, "export_kw": …, "start": ISO, "step_s": s}``
          (the values as in :meth:`set_congestion_limit`; time-stamped series as ``[[ISO, kW], …]``)
        * ``{"action": "clear_congestion_limit"}``
        * ``{"action": "status"}``: plans so far, devices, the limits and the plan's net import (kW)

        Every field is checked first (:func:`gridflex.s2.admin.check_command`: types, finite values,
        0..1 GW, at most 10,000 values, whole seconds); a bad one gets ``{"ok": false, "error": ...}``
        naming it, and nothing changes.
        """
        if cmd is _NOT_JSON:
            return {"ok": False, "error": "command: not valid JSON"}
        try:
            action, args = check_command(cmd)
        except AdminError as exc:
            return {"ok": False, "error": str(exc)}
        if action == "set_congestion_limit":
            self.set_congestion_limit(**args)
        elif action == "clear_congestion_limit":
            self.clear_congestion_limit()
        now = self.clock.now()
        start = datetime.fromtimestamp(int(now.timestamp()) // self.step_s * self.step_s, UTC)
        imp, exp = self.congestion_limit_kw(start, self.step_s, self.n_periods)
        plan = self.last_plan

        def js(a: Any) -> list[float | None]:
            return [None if not math.isfinite(x) else round(float(x), 3) for x in a]

        isolated = {rid: iso.why for rid, iso in self.isolated.items()}
        return {"ok": True, "plans": self.plans, "devices": len(self.connections), "start": start.isoformat(),
                "isolated": isolated, "time_limit_hits": self.time_limit_hits,
                "last_error": None if self.last_error is None else str(self.last_error)[:300],
                "import_limit_kw": js(imp), "export_limit_kw": js(exp),
                "net_import_kw": None if plan is None else js(plan.net_import_kw)}  # fmt: skip

    def snapshot(self) -> PlanRequest:
        """The devices of live sessions as plain data on the current horizon (on the loop)."""
        *_, req = self._snapshot()
        return req

    def _snapshot(self, chunk: int = 0) -> Iterator[PlanRequest]:
        """:meth:`snapshot` in steps: the request (still filling) after every ``chunk`` devices, so
        the loop can answer frames between them (2,000 devices take ~90 ms), and once complete."""
        now = self.clock.now()
        epoch = int(now.timestamp()) // self.step_s * self.step_s
        start = datetime.fromtimestamp(epoch, UTC)
        req = PlanRequest(start, self.step_s, self.n_periods, warm=self.warm)
        if self._limits["import"] or self._limits["export"]:
            req.import_limit_kw, req.export_limit_kw = self.congestion_limit_kw(
                start, self.step_s, self.n_periods
            )
        req.time_limit_s, req.mip_rel_gap = self.plan_time_limit_s, self.plan_mip_rel_gap
        for i, (rid, conn) in enumerate(list(self.connections.items())):
            if chunk and i % chunk == chunk - 1:
                yield req
            dev = self.devices[rid]
            control = CONTROLS.get(dev.control_type)
            if conn.session.state == SessionState.CONTROL_TYPE_SELECTED and control is not None:
                control.snapshot(dev, dev.state, req, now, now + timedelta(seconds=delay_s(dev)))
        for rid, iso in list(self.isolated.items()):
            known = self.devices.get(rid)
            if known is None or known.revision != iso.revision or now.timestamp() >= iso.until:
                del self.isolated[rid]  # new data, or a period later: try it again
                log.info("RM %s: planned again after isolation", rid)
            else:
                req = req.without(known.name)
        yield req

    async def replan(self) -> Plan | None:
        """Snapshot, solve in a planning thread, send instructions; returns the plan (None if none).

        A failed plan is tried again without each device in turn: a device whose data alone makes
        the site infeasible is isolated (left out of the plans until it sends new data or a period
        passed; said in the log and in ``/admin`` status). With no plan at all, the last good plan's
        instructions are sent again. A call while the planner task plans waits for that plan: two at
        once would share the warm model (and HiGHS) from two threads."""
        async with self._plan_lock:
            with self.clock.holding():
                return await self._replan()

    async def _replan(self) -> Plan | None:
        work = self.loop_work = LoopWork()
        c = time.thread_time()
        for step in self._snapshot(chunk=200):
            req = step
            work.step(c)
            await asyncio.sleep(0)
            c = time.thread_time()
        if not (req.frbc or req.pebc or req.extra):
            return None
        plan = await self._plan_isolating(req)
        if plan is None:
            if self.last_plan is not None and self._last_req is not None:
                await self._send_instructions(self.last_plan, self._last_req)  # the last good plan
            return None
        req = self._solved_req or req
        self.last_plan, self.last_error, self._last_req = plan, None, req
        if plan.status == "time_limit":
            self.time_limit_hits += 1
            log.warning("plan %d stopped at the time limit (%.1f s): the best plan found is used",
                        self.plans + 1, self.plan_time_limit_s or 0.0)  # fmt: skip
        log.info("plan %d: %d device(s), net import %.1f..%.1f kW, cost %.2f EUR, %s solve %.3f s",
                 self.plans + 1, len(req.frbc) + len(req.pebc) + len(req.extra) + len(req.loads_kw),
                 plan.net_import_kw.min(initial=0.0), plan.net_import_kw.max(initial=0.0),
                 plan.costs_eur.get("total", 0.0), "warm" if plan.warm else "cold", plan.solve_s)  # fmt: skip
        self._planned_from = {f.name: f.fill_now for f in req.frbc}
        self.plans += 1
        await self._send_instructions(plan, req)
        if self.freeze_gc and len(self.connections) >= 2 * self._frozen_at:
            self._frozen_at = len(self.connections)
            freeze_after_plan()
        return plan

    async def _plan_isolating(self, req: PlanRequest) -> Plan | None:
        """The plan of ``req``, or of ``req`` without the one device that makes it fail (isolated)."""
        self._solved_req = req
        try:
            return await self._solve(req)
        except GridflexError as exc:
            first = exc
        if isinstance(first, SolverError) and first.status == OUT_OF_TIME:
            # no solution within the time limit (a loaded machine): no device's data is at fault
            self.last_error, self.time_limit_hits = first, self.time_limit_hits + 1
            log.warning(
                "no plan within the time limit (%.1f s): the last plan stays", self.plan_time_limit_s or 0.0
            )
            return None
        culprit = await (
            self._process.culprit(req) if self._process else in_daemon_thread(self._culprit, req)
        )
        if culprit is None:
            self.last_error = first
            log.warning("re-optimisation failed: %s", first)
            return None
        rid = culprit.removeprefix("s2-")
        dev = self.devices.get(rid)
        why = f"its data makes the site's plan fail ({' '.join(str(first).split())[:300]})"
        until = self.clock.now().timestamp() + self.step_s
        self.isolated[rid] = Isolation(why, dev.revision if dev is not None else -1, until)
        log.warning("RM %s isolated: %s; the other devices are planned without it", rid, why)
        req = req.without(culprit)
        self._solved_req = req
        try:
            return await self._solve(req)
        except GridflexError as exc:
            self.last_error = exc
            log.warning("re-optimisation failed: %s", exc)
            return None

    async def _solve(self, req: PlanRequest) -> Plan:
        if self._process is not None:
            return await self._process.plan(req)
        return await in_daemon_thread(plan_site, self.site, req)

    def _culprit(self, req: PlanRequest, max_tries: int = 16) -> str | None:
        """The device whose removal alone makes the plan succeed (in the planning thread), or None.
        Each trial builds a model of its own (the CEM's warm model is left as it was)."""
        for name in req.devices()[:max_tries]:
            trial = req.without(name)
            trial.warm = WarmModel(base=self.warm.base)  # the base site compiled once, reused
            try:
                plan_site(self.site, trial)
            except GridflexError:
                continue
            return name
        return None

    async def _planner(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the
            # event is set, and stop() would then wait for the next periodic plan
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(self.clock.real_s(self.step_s), 0.05)):
                    await self._dirty.wait()
            await asyncio.sleep(self.debounce_s)  # coalesce a burst of events into one plan
            self._dirty.clear()
            try:
                await self.replan()
            except Exception:  # the planner must survive anything a device sent
                log.exception("planner error")

    async def _send_instructions(self, plan: Plan, req: PlanRequest) -> None:
        now = self.clock.now()
        work = self.loop_work
        for conn in list(self.connections.values()):
            c = time.thread_time()
            dev = conn.session.device
            control = CONTROLS.get(dev.control_type)
            if conn.session.state != SessionState.CONTROL_TYPE_SELECTED or control is None:
                continue
            earliest = now + timedelta(seconds=delay_s(dev))
            out = control.instructions(dev, dev.state, plan, req, earliest, now, self.instructions_ahead)
            if out is None:  # not in this plan
                continue
            if out:
                await conn.send([conn.session.sent(m) for m in out])
                work.messages += len(out)
            trim(dev, now, (control.keep_periods or self.n_periods) * self.step_s)
            work.step(c)
            await asyncio.sleep(0)  # let frames of other sessions in between: one device at a time


_NOT_JSON = object()  # an /admin frame that does not parse


@dataclass
class LoopWork:
    """What a plan's own steps cost on the protocol loop: the snapshot, then the instructions, one
    device per step. Thread CPU time, so a loaded machine does not inflate it: ``max_step_s`` is the
    longest frames of other sessions had to wait for the planner, whatever the load."""

    cpu_s: float = 0.0
    max_step_s: float = 0.0
    messages: int = 0  # instructions and revocations sent

    def step(self, since: float) -> None:
        dt = time.thread_time() - since
        self.cpu_s += dt
        self.max_step_s = max(self.max_step_s, dt)


@dataclass(frozen=True)
class Isolation:
    """Why a device is left out of the plans, until its data changes or ``until`` (epoch s)."""

    why: str
    revision: int
    until: float


def _ts(t: datetime | str) -> float:
    d = datetime.fromisoformat(t) if isinstance(t, str) else t
    if d.tzinfo is None:
        raise ValueError(f"time {t} has no time zone")
    return d.timestamp()


def _segments(value: Any, t0: float, step_s: int, side: str) -> list[tuple[float, float, float]]:
    """A limit (see :meth:`CEM.set_congestion_limit`) as (from, to, kW) with epoch seconds."""
    if value is None:
        return []
    if hasattr(value, "index") and hasattr(value, "to_numpy") and not isinstance(value, list | tuple):
        value = [(t.to_pydatetime(), float(v)) for t, v in zip(value.index, value.to_numpy(), strict=True)]
    if isinstance(value, int | float):
        out = [(t0, math.inf, float(value))]
    elif len(value) and isinstance(value[0], list | tuple):
        pts = sorted((_ts(t), float(kw)) for t, kw in value)
        ends = [b for b, _ in pts[1:]] + [pts[-1][0] + step_s]
        out = [(a, b, kw) for (a, kw), b in zip(pts, ends, strict=True)]
    else:
        out = [(t0 + k * step_s, t0 + (k + 1) * step_s, float(kw)) for k, kw in enumerate(value)]
    if any(not kw >= 0 or math.isnan(kw) for _, _, kw in out):
        raise ValueError(f"{side} limit: every value must be a number >= 0 kW")
    return out


def tls_context(certfile: str | Path, keyfile: str | Path | None = None) -> ssl.SSLContext:
    """A server TLS context; raises DataError naming the file it cannot use."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(str(certfile), None if keyfile is None else str(keyfile))
    except (OSError, ssl.SSLError) as exc:
        why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        names = str(certfile) if keyfile is None else f"{certfile} / {keyfile}"
        raise DataError(f"cannot use TLS certificate / key {names}: {why}") from None
    return ctx


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``): only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen_options(
    host: str, port: int, certfile: str | Path | None, keyfile: str | Path | None
) -> list[Problem]:
    """Problems with ``cem serve``'s address and TLS options (checked before loading anything)."""
    out = []
    if not 0 <= port <= 65535:
        out.append(Problem("cem serve", "port", f"must be 0..65535 (0: any free port), got {port}"))
    if (certfile is None) != (keyfile is None):
        given, missing = ("keyfile", "certfile") if certfile is None else ("certfile", "keyfile")
        out.append(Problem("cem serve", given, f"--{given} needs --{missing} (wss:// needs both)"))
    return out


GC_YOUNG_THRESHOLD = 20_000
"""The CEM process's threshold for the collector's youngest generation (Python's default: 700); the
middle one is :data:`GC_MIDDLE_THRESHOLD`. What was measured (``benchmarks/s2_load.py``: ``cem_gc``,
thread CPU; ``--gc-census`` for what the collections met):

* Default thresholds, 2,000 RMs: a collection every 0.3 s, about a quarter of the process's CPU (900 ms
  in 20 s, a 400 ms full collection among them; 81 µs CPU per frame). At 20,000: 80 ms in 20 s, 71 µs
  per frame, on a quiet window; with re-planning on, an idle machine still saw 33 collections in
  20 s (900-965 ms), young ones up to 66 ms and middle ones up to 94 ms: a p99 latency of 112-116 ms.
* Not cyclic garbage (3,500 objects in 20 s, most collections freed 2-12 objects): a young collection
  costs what it traverses, and it met 20,000-80,000 young objects (0.15 µs each at 20,000, 0.9 µs at
  66,000: 58 ms). The young count rises by objects born minus those that die, so objects that replace
  others of the same kind (each RM's frame) add nothing to it but stay in the young list until the
  next collection. Per PowerMeasurement frame 16 such objects lived a second: the message kept as the
  device's measurement (8) and the frame's outcome held by the receive loop (8); now 0
  (``Device.measured_w``, ``CEM._on_frame``). Full collections traversed the 700,000 objects 2,000
  RMs hold (sessions, descriptions, 10,000 ReceptionStatus ids per session, up to 1,000 instruction
  records per device): 400-490 ms; now the ids are gone, records bounded (``control.base.trim``) and
  the process freezes what it holds after plans while its connections double
  (:func:`freeze_after_plan`): 51-78 ms on the loaded machine.
* After those changes, 2,000 RMs on the loaded machine (load 6-10, the CEM got a fifth of a core):
  1-3 collections in 20 s (51-75 ms CPU, the longest 47 ms) against 69 (63 young, 5 middle, one full:
  1,115 ms) before; not like for like, as the planner (niced) then finished no plan in the window,
  against 6 before, and a plan's instructions are a burst of young objects. The middle threshold of
  100 (default 10) is the lead's idle measurement before them: no middle collection in the window,
  p99 98 ms."""

GC_MIDDLE_THRESHOLD = 100
"""The collector's middle-generation threshold in the CEM process (default 10): see
:data:`GC_YOUNG_THRESHOLD`."""


def tune_gc() -> None:
    """Set :data:`GC_YOUNG_THRESHOLD` and :data:`GC_MIDDLE_THRESHOLD` for this process (``cem serve``
    does, before it listens)."""
    gc.set_threshold(GC_YOUNG_THRESHOLD, GC_MIDDLE_THRESHOLD, gc.get_threshold()[2])


def freeze_after_plan() -> None:
    """Collect, then move every object left to the collector's permanent generation (``gc.freeze``):
    the sessions, devices and descriptions a CEM holds for as long as its RMs stay connected are no
    longer traversed by each full collection. A CEM made with ``freeze_gc`` (``cem serve``) does it
    after a plan whenever its connections doubled since the last time: a few times while RMs connect,
    each one full collection (0.4 s at 2,000 RMs), then never: up to half the connections, those made
    after the last freeze, stay traversed. Frozen objects that die later are still freed by their
    reference counts; a frozen cycle (a closed connection's) is not, once per frozen object at most."""
    gc.collect()
    gc.freeze()


async def run_cem(
    site: Site,
    tokens: dict[str, frozenset[str] | None],
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    stop: asyncio.Event | None = None,
    control_types: Sequence[ControlType | str] | str | None = None,
    on_listening: Callable[[str], None] | None = None,
    clock: Clock | None = None,
    planner: str = "thread",
) -> None:
    """Run a CEM until ``stop`` is set (or SIGINT / SIGTERM), then shut down cleanly.

    ``on_listening(url)`` is called once the socket is bound (default: an INFO log line)."""
    stop = stop or asyncio.Event()
    tune_gc()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    # an "@admin" token in the tokens file opens /admin (congestion limits)
    cem = CEM(site, tokens, clock=clock, control_types=control_types, planner=planner, freeze_gc=True)
    bound = await cem.start(host, port, ssl_context)
    scheme = "wss" if ssl_context else "ws"
    url = f"{scheme}://{host}:{bound}/s2/<resource-id>"
    if on_listening is not None:
        on_listening(url)
    else:
        log.info("CEM for site '%s' listening on %s", site.name, url)
    try:
        await stop.wait()
    finally:
        await cem.stop()


CONTROL_TYPE_SHORT_NAMES: dict[str, ControlType] = BY_SHORT
"""Short forms a CEM policy may use besides the S2 names (FILL_RATE_BASED_CONTROL, …)."""


def parse_control_types(
    names: Sequence[ControlType | str] | str, where: tuple[str, str] = ("CEM", "control_types")
) -> tuple[ControlType, ...]:
    """A control-type policy, best first, from S2 names (``FILL_RATE_BASED_CONTROL``) or short forms
    (``FRBC``, ``PPBC``, ``OMBC``, ``PEBC``, ``DDBC``, ``NOT_CONTROLABLE``), as a sequence or one
    comma-separated string. Raises ValidationError naming ``where`` (object, field) for an unknown or
    repeated name, or none at all."""
    long = [c.value for c in CONTROL_TYPE_SHORT_NAMES.values() if c.value not in CONTROL_TYPE_SHORT_NAMES]
    valid = f"{', '.join(CONTROL_TYPE_SHORT_NAMES)} or the S2 names {', '.join(long)}"

    def bad(why: str) -> ValidationError:
        return ValidationError("options", [Problem(where[0], where[1], why)])

    words = names.split(",") if isinstance(names, str) else list(names)
    out: list[ControlType] = []
    for word in words:
        key = word.value if isinstance(word, ControlType) else str(word).strip().upper()
        if not key:
            continue
        ct = CONTROL_TYPE_SHORT_NAMES.get(key) or next(
            (c for c in CONTROL_TYPE_SHORT_NAMES.values() if c.value == key), None
        )
        if ct is None:
            raise bad(f"{str(word).strip()!r} is not a control type; valid: {valid}")
        if ct in out:
            raise bad(f"{str(word).strip()!r} is listed twice")
        out.append(ct)
    if not out:
        raise bad(f"no control type given; valid: {valid}")
    return tuple(out)


def serve(
    site_path: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    tokens_path: str | Path = "tokens.txt",
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    control_types: Sequence[ControlType | str] | str | None = None,
    on_listening: Callable[[str], None] | None = None,
    speed: float = 1.0,
    start: datetime | None = None,
    planner: str = "process",
) -> None:
    """``gridflex cem serve``: load the site and tokens, serve until interrupted.

    ``speed`` and ``start``: the CEM's clock (:class:`~gridflex.s2.clock.Clock`), as ``rm simulate``'s:
    simulated time from ``start`` (default: now) at ``speed`` simulated seconds per real second.
    ``planner``: "process" (default: plans in a worker process) or "thread".

    Refuses a key without a certificate (and the reverse) and a port outside 0..65535 before loading
    anything; warns when listening on a non-loopback address without TLS (tokens in clear text).
    ``on_listening(url)`` is called once the site is loaded and the socket bound.

    ``control_types``: the CEM's control-type policy for every device, best first (S2 names or
    FRBC, DDBC, OMBC, PPBC, PEBC, NOT_CONTROLABLE; a list or ``"PEBC,NOT_CONTROLABLE"``); default
    :data:`~gridflex.s2.protocol.SUPPORTED_CONTROL_TYPES`.
    """
    problems = check_listen_options(host, port, certfile, keyfile)
    if problems:
        raise ValidationError("options", problems)
    policy = None if control_types is None else parse_control_types(control_types)
    site = load_site(site_path)
    # once, at start: a site whose local windows cannot roll with the moving horizon is refused
    # here, not at every plan
    n_periods = site.time.n_periods or 96
    rolling = check_rolling(site, n_periods * site.time.step_s / 3600, site.time.step_s)
    if rolling:
        raise ValidationError(f"site file {site_path}", rolling)
    tokens = read_tokens(tokens_path)
    ctx = tls_context(certfile, keyfile) if certfile else None
    if ctx is None and not is_loopback(host):
        log.warning("listening on %s without TLS: bearer tokens and S2 data cross the network in clear "
                    "text (use --certfile and --keyfile)", host)  # fmt: skip
    clock = Clock(speed, start)
    asyncio.run(run_cem(site, tokens, host, port, ctx, control_types=policy, on_listening=on_listening,
                        clock=clock, planner=planner))  # fmt: skip
