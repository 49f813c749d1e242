"""Site description: time horizon, prices, objective weights and assets (pydantic v2, YAML or JSON).

The pydantic models are the single source of truth of the format; :func:`site_json_schema` exports
it (``docs/site.schema.json`` is generated from it and checked by a test).

Public API::

    load_site(path) -> Site                  # YAML or JSON; raises ValidationError / DataError
    parse_site(data, source="site") -> Site  # from a dict
    validate_site(site) -> list[Problem]     # cross-field checks, series lengths, asset checks, magnitudes
    compile_site(site | path) -> CompiledSite   # time grid and price arrays (SMARD resolved); a path is
                                                # read, validated and compiled in one pass
    site_on_horizon(site, start, n)          # the same site on another horizon, series by timestamp
    check_rolling(site, horizon_h, step_s)   # -> list[Problem]: can it roll on such a horizon?
    site_json_schema() -> dict
"""

from __future__ import annotations

import logging
import typing
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from gridflex.assets import Asset
from gridflex.assets.base import ELECTRICITY, Context
from gridflex.documents import magnitude_problems, problems_from_pydantic, read_document
from gridflex.errors import GridflexError, Problem, ValidationError, unique
from gridflex.optimize import Model
from gridflex.scheduling.products import Product, compile_services
from gridflex.scheduling.rolling import WINDOW_FIELDS, Commitments, rolled_asset, wall_minutes, window_hours
from gridflex.scheduling.service_spec import ServicesSpec, StrategySpec
from gridflex.scheduling.sharing import CommunitySpec, community_problems
from gridflex.timegrid import Series, TimeGrid, expand

log = logging.getLogger("gridflex.scheduling")
_warned: set[str] = set()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SmardSpec(_Strict):
    zone: str = Field("France", description="SMARD zone name or code (France, FR, DE-LU, ...)")
    year: int | None = Field(
        None, description="packaged year to read (default: the years the horizon touches)"
    )


class SmardSource(_Strict):
    """Real hourly day-ahead prices from SMARD (Bundesnetzagentur | SMARD.de, CC BY 4.0)."""

    smard: SmardSpec


class IntradaySpec(_Strict):
    prices_eur_per_mwh: Series = Field(description="intraday price per period, EUR/MWh")
    max_kw: float = Field(gt=0, description="most power bought or sold intraday per period, kW")


class PricesSpec(_Strict):
    day_ahead_eur_per_mwh: SmardSource | Series = Field(
        0.0, description="day-ahead electricity price: {smard: {zone: ...}} or a series, EUR/MWh"
    )
    intraday: IntradaySpec | None = Field(None, description="optional intraday market next to day-ahead")
    tou_eur_per_mwh: Series = Field(0.0, description="time-of-use network tariff added to every imported MWh")
    feed_in_eur_per_mwh: Series | None = Field(
        None, description="feed-in tariff paid per exported MWh (default: the day-ahead price)"
    )
    co2_kg_per_mwh: Series = Field(0.0, description="CO2 intensity of imported electricity, kg/MWh")
    co2_eur_per_t: float = Field(
        0.0, ge=0, description="CO2 price applied to every connection's emissions, EUR/t"
    )


class TimeSpec(_Strict):
    start: str = Field(description="horizon start, ISO 8601 with a UTC offset or 'Z'")
    step_s: int = Field(gt=0, description="period length, s")
    n_periods: int | None = Field(None, gt=0, description="number of periods (or give end)")
    end: str | None = Field(
        None, description="horizon end (exclusive), ISO 8601 with offset (or give n_periods)"
    )
    timezone: str | None = Field(
        None, description="IANA zone for local times ('HH:MM' fields, messages); default: the start's offset"
    )


class ObjectiveSpec(_Strict):
    self_consumption_eur_per_mwh: float = Field(
        0.0,
        ge=0,
        description="extra cost per exported MWh of electricity: favours using own production on site",
    )


