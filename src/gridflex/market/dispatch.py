"""Activation of reserved capacity down to the devices: through flex-offers, or through a site's CEM (S2).

``capacity.activate`` says how much each site must move in which periods.

* Flex-offer path (:func:`dispatch_activation`): a site is a fleet of flex-offers; its aggregate is
  rescheduled under the call's bound and disaggregated to its devices.
* S2 path (:func:`s2_site_limits`): a site whose devices speak S2 to a CEM gets the call as limits on
  its grid import (``up``) or export (``down``) relative to the CEM's running plan; the CEM re-plans
  every device under them (its own least-cost split, within each device's S2 constraints) and sends
  the per-device targets as S2 instructions. Plain arrays here: the market core knows no server.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from gridflex.flexoffer.model import FlexOfferBatch, Schedule
from gridflex.market.capacity import ActivationResult
from gridflex.timegrid import TimeGrid


def called_kw(activation: ActivationResult, grid: TimeGrid) -> dict[str, np.ndarray]:
    """Called power per site and period of ``grid`` (kW, in the tender's direction; 0 outside the
    calls): an instruction counts in every period that starts inside it."""
    called: dict[str, np.ndarray] = {}
    t = grid.index
    for ins in activation.instructions:
        inside = (t >= pd.Timestamp(ins.start)) & (t < pd.Timestamp(ins.end))
        called.setdefault(ins.site_id, np.zeros(grid.n))[inside] += ins.power_mw * 1000.0
    return called


@dataclass(eq=False)
class SiteDispatch:
    """One site's answer to its activation instructions: its devices' schedules before and after."""

    site_id: str
    planned_kw: np.ndarray  # site power per grid period before the call (the aggregator's plan)
    dispatched_kw: np.ndarray  # after the call
    instructed_kw: np.ndarray  # called power per period, in the tender's direction (0 outside the call)
    members: FlexOfferBatch  # the site's devices with their new schedules


def dispatch_activation(
    activation: ActivationResult,
    direction: str,
    fleets: dict[str, FlexOfferBatch],
    grid: TimeGrid,
    prices_eur_per_mwh: np.ndarray,
    now_s: int | None = None,
) -> dict[str, SiteDispatch]:
    """Carry ``capacity.activate``'s per-site instructions to the devices through the flex-offer path.

    Each site is a fleet of flex-offers. Its plan is the least-cost schedule at ``prices_eur_per_mwh``;
    the call bounds the site's power in the instructed periods: at most plan − instructed (``up``:
    less into the site, more into the grid) or at least plan + instructed (``down``). The aggregate is
    rescheduled under that bound and disaggregated to the devices, each schedule checked against its
    flex-offer. Raises the scheduler's :class:`InfeasibleError` when a site cannot follow its call.

    ``now_s`` (UTC seconds): when the call is dispatched. What the plan executed before it stays: a
    device whose planned start is before ``now_s`` keeps that start and its planned energy in every
    interval that starts before ``now_s``; the others start at ``now_s`` or later. An instruction that
    starts before ``now_s`` is refused (naming it). ``None``: the whole horizon is
    re-planned (a study).
    """
    from gridflex.errors import DisaggregationError, Problem, ValidationError
    from gridflex.flexoffer.aggregation import aggregate
    from gridflex.flexoffer.disaggregation import disaggregate
    from gridflex.flexoffer.schedule import schedule_flexoffers
    from gridflex.flexoffer.validate import validate_schedule

    if direction not in ("up", "down"):
        raise ValidationError(
            "activation", [Problem("activation", "direction", f"up or down, not {direction!r}")]
        )
    for ins in activation.instructions:
        if ins.site_id not in fleets:
            raise ValidationError(
                "activation", [Problem(ins.bid_id, "site_id", f"no fleet for {ins.site_id!r}")]
            )
    called = called_kw(activation, grid)
    if now_s is not None:
        now = pd.Timestamp(int(now_s), unit="s", tz="UTC")
        late = [ins for ins in activation.instructions if pd.Timestamp(ins.start) < now]
        if late:
            raise ValidationError("activation", [Problem(ins.bid_id, "start", (
                f"{ins.site_id}: called from {ins.start.isoformat()}, before the decision time "
                f"{np.datetime64(int(now_s), 's')}Z: what is executed cannot follow a call")) for ins in late])  # fmt: skip
    out = {}
    for site_id, instructed_kw in called.items():
        fleet = fleets[site_id]
        agg = aggregate(fleet)
        plan = schedule_flexoffers(agg.aggregates, grid, prices_eur_per_mwh)
        plan_kw = plan.load_kwh / grid.step_h
        if now_s is not None:  # the re-schedule starts from the devices' executed part
            agg = aggregate(_executed(fleet, disaggregate(agg, plan.schedule), int(now_s)))
        on = instructed_kw > 0
        up = direction == "up"
        limit_kw = np.where(on, plan_kw - instructed_kw, np.inf) if up else None
        floor_kw = None if up else np.where(on, plan_kw + instructed_kw, -np.inf)
        res = schedule_flexoffers(
            agg.aggregates, grid, prices_eur_per_mwh, limit_kw=limit_kw, floor_kw=floor_kw
        )
        member_schedule = disaggregate(agg, res.schedule)
        problems = validate_schedule(fleet, member_schedule)
        if problems:  # never hand a device a schedule outside its flex-offer
            raise DisaggregationError(f"{site_id}: {len(problems)} device schedules infeasible", problems)
        out[site_id] = SiteDispatch(
            site_id, plan_kw, res.load_kwh / grid.step_h, instructed_kw, fleet.with_schedule(member_schedule)
        )
    return out


def _executed(fleet: FlexOfferBatch, plan: Schedule, now_s: int) -> FlexOfferBatch:
    """The fleet as it stands at ``now_s`` under ``plan``: a started device keeps its start and its
    planned energy in every interval before ``now_s``; the others can start no earlier than ``now_s``."""
    step = fleet.interval_s
    started = plan.start_s < now_s
    later = fleet.est_s + np.maximum(0, -(-(now_s - fleet.est_s) // step)) * step  # first start >= now
    est = np.where(started, plan.start_s, later)
    lst = np.where(started, plan.start_s, fleet.lst_s)
    interval_start = plan.start_s[fleet.owner_index] + fleet.position * step
    done = started[fleet.owner_index] & (interval_start < now_s)
    lower = np.where(done, plan.energy_kwh, fleet.lower_kwh).astype(fleet.lower_kwh.dtype)
    upper = np.where(done, plan.energy_kwh, fleet.upper_kwh).astype(fleet.upper_kwh.dtype)
    return replace(fleet, est_s=est, lst_s=lst, lower_kwh=lower, upper_kwh=upper, schedule=None, _cache={})


@dataclass(eq=False)
class SiteLimits:
    """A call as the grid limits a site's CEM plans its S2 devices under (kW per period of ``grid``).

    ``up`` (more power into the grid): import at most plan − called; ``down``: export at most the
    planned export − called (the CEM's limits are caps, so a ``down`` call needs a planned export to
    cap). ``inf`` where nothing is called.
    """

    site_id: str
    direction: str
    grid: TimeGrid
    planned_import_kw: np.ndarray  # the CEM's plan before the call (+ = import)
    called_kw: np.ndarray
    import_limit_kw: np.ndarray
    export_limit_kw: np.ndarray

    def congestion_limit(self) -> dict:
        """Keyword arguments of the CEM's ``set_congestion_limit`` (``gridflex.s2.server.CEM``)."""

        def side(limit: np.ndarray) -> list[float] | None:
            return limit.tolist() if np.isfinite(limit).any() else None

        return {"import_kw": side(self.import_limit_kw), "export_kw": side(self.export_limit_kw),
                "start": self.grid.start.to_pydatetime(), "step_s": self.grid.step_s}  # fmt: skip

    def delivered_kw(self, net_import_kw: np.ndarray) -> np.ndarray:
        """Flexibility delivered per period against the plan, in the call's direction (kW)."""
        from gridflex.errors import Problem, ValidationError

        metered = np.asarray(net_import_kw, dtype=float)
        if metered.shape != (self.grid.n,):
            raise ValidationError("S2 activation", [Problem(self.site_id, "net_import_kw",
                                  f"shape {metered.shape}, expected ({self.grid.n},): one value per period")])  # fmt: skip
        moved = self.planned_import_kw - metered  # + = less import
        return moved if self.direction == "up" else -moved


