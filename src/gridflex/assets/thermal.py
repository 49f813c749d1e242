"""Thermal inertia as virtual storage: a zone with an indoor-temperature state (1R1C model).

The zone (a building, a fridge or freezer compartment) has a thermal capacity ``C`` (kWh/K) and a
heat loss coefficient ``H`` (kW/K, transmission and ventilation: ``R = 1/H``) to an ambient
temperature ``T_a`` (outdoor air; the kitchen for a fridge), and receives gains ``G`` (solar through
the windows: aperture × irradiance, internal: people and appliances) and the heat ``Q`` of its
heating or cooling::

    C·dT/dt = H·(T_a − T) + G + Q

With ``T_a``, ``G`` and ``Q`` constant within a period of ``dt`` hours the solution is exact at the
period ends (zero-order hold)::

    T_t = a·T_{t−1} + (1 − a)·(T_a,t + (G_t + Q_t)/H),      a = exp(−H·dt/C),   T_{−1} = T_0

which is one linear row per period (``τ = C/H`` is the time constant, hours). ``T_t`` (end of period
``t``) must stay within the comfort band ``[T_min,t, T_max,t]`` (hard, or soft at a price per K·h
outside it). Heating ``Q`` above what keeps ``T`` at ``T_min`` stores heat in the fabric: the zone
pre-heats before a price peak and coasts through it — flexibility without a tank.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from gridflex.assets.base import ELECTRICITY, AssetBase, Built, Context, Flex, Hook, Output, bus_name
from gridflex.errors import Problem
from gridflex.optimize import Solution, VarBlock
from gridflex.timegrid import Series


@dataclass
class Zone:
    """A thermal zone as plain arrays (what :func:`add_zone` needs)."""

    label: str
    capacity_kwh_per_k: float
    loss_kw_per_k: float
    ambient_c: np.ndarray
    gains_kw: np.ndarray
    initial_c: float
    min_c: np.ndarray
    max_c: np.ndarray
    penalty_eur_per_kh: float | None = None  # None: the band is hard
    final_min_c: float | None = None

    def decay(self, dt_h: float) -> float:
        return float(np.exp(-self.loss_kw_per_k * dt_h / self.capacity_kwh_per_k))


def free_temperatures(z: Zone, heat_kw: np.ndarray, dt_h: float) -> np.ndarray:
    """Temperatures at the period ends under ``heat_kw`` (heat into the zone, kW): the recurrence,
    for results and for tests."""
    a = z.decay(dt_h)
    drive = (1.0 - a) * (z.ambient_c + (z.gains_kw + heat_kw) / z.loss_kw_per_k)
    out = np.empty(drive.size)
    t = z.initial_c
    for k, d in enumerate(drive):  # a recurrence; used on results, never in a model build
        t = a * t + d
        out[k] = t
    return out


def add_zone(
    ctx: Context, z: Zone, heat: list[tuple[VarBlock, float]], activation_heat: float = 0.0
) -> tuple[VarBlock, VarBlock | None]:
    """The zone's temperature variables and rows; ``heat``: (block, kW of heat into the zone per
    unit) — heating +1, cooling −1, a fridge's compressor −COP. Returns the temperature block and,
    when the site has services and ``activation_heat`` is not 0, the expected-activation column
    (kW drawn from the zone as a store, ``activation_heat`` kW of heat into the zone per unit; fixed
    at 0 until the services layer ties it)."""
    n, h = ctx.n, z.loss_kw_per_k
    a = z.decay(ctx.dt_h)
    penalty = z.penalty_eur_per_kh
    hard = penalty is None
    temp = ctx.add_vars(
        f"{z.label} temperature", n, z.min_c if hard else -np.inf, z.max_c if hard else np.inf
    )
    act = None
    if ctx.with_services and activation_heat:
        act = ctx.add_vars(f"{z.label} expected activation", n, 0.0, 0.0)
        heat = [*heat, (act, activation_heat)]
    t = np.arange(n)
    rhs = (1.0 - a) * (z.ambient_c + z.gains_kw / h)
    rhs[0] += a * z.initial_c
    rows = [t, t[1:]] + [t] * len(heat)
    cols = [temp.idx, temp.idx[:-1]] + [b.idx for b, _ in heat]
    vals = [np.ones(n), np.full(n - 1, -a)] + [np.full(n, -(1.0 - a) * c / h) for _, c in heat]
    ctx.relation(f"{z.label} heat balance", np.concatenate(rows), np.concatenate(cols),
                 np.concatenate(vals), rhs, rhs, n)  # fmt: skip
    ctx.explain[f"{z.label} heat balance"] = lambda k, amount: (
        f"{z.label} cannot stay within {z.min_c[k]:g}–{z.max_c[k]:g} °C from {ctx.clock(k + 1)} with the heat "
        "its buses can give or take" + (f" (short by {amount:.3g} K)" if amount > 0 else "")
        + "; comfort_penalty_eur_per_kh makes the band soft"
    )  # fmt: skip
    if penalty is not None:
        cost = {"penalty": np.full(n, penalty * ctx.dt_h)}
        for side, sign, bound in (("below", 1.0, z.min_c), ("above", -1.0, z.max_c)):
            s = ctx.add_vars(f"{z.label} comfort {side} band", n, 0.0, np.inf, cost)
            lo, hi = (bound, np.inf) if sign > 0 else (-np.inf, bound)
            ctx.relation(f"{z.label} comfort band {side}", np.concatenate([t, t]),
                         np.concatenate([temp.idx, s.idx]), np.concatenate([np.ones(n), np.full(n, sign)]),
                         lo, hi, n)  # fmt: skip
    if z.final_min_c is not None:
        ctx.relation(f"{z.label} final temperature", np.zeros(1, np.int64), temp.idx[[n - 1]], 1.0,
                     z.final_min_c, np.inf, 1)  # fmt: skip
    return temp, act


def zone_hook(
    z: Zone, bus: str, flow: VarBlock, flow_max_kw: float | None, temp: VarBlock, act: VarBlock | None,
    kwh_per_k: float,
) -> Hook | None:  # fmt: skip
    """The zone as a store for services, seen from ``bus`` (``flow``: what it takes there, kW).

    The stored energy is ``kwh_per_k · T``: ``C`` when the flow heats the zone, ``−C/COP`` when it
    cools it (colder = more stored). A soft band promises nothing: no hook then."""
    if z.penalty_eur_per_kh is not None:
        return None
    n = z.min_c.size
    ends = (kwh_per_k * z.min_c, kwh_per_k * z.max_c)
    lo, hi = np.minimum(*ends), np.maximum(*ends)
    top = np.full(n, np.inf if flow_max_kw is None else flow_max_kw)
    return Hook(z.label, bus, [(flow, 1.0)], np.zeros(n), top, temp, lo, hi, kwh_per_k * z.initial_c,
                activation=act, soc_per_unit=kwh_per_k,
                decay_per_h=z.loss_kw_per_k / z.capacity_kwh_per_k)  # fmt: skip


def zone_headroom(z: Zone, temp_c: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Most heat (kW) the zone could take more (warmer) or less (cooler) in each period alone, the
    rest unchanged: a change Δ in period t moves ``T_{t+k}`` by ``Δ·(1 − a)/H·a^k``, so the band
    from t on limits it. Vectorized in the log domain (``a^k`` underflows on long horizons)."""
    a = z.decay(dt_h)
    lam = z.loss_kw_per_k * dt_h / z.capacity_kwh_per_k  # −ln a
    n = temp_c.size
    s = np.arange(n) * lam

    def bound(room: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            logs = np.log(np.maximum(room, 0.0)) + s
        best = np.minimum.accumulate(logs[::-1])[::-1] - s
        return np.exp(best) * z.loss_kw_per_k / (1.0 - a)

    return bound(z.max_c - temp_c), bound(temp_c - z.min_c)


class ZoneBase(AssetBase):
    """Parameters every thermal zone has (1R1C)."""

    thermal_capacity_kwh_per_k: float = Field(gt=0, description="thermal capacity C of the zone, kWh/K")
    heat_loss_kw_per_k: float = Field(
        gt=0, description="heat loss coefficient H to the ambient (transmission + ventilation), kW/K"
    )
    internal_gains_kw: Series = Field(
        0.0, description="internal heat gains per period (people, appliances), kW"
    )
    initial_temperature_c: float = Field(description="zone temperature at the horizon start, °C")
    final_temperature_c: float | None = Field(
        None, description="lowest zone temperature at the horizon end, °C (default: free within the band)"
    )
    comfort_penalty_eur_per_kh: float | None = Field(
        None, gt=0, description="make the band soft: cost per kelvin-hour outside it, EUR/(K·h)"
    )

    def _ambient(self, ctx: Context) -> np.ndarray:
        raise NotImplementedError

    def _gains(self, ctx: Context) -> np.ndarray:
        return ctx.series(self.internal_gains_kw)

    def _band(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def zone(self, ctx: Context) -> Zone:
        lo, hi = self._band(ctx)
        return Zone(self.label, self.thermal_capacity_kwh_per_k, self.heat_loss_kw_per_k, self._ambient(ctx),
                    self._gains(ctx), self.initial_temperature_c, lo, hi, self.comfort_penalty_eur_per_kh,
                    self.final_temperature_c)  # fmt: skip

    def heat_into_zone(self, power_kw: dict[str, np.ndarray]) -> np.ndarray:
        """Heat (kW) the zone received per period, from the asset's flows in a result."""
        raise NotImplementedError

    def _band_problems(self, ctx: Context) -> list[Problem]:
        lo, hi = self._band(ctx)
        bad = np.flatnonzero(lo > hi)
        if bad.size:
            k = int(bad[0])
            return [Problem(self.name, "comfort_min_c", f"{lo[k]:g} °C exceeds the band's top {hi[k]:g} °C "
                            f"in period {ctx.clock(k)} (and {bad.size - 1} more)")]  # fmt: skip
        if self.final_temperature_c is not None and self.final_temperature_c > hi[-1]:
            return [Problem(self.name, "final_temperature_c",
                            f"{self.final_temperature_c:g} °C is above the band's top {hi[-1]:g} °C at the end")]  # fmt: skip
        return []


class Building(ZoneBase):
    """A building (or one zone of it) whose indoor temperature is a state: heated from a heat bus
    (a heat pump, a boiler) and optionally cooled from a cold bus, within a comfort band."""

    kind: Literal["building"]
    heat_carrier: str | None = Field("heat", description="carrier of the heating it takes (None: not heated)")
    cold_carrier: str | None = Field(None, description="carrier of the cooling it takes (None: not cooled)")
    heating_max_kw: float | None = Field(None, ge=0, description="most heat delivered to the zone, kW")
    cooling_max_kw: float | None = Field(None, ge=0, description="most heat removed from the zone, kW")
    outdoor_temperature_c: Series = Field(description="outdoor air temperature per period, °C")
    solar_aperture_m2: float = Field(
        0.0, ge=0, description="effective solar aperture: window area × g-value × shading, m²"
    )
    irradiance_w_per_m2: Series = Field(0.0, description="solar irradiance on the windows per period, W/m²")
    comfort_min_c: Series = Field(description="lowest indoor temperature per period, °C")
    comfort_max_c: Series = Field(description="highest indoor temperature per period, °C")

    def _ambient(self, ctx: Context) -> np.ndarray:
        return ctx.series(self.outdoor_temperature_c)

    def _gains(self, ctx: Context) -> np.ndarray:
        return (
            ctx.series(self.internal_gains_kw)
            + self.solar_aperture_m2 * ctx.series(self.irradiance_w_per_m2) / 1000.0
        )

    def _band(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        return ctx.series(self.comfort_min_c), ctx.series(self.comfort_max_c)

    def heat_into_zone(self, power_kw: dict[str, np.ndarray]) -> np.ndarray:
        zero = np.zeros(len(next(iter(power_kw.values()))))
        heat = power_kw.get(self.heat_carrier, zero) if self.heat_carrier else zero
        cold = power_kw.get(self.cold_carrier, zero) if self.cold_carrier else zero
        return np.asarray(heat) - np.asarray(cold)

    def check(self, ctx: Context) -> list[Problem]:
        out = ctx.series_problems(
            self.name, outdoor_temperature_c=self.outdoor_temperature_c, irradiance_w_per_m2=self.irradiance_w_per_m2,
            internal_gains_kw=self.internal_gains_kw, comfort_min_c=self.comfort_min_c,
            comfort_max_c=self.comfort_max_c,
        )  # fmt: skip
        if self.heat_carrier is None and self.cold_carrier is None:
            out.append(Problem(self.name, "heat_carrier", "give heat_carrier, cold_carrier or both"))
        return out or self._band_problems(ctx)

    def precheck(self, ctx: Context) -> list[Problem]:
        if (
            self.comfort_penalty_eur_per_kh is not None
            or self.heat_carrier is None
            or self.heating_max_kw is None
        ):
            return []
        z = self.zone(ctx)
        warmest = free_temperatures(z, np.full(ctx.n, self.heating_max_kw), ctx.dt_h)
        short = np.flatnonzero(warmest < z.min_c - 1e-6)
        if not short.size:
            return []
        k = int(short[0])
        return [Problem(self.name, "heating_max_kw",
                        f"{self.label} cannot reach {z.min_c[k]:g} °C by {ctx.clock(k + 1)}: heating at "
                        f"{self.heating_max_kw:g} kW from {self.initial_temperature_c:g} °C gives at most "
                        f"{warmest[k]:.3g} °C")]  # fmt: skip

    def build(self, ctx: Context) -> Built:
        n, t = ctx.n, np.arange(ctx.n)
        z = self.zone(ctx)
        heat: list[tuple[VarBlock, float]] = []
        flows: list[tuple[str, VarBlock]] = []
        for carrier, limit, sign, what in ((self.heat_carrier, self.heating_max_kw, 1.0, "heating"),
                                           (self.cold_carrier, self.cooling_max_kw, -1.0, "cooling")):  # fmt: skip
            if carrier is None:
                continue
            q = ctx.add_vars(f"{self.label} {what}", n, 0.0, np.inf if limit is None else limit)
            ctx.flow(carrier, self.node, t, q.idx, 1.0)
            heat.append((q, sign))
            flows.append((carrier, q))
        # As a store for services: on its heat bus (its cold bus when only cooled).
        c = z.capacity_kwh_per_k
        first, q_first = flows[0]
        scale, limit = (c, self.heating_max_kw) if first == self.heat_carrier else (-c, self.cooling_max_kw)
        temp, act = add_zone(ctx, z, heat, activation_heat=-1.0 if scale > 0 else 1.0)
        hook = zone_hook(z, bus_name(first, self.node), q_first, limit, temp, act, scale)
        q_max = {c: np.inf if lim is None else lim for c, lim in ((self.heat_carrier, self.heating_max_kw),
                                                                    (self.cold_carrier, self.cooling_max_kw))}  # fmt: skip

        def read(sol: Solution) -> Output:
            power = {c: sol.value(q).copy() for c, q in flows}
            temp_c = sol.value(temp)
            warmer, cooler = zone_headroom(z, temp_c, ctx.dt_h)
            carrier = flows[0][0]
            x = power[carrier]
            if carrier == self.heat_carrier:  # more heat taken = warmer
                flex = Flex(
                    bus_name(carrier, self.node),
                    np.minimum(q_max[carrier] - x, warmer),
                    np.minimum(x, cooler),
                )
            else:  # more cooling taken = cooler
                flex = Flex(
                    bus_name(carrier, self.node),
                    np.minimum(q_max[carrier] - x, cooler),
                    np.minimum(x, warmer),
                )
            return Output(power, None, flex)

        return Built(read, hook)


_COLD_DEFAULTS = {"fridge": (2.0, 6.0, 2.0), "freezer": (-24.0, -16.0, 1.5)}
"""Per kind: band (°C) and COP. Fridge 2–6 °C (food safety asks ≤ 5 °C on average) and freezer
−24 to −16 °C (−18 °C is the norm); COPs of domestic compressors (assumption)."""


class ColdAppliance(ZoneBase):
    """A fridge or freezer: a compartment (food and walls) cooled by an electric compressor of fixed COP
    within a temperature band; its average power per period is the decision (the compressor cycles)."""

    kind: Literal["fridge", "freezer"] = Field(
        description="'fridge' or 'freezer' (their default band and COP)"
    )
    compressor_kw: float = Field(gt=0, description="electric power of the compressor when running, kW")
    cop: float | None = Field(
        None, gt=0, description="heat removed per kWh of electricity (default: fridge 2, freezer 1.5)"
    )
    room_temperature_c: Series = Field(20.0, description="temperature around the appliance per period, °C")
    temperature_min_c: Series | None = Field(
        None, description="lowest compartment temperature, °C (default by kind)"
    )
    temperature_max_c: Series | None = Field(
        None, description="highest compartment temperature, °C (default by kind)"
    )
    initial_temperature_c: float | None = Field(  # type: ignore[assignment]
        None, description="compartment temperature at the horizon start, °C (default: middle of the band)"
    )

    @model_validator(mode="after")
    def _defaults(self) -> ColdAppliance:
        lo, hi, cop = _COLD_DEFAULTS[self.kind]
        if self.temperature_min_c is None:
            self.temperature_min_c = lo
        if self.temperature_max_c is None:
            self.temperature_max_c = hi
        if self.cop is None:
            self.cop = cop
        if self.initial_temperature_c is None:
            lo0 = (
                self.temperature_min_c
                if isinstance(self.temperature_min_c, float)
                else self.temperature_min_c[0]
            )
            hi0 = (
                self.temperature_max_c
                if isinstance(self.temperature_max_c, float)
                else self.temperature_max_c[0]
            )
            self.initial_temperature_c = (lo0 + hi0) / 2.0
        return self

    def _ambient(self, ctx: Context) -> np.ndarray:
        return ctx.series(self.room_temperature_c)

    def _band(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        return ctx.series(self.temperature_min_c), ctx.series(self.temperature_max_c)

    def heat_into_zone(self, power_kw: dict[str, np.ndarray]) -> np.ndarray:
        return -float(self.cop or 0.0) * np.asarray(power_kw[ELECTRICITY])

    def check(self, ctx: Context) -> list[Problem]:
        out = ctx.series_problems(self.name, room_temperature_c=self.room_temperature_c,
                                  internal_gains_kw=self.internal_gains_kw, temperature_min_c=self.temperature_min_c,
                                  temperature_max_c=self.temperature_max_c)  # fmt: skip
        return out or self._band_problems(ctx)

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        z = self.zone(ctx)
        cop = float(self.cop or 0.0)
        p = ctx.add_vars(f"{self.label} compressor", n, 0.0, self.compressor_kw)
        ctx.flow(ELECTRICITY, self.node, np.arange(n), p.idx, 1.0)
        # As a store of cold in kWh of electricity: a kW less drawn warms it as COP kW of heat would.
        temp, act = add_zone(ctx, z, [(p, -cop)], activation_heat=cop)
        hook = zone_hook(z, bus_name(ELECTRICITY, self.node), p, self.compressor_kw, temp, act,
                         -z.capacity_kwh_per_k / cop)  # fmt: skip

        def read(sol: Solution) -> Output:
            x = sol.value(p).copy()
            temp_c = sol.value(temp)
            warmer, cooler = zone_headroom(z, temp_c, ctx.dt_h)
            up = np.minimum(self.compressor_kw - x, cooler / cop)  # more power: colder
            down = np.minimum(x, warmer / cop)
            return Output({ELECTRICITY: x}, None, Flex(bus_name(ELECTRICITY, self.node), up, down))

        return Built(read, hook)
