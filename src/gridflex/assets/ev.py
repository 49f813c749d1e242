"""Electric vehicle charging session: plugged in from ``arrival`` to ``departure`` (exclusive).

The car's battery is a store on the electricity bus whose charge (and, with ``v2g_kw > 0``,
discharge) limits are zero outside the session; its energy at the end of the last plugged period
must be at least ``initial_kwh + energy_need_kwh`` (group ``"ev '<name>' energy need"``), hard or
soft with a penalty per kWh missed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, SoftConstraint, TimeRef
from gridflex.assets.storage import Level, StoreArrays, add_store
from gridflex.errors import Problem


class EV(AssetBase):
    """One charging session of one car at one charger."""

    kind: Literal["ev"]
    battery_kwh: float = Field(gt=0, description="usable battery capacity of the car, kWh")
    initial_kwh: float = Field(0.0, ge=0, description="energy in the battery at arrival, kWh")
    energy_need_kwh: float = Field(ge=0, description="energy to add by departure, kWh")
    arrival: TimeRef = Field(0, description="first plugged period: index, ISO time or local 'HH:MM'")
    departure: TimeRef | None = Field(
        None,
        description="end of the session (exclusive): index, ISO time or local 'HH:MM' (default: horizon end)",
    )
    charger_kw: float = Field(gt=0, description="maximum charging power, kW")
    v2g_kw: float = Field(
        0.0, ge=0, description="maximum discharging power back to the site (0 = no V2G), kW"
    )
    charge_efficiency: float = Field(
        0.95, gt=0, le=1, description="share of charger energy stored in the car"
    )
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="share of drawn energy delivered (V2G)")
    soft: SoftConstraint | None = Field(
        None, description="make the energy need soft, with a penalty per kWh missed"
    )

    def window(self, ctx: Context) -> tuple[int | None, int | None]:
        a = ctx.period(self.arrival)
        d = ctx.n if self.departure is None else ctx.period(self.departure, after=a or 0)
        return a, d

    def check(self, ctx: Context) -> list[Problem]:
        out = []
        a, d = self.window(ctx)
        if a is None:
            out.append(
                Problem(self.name, "arrival", f"{self.arrival!r} is not a period boundary of the horizon")
            )
        if d is None:
            out.append(
                Problem(self.name, "departure", f"{self.departure!r} is not a period boundary of the horizon")
            )
        if a is not None and d is not None and d <= a:
            out.append(Problem(self.name, "departure", f"{ctx.clock(d)} is not after arrival {ctx.clock(a)}"))
        if self.initial_kwh + self.energy_need_kwh > self.battery_kwh + 1e-9:
            out.append(
                Problem(
                    self.name,
                    "energy_need_kwh",
                    f"{self.initial_kwh:g} kWh at arrival + {self.energy_need_kwh:g} kWh need exceeds "
                    f"the battery's {self.battery_kwh:g} kWh",
                )
            )
        return out

    def precheck(self, ctx: Context) -> list[Problem]:
        if self.soft is not None:
            return []
        a, d = self.window(ctx)
        assert a is not None and d is not None
        hours = (d - a) * ctx.dt_h
        best = self.charger_kw * self.charge_efficiency * hours
        if self.energy_need_kwh <= best + 1e-9:
            return []
        needs = self.energy_need_kwh / (self.charge_efficiency * hours)
        return [
            Problem(
                self.name,
                "energy_need_kwh",
                f"EV '{self.name}' cannot reach {self.energy_need_kwh:g} kWh by {ctx.clock(d)}: "
                f"needs {needs:.1f} kW, charger gives {self.charger_kw:g} kW "
                f"(plugged {hours:g} h from {ctx.clock(a)}, charging efficiency {self.charge_efficiency:g})",
            )
        ]

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        a, d = self.window(ctx)
        assert a is not None and d is not None
        plugged = np.zeros(n)
        plugged[a:d] = 1.0
        group = f"ev '{self.name}' energy need"
        soft = None if self.soft is None else self.soft.penalty_eur_per_kwh
        need = self.initial_kwh + self.energy_need_kwh
        ctx.explain[group] = lambda k, amount: (
            f"EV '{self.name}' cannot reach {self.energy_need_kwh:g} kWh by {ctx.clock(d)} together with "
            f"the site's other limits (short by {amount:.4g} kWh)"
        )
        s = StoreArrays(
            label=f"ev '{self.name}'",
            carrier=ELECTRICITY,
            node=self.node,
            charge_max_kw=self.charger_kw * plugged,
            discharge_max_kw=self.v2g_kw * plugged,
            soc_lo_kwh=np.zeros(n),
            soc_hi_kwh=np.full(n, self.battery_kwh),
            initial_kwh=self.initial_kwh,
            eta_charge=self.charge_efficiency,
            eta_discharge=self.discharge_efficiency,
            levels=[Level(d - 1, need, group, soft)],
        )
        return add_store(ctx, s)
