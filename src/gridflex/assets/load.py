"""Inflexible demand of any carrier: a fixed profile (kW, positive = consumption)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Output
from gridflex.errors import Problem
from gridflex.optimize import Solution
from gridflex.timegrid import Series


class Load(AssetBase):
    """A demand that must be served as given (building electricity, space heat, process hydrogen)."""

    kind: Literal["load"]
    carrier: str = Field(ELECTRICITY, min_length=1, description="carrier consumed")
    profile_kw: Series = Field(description="demand per period, kW (positive = consumption)")

    def check(self, ctx: Context) -> list[Problem]:
        return ctx.series_problems(self.name, profile_kw=self.profile_kw)

    def build(self, ctx: Context) -> Built:
        demand = ctx.series(self.profile_kw)
        ctx.fixed_flow(self.carrier, self.node, demand, self.label)

        def read(sol: Solution) -> Output:
            return Output({self.carrier: demand})

        return Built(read)
