"""One registry of control types: the handler and the CEM look a type up, they never compare types."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from s2python.common import ControlType

import gridflex.errors
import gridflex.s2
from gridflex.s2.control import CONTROLS, EVENT_KINDS
from gridflex.s2.protocol import SUPPORTED_CONTROL_TYPES
from gridflex.s2.server import CONTROL_TYPE_SHORT_NAMES
from gridflex.scheduling import parse_site

S2 = Path(gridflex.s2.__file__).parent
FIVE = ("FILL_RATE_BASED_CONTROL", "DEMAND_DRIVEN_BASED_CONTROL", "OPERATION_MODE_BASED_CONTROL",
        "POWER_PROFILE_BASED_CONTROL", "POWER_ENVELOPE_BASED_CONTROL")  # fmt: skip


def test_every_control_type_is_one_registry_entry() -> None:
    assert tuple(CONTROLS) == SUPPORTED_CONTROL_TYPES
    assert {ct.value for ct in CONTROLS} == {*FIVE, "NOT_CONTROLABLE"}
    assert CONTROL_TYPE_SHORT_NAMES == {c.short: ct for ct, c in CONTROLS.items()}
    assert len({c.prefix for c in CONTROLS.values()}) == len(CONTROLS)
    for ct, c in CONTROLS.items():
        assert c.control_type == ct
        assert all(m.startswith(c.prefix) for m in c.events)
    assert set(EVENT_KINDS.values()) <= {"system", "target", "forecast"}


@pytest.mark.parametrize("module", ["protocol.py", "server.py", "planner.py"])
def test_no_ladder_over_control_types_outside_the_registry(module: str) -> None:
    """The protocol side names no control type and no message family: that is the registry's job."""
    text = (S2 / module).read_text(encoding="utf-8")
    assert not [name for name in FIVE if f"ControlType.{name}" in text]
    assert not re.search(r"""startswith\(["'](FRBC|PEBC|PPBC|OMBC|DDBC)""", text)
    assert not re.search(r"""== ["'](FRBC|PEBC|PPBC|OMBC|DDBC)\.""", text)


@pytest.mark.parametrize("kind", ["fill_rate_fleet", "power_envelope", "power_sequence", "demand_machines"])
def test_the_cems_own_kinds_are_refused_in_a_site_file(kind: str) -> None:
    data = {"time": {"start": "2024-01-01T00:00:00Z", "step_s": 900, "n_periods": 4},
            "assets": [{"kind": "grid_connection", "name": "g"},
                       {"kind": kind, "name": "x", **({"spec": 1} if kind == "power_envelope" else {})}]}  # fmt: skip
    with pytest.raises(gridflex.errors.ValidationError) as info:
        parse_site(data)
    assert any(p.object_id == "x" for p in info.value.problems), info.value


def test_a_device_has_one_state_per_control_type() -> None:
    from gridflex.s2.protocol import Device

    dev = Device("r")
    assert set(dev.states) == set(CONTROLS) and dev.state is None  # nothing selected yet
    dev.control_type = ControlType.FILL_RATE_BASED_CONTROL
    assert dev.state is dev.frbc
