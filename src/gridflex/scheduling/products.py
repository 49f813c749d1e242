"""Services of a site file as plain arrays on the site's time grid (validation collects problems).

A :class:`Product` is what the model layer (:mod:`gridflex.scheduling.services`) needs of one
reserve or DSO contract: its direction(s), delivery duration, the block of every period (``-1`` =
not offered), commitment bounds per block, bid rules, prices per period and its providers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from gridflex.assets.base import ELECTRICITY, Context
from gridflex.errors import Problem
from gridflex.scheduling.service_spec import (
    DEFAULT_ASSET_RESPONSE_S,
    DEFAULT_MIN_LOAD_RESPONSE_S,
    WEEKDAYS,
    CapacitySpec,
    DsoContractSpec,
    ReserveSpec,
    ServicesSpec,
)
from gridflex.timegrid import expand


@dataclass
class Product:
    """One service on the time grid; prices are per period, commitments in kW per block."""

    name: str
    kind: str  # reserve product (fcr, afrr_up, afrr_down, mfrr) or "dso"
    up: bool
    down: bool
    duration_h: float
    block: np.ndarray  # block index of each period, -1 where the service is not offered
    lb_kw: np.ndarray  # commitment bounds per block
    ub_kw: np.ndarray
    min_kw: float
    step_kw: float
    availability_eur_per_mw_h: np.ndarray
    activation_share: np.ndarray
    activation_eur_per_mwh: np.ndarray
    providers: list[str]
    forced: bool  # the commitment is given (sold before, or a DSO reservation)
    delay_h: float = 0.0  # delivery starts this long after the call (RR, RC)
    response_s: float | None = None  # full activation time required (None: not restricted)

    @property
    def end_h(self) -> float:
        """How long after a call the delivery ends: the span the headroom must cover."""
        return self.delay_h + self.duration_h

    group: str = ""  # products of one group share one commitment (the capacity mechanism's windows)

    @property
    def key(self) -> str:
        word = {"dso": "dso contract", "capacity": "capacity"}.get(self.kind, "reserve")
        return f"{word} '{self.name}'"

    @property
    def category(self) -> str:
        return self.kind if self.kind in ("dso", "capacity") else "reserve"

    @property
    def n_blocks(self) -> int:
        return int(self.lb_kw.size)

    @property
    def direction(self) -> str:
        return "symmetric" if self.up and self.down else ("up" if self.up else "down")

    def activation_sign(self) -> float:
        """+1: activation energy is paid to the site per MWh; 0 for symmetric reserves (up pays, down
        costs: they cancel); −1: the site pays (down reserves buy the energy they absorb)."""
        if self.kind == "dso":
            return 1.0
        return 0.0 if self.up and self.down else (1.0 if self.up else -1.0)


def eligible_providers(site: Any) -> dict[str, str]:
    """Asset name → why it may provide services ('' = it may); see docs/services.md."""
    stores = {(a.node, c) for a in site.assets for c in _stored_carriers(a)}
    grids = {a.node for a in site.assets if a.kind == "grid_connection" and a.carrier == ELECTRICITY}
    networks = {(a.node, a.carrier) for a in site.assets if a.kind == "grid_connection"}
    out: dict[str, str] = {}
    for a in site.assets:
        why = ""
        if a.kind in ("battery", "ev") or (
            a.kind in ("storage", "thermal_storage") and a.carrier == ELECTRICITY
        ):
            pass
        elif a.kind == "pv":
            why = "" if a.curtailable else "PV that is not curtailable cannot move"
        elif a.kind == "heat_pump":
            why = (
                "" if (a.node, a.heat_carrier) in stores else f"needs a store of {a.heat_carrier} at its node"
            )
        elif a.kind == "converter":
            why = _converter_why(a, stores, networks)
        elif a.kind in ("fridge", "freezer"):
            why = (
                "" if a.comfort_penalty_eur_per_kh is None else "a soft temperature band promises no headroom"
            )
        elif a.kind in ("compressed_air_storage", "liquid_air_storage"):
            missing = [c for c in a.coupled_carriers() if (a.node, c) not in networks]
            why = f"needs a network connection of {', '.join(missing)} at its node" if missing else ""
        elif a.kind == "building":
            why = "a building takes heat: its heat pump or boiler provides, moving the building's temperature"
        else:
            why = f"a {a.kind} cannot provide services"
        if not why and a.node not in grids:
            why = f"node '{a.node}' has no electricity grid connection"
        out[a.name] = why
    return out


def _converter_why(a: Any, stores: set[tuple[str, str]], networks: set[tuple[str, str]]) -> str:
    """Why a converter cannot provide ('' = it can): it must touch electricity; its other outputs need
    a store at its node to take the change; a non-electric input a store or a network."""
    if a.input_carrier != ELECTRICITY and ELECTRICITY not in a.outputs:
        return "a converter that neither takes nor gives electricity cannot move the site's power"
    missing = [c for c in a.outputs if c != ELECTRICITY and (a.node, c) not in stores]
    if missing:
        return f"needs a store of {', '.join(missing)} at its node to take the change of its output"
    c = a.input_carrier
    if c != ELECTRICITY and (a.node, c) not in stores and (a.node, c) not in networks:
        return f"needs a store or a network connection of its input {c} at its node"
    return ""


def _stored_carriers(a: Any) -> list[str]:
    """Carriers an asset stores for services: a store's, and a building's heat or cold (its thermal
    mass, within a hard comfort band) on the bus its hook is on (see assets.thermal.zone_hook)."""
    if a.kind == "battery":
        return [ELECTRICITY]
    if a.kind in ("storage", "thermal_storage"):
        return [a.carrier]
    if a.kind == "building" and a.comfort_penalty_eur_per_kh is None:
        return [a.heat_carrier or a.cold_carrier]
    return []


def compile_services(spec: ServicesSpec, ctx: Context, site: Any) -> tuple[list[Product], list[Problem]]:
    """Products of the site's services, and every problem found (naming service and field)."""
    products: list[Product] = []
    problems: list[Problem] = []
    eligible = eligible_providers(site)
    response, problems = asset_response_s(spec, site)
    names: set[str] = set()
    items: list[ReserveSpec | DsoContractSpec] = [*spec.reserves, *spec.dso_contracts]
    for spec_item in items:
        name = spec_item.name
        if name in names:
            problems.append(Problem(name, "name", "is used by more than one service"))
        names.add(name)
        need_s = spec_item.response_s if isinstance(spec_item, ReserveSpec) else spec_item.response_time_s
        fast = _fast_enough(eligible, response, need_s)
        providers, probs = _providers(name, spec_item.providers, fast)
        problems += probs
        if isinstance(spec_item, ReserveSpec):
            prod, probs = _reserve(spec_item, ctx, providers)
        else:
            prod, probs = _dso(spec_item, ctx, providers)
        problems += probs
        if prod is not None and not probs:
            products.append(prod)
    if spec.capacity is not None:
        cap = spec.capacity
        if cap.name in names:
            problems.append(Problem(cap.name, "name", "is used by more than one service"))
        providers, probs = _providers(cap.name, cap.providers, eligible)
        prods, more = _capacity(cap, ctx, providers)
        problems += probs + more
        if not probs and not more:
            products += prods
    if (spec.reserves or spec.dso_contracts) and not any(not w for w in eligible.values()):
        problems.append(Problem("services", "", "no asset of the site can provide services"))
    return products, problems


