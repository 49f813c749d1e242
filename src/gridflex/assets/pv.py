"""Photovoltaics: a production profile (kW AC), optionally curtailable down to zero."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Flex, Hook, Output
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock
from gridflex.timegrid import Series


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
        return add_production(ctx, self.label, self.node, ctx.series(self.profile_kw), self.curtailable)[1]


def add_production(
    ctx: Context, label: str, node: str, avail: np.ndarray, curtailable: bool = True
) -> tuple[VarBlock, Built]:
    """Production ``x_t`` (kW, ``0`` or, not curtailable, ``avail_t`` ≤ ``x_t`` ≤ ``avail_t``) fed
    to the electricity bus of ``node``: its variables and what the site reads back (PV, and the S2
    planner's curtailable PEBC devices)."""
    n = avail.size
    t = np.arange(n)
    g = ctx.add_vars(f"{label} production", n, 0.0 if curtailable else avail, avail)
    ctx.flow(ELECTRICITY, node, t, g.idx, -1.0)
    bus = f"{ELECTRICITY}@{node}"

    def read(sol: Solution) -> Output:
        x = sol.value(g)
        # Curtailing raises the site's consumption (up); releasing curtailment lowers it (down).
        up = x if curtailable else np.zeros(n)
        down = avail - x if curtailable else np.zeros(n)
        return Output({ELECTRICITY: -x}, None, Flex(bus, up, down))

    lo = np.zeros(n) if curtailable else avail
    return g, Built(read, Hook(label, bus, [(g, -1.0)], -avail, -lo))
