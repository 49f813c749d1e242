"""The main job, part 1: a fleet's flex-offers through their whole lifecycle on real day-ahead
prices: generate → validate → aggregate → schedule (portfolio limit) → disaggregate → execute (noisy
measurements) → summary and an offline HTML report. Part 2 is :mod:`gridflex.demos.site`.

The CLI (``gridflex demo``) renders progress; this module only computes, reporting each finished
step to an optional callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gridflex.flexoffer.aggregation import Aggregation, aggregate
from gridflex.flexoffer.disaggregation import disaggregate_assigned
from gridflex.flexoffer.execution import (
    ExecutionResult,
    activation_payment_eur,
    execute,
    simulate_measurements,
)
from gridflex.flexoffer.fleet import fleet_horizon, generate_fleet
from gridflex.flexoffer.measures import aggregation_in_words
from gridflex.flexoffer.model import FlexOfferBatch, envelope_on_grid, place_on_grid
from gridflex.flexoffer.schedule import ScheduleResult, schedule_flexoffers
from gridflex.flexoffer.validate import check_flexoffers, validate_schedule
from gridflex.market.prices import prices_on_grid
from gridflex.timegrid import TimeGrid

DECIDED_BEFORE_S = 12 * 3600
"""The aggregator schedules the fleet this long before the day starts (the day-ahead gate, noon)."""

STEPS = ("prices", "generate", "validate", "aggregate", "schedule", "disaggregate", "execute")


@dataclass
class DemoResult:
    day: str
    zone: str
    grid: TimeGrid
    prices_eur_per_mwh: np.ndarray
    fleet: FlexOfferBatch
    aggregation: Aggregation
    scheduled: ScheduleResult
    members: FlexOfferBatch  # the fleet with its disaggregated schedules
    execution: ExecutionResult
    limit_kw: float
    default_load_kwh: np.ndarray
    default_cost_eur: float
    activation_eur: float
    flexibility: dict
    timings_s: dict[str, float] = field(default_factory=dict)

    def summary(self) -> list[tuple[str, str]]:
        """Label/value rows for the console and the report."""
        s, e = self.scheduled, self.execution
        saving = self.default_cost_eur - s.cost_eur
        retained = self.flexibility["retained"]
        rows = [
            ("devices / flex-offers", f"{len(self.fleet):,}"),
            ("aggregated flex-offers", f"{len(self.aggregation.aggregates):,}"),
            ("aggregation ratio", f"{self.aggregation.ratio:,.1f} : 1"),
            ("start-time flexibility each device keeps", f"{100 * retained['time_per_member']:.1f} %"),
            ("energy flexibility the aggregates keep", f"{100 * retained['energy']:.1f} %"),
            ("total-energy flexibility the aggregates keep", f"{100 * retained['tec_energy']:.1f} %"),
            ("portfolio limit", f"{self.limit_kw:,.0f} kW (peak of the default schedules)"),
            ("cost of the default schedules", f"{self.default_cost_eur:,.2f} EUR"),
            ("cost of the optimised schedule", f"{s.cost_eur:,.2f} EUR"),
            ("saving", f"{saving:,.2f} EUR ({100 * saving / len(self.fleet):,.2f} EUR-cent per device)"),
            ("lower bound (LP relaxation)", f"{s.lower_bound_eur:,.2f} EUR"),
            ("optimality gap", f"{s.gap_eur:,.2f} EUR, {100 * s.gap:.3f} % of the cost ({s.method})"),
            *(("solver limit reached", note) for note in s.limits_hit),
            ("prosumer remuneration (above/below default)", f"{self.activation_eur:,.2f} EUR"),
            ("imbalance (sum of |period imbalance|)", f"{np.abs(e.imbalance_kwh).sum():,.1f} kWh"),
            ("imbalance cost", f"{e.imbalance_cost_eur:,.2f} EUR"),
        ]
        return rows


def run_demo(
    n_devices: int = 10_000,
    day: str = "2018-06-12",
    zone: str = "France",
    seed: int = 0,
    limit_kw: float | None = None,
    noise: float = 0.05,
    on_step: Callable[[str, float], None] | None = None,
) -> DemoResult:
    """Run the lifecycle; ``limit_kw`` None = the peak of the devices' default schedules."""
    timings: dict[str, float] = {}
    t = time.perf_counter()

    def done(step: str) -> None:
        nonlocal t
        now = time.perf_counter()
        timings[step] = now - t
        t = now
        if on_step:
            on_step(step, timings[step])

    grid = fleet_horizon(day)
    prices = prices_on_grid(grid, zone)
    done("prices")
    fleet = generate_fleet(n_devices, day=day, seed=seed)
    done("generate")
    check_flexoffers(fleet)
    done("validate")
    agg = aggregate(fleet)
    done("aggregate")
    assert fleet.default is not None  # the generator always sets defaults
    default_load = place_on_grid(fleet, fleet.default, grid.start_s, grid.n)
    if limit_kw is None:
        limit_kw = float(default_load.max() / grid.step_h)
    # Decided at the day-ahead gate, noon the day before: every offer's deadlines are checked there.
    res = schedule_flexoffers(
        agg.aggregates, grid, prices, limit_kw=limit_kw, now_s=grid.start_s - DECIDED_BEFORE_S
    )
    done("schedule")
    member_schedule = disaggregate_assigned(agg, res.schedule)
    members = fleet.with_schedule(member_schedule)
    problems = validate_schedule(fleet, member_schedule)
    if problems:  # never continue silently with an infeasible device schedule
        from gridflex.errors import DisaggregationError

        raise DisaggregationError(
            f"{len(problems)} device schedules infeasible, first: {problems[0]}", problems
        )
    done("disaggregate")
    measured = simulate_measurements(fleet, member_schedule, noise=noise, seed=seed)
    execution = execute(fleet, member_schedule, measured, grid, prices)
    done("execute")
    return DemoResult(
        day=day,
        zone=zone,
        grid=grid,
        prices_eur_per_mwh=prices,
        fleet=fleet,
        aggregation=agg,
        scheduled=res,
        members=members,
        execution=execution,
        limit_kw=limit_kw,
        default_load_kwh=default_load,
        default_cost_eur=float(default_load @ prices) / 1000.0,
        activation_eur=float(activation_payment_eur(fleet, member_schedule).sum()),
        flexibility=agg.report(),
        timings_s=timings,
    )