def asset_response_s(spec: ServicesSpec, site: Any) -> tuple[dict[str, float], list[Problem]]:
    """Asset name → time to reach a new set point, s: ``services.response_times_s`` or the kind's default."""
    out: dict[str, float] = {}
    for a in site.assets:
        kind = str(a.kind)
        default = DEFAULT_ASSET_RESPONSE_S.get(kind, 0.0)
        if getattr(a, "min_load_frac", 0.0) > 0:
            default = DEFAULT_MIN_LOAD_RESPONSE_S
        out[a.name] = default
    probs = []
    for name, sec in spec.response_times_s.items():
        if name not in out:
            probs.append(Problem("services", f"response_times_s.{name}", "is not an asset of the site"))
        elif not (math.isfinite(sec) and sec > 0):
            probs.append(Problem("services", f"response_times_s.{name}", f"{sec!r} is not a time > 0 s"))
        else:
            out[name] = float(sec)
    return out, probs


def _fast_enough(
    eligible: dict[str, str], response: dict[str, float], need_s: float | None
) -> dict[str, str]:
    """``eligible`` with the assets slower than ``need_s`` refused (and why)."""
    if need_s is None:
        return eligible
    return {
        a: why
        or (f"responds in {response[a]:g} s, the product needs {need_s:g} s" if response[a] > need_s else "")
        for a, why in eligible.items()
    }


