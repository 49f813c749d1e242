"""Fill-rate devices: stores whose fill level (any unit: kWh, °C, %) actuators raise or lower at a
rate linear in their power, e.g. a battery, a hot-water buffer, an EV (S2's FRBC devices). All the
fill-rate devices of a plan are one asset (:class:`FillRateFleetAsset`, kind ``fill_rate_fleet``),
built in one vectorized pass (the lean formulation of docs/s2.md).

Per device and period: the fill level ``soc`` (fill − fill_min, bounded by the storage range and
the target profile), one fill-in column per charging actuator and one fill-out column per
discharging actuator (fill units per hour; each feeds the electricity bus with its kW per fill
unit), and two penalised virtual-fill slacks. A device is plain data (:class:`FillRateDevice`): the
S2 CEM linearises an FRBC system description into it (:mod:`gridflex.s2.control.frbc`). Within an actuator's
mode the power and the fill rate are linear in the mode's factor, so charging is ``kW per fill unit/h
= p_max / (f_max·3600)``, discharging alike; usage and leakage are a fixed drain; a fill-level target
is a soft bound (each fill unit missed costs ``TARGET_PENALTY_EUR``, so a target never makes the
plan infeasible). An actuator with both columns is a site exclusivity pair.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, PrivateAttr

from gridflex.assets.base import AssetBase, Built, Context, Output, Pair
from gridflex.errors import Problem
from gridflex.optimize import ConstrBlock, Solution, VarBlock

TARGET_PENALTY_EUR = 10_000.0
"""Cost per fill-level unit by which a fill-level target range is missed (per period)."""

_EPS_EUR_PER_MWH = 1e-3  # tiny cost on every fill-rate column: no needless cycling
EARLY_EUR_PER_MWH = 0.5
"""Filling in the last period costs this much more (EUR per MWh of electricity) than in the first:
at equal prices the plan fills early, so execution lags do not make it miss a target."""


@dataclass
class ModeChoice:
    """One operation mode at the present fill level: fill rate and electric power at factor 0 and 1."""

    mode_id: uuid.UUID
    f0: float  # fill units per second at factor 0
    f1: float
    p0_w: float
    p1_w: float

    def factor_for_rate(self, rate: float) -> float:
        if abs(self.f1 - self.f0) < 1e-12:
            return 0.0
        # plain floats: called per device and period on the CEM's loop, where np.clip costs 30 µs
        return min(max((rate - self.f0) / (self.f1 - self.f0), 0.0), 1.0)


@dataclass
class ActuatorPlanSpec:
    """The linearised actuator: its charge / discharge / idle modes (see the module docstring)."""

    actuator_id: uuid.UUID
    charge: ModeChoice | None
    discharge: ModeChoice | None
    idle: ModeChoice | None


@dataclass
class FillRateDevice:
    """One fill-rate device as plain data (the S2 CEM takes it on its event loop, optimises it in a thread)."""

    name: str
    fill_now: float
    fill_min: float
    fill_max: float
    actuators: list[ActuatorPlanSpec]
    drain_per_h: np.ndarray  # usage + leakage, fill units per hour per period
    target_lo: np.ndarray  # per period, -inf where none
    target_hi: np.ndarray  # per period, +inf where none
    first_frac: float = 1.0  # share of the first period still ahead (the plan starts at its start)


def _endpoint(m: ModeChoice, highest: bool) -> tuple[float, float]:
    """(fill units per hour, kW) at the factor with the highest (or lowest) fill rate of a mode."""
    use_one = (m.f1 >= m.f0) if highest else (m.f1 <= m.f0)
    f, p = (m.f1, m.p1_w) if use_one else (m.f0, m.p0_w)
    return f * 3600.0, p / 1000.0


def actuator_columns(a: ActuatorPlanSpec) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """((max fill-in rate per hour, kW per fill unit/h), same for fill-out) of an actuator, or None.

    Charging needs a mode with a positive fill rate that takes electricity; discharging a mode with a
    negative fill rate (a battery's discharge gives electricity: negative kW per unit, a cooling mode
    takes it: positive)."""
    charge = discharge = None
    if a.charge is not None:
        f_h, p_kw = _endpoint(a.charge, highest=True)
        if f_h > 1e-12 and p_kw > 1e-9:
            charge = (f_h, p_kw / f_h)
    if a.discharge is not None:
        f_h, p_kw = _endpoint(a.discharge, highest=False)
        if f_h < -1e-12 and abs(p_kw) > 1e-9:
            discharge = (-f_h, p_kw / -f_h)
    return charge, discharge


def fleet_signature(specs: list[FillRateDevice]) -> tuple[Any, ...]:
    """What fixes the structure of the fleet's model part (names, actuators, kW per fill unit):
    two requests with the same signature differ only in bounds and right-hand sides."""
    out = []
    for s in specs:
        cols = []
        for a in s.actuators:
            ch, dis = actuator_columns(a)
            cols.append(
                (None if ch is None else round(ch[1], 12), None if dis is None else round(dis[1], 12))
            )
        out.append((s.name, tuple(cols)))
    return tuple(out)


@dataclass
class FillRateFleet:
    """The FRBC devices of a plan inside the site model (see the module docstring and docs/s2.md).

    Per device and period: the fill level ``soc`` (fill − fill_min, bounded by the storage range and
    the target profile), one fill-in column per charging actuator and one fill-out column per
    discharging actuator (fill units per hour; each feeds the electricity bus with its kW per fill
    unit), and two penalised virtual-fill slacks (``add``: usage that cannot be served or a low target
    that cannot be reached; ``dump``: fill above a high target that cannot be avoided). One row per
    device and period: the fill balance. Usage and leakage are its right-hand side, so a new fill
    level, usage forecast or target changes bounds and right-hand sides only (:meth:`update`).
    """

    specs: list[FillRateDevice]
    n: int
    dt_h: float
    soc: VarBlock  # device-major: device d, period t at d·n + t
    add: VarBlock
    dump: VarBlock
    balance: ConstrBlock
    cols: list[tuple[int, int, VarBlock, float, float]]  # (device, actuator, block, fill sign, kW per unit/h)

    def _data(self, specs: list[FillRateDevice]) -> dict[str, np.ndarray]:
        dt = self.dt_h
        width = np.array([max(s.fill_max - s.fill_min, 1e-6) for s in specs])
        fmin = np.array([s.fill_min for s in specs])
        lo = np.stack([s.target_lo for s in specs]) - fmin[:, None]
        hi = np.stack([s.target_hi for s in specs]) - fmin[:, None]
        lb = np.clip(np.where(np.isfinite(lo), lo, 0.0), 0.0, width[:, None])
        ub = np.clip(np.where(np.isfinite(hi), hi, width[:, None]), 0.0, width[:, None])
        lb = np.minimum(lb, ub)
        rhs = -dt * np.stack([s.drain_per_h for s in specs])
        rhs[:, 0] *= np.array([s.first_frac for s in specs])  # usage in what is left of period 0
        init = np.array([np.clip(s.fill_now - s.fill_min, 0.0, w) for s, w in zip(specs, width, strict=True)])
        rhs[:, 0] += init
        return {"lb": lb.ravel(), "ub": ub.ravel(), "rhs": rhs.ravel()}

    def update(self, model: Any, specs: list[FillRateDevice]) -> None:
        """New data for the same structure (``fleet_signature`` equal): bounds and right-hand sides."""
        d = self._data(specs)
        model.set_bounds(self.soc, d["lb"], d["ub"])
        model.set_row_bounds(self.balance, d["rhs"], d["rhs"])
        for dev, act, block, _, _ in self.cols:
            ch, dis = actuator_columns(specs[dev].actuators[act])
            limit = (ch if block.name.endswith("in") else dis) or (0.0, 0.0)
            ub = np.full(self.n, limit[0])
            ub[0] *= specs[dev].first_frac  # only the rest of the running period can still be used
            model.set_bounds(block, 0.0, ub)
        self.specs = specs

    def _running(self, dev: int, values: np.ndarray, boost: np.ndarray | None) -> np.ndarray:
        """Column values as the rate to run at: period 0's value is its fill over the whole period,
        all of it due in the share ``first_frac`` still ahead, so the device runs at value / first_frac
        (at the period average it would deliver only ``first_frac`` of the planned fill). ``boost``
        (per device, 0..1) scales that raise down where a site limit leaves no room for it."""
        out = np.array(values, dtype=float)
        ff = self.specs[dev].first_frac
        if out.size and ff > 1e-9:
            b = 1.0 if boost is None else float(boost[dev])
            out[0] *= 1.0 + b * (1.0 / ff - 1.0)
        return out

    def device_energy_kw(self, sol: Any) -> np.ndarray:
        """Electric power per device and period as the site balance sees it (kW averaged over whole
        periods, + = consumption), shape (devices, n)."""
        out = np.zeros((len(self.specs), self.n))
        for dev, _, block, _, kw in self.cols:
            out[dev] += kw * sol.value(block)
        return out

    def device_power_kw(self, sol: Any, boost: np.ndarray | None = None) -> np.ndarray:
        """Electric power per device and period (kW, + = consumption) while it runs, shape (devices, n)
        (period 0: during the part still ahead; ``boost`` as in :meth:`rates_per_s`)."""
        out = np.zeros((len(self.specs), self.n))
        for dev, _, block, _, kw in self.cols:
            out[dev] += kw * self._running(dev, sol.value(block), boost)
        return out

    def rates_per_s(self, sol: Any, boost: np.ndarray | None = None) -> list[dict[Any, np.ndarray]]:
        """Net fill rate (fill units per second) per device → actuator id, to run at (period 0: during
        the part still ahead, raised by ``boost`` (per device, 0..1; None: fully) of 1/first_frac)."""
        out: list[dict[Any, np.ndarray]] = [
            {a.actuator_id: np.zeros(self.n) for a in s.actuators} for s in self.specs
        ]
        for dev, act, block, sign, _ in self.cols:
            run = self._running(dev, sol.value(block), boost)
            out[dev][self.specs[dev].actuators[act].actuator_id] += sign * run / 3600.0
        return out

    def fill(self, sol: Any) -> np.ndarray:
        """Planned fill level at the end of each period, shape (devices, n)."""
        fmin = np.array([s.fill_min for s in self.specs])
        return sol.value(self.soc).reshape(len(self.specs), self.n) + fmin[:, None]


def add_fill_rate_fleet(ctx: Any, specs: list[FillRateDevice], node: str = "site") -> FillRateFleet:
    """Add every FRBC device to the site model being built (before its balances; one pass)."""
    n, dt = ctx.n, ctx.dt_h
    nd = len(specs)
    t = np.arange(n)
    ramp = 1.0 + 1e-3 * np.tile(t[::-1], nd) / max(n, 1)  # a virtual fill is taken as late as possible
    pen = {"penalty": TARGET_PENALTY_EUR * ramp}
    soc = ctx.add_vars("s2 frbc fill level", nd * n, 0.0, np.inf)
    add = ctx.add_vars("s2 frbc virtual fill in", nd * n, 0.0, np.inf, pen)
    dump = ctx.add_vars("s2 frbc virtual fill out", nd * n, 0.0, np.inf, pen)
    rows = [np.arange(nd * n), np.flatnonzero(np.tile(t, nd) > 0), np.arange(nd * n), np.arange(nd * n)]
    cols = [soc.idx, soc.idx[np.tile(t, nd) < n - 1], add.idx, dump.idx]
    vals = [np.ones(nd * n), np.full(nd * (n - 1), -1.0), np.full(nd * n, -1.0), np.ones(nd * n)]
    blocks: list[tuple[int, int, VarBlock, float, float]] = []
    for d, s in enumerate(specs):
        for j, a in enumerate(s.actuators):
            sides: dict[str, tuple[VarBlock, float]] = {}
            for side, col, sign in zip(("in", "out"), actuator_columns(a), (1.0, -1.0), strict=True):
                if col is None:
                    continue
                # a small cost: no needless cycling; and at equal prices fill in early, not at the last
                # moment (a ramp of EARLY_EUR_PER_MWH over the horizon, above the solver's tolerance)
                kw = max(abs(col[1]), 1e-3)
                ramp_eur = EARLY_EUR_PER_MWH * t / n if sign > 0 else 0.0
                eps = (_EPS_EUR_PER_MWH + ramp_eur) * dt / 1000.0 * kw
                b = ctx.add_vars(f"s2 frbc '{s.name}' a{j} fill {side}", n, 0.0, col[0], {"degradation": eps})
                blocks.append((d, j, b, sign, col[1]))
                rows.append(d * n + t)
                cols.append(b.idx)
                vals.append(np.full(n, -sign * dt))
                ctx.flow("electricity", node, t, b.idx, col[1])
                sides[side] = (b, col[0])
            if len(sides) == 2:  # one actuator runs one mode at a time: no filling and emptying at once
                (b_in, in_max), (b_out, out_max) = sides["in"], sides["out"]
                label = f"FRBC device '{s.name}' actuator {j}"
                ctx.pairs.append(Pair(label, [b_in], [b_out], np.full(n, in_max), np.full(n, out_max)))
    balance = ctx.model.add_constrs("s2 frbc fill balance", np.concatenate(rows), np.concatenate(cols),
                                    np.concatenate(vals), 0.0, 0.0, nd * n)  # fmt: skip
    fleet = FillRateFleet(list(specs), n, dt, soc, add, dump, balance, blocks)
    fleet.update(ctx.model, list(specs))
    return fleet


class FillRateFleetAsset(AssetBase):
    """The fill-rate devices of a plan as one site asset (kind ``fill_rate_fleet``):
    :func:`add_fill_rate_fleet` in the site's build pass, so the devices' electricity enters the site
    balance like any asset's. Made by the S2 CEM's planner (its devices are plain data, not site-file
    fields)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    kind: Literal["fill_rate_fleet"] = "fill_rate_fleet"
    specs: list[Any] = Field(default_factory=list, description="the devices (FillRateDevice)")
    _fleet: FillRateFleet | None = PrivateAttr(None)

    def check(self, ctx: Context) -> list[Problem]:
        if not self.specs:
            return [Problem(self.name, "specs", "fill_rate_fleet is made by the S2 CEM from its FRBC devices, "
                                                "not written in a site file")]  # fmt: skip
        bad = [i for i, s in enumerate(self.specs) if not isinstance(s, FillRateDevice)]
        return [Problem(self.name, f"specs[{i}]", "is not a FillRateDevice") for i in bad]

    @property
    def fleet(self) -> FillRateFleet:
        assert self._fleet is not None, "build() first"
        return self._fleet

    def build(self, ctx: Context) -> Built:
        fleet = add_fill_rate_fleet(ctx, list(self.specs), self.node)
        self._fleet = fleet

        def read(sol: Solution) -> Output:
            return Output({"electricity": fleet.device_energy_kw(sol).sum(axis=0)})

        return Built(read)