class Site(_Strict):
    """A site: one energy hub of carriers (electricity, heat, gas, hydrogen, ...) and its assets."""

    name: str = Field("site", description="site name")
    description: str = Field("", description="free text")
    time: TimeSpec
    prices: PricesSpec = PricesSpec.model_validate({})
    objective: ObjectiveSpec = ObjectiveSpec.model_validate({})
    assets: list[Asset] = Field(min_length=1, description="the site's assets; each has a unique name")
    services: ServicesSpec = Field(
        ServicesSpec.model_validate({}), description="reserves and DSO contracts sold next to energy"
    )
    strategy: StrategySpec = Field(
        StrategySpec.model_validate({}), description="how energy and services are decided (with services)"
    )
    community: CommunitySpec | None = Field(
        None, description="members sharing energy and their allocation key (docs/site-format.md, Community)"
    )


@dataclass
class CompiledSite:
    """A validated site as arrays: its grid, local time zone and prices per period."""

    site: Site
    grid: TimeGrid
    tz: tzinfo | str
    prices: dict[str, np.ndarray] = field(default_factory=dict)
    products: list[Product] = field(default_factory=list)  # services on the grid (reserves, DSO)

    def context(self, model: Model) -> Context:
        intraday = self.site.prices.intraday
        return Context(
            model=model,
            grid=self.grid,
            tz=self.tz,
            prices=self.prices,
            intraday_max_kw=0.0 if intraday is None else intraday.max_kw,
            self_consumption_eur_per_mwh=self.site.objective.self_consumption_eur_per_mwh,
            with_services=bool(self.products),
        )


# ── reading ───────────────────────────────────────────────────────────────────────────────────


def site_json_schema() -> dict:
    """JSON schema of the site format (draft 2020-12), generated from the pydantic models."""
    schema = Site.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "gridflex site"
    return schema


def load_site(path: str | Path) -> Site:
    """Read, parse and validate a site file (YAML or JSON); raise one error naming every problem."""
    return _compiled_from(path).site


def parse_site(data: Any, source: str = "site") -> Site:
    """A validated :class:`Site` from a dict; raise :class:`ValidationError` naming asset and field."""
    site = _parsed(data, source)
    problems = validate_site(site)
    if problems:
        raise ValidationError(source, problems)
    return site


def _parsed(data: Any, source: str) -> Site:
    """The pydantic model of ``data`` (types and per-field rules only; no cross-field validation)."""
    if not isinstance(data, dict):
        raise ValidationError(source, [Problem("site", "", f"expected a mapping, got {type(data).__name__}")])
    try:
        return Site.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ValidationError(source, problems_from_pydantic(exc, data, "site")) from None


def _compiled_from(path: str | Path) -> CompiledSite:
    """Read, parse, validate and compile a site file in one pass (the file compiled once)."""
    p = Path(path)
    source = f"site file {p}"
    site = _parsed(read_document(p, "site file"), source)
    compiled, problems = _compile(site)
    if problems or compiled is None:
        raise ValidationError(source, problems)
    return compiled


SiteLike = Site | CompiledSite | str | Path | dict
"""What the public site functions take: a parsed :class:`Site`, a :class:`CompiledSite` (used as
is: compile a site once and pass it on), the path of a site file (YAML or JSON) or its dict."""


# ── validation ────────────────────────────────────────────────────────────────────────────────


MAX_PERIODS = 1_000_000
"""Most periods a site horizon may have (a year of 1-minute periods is 525,600): checked before any
array of the horizon is made."""


