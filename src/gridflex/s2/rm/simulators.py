"""Device simulators that act as real resource managers (RMs) over the socket.

They are built on s2-python's own RM side (``S2AsyncConnection``, ``ResourceManagerHandler``,
``FRBCControlType`` / ``PEBCControlType``, ``WebsocketClientMedium`` with a bearer token): the
protocol plumbing is s2-python's, the physics is ours. Time comes from a :class:`~gridflex.s2.clock.Clock`
(``speed`` > 1 for accelerated runs). A dropped connection is re-established with the same
resource id (the CEM restores the device); a ``SessionRequest`` RECONNECT from the CEM does the
same, TERMINATE ends the run.

* ``battery`` (FRBC): fill level in kWh, charge / discharge / idle modes with efficiencies, leakage,
  an anti-toggle timer blocking mode changes, a fill-level target profile; instructions are
  executed at their execution time, with InstructionStatusUpdates (ACCEPTED, STARTED, SUCCEEDED,
  REVOKED, ABORTED) and Actuator/Storage/TimerStatus messages.
* ``pv`` (PEBC): a clear-sky production profile; obeys the power envelopes (production never above
  the envelope's lower limit in absolute value) and reports forecast and measurements.

Every kind announces its S2 energy roles (:data:`ROLES`) in its ResourceManagerDetails. Battery and PV
also offer NOT_CONTROLABLE, as do the devices whose ``control_types`` list it: not controlled, a
simulator only reports its power measurements. :meth:`Simulator.offer` announces other control
types during a session (a new ResourceManagerDetails), as an RM whose device changed does.

Connecting: over ``wss://`` the CEM's certificate is verified (system CAs, or ``cafile`` for a private
CA; ``insecure=True`` turns verification off, for tests only). HTTP 401/403, a bad URL or an untrusted
certificate end the run at once with :class:`RMConnectError`; other failures (refused, 404, timeout)
are retried ``retries`` times in a row with exponential backoff, then end it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from s2python.common import (
    Commodity,
    CommodityQuantity,
    ControlType,
    Duration,
    InstructionStatus,
    InstructionStatusUpdate,
    NumberRange,
    PowerForecast,
    PowerForecastElement,
    PowerForecastValue,
    PowerMeasurement,
    PowerRange,
    PowerValue,
    ReceptionStatus,
    ResourceManagerDetails,
    RevokeObject,
    Role,
    RoleType,
    SessionRequest,
    SessionRequestType,
    Timer,
    Transition,
)
from s2python.connection.asset_details import AssetDetails
from s2python.connection.async_ import S2AsyncConnection
from s2python.connection.async_.control_type.class_based import (
    FRBCControlType,
    NoControlControlType,
    PEBCControlType,
    ResourceManagerHandler,
    S2ControlType,
)
from s2python.connection.async_.medium.websocket import WebsocketClientMedium
from s2python.frbc import (
    FRBCActuatorDescription,
    FRBCActuatorStatus,
    FRBCFillLevelTargetProfile,
    FRBCFillLevelTargetProfileElement,
    FRBCInstruction,
    FRBCLeakageBehaviour,
    FRBCLeakageBehaviourElement,
    FRBCOperationMode,
    FRBCOperationModeElement,
    FRBCStorageDescription,
    FRBCStorageStatus,
    FRBCSystemDescription,
    FRBCTimerStatus,
)
from s2python.generated.gen_s2 import PEBCPowerEnvelopeConsequenceType, PEBCPowerEnvelopeLimitType
from s2python.pebc import PEBCAllowedLimitRange, PEBCInstruction, PEBCPowerConstraints

from gridflex.errors import GridflexError
from gridflex.s2.clock import Clock
from gridflex.s2.control.ombc import as_uuid
from gridflex.s2.rm import sim_devices, sim_frbc
from gridflex.s2.rm.sim_devices import _Control

log = logging.getLogger("gridflex.s2.sim")
ELEC = CommodityQuantity.ELECTRIC_POWER_3_PHASE_SYMMETRIC
KINDS = ("battery", "pv", *sim_frbc.FRBC_KINDS, *sim_devices.DEVICE_KINDS)
"""Simulators available now; washing-machine (PPBC), chp (OMBC) and hybrid-heatpump (DDBC) live in
:mod:`gridflex.s2.rm.sim_devices`; heatpump and ev (FRBC) in :mod:`gridflex.s2.rm.sim_frbc`."""

_P, _C, _S = RoleType.ENERGY_PRODUCER, RoleType.ENERGY_CONSUMER, RoleType.ENERGY_STORAGE
_E, _G, _H = Commodity.ELECTRICITY, Commodity.GAS, Commodity.HEAT
ROLES: dict[str, tuple[tuple[RoleType, Commodity], ...]] = {
    "battery": ((_S, _E),),
    "pv": ((_P, _E),),
    "heatpump": ((_C, _E), (_P, _H)),
    "ev": ((_C, _E),),  # the EV simulator only charges (no V2G)
    "washing-machine": ((_C, _E),),
    "chp": ((_P, _E), (_C, _G), (_P, _H)),
    "hybrid-heatpump": ((_C, _E), (_C, _G), (_P, _H)),
}
"""The S2 energy roles (role, commodity) each simulator kind announces in its ResourceManagerDetails."""


def roles(kind: str) -> list[Role]:
    return [Role(role=r, commodity=c) for r, c in ROLES[kind]]


def _uid() -> uuid.UUID:
    return uuid.uuid4()


# ── battery (FRBC) ──────────────────────────────────────────────────────────────────────────────


@dataclass
class BatteryPhysics:
    capacity_kwh: float = 10.0
    power_w: float = 5000.0
    eta: float = 0.95
    fill_kwh: float = 3.0
    leakage_kwh_per_h: float = 0.02
    target_kwh: float | None = 8.0  # reach at least this by ``target_after_s`` after activation
    target_after_s: float = 5400.0
    switch_timer_s: float = 60.0
    actuator_id: uuid.UUID = field(default_factory=_uid)
    charge_id: uuid.UUID = field(default_factory=_uid)
    discharge_id: uuid.UUID = field(default_factory=_uid)
    idle_id: uuid.UUID = field(default_factory=_uid)
    timer_id: uuid.UUID = field(default_factory=_uid)
    mode: uuid.UUID | None = None
    factor: float = 0.0
    timer_until: datetime | None = None
    clipped_kwh: float = 0.0  # energy the BMS refused because an instruction pushed past a limit
    history: list[tuple[datetime, float]] = field(default_factory=list)  # (time, fill level)

    def modes(self) -> dict[uuid.UUID, tuple[str, float, float, float, float]]:
        """Mode → (label, fill rate kWh/s at factor 0 and 1, power W at factor 0 and 1); S2 ranges
        run from low to high, so full discharge is factor 0 of the discharge mode."""
        p, eta = self.power_w, self.eta
        return {
            self.charge_id: ("charge", 0.0, p * eta / 3.6e6, 0.0, p),
            self.discharge_id: ("discharge", -p / eta / 3.6e6, 0.0, -p, 0.0),
            self.idle_id: ("idle", 0.0, 0.0, 0.0, 0.0),
        }

    def rate_kwh_per_s(self, mode: uuid.UUID | None, factor: float) -> float:
        m = self.modes().get(mode) if mode is not None else None
        return 0.0 if m is None else m[1] + factor * (m[2] - m[1])

    def power(self) -> float:
        m = self.modes().get(self.mode) if self.mode is not None else None
        return 0.0 if m is None else m[3] + self.factor * (m[4] - m[3])

    def step(self, dt_s: float) -> None:
        want = self.fill_kwh + self.rate_kwh_per_s(self.mode, self.factor) * dt_s
        want -= self.leakage_kwh_per_h * dt_s / 3600.0
        new = min(max(want, 0.0), self.capacity_kwh)
        if self.mode in (self.charge_id, self.discharge_id) and abs(new - want) > 1e-12:
            self.clipped_kwh += abs(new - want)
            self.mode, self.factor = self.idle_id, 0.0  # the BMS stops at the limit
        self.fill_kwh = new

    def system_description(self, now: datetime) -> FRBCSystemDescription:
        cap = self.capacity_kwh

        def mode(mid: uuid.UUID, spec: tuple[str, float, float, float, float]) -> FRBCOperationMode:
            label, f0, f1, p0, p1 = spec
            el = FRBCOperationModeElement(
                fill_level_range=NumberRange(start_of_range=0.0, end_of_range=cap),
                fill_rate=NumberRange(start_of_range=f0, end_of_range=f1),
                power_ranges=[PowerRange(start_of_range=p0, end_of_range=p1, commodity_quantity=ELEC)],
            )
            return FRBCOperationMode(
                id=mid, diagnostic_label=label, elements=[el], abnormal_condition_only=False
            )

        ids = (self.charge_id, self.discharge_id, self.idle_id)
        transitions = [
            Transition.model_validate(
                {
                    "id": _uid(),
                    "from": a,
                    "to": b,
                    "start_timers": [self.timer_id],
                    "blocking_timers": [self.timer_id],
                    "abnormal_condition_only": False,
                }
            )
            for a in ids
            for b in ids
            if a != b
        ]
        act = FRBCActuatorDescription(
            id=self.actuator_id,
            diagnostic_label="inverter",
            supported_commodities=[Commodity.ELECTRICITY],
            operation_modes=[mode(mid, spec) for mid, spec in self.modes().items()],
            transitions=transitions,
            timers=[
                Timer(
                    id=self.timer_id,
                    diagnostic_label="anti-toggle",
                    duration=Duration(int(self.switch_timer_s * 1000)),
                )
            ],
        )
        storage = FRBCStorageDescription(
            diagnostic_label="battery",
            fill_level_label="kWh",
            provides_leakage_behaviour=True,
            provides_fill_level_target_profile=self.target_kwh is not None,
            provides_usage_forecast=False,
            fill_level_range=NumberRange(start_of_range=0.0, end_of_range=cap),
        )
        return FRBCSystemDescription(message_id=_uid(), valid_from=now, actuators=[act], storage=storage)


def curtailable_pv_constraints(cid: uuid.UUID, valid_from: datetime, peak_w: float) -> PEBCPowerConstraints:
    """A PV inverter's PEBC.PowerConstraints: any production limit from 0 to ``peak_w``, no floor."""

    def limit(kind: PEBCPowerEnvelopeLimitType, lo: float) -> PEBCAllowedLimitRange:
        return PEBCAllowedLimitRange(commodity_quantity=ELEC, limit_type=kind, abnormal_condition_only=False,
                                     range_boundary=NumberRange(start_of_range=lo, end_of_range=0.0))  # fmt: skip

    return PEBCPowerConstraints(
        message_id=_uid(), id=cid, valid_from=valid_from, valid_until=None,
        consequence_type=PEBCPowerEnvelopeConsequenceType.VANISH,
        allowed_limit_ranges=[limit(PEBCPowerEnvelopeLimitType.UPPER_LIMIT, 0.0),
                              limit(PEBCPowerEnvelopeLimitType.LOWER_LIMIT, -peak_w)],
    )  # fmt: skip


