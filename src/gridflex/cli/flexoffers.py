"""``gridflex flexoffers ...``: the flex-offer lifecycle one step at a time, FlexOffer JSON in and out.

Every command checks its options and the limits of :mod:`gridflex.flexoffer.limits` before any long
work, reads each file once, creates the folder of ``--out`` when it does not exist, and turns bad
input into one line on stderr with exit code 2 (see :func:`gridflex.cli.common.clear_errors`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gridflex.cli.common import clear_errors, console, err

if TYPE_CHECKING:
    from gridflex.flexoffer.io import FlexOfferDocument
    from gridflex.flexoffer.model import FlexOfferBatch
    from gridflex.timegrid import TimeGrid

flexoffers_app = typer.Typer(help="Flex-offer lifecycle, one step at a time (FlexOffer JSON in and out).")

MEMBERS_FIELD = "gridflexMembers"  # kept for importers; the extension lives in gridflex.flexoffer.io
METHODS = ("auto", "milp", "colgen")
MAX_NOISE = 1.0


# ---- checks shared by the commands ----------------------------------------------------------------
def bad_option(name: str, message: str) -> None:
    """Refuse a command-line option with one line naming it."""
    from gridflex.errors import Problem, ValidationError

    raise ValidationError("the command-line options", [Problem("option", name, message)])


def prepare_out(out: Path) -> Path:
    """Check ``--out`` before the work and create its folder (the same for every command)."""
    from gridflex.errors import DataError

    if out.is_dir():
        raise DataError(f"--out {out} is a folder: give a file name, e.g. {out / 'out.json'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the folder of --out {out}: {e.strerror or e}") from None
    if not os.access(out.parent, os.W_OK):
        raise DataError(f"cannot write --out {out}: the folder {out.parent} is not writable")
    return out


def read_document(path: Path) -> FlexOfferDocument:
    """Read a FlexOffer JSON file once, within the limits of the commands."""
    from gridflex.errors import DataError
    from gridflex.flexoffer.io import read_flexoffer_document
    from gridflex.flexoffer.limits import MAX_FILE_BYTES, check_batch_limits

    try:
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read flex-offers from {path}: {e.strerror or e}") from None
    if size > MAX_FILE_BYTES:
        raise DataError(
            f"{path} has {size / 1024**3:.1f} GiB, at most {MAX_FILE_BYTES / 1024**3:g} GiB per file"
        )
    with _bar(f"reading {path.name}", "MB", size, 1e-6) as progress:
        doc = read_flexoffer_document(path, progress)
    check_batch_limits(doc.batch, f"flex-offer JSON {path}")
    return doc


def write_document(batch: FlexOfferBatch, path: Path, members: list | None = None) -> None:
    from gridflex.flexoffer.io import write_flexoffers

    with _bar(f"writing {path.name}", "offers", len(batch)) as progress:
        write_flexoffers(batch, path, members=members, progress=progress)  # one offer per line, in chunks


@contextmanager
def _bar(text: str, unit: str, total: int, scale: float = 1.0) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (stdout keeps the results only), fed ``(done, total)`` in ``unit``
    after ``scale``; it disappears when done, and shows only on a terminal."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if not err.is_terminal:  # a log or a pipe gets the result and error lines only
        yield lambda done, total: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn(f"{{task.completed:,.0f}}/{{task.total:,.0f}} {unit}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(text, total=total * scale)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done * scale, total=total * scale)

        yield update


@contextmanager
def _status(text: str) -> Iterator[None]:
    """A spinner on stderr while a long step runs (stdout keeps the results only; none off a terminal)."""
    if not err.is_terminal:
        yield
        return
    with err.status(text):
        yield


def _grid_for(batch: FlexOfferBatch) -> TimeGrid:
    """Whole hours covering every offer's placement window."""
    from gridflex.flexoffer.schedule import covering_grid

    return covering_grid(batch)


def _tolerance_s(name: str, minutes: int) -> int:
    from gridflex.flexoffer.limits import MAX_WINDOW_S

    if not 1 <= minutes <= MAX_WINDOW_S // 60:
        bad_option(name, f"must be 1 to {MAX_WINDOW_S // 60:,} minutes (31 days), got {minutes}")
    return minutes * 60


