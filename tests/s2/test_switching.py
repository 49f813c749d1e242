"""Control-type switching: the RM announces other types, or the CEM changes its policy; the old
type's pending instructions are revoked before the new SelectControlType. Also: the CEM's policy from
its constructor and the CLI (``--control-types``), and the S2 roles every simulator kind announces."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from s2python.common import Commodity, ControlType, InstructionStatus, RoleType
from s2python.frbc import FRBCInstruction
from s2python.ombc import OMBCInstruction
from typer.testing import CliRunner

from gridflex.cli import app
from gridflex.errors import ValidationError
from gridflex.s2 import server as server_mod
from gridflex.s2.clock import Clock
from gridflex.s2.planner import PlanRequest
from gridflex.s2.protocol import SUPPORTED_CONTROL_TYPES, select_control_type
from gridflex.s2.rm.sim_devices import CHP
from gridflex.s2.rm.simulators import KINDS, ROLES, BatteryPhysics, Simulator
from gridflex.s2.schema import parse_problems, schema_problems
from gridflex.s2.server import CEM, parse_control_types
from gridflex.scheduling import Site
from tests.s2.helpers import TOKEN, details, msg, run, small_site, start_cem, stop_all
from tests.s2.modes_helpers import T0, assert_all_valid, gas_site, session, statuses

CT = ControlType


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
        # the clock starts with the site's prices, so the expensive hour is the second one
        cem, port, frames = await start_cem(gas_site([20, 20, 20, 20, 100, 100, 100, 100]), 1800.0)
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
        # a status report the RM sent before it read SelectControlType crosses it on the wire (more
        # likely on a loaded machine): refused as out of order, which is right; nothing else is
        crossed = [f for f in frames if "does not belong to the active control type NOT_CONTROLABLE" in f]
        assert all(json.loads(f)["status"] == "PERMANENT_ERROR" for f in crossed)
        assert_all_valid([f for f in frames if f not in crossed])

    run(go(), timeout_s=40)


# ── an RM-initiated switch over the socket ────────────────────────────────────────────────────────


async def until(cond: Callable[[], bool], timeout_s: float = 6.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def live_cem(
    site: Site, speed: float, monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[CEM, int, list[tuple[str, str]], list[PlanRequest]]:
    """A CEM on 127.0.0.1 whose clock starts at the site's start; every frame it sends (resource id,
    frame) and every plan request it solves are recorded."""
    cem = CEM(site, {TOKEN: None}, clock=Clock(speed, start=T0), debounce_s=0.05, ping_interval_s=None, **kw)
    frames: list[tuple[str, str]] = []
    cem.frame_tap = lambda rid, f: frames.append((rid, f))
    requests: list[PlanRequest] = []
    real = server_mod.plan_site

    def recording(site: Site, req: PlanRequest) -> Any:
        requests.append(req)
        return real(site, req)

    monkeypatch.setattr(server_mod, "plan_site", recording)
    port = await cem.start("127.0.0.1", 0)
    return cem, port, frames, requests


def treated_as(req: PlanRequest, name: str) -> str | None:
    """How a plan request carries a device: frbc, pebc, load (NOT_CONTROLABLE) or its asset kind."""
    if any(f.name == name for f in req.frbc):
        return "frbc"
    if any(p.name == name for p in req.pebc):
        return "pebc"
    if name in req.loads_kw:
        return "load"
    return next((str(a.kind) for a in req.extra if a.name.split("/")[0] == name), None)


def test_rm_withdraws_frbc_over_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """A battery RM (s2-python) gets FRBC and instructions for the cheap periods ahead, then sends a
    new ResourceManagerDetails offering only NOT_CONTROLABLE: over the socket the CEM revokes every
    pending FRBC.Instruction (RevokeObject) and then selects NOT_CONTROLABLE; the next plan carries
    the battery as a measured load. Offering FRBC again switches back."""

    async def go() -> None:
        cem, port, frames, requests = await live_cem(small_site(), 600.0, monkeypatch)
        tasks: list[asyncio.Task[Any]] = []
        try:
            url = f"ws://127.0.0.1:{port}/s2"
            bat = Simulator("battery", url, TOKEN, clock=cem.clock, report_every_s=0.1)
            pv = Simulator("pv", url, TOKEN, clock=cem.clock, report_every_s=0.1)  # keeps the plans going
            tasks[:] = [asyncio.create_task(s.run(duration_s=None)) for s in (bat, pv)]
            rid = str(bat.resource_id)
            name = f"s2-{rid}"
            await until(lambda: any(m.execution_time > cem.clock.now() for m in bat.pending))
            assert bat.controlled and cem.devices[rid].control_type == CT.FILL_RATE_BASED_CONTROL
            at, n_req, n_received = len(frames), len(requests), len(bat.received)
            soon = cem.clock.now() + timedelta(seconds=120)  # cannot start while the switch is under way
            waiting = {m.id for m in bat.pending if m.execution_time > soon}
            assert waiting

            status = await bat.offer(CT.NOT_CONTROLABLE)
            assert status is not None and status.status.value == "OK"
            await until(lambda: not bat.controlled and bat._active is not None)
            await until(lambda: any(treated_as(r, name) for r in requests[n_req:]))
            after = [json.loads(f) for r, f in frames[at:] if r == rid]
            kinds = [m["message_type"] for m in after if m["message_type"] != "ReceptionStatus"]
            k = kinds.index("SelectControlType")
            assert k >= 1 and set(kinds[:k]) == {"RevokeObject"}, kinds  # revoke first, then select
            select = after[[m["message_type"] for m in after].index("SelectControlType")]
            assert select["control_type"] == "NOT_CONTROLABLE"
            revokes = [m for m in after if m["message_type"] == "RevokeObject"]
            assert {m["object_type"] for m in revokes} == {"FRBC.Instruction"}
            revoked = {uuid.UUID(m["object_id"]) for m in revokes}
            assert waiting <= revoked and all(
                bat.statuses.get(i) == InstructionStatus.REVOKED for i in revoked
            )
            assert "FRBC.Instruction" not in kinds and len(bat.received) == n_received
            assert not bat.pending  # nothing of the FRBC plan is left to run
            final = {InstructionStatus.SUCCEEDED, InstructionStatus.ABORTED, InstructionStatus.REVOKED,
                     InstructionStatus.REJECTED}  # fmt: skip
            assert all(r.status in final for r in cem.devices[rid].instructions.values())
            dev = cem.devices[rid]
            assert dev.control_type == CT.NOT_CONTROLABLE and dev.frbc.system_description is None
            # the next plan: the battery is a measured load, no longer an FRBC storage
            nxt = next(r for r in requests[n_req:] if treated_as(r, name))
            assert treated_as(nxt, name) == "load" and treated_as(nxt, f"s2-{pv.resource_id}") == "pebc"

            # FRBC offered again: the CEM selects it again and plans the battery as a storage
            n_req = len(requests)
            await bat.offer(CT.FILL_RATE_BASED_CONTROL, CT.NOT_CONTROLABLE)
            await until(lambda: any(treated_as(r, name) == "frbc" for r in requests[n_req:]))
            assert bat.controlled and cem.devices[rid].control_type == CT.FILL_RATE_BASED_CONTROL
            assert cem.last_error is None
        finally:
            await stop_all(cem, tasks)
        assert_all_valid([f for _, f in frames])  # schema-valid, and every ReceptionStatus OK

    run(go(), timeout_s=20)


def test_simulator_offers_only_what_it_can() -> None:
    bat = Simulator("battery", "ws://127.0.0.1:1/s2", TOKEN)
    assert bat.offered == (CT.FILL_RATE_BASED_CONTROL, CT.NOT_CONTROLABLE)
    with pytest.raises(ValueError, match="cannot offer"):
        run(bat.offer(CT.OPERATION_MODE_BASED_CONTROL))
    assert run(bat.offer(CT.NOT_CONTROLABLE)) is None  # not connected: the next connection offers it
    assert bat.offered == (CT.NOT_CONTROLABLE,)
    assert Simulator("pv", "ws://x/s2", TOKEN).offered == (
        CT.POWER_ENVELOPE_BASED_CONTROL,
        CT.NOT_CONTROLABLE,
    )


# ── the CEM's control-type policy (constructor, serve, CLI) ───────────────────────────────────────


def test_policy_names_parse() -> None:
    assert parse_control_types("pebc, NOT_CONTROLABLE") == (
        CT.POWER_ENVELOPE_BASED_CONTROL,
        CT.NOT_CONTROLABLE,
    )
    assert parse_control_types(["FILL_RATE_BASED_CONTROL", "PPBC", CT.OPERATION_MODE_BASED_CONTROL]) == (
        CT.FILL_RATE_BASED_CONTROL, CT.POWER_PROFILE_BASED_CONTROL, CT.OPERATION_MODE_BASED_CONTROL)  # fmt: skip
    for bad, needle in (("FRBC,XYZ", "'XYZ' is not a control type"), ("FRBC,FILL_RATE_BASED_CONTROL", "twice"),
                        ("", "no control type"), ("NO_SELECTION", "not a control type")):  # fmt: skip
        with pytest.raises(ValidationError, match=needle) as info:
            parse_control_types(bad)
        assert "control_types" in str(info.value)
    with pytest.raises(ValidationError, match=r"CEM\.control_types"):
        CEM(small_site(), {TOKEN: None}, control_types=["FRBC", "nope"])


def test_cli_control_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("gridflex.s2.serve", lambda *a, **kw: seen.update(kw))
    runner = CliRunner()
    base = ["cem", "serve", "--site", str(tmp_path / "site.yaml"), "--tokens", str(tmp_path / "t.txt")]
    r = runner.invoke(app, [*base, "--control-types", "PEBC,not_controlable"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert seen["control_types"] == (CT.POWER_ENVELOPE_BASED_CONTROL, CT.NOT_CONTROLABLE)
    seen.clear()
    assert runner.invoke(app, base, catch_exceptions=False).exit_code == 0
    assert seen["control_types"] is None  # the default policy
    seen.clear()
    r = runner.invoke(app, [*base, "--control-types", "FRBC,FRBX"], catch_exceptions=False)
    assert r.exit_code == 2 and seen == {}
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "--control-types" in lines[0] and "'FRBX'" in lines[0]
    assert all(n in lines[0] for n in ("FRBC", "PPBC", "OMBC", "PEBC", "DDBC", "NOT_CONTROLABLE"))
    r = runner.invoke(app, [*base, "--log-level", "loud"], catch_exceptions=False)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == 2 and seen == {} and len(lines) == 1 and "--log-level" in lines[0], r.stderr


def test_serve_takes_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site.json"
    site.write_text(json.dumps(small_site().model_dump(mode="json", exclude_none=True)))
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{TOKEN}\n")
    seen: dict[str, Any] = {}

    async def fake_run_cem(*args: Any, **kw: Any) -> None:
        seen.update(kw)

    monkeypatch.setattr(server_mod, "run_cem", fake_run_cem)
    server_mod.serve(site, port=0, tokens_path=tokens, control_types="PEBC,NOT_CONTROLABLE")
    assert seen["control_types"] == (CT.POWER_ENVELOPE_BASED_CONTROL, CT.NOT_CONTROLABLE)
    with pytest.raises(ValidationError, match="'OOPS'"):
        server_mod.serve(site, port=0, tokens_path=tokens, control_types=["OOPS"])


def test_cem_policy_selects_for_every_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CEM created with the policy PEBC, NOT_CONTROLABLE: the PV simulator gets PEBC, the battery
    simulator (FRBC or NOT_CONTROLABLE) gets NOT_CONTROLABLE and only reports its measurements; the
    plan carries the PV as PEBC and the battery as a load."""

    async def go() -> None:
        cem, port, frames, requests = await live_cem(
            small_site(), 600.0, monkeypatch, control_types=["PEBC", "NOT_CONTROLABLE"]
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            url = f"ws://127.0.0.1:{port}/s2"
            bat = Simulator("battery", url, TOKEN, clock=cem.clock, report_every_s=0.1)
            pv = Simulator("pv", url, TOKEN, clock=cem.clock, report_every_s=0.1)
            tasks[:] = [asyncio.create_task(s.run(duration_s=None)) for s in (bat, pv)]
            b, p = f"s2-{bat.resource_id}", f"s2-{pv.resource_id}"
            await until(
                lambda: any(treated_as(r, b) == "load" and treated_as(r, p) == "pebc" for r in requests)
            )
            assert cem.devices[str(bat.resource_id)].control_type == CT.NOT_CONTROLABLE
            assert cem.devices[str(pv.resource_id)].control_type == CT.POWER_ENVELOPE_BASED_CONTROL
            assert cem.devices[str(bat.resource_id)].preference == (CT.POWER_ENVELOPE_BASED_CONTROL,
                                                                   CT.NOT_CONTROLABLE)  # fmt: skip
            assert not bat.controlled and pv.controlled and bat.received == []
        finally:
            await stop_all(cem, tasks)
        selected = {rid: json.loads(f)["control_type"] for rid, f in frames if '"SelectControlType"' in f}
        assert selected == {
            str(bat.resource_id): "NOT_CONTROLABLE",
            str(pv.resource_id): "POWER_ENVELOPE_BASED_CONTROL",
        }
        assert_all_valid([f for _, f in frames])

    run(go(), timeout_s=20)


# ── S2 roles of every simulator kind ──────────────────────────────────────────────────────────────


def test_roles_table_covers_every_kind() -> None:
    assert set(ROLES) == set(KINDS)
    P, C, S = RoleType.ENERGY_PRODUCER, RoleType.ENERGY_CONSUMER, RoleType.ENERGY_STORAGE
    E, G, H = Commodity.ELECTRICITY, Commodity.GAS, Commodity.HEAT
    assert ROLES["battery"] == ((S, E),) and ROLES["pv"] == ((P, E),)
    assert set(ROLES["heatpump"]) == {(C, E), (P, H)} and ROLES["ev"] == ((C, E),)
    assert ROLES["washing-machine"] == ((C, E),)
    assert set(ROLES["chp"]) == {(P, E), (C, G), (P, H)}
    assert set(ROLES["hybrid-heatpump"]) == {(C, E), (C, G), (P, H)}


def test_every_kind_announces_its_roles_and_is_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    """One simulator of every kind on one CEM: the CEM keeps each one's roles as sent (gas and heat
    included), selects its control type and plans it under that type; every frame it sends is valid."""
    expected = {"battery": "frbc", "heatpump": "frbc", "ev": "frbc", "pv": "pebc",
                "washing-machine": "power_sequence", "chp": "mode_machine", "hybrid-heatpump": "demand_machines"}  # fmt: skip

    async def go() -> None:
        cem, port, frames, requests = await live_cem(gas_site([20, 30, 40, 50, 60, 50, 40, 30]), 1800.0,
                                                     monkeypatch)  # fmt: skip
        tasks: list[asyncio.Task[Any]] = []
        try:
            url = f"ws://127.0.0.1:{port}/s2"
            sims = {k: Simulator(k, url, TOKEN, clock=cem.clock, report_every_s=0.2) for k in KINDS}
            tasks[:] = [asyncio.create_task(s.run(duration_s=None)) for s in sims.values()]

            def planned(kind: str) -> bool:
                name = f"s2-{sims[kind].resource_id}"
                return any(treated_as(r, name) == expected[kind] for r in requests)

            await until(lambda: all(planned(k) for k in KINDS), timeout_s=8.0)  # the EV arrives after 30 min
            for kind, sim in sims.items():
                dev = cem.devices[str(sim.resource_id)]
                assert dev.details is not None
                assert tuple((r.role, r.commodity) for r in dev.details.roles) == ROLES[kind], kind
                assert dev.control_type == sim.offered[0], kind
            assert cem.last_error is None
        finally:
            await stop_all(cem, tasks)
        assert_all_valid([f for _, f in frames])

    run(go(), timeout_s=20)