def _providers(
    name: str, given: list[str] | None, eligible: dict[str, str]
) -> tuple[list[str], list[Problem]]:
    if given is None:
        return [a for a, why in eligible.items() if not why], []
    probs = []
    for a in given:
        if a not in eligible:
            probs.append(Problem(name, "providers", f"{a!r} is not an asset of the site"))
        elif eligible[a]:
            probs.append(Problem(name, "providers", f"{a!r} cannot provide services: {eligible[a]}"))
    return list(given), probs


def _series(ctx: Context, name: str, fld: str, value: Any, probs: list[Problem]) -> np.ndarray:
    a = expand(value, ctx.n)
    if a is None or not np.isfinite(a).all():
        probs.append(
            Problem(
                name,
                fld,
                f"has {np.size(value)} values; give 1, {ctx.n} or a divisor of {ctx.n} finite values",
            )
        )
        return np.zeros(ctx.n)
    return a


def _local(ctx: Context) -> pd.DatetimeIndex:
    return ctx.grid.index.tz_convert(ctx.tz)


def _reserve(r: ReserveSpec, ctx: Context, providers: list[str]) -> tuple[Product | None, list[Problem]]:
    probs: list[Problem] = []
    n, dt = ctx.n, ctx.dt_h
    per_block = r.block_h / dt
    if abs(per_block - round(per_block)) > 1e-9 or (24.0 / r.block_h) % 1 > 1e-9:
        probs.append(
            Problem(r.name, "block_h", f"{r.block_h:g} h must divide 24 h and be a whole number of periods")
        )
    if (
        r.step_kw > 0
        and r.min_bid_kw > 0
        and abs(r.min_bid_kw / r.step_kw - round(r.min_bid_kw / r.step_kw)) > 1e-9
    ):
        probs.append(
            Problem(r.name, "min_bid_kw", f"{r.min_bid_kw:g} is not a multiple of step_kw {r.step_kw:g}")
        )
    if r.max_kw is not None and r.max_kw < r.min_bid_kw:
        probs.append(Problem(r.name, "max_kw", f"{r.max_kw:g} is below min_bid_kw {r.min_bid_kw:g}"))
    price = _series(ctx, r.name, "availability_price_eur_per_mw_h", r.availability_price_eur_per_mw_h, probs)
    act = _series(ctx, r.name, "activation_price_eur_per_mwh", r.activation_price_eur_per_mwh, probs)
    if probs:
        return None, probs
    local = _local(ctx)
    hours = local.hour + local.minute / 60.0
    day = (local.normalize() - local[0].normalize()).days.to_numpy()
    raw = day * round(24.0 / r.block_h) + np.floor(hours.to_numpy() / r.block_h + 1e-9).astype(int)
    # A call whose delivery (after the activation delay) starts past the horizon is not offered
    # here: the next horizon's plan sells those periods.
    offered = np.arange(n) * dt + r.delay_h < n * dt - 1e-9
    block = np.full(n, -1, np.int64)
    _, block[offered] = np.unique(raw[offered], return_inverse=True)
    nb = int(block.max()) + 1
    first = np.array([np.flatnonzero(block == b)[0] for b in range(nb)], dtype=np.int64)
    lb, ub = np.zeros(nb), np.full(nb, np.inf if r.max_kw is None else r.max_kw)
    forced = r.committed_kw is not None
    if r.committed_kw is not None:
        c = _series(ctx, r.name, "committed_kw", r.committed_kw, probs)
        if not probs and nb and (np.abs(c - c[first][block])[offered] > 1e-9).any():
            probs.append(Problem(r.name, "committed_kw", "must be constant within each block"))
        c = c[first]
        if (c < -1e-9).any():
            probs.append(Problem(r.name, "committed_kw", "must be >= 0"))
        if ((c > 1e-9) & (c < r.min_bid_kw - 1e-9)).any():
            probs.append(
                Problem(r.name, "committed_kw", f"is below min_bid_kw {r.min_bid_kw:g} in some block")
            )
        lb, ub = c.copy(), c.copy()
    direction = r.resolved_direction
    prod = Product(
        name=r.name, kind=r.product, up=direction in ("up", "symmetric"), down=direction in ("down", "symmetric"),
        duration_h=r.duration_h, block=block.astype(np.int64), lb_kw=lb, ub_kw=ub, min_kw=r.min_bid_kw,
        step_kw=r.step_kw, availability_eur_per_mw_h=price, activation_share=np.full(n, r.activation_share),
        activation_eur_per_mwh=act, providers=providers, forced=forced, delay_h=r.delay_h,
        response_s=r.response_s,
    )  # fmt: skip
    return (None if probs else prod), probs