# ---- the commands -----------------------------------------------------------------------------------
@flexoffers_app.command()
@clear_errors
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON file (its folder is created).")],
    devices: Annotated[int, typer.Option(help="Number of devices (1 to 1,000,000).")] = 1000,
    day: Annotated[str, typer.Option(help="Local day (Europe/Paris), 1970 to 2198.")] = "2018-06-12",
    seed: Annotated[int, typer.Option(help="Random seed (>= 0).")] = 0,
    mix: Annotated[
        str | None,
        typer.Option(
            help="Device mix as type=share pairs, e.g. ev=0.3,heat_pump=0.5,fridge=0.2 (shares are "
            "normalised; types: ev, heat_pump, wet_appliance, home_battery, pv, fridge, freezer). "
            "Default: ev 0.35, heat_pump 0.2, wet_appliance 0.25, home_battery 0.1, pv 0.1."
        ),
    ] = None,
) -> None:
    """Generate a seeded fleet of flex-offers (EVs, heat pumps, wet appliances, batteries, PV,
    fridges and freezers with --mix)."""
    from gridflex.flexoffer.fleet import generate_fleet
    from gridflex.flexoffer.limits import MAX_DEVICES

    if not 1 <= devices <= MAX_DEVICES:
        bad_option("--devices", f"must be 1 to {MAX_DEVICES:,}, got {devices:,}")
    if seed < 0:
        bad_option("--seed", f"must be >= 0, got {seed}")
    shares = None if mix is None else parse_mix(mix)
    prepare_out(out)
    with _status(f"generating {devices:,} devices"):
        batch = generate_fleet(devices, day=day, seed=seed, mix=shares)
    write_document(batch, out)
    console.print(f"{len(batch):,} flex-offers written to {out}")


def parse_now(text: str) -> int:
    """``--now``: an ISO 8601 time with a UTC offset → seconds since the epoch (named if unreadable)."""
    from datetime import datetime

    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        bad_option(
            "--now", f"cannot read {text!r}: give ISO 8601 with a UTC offset, e.g. 2018-06-11T12:00:00Z"
        )
    assert t is not None
    return int(t.timestamp())


def parse_mix(text: str) -> dict[str, float]:
    """``"ev=0.3,fridge=0.2"`` → ``{"ev": 0.3, "fridge": 0.2}``; a bad pair is named as ``--mix``."""
    from gridflex.flexoffer.fleet import DEVICE_TYPES

    shares: dict[str, float] = {}
    for pair in (p.strip() for p in text.split(",")):
        name, sep, value = (x.strip() for x in pair.partition("="))
        if not sep or not name:
            bad_option("--mix", f"{pair!r} is not type=share (e.g. ev=0.3,heat_pump=0.5,fridge=0.2)")
        if name not in DEVICE_TYPES:
            bad_option("--mix", f"unknown device type {name!r}; known: {', '.join(DEVICE_TYPES)}")
        if name in shares:
            bad_option("--mix", f"{name!r} is given twice")
        try:
            share = float(value)
        except ValueError:
            share = math.nan
        if not (math.isfinite(share) and share >= 0):
            bad_option("--mix", f"the share of {name!r} must be a number >= 0, got {value!r}")
        shares[name] = share
    if sum(shares.values()) <= 0:
        bad_option("--mix", "the shares sum to zero: no device type to generate")
    return shares


@flexoffers_app.command()
@clear_errors
def validate(file: Annotated[Path, typer.Argument(help="FlexOffer JSON file.")]) -> None:
    """Check every rule and the limits of the commands; list each problem with offer id and field."""
    batch = read_document(file).batch  # reading validates and raises one error naming every problem
    console.print(f"{len(batch):,} flex-offers in {file} are valid")