class _Via:
    """A device stand-in for :class:`~gridflex.s2.rm.sim_devices._Control` whose activation is one of
    the simulator's own methods (battery, PV, uncontrolled)."""

    def __init__(self, activate: Any) -> None:
        self._activate = activate

    async def activate(self, connection: S2AsyncConnection, sim: Any) -> None:
        await self._activate(connection)


class _BatteryControl(_Control, FRBCControlType):
    pass


# ── PV (PEBC) ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class PVPhysics:
    peak_w: float = 4000.0
    constraints_id: uuid.UUID = field(default_factory=_uid)
    envelope: list[tuple[datetime, datetime, float]] = field(default_factory=list)  # (from, to, lower W)
    produced_kwh: float = 0.0
    curtailed_kwh: float = 0.0
    power_w: float = 0.0
    violations: int = 0
    curtailed_by_slot: dict[datetime, float] = field(default_factory=dict)  # 15-min slot start → kWh

    def available_w(self, t: datetime) -> float:
        h = t.hour + t.minute / 60 + t.second / 3600
        return self.peak_w * max(0.0, math.sin(math.pi * (h - 6.0) / 12.0))

    def lower_limit(self, t: datetime) -> float | None:
        for a, b, lo in reversed(self.envelope):
            if a <= t < b:
                return lo
        return None

    def step(self, t: datetime, dt_s: float) -> None:
        avail = self.available_w(t)
        lo = self.lower_limit(t)
        p = -avail if lo is None else max(-avail, lo)  # production is negative; obey the envelope
        if lo is not None and p < lo - 1e-6:
            self.violations += 1
        self.power_w = p
        self.produced_kwh += -p * dt_s / 3.6e6
        self.curtailed_kwh += (avail + p) * dt_s / 3.6e6
        if avail + p > 1e-9:  # by 15-min slot: the demo weighs it against that slot's price
            slot = t.replace(minute=t.minute // 15 * 15, second=0, microsecond=0)
            self.curtailed_by_slot[slot] = self.curtailed_by_slot.get(slot, 0.0) + (avail + p) * dt_s / 3.6e6


class _PVControl(_Control, PEBCControlType):
    pass


class _Uncontrolled(_Control, NoControlControlType):
    """NOT_CONTROLABLE: nothing planned runs any more; the device runs on its own (battery idle, PV
    unlimited) and the RM keeps reporting its power measurements only."""


class _Handler(ResourceManagerHandler):
    """s2-python's RM handler, able to announce other control types during a session."""

    def offer(self, control_types: list[S2ControlType]) -> ResourceManagerDetails:
        """Use ``control_types`` from now on; the ResourceManagerDetails that announces them."""
        for ct in control_types:
            ct.set_asset_details(self.asset_details)
        self._control_types = control_types
        return self.asset_details.to_resource_manager_details(control_types)

    @property
    def active(self) -> ControlType | None:
        """The control type the CEM selected and the RM activated (None: none)."""
        c = self._current_control_type
        return None if c is None else c.get_protocol_control_type()


# ── connecting ──────────────────────────────────────────────────────────────────────────────────


class RMConnectError(GridflexError):
    """The RM could not connect to its CEM (one line: the URL and why)."""


class _ConnectFailed(Exception):
    def __init__(self, message: str, final: bool) -> None:
        super().__init__(message)
        self.final = final  # retrying cannot help (401/403, bad URL, untrusted certificate)


def client_ssl_context(cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """Verify the CEM's certificate (system CAs, or ``cafile``); ``insecure``: no verification."""
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=cafile)


def _why(url: str, exc: BaseException) -> _ConnectFailed:
    """One line naming the URL and the reason; ``final`` when retrying cannot help."""
    from websockets.exceptions import InvalidStatus, InvalidURI

    if isinstance(exc, InvalidStatus):
        code = exc.response.status_code
        phrase = exc.response.reason_phrase
        hint = " (token not accepted)" if code in (401, 403) else ""
        return _ConnectFailed(f"{url}: HTTP {code} {phrase}{hint}", final=code in (401, 403))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _ConnectFailed(f"{url}: the CEM's certificate is not trusted ({exc.verify_message}); "
                              "--cafile trusts a private CA", final=True)  # fmt: skip
    # after the certificate error: SSLCertVerificationError is a ValueError too
    if isinstance(exc, InvalidURI | ValueError):
        return _ConnectFailed(f"{url}: not a ws:// or wss:// URL ({exc})", final=True)
    if isinstance(exc, ConnectionRefusedError):
        return _ConnectFailed(f"{url}: connection refused", final=False)
    if isinstance(exc, TimeoutError):
        return _ConnectFailed(f"{url}: timed out", final=False)
    return _ConnectFailed(f"{url}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}", final=False)


class _Medium(WebsocketClientMedium):
    """s2-python's client medium with our TLS context; connection errors are raised as they are
    (s2-python's own ``connect`` only knows verify-or-not and hides the HTTP status)."""

    def __init__(self, url: str, token: str, ssl_context: ssl.SSLContext | None) -> None:
        super().__init__(url=url, verify_certificate=True, bearer_token=token)
        self._ssl = ssl_context

    async def connect(self) -> None:
        from websockets.asyncio.client import connect as ws_connect

        kw: dict[str, Any] = {"additional_headers": {"Authorization": f"Bearer {self._bearer_token}"}}
        if self.url.startswith("wss://"):
            kw["ssl"] = self._ssl or client_ssl_context()
        try:
            self._ws = await ws_connect(uri=self.url, open_timeout=10, **kw)
        except BaseException:
            self._closed = True
            raise


def s2_resource_id(resource_id: str | uuid.UUID) -> uuid.UUID:
    """The S2 ``resource_id`` (a UUID) of a URL resource id: itself if a UUID, else a UUID derived
    from it (the CEM accepts any id of ``[A-Za-z0-9_-:.]``, S2 messages need a UUID)."""
    if isinstance(resource_id, uuid.UUID):
        return resource_id
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"gridflex-rm:{resource_id}")