def s2_site_limits(
    activation: ActivationResult,
    site_id: str,
    direction: str,
    grid: TimeGrid,
    planned_import_kw: np.ndarray,
    tolerance_kw: float = 1e-6,
) -> SiteLimits:
    """Turn ``site_id``'s part of ``activation`` into the limits its CEM plans with (see :class:`SiteLimits`).

    ``grid`` and ``planned_import_kw``: the CEM's plan (its start, step and net import per period)
    before the call. Raises :class:`ValidationError` naming the instruction when the call cannot be
    expressed as a cap: ``up`` larger than the planned import, ``down`` larger than the planned export.
    """
    from gridflex.errors import Problem, ValidationError

    plan = np.asarray(planned_import_kw, dtype=float)
    problems = []
    if direction not in ("up", "down"):
        problems.append(Problem("activation", "direction", f"up or down, not {direction!r}"))
    if plan.shape != (grid.n,) or not np.isfinite(plan).all():
        problems.append(
            Problem(site_id, "planned_import_kw", f"{grid.n} finite values expected, one per period")
        )
    mine = [ins for ins in activation.instructions if ins.site_id == site_id]
    if not mine:
        problems.append(Problem(site_id, "site_id", "no instruction of the activation is for this site"))
    if problems:
        raise ValidationError("S2 activation", problems)
    called = called_kw(activation, grid).get(site_id, np.zeros(grid.n))
    on = called > 0
    room = plan if direction == "up" else -plan  # what a cap can take away: planned import / export
    short = on & (called > room + tolerance_kw)
    if short.any():
        t = int(np.flatnonzero(short)[0])
        ins = next(i for i in mine if pd.Timestamp(i.start) <= grid.index[t] < pd.Timestamp(i.end))
        side = "import" if direction == "up" else "export"
        raise ValidationError("S2 activation", [Problem(ins.bid_id, "power_mw", (
            f"{called[t]:.3f} kW called {direction} at {grid.index[t]} but the site plans {max(room[t], 0.0):.3f} kW "
            f"of {side}: a CEM cap cannot move it further"))])  # fmt: skip
    cap = np.where(on, np.maximum(room - called, 0.0), np.inf)
    inf = np.full(grid.n, np.inf)
    imp, exp = (cap, inf) if direction == "up" else (inf, cap)
    return SiteLimits(site_id, direction, grid, plan, called, imp, exp)