def _grid(t: TimeSpec) -> tuple[TimeGrid | None, tzinfo | str, list[Problem]]:
    probs: list[Problem] = []
    try:
        start = pd.Timestamp(datetime.fromisoformat(t.start.replace("Z", "+00:00")))
    except ValueError as exc:
        return None, "UTC", [Problem("time", "start", f"cannot read {t.start!r}: {exc}")]
    if start.tzinfo is None:
        return (
            None,
            "UTC",
            [Problem("time", "start", f"{t.start!r} has no UTC offset; add e.g. '+01:00' or 'Z'")],
        )
    tz: tzinfo | str = start.tzinfo
    if t.timezone is not None:
        try:
            start.tz_convert(t.timezone)
            tz = t.timezone
        except Exception:  # unknown zone names raise several types depending on the tz backend
            probs.append(Problem("time", "timezone", f"unknown time zone {t.timezone!r}"))
    if (t.n_periods is None) == (t.end is None):
        probs.append(Problem("time", "n_periods", "give exactly one of n_periods and end"))
        return None, tz, probs
    try:
        if t.n_periods is not None:
            grid = TimeGrid(start, t.step_s, t.n_periods)
        else:
            assert t.end is not None
            grid = TimeGrid.between(start, datetime.fromisoformat(t.end.replace("Z", "+00:00")), t.step_s)
            if grid.n == 0:
                probs.append(Problem("time", "end", "is not after start"))
    except (GridflexError, ValueError, OverflowError) as exc:
        probs.append(Problem("time", "end", str(exc)))
        return None, tz, probs
    if grid.n > MAX_PERIODS:
        fld = "n_periods" if t.n_periods is not None else "end"
        probs.append(Problem("time", fld, f"gives {grid.n:,} periods; at most {MAX_PERIODS:,} are allowed"))
        return None, tz, probs
    return grid, tz, probs


def _price_arrays(site: Site, grid: TimeGrid) -> tuple[dict[str, np.ndarray], list[Problem]]:
    p = site.prices
    out: dict[str, np.ndarray] = {}
    probs: list[Problem] = []
    if isinstance(p.day_ahead_eur_per_mwh, SmardSource):
        from gridflex.market.prices import prices_on_grid

        spec = p.day_ahead_eur_per_mwh.smard
        try:
            out["day_ahead"] = prices_on_grid(grid, spec.zone, spec.year)
        except GridflexError as exc:
            probs.append(Problem("prices", "day_ahead_eur_per_mwh.smard", str(exc)))
    fields: dict[str, Any] = {
        "tou_eur_per_mwh": p.tou_eur_per_mwh,
        "feed_in_eur_per_mwh": p.feed_in_eur_per_mwh,
        "co2_kg_per_mwh": p.co2_kg_per_mwh,
        "intraday.prices_eur_per_mwh": None if p.intraday is None else p.intraday.prices_eur_per_mwh,
    }
    if "day_ahead" not in out and not probs:
        fields["day_ahead_eur_per_mwh"] = p.day_ahead_eur_per_mwh
    keys = {"day_ahead_eur_per_mwh": "day_ahead", "tou_eur_per_mwh": "tou", "feed_in_eur_per_mwh": "feed_in",
            "co2_kg_per_mwh": "co2_kg_per_mwh", "intraday.prices_eur_per_mwh": "intraday"}  # fmt: skip
    for name, value in fields.items():
        if value is None:
            continue
        a = expand(value, grid.n)
        if a is None or not np.isfinite(a).all():
            what = "a value that is not finite" if a is not None else f"{np.size(value)} values"
            probs.append(
                Problem(
                    "prices", name, f"has {what}; give 1, {grid.n} or a divisor of {grid.n} finite values"
                )
            )
        else:
            out[keys[name]] = a
    out["co2_eur_per_t"] = np.full(grid.n, p.co2_eur_per_t)
    return out, probs


def _magnitudes(site: Site) -> list[Problem]:
    """NaN, infinities and numbers beyond ``MAX_ABS`` anywhere in the site, named by object and field."""
    probs = []
    for owner in ("time", "prices", "objective", "strategy"):
        probs += magnitude_problems(getattr(site, owner), owner)
    for a in site.assets:
        probs += magnitude_problems(a, a.name)
    probs += magnitude_problems(site.services, "services")
    if site.community is not None:
        probs += magnitude_problems(site.community, "community")
    return probs


