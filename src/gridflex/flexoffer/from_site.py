"""The C-VPP arrow: a site's schedule plus its available up/down flexibility, as a flex-offer.

A site (one grid connection, run by its energy manager) plans its net import ``p_t`` (kW, + =
consumption) per interval and knows how far it could move from it: ``up_t`` (kW of **up**
flexibility: less consumption or more production, more power into the grid) and ``down_t`` (less
power into the grid). Its flex-offer, interval by interval (``Δt = interval_s / 3600`` h):

==========================  =====================================================================
FlexOffer field             value
==========================  =====================================================================
``id``                      ``<site>`` (or what the caller gives)
``offeredById``             the site
``locationId``              the connection point the site hangs on (e.g. the feeder bus)
``startAfterTime`` = ``startBeforeTime``   the plan's start: the profile is fixed in time, its
                            flexibility is in power (a site's time shifts live inside its plan)
interval ``t`` ``[lower, upper]``  ``[(p_t − up_t)·Δt, (p_t + down_t)·Δt]`` kWh
``defaultSchedule``         ``p_t·Δt`` kWh: the baseline (USEF's D-prognosis of the site)
``unitPrices.belowDefaultEurPerMWh``  the site's price of up flexibility (energy below its schedule)
``unitPrices.aboveDefaultEurPerMWh``  the site's price of down flexibility
``totalEnergyConstraint``   none: each interval moves on its own
==========================  =====================================================================

The bounds are a box: every interval may take any value of its range whatever the others take. That
is exact when ``up``/``down`` come from one jointly feasible schedule of the site and the site's
constraints are monotone in the flexible direction (consuming less in some of the intervals where it
could consume less in all of them asks no more of its stores); ``gridflex demo`` takes ``up`` from
the energy manager's own plan under an import cap of zero over the window. Bands computed one period
at a time (``gridflex.scheduling.flexibility``) overstate what is available together: pass such bands
only for one-period products. Metering after delivery settles what a site did not deliver.

``locationId`` is a field of the FlexOffer specification that :mod:`gridflex.flexoffer.io` ignores;
:func:`site_flexoffers_to_json` writes it and :func:`site_flexoffers_from_json` reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from gridflex.errors import FlexOfferValidationError, Problem
from gridflex.flexoffer.model import DEFAULT_INTERVAL_S, FlexOfferBatch, Schedule

LOCATION_FIELD = "locationId"


@dataclass(frozen=True)
class SiteFlexibility:
    """One site's plan and flexibility on an interval grid (kW; up/down >= 0, see the module doc)."""

    site_id: str
    location: str  # connection point (feeder bus) the site hangs on
    start: datetime  # aware, UTC, on the interval grid
    schedule_kw: np.ndarray  # planned net import, + = consumption
    up_kw: np.ndarray  # less consumption / more production available
    down_kw: np.ndarray  # more consumption / less production available
    price_up_eur_per_mwh: float = float("nan")
    price_down_eur_per_mwh: float = float("nan")
    interval_s: int = DEFAULT_INTERVAL_S


@dataclass(frozen=True, eq=False)
class SiteFlexOffers:
    """The flex-offers of several sites and where each hangs on the grid (``locations[i]``)."""

    batch: FlexOfferBatch
    locations: np.ndarray  # str per offer


def validate_site_flexibility(site: SiteFlexibility) -> list[Problem]:
    """Problems of one site's input, each naming the site and the field."""
    out: list[Problem] = []
    sid = site.site_id or "site"

    def bad(field: str, message: str) -> None:
        out.append(Problem(sid, field, message))

    if not site.site_id:
        bad("site_id", "must be a non-empty string")
    if not site.location:
        bad("location", "must name the connection point (e.g. the feeder bus)")
    if site.start.tzinfo is None:
        bad("start", "must be an aware datetime (UTC)")
    if not (isinstance(site.interval_s, int | np.integer) and site.interval_s > 0):
        bad("interval_s", f"must be a positive whole number of seconds, got {site.interval_s!r}")
    elif site.start.tzinfo is not None and int(site.start.timestamp()) % int(site.interval_s):
        bad("start", f"{site.start.isoformat()} is not on the {site.interval_s} s interval grid")
    n = np.size(site.schedule_kw)
    if n == 0:
        bad("schedule_kw", "is empty")
    for name in ("schedule_kw", "up_kw", "down_kw"):
        v = np.asarray(getattr(site, name), dtype=float)
        if v.ndim != 1 or v.size != n:
            bad(name, f"has shape {v.shape}, expected ({n},) like schedule_kw")
        elif not np.isfinite(v).all():
            bad(name, f"interval {int(np.flatnonzero(~np.isfinite(v))[0])} is not a finite number")
        elif name != "schedule_kw" and (v < 0).any():
            k = int(np.flatnonzero(v < 0)[0])
            bad(name, f"interval {k} is {v[k]:g} kW: flexibility is >= 0 (its direction is in its name)")
    for name in ("price_up_eur_per_mwh", "price_down_eur_per_mwh"):
        if np.isinf(getattr(site, name)):
            bad(name, "must be finite (or NaN: no price)")
    return out


