"""Activation of reserved capacity down to the devices, through the flex-offer path.

``capacity.activate`` says how much each site must move in which periods; a site is a fleet of
flex-offers: its aggregate is rescheduled under the call's bound and disaggregated to its devices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridflex.flexoffer.model import FlexOfferBatch
from gridflex.market.capacity import ActivationResult
from gridflex.timegrid import TimeGrid


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
) -> dict[str, SiteDispatch]:
    """Carry ``capacity.activate``'s per-site instructions to the devices through the flex-offer path.

    Each site is a fleet of flex-offers. Its plan is the least-cost schedule at ``prices_eur_per_mwh``;
    the call bounds the site's power in the instructed periods: at most plan − instructed (``up``:
    less into the site, more into the grid) or at least plan + instructed (``down``). The aggregate is
    rescheduled under that bound and disaggregated to the devices, each schedule checked against its
    flex-offer. Raises the scheduler's :class:`InfeasibleError` when a site cannot follow its call.
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
    called: dict[str, np.ndarray] = {}
    for ins in activation.instructions:
        if ins.site_id not in fleets:
            raise ValidationError(
                "activation", [Problem(ins.bid_id, "site_id", f"no fleet for {ins.site_id!r}")]
            )
        t = grid.index
        inside = (t >= pd.Timestamp(ins.start)) & (t < pd.Timestamp(ins.end))
        called.setdefault(ins.site_id, np.zeros(grid.n))[inside] += ins.power_mw * 1000.0
    out = {}
    for site_id, instructed_kw in called.items():
        fleet = fleets[site_id]
        agg = aggregate(fleet)
        plan_kw = schedule_flexoffers(agg.aggregates, grid, prices_eur_per_mwh).load_kwh / grid.step_h
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