def _hhmm(text: str) -> float | None:
    try:
        hh, mm = (int(x) for x in text.strip().split(":"))
    except ValueError:
        return None
    if not (0 <= hh <= 24 and 0 <= mm < 60) or hh * 60 + mm > 24 * 60:
        return None
    return hh + mm / 60.0


def _timestamp(text: str | None, name: str, fld: str, probs: list[Problem]) -> pd.Timestamp | None:
    """An ISO 8601 instant with offset, in UTC (None if absent or unreadable: a problem is added)."""
    if text is None:
        return None
    try:
        t = pd.Timestamp(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        probs.append(Problem(name, fld, f"cannot read {text!r}: give ISO 8601 with a UTC offset"))
        return None
    return t.tz_convert("UTC")


def _period_of(ctx: Context, t: pd.Timestamp | None, default: int) -> int:
    """First period starting at or after ``t``, clipped to the horizon (a contract outside it is empty)."""
    if t is None:
        return default
    offset_s = (t - ctx.grid.start).total_seconds()
    return int(np.clip(np.ceil(offset_s / ctx.grid.step_s - 1e-9), 0, ctx.n))


def window_mask(d: DsoContractSpec, ctx: Context, probs: list[Problem]) -> np.ndarray:
    """Periods (by their start, local time) inside the contract and one of its calendar windows."""
    local = _local(ctx)
    hours = (local.hour + local.minute / 60.0).to_numpy()
    weekday = local.weekday.to_numpy()
    mask = np.zeros(ctx.n, bool)
    for i, w in enumerate(d.calendar):
        a, b = _hhmm(w.start), _hhmm(w.end)
        if a is None or b is None:
            bad = "start" if a is None else "end"
            probs.append(
                Problem(d.name, f"calendar.{i}.{bad}", f"{getattr(w, bad)!r} is not a local time 'HH:MM'")
            )
            continue
        if b <= a:
            probs.append(Problem(d.name, f"calendar.{i}.end", f"{w.end} is not after start {w.start}"))
            continue
        days = np.isin(weekday, [WEEKDAYS.index(x) for x in w.days])
        mask |= days & (hours >= a - 1e-9) & (hours < b - 1e-9)
    t_start = _timestamp(d.start, d.name, "start", probs)
    t_end = _timestamp(d.end, d.name, "end", probs)
    if t_start is not None and t_end is not None and t_end <= t_start:
        probs.append(Problem(d.name, "end", f"{d.end} is not after start {d.start}"))
    # A contract that does not overlap the horizon is simply inactive in it (one file, all seasons).
    s, e = _period_of(ctx, t_start, 0), _period_of(ctx, t_end, ctx.n)
    inside = np.zeros(ctx.n, bool)
    inside[s:e] = True
    return mask & inside


def _dso(d: DsoContractSpec, ctx: Context, providers: list[str]) -> tuple[Product | None, list[Problem]]:
    probs: list[Problem] = []
    n = ctx.n
    if d.power_kw < d.min_power_kw:
        probs.append(
            Problem(
                d.name, "power_kw", f"{d.power_kw:g} kW is below the tender's min_power_kw {d.min_power_kw:g}"
            )
        )
    if not d.reservation and d.availability_price_eur_per_mw_h > 0:
        probs.append(
            Problem(d.name, "availability_price_eur_per_mw_h", "is paid only with reservation: true")
        )
    mask = window_mask(d, ctx, probs)
    if probs:
        return None, probs
    # Blocks: the contiguous runs of window periods; the kept capacity is constant within one.
    starts = mask & ~np.r_[False, mask[:-1]]
    block = np.where(mask, np.cumsum(starts) - 1, -1).astype(np.int64)
    nb = int(starts.sum())
    p = d.power_kw
    lb = np.full(nb, p if d.reservation else 0.0)
    ub = np.full(nb, p)
    prod = Product(
        name=d.name, kind="dso", up=d.direction == "up", down=d.direction == "down", duration_h=d.min_duration_h,
        block=block, lb_kw=lb, ub_kw=ub, min_kw=0.0 if d.reservation else d.min_power_kw, step_kw=0.0,
        availability_eur_per_mw_h=np.full(n, d.availability_price_eur_per_mw_h if d.reservation else 0.0),
        activation_share=np.full(n, d.activation_share), activation_eur_per_mwh=np.full(n, d.activation_price_eur_per_mwh),
        providers=providers, forced=d.reservation, response_s=d.response_time_s,
    )  # fmt: skip
    return prod, probs


def _capacity(c: CapacitySpec, ctx: Context, providers: list[str]) -> tuple[list[Product], list[Problem]]:
    """One product per peak window of the day, offered at the window's start on each peak day with
    the window's length as delivery duration; one commitment shared by all (``group``)."""
    probs: list[Problem] = []
    days: set[str] = set()
    for fld in ("pp1_days", "pp2_days"):
        for i, text in enumerate(getattr(c, fld)):
            try:
                days.add(date.fromisoformat(text).isoformat())
            except ValueError:
                probs.append(Problem(c.name, f"{fld}.{i}", f"{text!r} is not a date 'YYYY-MM-DD'"))
    windows = []
    for i, w in enumerate(c.hours):
        a, b = _hhmm(w.start), _hhmm(w.end)
        if a is None or b is None:
            bad = "start" if a is None else "end"
            probs.append(
                Problem(c.name, f"hours.{i}.{bad}", f"{getattr(w, bad)!r} is not a local time 'HH:MM'")
            )
        elif b <= a:
            probs.append(Problem(c.name, f"hours.{i}.end", f"{w.end} is not after start {w.start}"))
        else:
            windows.append((w, a, b))
    if probs:
        return [], probs
    total_h = c.peak_hours_per_year or len(days) * sum(b - a for _, a, b in windows)
    if total_h <= 0:
        return [], [Problem(c.name, "pp2_days", "no peak day is given: list pp1_days or pp2_days")]
    local = _local(ctx)
    hours = (local.hour + local.minute / 60.0).to_numpy()
    peak_day = np.isin(np.asarray(local.strftime("%Y-%m-%d")), sorted(days))
    n, dt = ctx.n, ctx.dt_h
    out = []
    for w, a, b in windows:
        inside = peak_day & (hours >= a - 1e-9) & (hours < b - 1e-9)
        starts = inside & ~np.r_[False, inside[:-1]]
        block = np.where(starts, 0, -1).astype(np.int64)
        nb = int(starts.any())
        price = np.zeros(n)
        # Paid for the whole window at its start: price per MW and peak hour × window hours / dt.
        price[starts] = c.price_eur_per_mw_year / total_h * (b - a) / dt
        ub = np.full(nb, np.inf if c.max_kw is None else c.max_kw)
        out.append(Product(
            name=f"{c.name} {w.start}-{w.end}", kind="capacity", up=True, down=False, duration_h=b - a,
            block=block, lb_kw=np.zeros(nb), ub_kw=ub, min_kw=0.0, step_kw=0.0,
            availability_eur_per_mw_h=price, activation_share=np.zeros(n), activation_eur_per_mwh=np.zeros(n),
            providers=providers, forced=False, group=c.name,
        ))  # fmt: skip
    return out, probs
