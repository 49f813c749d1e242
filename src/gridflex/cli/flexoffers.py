"""``gridflex flexoffers ...``: the flex-offer lifecycle one step at a time, FlexOffer JSON in and out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridflex.cli.common import clear_errors, console

flexoffers_app = typer.Typer(help="Flex-offer lifecycle, one step at a time (FlexOffer JSON in and out).")

MEMBERS_FIELD = "gridflexMembers"


def _read(path: Path):  # -> FlexOfferBatch
    from gridflex.flexoffer.io import read_flexoffers

    return read_flexoffers(path)


def _write(batch, path: Path, extra: list[dict] | None = None) -> None:
    from gridflex.flexoffer.io import flexoffers_to_json

    doc = flexoffers_to_json(batch)
    if extra:
        for offer, more in zip(doc["flexOffers"], extra, strict=True):
            offer.update(more)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")


def _grid_for(batch):  # -> TimeGrid
    """Whole hours covering every offer's placement window."""
    import numpy as np

    from gridflex.timegrid import TimeGrid

    start = int(batch.est_s.min()) // 3600 * 3600
    end = int((batch.lst_s + batch.lengths * batch.interval_s).max())
    n = -(-(end - start) // batch.interval_s)
    n += (-n) % (3600 // batch.interval_s) if 3600 % batch.interval_s == 0 else 0
    return TimeGrid(np.datetime64(start, "s").astype("datetime64[ns]").astype(str) + "Z", batch.interval_s, n)


@flexoffers_app.command()
@clear_errors
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON file.")],
    devices: Annotated[int, typer.Option(help="Number of devices.")] = 1000,
    day: Annotated[str, typer.Option(help="Local day (Europe/Paris).")] = "2018-06-12",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate a seeded fleet of flex-offers (EVs, heat pumps, wet appliances, batteries, PV)."""
    from gridflex.flexoffer.fleet import generate_fleet

    batch = generate_fleet(devices, day=day, seed=seed)
    _write(batch, out)
    console.print(f"{len(batch):,} flex-offers written to {out}")


@flexoffers_app.command()
@clear_errors
def validate(file: Annotated[Path, typer.Argument(help="FlexOffer JSON file.")]) -> None:
    """Check every rule; list each problem with offer id and field."""
    batch = _read(file)  # reading validates and raises one error naming every problem
    console.print(f"{len(batch):,} flex-offers in {file} are valid")


@flexoffers_app.command("aggregate")
@clear_errors
def aggregate_cmd(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON file (the members).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON of the aggregated offers.")],
    est_tolerance_min: Annotated[int, typer.Option(help="Start-time tolerance of a group, minutes.")] = 60,
    tf_tolerance_min: Annotated[
        int, typer.Option(help="Time-flexibility tolerance of a group, minutes.")
    ] = 60,
    max_group_size: Annotated[
        int | None, typer.Option(help="At most this many offers per aggregate.")
    ] = None,
    balance: Annotated[bool, typer.Option(help="Pair consumption with production offers.")] = False,
) -> None:
    """Aggregate by start alignment (or balance pairing); members listed in each aggregate."""
    import numpy as np

    from gridflex.flexoffer.aggregation import aggregate, balance_aggregate

    batch = _read(file)
    kw: dict[str, Any] = {"est_tolerance_s": est_tolerance_min * 60, "tf_tolerance_s": tf_tolerance_min * 60}
    agg = balance_aggregate(batch, **kw) if balance else aggregate(batch, max_group_size=max_group_size, **kw)
    order = np.argsort(agg.group, kind="stable")
    bounds = np.searchsorted(agg.group[order], np.arange(len(agg.aggregates) + 1))
    members = [{MEMBERS_FIELD: batch.ids[order[a:b]].tolist()} for a, b in itertools.pairwise(bounds)]
    _write(agg.aggregates, out, members)
    rep = agg.report()["retained"]
    console.print(
        f"{len(batch):,} offers → {len(agg.aggregates):,} aggregates (ratio {agg.ratio:.1f}); "
        f"time flexibility retained per device {100 * rep['time_per_member']:.1f} %, energy {100 * rep['energy']:.1f} %; written to {out}"
    )


@flexoffers_app.command("schedule")
@clear_errors
def schedule_cmd(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON file (aggregated or not).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON with flexOfferSchedule set.")],
    zone: Annotated[str, typer.Option(help="SMARD price zone.")] = "France",
    limit_kw: Annotated[float | None, typer.Option(help="Portfolio power limit per period.")] = None,
    method: Annotated[str, typer.Option(help="auto, milp or colgen.")] = "auto",
) -> None:
    """Choose starts and energies at least cost on real day-ahead prices."""
    from gridflex.flexoffer.schedule import schedule_flexoffers
    from gridflex.market.prices import prices_on_grid

    raw = json.loads(file.read_text(encoding="utf-8"))
    batch = _read(file)
    grid = _grid_for(batch)
    prices = prices_on_grid(grid, zone)
    res = schedule_flexoffers(batch, grid, prices, limit_kw=limit_kw, method=method)
    offers = raw["flexOffers"] if isinstance(raw, dict) else raw
    extra = [{MEMBERS_FIELD: o[MEMBERS_FIELD]} if MEMBERS_FIELD in o else {} for o in offers]
    _write(batch.with_schedule(res.schedule), out, extra)
    console.print(
        f"scheduled {len(batch):,} offers: cost {res.cost_eur:,.2f} EUR, lower bound {res.lower_bound_eur:,.2f} EUR, "
        f"gap {100 * res.gap:.3f} % ({res.method}); written to {out}"
    )


@flexoffers_app.command("disaggregate")
@clear_errors
def disaggregate_cmd(
    members_file: Annotated[
        Path, typer.Option("--members", help="The member offers (as given to aggregate).")
    ],
    aggregates_file: Annotated[
        Path, typer.Option("--aggregates", help="Scheduled aggregates (from schedule).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON: members with their schedules.")],
) -> None:
    """Split each aggregate schedule over its members; every member schedule is checked."""
    import numpy as np

    from gridflex.errors import DataError
    from gridflex.flexoffer.aggregation import aggregate
    from gridflex.flexoffer.disaggregation import disaggregate

    members = _read(members_file)
    aggs = _read(aggregates_file)
    raw = json.loads(aggregates_file.read_text(encoding="utf-8"))
    offers = raw["flexOffers"] if isinstance(raw, dict) else raw
    if aggs.schedule is None:
        raise DataError(f"{aggregates_file}: no flexOfferSchedule; run 'gridflex flexoffers schedule' first")
    pos = {m: i for i, m in enumerate(members.ids.tolist())}
    group = np.full(len(members), -1, dtype=np.int64)
    for g, o in enumerate(offers):
        if MEMBERS_FIELD not in o:
            raise DataError(f"{aggregates_file}: offer {o.get('id')!r} has no {MEMBERS_FIELD} list")
        for mid in o[MEMBERS_FIELD]:
            if mid not in pos:
                raise DataError(
                    f"{aggregates_file}: member {mid!r} of {o.get('id')!r} is not in {members_file}"
                )
            group[pos[mid]] = g
    if (group < 0).any():
        missing = members.ids[group < 0][0]
        raise DataError(f"{members_file}: offer {missing!r} belongs to no aggregate in {aggregates_file}")
    agg = aggregate(members, groups=group)
    schedule = disaggregate(agg, aggs.schedule)
    _write(members.with_schedule(schedule), out)
    console.print(f"{len(members):,} member schedules written to {out}, each inside its flex-offer")


@flexoffers_app.command()
@clear_errors
def measure(
    file: Annotated[Path, typer.Argument(help="Members with their flexOfferSchedule.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON: deviations, imbalance, cost.")],
    measured: Annotated[
        Path | None, typer.Option(help="JSON {id: [kWh per interval]}; default: simulate with --noise.")
    ] = None,
    noise: Annotated[float, typer.Option(help="Relative noise of simulated measurements.")] = 0.05,
    zone: Annotated[str, typer.Option(help="SMARD price zone.")] = "France",
    seed: Annotated[int, typer.Option(help="Seed of simulated measurements.")] = 0,
) -> None:
    """Compare measured energy with the assigned schedules: deviations, imbalance, imbalance cost."""
    import numpy as np

    from gridflex.errors import DataError
    from gridflex.flexoffer.execution import execute, simulate_measurements
    from gridflex.market.prices import prices_on_grid

    batch = _read(file)
    if batch.schedule is None:
        raise DataError(f"{file}: no flexOfferSchedule; run 'gridflex flexoffers disaggregate' first")
    if measured is None:
        values = simulate_measurements(batch, batch.schedule, noise=noise, seed=seed)
    else:
        data = json.loads(measured.read_text(encoding="utf-8"))
        values = np.empty(len(batch.lower_kwh))
        for i, oid in enumerate(batch.ids.tolist()):
            a, b = batch.offsets[i], batch.offsets[i + 1]
            series = data.get(oid)
            if series is None or len(series) != b - a:
                raise DataError(
                    f"{measured}: offer {oid!r} needs {b - a} measured values, got {series!r:.60}"
                )
            values[a:b] = series
    grid = _grid_for(batch)
    prices = prices_on_grid(grid, zone)
    res = execute(batch, batch.schedule, values, grid, prices)
    doc = {
        "gridStart": str(grid.start),
        "numSecondsPerInterval": grid.step_s,
        "imbalanceKwh": res.imbalance_kwh.round(6).tolist(),
        "imbalanceCostEur": res.imbalance_cost_eur,
        "energyCostScheduledEur": res.energy_cost_scheduled_eur,
        "energyCostMeasuredEur": res.energy_cost_measured_eur,
        "deviationKwhPerOffer": dict(
            zip(batch.ids.tolist(), batch.sum_per_offer(res.deviation_kwh).round(6).tolist(), strict=True)
        ),
    }
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    console.print(
        f"imbalance {np.abs(res.imbalance_kwh).sum():,.2f} kWh, cost {res.imbalance_cost_eur:,.2f} EUR; written to {out}"
    )
