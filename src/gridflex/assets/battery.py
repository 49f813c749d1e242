"""Electric battery: a store on the electricity bus with C-rate limits and a degradation cost.

Power limits are ``min(power_kw, c_rate_per_h · capacity_kwh)``; everything else is the store core
of :mod:`gridflex.assets.storage` (efficiencies, SOC window, initial and target SOC, soft target,
degradation cost per MWh of throughput).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridflex.assets.base import ELECTRICITY
from gridflex.assets.storage import StoreBase


class Battery(StoreBase):
    """A stationary electric battery."""

    kind: Literal["battery"]
    charge_efficiency: float = Field(0.95, gt=0, le=1, description="share of charged energy that is stored")
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="share of drawn energy delivered")
    c_rate_charge_per_h: float | None = Field(
        None, gt=0, description="charging power limit as a multiple of capacity per hour (1C = full in 1 h)"
    )
    c_rate_discharge_per_h: float | None = Field(
        None, gt=0, description="discharging power limit as a multiple of capacity per hour"
    )

    def _carrier(self) -> str:
        return ELECTRICITY

    def _power_limits(self) -> tuple[float, float]:
        ch, dis = super()._power_limits()
        if self.c_rate_charge_per_h is not None:
            ch = min(ch, self.c_rate_charge_per_h * self.capacity_kwh)
        if self.c_rate_discharge_per_h is not None:
            dis = min(dis, self.c_rate_discharge_per_h * self.capacity_kwh)
        return ch, dis