def _compile(site: Site) -> tuple[CompiledSite | None, list[Problem]]:
    magnitudes = _magnitudes(site)
    if magnitudes:  # the arrays below would carry them into the model: stop here
        return None, magnitudes
    grid, tz, probs = _grid(site.time)
    if grid is None:
        return None, probs
    prices, price_probs = _price_arrays(site, grid)
    probs += price_probs
    compiled = CompiledSite(site, grid, tz, prices)
    names: set[str] = set()
    ctx = compiled.context(Model(site.name))
    for a in site.assets:
        if a.name in names:
            probs.append(Problem(a.name, "name", "is used by more than one asset"))
        names.add(a.name)
        probs += a.check(ctx)
    probs += community_problems(site, ctx)
    has_elec_grid = any(a.kind == "grid_connection" and a.carrier == ELECTRICITY for a in site.assets)
    if site.prices.intraday is not None and not has_elec_grid:
        probs.append(Problem("prices", "intraday", "needs an electricity grid_connection"))
    if not probs:
        compiled.products, service_probs = compile_services(site.services, ctx, site)
        probs += service_probs
    if site.strategy.name == "two_loop" and site.prices.intraday is None:
        why = "'two_loop' re-trades intraday: give prices.intraday (prices_eur_per_mwh, max_kw)"
        probs.append(Problem("strategy", "name", why))
    forecast = site.strategy.price_forecast
    if forecast == "previous_day" and not isinstance(site.prices.day_ahead_eur_per_mwh, SmardSource):
        probs.append(
            Problem("strategy", "price_forecast", "'previous_day' needs day-ahead prices from smard")
        )
    elif not isinstance(forecast, str):
        probs += ctx.series_problems("strategy", price_forecast=forecast)
    return compiled, unique(probs)


def validate_site(site: Site) -> list[Problem]:
    """Every problem of a parsed site that pydantic cannot see (lengths, windows, cross-field rules)."""
    return _compile(site)[1]


def compile_site(site: SiteLike) -> CompiledSite:
    """The site's time grid and price arrays; raises :class:`ValidationError` if the site is invalid.

    ``site``: a :class:`Site`, a site file's path or a dict (read, validated and compiled in one
    pass), or a :class:`CompiledSite` (returned as is).
    """
    if isinstance(site, CompiledSite):
        return site
    if isinstance(site, str | Path):
        return _compiled_from(site)
    if isinstance(site, dict):
        site = _parsed(site, "site")
    if not isinstance(site, Site):
        raise TypeError(
            f"compile_site takes a Site, a CompiledSite, a dict or a path, not {type(site).__name__}"
        )
    compiled, probs = _compile(site)
    if probs or compiled is None:
        raise ValidationError(f"site '{site.name}'", probs)
    return compiled


# ── another horizon ───────────────────────────────────────────────────────────────────────────


def _is_series(annotation: Any) -> bool:
    args = typing.get_args(annotation)
    return float in args and list[float] in args


def _realigned(obj: BaseModel, idx: np.ndarray, n_base: int) -> BaseModel:
    update: dict[str, Any] = {}
    for name, f in type(obj).model_fields.items():
        v = getattr(obj, name)
        if isinstance(v, BaseModel):
            update[name] = _realigned(v, idx, n_base)
        elif isinstance(v, list) and v and isinstance(v[0], BaseModel):
            update[name] = [_realigned(x, idx, n_base) for x in v]
        elif isinstance(v, list) and _is_series(f.annotation):
            a = expand(v, n_base)
            if a is not None:
                update[name] = [float(x) for x in a[idx]]
    return obj.model_copy(update=update) if update else obj