def write_demo_report(result: DemoResult, path: str | Path) -> Path:
    """Offline HTML report: prices, aggregate envelope and schedule, load by device type, imbalance."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from gridflex.reports.html import Section, write_report

    grid = result.grid
    x = grid.index.tz_convert("Europe/Paris").tz_localize(None)
    to_kw = 1.0 / grid.step_h
    aggs = result.aggregation.aggregates
    env_lo, env_hi = envelope_on_grid(aggs, grid.start_s, grid.n)

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.05)
    band = {"width": 0, "color": "rgba(99,110,250,0.25)"}
    fig.add_trace(go.Scatter(x=x, y=env_hi * to_kw, name="aggregate envelope", line=band), 1, 1)
    fig.add_trace(
        go.Scatter(
            x=x, y=env_lo * to_kw, fill="tonexty", line=band, fillcolor=band["color"], showlegend=False
        ),
        1,
        1,
    )
    fig.add_trace(go.Scatter(x=x, y=result.default_load_kwh * to_kw, name="default schedules"), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=result.scheduled.load_kwh * to_kw, name="optimised schedule"), 1, 1)
    fig.add_trace(
        go.Scatter(x=x, y=np.full(grid.n, result.limit_kw), name="portfolio limit", line={"dash": "dash"}),
        1,
        1,
    )
    fig.add_trace(go.Scatter(x=x, y=result.prices_eur_per_mwh, name="day-ahead price", line_shape="hv"), 2, 1)
    fig.update_yaxes(title_text="kW", row=1, col=1)
    fig.update_yaxes(title_text="EUR/MWh", row=2, col=1)
    fig.update_layout(height=650, legend={"orientation": "h"})

    by_type = go.Figure()
    fleet, sched = result.fleet, result.members.schedule
    assert sched is not None
    kinds = np.strings.partition(fleet.ids, np.asarray("-", dtype=fleet.ids.dtype))[0]
    for kind in np.unique(kinds):
        idx = np.flatnonzero(kinds == kind)
        sub = fleet.take(idx)
        sub_sched = result.members.take(idx).schedule
        assert sub_sched is not None
        load = place_on_grid(sub, sub_sched, grid.start_s, grid.n)
        by_type.add_trace(go.Scatter(x=x, y=load * to_kw, name=str(kind), stackgroup="load"))
    by_type.update_layout(height=400, yaxis_title="kW", legend={"orientation": "h"})

    imb = go.Figure(go.Bar(x=x, y=result.execution.imbalance_kwh * to_kw, name="imbalance"))
    imb.update_layout(height=300, yaxis_title="kW (measured − scheduled)")

    flex_rows = aggregation_in_words(result.flexibility)
    sections = [
        Section("Summary", table=result.summary()),
        Section(
            "Aggregate envelope, schedule and prices",
            "Shaded: the least and most energy the aggregated flex-offers can take per period. "
            "Times in Europe/Paris.",
            figure=fig,
        ),
        Section("Scheduled load by device type", figure=by_type),
        Section("Execution: imbalance per period", figure=imb),
        Section(
            "Flexibility kept by aggregation",
            "Each measure of the devices' flex-offers (before) and of the aggregated offers (after), and "
            "the share kept. Measures summed over offers fall with the number of offers: a window shared "
            "by a hundred devices in one aggregate counts once. What a device keeps is the first row; "
            "the summary's percentages are rows of this table.",
            table=flex_rows,
        ),
    ]
    return write_report(
        path,
        f"gridflex demo — {len(result.fleet):,} devices, {result.day} ({result.zone} day-ahead prices)",
        sections,
        footer="Prices: Bundesnetzagentur | SMARD.de (CC BY 4.0). Fleet: synthetic, seeded.",
    )
