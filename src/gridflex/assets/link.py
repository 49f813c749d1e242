"""A link between two nodes of a site: a private line, a heat pipe, a community's own cable.

Variables per period: ``f_ab`` sent from ``node`` to ``to_node`` and ``f_ba`` the other way (kW at the
sending end, ``≤ capacity_kw`` / ``reverse_capacity_kw``). The receiving end gets ``(1 − loss_frac)``
of what is sent; the difference is lost. A wheeling fee per MWh sent goes to the cost term
``wheeling``. Sending both ways in the same period is excluded by the scheduler's exactness check.

Results: per carrier, like every asset with the site's nodes summed, the link consumes its loss.
The flow sent and received at each member's nodes: :func:`gridflex.scheduling.sharing.sharing_report`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Output, Pair, bus_name
from gridflex.errors import Problem
from gridflex.optimize import Solution


class Link(AssetBase):
    """A line between two nodes with limits and losses (``node`` is one end, ``to_node`` the other)."""

    kind: Literal["link"]
    to_node: str = Field(min_length=1, description="the other end of the link")
    carrier: str = Field(ELECTRICITY, min_length=1, description="carrier carried")
    capacity_kw: float | None = Field(None, ge=0, description="most power sent from node to to_node, kW")
    reverse_capacity_kw: float | None = Field(
        None, ge=0, description="most power sent from to_node to node, kW (default: capacity_kw)"
    )
    loss_frac: float = Field(0.0, ge=0, lt=1, description="share of the power sent that is lost on the way")
    wheeling_eur_per_mwh: float = Field(0.0, ge=0, description="fee per MWh sent over the link, EUR/MWh")

    def check(self, ctx: Context) -> list[Problem]:
        if self.to_node == self.node:
            return [
                Problem(self.name, "to_node", f"is the link's own node {self.node!r}: a link joins two nodes")
            ]
        return []

    def limits(self) -> tuple[float, float]:
        fwd = np.inf if self.capacity_kw is None else self.capacity_kw
        rev = fwd if self.reverse_capacity_kw is None else self.reverse_capacity_kw
        return fwd, rev

    def build(self, ctx: Context) -> Built:
        n, t = ctx.n, np.arange(ctx.n)
        fwd, rev = self.limits()
        fee = {"wheeling": np.full(n, self.wheeling_eur_per_mwh * ctx.dt_h / 1000.0)}
        ab = ctx.add_vars(f"{self.label} {self.node} to {self.to_node}", n, 0.0, fwd, fee)
        ba = ctx.add_vars(f"{self.label} {self.to_node} to {self.node}", n, 0.0, rev, fee)
        keep = 1.0 - self.loss_frac
        for send, get in ((self.node, self.to_node), (self.to_node, self.node)):
            block = ab if send == self.node else ba
            ctx.flow(self.carrier, send, t, block.idx, 1.0)
            ctx.flow(self.carrier, get, t, block.idx, -keep)
        if fwd > 0 and rev > 0:
            ctx.pairs.append(Pair(self.label, [ab], [ba], np.full(n, fwd), np.full(n, rev),
                                  bus_name(self.carrier, self.node)))  # fmt: skip

        def read(sol: Solution) -> Output:
            # Per carrier, as every result reports assets (nodes summed): what the link consumes is its
            # loss. What each member's nodes send and receive: gridflex.scheduling.sharing.
            return Output({self.carrier: self.loss_frac * (sol.value(ab) + sol.value(ba))})

        return Built(read)
