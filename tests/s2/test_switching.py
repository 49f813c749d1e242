"""Control-type switching: the RM announces other types, or the CEM changes its policy; the old
type's pending instructions are revoked before the new SelectControlType."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

from s2python.common import ControlType, InstructionStatus
from s2python.frbc import FRBCInstruction
from s2python.ombc import OMBCInstruction

from gridflex.s2.clock import Clock
from gridflex.s2.protocol import SUPPORTED_CONTROL_TYPES, select_control_type
from gridflex.s2.schema import parse_problems, schema_problems
from gridflex.s2.server import CEM
from gridflex.s2.sim_devices import CHP
from gridflex.s2.simulators import BatteryPhysics, Simulator
from tests.s2.helpers import TOKEN, details, msg, run
from tests.s2.modes_helpers import T0, assert_all_valid, gas_site, session, statuses


def _types(out) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.message_type for m in out.replies]


def test_best_available_type_is_chosen() -> None:
    ct = ControlType
    assert (
        select_control_type([ct.POWER_PROFILE_BASED_CONTROL, ct.NOT_CONTROLABLE])
        == ct.POWER_PROFILE_BASED_CONTROL
    )
    assert select_control_type([ct.OPERATION_MODE_BASED_CONTROL, ct.POWER_ENVELOPE_BASED_CONTROL]) == (
        ct.OPERATION_MODE_BASED_CONTROL
    )
    assert (
        select_control_type([ct.DEMAND_DRIVEN_BASED_CONTROL, ct.FILL_RATE_BASED_CONTROL])
        == ct.FILL_RATE_BASED_CONTROL
    )
    assert select_control_type([]) == ct.NO_SELECTION
    assert set(SUPPORTED_CONTROL_TYPES) == set(ct) - {ct.NO_SELECTION}


def test_rm_announces_new_types_and_old_instructions_are_revoked() -> None:
    s = session(["FILL_RATE_BASED_CONTROL", "OPERATION_MODE_BASED_CONTROL"])
    rid = s.device.resource_id
    assert s.device.control_type == ControlType.FILL_RATE_BASED_CONTROL
    b = BatteryPhysics()
    assert statuses(s.handle_frame(b.system_description(datetime.now(UTC)).to_json())) == ["OK"]
    later = datetime.now(UTC) + timedelta(hours=1)
    ins = s.sent(FRBCInstruction(message_id=uuid.uuid4(), id=uuid.uuid4(), actuator_id=b.actuator_id,
                                 operation_mode=b.charge_id, operation_mode_factor=1.0, execution_time=later,
                                 abnormal_condition=False))  # fmt: skip
    # the same types again: nothing to switch
    assert _types(
        s.handle_frame(details(rid, ["FILL_RATE_BASED_CONTROL", "OPERATION_MODE_BASED_CONTROL"]))
    ) == ["ReceptionStatus"]
    out = s.handle_frame(details(rid, ["OPERATION_MODE_BASED_CONTROL", "NOT_CONTROLABLE"]))
    assert _types(out) == ["ReceptionStatus", "RevokeObject", "SelectControlType"]
    assert out.replies[1].object_type.value == "FRBC.Instruction" and out.replies[1].object_id == ins.id
    assert out.replies[2].control_type == ControlType.OPERATION_MODE_BASED_CONTROL
    assert s.device.instructions[ins.id].status == InstructionStatus.REVOKED
    assert s.device.frbc.system_description is None  # the old type's data is gone
    for m in out.replies:
        assert schema_problems(m.to_json()) == [] and parse_problems(m.to_json()) == []
    assert statuses(s.handle_frame(msg("FRBC.StorageStatus", present_fill_level=1.0))) == ["PERMANENT_ERROR"]
    assert statuses(s.handle_frame(CHP().system_description(T0).to_json())) == ["OK"]


def test_cem_policy_change_switches_and_revokes() -> None:
    s = session(["OPERATION_MODE_BASED_CONTROL", "NOT_CONTROLABLE"])
    chp = CHP()
    s.handle_frame(chp.system_description(T0).to_json())
    ins = s.sent(OMBCInstruction(message_id=uuid.uuid4(), id=uuid.uuid4(), operation_mode_id=str(chp.low),
                                 operation_mode_factor=0.0, execution_time=datetime.now(UTC) + timedelta(hours=1),
                                 abnormal_condition=False))  # fmt: skip
    assert s.set_preference(SUPPORTED_CONTROL_TYPES).replies == []  # same policy: nothing happens
    out = s.set_preference((ControlType.NOT_CONTROLABLE, *SUPPORTED_CONTROL_TYPES))
    assert _types(out) == ["RevokeObject", "SelectControlType"]
    assert out.replies[0].object_type.value == "OMBC.Instruction" and out.replies[0].object_id == ins.id
    assert out.replies[1].control_type == ControlType.NOT_CONTROLABLE
    assert s.device.ombc.system_description is None
    # a later ResourceManagerDetails keeps the CEM's policy
    again = s.handle_frame(details(s.device.resource_id, ["OPERATION_MODE_BASED_CONTROL", "NOT_CONTROLABLE"]))
    assert _types(again) == ["ReceptionStatus"]


def test_switch_end_to_end_over_the_socket() -> None:
    async def go() -> None:
        cem = CEM(gas_site([20, 20, 20, 20, 100, 100, 100, 100]), {TOKEN: None}, clock=Clock(1800.0),
                  debounce_s=0.05, ping_interval_s=None)  # fmt: skip
        frames: list[str] = []
        cem.frame_tap = lambda rid, f: frames.append(f)
        port = await cem.start("127.0.0.1", 0)
        try:
            sim = Simulator("chp", f"ws://127.0.0.1:{port}/s2", TOKEN, clock=cem.clock, report_every_s=0.2)
            task = asyncio.create_task(sim.run(duration_s=3600))
            await asyncio.sleep(1.5)  # a few plans: OMBC instructions wait for the expensive hour
            assert sim.pending and cem.plans >= 1
            conn = cem.connections[str(sim.resource_id)]
            at = len(frames)
            out = conn.session.set_preference((ControlType.NOT_CONTROLABLE, *SUPPORTED_CONTROL_TYPES))
            await conn.send(out.replies)
            await task
        finally:
            await cem.stop()
        after = [json.loads(f) for f in frames[at:]]
        kinds = [m["message_type"] for m in after if m["message_type"] != "ReceptionStatus"]
        n_rev = kinds.index("SelectControlType")
        assert n_rev >= 1 and set(kinds[:n_rev]) == {"RevokeObject"}  # revoke first, then select
        assert (
            next(m for m in after if m["message_type"] == "SelectControlType")["control_type"]
            == "NOT_CONTROLABLE"
        )
        assert "OMBC.Instruction" not in kinds  # nothing more for the old type
        revoked = {uuid.UUID(m["object_id"]) for m in after if m["message_type"] == "RevokeObject"}
        assert all(sim.statuses.get(i) == InstructionStatus.REVOKED for i in revoked)
        assert isinstance(sim.device, CHP) and sim.device.m.history == []  # nothing of the old plan ran
        assert not sim.pending
        assert_all_valid(frames)

    run(go(), timeout_s=40)
