"""What every asset kind shares: the build context, series handling, and the result / headroom records.

An asset kind is a small pydantic model (its parameters, with units in the names) with three methods:

``check(ctx) -> list[Problem]``
    cross-field and length checks that pydantic cannot do alone (validation collects);
``precheck(ctx) -> list[Problem]``
    cheap, vectorized feasibility tests before solving, phrased for people
    ("EV 'car-2' cannot reach 40 kWh by 07:00: ...");
``build(ctx) -> Built``
    adds its variables and constraint groups to the shared :class:`~gridflex.optimize.Model` in one
    vectorized pass (no loop per period) and returns a :class:`Built` that reads its results.

Sign: a flow is the power an asset *takes from* a bus (carrier at a node), in kW: positive =
consumption, negative = production. Every bus gets one balance row per period: the flows sum to zero.
Constraint groups are named after their asset (``"ev 'car-2' energy need"``) so that the optimize
layer's infeasibility diagnosis names assets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from gridflex.errors import Problem
from gridflex.optimize import Model, Solution, VarBlock
from gridflex.timegrid import TimeGrid, expand

TimeRef = int | str
"""A period index (0 = horizon start), an ISO time with zone, or a local wall-clock ``"HH:MM"``
meaning its first occurrence at or after the horizon start, in the site time zone."""

ELECTRICITY = "electricity"


class SoftConstraint(BaseModel):
    """Turn a hard requirement into a penalised one: each kWh missed costs ``penalty_eur_per_kwh``."""

    model_config = ConfigDict(extra="forbid")
    penalty_eur_per_kwh: float = Field(
        gt=0, description="cost of each kWh by which the requirement is missed"
    )


class AssetBase(BaseModel):
    """Fields every asset has."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, description="unique asset name; used in results and messages")
    node: str = Field("site", min_length=1, description="node of the site the asset is connected to")

    @property
    def label(self) -> str:
        kind = getattr(self, "kind", "asset")
        return f"{kind.replace('_', ' ')} '{self.name}'"

    def check(self, ctx: Context) -> list[Problem]:
        return []

    def precheck(self, ctx: Context) -> list[Problem]:
        return []

    def build(self, ctx: Context) -> Built:  # pragma: no cover - every kind overrides
        raise NotImplementedError


@dataclass
class Flex:
    """Headroom of one asset for the site flexibility, per period (see scheduling.flexibility).

    ``bus`` assets (storage, EV, PV, grid connections) report how much more (``up_kw``) or less
    (``down_kw``) they could take from their bus in each period, the rest of the schedule unchanged.
    ``coupled`` assets (converters) report ``coef``: the flow per unit of their input on each bus, and
    how much their input can rise (``up_kw``) or fall (``down_kw``).
    """

    bus: str | None
    up_kw: np.ndarray
    down_kw: np.ndarray
    coef: dict[str, np.ndarray] | None = None
    is_grid: bool = False


@dataclass
class Output:
    """One asset's results: flows per carrier (kW, + = consumption), state of charge, headroom."""

    power_kw: dict[str, np.ndarray]
    soc_kwh: np.ndarray | None = None
    flex: Flex | None = None


@dataclass
class Hook:
    """How an asset may deviate from its schedule to deliver a service (reserve, DSO flexibility).

    ``terms`` give the asset's flow taken from ``bus`` (kW, + = consumption) as ``Σ coef·x`` per
    period; a deviation keeps it within ``[net_min_kw, net_max_kw]``. Stores also give their stored
    energy ``soc`` (end of each period, kWh) with its limits, efficiencies and ``activation``: a column
    (kW drawn from the store) in their energy balance for the expected activation energy, present
    when the site has services. Converters give ``coupled``: per other bus, the flow taken from it
    per kW more taken from ``bus`` (a heat pump: −COP on its heat bus); stores on that bus must absorb
    it. Grid connections (``is_grid``) are where the site's deviation goes.

    A thermal zone is a store whose state is its temperature: ``soc`` is then the temperature column,
    ``soc_per_unit`` the stored kWh per kelvin (``C`` for a heated zone, ``−C/COP`` for a cooled one,
    in kWh of electricity) and ``decay_per_h`` its loss rate ``H/C`` (a deviation from the schedule
    fades as ``exp(−H·t/C)``; 0 for stores, whose standing loss is left out: conservative).
    """

    label: str
    bus: str
    terms: list[tuple[VarBlock, float]]
    net_min_kw: np.ndarray
    net_max_kw: np.ndarray
    soc: VarBlock | None = None
    soc_lo_kwh: np.ndarray | None = None
    soc_hi_kwh: np.ndarray | None = None
    initial_kwh: float = 0.0
    eta_charge: float = 1.0
    eta_discharge: float = 1.0
    activation: VarBlock | None = None
    coupled: dict[str, np.ndarray] | None = None
    is_grid: bool = False
    soc_per_unit: float = 1.0
    decay_per_h: float = 0.0


