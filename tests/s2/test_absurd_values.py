"""Non-finite and absurd numbers from an RM get INVALID_CONTENT and never reach the plan."""

from __future__ import annotations

import json
import uuid

import pytest

from gridflex.s2.protocol import MAX_POWER_W, Device, Session, number_problem
from tests.s2.helpers import details, handshake
from tests.s2.test_protocol import frbc_session, statuses

ELEC = "ELECTRIC.POWER.3_PHASE_SYMMETRIC"


def raw(mtype: str, body: str) -> str:
    """A frame written by hand: NaN / Infinity are JSON tokens Python's json accepts."""
    return f'{{"message_type": "{mtype}", "message_id": "{uuid.uuid4()}", {body}}}'


def measurement(value: str) -> str:
    return raw("PowerMeasurement", f'"measurement_timestamp": "2024-01-01T00:00:00Z", '
                                   f'"values": [{{"commodity_quantity": "{ELEC}", "value": {value}}}]')  # fmt: skip


def uncontrolled() -> Session:
    s = Session(Device(str(uuid.uuid4())), rate_per_s=1e9, burst=1e9)
    s.opening()
    s.handle_frame(handshake())
    out = s.handle_frame(details(s.device.resource_id, ["NOT_CONTROLABLE"]))
    assert out.replies[1].control_type.value == "NOT_CONTROLABLE"
    return s


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e308", "-1e308", "1e9"])
def test_not_controlable_power_must_be_finite_and_bounded(value: str) -> None:
    s = uncontrolled()
    out = s.handle_frame(measurement(value))
    assert statuses(out) == ["INVALID_CONTENT"] and "values[0].value" in out.replies[0].diagnostic_label
    assert s.device.measured_w is None and not out.events  # nothing reached the optimiser
    assert statuses(s.handle_frame(measurement("2500.0"))) == ["OK"]
    assert s.device.measured_w is not None


def test_storage_status_and_leakage() -> None:
    s, b = frbc_session()
    for level in ("NaN", "Infinity", "1e308"):
        out = s.handle_frame(raw("FRBC.StorageStatus", f'"present_fill_level": {level}'))
        assert statuses(out) == ["INVALID_CONTENT"], (level, out.replies)
    far = b.capacity_kwh * 3  # beyond the declared range by more than its width
    out = s.handle_frame(raw("FRBC.StorageStatus", f'"present_fill_level": {far}'))
    assert statuses(out) == ["INVALID_CONTENT"] and "fill_level_range" in out.replies[0].diagnostic_label
    assert s.device.frbc.storage_status is None
    ok = raw("FRBC.StorageStatus", f'"present_fill_level": {b.capacity_kwh / 2}')
    assert statuses(s.handle_frame(ok)) == ["OK"]
    leak = {"message_type": "FRBC.LeakageBehaviour", "message_id": str(uuid.uuid4()),
            "valid_from": "2024-01-01T00:00:00Z",
            "elements": [{"fill_level_range": {"start_of_range": 0.0, "end_of_range": b.capacity_kwh},
                          "leakage_rate": 1e308}]}  # fmt: skip
    out = s.handle_frame(json.dumps(leak))
    assert statuses(out) == ["INVALID_CONTENT"] and "leakage_rate" in out.replies[0].diagnostic_label


def test_number_problem_knows_powers() -> None:
    assert number_problem({"power_ranges": [{"start_of_range": 2e7}]}, "FRBC.SystemDescription", MAX_POWER_W)
    assert (
        number_problem({"fill_level_range": {"end_of_range": 2e7}}, "FRBC.SystemDescription", MAX_POWER_W)
        is None
    )
    assert number_problem({"x": True, "y": [1, 2.5]}, "Handshake", 1.0) is None