# ── the RM process ──────────────────────────────────────────────────────────────────────────────


class Simulator:
    """One simulated device and its RM; ``run()`` until ``duration_s`` of simulated time passed."""

    def __init__(
        self,
        kind: str,
        url: str,
        token: str,
        clock: Clock | None = None,
        resource_id: uuid.UUID | str | None = None,
        tick_s: float = 0.05,
        report_every_s: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        retries: int = 8,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown simulator {kind!r}; available now: {', '.join(KINDS)}")
        self.kind = kind
        self.resource_id: uuid.UUID | str = resource_id or uuid.uuid4()  # the URL's id
        self.s2_resource_id = s2_resource_id(self.resource_id)
        self.ssl_context = ssl_context  # None: verify against the system CAs (wss://)
        self.retries = retries  # failed connection attempts in a row before giving up
        self.attempts = 0  # connection attempts, successful or not
        self.url = url.rstrip("/") + (
            "" if url.rstrip("/").endswith(str(self.resource_id)) else f"/{self.resource_id}"
        )
        self.token = token
        self.clock = clock or Clock()
        self.tick_s = tick_s
        self.report_every_s = report_every_s
        self.battery = BatteryPhysics() if kind == "battery" else None
        self.pv = PVPhysics() if kind == "pv" else None
        # PPBC / OMBC / DDBC devices (washing machine, CHP, hybrid heat pump): gridflex.s2.rm.sim_devices
        self.device: Any = sim_devices.make_device(kind) if kind in sim_devices.DEVICE_KINDS else None
        if kind in sim_frbc.FRBC_KINDS:  # heatpump, ev (FRBC): gridflex.s2.rm.sim_frbc, same interface
            self.device = sim_frbc.make_device(kind)
        own = self.device.control_types if self.device is not None else (
            ControlType.FILL_RATE_BASED_CONTROL if kind == "battery" else ControlType.POWER_ENVELOPE_BASED_CONTROL,
            ControlType.NOT_CONTROLABLE)  # fmt: skip
        self.offered: tuple[ControlType, ...] = tuple(own)  # announced in ResourceManagerDetails
        self._own = tuple(own)
        self.controlled = False  # a control type other than NOT_CONTROLABLE is active
        self.pending: list[Any] = []  # instructions waiting for their execution time
        self.statuses: dict[uuid.UUID, InstructionStatus] = {}
        self.received: list[Any] = []  # every instruction received
        self.connections = 0
        self.terminated = False
        self._active: S2AsyncConnection | None = None
        self._medium: WebsocketClientMedium | None = None
        self._conn: S2AsyncConnection | None = None
        self._handler: _Handler | None = None
        self._lock = asyncio.Lock()  # one report at a time; no report while other types are offered
        self._started: datetime | None = None

    def state(self) -> tuple[float, float | None]:
        """(power W, + = consumption, and the fill level or None) of the device right now: a
        battery's or an EV's stored energy in kWh, a heat pump's buffer in °C (``fill_unit``)."""
        if self.battery is not None:
            return self.battery.power(), self.battery.fill_kwh
        if self.pv is not None:
            return self.pv.power_w, None
        dev: Any = self.device
        fill = getattr(dev, "temp_c", None)
        if fill is None:
            fill = getattr(dev, "charged_kwh", None)
        return float(dev.power_w(self.clock.now())) if dev is not None else 0.0, fill

    @property
    def fill_unit(self) -> str:
        """The unit of :meth:`state`'s fill level: a heat pump's buffer in °C, stored energy in kWh."""
        return "°C" if getattr(self.device, "temp_c", None) is not None else "kWh"

    # ---- control-type activation ---------------------------------------------------------------
    async def activate_battery(self, conn: S2AsyncConnection) -> None:
        b = self.battery
        assert b is not None
        now = self.clock.now()
        self._started = self._started or now
        await conn.send_msg_and_await_reception_status(b.system_description(now))
        b.mode = b.mode or b.idle_id
        await conn.send_msg_and_await_reception_status(
            FRBCLeakageBehaviour(
                message_id=_uid(),
                valid_from=now,
                elements=[
                    FRBCLeakageBehaviourElement(
                        fill_level_range=NumberRange(start_of_range=0.0, end_of_range=b.capacity_kwh),
                        leakage_rate=b.leakage_kwh_per_h / 3600.0,
                    )
                ],
            )
        )
        if b.target_kwh is not None:
            left = max(b.target_after_s - (now - self._started).total_seconds(), 1.0)
            await conn.send_msg_and_await_reception_status(
                FRBCFillLevelTargetProfile(
                    message_id=_uid(),
                    start_time=now,
                    elements=[
                        FRBCFillLevelTargetProfileElement(
                            duration=Duration(int(left * 1000)),
                            fill_level_range=NumberRange(start_of_range=0.0, end_of_range=b.capacity_kwh),
                        ),
                        FRBCFillLevelTargetProfileElement(
                            duration=Duration(3_600_000),
                            fill_level_range=NumberRange(
                                start_of_range=b.target_kwh, end_of_range=b.capacity_kwh
                            ),
                        ),
                    ],
                )
            )
        self.set_active(conn)
        await self._report(conn, status=True)

    async def activate_pv(self, conn: S2AsyncConnection) -> None:
        pv = self.pv
        assert pv is not None
        now = self.clock.now()
        pc = curtailable_pv_constraints(pv.constraints_id, now, pv.peak_w)
        await conn.send_msg_and_await_reception_status(pc)
        start = now.replace(minute=0, second=0, microsecond=0)
        elements = [
            PowerForecastElement(duration=Duration(3_600_000), power_values=[PowerForecastValue.model_validate(
                {"value_expected": -pv.available_w(start + timedelta(minutes=30 + 60 * h)), "commodity_quantity": ELEC})])
            for h in range(24)
        ]  # fmt: skip
        await conn.send_msg_and_await_reception_status(
            PowerForecast(message_id=_uid(), start_time=start, elements=elements)
        )
        self.set_active(conn)
        await self._report(conn, status=True)

    async def activate_uncontrolled(self, conn: S2AsyncConnection) -> None:
        """NOT_CONTROLABLE: drop what was planned; the device runs on its own, measurements only."""
        self.pending.clear()
        if self.battery is not None:
            self.battery.mode, self.battery.factor = self.battery.idle_id, 0.0
        if self.pv is not None:
            self.pv.envelope.clear()
        self.set_active(conn, controlled=False)
        await self._report(conn, status=True)

    def deactivate(self) -> None:
        self._active = None

    def set_active(self, conn: S2AsyncConnection, controlled: bool = True) -> None:
        self._active, self.controlled = conn, controlled

    def capable(self) -> tuple[ControlType, ...]:
        """The control types this kind can be simulated under."""
        return (*[ct for ct in self._own if ct != ControlType.NOT_CONTROLABLE], ControlType.NOT_CONTROLABLE)

    async def offer(self, *control_types: ControlType) -> ReceptionStatus | None:
        """Announce other control types (best first): a new ResourceManagerDetails on the live
        connection (the next connections announce them too). A control type no longer offered stops
        at once: no more of its messages; the CEM then selects another one. Returns the CEM's
        ReceptionStatus (None when not connected)."""
        bad = [ct.value for ct in control_types if ct not in self.capable()]
        if bad or not control_types:
            raise ValueError(f"a {self.kind} simulator cannot offer {bad or 'no control type'}; "
                             f"it can: {', '.join(ct.value for ct in self.capable())}")  # fmt: skip
        self.offered = tuple(control_types)
        conn, handler = self._conn, self._handler
        if conn is None or handler is None:
            return None
        async with self._lock:
            if handler.active not in self.offered:
                self._active = None
            details = handler.offer(self._control_types())
            return await conn.send_msg_and_await_reception_status(details)

    # ---- instructions ------------------------------------------------------------------------
    async def queue_instruction(self, conn: S2AsyncConnection, msg: Any) -> None:
        self.received.append(msg)
        known = True
        if isinstance(msg, FRBCInstruction) and self.battery is not None:
            b = self.battery
            known = msg.actuator_id == b.actuator_id and msg.operation_mode in (
                b.charge_id,
                b.discharge_id,
                b.idle_id,
            )
        elif isinstance(msg, PEBCInstruction) and self.pv is not None:
            known = msg.power_constraints_id == self.pv.constraints_id
        elif self.device is not None:
            known = self.device.known(msg)
        status = InstructionStatus.ACCEPTED if known else InstructionStatus.REJECTED
        await self._status(conn, msg.id, status)
        if known:
            self.pending.append(msg)
            self.pending.sort(key=lambda m: m.execution_time)

    async def _on_revoke(self, conn: S2AsyncConnection, msg: Any, send_okay: Any) -> None:
        assert isinstance(msg, RevokeObject)
        before = len(self.pending)
        self.pending = [m for m in self.pending if as_uuid(m.id) != msg.object_id]
        await send_okay()
        if len(self.pending) < before:
            await self._status(conn, msg.object_id, InstructionStatus.REVOKED)

    async def _on_session_request(self, conn: S2AsyncConnection, msg: Any, send_okay: Any) -> None:
        assert isinstance(msg, SessionRequest)
        await send_okay()
        if msg.request == SessionRequestType.TERMINATE:
            self.terminated = True
        if self._medium is not None:
            await self._medium.disconnect()

    async def _status(self, conn: S2AsyncConnection, iid: uuid.UUID, status: InstructionStatus) -> None:
        iid = as_uuid(iid)
        self.statuses[iid] = status
        with contextlib.suppress(Exception):
            await conn.send_and_forget(InstructionStatusUpdate(
                message_id=_uid(), instruction_id=iid, status_type=status, timestamp=self.clock.now()))  # fmt: skip

    async def _execute_due(self, conn: S2AsyncConnection, now: datetime) -> None:
        while self.pending and self.pending[0].execution_time <= now:
            msg = self.pending.pop(0)
            if self.device is not None:
                await sim_devices.execute(self.device, conn, msg, now, self._status)
                continue
            await self._status(conn, msg.id, InstructionStatus.STARTED)
            if isinstance(msg, FRBCInstruction) and self.battery is not None:
                b = self.battery
                if b.mode != msg.operation_mode and b.timer_until is not None and b.timer_until > now:
                    await self._status(conn, msg.id, InstructionStatus.ABORTED)  # a blocking timer runs
                    continue
                if b.mode != msg.operation_mode:
                    b.timer_until = now + timedelta(seconds=b.switch_timer_s)
                    await conn.send_and_forget(FRBCTimerStatus(message_id=_uid(), timer_id=b.timer_id,
                                                               actuator_id=b.actuator_id, finished_at=b.timer_until))  # fmt: skip
                prev = b.mode
                b.mode, b.factor = msg.operation_mode, msg.operation_mode_factor
                await conn.send_and_forget(FRBCActuatorStatus(
                    message_id=_uid(), actuator_id=b.actuator_id, active_operation_mode_id=b.mode,
                    operation_mode_factor=b.factor, previous_operation_mode_id=prev, transition_timestamp=now))  # fmt: skip
            elif isinstance(msg, PEBCInstruction) and self.pv is not None:
                t = msg.execution_time
                for env in msg.power_envelopes[:1]:
                    for el in env.power_envelope_elements:
                        end = t + timedelta(milliseconds=el.duration.root)
                        self.pv.envelope.append((t, end, el.lower_limit))
                        t = end
            await self._status(conn, msg.id, InstructionStatus.SUCCEEDED)

    # ---- reporting and the physics loop --------------------------------------------------------
    async def _report(self, conn: S2AsyncConnection, status: bool) -> None:
        now = self.clock.now()
        if self.battery is not None:
            b = self.battery
            b.history.append((now, b.fill_kwh))
            if status and self.controlled:
                await conn.send_and_forget(
                    FRBCStorageStatus(message_id=_uid(), present_fill_level=b.fill_kwh)
                )
                await conn.send_and_forget(FRBCActuatorStatus(
                    message_id=_uid(), actuator_id=b.actuator_id, active_operation_mode_id=b.mode or b.idle_id,
                    operation_mode_factor=b.factor, previous_operation_mode_id=None, transition_timestamp=None))  # fmt: skip
            power = b.power()
        elif self.device is not None:
            if self.controlled:
                await self.device.report(conn, now, status)
            power = self.device.power_w(now)
        else:
            assert self.pv is not None
            power = self.pv.power_w
        await conn.send_and_forget(PowerMeasurement(message_id=_uid(), measurement_timestamp=now,
                                                    values=[PowerValue(commodity_quantity=ELEC, value=power)]))  # fmt: skip

    async def _physics(self, until: datetime | None) -> None:
        last = self.clock.now()
        last_report = asyncio.get_running_loop().time()
        while until is None or last < until:
            await asyncio.sleep(self.tick_s)
            now = self.clock.now()
            dt = (now - last).total_seconds()
            conn = self._active
            if conn is not None:
                with contextlib.suppress(Exception):
                    async with self._lock:
                        await self._execute_due(conn, now)
            if self.battery is not None:
                self.battery.step(dt)
            if self.pv is not None:
                self.pv.step(now, dt)
            if self.device is not None:
                self.device.step(now, dt)
            last = now
            if conn is not None and asyncio.get_running_loop().time() - last_report >= self.report_every_s:
                last_report = asyncio.get_running_loop().time()
                with contextlib.suppress(Exception):
                    async with self._lock:
                        if self._active is conn:
                            await self._report(conn, status=True)

    def _control_types(self) -> list[S2ControlType]:
        """s2-python control-type objects of the offered types, in the order offered."""
        own: list[S2ControlType]
        if self.kind in sim_frbc.FRBC_KINDS:
            own = sim_frbc.control_types(self.device, self)
        elif self.device is not None:
            own = sim_devices.control_types(self.device, self)
        else:
            own = [_BatteryControl(_Via(self.activate_battery), self) if self.kind == "battery"
                   else _PVControl(_Via(self.activate_pv), self)]  # fmt: skip
        by_type = {c.get_protocol_control_type(): c for c in own}
        # measurements only, for every kind
        by_type[ControlType.NOT_CONTROLABLE] = _Uncontrolled(_Via(self.activate_uncontrolled), self)
        return [by_type[ct] for ct in self.offered]

    async def _connect_once(self) -> None:
        details = AssetDetails(
            resource_id=self.s2_resource_id, provides_forecast=self.kind == "pv", provides_power_measurements=[ELEC],
            instruction_processing_delay=Duration(100), roles=roles(self.kind), name=f"simulated {self.kind}",
            manufacturer="gridflex", model="sim",
        )  # fmt: skip
        medium = _Medium(self.url, self.token, self.ssl_context)
        self.attempts += 1
        try:
            await medium.connect()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            raise _why(self.url, exc) from None
        self._medium = medium
        self.connections += 1
        conn = S2AsyncConnection(medium=medium)
        handler = _Handler(control_types=self._control_types(), asset_details=details)
        handler.register_handlers(conn)
        conn.register_handler(RevokeObject, self._on_revoke)
        conn.register_handler(SessionRequest, self._on_session_request)
        self._conn, self._handler = conn, handler
        try:
            await conn.run()
        finally:
            self._active = None
            self._conn = self._handler = None
            await medium.disconnect()

    async def run(self, duration_s: float | None = None, max_reconnects: int = 1000) -> dict[str, Any]:
        """Connect (and reconnect after drops) until ``duration_s`` simulated seconds passed; raises
        :class:`RMConnectError` when the CEM refuses the token (401/403), the URL or certificate is bad,
        or ``retries`` attempts in a row failed."""
        until = None if duration_s is None else self.clock.now() + timedelta(seconds=duration_s)
        physics = asyncio.create_task(self._physics(until))
        backoff = 0.05
        failed = 0  # connection attempts in a row that failed
        try:
            while not physics.done() and not self.terminated and self.connections <= max_reconnects:
                conn_task = asyncio.create_task(self._connect_once())
                await asyncio.wait({conn_task, physics}, return_when=asyncio.FIRST_COMPLETED)
                if not conn_task.done():
                    conn_task.cancel()
                why: _ConnectFailed | None = None
                try:
                    await conn_task
                except _ConnectFailed as exc:
                    why = exc
                except BaseException:  # a dropped session: reconnect
                    pass
                if why is None:
                    failed, backoff = 0, 0.05
                else:
                    failed += 1
                    if why.final or failed > self.retries:
                        raise RMConnectError(str(why))
                if physics.done() or self.terminated:
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        finally:
            physics.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await physics
            if self._medium is not None:
                with contextlib.suppress(Exception):
                    await self._medium.disconnect()
        return self.summary()

    async def drop(self) -> None:
        """Cut the socket without any S2 goodbye (tests: the RM must resume)."""
        if self._medium is not None and self._medium._ws is not None:
            self._medium._ws.transport.abort()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "resource_id": str(self.resource_id),
                               "connections": self.connections, "instructions": len(self.received)}  # fmt: skip
        if self.battery is not None:
            out.update(fill_kwh=self.battery.fill_kwh, clipped_kwh=self.battery.clipped_kwh)
        if self.pv is not None:
            out.update(produced_kwh=self.pv.produced_kwh, curtailed_kwh=self.pv.curtailed_kwh)
        if self.device is not None:
            out.update(self.device.summary())
        return out


