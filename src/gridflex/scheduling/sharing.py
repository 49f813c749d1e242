"""Community energy sharing: members (nodes of a site), allocation keys, shared versus grid energy.

Two ways energy is shared in a community, both in one site file:

* **Physically**, over ``link`` assets between nodes (a private cable, a heat pipe: limits and
  losses, :mod:`gridflex.assets.link`): the optimiser sends a surplus at one node to another instead
  of exporting here and importing there.
* **Virtually, through the public grid** (collective self-consumption, EU renewable energy
  communities): every member keeps its meter; in each period the members' exports (the surplus) are
  allocated to the members' imports by an **allocation key**, ex post:

  - ``dynamic_pro_rata`` (the default key of French collective self-consumption): each importing
    member receives the surplus in proportion to its import, at most its import:
    ``r_i = I_i · min(1, S / ΣI)``;
  - ``static``: each member receives a fixed share ``k_i`` of the surplus, at most its import:
    ``r_i = min(I_i, k_i·S)``; what is not taken goes to the grid.

  The energy received is taken from the exporting members in proportion to their exports, so
  ``Σ received = Σ sent ≤ S`` in every period (energy is conserved). With
  ``value_eur_per_mwh > 0`` the optimiser also values the pooled shared energy
  ``s_t ≤ min(Σ exports, Σ imports)`` (the cost term ``community_sharing``), which moves flexible
  members' consumption to the hours when others export; this is what dynamic pro-rata allocates
  exactly, and an upper bound of what a static key allocates.

:func:`sharing_report` gives per member: imports and exports at its meters, energy received from
and sent to the community, what remained grid import and grid export, and link flows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from gridflex.assets.base import ELECTRICITY, Built, Context
from gridflex.assets.grid_connection import GridConnection
from gridflex.assets.link import Link
from gridflex.errors import Problem

if TYPE_CHECKING:
    from gridflex.scheduling.result import SiteResult
    from gridflex.scheduling.site import CompiledSite, Site


class Member(BaseModel):
    """A member of the community: its name and the site nodes that are its premises."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="member name, as in the report")
    nodes: list[str] = Field(min_length=1, description="the site nodes that are this member's premises")


class CommunitySpec(BaseModel):
    """Members sharing energy through the public grid, and how the shared energy is allocated."""

    model_config = ConfigDict(extra="forbid")
    carrier: str = Field(
        ELECTRICITY, min_length=1, description="carrier shared (at the members' grid connections)"
    )
    members: list[Member] = Field(min_length=2, description="the members, at least two")
    allocation: Literal["dynamic_pro_rata", "static"] = Field(
        "dynamic_pro_rata", description="allocation key: dynamic pro rata of imports, or static shares"
    )
    static_shares: dict[str, float] | None = Field(
        None, description="member → share of the surplus (static key; shares sum to at most 1)"
    )
    value_eur_per_mwh: float = Field(
        0.0,
        ge=0,
        description="worth of a MWh shared (retail price avoided − community price − fees), EUR/MWh; "
        "0: allocation is reported only",
    )


ALLOCATION_KEYS = ("dynamic_pro_rata", "static")


def community_problems(site: Site, ctx: Context) -> list[Problem]:
    """Members, nodes, shares and a sharing value that do not fit the site (validation collects)."""
    c = site.community
    if c is None:
        return []
    out = _value_problems(site, ctx)
    nodes = {a.node for a in site.assets} | {getattr(a, "to_node", a.node) for a in site.assets}
    seen: dict[str, str] = {}
    names = [m.name for m in c.members]
    for i, m in enumerate(c.members):
        if names.count(m.name) > 1:
            out.append(
                Problem("community", f"members.{i}.name", f"{m.name!r} is used by more than one member")
            )
        for node in m.nodes:
            if node not in nodes:
                out.append(Problem("community", f"members.{i}.nodes", f"no asset is at node {node!r}"))
            elif node in seen:
                out.append(
                    Problem("community", f"members.{i}.nodes", f"node {node!r} belongs to {seen[node]!r} too")
                )
            seen.setdefault(node, m.name)
    if c.allocation == "static":
        shares = c.static_shares or {}
        if not shares:
            out.append(Problem("community", "static_shares", "the static key needs a share per member"))
        for name, k in shares.items():
            if name not in names:
                out.append(Problem("community", f"static_shares.{name}", f"{name!r} is not a member"))
            elif not 0 <= k <= 1:
                out.append(Problem("community", f"static_shares.{name}", f"must be within [0, 1], got {k}"))
        if sum(shares.values()) > 1 + 1e-9:
            out.append(Problem("community", "static_shares", f"sum to {sum(shares.values()):g}, more than 1"))
    elif c.static_shares is not None:
        out.append(Problem("community", "static_shares", "are only used by allocation: static"))
    return out


