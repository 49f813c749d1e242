"""The S2 message handler: one frame in → replies out, events for the optimiser. No IO.

:class:`Session` is one WebSocket connection of a resource manager (RM); :class:`Device` is what
the CEM knows about that resource and survives reconnects (the CEM keeps it by resource id).
``Session.handle_frame(frame)`` returns an :class:`Outcome`: messages to send (in order), events
for the optimiser and whether to close. The state machine and the ReceptionStatus rules are in
docs/s2.md; in short:

====================  ==========================================================================
status                when
====================  ==========================================================================
INVALID_DATA          not UTF-8 / not JSON / not an object / no usable ``message_id`` (subject:
                      the nil UUID when the id cannot be read)
INVALID_MESSAGE       the frame breaks the S2 schema (s2-python's models), or an unknown type
INVALID_CONTENT       it refers to something unknown (instruction id, actuator, operation mode,
                      timer, revoked object) or is not a message an RM may send; or a number is
                      not finite, beyond ``MAX_ABS_VALUE``, a power beyond ``max_power_w``, or a
                      value far outside the device's declared ranges (a fill level)
TEMPORARY_ERROR       the session is over its message rate (try again later); every frame counts,
                      and over the rate a frame without a readable message_id gets no reply
PERMANENT_ERROR       out of order: anything but Handshake first, control-type messages before
                      SelectControlType or for another control type, no common protocol version
OK                    accepted (state updated, events emitted)
====================  ==========================================================================

A ReceptionStatus is never answered. Every check runs before any state changes, so a refused frame
leaves the session, the device and the optimiser inputs as they were.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from s2python.common import (
    ControlType,
    EnergyManagementRole,
    Handshake,
    HandshakeResponse,
    InstructionStatus,
    InstructionStatusUpdate,
    PowerForecast,
    PowerMeasurement,
    ReceptionStatus,
    ReceptionStatusValues,
    ResourceManagerDetails,
    RevokeObject,
    SelectControlType,
    SessionRequest,
    SessionRequestType,
)
from s2python.s2_parser import TYPE_TO_MESSAGE_CLASS

from gridflex.documents import problems_from_pydantic
from gridflex.s2.control import BY_SHORT, CONTROLS, EVENT_KINDS, new_states
from gridflex.s2.control.base import as_uuid, electric_w, revoke_pending
from gridflex.s2.schema import PROTOCOL_VERSION

NIL_UUID = uuid.UUID(int=0)
S2Msg = Any  # an s2-python message instance

SUPPORTED_CONTROL_TYPES: tuple[ControlType, ...] = tuple(CONTROLS)
"""Control types the CEM maps onto the optimiser, best first (the default policy): the more of the
device's flexibility a type describes, the better."""

CEM_ONLY = {
    "HandshakeResponse",
    "SelectControlType",
    "FRBC.Instruction",
    "PEBC.Instruction",
    "PPBC.ScheduleInstruction",
    "PPBC.StartInterruptionInstruction",
    "PPBC.EndInterruptionInstruction",
    "OMBC.Instruction",
    "DDBC.Instruction",
}
"""Messages only a CEM sends; from an RM they are refused with INVALID_CONTENT."""


MAX_ABS_VALUE = 1e12
"""The largest magnitude of any number an RM may send (fill levels in J, durations in ms included)."""
MAX_POWER_W = 1e7
"""Default bound of a power value (W): 10 MW, beyond any device in a building; a CEM may set another."""


def number_problem(data: Any, mtype: str, max_power_w: float, path: str = "") -> str | None:
    """The first non-finite or absurd number of a message (its path and why), else None. A number
    is a power when the message type or a key on its path says so (``PowerMeasurement``,
    ``power_ranges``, ``power_values``, ...)."""
    try:
        found = _bad_number(data, "power" in mtype.lower(), max_power_w)
    except RecursionError:
        return f"{path or 'message'}: nested too deeply"
    if found is None:
        return None
    keys, why = found
    where = path
    for k in reversed(keys):  # the path is only spelled out for a refused frame (every frame is walked)
        where = f"{where}[{k}]" if isinstance(k, int) else f"{where}.{k}" if where else k
    return f"{where}: {why}"


