"""Pooling sites to answer one DSO tender together (the aggregator's side of a local flexibility call).

An Enedis-style tender asks for at least ``min_power_kw`` (500 kW, falling to 250 kW): most sites
are far smaller. Several sites answer it as one pool: the pool reserves the contract's ``power_kw``,
each site keeps its share available in every window, and each is paid for its share.

Method (exact on a grid of shares): for each site, its cost curve ``cost_i(c)`` (EUR over the
horizon, the site's own energy and services re-optimised) at shares ``c = 0, step, 2·step, …`` up to
the most it can hold (a share it cannot deliver ends the curve); then a dynamic programme over the
sites picks the shares with ``Σ c_i = power_kw`` at least total cost. The pool's value is the
standalone cost of all sites minus the pooled cost.

Public API::

    pool_dso_contract(sites, contract, step_kw=10.0) -> PoolResult
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridflex.errors import GridflexError, Problem, ValidationError
from gridflex.scheduling.result import SiteResult
from gridflex.scheduling.schedule import schedule_site
from gridflex.scheduling.service_spec import DsoContractSpec
from gridflex.scheduling.site import Site, SiteLike, compile_site


@dataclass
class PoolResult:
    """Shares of one DSO contract over sites; costs EUR over the horizon (revenue negative)."""

    contract: str
    power_kw: float
    shares_kw: dict[str, float]
    results: dict[str, SiteResult]  # each site's schedule at its share
    cost_eur: float  # Σ of the sites' costs with the contract
    standalone_cost_eur: float  # Σ of the sites' costs without it
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # site → (kW, EUR)
    alone_kw: dict[str, float] = field(default_factory=dict)  # most each site could hold alone

    @property
    def value_eur(self) -> float:
        """What answering the tender together is worth to the pool (standalone − pooled cost)."""
        return self.standalone_cost_eur - self.cost_eur


def _site(s: SiteLike) -> Site:
    return compile_site(s).site


def _with_share(site: Site, contract: DsoContractSpec, kw: float) -> Site:
    """The site with its share of the contract: a reservation of ``kw``, the tender's minimum
    applying to the pool, not to the site."""
    share = contract.model_copy(update={"power_kw": kw, "min_power_kw": 0.0, "reservation": True})
    services = site.services.model_copy(update={"dso_contracts": [*site.services.dso_contracts, share]})
    return site.model_copy(update={"services": services})


def _curve(site: Site, contract: DsoContractSpec, units: int, step: float) -> list[tuple[float, SiteResult]]:
    out = [(0.0, schedule_site(site))]
    for k in range(1, units + 1):
        try:
            out.append((k * step, schedule_site(_with_share(site, contract, k * step))))
        except GridflexError:  # the site cannot hold this share: larger ones neither
            break
    return out


def pool_dso_contract(sites: list[SiteLike], contract: DsoContractSpec | dict[str, Any],
                      step_kw: float = 10.0) -> PoolResult:  # fmt: skip
    """Split ``contract`` (its ``power_kw``) over ``sites`` at least total cost; see the module doc."""
    spec = contract if isinstance(contract, DsoContractSpec) else DsoContractSpec.model_validate(contract)
    parsed = [_site(s) for s in sites]
    names = [s.name for s in parsed]
    problems = []
    if len(set(names)) != len(names):
        problems.append(Problem("pool", "sites", f"site names must be unique, got {names}"))
    if not (math.isfinite(step_kw) and step_kw > 0):
        problems.append(Problem("pool", "step_kw", f"{step_kw!r} is not a power > 0 kW"))
    elif abs(spec.power_kw / step_kw - round(spec.power_kw / step_kw)) > 1e-9:
        problems.append(
            Problem(spec.name, "power_kw", f"{spec.power_kw:g} kW is not a multiple of step_kw {step_kw:g}")
        )
    if spec.power_kw < spec.min_power_kw:
        problems.append(Problem(spec.name, "power_kw", f"{spec.power_kw:g} kW is below the tender's minimum "
                                f"{spec.min_power_kw:g} kW"))  # fmt: skip
    if problems:
        raise ValidationError("pool", problems)
    units = round(spec.power_kw / step_kw)
    curves = {s.name: _curve(s, spec, units, step_kw) for s in parsed}
    cost = {n: np.array([r.costs_eur["total"] for _, r in c]) for n, c in curves.items()}
    shares = _split(names, cost, units)
    if shares is None:
        most = {n: curves[n][-1][0] for n in names}
        why = f"the sites together hold at most {sum(most.values()):g} kW of {spec.power_kw:g} kW ({most})"
        raise ValidationError("pool", [Problem(spec.name, "power_kw", why)])
    results = {n: curves[n][k][1] for n, k in zip(names, shares, strict=True)}
    return PoolResult(
        contract=spec.name, power_kw=spec.power_kw,
        shares_kw={n: k * step_kw for n, k in zip(names, shares, strict=True)}, results=results,
        cost_eur=float(sum(cost[n][k] for n, k in zip(names, shares, strict=True))),
        standalone_cost_eur=float(sum(cost[n][0] for n in names)),
        curves={n: [(kw, r.costs_eur["total"]) for kw, r in c] for n, c in curves.items()},
        alone_kw={n: curves[n][-1][0] for n in names},
    )  # fmt: skip


def _split(names: list[str], cost: dict[str, np.ndarray], units: int) -> list[int] | None:
    """Units per site with Σ = ``units`` at least Σ cost (dynamic programme), None if out of reach."""
    best = np.full(units + 1, np.inf)
    best[0] = 0.0
    choice = []
    for n in names:
        c = cost[n]
        new = np.full(units + 1, np.inf)
        pick = np.zeros(units + 1, np.int64)
        for k in range(len(c)):
            cand = np.full(units + 1, np.inf)
            cand[k:] = best[: units + 1 - k] + c[k]
            better = cand < new - 1e-12
            new[better], pick[better] = cand[better], k
        best = new
        choice.append(pick)
    if not np.isfinite(best[units]):
        return None
    out, left = [], units
    for pick in reversed(choice):
        out.append(int(pick[left]))
        left -= out[-1]
    return out[::-1]
