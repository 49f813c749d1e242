"""The S2 control types, one module each, behind one registry (see :mod:`~gridflex.s2.control.base`).

=========================  ======  ==========================================================
control type               short   module
=========================  ======  ==========================================================
FILL_RATE_BASED_CONTROL    FRBC    :mod:`~gridflex.s2.control.frbc` (battery, heat pump, EV)
DEMAND_DRIVEN_BASED_...    DDBC    :mod:`~gridflex.s2.control.ddbc` (hybrid heat pump)
OPERATION_MODE_BASED_...   OMBC    :mod:`~gridflex.s2.control.ombc` (CHP, genset)
POWER_PROFILE_BASED_...    PPBC    :mod:`~gridflex.s2.control.ppbc` (washing machine)
POWER_ENVELOPE_BASED_...   PEBC    :mod:`~gridflex.s2.control.pebc` (curtailable PV)
NOT_CONTROLABLE            —       here: a measured load
=========================  ======  ==========================================================

:data:`CONTROLS` is in the CEM's default order of preference (the more of the device's
flexibility a type describes, the better).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from s2python.common import ControlType

from gridflex.s2.control import ddbc, frbc, ombc, pebc, ppbc
from gridflex.s2.control.base import Control


def _measured_load(dev: Any, state: Any, req: Any, now: datetime, earliest: datetime) -> None:
    """A NOT_CONTROLABLE device is a fixed load at its last measured power."""
    if dev.measured_w is not None:
        req.loads_kw[dev.name] = [dev.measured_w / 1000.0] * req.n


NOT_CONTROLABLE = Control(ControlType.NOT_CONTROLABLE, "NOT_CONTROLABLE", snapshot=_measured_load)

CONTROLS: dict[ControlType, Control] = {
    c.control_type: c
    for c in (frbc.CONTROL, ddbc.CONTROL, ombc.CONTROL, ppbc.CONTROL, pebc.CONTROL, NOT_CONTROLABLE)
}
"""Every control type the CEM speaks, best first."""

BY_SHORT: dict[str, ControlType] = {c.short: ct for ct, c in CONTROLS.items()}
"""Short name (FRBC, …, NOT_CONTROLABLE) → control type."""

EVENT_KINDS: dict[str, str] = {m: kind for c in CONTROLS.values() for m, kind in c.events.items()}
"""Message type → the kind of event it raises (a message not listed is a status report)."""


def new_states(records: dict[uuid.UUID, Any]) -> dict[ControlType, Any]:
    """A fresh state per control type for a device (``records``: its instruction records)."""
    return {ct: c.new_state(records) for ct, c in CONTROLS.items()}


__all__ = ["BY_SHORT", "CONTROLS", "EVENT_KINDS", "Control", "new_states"]
