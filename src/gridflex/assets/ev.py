"""Electric vehicle charging session: plugged in from ``arrival`` to ``departure`` (exclusive).

The car's battery is a store on the electricity bus whose charge (and, with ``v2g_kw > 0``,
discharge) limits are zero outside the session; its energy at the end of the last plugged period
must be at least ``initial_kwh + energy_need_kwh`` (group ``"ev '<name>' energy need"``), hard or
soft with a penalty per kWh missed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from gridflex.assets.base import (
    ELECTRICITY,
    AssetBase,
    Built,
    Context,
    EnergyNeed,
    Flex,
    Hook,
    Output,
    Pair,
    SoftConstraint,
    TimeRef,
    bus_name,
    storage_headroom,
)
from gridflex.assets.storage import Level, StoreArrays, add_store
from gridflex.errors import Problem
from gridflex.optimize import Solution
from gridflex.timegrid import TimeGrid


class EV(AssetBase):
    """One charging session of one car at one charger."""

    kind: Literal["ev"]
    battery_kwh: float = Field(gt=0, description="usable battery capacity of the car, kWh")
    initial_kwh: float = Field(0.0, ge=0, description="energy in the battery at arrival, kWh")
    energy_need_kwh: float = Field(ge=0, description="energy to add by departure, kWh")
    arrival: TimeRef = Field(0, description="first plugged period: index, ISO time or local 'HH:MM'")
    departure: TimeRef | None = Field(
        None,
        description="end of the session (exclusive): index, ISO time or local 'HH:MM' (default: horizon end)",
    )
    charger_kw: float = Field(gt=0, description="maximum charging power, kW")
    v2g_kw: float = Field(
        0.0, ge=0, description="maximum discharging power back to the site (0 = no V2G), kW"
    )
    charge_efficiency: float = Field(
        0.95, gt=0, le=1, description="share of charger energy stored in the car"
    )
    discharge_efficiency: float = Field(0.95, gt=0, le=1, description="share of drawn energy delivered (V2G)")
    soft: SoftConstraint | None = Field(
        None, description="make the energy need soft, with a penalty per kWh missed"
    )

    def window(self, ctx: Context) -> tuple[int | None, int | None]:
        a = ctx.period(self.arrival)
        d = ctx.n if self.departure is None else ctx.period(self.departure, after=a or 0)
        return a, d

    def check(self, ctx: Context) -> list[Problem]:
        out = []
        a, d = self.window(ctx)
        for fld, ref, k, after in (("arrival", self.arrival, a, 0), ("departure", self.departure, d, a or 0)):
            p = None if k is not None or ref is None else ctx.period_problem(self.name, fld, ref, after)
            if p is not None:
                out.append(p)
        if a is not None and d is not None and d <= a:
            out.append(Problem(self.name, "departure", f"{ctx.clock(d)} is not after arrival {ctx.clock(a)}"))
        if self.initial_kwh + self.energy_need_kwh > self.battery_kwh + 1e-9:
            out.append(
                Problem(
                    self.name,
                    "energy_need_kwh",
                    f"{self.initial_kwh:g} kWh at arrival + {self.energy_need_kwh:g} kWh need exceeds "
                    f"the battery's {self.battery_kwh:g} kWh",
                )
            )
        return out

    def precheck(self, ctx: Context) -> list[Problem]:
        if self.soft is not None:
            return []
        a, d = self.window(ctx)
        assert a is not None and d is not None
        hours = (d - a) * ctx.dt_h
        best = self.charger_kw * self.charge_efficiency * hours
        if self.energy_need_kwh <= best + 1e-9:
            return []
        needs = self.energy_need_kwh / (self.charge_efficiency * hours)
        return [
            Problem(
                self.name,
                "energy_need_kwh",
                f"EV '{self.name}' cannot reach {self.energy_need_kwh:g} kWh by {ctx.clock(d)}: "
                f"needs {needs:.1f} kW, charger gives {self.charger_kw:g} kW "
                f"(plugged {hours:g} h from {ctx.clock(a)}, charging efficiency {self.charge_efficiency:g})",
            )
        ]

    def build(self, ctx: Context) -> Built:
        n = ctx.n
        a, d = self.window(ctx)
        assert a is not None and d is not None
        plugged = np.zeros(n)
        plugged[a:d] = 1.0
        group = f"ev '{self.name}' energy need"
        soft = None if self.soft is None else self.soft.penalty_eur_per_kwh
        need = self.initial_kwh + self.energy_need_kwh
        ctx.explain[group] = lambda k, amount: (
            f"EV '{self.name}' cannot reach {self.energy_need_kwh:g} kWh by {ctx.clock(d)} together with "
            f"the site's other limits"  # a zero amount: the slack was booked on the other side
            + (f" (short by {amount:.4g} kWh)" if amount > 0 else "")
        )
        s = StoreArrays(
            label=f"ev '{self.name}'",
            carrier=ELECTRICITY,
            node=self.node,
            charge_max_kw=self.charger_kw * plugged,
            discharge_max_kw=self.v2g_kw * plugged,
            soc_lo_kwh=np.zeros(n),
            soc_hi_kwh=np.full(n, self.battery_kwh),
            initial_kwh=self.initial_kwh,
            eta_charge=self.charge_efficiency,
            eta_discharge=self.discharge_efficiency,
            levels=[Level(d - 1, need, group, soft)],
        )
        built = add_store(ctx, s)
        if soft is None and built.hook is not None:
            charge = built.hook.terms[0][0]  # add_store's hook: (charge, +1), (discharge, −1)
            ctx.needs.append(EnergyNeed(s.label, self.name, "energy_need_kwh", bus_name(ELECTRICITY, self.node),
                                        a, d, self.energy_need_kwh, self.charge_efficiency, charge.idx))  # fmt: skip
        return built


class DailyEV(EV):
    """The same session every day over several days, for rolling-horizon control (``run_mpc``).

    The car is plugged in periods ``k·n_day + [arrival_period, departure_period)`` of the run. Its
    stored energy carries across the horizon (``energy_kwh`` at the start of period ``offset``, the
    first period of this horizon in the run): it is the state, like a battery's SOC, so the energy
    delivered so far in a session is known to the next step. While the car is away its energy is
    ``initial_kwh`` (it comes back with that); a free *trip* column in the first away period absorbs
    the jump. The need is a lower bound on the stored energy of every plugged period: at departure
    ``initial_kwh + energy_need_kwh``, earlier what the charger can still reach
    (``need − charger·η·(time left)``), so that a horizon ending mid-session keeps the need reachable.
    A soft need is a penalised row at each departure and at the horizon end instead. Every array is
    data: the model of one horizon length has the same structure whatever the offset.
    """

    n_day: int = Field(gt=0, description="periods per day")
    arrival_period: int = Field(ge=0, description="first plugged period of each day")
    departure_period: int = Field(gt=0, description="end of each day's session (exclusive)")
    offset: int = Field(0, ge=0, description="period of the run at which this horizon starts")
    energy_kwh: float | None = Field(
        None, ge=0, description="car energy at the horizon start (None: arrival)"
    )

    def check(self, ctx: Context) -> list[Problem]:
        return []  # checked as a one-day EV before repetition

    def arrays(self, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per period: plugged, first away period (trip), lower and upper stored energy."""
        n, a, d = ctx.n, self.arrival_period, self.departure_period
        pos = (self.offset + np.arange(n)) % self.n_day
        plugged = (pos >= a) & (pos < d)
        trip = pos == d % self.n_day
        target = self.initial_kwh + self.energy_need_kwh
        reach = target - self.charger_kw * self.charge_efficiency * ctx.dt_h * (d - 1 - pos)
        lo = np.where(plugged, np.maximum(reach, 0.0), self.initial_kwh)
        hi = np.where(plugged, self.battery_kwh, self.initial_kwh)
        if self.soft is not None:
            lo = np.where(plugged, 0.0, lo)
        return plugged, trip, lo, hi

    def precheck(self, ctx: Context) -> list[Problem]:
        if self.soft is not None:
            return []
        one = self.model_copy(update={"arrival": self.arrival_period, "departure": self.departure_period})
        day = Context(ctx.model, TimeGrid(ctx.grid.start, ctx.grid.step_s, self.n_day), ctx.tz)
        return EV.precheck(one, day)

    def build(self, ctx: Context) -> Built:
        n, dt = ctx.n, ctx.dt_h
        plugged, trip, lo, hi = self.arrays(ctx)
        e0 = self.initial_kwh if self.energy_kwh is None else self.energy_kwh
        label = f"ev '{self.name}'"
        ch_max, dis_max = self.charger_kw * plugged, self.v2g_kw * plugged
        ch = ctx.add_vars(f"{label} charge", n, 0.0, ch_max)
        dis = ctx.add_vars(f"{label} discharge", n, 0.0, dis_max)
        soc = ctx.add_vars(f"{label} state of charge", n, lo, hi)
        away = ctx.add_vars(f"{label} trip", n, np.where(trip, -np.inf, 0.0), np.where(trip, np.inf, 0.0))
        t = np.arange(n)
        rhs = np.zeros(n)
        rhs[0] = e0
        rows, cols = [t, t[1:], t, t, t], [soc.idx, soc.idx[:-1], ch.idx, dis.idx, away.idx]
        eta_c, eta_d = self.charge_efficiency, self.discharge_efficiency
        vals = [np.ones(n), -np.ones(n - 1), np.full(n, -eta_c * dt), np.full(n, dt / eta_d), np.ones(n)]
        act = None
        if ctx.with_services:
            act = ctx.add_vars(f"{label} expected activation", n, 0.0, 0.0)
            rows, cols, vals = [*rows, t], [*cols, act.idx], [*vals, np.full(n, dt)]
        ctx.relation(f"{label} energy balance", np.concatenate(rows), np.concatenate(cols),
                     np.concatenate(vals), rhs, rhs, n)  # fmt: skip
        if self.soft is not None:
            self._soft_rows(ctx, soc.idx, plugged)
        ctx.flow(ELECTRICITY, self.node, t, ch.idx, 1.0)
        ctx.flow(ELECTRICITY, self.node, t, dis.idx, -1.0)
        # Constant big-M (not × plugged): the binaries' rows stay valid when a warm model gets new data.
        ctx.pairs.append(Pair(label, [ch], [dis], np.full(n, self.charger_kw), np.full(n, self.v2g_kw)))

        def read(sol: Solution) -> Output:
            net = sol.value(ch) - sol.value(dis)
            e = sol.value(soc)
            up, down = storage_headroom(net, ch_max, dis_max, e, lo, hi, eta_d, dt)
            return Output({ELECTRICITY: net}, e, Flex(f"{ELECTRICITY}@{self.node}", up, down))

        hook = Hook(label, f"{ELECTRICITY}@{self.node}", [(ch, 1.0), (dis, -1.0)], -dis_max, ch_max,
                    soc, lo, hi, e0, eta_c, eta_d, act)  # fmt: skip
        return Built(read, hook)

    def _soft_rows(self, ctx: Context, soc_idx: np.ndarray, plugged: np.ndarray) -> None:
        """``e_t + short_t ≥ level_t`` at each departure and, mid-session, at the horizon end."""
        n = ctx.n
        pos = (self.offset + np.arange(n)) % self.n_day
        at = plugged & ((pos == self.departure_period - 1) | (np.arange(n) == n - 1))
        reach = (self.initial_kwh + self.energy_need_kwh) - self.charger_kw * self.charge_efficiency * (
            ctx.dt_h * (self.departure_period - 1 - pos)
        )
        assert self.soft is not None
        short = ctx.add_vars(
            f"ev '{self.name}' energy need shortfall", n, 0.0, np.where(at, np.inf, 0.0),
            {"penalty": self.soft.penalty_eur_per_kwh},
        )  # fmt: skip
        t = np.arange(n)
        ctx.relation(f"ev '{self.name}' energy need", np.r_[t, t], np.r_[soc_idx, short.idx], 1.0,
                     np.where(at, np.maximum(reach, 0.0), -np.inf), np.inf, n)  # fmt: skip