def site_flexoffers(sites: Sequence[SiteFlexibility]) -> SiteFlexOffers:
    """The flex-offers of ``sites`` (mapping: module doc). Raises :class:`FlexOfferValidationError`
    naming every site and field that cannot be mapped (all of them at once)."""
    problems = [p for s in sites for p in validate_site_flexibility(s)]
    ids = [s.site_id for s in sites]
    problems += [
        Problem(i, "site_id", "appears more than once") for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    intervals = {s.interval_s for s in sites}
    if len(intervals) > 1:
        problems.append(
            Problem("sites", "interval_s", f"one interval for all sites, got {sorted(intervals)}")
        )
    if problems:
        raise FlexOfferValidationError("site flexibility", problems)
    interval_s = int(next(iter(intervals))) if sites else DEFAULT_INTERVAL_S
    dt_h = interval_s / 3600.0
    start_s = [int(s.start.timestamp()) for s in sites]
    p = [np.asarray(s.schedule_kw, dtype=float) for s in sites]
    lower = [(pk - np.asarray(s.up_kw, dtype=float)) * dt_h for s, pk in zip(sites, p, strict=True)]
    upper = [(pk + np.asarray(s.down_kw, dtype=float)) * dt_h for s, pk in zip(sites, p, strict=True)]
    batch = FlexOfferBatch.from_profiles(
        ids, start_s, start_s, lower, upper,
        owners=np.asarray(ids), interval_s=interval_s,
        default=(start_s, [pk * dt_h for pk in p]),
        price_below_eur_per_mwh=np.array([s.price_up_eur_per_mwh for s in sites], dtype=float),
        price_above_eur_per_mwh=np.array([s.price_down_eur_per_mwh for s in sites], dtype=float),
    )  # fmt: skip
    return SiteFlexOffers(batch, np.asarray([s.location for s in sites], dtype=str))


def site_flexoffers_to_json(offers: SiteFlexOffers) -> dict[str, list[dict[str, Any]]]:
    """FlexOffer JSON (``docs/flexoffer-format.md``) with each offer's ``locationId``."""
    from gridflex.flexoffer.io import flexoffers_to_json

    doc = flexoffers_to_json(offers.batch)
    for fo, loc in zip(doc["flexOffers"], offers.locations.tolist(), strict=True):
        fo[LOCATION_FIELD] = loc
    return doc


def site_flexoffers_from_json(obj: dict[str, Any] | list[Any]) -> SiteFlexOffers:
    """The offers of a FlexOffer JSON document and their ``locationId`` (every offer must have one)."""
    from gridflex.flexoffer.io import flexoffers_from_json

    batch = flexoffers_from_json(obj)  # structure and rules checked first, with their own problems
    items = obj["flexOffers"] if isinstance(obj, dict) else obj
    locs = [fo.get(LOCATION_FIELD) for fo in items]
    problems = [
        Problem(str(fo.get("id", k)), LOCATION_FIELD, "missing: the connection point the offer hangs on")
        for k, (fo, loc) in enumerate(zip(items, locs, strict=True))
        if not (isinstance(loc, str) and loc)
    ]
    if problems:
        raise FlexOfferValidationError("site flex-offers", problems)
    return SiteFlexOffers(batch, np.asarray(locs, dtype=str))


def location_groups(offers: SiteFlexOffers) -> tuple[np.ndarray, np.ndarray]:
    """(group id per offer, location per group): the aggregator pools the sites of one connection
    point, so that an aggregate keeps a place in the network (``aggregate(batch, groups=...)``)."""
    places, group = np.unique(offers.locations, return_inverse=True)
    return group.reshape(-1).astype(np.int64), places


def scheduled_kw(batch: FlexOfferBatch, schedule: Schedule, i: int) -> np.ndarray:
    """Offer ``i``'s schedule as kW per interval (energy / interval)."""
    a, b = batch.offsets[i], batch.offsets[i + 1]
    return np.asarray(schedule.energy_kwh[a:b], dtype=float) * 3600.0 / batch.interval_s