def _bad_number(x: Any, is_power: bool, max_power_w: float) -> tuple[list[str | int], str] | None:
    """(the keys from the bad number up to ``x``, why) for the first bad number within ``x``."""
    t = type(x)
    if t is float or t is int:  # not bool: type(True) is bool
        if t is float and not math.isfinite(x):
            return [], f"{x} is not a finite number"
        if abs(x) > MAX_ABS_VALUE:
            return [], f"{_g(x)} is beyond {MAX_ABS_VALUE:g}"
        if is_power and abs(x) > max_power_w:
            return [], f"{_g(x)} W is beyond the CEM's bound of {max_power_w:g} W"
    elif t is dict:
        for k, v in x.items():
            if type(v) is not str:
                found = _bad_number(v, is_power or "power" in k, max_power_w)
                if found is not None:
                    found[0].append(str(k))
                    return found
    elif t is list:
        for i, v in enumerate(x):
            found = _bad_number(v, is_power, max_power_w)
            if found is not None:
                found[0].append(i)
                return found
    return None


def _g(x: float | int) -> str:
    try:
        return f"{x:g}"
    except OverflowError:  # an int too large for a float
        return f"{str(x)[:12]}... ({len(str(x))} digits)"


class SessionState(StrEnum):
    CONNECTED = "CONNECTED"  # socket open, CEM Handshake sent; waiting for the RM's Handshake
    HANDSHAKE_DONE = "HANDSHAKE_DONE"  # HandshakeResponse sent; waiting for ResourceManagerDetails
    CONTROL_TYPE_SELECTED = "CONTROL_TYPE_SELECTED"  # SelectControlType sent; control-type messages flow
    CLOSED = "CLOSED"  # SessionRequest received or sent, or the socket closed


@dataclass(frozen=True)
class Event:
    """Something the optimiser may care about: ``kind`` of change on ``resource_id``."""

    kind: str  # details, control_type, measurement, forecast, system, status, target, revoked, instruction
    resource_id: str
    replan: bool = True


@dataclass
class Outcome:
    replies: list[S2Msg] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    close: bool = False  # close the socket after sending the replies
    reconnect: bool = False  # the RM asked to reconnect: keep the device state


@dataclass
class InstructionRecord:
    instruction: S2Msg
    status: InstructionStatus = InstructionStatus.NEW
    updated: datetime | None = None


@dataclass
class Device:
    """What the CEM knows about one resource; kept across reconnects of its RM."""

    resource_id: str
    details: ResourceManagerDetails | None = None
    control_type: ControlType = ControlType.NO_SELECTION
    # electric power of the last PowerMeasurement (W, phases summed; other quantities are not used):
    # a number, not the message, whose eight objects lived a second and met every young collection
    measured_w: float | None = None
    forecast: PowerForecast | None = None
    states: dict[ControlType, Any] = field(default_factory=dict)  # per control type (the registry's)
    preference: tuple[ControlType, ...] = SUPPORTED_CONTROL_TYPES  # the CEM's policy, best first
    instructions: dict[uuid.UUID, InstructionRecord] = field(default_factory=dict)
    revision: int = 0  # bumped on every accepted change that matters to the optimiser
    # control-type message type → when the CEM last accepted one (its clock): a plan moves a reported
    # state on from there (FRBC: the fill level)
    received: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.states:
            self.states = new_states(self.instructions)  # PPBC follows its programme through these

    @property
    def name(self) -> str:
        return f"s2-{self.resource_id}"

    @property
    def state(self) -> Any:
        """The state of the active control type (None before one is selected, or NOT_CONTROLABLE)."""
        return self.states.get(self.control_type)

    def state_of(self, short: str) -> Any:
        """The state of a control type by its short name (FRBC, …), whether active or not."""
        return self.states[BY_SHORT[short]]

    # each control type's state (what the RM told the CEM under that type), for tests and tools
    frbc = property(lambda self: self.state_of("FRBC"))
    pebc = property(lambda self: self.state_of("PEBC"))
    ppbc = property(lambda self: self.state_of("PPBC"))
    ombc = property(lambda self: self.state_of("OMBC"))
    ddbc = property(lambda self: self.state_of("DDBC"))