@flexoffers_app.command("aggregate")
@clear_errors
def aggregate_cmd(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON file (the members).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON of the aggregated offers.")],
    est_tolerance_min: Annotated[
        int, typer.Option(help="Start-time tolerance of a group, minutes (1 to 44,640).")
    ] = 60,
    tf_tolerance_min: Annotated[
        int, typer.Option(help="Time-flexibility tolerance of a group, minutes (1 to 44,640).")
    ] = 60,
    max_group_size: Annotated[
        int | None, typer.Option(help="At most this many offers per aggregate (>= 1).")
    ] = None,
    balance: Annotated[bool, typer.Option(help="Pair consumption with production offers.")] = False,
) -> None:
    """Aggregate by start alignment (or balance pairing); members listed in each aggregate."""

    from gridflex.flexoffer.aggregation import aggregate, balance_aggregate

    kw: dict[str, Any] = {
        "est_tolerance_s": _tolerance_s("--est-tolerance-min", est_tolerance_min),
        "tf_tolerance_s": _tolerance_s("--tf-tolerance-min", tf_tolerance_min),
    }
    if max_group_size is not None and max_group_size < 1:
        bad_option("--max-group-size", f"must be at least 1, got {max_group_size}")
    if balance and max_group_size is not None:
        bad_option("--max-group-size", "balance aggregation makes pairs: leave --max-group-size out")
    prepare_out(out)
    batch = read_document(file).batch
    with _status(f"aggregating {len(batch):,} offers"):
        agg = (
            balance_aggregate(batch, **kw)
            if balance
            else aggregate(batch, max_group_size=max_group_size, **kw)
        )
        members = agg.member_ids()
        rep = agg.report()
    write_document(agg.aggregates, out, members)
    kept = rep["retained"]
    console.print(
        f"{len(batch):,} offers → {len(agg.aggregates):,} aggregates ({agg.ratio:.1f} offers per aggregate); "
        f"each device keeps {100 * kept['time_per_member']:.1f} % of its start-time flexibility, "
        f"the aggregates keep {100 * kept['energy']:.1f} % of the energy flexibility; written to {out}"
    )


@flexoffers_app.command("schedule")
@clear_errors
def schedule_cmd(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON file (aggregated or not).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON with flexOfferSchedule set.")],
    zone: Annotated[str, typer.Option(help="SMARD price zone.")] = "France",
    limit_kw: Annotated[float | None, typer.Option(help="Portfolio power limit per period, kW.")] = None,
    method: Annotated[str, typer.Option(help="auto, milp or colgen.")] = "auto",
    time_limit_s: Annotated[
        float, typer.Option(help="Time limit of an exact (MILP) solve, seconds (0.1 to 3600).")
    ] = 10.0,
    now: Annotated[
        str | None,
        typer.Option(
            help="Decision time, ISO 8601 with offset (e.g. 2018-06-11T12:00:00+02:00): offers whose "
            "acceptBeforeTime or assignmentBeforeTime has passed are left unscheduled and no schedule "
            "starts before it. Default: no clock (a study over past data)."
        ),
    ] = None,
) -> None:
    """Choose starts and energies at least cost on real day-ahead prices."""
    from gridflex.flexoffer.limits import MAX_SCHEDULE_ELEMENTS, schedule_elements
    from gridflex.flexoffer.schedule import schedule_flexoffers
    from gridflex.market.prices import prices_on_grid

    if method not in METHODS:
        bad_option("--method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    if limit_kw is not None and not math.isfinite(limit_kw):
        bad_option("--limit-kw", f"must be a finite number of kW, got {limit_kw}")
    if not 0.1 <= time_limit_s <= 3600:
        bad_option("--time-limit-s", f"must be 0.1 to 3600 seconds, got {time_limit_s}")
    now_s = None if now is None else parse_now(now)
    prepare_out(out)
    doc = read_document(file)
    batch = doc.batch
    elements = schedule_elements(batch)
    if elements > MAX_SCHEDULE_ELEMENTS:
        bad_option(
            "FILE",
            f"{file}: {elements:,} (offer, start, interval) choices, at most {MAX_SCHEDULE_ELEMENTS:,}: "
            "aggregate the offers first ('gridflex flexoffers aggregate')",
        )
    grid = _grid_for(batch)
    prices = prices_on_grid(grid, zone)
    with _status(f"scheduling {len(batch):,} offers"):
        res = schedule_flexoffers(
            batch, grid, prices, limit_kw=limit_kw, method=method, time_limit_s=time_limit_s, now_s=now_s
        )
    write_document(batch.with_schedule(res.schedule), out, doc.members)
    console.print(
        f"scheduled {len(batch) - len(res.rejected):,} offers: cost {res.cost_eur:,.2f} EUR, lower bound "
        f"{res.lower_bound_eur:,.2f} EUR, gap {100 * res.gap:.3f} % ({res.method}); written to {out}"
    )
    if res.rejected:
        first, why = next(iter(res.rejected.items()))
        err.print(
            f"[yellow]note:[/] {len(res.rejected):,} offers left unscheduled at --now (their members run their "
            f"default schedules), e.g. {first}: {why}",
            highlight=False,
            soft_wrap=True,
        )
    for note in res.limits_hit:
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


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
    from gridflex.errors import DataError
    from gridflex.flexoffer.aggregation import aggregate
    from gridflex.flexoffer.disaggregation import disaggregate_assigned
    from gridflex.flexoffer.io import member_groups

    prepare_out(out)
    members = read_document(members_file).batch
    aggs = read_document(aggregates_file)
    if aggs.batch.schedule is None:
        raise DataError(f"{aggregates_file}: no flexOfferSchedule; run 'gridflex flexoffers schedule' first")
    group = member_groups(members, aggs, str(members_file))
    with _status(f"disaggregating {len(aggs.batch):,} aggregates over {len(members):,} members"):
        agg = aggregate(members, groups=group)
        schedule = disaggregate_assigned(agg, aggs.batch.schedule)  # unscheduled: the members' defaults
    write_document(members.with_schedule(schedule), out)
    console.print(f"{len(members):,} member schedules written to {out}, each inside its flex-offer")


def _read_measured(path: Path, batch: FlexOfferBatch):  # -> np.ndarray
    """Measured kWh per profile interval, aligned with ``batch``, from ``{id: [kWh, ...]}``."""
    import numpy as np

    from gridflex.errors import FlexOfferValidationError, Problem
    from gridflex.flexoffer.io import load_json

    data = load_json(path, "measured energies")
    what = f"measured energies {path}"
    if not isinstance(data, dict):
        raise FlexOfferValidationError(
            what,
            [
                Problem(
                    "document",
                    "",
                    f"expected an object {{offer id: [kWh per interval]}}, not {type(data).__name__}",
                )
            ],
        )
    values = np.empty(len(batch.lower_kwh))
    problems: list[Problem] = []
    for i, oid in enumerate(batch.ids.tolist()):
        a, b = int(batch.offsets[i]), int(batch.offsets[i + 1])
        series = data.get(oid)
        ok = (
            isinstance(series, list)
            and len(series) == b - a
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in series
            )
        )
        if not ok:
            got = "nothing" if series is None else f"{str(series)[:40]}"
            problems.append(Problem(oid, "", f"needs a list of {b - a} finite kWh values, got {got}"))
            if len(problems) >= 10:
                break
            continue
        values[a:b] = series
    if problems:
        raise FlexOfferValidationError(what, problems)
    return values