def _value_problems(site: Site, ctx: Context) -> list[Problem]:
    """A sharing value at or above a meter's import-minus-export price margin would pay that member
    to import and export at once (the pooled total counts both): refuse it."""
    c = site.community
    assert c is not None
    if c.value_eur_per_mwh <= 0:
        return []
    names = {n for names in _member_meters(site).values() for n in names}
    margins = []
    for a in site.assets:
        if isinstance(a, GridConnection) and a.name in names and not a.check(ctx):
            energy, tariff, export, co2 = a._prices(ctx)
            margins.append(float(np.min(energy + tariff + co2 - export)))
    if margins and c.value_eur_per_mwh >= min(margins):
        why = (f"{c.value_eur_per_mwh:g} EUR/MWh is not below the smallest import − export price margin of "
               f"the members' meters ({min(margins):g} EUR/MWh): a member would be paid to import and export "
               "at once")  # fmt: skip
        return [Problem("community", "value_eur_per_mwh", why)]
    return []


def allocate(
    exports_kw: np.ndarray,
    imports_kw: np.ndarray,
    key: str = "dynamic_pro_rata",
    shares: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(received, sent) per member and period (arrays members × periods, kW) under an allocation key.

    ``exports_kw`` / ``imports_kw``: what each member's meters export and import. Received never
    exceeds a member's import, sent never its export, and ``Σ received = Σ sent`` in every period.
    """
    exp = np.maximum(np.asarray(exports_kw, float), 0.0)
    imp = np.maximum(np.asarray(imports_kw, float), 0.0)
    surplus, demand = exp.sum(axis=0), imp.sum(axis=0)
    if key == "dynamic_pro_rata":
        short = demand > surplus  # only then is the ratio below 1 (and never overflows)
        received = imp * np.divide(surplus, demand, out=np.ones_like(surplus), where=short)
    elif key == "static":
        k = np.zeros(exp.shape[0]) if shares is None else np.asarray(shares, float)
        received = np.minimum(imp, k[:, None] * surplus)
    else:
        raise ValueError(f"unknown allocation key {key!r}; known: {', '.join(ALLOCATION_KEYS)}")
    total = received.sum(axis=0)
    sent = exp * np.divide(total, surplus, out=np.zeros_like(surplus), where=surplus > 0)
    return received, sent


def _member_meters(site: Site) -> dict[str, list[str]]:
    """Member → names of its grid connections of the community's carrier."""
    c = site.community
    assert c is not None
    node_member = {n: m.name for m in c.members for n in m.nodes}
    out: dict[str, list[str]] = {m.name: [] for m in c.members}
    for a in site.assets:
        if isinstance(a, GridConnection) and a.carrier == c.carrier and a.node in node_member:
            out[node_member[a.node]].append(a.name)
    return out


def add_sharing(ctx: Context, site: Site, built: dict[str, Built]) -> None:
    """The pooled shared energy ``s_t ≤ Σ exports, ≤ Σ imports`` of the members, valued at
    ``value_eur_per_mwh`` (only when that is positive)."""
    c = site.community
    if c is None or c.value_eur_per_mwh <= 0:
        return
    n, t = ctx.n, np.arange(ctx.n)
    s = ctx.add_vars("community shared energy", n, 0.0, np.inf,
                     {"community_sharing": np.full(n, -c.value_eur_per_mwh * ctx.dt_h / 1000.0)})  # fmt: skip
    meters = [name for names in _member_meters(site).values() for name in names]
    for side, sign in (("exports", -1.0), ("imports", 1.0)):
        blocks = [b for m in meters if (h := built[m].hook) is not None for b, k in h.terms if k * sign > 0]
        rows = np.concatenate([t] * (len(blocks) + 1))
        cols = np.concatenate([s.idx] + [b.idx for b in blocks])
        vals = np.concatenate([np.ones(n)] + [-np.ones(n)] * len(blocks))
        ctx.relation(f"community shared energy within {side}", rows, cols, vals, -np.inf, 0.0, n)


@dataclass
class SharingReport:
    """Per member and period (kW): meter imports and exports, energy received from and sent to the
    community, link flows; ``table()`` sums them in kWh per member."""

    members: list[str]
    index: pd.DatetimeIndex
    dt_h: float
    import_kw: np.ndarray  # members × periods
    export_kw: np.ndarray
    received_kw: np.ndarray
    sent_kw: np.ndarray
    link_in_kw: np.ndarray
    link_out_kw: np.ndarray

    @property
    def grid_import_kw(self) -> np.ndarray:
        return self.import_kw - self.received_kw

    @property
    def grid_export_kw(self) -> np.ndarray:
        return self.export_kw - self.sent_kw

    def table(self) -> pd.DataFrame:
        """One row per member, kWh over the horizon: what it imported (shared and from the grid),
        exported (shared and to the grid), and took from / gave to links."""
        cols = {
            "import_kwh": self.import_kw, "shared_received_kwh": self.received_kw,
            "grid_import_kwh": self.grid_import_kw, "export_kwh": self.export_kw,
            "shared_sent_kwh": self.sent_kw, "grid_export_kwh": self.grid_export_kw,
            "link_in_kwh": self.link_in_kw, "link_out_kwh": self.link_out_kw,
        }  # fmt: skip
        df = pd.DataFrame({k: v.sum(axis=1) * self.dt_h for k, v in cols.items()}, index=self.members)
        df.index.name = "member"
        return df


def sharing_report(site: Site | CompiledSite, result: SiteResult) -> SharingReport:
    """Shared versus grid energy per member of the site's community, from a schedule's result."""
    s = cast("Site", getattr(site, "site", site))  # a CompiledSite carries its Site
    c = s.community
    if c is None:
        raise ValueError(f"site '{s.name}' has no community section")
    n = result.grid.n
    meters = _member_meters(s)
    names = [m.name for m in c.members]
    imp, exp = np.zeros((len(names), n)), np.zeros((len(names), n))
    for i, name in enumerate(names):
        for g in meters[name]:
            net = np.asarray(result.power_kw[g][c.carrier])
            imp[i] += np.maximum(net, 0.0)
            exp[i] += np.maximum(-net, 0.0)
    # What links took from (+) or gave to (−) each member's nodes: the rest of each node's balance.
    at_node = {a.name: a.node for a in s.assets if not isinstance(a, Link)}
    node_member = {nd: i for i, m in enumerate(c.members) for nd in m.nodes}
    by_links = np.zeros((len(names), n))
    for name, node in at_node.items():
        row = node_member.get(node)
        kw = result.power_kw[name].get(c.carrier)
        if row is None or kw is None:
            continue
        by_links[row] += np.asarray(kw) if result.kinds[name] == "grid_connection" else -np.asarray(kw)
    if not any(isinstance(a, Link) for a in s.assets):
        by_links[:] = 0.0  # no links: only rounding is left
    link_out, link_in = np.maximum(by_links, 0.0), np.maximum(-by_links, 0.0)
    shares = None if c.static_shares is None else np.array([c.static_shares.get(m, 0.0) for m in names])
    received, sent = allocate(exp, imp, c.allocation, shares)
    return SharingReport(
        names, result.grid.index, result.grid.step_h, imp, exp, received, sent, link_in, link_out
    )
