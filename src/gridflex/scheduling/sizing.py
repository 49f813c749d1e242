"""Sizing: choose the sizes of assets (battery, tank, heat pump, PV) from their capital cost and
every revenue stream of the schedule, services included, over representative days.

Method (a search space, as HOMER does): every combination of the candidate sizes is scheduled on
each representative day (the site's own energy, tariffs, reserves, DSO contracts and capacity
mechanism, co-optimised); its yearly cost is ``Σ_d weight_d · cost_d`` (operating, revenue
negative) plus the annuity of the capital, ``capex · size · CRF``, with the capital recovery factor
``CRF = r(1+r)^n / ((1+r)^n − 1)`` (``r/…`` → ``1/n`` at r = 0). The cheapest combination wins; the
whole table is returned so that the trade-off stays visible.

Public API::

    size_site(days, options, discount_rate=0.05) -> SizingResult
    size_file(path) -> SizingResult     # the same from a sizing file (``gridflex size``)

A sizing file (YAML or JSON) names the representative days as site files (paths relative to it)::

    discount_rate: 0.05
    days: [{site: ../office_capacity.yaml, weight: 120}]
    options:
      - {asset: battery, field: capacity_kwh, values: [100, 200, 400], capex_eur_per_unit: 250,
         lifetime_years: 12, linked: {charge_power_kw: 0.5}}
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from gridflex.documents import problems_from_pydantic, read_document
from gridflex.errors import GridflexError, Problem, ValidationError
from gridflex.scheduling.schedule import schedule_site
from gridflex.scheduling.site import Site, SiteLike, compile_site


@dataclass
class SizeOption:
    """Candidate sizes of one asset field; ``linked`` fields scale with it (e.g. a battery's
    ``charge_power_kw`` at 0.5 kW per kWh of ``capacity_kwh``). Size 0 removes the asset."""

    asset: str
    field: str
    values: list[float]
    capex_eur_per_unit: float  # EUR per unit of the field (kWh, kW)
    lifetime_years: float
    linked: dict[str, float] | None = None


@dataclass
class SizingResult:
    best: dict[str, float]  # "asset.field" → size
    table: pd.DataFrame  # one row per combination: sizes, operating, capital and total EUR/year

    @property
    def best_cost_eur_per_year(self) -> float:
        return float(self.table["total_eur_per_year"].min())


def annuity_factor(rate: float, years: float) -> float:
    """Capital recovery factor: the yearly share of a capital cost over ``years`` at ``rate``."""
    if rate == 0:
        return 1.0 / years
    g = (1.0 + rate) ** years
    return rate * g / (g - 1.0)


def _resized(site: Site, sizes: dict[tuple[str, str], float], options: list[SizeOption]) -> Site:
    assets = []
    for a in site.assets:
        update: dict[str, float] = {}
        drop = False
        for o in options:
            if o.asset != a.name:
                continue
            v = sizes[(o.asset, o.field)]
            drop = drop or v == 0
            update[o.field] = v
            for f, per in (o.linked or {}).items():
                update[f] = v * per
        if not drop:
            assets.append(a.model_copy(update=update) if update else a)
    # Validated again: a size may break a rule of the asset (e.g. a fuse below a PV's peak).
    return compile_site(Site.model_validate(site.model_copy(update={"assets": assets}).model_dump())).site


def _check(sites: list[Site], options: list[SizeOption], rate: float) -> list[Problem]:
    probs = []
    for i, o in enumerate(options):
        where = f"options.{i}"
        for s in sites:
            a = next((x for x in s.assets if x.name == o.asset), None)
            if a is None:
                probs.append(Problem(o.asset, where, f"is not an asset of site '{s.name}'"))
            elif o.field not in type(a).model_fields:
                probs.append(Problem(o.asset, f"{where}.field", f"{a.kind} has no field {o.field!r}"))
        if not o.values or any(not (math.isfinite(v) and v >= 0) for v in o.values):
            probs.append(Problem(o.asset, f"{where}.values", "give sizes >= 0"))
        if not (o.capex_eur_per_unit >= 0 and o.lifetime_years > 0):
            probs.append(Problem(o.asset, f"{where}.capex_eur_per_unit", "needs capex >= 0 and lifetime > 0"))
    if not (0 <= rate < 1):
        probs.append(Problem("sizing", "discount_rate", f"{rate!r} is not in [0, 1)"))
    return probs


def size_site(
    days: list[tuple[SiteLike, float]], options: list[SizeOption], discount_rate: float = 0.05
) -> SizingResult:
    """Evaluate every combination of ``options`` on the representative ``days`` (site, days per
    year it stands for) and return the cheapest per year; see the module docstring."""
    sites = [compile_site(s).site for s, _ in days]
    weights = [float(w) for _, w in days]
    probs = _check(sites, options, discount_rate)
    probs += [
        Problem("sizing", f"days.{i}", "weight must be > 0") for i, w in enumerate(weights) if not w > 0
    ]
    if probs:
        raise ValidationError("sizing", probs)
    keys = [(o.asset, o.field) for o in options]
    rows = []
    for combo in itertools.product(*(o.values for o in options)):
        sizes = dict(zip(keys, combo, strict=True))
        capital = sum(
            o.capex_eur_per_unit * sizes[(o.asset, o.field)] * annuity_factor(discount_rate, o.lifetime_years)
            for o in options
        )
        row: dict[str, float | str] = {f"{a}.{f}": v for (a, f), v in sizes.items()}
        try:
            results = [schedule_site(_resized(s, sizes, options)) for s in sites]
        except GridflexError as exc:  # a size the site cannot run with (e.g. a need it cannot meet)
            row |= {"operating_eur_per_year": math.inf, "capital_eur_per_year": capital,
                    "total_eur_per_year": math.inf, "note": str(exc).splitlines()[0]}  # fmt: skip
            rows.append(row)
            continue
        operating = sum(w * r.costs_eur["total"] for w, r in zip(weights, results, strict=True))
        services = sum(
            w * -sum(v for k, v in r.costs_eur.items() if k.startswith(("reserve_", "dso_", "capacity_")))
            for w, r in zip(weights, results, strict=True)
        )
        row |= {"operating_eur_per_year": operating, "services_revenue_eur_per_year": services,
                "capital_eur_per_year": capital, "total_eur_per_year": operating + capital, "note": ""}  # fmt: skip
        rows.append(row)
    table = pd.DataFrame(rows)
    best_row = table.loc[table["total_eur_per_year"].idxmin()]
    return SizingResult({f"{a}.{f}": float(best_row[f"{a}.{f}"]) for a, f in keys}, table)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _DaySpec(_Strict):
    site: str = Field(description="site file of the representative day, relative to the sizing file")
    weight: float = Field(gt=0, description="days of the year it stands for")


class _OptionSpec(_Strict):
    asset: str
    field: str
    values: list[float] = Field(min_length=1)
    capex_eur_per_unit: float = Field(ge=0)
    lifetime_years: float = Field(gt=0)
    linked: dict[str, float] | None = None


class SizingSpec(_Strict):
    """A sizing file: representative days (site files), candidate sizes, the discount rate."""

    days: list[_DaySpec] = Field(min_length=1)
    options: list[_OptionSpec] = Field(min_length=1)
    discount_rate: float = Field(0.05, ge=0, lt=1)


def size_file(path: str | Path) -> SizingResult:
    """:func:`size_site` from a sizing file (see the module docstring); errors name the field."""
    p = Path(path)
    data = read_document(p, "sizing file")
    try:
        spec = SizingSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            f"sizing file {p}", problems_from_pydantic(exc, data, "sizing", dotted=True)
        ) from None
    days: list[tuple[SiteLike, float]] = [(p.parent / d.site, d.weight) for d in spec.days]
    options = [SizeOption(**o.model_dump()) for o in spec.options]
    return size_site(days, options, spec.discount_rate)
