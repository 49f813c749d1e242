"""Power envelopes: curtailable production, e.g. PV behind an inverter that takes a power limit, with
optional energy constraints over time windows (S2's PEBC devices).

A device (:class:`PowerEnvelopeDevice`, plain data) gives the production available per period (kW)
and its energy windows. As a site asset (:class:`PowerEnvelope`, kind ``power_envelope``) it is
production ``0 ≤ x_t ≤ available_t`` on the electricity bus (flow ``−x_t``, like a curtailable ``pv``
asset) plus one soft row per energy window: ``min_kwh ≤ Σ_t h_t·x_t ≤ max_kwh`` with ``h_t`` the
hours of period ``t`` inside the window, and two slacks at ``ENERGY_PENALTY_EUR_PER_KWH`` per kWh
missed, so a window that cannot be met gives the plan closest to it, never an infeasible one. The S2
CEM makes both from PEBC.PowerConstraints / EnergyConstraint (:mod:`gridflex.s2.control.pebc`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, PrivateAttr

from gridflex.assets.base import AssetBase, Built, Context, Output
from gridflex.assets.pv import add_production
from gridflex.errors import Problem
from gridflex.optimize import Solution

log = logging.getLogger(__name__)

ENERGY_PENALTY_EUR_PER_KWH = 10_000.0
"""Cost of each kWh by which the planned production misses a PEBC.EnergyConstraint (either side)."""


@dataclass
class EnergyWindow:
    """One energy window on the period grid (an active PEBC.EnergyConstraint): the production (kWh)
    over ``hours`` must lie in ``[min_kwh, max_kwh]``."""

    constraint_id: uuid.UUID
    hours: np.ndarray  # per period: hours of the period inside the window and ahead of now
    min_kwh: float  # −upper_average_power (kW) × Σ hours
    max_kwh: float  # −lower_average_power (kW) × Σ hours


@dataclass
class PowerEnvelopeDevice:
    """One power-envelope device as plain data (the S2 CEM: a snapshot of a PEBC device)."""

    name: str
    constraints_id: uuid.UUID  # S2: the PEBC.PowerConstraints it was made under
    available_kw: np.ndarray  # production available per period, kW >= 0
    energy: list[EnergyWindow] = field(default_factory=list)  # active electric energy constraints


class PowerEnvelope(AssetBase):
    """A power-envelope device in the site (kind ``power_envelope``, made by the S2 CEM's planner):
    production ``0 ≤ x_t ≤ available_t`` on the electricity bus plus one soft row per energy
    window (module docstring)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    kind: Literal["power_envelope"] = "power_envelope"
    spec: Any = Field(description="the device (PowerEnvelopeDevice)")
    _missed_kwh: np.ndarray = PrivateAttr(default_factory=lambda: np.zeros(0))

    @property
    def missed_kwh(self) -> np.ndarray:
        """Per energy constraint of the last solution: kWh below (−) or above (+) its bounds."""
        return self._missed_kwh

    def check(self, ctx: Context) -> list[Problem]:
        if not isinstance(self.spec, PowerEnvelopeDevice):
            return [Problem(self.name, "spec", "is not a PowerEnvelopeDevice")]
        if len(self.spec.available_kw) != ctx.n or not np.isfinite(self.spec.available_kw).all():
            return [Problem(self.name, "spec", f"available_kw needs {ctx.n} finite values")]
        return []

    def build(self, ctx: Context) -> Built:
        spec: PowerEnvelopeDevice = self.spec
        avail = np.asarray(spec.available_kw, dtype=float)
        x, production = add_production(ctx, self.label, self.node, avail)
        k = len(spec.energy)
        if not k:
            return production
        pen = {"penalty": ENERGY_PENALTY_EUR_PER_KWH}
        short = ctx.add_vars(f"{self.label} energy shortfall", k, 0.0, np.inf, pen)
        over = ctx.add_vars(f"{self.label} energy excess", k, 0.0, np.inf, pen)
        hours = np.array([w.hours for w in spec.energy])  # (k, n)
        lo = np.array([min(w.min_kwh, w.max_kwh) for w in spec.energy])
        hi = np.array([w.max_kwh for w in spec.energy])
        j = np.arange(k)
        nz = hours > 0
        rows = np.concatenate([np.nonzero(nz)[0], j, j])
        cols = np.concatenate([np.broadcast_to(x.idx, hours.shape)[nz], short.idx, over.idx])
        vals = np.concatenate([hours[nz], np.ones(k), -np.ones(k)])
        ctx.relation(f"{self.label} energy constraint", rows, cols, vals, lo, hi, k)

        def read(sol: Solution) -> Output:
            self._missed_kwh = sol.value(over) - sol.value(short)
            for w, m in zip(spec.energy, self._missed_kwh, strict=True):
                if abs(m) > 1e-6:
                    log.warning("power envelope '%s': energy window %s missed by %.3f kWh (cannot be met)",
                                spec.name, w.constraint_id, abs(m))  # fmt: skip
            return production.read(sol)

        return Built(read, production.hook)


def power_envelope_assets(spec: PowerEnvelopeDevice, node: str = "site") -> list[PowerEnvelope]:
    """The device's assets for the site: one :class:`PowerEnvelope` named ``<device>/pv``."""
    return [PowerEnvelope(name=f"{spec.name}/pv", node=node, spec=spec)]
