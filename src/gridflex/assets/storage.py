"""Generic storage of any carrier (hot water, hydrogen tank, compressed air, ...), and the store core.

Stored energy ``e_t`` (kWh, end of period t) follows, in one vectorized row group::

    e_t = r·e_{t-1} + η_c·dt·charge_t − dt/η_d·discharge_t,      r = (1 − loss_per_h)^dt,  e_{-1} = e_0

with ``soc_min ≤ e_t/capacity ≤ soc_max``, optional end target ``e_{n-1} ≥ target`` (hard, or soft
with a penalty per kWh missed) and a degradation cost per MWh of throughput (charged + discharged
energy at the terminals). Charging and discharging in the same period is excluded by the
scheduler's exactness check (LP first, binaries only where the LP used both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import (
    AssetBase,
    Built,
    Context,
    Flex,
    Hook,
    Output,
    Pair,
    SoftConstraint,
    storage_headroom,
)
from gridflex.errors import Problem
from gridflex.optimize import Solution


@dataclass
class Level:
    """A lower limit on the stored energy at the end of one period (a target, an EV need)."""

    period: int
    energy_kwh: float
    group: str
    soft_eur_per_kwh: float | None = None


@dataclass
class StoreArrays:
    """A store as plain arrays: what :func:`add_store` needs (no pydantic in the hot path)."""

    label: str
    carrier: str
    node: str
    charge_max_kw: np.ndarray
    discharge_max_kw: np.ndarray
    soc_lo_kwh: np.ndarray
    soc_hi_kwh: np.ndarray
    initial_kwh: float
    eta_charge: float = 1.0
    eta_discharge: float = 1.0
    loss_per_h: float = 0.0
    degradation_eur_per_mwh: float = 0.0
    levels: list[Level] = field(default_factory=list)


def add_store(ctx: Context, s: StoreArrays) -> Built:
    """Add the store's variables, energy balance rows and level rows to the model in one pass."""
    n, dt = ctx.n, ctx.dt_h
    deg = s.degradation_eur_per_mwh * dt / 1000.0
    ch = ctx.add_vars(f"{s.label} charge", n, 0.0, s.charge_max_kw, {"degradation": deg})
    dis = ctx.add_vars(f"{s.label} discharge", n, 0.0, s.discharge_max_kw, {"degradation": deg})
    soc = ctx.add_vars(f"{s.label} state of charge", n, s.soc_lo_kwh, s.soc_hi_kwh)
    r = (1.0 - s.loss_per_h) ** dt
    t = np.arange(n)
    rhs = np.zeros(n)
    rhs[0] = r * s.initial_kwh
    rows = [t, t[1:], t, t]
    cols = [soc.idx, soc.idx[:-1], ch.idx, dis.idx]
    vals = [np.ones(n), np.full(n - 1, -r), np.full(n, -s.eta_charge * dt), np.full(n, dt / s.eta_discharge)]
    act = None
    if ctx.with_services:
        # Expected activation energy of services (kW drawn from the store); the services layer ties it.
        act = ctx.add_vars(f"{s.label} expected activation", n, 0.0, 0.0)
        rows, cols, vals = [*rows, t], [*cols, act.idx], [*vals, np.full(n, dt)]
    ctx.relation(
        f"{s.label} energy balance",
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(vals),
        rhs,
        rhs,
        n,
    )
    _add_levels(ctx, s, soc.idx)
    ctx.flow(s.carrier, s.node, t, ch.idx, 1.0)
    ctx.flow(s.carrier, s.node, t, dis.idx, -1.0)
    ctx.pairs.append(Pair(s.label, [ch], [dis], s.charge_max_kw, s.discharge_max_kw))
    lo = s.soc_lo_kwh.copy()
    for lev in s.levels:
        if lev.soft_eur_per_kwh is None:
            lo[lev.period] = max(lo[lev.period], lev.energy_kwh)

    def read(sol: Solution) -> Output:
        net = sol.value(ch) - sol.value(dis)
        e = sol.value(soc)
        up, down = storage_headroom(
            net, s.charge_max_kw, s.discharge_max_kw, e, lo, s.soc_hi_kwh, s.eta_discharge, dt
        )
        return Output({s.carrier: net}, e, Flex(f"{s.carrier}@{s.node}", up, down))

    hook = Hook(
        s.label, f"{s.carrier}@{s.node}", [(ch, 1.0), (dis, -1.0)], -s.discharge_max_kw, s.charge_max_kw,
        soc, s.soc_lo_kwh, s.soc_hi_kwh, s.initial_kwh, s.eta_charge, s.eta_discharge, act,
    )  # fmt: skip
    return Built(read, hook)


def _add_levels(ctx: Context, s: StoreArrays, soc_idx: np.ndarray) -> None:
    for lev in s.levels:
        if lev.soft_eur_per_kwh is None:
            ctx.relation(
                lev.group, np.zeros(1, np.int64), soc_idx[[lev.period]], 1.0, lev.energy_kwh, np.inf, 1
            )
            continue
        short = ctx.add_vars(f"{lev.group} shortfall", 1, 0.0, np.inf, {"penalty": lev.soft_eur_per_kwh})
        ctx.relation(
            lev.group,
            np.zeros(2, np.int64),
            np.array([soc_idx[lev.period], short.start]),
            1.0,
            lev.energy_kwh,
            np.inf,
            1,
        )


def max_reachable_kwh(
    initial_kwh: float, charge_kw: np.ndarray, eta: float, loss_per_h: float, dt: float
) -> float:
    """Most energy a store can hold at the end of the horizon, ignoring its upper limit."""
    n = charge_kw.size
    r = (1.0 - loss_per_h) ** dt
    decay = r ** np.arange(n - 1, -1, -1)
    return float(initial_kwh * r**n + (charge_kw * eta * dt * decay).sum())