@dataclass
class Built:
    """Handle returned by ``build``: reads the asset's results out of a solution; ``hook`` (optional)
    tells the services layer how the asset can deviate (see :class:`Hook`)."""

    read: Callable[[Solution], Output]
    hook: Hook | None = None
    activity: VarBlock | None = None  # a converter's activity (kW), for assets built of converters


@dataclass
class Pair:
    """Two flows that must not be positive in the same period (charge/discharge, import/export)."""

    owner: str
    a: list[VarBlock]  # summed: the first flow (e.g. charge, import on every market)
    b: list[VarBlock]
    a_max: np.ndarray  # per period: a bound of the sum, used as big-M when binaries are needed
    b_max: np.ndarray
    bus: str = ""  # where to find a finite bound when a_max / b_max are infinite


@dataclass
class EnergyNeed:
    """Energy a store must take in within a window (an EV's need): what the infeasibility
    explanation compares with what the rest of its bus can give in that window."""

    label: str  # the asset's label, as in its variable groups ("ev 'car-2'")
    name: str
    field: str
    bus: str
    start: int  # first period of the window
    end: int  # end of the window (exclusive)
    energy_kwh: float  # to take in, at the store's terminals after charging losses
    eta_charge: float
    charge_cols: np.ndarray  # the store's charging columns (kW)