@flexoffers_app.command()
@clear_errors
def measure(
    file: Annotated[Path, typer.Argument(help="Members with their flexOfferSchedule.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSON: deviations, imbalance, cost.")],
    measured: Annotated[
        Path | None,
        typer.Option(help="JSON {id: list of kWh per interval}; default: simulate with --noise."),
    ] = None,
    noise: Annotated[float, typer.Option(help="Relative noise of simulated measurements (0 to 1).")] = 0.05,
    zone: Annotated[str, typer.Option(help="SMARD price zone.")] = "France",
    seed: Annotated[int, typer.Option(help="Seed of simulated measurements (>= 0).")] = 0,
) -> None:
    """Compare measured energy with the assigned schedules: deviations, imbalance, imbalance cost."""
    import json

    import numpy as np

    from gridflex.errors import DataError
    from gridflex.flexoffer.execution import execute, simulate_measurements
    from gridflex.market.prices import prices_on_grid

    if not (math.isfinite(noise) and 0 <= noise <= MAX_NOISE):
        bad_option("--noise", f"must be 0 to {MAX_NOISE:g} (a share of the scheduled energy), got {noise}")
    if seed < 0:
        bad_option("--seed", f"must be >= 0, got {seed}")
    prepare_out(out)
    batch = read_document(file).batch
    if batch.schedule is None:
        raise DataError(f"{file}: no flexOfferSchedule; run 'gridflex flexoffers disaggregate' first")
    if measured is None:
        values = simulate_measurements(batch, batch.schedule, noise=noise, seed=seed)
    else:
        values = _read_measured(measured, batch)
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
    out.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")
    console.print(
        f"imbalance {np.abs(res.imbalance_kwh).sum():,.2f} kWh, cost {res.imbalance_cost_eur:,.2f} EUR; written to {out}"
    )