class StoreBase(AssetBase):
    """Parameters shared by batteries and generic stores."""

    capacity_kwh: float = Field(gt=0, description="usable energy capacity, kWh")
    charge_power_kw: float = Field(ge=0, description="maximum charging power, kW")
    discharge_power_kw: float | None = Field(
        None, ge=0, description="maximum discharging power, kW (default: charge_power_kw)"
    )
    charge_efficiency: float = Field(1.0, gt=0, le=1, description="share of charged energy that is stored")
    discharge_efficiency: float = Field(1.0, gt=0, le=1, description="share of drawn energy delivered")
    soc_min_frac: float = Field(0.0, ge=0, le=1, description="lowest state of charge, share of capacity")
    soc_max_frac: float = Field(1.0, ge=0, le=1, description="highest state of charge, share of capacity")
    initial_soc_frac: float = Field(0.5, ge=0, le=1, description="state of charge at the horizon start")
    target_soc_frac: float | None = Field(
        None, ge=0, le=1, description="state of charge to reach (at least) by the horizon end"
    )
    soft: SoftConstraint | None = Field(
        None, description="make the target soft, with a penalty per kWh missed"
    )
    degradation_eur_per_mwh: float = Field(
        0.0, ge=0, description="wear cost per MWh of throughput (charged plus discharged energy)"
    )

    def _loss_per_h(self) -> float:
        return 0.0

    def _carrier(self) -> str:
        raise NotImplementedError

    def _power_limits(self) -> tuple[float, float]:
        dis = self.charge_power_kw if self.discharge_power_kw is None else self.discharge_power_kw
        return self.charge_power_kw, dis

    def check(self, ctx: Context) -> list[Problem]:
        out = []
        if self.soc_min_frac > self.soc_max_frac:
            out.append(
                Problem(
                    self.name, "soc_min_frac", f"{self.soc_min_frac} exceeds soc_max_frac {self.soc_max_frac}"
                )
            )
        elif not self.soc_min_frac <= self.initial_soc_frac <= self.soc_max_frac:
            out.append(
                Problem(
                    self.name,
                    "initial_soc_frac",
                    f"{self.initial_soc_frac} is outside [soc_min_frac, soc_max_frac] = "
                    f"[{self.soc_min_frac}, {self.soc_max_frac}]",
                )
            )
        if self.target_soc_frac is not None and self.target_soc_frac > self.soc_max_frac:
            out.append(
                Problem(
                    self.name,
                    "target_soc_frac",
                    f"{self.target_soc_frac} exceeds soc_max_frac {self.soc_max_frac}",
                )
            )
        return out

    def precheck(self, ctx: Context) -> list[Problem]:
        if self.target_soc_frac is None or self.soft is not None:
            return []
        ch, _ = self._power_limits()
        target = self.target_soc_frac * self.capacity_kwh
        best = max_reachable_kwh(
            self.initial_soc_frac * self.capacity_kwh,
            np.full(ctx.n, ch),
            self.charge_efficiency,
            self._loss_per_h(),
            ctx.dt_h,
        )
        if target <= best + 1e-9:
            return []
        return [
            Problem(
                self.name,
                "target_soc_frac",
                f"{self.label} cannot reach its target of {target:g} kWh by {ctx.clock(ctx.n)}: "
                f"charging at {ch:g} kW from {self.initial_soc_frac * self.capacity_kwh:g} kWh gives at most {best:.4g} kWh",
            )
        ]

    def store_arrays(self, ctx: Context) -> StoreArrays:
        n, cap = ctx.n, self.capacity_kwh
        ch, dis = self._power_limits()
        levels = []
        if self.target_soc_frac is not None:
            soft = None if self.soft is None else self.soft.penalty_eur_per_kwh
            levels.append(Level(n - 1, self.target_soc_frac * cap, f"{self.label} target soc", soft))
        return StoreArrays(
            label=self.label,
            carrier=self._carrier(),
            node=self.node,
            charge_max_kw=np.full(n, ch),
            discharge_max_kw=np.full(n, dis),
            soc_lo_kwh=np.full(n, self.soc_min_frac * cap),
            soc_hi_kwh=np.full(n, self.soc_max_frac * cap),
            initial_kwh=self.initial_soc_frac * cap,
            eta_charge=self.charge_efficiency,
            eta_discharge=self.discharge_efficiency,
            loss_per_h=self._loss_per_h(),
            degradation_eur_per_mwh=self.degradation_eur_per_mwh,
            levels=levels,
        )

    def build(self, ctx: Context) -> Built:
        s = self.store_arrays(ctx)
        if self.target_soc_frac is not None:
            target = self.target_soc_frac * self.capacity_kwh
            ctx.explain[f"{self.label} target soc"] = lambda k, amount: (
                f"{self.label} cannot reach its target of {target:g} kWh by {ctx.clock(ctx.n)} "
                "together with the other constraints"  # a zero amount: the slack was booked elsewhere
                + (f" (short by {amount:.4g} kWh)" if amount > 0 else "")
            )
        return add_store(ctx, s)


class Storage(StoreBase):
    """A store of any carrier: hot water tank, hydrogen tank, compressed air, ice, ..."""

    kind: Literal["storage", "thermal_storage"] = Field(description="'thermal_storage' is a storage of heat")
    carrier: str = Field("heat", min_length=1, description="carrier stored (default heat)")
    loss_per_h: float = Field(
        0.0, ge=0, lt=1, description="share of the content lost per hour (standing loss)"
    )

    def _loss_per_h(self) -> float:
        return self.loss_per_h

    def _carrier(self) -> str:
        return self.carrier