def site_on_horizon(
    site: SiteLike,
    start: datetime,
    n_periods: int,
    step_s: int | None = None,
    compiled: CompiledSite | None = None,
    commitments: Commitments | None = None,
) -> Site:
    """The site on ``n_periods`` of ``step_s`` (default: its own step) from ``start``, every
    per-period series read by timestamp.

    A series of the site file (prices, load and PV profiles, temperatures, service prices, in any
    model of the site) covers the site's own horizon and repeats with its length (a daily profile on
    a 24 h site): period ``k`` of the new horizon takes the value of the site period that contains
    ``start + k·step`` modulo the site's horizon. SMARD prices are read from the data by timestamp;
    where the packaged data does not cover the new horizon (a CEM running today), the site's own
    SMARD horizon repeats like any series, with a log warning. Windows of EV sessions and processes:
    an index counts from the new start; local 'HH:MM' windows roll with the horizon (clipped when
    open at the start, left to a later plan when they end after it: :mod:`~gridflex.scheduling.rolling`).
    DSO contracts not in force on the new horizon are left out; a ``previous_day`` price forecast
    follows the repeated prices. Raises :class:`ValidationError` if the site is invalid.
    ``compiled``: the site compiled already (a caller moving one site often, as the S2 CEM does),
    so it is not compiled again. ``commitments``: what this caller's earlier plans did in windows
    still open (EV energy so far, process runs started; :class:`~gridflex.scheduling.rolling.Commitments`).
    """
    if compiled is None or compiled.site is not site:
        compiled = compile_site(site)
    site = compiled.site
    grid = compiled.grid
    step = grid.step_s if step_s is None else int(step_s)
    t = pd.Timestamp(start).tz_convert("UTC") if pd.Timestamp(start).tzinfo else None
    if t is None:
        raise ValidationError(f"site '{site.name}'", [Problem("time", "start", "needs a UTC offset")])
    offset = (t - grid.start).total_seconds()
    idx = np.floor((offset + np.arange(n_periods) * step) / grid.step_s + 1e-9).astype(int) % grid.n
    moved = typing.cast(Site, _realigned(site, idx, grid.n))
    smard = site.prices.day_ahead_eur_per_mwh
    if isinstance(smard, SmardSource):
        from gridflex.market.prices import prices_on_grid

        try:
            prices_on_grid(TimeGrid(t, step, n_periods), smard.smard.zone, smard.smard.year)
        except GridflexError as exc:
            if site.name not in _warned:  # once per site: a CEM moves its horizon every period
                _warned.add(site.name)
                log.warning(
                    "site '%s': %s; its own day-ahead prices from %s repeat", site.name, exc, grid.start
                )
            own = [float(x) for x in compiled.prices["day_ahead"][idx]]
            moved = moved.model_copy(
                update={"prices": moved.prices.model_copy(update={"day_ahead_eur_per_mwh": own})}
            )
    moved = _rolled(moved, compiled, TimeGrid(t, step, n_periods), idx, commitments)
    own_offset = datetime.fromisoformat(site.time.start.replace("Z", "+00:00")).tzinfo
    iso = t.tz_convert(own_offset).isoformat()  # 'HH:MM' keeps its meaning when no timezone is given
    time = site.time.model_copy(update={"start": iso, "step_s": step, "n_periods": n_periods, "end": None})
    return moved.model_copy(update={"time": time})


def _rolled(
    moved: Site,
    compiled: CompiledSite,
    grid: TimeGrid,
    idx: np.ndarray,
    commitments: Commitments | None = None,
) -> Site:
    """Local-time windows, contract validity and the previous-day forecast on the new ``grid``."""
    site = compiled.site
    assets = []
    for a in moved.assets:
        r = rolled_asset(a, grid, compiled.tz, commitments)
        if r is None:
            log.debug(
                "site '%s': %s has no occurrence inside %s + %d periods",
                site.name,
                a.name,
                grid.start,
                grid.n,
            )
        else:
            assets.append(r)
    contracts = [d for d in moved.services.dso_contracts if _valid_on(d.start, d.end, grid)]
    for d in moved.services.dso_contracts:
        if d not in contracts and (site.name, d.name) not in _warned_contracts:
            _warned_contracts.add((site.name, d.name))  # once: a CEM moves its horizon every period
            log.warning("site '%s': DSO contract '%s' (%s to %s) is not in force on the horizon from %s; "
                        "it is left out", site.name, d.name, d.start, d.end, grid.start)  # fmt: skip
    services = moved.services.model_copy(update={"dso_contracts": contracts})
    strategy = moved.strategy
    own_prices = not isinstance(moved.prices.day_ahead_eur_per_mwh, SmardSource)
    if strategy.price_forecast == "previous_day" and own_prices and "day_ahead" in compiled.prices:
        # The repeated prices stand in for SMARD: the forecast is the same series one day earlier.
        prev = (idx - round(86400 / compiled.grid.step_s)) % compiled.grid.n
        forecast = [float(x) for x in compiled.prices["day_ahead"][prev]]
        strategy = strategy.model_copy(update={"price_forecast": forecast})
    return moved.model_copy(update={"assets": assets, "services": services, "strategy": strategy})


_warned_contracts: set[tuple[str, str]] = set()