@dataclass
class Context:
    """The shared model being built, the time grid as arrays, the site prices, and collectors."""

    model: Model
    grid: TimeGrid
    tz: tzinfo | str
    prices: dict[str, np.ndarray] = field(default_factory=dict)
    intraday_max_kw: float = 0.0
    self_consumption_eur_per_mwh: float = 0.0
    flows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(default_factory=dict)
    fixed: dict[str, np.ndarray] = field(default_factory=dict)
    fixed_by: dict[str, list[tuple[str, np.ndarray]]] = field(default_factory=dict)  # bus → (owner, kW)
    costs: list[tuple[str, VarBlock, np.ndarray]] = field(default_factory=list)
    const_costs: dict[str, float] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    explain: dict[str, Callable[[int, float], str]] = field(default_factory=dict)
    needs: list[EnergyNeed] = field(default_factory=list)  # hard energy needs, for explanations
    with_services: bool = False  # stores add an expected-activation column to their energy balance

    @property
    def n(self) -> int:
        return self.grid.n

    @property
    def dt_h(self) -> float:
        return self.grid.step_h

    # ---- series and times ----------------------------------------------------------------
    def series(self, value: Any) -> np.ndarray:
        a = expand(value, self.n)
        if a is None:  # check() reports this before build; keep build total
            raise ValueError(f"series of length {np.size(value)} does not fit {self.n} periods")
        return a

    def series_problems(self, owner: str, **fields: Any) -> list[Problem]:
        out = []
        for name, value in fields.items():
            if value is None:
                continue
            a = expand(value, self.n)
            if a is None:
                out.append(
                    Problem(
                        owner,
                        name,
                        f"has {np.size(value)} values; give 1, {self.n} (one per period) or a divisor of {self.n}",
                    )
                )
            elif not np.isfinite(a).all():
                out.append(Problem(owner, name, "contains a value that is not a finite number"))
        return out

    def period(self, ref: TimeRef, after: int = 0) -> int | None:
        """Period index of a time reference (may equal n: the horizon end); None if off the grid."""
        k, _ = self._locate(ref, after)
        return k

    def period_problem(self, owner: str, fld: str, ref: TimeRef, after: int = 0) -> Problem | None:
        """Why ``ref`` is not a period boundary of the horizon (before its start, after its end, between
        two boundaries, unreadable), or None if it is one."""
        k, why = self._locate(ref, after)
        return None if k is not None else Problem(owner, fld, f"{ref!r} {why}")

    def _locate(self, ref: TimeRef, after: int) -> tuple[int | None, str]:
        local_end = (self.grid.start + pd.Timedelta(seconds=self.n * self.grid.step_s)).tz_convert(self.tz)
        end = f"the horizon's end ({local_end.strftime('%a %d %b %H:%M')}, period {self.n})"
        if isinstance(ref, bool):
            return None, "is not a time: give a period index, an ISO time with offset or 'HH:MM'"
        if isinstance(ref, int):
            if ref < 0:
                return None, "is before the horizon's start (period 0)"
            return (ref, "") if ref <= self.n else (None, f"is after {end}")
        text = ref.strip()
        wall = len(text) <= 5 and ":" in text
        try:
            if wall:
                hh, mm = (int(p) for p in text.split(":"))
                start_local = self.grid.start.tz_convert(self.tz)
                anchor = start_local + pd.Timedelta(seconds=after * self.grid.step_s)
                t = anchor.normalize() + pd.Timedelta(hours=hh, minutes=mm)
                t = t if t >= anchor else t + pd.Timedelta(days=1)
            else:
                t = pd.Timestamp(datetime.fromisoformat(text))
                if t.tzinfo is None:
                    return None, "has no UTC offset; add e.g. '+01:00' or 'Z', or write local 'HH:MM'"
        except (ValueError, TypeError):
            return None, "cannot be read: give a period index, an ISO time with offset or 'HH:MM'"
        offset = (t.tz_convert("UTC") - self.grid.start).total_seconds()
        k, rem = divmod(offset, self.grid.step_s)
        if k < 0:
            return None, f"is before the horizon's start ({self.clock(0)})"
        if k > self.n or (k == self.n and rem):
            when = f" (next at {t.tz_convert(self.tz).strftime('%a %H:%M')})" if wall else ""
            return None, f"{when} is after {end}".lstrip()
        if rem:
            step_min = self.grid.step_s / 60
            return (
                None,
                f"falls between two period boundaries (periods of {step_min:g} min from {self.clock(0)})",
            )
        return int(k), ""

    def clock(self, k: int) -> str:
        """Local wall-clock time of period boundary ``k``, for messages."""
        t = (self.grid.start + pd.Timedelta(seconds=int(k) * self.grid.step_s)).tz_convert(self.tz)
        first = self.grid.start.tz_convert(self.tz)
        return t.strftime("%H:%M") if t.date() == first.date() else t.strftime("%a %H:%M")

    # ---- model building ------------------------------------------------------------------
    def add_vars(
        self,
        name: str,
        n: int,
        lb: Any = 0.0,
        ub: Any = np.inf,
        costs: Mapping[str, Any] | None = None,
        integer: bool = False,
    ) -> VarBlock:
        """Variables whose cost is the sum of named categories (the result's cost breakdown)."""
        total: np.ndarray | float = 0.0
        kept = []
        for k, v in (costs or {}).items():
            a = np.asarray(v, dtype=float)
            if a.any():
                kept.append((k, a))
                total = total + a
        block = self.model.add_vars(n, lb=lb, ub=ub, cost=total, integer=integer, name=name)
        for k, a in kept:
            self.costs.append((k, block, np.broadcast_to(a, (n,))))
        return block

    def flow(self, carrier: str, node: str, periods: np.ndarray, cols: np.ndarray, coef: Any) -> None:
        """Flow terms (kW taken from the bus) ``coef * x[cols]`` in ``periods``."""
        coef_a = np.broadcast_to(np.asarray(coef, dtype=float), cols.shape)
        self.flows.setdefault(bus_name(carrier, node), []).append((periods, cols, coef_a))

    def fixed_flow(self, carrier: str, node: str, power_kw: np.ndarray, owner: str = "") -> None:
        """A flow that is data, not a decision (a load profile); ``owner`` (an asset label) is named
        when the bus cannot be balanced."""
        bus = bus_name(carrier, node)
        self.flows.setdefault(bus, [])
        self.fixed[bus] = self.fixed.get(bus, 0.0) + power_kw
        self.fixed_by.setdefault(bus, []).append(
            (owner or "a fixed flow", np.broadcast_to(power_kw, (self.n,)))
        )

    def relation(
        self, name: str, rows: np.ndarray, cols: np.ndarray, vals: Any, lb: Any, ub: Any, n_rows: int
    ) -> None:
        self.model.add_constrs(name=name, row=rows, col=cols, val=vals, lb=lb, ub=ub, n_rows=n_rows)


def bus_name(carrier: str, node: str) -> str:
    return f"{carrier}@{node}"


def storage_headroom(
    net_kw: np.ndarray,
    up_max_kw: np.ndarray,
    down_max_kw: np.ndarray,
    soc_kwh: np.ndarray,
    soc_lo_kwh: np.ndarray,
    soc_hi_kwh: np.ndarray,
    eta_discharge: float,
    dt_h: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Up/down headroom of a store for a one-period deviation, the rest of the schedule unchanged.

    A change of Δ kW in period t shifts the stored energy of every later period by at most
    ``Δ·dt/η_d`` (the worst of charging more, ``η_c·Δ·dt``, and discharging less, ``Δ·dt/η_d``), so
    the change must keep the stored energy within its limits (targets and EV needs included) from t on.
    """
    room = np.minimum.accumulate((soc_hi_kwh - soc_kwh)[::-1])[::-1]
    spare = np.minimum.accumulate((soc_kwh - soc_lo_kwh)[::-1])[::-1]
    up = np.minimum(up_max_kw - net_kw, np.maximum(room, 0.0) * eta_discharge / dt_h)
    down = np.minimum(down_max_kw + net_kw, np.maximum(spare, 0.0) * eta_discharge / dt_h)
    return np.maximum(up, 0.0), np.maximum(down, 0.0)
