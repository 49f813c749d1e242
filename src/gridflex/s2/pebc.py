"""PEBC (power-envelope based control) for curtailable production such as PV.

State: PEBC.PowerConstraints and PEBC.EnergyConstraint by id (revocable), plus the session's
PowerForecast / PowerMeasurement for the available production. Mapping: a curtailable ``pv`` asset
whose profile is the available production (kW, from the forecast's expected electric values, else
the last measurement held); the schedule's production ``x_t`` becomes the envelope's lower limit
``−x_t`` (W; production at most ``x_t``), clamped to the constraint's LOWER_LIMIT range, and the most
permissive value of its UPPER_LIMIT range as upper limit. Consecutive equal periods are merged.
Energy constraints are kept (and revocable) but not yet mapped (part 2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from s2python.common import Duration, PowerForecast, PowerMeasurement
from s2python.generated.gen_s2 import ID, PEBCPowerEnvelopeLimitType
from s2python.pebc import (
    PEBCEnergyConstraint,
    PEBCInstruction,
    PEBCPowerConstraints,
    PEBCPowerEnvelope,
    PEBCPowerEnvelopeElement,
)

from gridflex.s2.frbc import ELECTRIC, profile_average

PebcMessage = PEBCPowerConstraints | PEBCEnergyConstraint


@dataclass
class PebcInputs:
    """Plain-data snapshot of one PEBC device for the optimiser."""

    name: str
    constraints_id: uuid.UUID
    available_kw: np.ndarray  # production available per period, kW >= 0


@dataclass
class PebcState:
    power_constraints: dict[uuid.UUID, PEBCPowerConstraints] = field(default_factory=dict)
    energy_constraints: dict[uuid.UUID, PEBCEnergyConstraint] = field(default_factory=dict)

    def check(self, msg: PebcMessage) -> str | None:
        if isinstance(msg, PEBCEnergyConstraint) and msg.valid_until <= msg.valid_from:
            return "valid_until is not after valid_from"
        return None

    def apply(self, msg: PebcMessage) -> None:
        if isinstance(msg, PEBCPowerConstraints):
            self.power_constraints[msg.id] = msg
        else:
            self.energy_constraints[msg.id] = msg

    def revoke(self, object_type: str, object_id: uuid.UUID) -> bool:
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
        measurement: PowerMeasurement | None,
    ) -> PebcInputs | None:
        pc = self.active(start)
        if pc is None:
            return None
        power_w = np.zeros(n)
        if forecast is not None:
            power_w = profile_average(forecast, start, step_s, n, _expected_w, hold_last=True)
        elif measurement is not None:
            power_w = np.full(n, sum(v.value for v in measurement.values if v.commodity_quantity in ELECTRIC))
        return PebcInputs(name, pc.id, np.maximum(-power_w / 1000.0, 0.0))

    def instruction(
        self, spec: PebcInputs, production_kw: np.ndarray, start: datetime, step_s: int, earliest: datetime
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


def pebc_assets(spec: PebcInputs, node: str = "site") -> list[dict[str, Any]]:
    return [{"kind": "pv", "name": f"{spec.name}/pv", "node": node,
             "profile_kw": [float(x) for x in spec.available_kw], "curtailable": True}]  # fmt: skip
