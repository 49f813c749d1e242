"""The pure message handler: ReceptionStatus per frame class, ordering, references, fuzzing."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridflex.s2.protocol import NIL_UUID, Device, Session, SessionState
from gridflex.s2.rm.simulators import BatteryPhysics
from gridflex.s2.schema import parse_problems, schema_problems
from tests.s2.helpers import details, handshake, msg

RID = str(uuid.uuid4())


def statuses(out) -> list[str]:
    return [m.status.value for m in out.replies if m.message_type == "ReceptionStatus"]


def frbc_session() -> tuple[Session, BatteryPhysics]:
    s = Session(Device(RID), rate_per_s=1e9, burst=1e9)
    s.opening()
    assert statuses(s.handle_frame(handshake())) == ["OK"]
    out = s.handle_frame(details(RID, ["FILL_RATE_BASED_CONTROL", "NOT_CONTROLABLE"]))
    assert [m.message_type for m in out.replies] == ["ReceptionStatus", "SelectControlType"]
    assert out.replies[1].control_type.value == "FILL_RATE_BASED_CONTROL"
    b = BatteryPhysics()
    assert statuses(s.handle_frame(b.system_description(datetime.now(UTC)).to_json())) == ["OK"]
    return s, b


def test_handshake_gives_response_with_version() -> None:
    s = Session(Device(RID))
    assert s.opening()[0].message_type == "Handshake"
    out = s.handle_frame(handshake())
    assert [m.message_type for m in out.replies] == ["ReceptionStatus", "HandshakeResponse"]
    assert out.replies[1].selected_protocol_version == "0.0.2-beta"
    assert s.state == SessionState.HANDSHAKE_DONE


@pytest.mark.parametrize(
    ("frame", "status", "nil"),
    [
        (b"\xff\xfe", "INVALID_DATA", True),
        ("not json", "INVALID_DATA", True),
        ("[1, 2]", "INVALID_DATA", True),
        ('{"message_type": "Handshake"}', "INVALID_DATA", True),
        ('{"message_type": "Handshake", "message_id": "nope"}', "INVALID_DATA", True),
        (msg("Handshake", role="RM", supported_protocol_versions="x"), "INVALID_MESSAGE", False),
        (msg("NoSuchType"), "INVALID_MESSAGE", False),
        (msg("SelectControlType", control_type="NOT_CONTROLABLE"), "INVALID_CONTENT", False),
        (msg("FRBC.StorageStatus", present_fill_level=1.0), "PERMANENT_ERROR", False),
        (msg("Handshake", role="RM", supported_protocol_versions=["9.9"]), "PERMANENT_ERROR", False),
    ],
    ids=["utf8", "json", "array", "no-id", "bad-id", "schema", "type", "cem-only", "order", "version"],
)
def test_bad_frames_get_the_right_status(frame: str | bytes, status: str, nil: bool) -> None:
    s = Session(Device(RID))
    out = s.handle_frame(frame)
    assert statuses(out) == [status]
    assert (out.replies[0].subject_message_id == NIL_UUID) == nil
    assert not out.events


def test_schema_errors_name_each_wrong_field() -> None:
    s = Session(Device(RID))
    out = s.handle_frame(msg("Handshake", role="XX", supported_protocol_versions=[1]))
    assert statuses(out) == ["INVALID_MESSAGE"]
    label = out.replies[0].diagnostic_label
    assert "Handshake.role: Input should be 'CEM' or 'RM'" in label
    assert "Handshake.supported_protocol_versions[0]:" in label


def test_unknown_references_are_invalid_content() -> None:
    s, b = frbc_session()
    rev = s.device.revision
    bad = [
        msg("InstructionStatusUpdate", instruction_id=str(uuid.uuid4()), status_type="STARTED",
            timestamp=datetime.now(UTC).isoformat()),
        msg("FRBC.ActuatorStatus", actuator_id=str(uuid.uuid4()), active_operation_mode_id=str(b.idle_id),
            operation_mode_factor=0.0),
        msg("FRBC.ActuatorStatus", actuator_id=str(b.actuator_id), active_operation_mode_id=str(uuid.uuid4()),
            operation_mode_factor=0.0),
        msg("RevokeObject", object_type="PEBC.PowerConstraints", object_id=str(uuid.uuid4())),
        msg("PEBC.EnergyConstraint", id=str(uuid.uuid4()), valid_from="2024-01-01T00:00:00Z",
            valid_until="2024-01-01T01:00:00Z", upper_average_power=1, lower_average_power=0,
            commodity_quantity="ELECTRIC.POWER.L1"),
    ]  # fmt: skip
    got = [statuses(s.handle_frame(f)) for f in bad]
    assert got == [["INVALID_CONTENT"]] * 3 + [["INVALID_CONTENT"], ["PERMANENT_ERROR"]]
    assert s.device.revision == rev and not s.device.frbc.actuator_status


def test_reception_status_is_never_answered_and_rate_limit_is_temporary() -> None:
    s = Session(Device(RID), rate_per_s=0.001, burst=2)
    rs = json.dumps(
        {"message_type": "ReceptionStatus", "subject_message_id": str(uuid.uuid4()), "status": "OK"}
    )
    assert s.handle_frame(rs).replies == []
    assert statuses(s.handle_frame(handshake())) == ["OK"]
    s.handle_frame(msg("PowerMeasurement", measurement_timestamp="2024-01-01T00:00:00Z",
                       values=[{"commodity_quantity": "ELECTRIC.POWER.L1", "value": 1.0}]))  # fmt: skip
    assert statuses(s.handle_frame(msg("PowerMeasurement"))) == ["TEMPORARY_ERROR"]


def _snapshot(s: Session, with_state: bool = True) -> str:
    d = s.device
    return repr(
        (
            s.state if with_state else None,
            d.control_type,
            d.revision,
            d.measured_w,
            d.forecast,
            d.frbc,
            d.pebc,
            len(d.instructions),
        )
    )


def _valid_frames() -> list[dict]:
    b = BatteryPhysics()
    now = datetime.now(UTC)
    return [json.loads(f) for f in (
        handshake(), details(RID, ["FILL_RATE_BASED_CONTROL"]), b.system_description(now).to_json(),
        msg("FRBC.StorageStatus", present_fill_level=2.0),
        msg("FRBC.ActuatorStatus", actuator_id=str(b.actuator_id), active_operation_mode_id=str(b.idle_id),
            operation_mode_factor=0.0),
        msg("PowerMeasurement", measurement_timestamp=now.isoformat(),
            values=[{"commodity_quantity": "ELECTRIC.POWER.L1", "value": 1.0}]),
    )]  # fmt: skip


VALID = _valid_frames()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    base = copy.deepcopy(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(base)
        key = draw(st.sampled_from(keys))
        action = draw(st.integers(0, 2))
        if action == 0 and key not in ("message_id",):
            del base[key]
        elif action == 1:
            base[key] = draw(json_values)
        else:
            base[draw(st.text(max_size=8))] = draw(json_values)
    return json.dumps(base, allow_nan=True)


frames = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["message_type", "message_id", "role", "x"]), json_values).map(
        json.dumps
    ),
    mutated(),
)


FUZZ_EXAMPLES = 300
"""Examples per suite run; benchmarks/s2_fuzz.py runs the same check at its full size (4,000)."""


def check_fuzz_frame(stage: int, frame: str | bytes) -> None:
    """One fuzz example: a session at ``stage`` gets ``frame``; a refused frame changes nothing."""
    s, _ = frbc_session() if stage == 3 else (Session(Device(RID), rate_per_s=1e9, burst=1e9), None)
    for f in VALID[: min(stage, 2)]:
        s.handle_frame(json.dumps({**f, "message_id": str(uuid.uuid4())}))
    before, before_data = _snapshot(s), _snapshot(s, with_state=False)
    out = s.handle_frame(frame)
    rs = [m for m in out.replies if m.message_type == "ReceptionStatus"]
    assert len(rs) <= 1
    for m in out.replies:
        assert schema_problems(m.to_json()) == [] and parse_problems(m.to_json()) == []
    if rs and rs[0].status.value != "OK":
        # a refused frame changes nothing, except that a fatal one (no common version) closes
        assert _snapshot(s) == before or (out.close and _snapshot(s, with_state=False) == before_data)
        assert not out.events


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 3), frames)
def test_fuzz_handler(stage: int, frame: str | bytes) -> None:
    check_fuzz_frame(stage, frame)