class _RateLimit:
    """Token bucket: ``rate`` messages per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.t = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def reception(subject: uuid.UUID, status: ReceptionStatusValues, label: str | None = None) -> ReceptionStatus:
    return ReceptionStatus(
        subject_message_id=subject, status=status, diagnostic_label=(label or None) and label[:200]
    )


def select_control_type(
    available: list[ControlType], preference: tuple[ControlType, ...] = SUPPORTED_CONTROL_TYPES
) -> ControlType:
    """The best control type both sides support (NO_SELECTION when none)."""
    for ct in preference:
        if ct in available:
            return ct
    return ControlType.NO_SELECTION


class Session:
    """One RM connection: the protocol state machine over a :class:`Device` (see module docstring)."""

    def __init__(
        self,
        device: Device,
        max_frame_bytes: int = 1 << 20,
        rate_per_s: float = 100.0,
        burst: float = 200.0,
        max_power_w: float = MAX_POWER_W,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.device = device
        self.max_power_w = max_power_w  # a larger power value (W) is refused: INVALID_CONTENT
        self.state = SessionState.CONNECTED
        self.max_frame_bytes = max_frame_bytes
        self.busy = False  # set by the server when it cannot keep up: TEMPORARY_ERROR
        self.awaiting: dict[uuid.UUID, str] = {}  # messages the CEM sent → type, until their ReceptionStatus
        self._limit = _RateLimit(rate_per_s, burst)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))  # the CEM's clock

    # ---- outgoing -------------------------------------------------------------------------
    def opening(self) -> list[S2Msg]:
        """The CEM's own Handshake, sent when the socket opens."""
        return [self.sent(Handshake(message_id=uuid.uuid4(), role=EnergyManagementRole.CEM,
                                    supported_protocol_versions=[PROTOCOL_VERSION]))]  # fmt: skip

    def sent(self, msg: S2Msg) -> S2Msg:
        """Register an outgoing message (awaiting its ReceptionStatus) and return it."""
        if hasattr(msg, "message_id"):
            self.awaiting[msg.message_id] = msg.message_type
            if len(self.awaiting) > 10_000:  # never answered: forget the oldest
                self.awaiting.pop(next(iter(self.awaiting)))
        if isinstance(msg, SessionRequest):
            self.state = SessionState.CLOSED
        if getattr(msg, "message_type", "").endswith("Instruction"):
            self.device.instructions[as_uuid(msg.id)] = InstructionRecord(msg)
        return msg

    # ---- incoming -------------------------------------------------------------------------
    def handle_frame(self, frame: str | bytes) -> Outcome:
        """Handle one received frame; never raises for any input."""
        try:
            return self._handle(frame)
        except Exception as exc:  # last line of defence: the server must not crash
            return Outcome(
                [
                    reception(
                        NIL_UUID,
                        ReceptionStatusValues.PERMANENT_ERROR,
                        f"internal error: {type(exc).__name__}",
                    )
                ]
            )

    def _refuse(self, subject: uuid.UUID, status: ReceptionStatusValues, label: str) -> Outcome:
        return Outcome([reception(subject, status, label)])

    def _handle(self, frame: str | bytes) -> Outcome:
        bad = ReceptionStatusValues
        # Every frame takes from the rate budget, junk and garbage included; over it, only a frame
        # with a readable message_id is answered (TEMPORARY_ERROR, so an RM sends it again): a flood
        # of junk gets no flood of INVALID_DATA back.
        limited = self.busy or not self._limit.take()
        if len(frame) > self.max_frame_bytes:
            return Outcome() if limited else self._refuse(
                NIL_UUID, bad.INVALID_DATA, f"frame over {self.max_frame_bytes} bytes")  # fmt: skip
        try:
            text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
            data = json.loads(text)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return Outcome() if limited else self._refuse(NIL_UUID, bad.INVALID_DATA, "not valid JSON")
        if not isinstance(data, dict):
            return Outcome() if limited else self._refuse(NIL_UUID, bad.INVALID_DATA, "not a JSON object")
        mtype = data.get("message_type")
        if mtype == "ReceptionStatus":  # never answered; still read, or instructions look unanswered
            self._on_reception_status(data)
            return Outcome()
        raw_id = data.get("message_id")
        try:
            subject = uuid.UUID(raw_id) if isinstance(raw_id, str) else None
        except ValueError:
            subject = None
        if subject is None:
            return Outcome() if limited else self._refuse(NIL_UUID, bad.INVALID_DATA, "no message_id (UUID)")
        if self.state == SessionState.CLOSED:
            return self._refuse(subject, bad.PERMANENT_ERROR, "session is closed")
        if limited:
            return self._refuse(subject, bad.TEMPORARY_ERROR, "busy; send again later")
        cls = TYPE_TO_MESSAGE_CLASS.get(mtype) if isinstance(mtype, str) else None
        if cls is None:
            return self._refuse(subject, bad.INVALID_MESSAGE, f"unknown message_type {str(mtype)[:64]!r}")
        try:
            msg = cls.model_validate(data)
        except Exception as exc:  # pydantic / S2ValidationError / ValueError
            return self._refuse(
                subject,
                bad.INVALID_MESSAGE,
                f"{mtype} breaks the schema: {_schema_problems(exc, data, str(mtype))}",
            )
        mtype = str(mtype)
        if mtype in CEM_ONLY:
            return self._refuse(subject, bad.INVALID_CONTENT, f"{mtype} is sent by a CEM, not an RM")
        order = self._order_problem(str(mtype))
        if order:
            return self._refuse(subject, bad.PERMANENT_ERROR, order)
        absurd = number_problem(data, mtype, self.max_power_w)
        if absurd:  # one device's broken sensor must not reach (and stop) the site's plan
            return self._refuse(subject, bad.INVALID_CONTENT, absurd)
        return self._dispatch(msg, subject)

    def _order_problem(self, mtype: str) -> str | None:
        if self.state == SessionState.CONNECTED:
            return None if mtype == "Handshake" else f"{mtype} before the Handshake"
        if mtype == "Handshake":
            return "Handshake repeated"
        if "." in mtype:
            if self.state != SessionState.CONTROL_TYPE_SELECTED:
                return f"{mtype} before SelectControlType"
            control = CONTROLS.get(self.device.control_type)
            if control is None or not mtype.startswith(control.prefix):
                return f"{mtype} does not belong to the active control type {self.device.control_type.value}"
        return None

    def _dispatch(self, msg: S2Msg, subject: uuid.UUID) -> Outcome:
        ok = ReceptionStatusValues.OK
        dev = self.device
        rid = dev.resource_id
        if isinstance(msg, Handshake):
            return self._on_handshake(msg, subject)
        if isinstance(msg, ResourceManagerDetails):
            return self._on_details(msg, subject)
        if isinstance(msg, SessionRequest):
            self.state = SessionState.CLOSED
            again = msg.request == SessionRequestType.RECONNECT
            return Outcome(
                [reception(subject, ok)], [Event("session", rid, replan=False)], close=True, reconnect=again
            )
        if isinstance(msg, PowerMeasurement):
            dev.measured_w = electric_w(msg.values)
            return Outcome(
                [reception(subject, ok)],
                [Event("measurement", rid, replan=dev.control_type == ControlType.NOT_CONTROLABLE)],
            )
        if isinstance(msg, PowerForecast):
            dev.forecast = msg
            dev.revision += 1
            return Outcome([reception(subject, ok)], [Event("forecast", rid)])
        if isinstance(msg, InstructionStatusUpdate):
            rec = dev.instructions.get(msg.instruction_id)
            if rec is None:
                return self._refuse(
                    subject,
                    ReceptionStatusValues.INVALID_CONTENT,
                    f"unknown instruction {msg.instruction_id}",
                )
            rec.status, rec.updated = msg.status_type, msg.timestamp
            return Outcome(
                [reception(subject, ok)], [Event("instruction", rid, replan=msg.status_type in _REPLAN_ON)]
            )
        if isinstance(msg, RevokeObject):
            return self._on_revoke(msg, subject)
        mtype = msg.message_type
        state: Any = dev.state  # _order_problem let only the active control type's messages through
        problem = "no state for the active control type" if state is None else state.check(msg)
        if problem:
            return self._refuse(subject, ReceptionStatusValues.INVALID_CONTENT, problem)
        state.apply(msg)
        dev.revision += 1
        dev.received[mtype] = self.now()
        kind = EVENT_KINDS.get(mtype, "status")
        # Status reports (fill level, active mode, timers) feed the next periodic plan; descriptions,
        # targets, forecasts and constraints re-plan at once (debounced by the CEM).
        return Outcome([reception(subject, ok)], [Event(kind, rid, replan=kind != "status")])

    def _on_handshake(self, msg: Handshake, subject: uuid.UUID) -> Outcome:
        bad = ReceptionStatusValues
        if msg.role != EnergyManagementRole.RM:
            return self._refuse(subject, bad.INVALID_CONTENT, "the CEM only talks to resource managers")
        versions = msg.supported_protocol_versions or []
        if PROTOCOL_VERSION not in versions:
            self.state = SessionState.CLOSED
            out = self._refuse(
                subject, bad.PERMANENT_ERROR, f"no common protocol version (CEM: {PROTOCOL_VERSION})"
            )
            out.close = True
            return out
        self.state = SessionState.HANDSHAKE_DONE
        resp = self.sent(
            HandshakeResponse(message_id=uuid.uuid4(), selected_protocol_version=PROTOCOL_VERSION)
        )
        return Outcome([reception(subject, bad.OK), resp])

    def _on_details(self, msg: ResourceManagerDetails, subject: uuid.UUID) -> Outcome:
        dev = self.device
        try:
            path_id = uuid.UUID(dev.resource_id)
        except ValueError:
            path_id = None
        if path_id is not None and msg.resource_id != path_id:
            return self._refuse(subject, ReceptionStatusValues.INVALID_CONTENT,
                                f"resource_id {msg.resource_id} differs from the URL's {dev.resource_id}")  # fmt: skip
        chosen = select_control_type(list(msg.available_control_types), dev.preference)
        dev.details = msg
        replies: list[S2Msg] = [reception(subject, ReceptionStatusValues.OK)]
        events = [Event("details", dev.resource_id, replan=False)]
        if chosen != dev.control_type or self.state != SessionState.CONTROL_TYPE_SELECTED:
            replies += self._switch(chosen)
            events.append(Event("control_type", dev.resource_id))
        self.state = SessionState.CONTROL_TYPE_SELECTED
        return Outcome(replies, events)

    def _switch(self, chosen: ControlType) -> list[S2Msg]:
        """Revocations of the old type's pending instructions (on a change), then SelectControlType."""
        dev = self.device
        out: list[S2Msg] = []
        if chosen != dev.control_type:
            now = datetime.now(UTC) - timedelta(days=3650)  # every pending instruction, whatever its time
            out = [self.sent(m) for m in revoke_pending(dev.instructions, now)]
            dev.states = new_states(dev.instructions)  # another control type: its data starts anew
        dev.control_type = chosen
        dev.revision += 1
        return [*out, self.sent(SelectControlType(message_id=uuid.uuid4(), control_type=chosen))]

    def set_preference(self, preference: tuple[ControlType, ...]) -> Outcome:
        """The CEM changes its policy: re-select among the RM's available types; messages to send."""
        dev = self.device
        dev.preference = tuple(preference)
        if self.state != SessionState.CONTROL_TYPE_SELECTED or dev.details is None:
            return Outcome()
        chosen = select_control_type(list(dev.details.available_control_types), dev.preference)
        if chosen == dev.control_type:
            return Outcome()
        return Outcome(self._switch(chosen), [Event("control_type", dev.resource_id)])

    def _on_revoke(self, msg: RevokeObject, subject: uuid.UUID) -> Outcome:
        dev = self.device
        kind = msg.object_type.value
        done = False
        control, state = CONTROLS.get(dev.control_type), dev.state
        if control is not None and state is not None and kind.startswith(control.prefix):
            done = state.revoke(kind, msg.object_id)
        if not done:
            return self._refuse(
                subject, ReceptionStatusValues.INVALID_CONTENT, f"no {kind} {msg.object_id} to revoke"
            )
        dev.revision += 1
        return Outcome([reception(subject, ReceptionStatusValues.OK)], [Event("revoked", dev.resource_id)])

    def _on_reception_status(self, data: dict[str, Any]) -> None:
        try:
            rs = ReceptionStatus.model_validate(data)
        except Exception:  # a broken ReceptionStatus is dropped, never answered
            return
        sent = self.awaiting.pop(rs.subject_message_id, None)
        if sent is None:
            return
        if rs.status != ReceptionStatusValues.OK:
            for rec in self.device.instructions.values():
                if rec.instruction.message_id == rs.subject_message_id:
                    rec.status = InstructionStatus.REJECTED


_REPLAN_ON = {InstructionStatus.REJECTED, InstructionStatus.ABORTED}  # REVOKED: the CEM did it


def _schema_problems(exc: Exception, data: dict[str, Any], mtype: str) -> str:
    """The wrong fields, named as in site files ("FRBC.StorageStatus.present_fill_level: ..."), bounded:
    the diagnostic label goes back on the wire."""
    errors = getattr(exc, "errors", None)
    problems = [str(p) for p in problems_from_pydantic(exc, data, root=mtype)] if callable(errors) else []
    text = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return " ".join((text or str(exc)).split())[:300]