def dispatch_orders(
    fleets: dict[str, FlexOfferBatch], activated_kw: dict[str, np.ndarray], direction: str
) -> dict[str, SiteDispatch]:
    """Carry accepted local FlexOrders down a pool's flex-offers, against their baselines.

    ``fleets``: per pool (e.g. the sites behind one connection point), flex-offers with a default
    schedule (the baseline), all starting at one time with one profile length and no time
    flexibility; ``activated_kw``: per pool, the activated power per profile interval (>= 0, in
    ``direction``). The pool's aggregate schedule is its summed default moved by the activation
    (``up``: less consumption), disaggregated to its members; every member schedule is checked
    against its own flex-offer. Unlike :func:`dispatch_activation` (capacity calls against the
    least-cost plan), the reference is the offers' own defaults: a local order pays for a change
    from the baseline.
    """
    from gridflex.errors import DisaggregationError, Problem, ValidationError
    from gridflex.flexoffer.aggregation import aggregate
    from gridflex.flexoffer.disaggregation import disaggregate
    from gridflex.flexoffer.model import Schedule
    from gridflex.flexoffer.validate import validate_schedule

    problems = [] if direction in ("up", "down") else [Problem("orders", "direction", f"up or down, not {direction!r}")]  # fmt: skip
    for pool, kw in activated_kw.items():
        fleet = fleets.get(pool)
        if fleet is None:
            problems.append(Problem(pool, "pool", "no flex-offers for this pool"))
        elif fleet.default is None or len({*fleet.est_s.tolist(), *fleet.lst_s.tolist()}) != 1 or len(set(fleet.lengths.tolist())) != 1:  # fmt: skip
            problems.append(Problem(pool, "flex-offers", "need defaults, one fixed start and one length"))
        elif np.shape(kw) != (int(fleet.lengths[0]),) or not np.all(np.isfinite(kw)) or np.min(kw) < 0:
            problems.append(Problem(pool, "activated_kw", f"{int(fleet.lengths[0])} finite values >= 0 expected"))  # fmt: skip
    if problems:
        raise ValidationError("FlexOrders to dispatch", problems)
    out = {}
    for pool, kw in activated_kw.items():
        fleet = fleets[pool]
        assert fleet.default is not None
        dt_h = fleet.interval_s / 3600.0
        n = int(fleet.lengths[0])
        planned_kw = fleet.default.energy_kwh.reshape(len(fleet), n).sum(axis=0) / dt_h
        sign = -1.0 if direction == "up" else 1.0
        target_kw = planned_kw + sign * np.asarray(kw, dtype=float)
        agg = aggregate(fleet, groups=np.zeros(len(fleet), dtype=np.int64))
        member_schedule = disaggregate(agg, Schedule(agg.aggregates.est_s, target_kw * dt_h))
        bad = validate_schedule(fleet, member_schedule)
        if bad:  # never hand a site a schedule outside its flex-offer
            raise DisaggregationError(f"{pool}: {len(bad)} site schedules outside their flex-offers", bad)
        out[pool] = SiteDispatch(pool, planned_kw, target_kw, np.asarray(kw, dtype=float),
                                 fleet.with_schedule(member_schedule))  # fmt: skip
    return out
