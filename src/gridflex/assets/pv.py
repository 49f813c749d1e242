"""Photovoltaics: a production profile (kW AC), optionally curtailable down to zero."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Flex, Hook, Output, Series
from gridflex.errors import Problem
from gridflex.optimize import Solution


class PV(AssetBase):
    """A PV system; the profile is the available production per period (positive kW)."""

    kind: Literal["pv"]
    profile_kw: Series = Field(description="available AC production per period, kW (>= 0)")
    curtailable: bool = Field(True, description="whether production may be reduced below the profile")

    def check(self, ctx: Context) -> list[Problem]:
        out = ctx.series_problems(self.name, profile_kw=self.profile_kw)
        if not out and (ctx.series(self.profile_kw) < 0).any():
            out.append(
                Problem(self.name, "profile_kw", "production must be >= 0 kW (sign is applied by the model)")
            )
        return out

    def build(self, ctx: Context) -> Built:
        avail = ctx.series(self.profile_kw)
        t = np.arange(ctx.n)
        g = ctx.add_vars(f"{self.label} production", ctx.n, 0.0 if self.curtailable else avail, avail)
        ctx.flow(ELECTRICITY, self.node, t, g.idx, -1.0)
        bus = f"{ELECTRICITY}@{self.node}"

        def read(sol: Solution) -> Output:
            x = sol.value(g)
            # Curtailing raises the site's consumption (up); releasing curtailment lowers it (down).
            up = x if self.curtailable else np.zeros(ctx.n)
            down = avail - x if self.curtailable else np.zeros(ctx.n)
            return Output({ELECTRICITY: -x}, None, Flex(bus, up, down))

        lo = np.zeros(ctx.n) if self.curtailable else avail
        return Built(read, Hook(self.label, bus, [(g, -1.0)], -avail, -lo))
