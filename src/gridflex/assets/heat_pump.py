"""Heat pump: electricity → heat with a COP that follows the outdoor temperature.

``COP_t = η · T_hot / (T_hot − T_out,t)`` with temperatures in kelvin (the Carnot COP scaled by the
Carnot efficiency η), clipped to ``[cop_min, cop_max]``; a fixed ``cop`` overrides the formula.
Electric input ``p_t ∈ [0, electric_power_kw]`` gives ``COP_t · p_t`` of heat.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context
from gridflex.assets.converter import add_conversion
from gridflex.errors import Problem
from gridflex.timegrid import Series

KELVIN = 273.15


def carnot_cop(
    supply_c: float, outdoor_c: np.ndarray, efficiency: float, cop_min: float, cop_max: float
) -> np.ndarray:
    """Clipped COP per period; where the outdoor air is as warm as the supply, ``cop_max``."""
    t_hot = supply_c + KELVIN
    lift = t_hot - (np.asarray(outdoor_c, dtype=float) + KELVIN)
    cop = np.divide(efficiency * t_hot, lift, out=np.full(lift.shape, np.inf), where=lift > 0)
    return np.clip(cop, cop_min, cop_max)


class HeatPump(AssetBase):
    """An electric heat pump feeding a heat bus."""

    kind: Literal["heat_pump"]
    electric_power_kw: float = Field(gt=0, description="maximum electric input, kW")
    heat_carrier: str = Field("heat", min_length=1, description="carrier of the heat produced")
    outdoor_temperature_c: Series = Field(10.0, description="outdoor (source) temperature per period, °C")
    supply_temperature_c: float = Field(45.0, description="supply (sink) temperature, °C")
    carnot_efficiency: float = Field(0.45, gt=0, le=1, description="η: share of the Carnot COP reached")
    cop_min: float = Field(1.0, gt=0, description="lower clip of the COP")
    cop_max: float = Field(6.0, gt=0, description="upper clip of the COP")
    cop: float | None = Field(None, gt=0, description="fixed COP (overrides the temperature formula)")

    def check(self, ctx: Context) -> list[Problem]:
        out = ctx.series_problems(self.name, outdoor_temperature_c=self.outdoor_temperature_c)
        if self.cop_min > self.cop_max:
            out.append(Problem(self.name, "cop_min", f"{self.cop_min} exceeds cop_max {self.cop_max}"))
        return out

    def cop_series(self, ctx: Context) -> np.ndarray:
        if self.cop is not None:
            return np.full(ctx.n, self.cop)
        t_out = ctx.series(self.outdoor_temperature_c)
        return carnot_cop(
            self.supply_temperature_c, t_out, self.carnot_efficiency, self.cop_min, self.cop_max
        )

    def build(self, ctx: Context) -> Built:
        return add_conversion(
            ctx,
            self.label,
            self.node,
            {ELECTRICITY: np.ones(ctx.n)},
            {self.heat_carrier: self.cop_series(ctx)},
            np.full(ctx.n, self.electric_power_kw),
        )