async def run_simulator(kind: str, url: str, token: str, speed: float = 1.0, duration_s: float | None = None,
                        start: datetime | None = None, **kw: Any) -> dict[str, Any]:  # fmt: skip
    return await Simulator(kind, url, token, clock=Clock(speed, start), **kw).run(duration_s)


def simulate(kind: str, url: str, token: str, speed: float = 1.0, duration_s: float | None = None,
             resource_id: str | None = None, cafile: str | None = None, insecure: bool = False,
             retries: int = 8, start: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """``gridflex rm simulate KIND --url ws://host:port/s2 --token T``: run one simulated RM.

    ``url`` is the CEM's ``/s2`` base (the resource id is appended) or a full ``/s2/<id>`` URL;
    ``speed`` accelerates simulated time from ``start`` (default: now; give the CEM the same clock);
    ``duration_s`` (simulated) ends the run (None: forever). ``resource_id``: any id the CEM accepts (``[A-Za-z0-9_-:.]``, 1-128); ``cafile`` trusts a private
    CA over ``wss://``, ``insecure`` skips verification (tests only). Returns a summary (fill level,
    energy clipped or curtailed, connections, instructions); raises :class:`RMConnectError`.
    """
    try:
        ctx = client_ssl_context(cafile, insecure) if url.startswith("wss://") else None
    except (OSError, ssl.SSLError) as exc:
        raise RMConnectError(f"cafile {cafile}: cannot load it ({exc.strerror or exc})") from None
    return asyncio.run(run_simulator(kind, url, token, speed, duration_s, start, resource_id=resource_id or None,
                                     ssl_context=ctx, retries=retries))  # fmt: skip