def _valid_on(start: str | None, end: str | None, grid: TimeGrid) -> bool:
    """Whether a contract valid on ``[start, end)`` (ISO; None: open) reaches into ``grid``."""
    s = None if start is None else _instant(start)
    e = None if end is None else _instant(end)
    return (s is None or s < grid.end) and (e is None or e > grid.start)


def check_rolling(site: SiteLike, horizon_h: float, step_s: int | None = None) -> list[Problem]:
    """Why the site cannot be planned on a moving horizon of ``horizon_h`` hours of ``step_s``
    (default: the site's step) periods starting at any time, or ``[]``: once, when a long-running
    planner (the S2 CEM) loads the site, so that a bad file is refused at start, not at every plan.

    Refused: a window (EV session, process window) given as a fixed ISO time or an index past the
    horizon, a local-time window longer than the horizon on some day (DST included) or too short for
    its process, a DSO contract or calendar that never applies; then a dry run (the site moved to
    each whole hour of its first local day) reports what compiling still finds.
    """
    compiled = compile_site(site)
    s, grid, tz = compiled.site, compiled.grid, compiled.tz
    step = grid.step_s if step_s is None else int(step_s)
    n_f = horizon_h * 3600.0 / step if step > 0 else 0.0
    if step <= 0 or n_f < 1 or abs(n_f - round(n_f)) > 1e-9:
        why = f"a {horizon_h:g} h horizon is not a whole number of {step} s periods"
        return [Problem("time", "step_s", why)]
    n = round(n_f)
    probs: list[Problem] = []
    for a in s.assets:
        probs += _window_problems(a, grid.start, tz, horizon_h, step, n)
    for d in s.services.dso_contracts:
        if all(not w.days for w in d.calendar):
            probs.append(Problem(d.name, "calendar", "has no day of the week: the contract never applies"))
        if d.start is not None and d.end is not None and _instant(d.end) <= _instant(d.start):
            probs.append(Problem(d.name, "end", "is not after start: the contract never applies"))
    if probs:
        return unique(probs)
    day = grid.start.tz_convert(tz).normalize()
    for h in range(24):  # the dry run: whatever else a moved site meets (series, services, ...)
        try:
            site_on_horizon(compiled, (day + pd.Timedelta(hours=h)).tz_convert("UTC"), n, step)
        except ValidationError as exc:
            return unique(exc.problems)
    return []


def _window_problems(
    a: Any, start: pd.Timestamp, tz: tzinfo | str, horizon_h: float, step: int, n: int
) -> list[Problem]:
    fields = next((f for kind, f in WINDOW_FIELDS.items() if isinstance(a, kind)), None)
    if fields is None:
        return []
    probs = []
    refs = [getattr(a, f) for f in fields]
    for fld, ref in zip(fields, refs, strict=True):
        if isinstance(ref, str) and wall_minutes(ref) is None:
            why = f"{ref!r} is a fixed time: it cannot roll with the horizon; write a local time 'HH:MM'"
            probs.append(Problem(a.name, fld, why))
        elif isinstance(ref, int) and not isinstance(ref, bool) and ref > n:
            probs.append(
                Problem(a.name, fld, f"period {ref} is after the {horizon_h:g} h horizon's end (period {n})")
            )
    mins = [wall_minutes(r) for r in refs]
    if probs or mins[0] is None or mins[1] is None:
        return probs
    shortest, longest = window_hours(start, tz, mins[0], mins[1])
    span = f"the window {refs[0]}–{refs[1]}"
    if longest > horizon_h + 1e-9:
        why = (f"{span} lasts up to {longest:g} h, longer than the {horizon_h:g} h horizon: "
               "it would never be planned in full")  # fmt: skip
        probs.append(Problem(a.name, fields[1], why))
    need_h = len(getattr(a, "profile_kw", [0.0])) * step / 3600.0
    if shortest + 1e-9 < need_h:
        what = "its sequence" if hasattr(a, "profile_kw") else "one period"
        probs.append(
            Problem(
                a.name, fields[1], f"{span} lasts {shortest:g} h on some day, less than {what} ({need_h:g} h)"
            )
        )
    return probs


def _instant(text: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.fromisoformat(text.replace("Z", "+00:00")))
