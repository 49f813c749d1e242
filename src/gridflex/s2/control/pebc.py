"""PEBC (power-envelope based control) for curtailable production such as PV.

State: PEBC.PowerConstraints and PEBC.EnergyConstraint by id (revocable), plus the session's
PowerForecast / PowerMeasurement for the available production. Mapping: a curtailable production
asset (:class:`~gridflex.assets.power_envelope.PowerEnvelope`, ``<device>/pv``) whose bound per period is the available production
(kW, from the forecast's expected electric values, else the last measurement held); the schedule's
production ``x_t`` becomes the envelope's lower limit ``−x_t`` (W; production at most ``x_t``; no limit, the range's
most permissive value, where ``x_t`` is all the forecast production outside every energy window: the
plan curtails nothing there),
clamped to the constraint's LOWER_LIMIT range, and the most permissive value of its UPPER_LIMIT
range as upper limit. Consecutive equal periods are merged. A re-plan sends a new envelope only
when it differs from the one the RM follows (:func:`same_envelopes`).

Energy constraints: each active electric PEBC.EnergyConstraint (not revoked, window overlapping
what is left of the horizon) says the device's average power over ``[valid_from, valid_until)`` lies
in ``[lower_average_power, upper_average_power]`` (W, S2 sign: + consumption). For production
``x_t ≥ 0`` (kW) that is one row ``−upper·H/1000 ≤ Σ_t h_t·x_t ≤ −lower·H/1000`` (kWh), where
``h_t`` is the part of period ``t`` (hours) inside the window and ahead of *now* and ``H = Σ h_t``:
the average is required over the part of the window still ahead within the horizon (the elapsed
part of the first period, energy produced before now and the part after the horizon are not
counted; re-planning every period moves the window along). The row is soft: two slacks at
``ENERGY_PENALTY_EUR_PER_KWH`` per kWh missed, so a constraint that cannot be met gives the plan
closest to it, never an infeasible one. Other commodity quantities (not electric) are ignored
(logged when received).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from s2python.common import (
    CommodityQuantity,
    ControlType,
    Duration,
    PowerForecast,
    RevokableObjects,
)
from s2python.generated.gen_s2 import ID, PEBCPowerEnvelopeLimitType
from s2python.pebc import (
    PEBCEnergyConstraint,
    PEBCInstruction,
    PEBCPowerConstraints,
    PEBCPowerEnvelope,
    PEBCPowerEnvelopeElement,
)

from gridflex.assets.power_envelope import (  # noqa: F401  (ENERGY_PENALTY_EUR_PER_KWH: its home before)
    ENERGY_PENALTY_EUR_PER_KWH,
    EnergyWindow,
    PowerEnvelope,
    PowerEnvelopeDevice,
    power_envelope_assets,
)
from gridflex.s2.control.base import NEVER_RAN, Control, revoke_previous
from gridflex.s2.control.frbc import ELECTRIC, profile_average

log = logging.getLogger(__name__)

PebcMessage = PEBCPowerConstraints | PEBCEnergyConstraint


@dataclass
class PebcState:
    power_constraints: dict[uuid.UUID, PEBCPowerConstraints] = field(default_factory=dict)
    energy_constraints: dict[uuid.UUID, PEBCEnergyConstraint] = field(default_factory=dict)

    def check(self, msg: PebcMessage) -> str | None:
        if isinstance(msg, PEBCEnergyConstraint):
            if msg.valid_until <= msg.valid_from:
                return "valid_until is not after valid_from"
            if msg.lower_average_power > msg.upper_average_power:
                return "lower_average_power is above upper_average_power"
        return None

    def apply(self, msg: PebcMessage) -> None:
        if isinstance(msg, PEBCPowerConstraints):
            self.power_constraints[msg.id] = msg
        else:
            self.energy_constraints[msg.id] = msg
            if not _electric(msg.commodity_quantity):
                log.info("PEBC.EnergyConstraint %s is for %s, not electric power: the planner ignores it",
                         msg.id, msg.commodity_quantity)  # fmt: skip

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
        if object_type not in ("PEBC.PowerConstraints", "PEBC.EnergyConstraint"):
            return False
        table: dict[uuid.UUID, Any] = (
            self.power_constraints if object_type == "PEBC.PowerConstraints" else self.energy_constraints
        )
        return table.pop(object_id, None) is not None

    def active(self, now: datetime) -> PEBCPowerConstraints | None:
        valid = [
            c
            for c in self.power_constraints.values()
            if c.valid_from <= now + timedelta(seconds=1) and (c.valid_until is None or c.valid_until > now)
        ]
        return max(valid, key=lambda c: c.valid_from, default=None)

    def inputs(
        self,
        name: str,
        start: datetime,
        step_s: int,
        n: int,
        forecast: PowerForecast | None,
        measured_w: float | None,
        now: datetime | None = None,
    ) -> PowerEnvelopeDevice | None:
        """The device on the horizon ``start + k·step_s`` (k < n); ``now`` (default ``start``) cuts
        the elapsed part of the first period out of the energy constraints' windows, and the power
        constraints in force are those at ``now`` (one that became valid during the first period counts)."""
        pc = self.active(start if now is None else max(now, start))
        if pc is None:
            return None
        power_w = np.zeros(n)
        if forecast is not None:
            power_w = profile_average(forecast, start, step_s, n, _expected_w, hold_last=True)
        elif measured_w is not None:  # the last PowerMeasurement's electric power (W)
            power_w = np.full(n, measured_w)
        return PowerEnvelopeDevice(name, pc.id, np.maximum(-power_w / 1000.0, 0.0),
                          self.energy_windows(start, step_s, n, now))  # fmt: skip

    def energy_windows(
        self, start: datetime, step_s: int, n: int, now: datetime | None = None
    ) -> list[EnergyWindow]:
        """The electric energy constraints whose window overlaps ``[now, start + n·step_s)``, in
        production terms (kWh over the part of the window in that interval; module docstring)."""
        edges = np.arange(n + 1, dtype=float) * step_s
        ahead = 0.0 if now is None else min(max((now - start).total_seconds(), 0.0), float(edges[-1]))
        out = []
        for ec in sorted(self.energy_constraints.values(), key=lambda c: (c.valid_from, str(c.id))):
            if not _electric(ec.commodity_quantity):
                continue
            a = max((ec.valid_from - start).total_seconds(), ahead)
            b = (ec.valid_until - start).total_seconds()
            hours = np.maximum(np.minimum(edges[1:], b) - np.maximum(edges[:-1], a), 0.0) / 3600.0
            total = float(hours.sum())
            if total <= 0.0:
                continue
            out.append(EnergyWindow(ec.id, hours, -ec.upper_average_power / 1000.0 * total,
                                    -ec.lower_average_power / 1000.0 * total))  # fmt: skip
        return out

    def instruction(
        self,
        spec: PowerEnvelopeDevice,
        production_kw: np.ndarray,
        start: datetime,
        step_s: int,
        earliest: datetime,
    ) -> PEBCInstruction | None:
        pc = self.power_constraints.get(spec.constraints_id)
        if pc is None:
            return None
        envelopes = []
        for cq in dict.fromkeys(r.commodity_quantity for r in pc.allowed_limit_ranges):
            lows = [r.range_boundary for r in pc.allowed_limit_ranges
                    if r.commodity_quantity == cq and r.limit_type == PEBCPowerEnvelopeLimitType.LOWER_LIMIT
                    and not r.abnormal_condition_only]  # fmt: skip
            ups = [r.range_boundary for r in pc.allowed_limit_ranges
                   if r.commodity_quantity == cq and r.limit_type == PEBCPowerEnvelopeLimitType.UPPER_LIMIT
                   and not r.abnormal_condition_only]  # fmt: skip
            if not lows or not ups:
                continue
            lo_min = min(r.start_of_range for r in lows)
            lo_max = max(r.end_of_range for r in lows)
            upper = max(r.end_of_range for r in ups)
            lower = np.clip(-production_kw * 1000.0, lo_min, lo_max)
            # Where the plan takes all the forecast production and no energy window counts it, no
            # limit: the forecast is a period average (hourly here), so capping at it curtails
            # whatever the sun gives above it, at any price.
            free = production_kw >= np.asarray(spec.available_kw, float) - 1e-3
            for w in spec.energy:
                free &= np.asarray(w.hours) <= 0.0
            lower = np.where(free, lo_min, lower)
            lower = np.minimum(np.round(lower, 1), upper)
            envelopes.append(
                PEBCPowerEnvelope(
                    id=ID(str(uuid.uuid4())),
                    commodity_quantity=cq,
                    power_envelope_elements=_merge(lower, upper, step_s, start, earliest),
                )
            )
        if not envelopes:
            return None
        return PEBCInstruction(
            message_id=uuid.uuid4(),
            id=uuid.uuid4(),
            execution_time=max(start, earliest),
            abnormal_condition=False,
            power_constraints_id=pc.id,
            power_envelopes=envelopes,
        )


def _electric(cq: Any) -> bool:
    # s2-python 0.11 gives an EnergyConstraint without commodity_quantity a list as its default
    return isinstance(cq, CommodityQuantity) and cq in ELECTRIC


def _expected_w(el: Any) -> float:
    return float(sum(v.value_expected for v in el.power_values if v.commodity_quantity in ELECTRIC))


def _merge(
    lower: np.ndarray, upper: float, step_s: int, start: datetime, earliest: datetime
) -> list[PEBCPowerEnvelopeElement]:
    skip_s = max((earliest - start).total_seconds(), 0.0)
    out: list[PEBCPowerEnvelopeElement] = []
    for k, lo in enumerate(lower):
        dur_s = step_s - (skip_s if k == 0 else 0.0)
        if dur_s <= 0:
            continue
        if out and out[-1].lower_limit == float(lo):
            out[-1].duration = Duration(out[-1].duration.root + int(dur_s * 1000))
        else:
            out.append(PEBCPowerEnvelopeElement(duration=Duration(int(dur_s * 1000)), upper_limit=upper,
                                                lower_limit=float(lo)))  # fmt: skip
    return out[:288]


def _snapshot(dev: Any, state: PebcState, req: Any, now: datetime, earliest: datetime) -> None:
    pi = state.inputs(dev.name, req.start, req.step_s, req.n, dev.forecast, dev.measured_w, now)
    if pi is not None:
        req.pebc.append(pi)


def _instructions(
    dev: Any, state: PebcState, plan: Any, req: Any, earliest: datetime, now: datetime, max_count: int
) -> list[Any] | None:
    spec = req.by_name.get(dev.name)
    if not isinstance(spec, PowerEnvelopeDevice) or dev.name not in plan.pv_kw:
        return None
    one = state.instruction(spec, plan.pv_kw[dev.name], plan.start, plan.step_s, earliest)
    have = _latest(dev.instructions)
    if one is not None and have is not None and same_envelopes(have, one):
        return []  # the RM has this envelope already (decision 0024: send only what changed)
    return [*revoke_previous(dev, RevokableObjects.PEBC_Instruction, now), *([] if one is None else [one])]


def _latest(records: dict[uuid.UUID, Any]) -> PEBCInstruction | None:
    """The PEBC.Instruction the RM follows from now on: the latest sent that was not revoked,
    rejected or aborted (pending or started)."""
    live = [r.instruction for r in records.values()
            if isinstance(r.instruction, PEBCInstruction) and r.status not in NEVER_RAN]  # fmt: skip
    return max(live, key=lambda m: m.execution_time, default=None)


def _pieces(instr: PEBCInstruction) -> dict[Any, list[tuple[float, float, float, float]]]:
    """Each envelope as (from, to, lower W, upper W) in epoch seconds, by commodity quantity."""
    out = {}
    for env in instr.power_envelopes:
        t, pieces = instr.execution_time.timestamp(), []
        for el in env.power_envelope_elements:
            end = t + el.duration.root / 1000.0
            pieces.append((t, end, float(el.lower_limit), float(el.upper_limit)))
            t = end
        out[env.commodity_quantity] = pieces
    return out


def same_envelopes(have: PEBCInstruction, new: PEBCInstruction) -> bool:
    """Whether the RM following ``have`` already runs ``new``: the same power constraints, and from
    ``new``'s execution time to its end the same limits (within :data:`ENVELOPE_TOLERANCE` of the
    largest limit; re-plans from new measurements move a curtailed period's limit a little) on
    every commodity quantity. The elements' boundaries may differ: ``new`` starts at "now + the
    RM's delay", which moves at every plan."""
    if have.power_constraints_id != new.power_constraints_id or have.execution_time > new.execution_time:
        return False
    old, nw = _pieces(have), _pieces(new)
    if old.keys() != nw.keys():
        return False
    for cq, pieces in nw.items():
        tol = max(
            ENVELOPE_TOLERANCE * max((max(abs(lo), abs(up)) for _, _, lo, up in pieces), default=0.0), 1.0
        )
        for a, b, lo, up in pieces:
            covered = a
            for c, d, lo2, up2 in old[cq]:
                if min(b, d) - max(a, c) <= 0.5:  # elements' ends move by a millisecond (whole ms)
                    continue
                if c > covered + 0.5 or abs(lo - lo2) > tol or abs(up - up2) > tol:
                    return False
                covered = max(covered, d)
            if covered < b - 0.5:  # the envelope the RM has ends earlier (the horizon moved on)
                return False
    return True


ENVELOPE_TOLERANCE = 5e-3
"""Two envelope limits closer than this share of the envelope's largest limit are the same (as
:data:`~gridflex.s2.control.base.FACTOR_TOLERANCE` for operation-mode factors)."""


CONTROL = Control(
    ControlType.POWER_ENVELOPE_BASED_CONTROL,
    "PEBC",
    new_state=lambda records: PebcState(),
    events={"PEBC.PowerConstraints": "system", "PEBC.EnergyConstraint": "target"},
    snapshot=_snapshot,
    instructions=_instructions,
)

PebcAsset = PowerEnvelope
PebcInputs = PowerEnvelopeDevice
pebc_assets = power_envelope_assets  # the names before the move to gridflex.assets.power_envelope
