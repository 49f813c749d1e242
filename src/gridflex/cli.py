"""Command line: ``gridflex demo`` and ``gridflex flexoffers generate|validate|aggregate|schedule|disaggregate|measure``.

Every step reads and writes the FlexOffer JSON format (docs/flexoffer-format.md), so each can be run
and inspected on its own. Errors on bad input are one line on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from gridflex.errors import GridflexError

app = typer.Typer(help="gridflex: energy flexibility from the device to the grid.", no_args_is_help=True)
flexoffers_app = typer.Typer(help="Flex-offer lifecycle, one step at a time (FlexOffer JSON in and out).")
app.add_typer(flexoffers_app, name="flexoffers")
cem_app = typer.Typer(help="S2 customer energy manager (s2-ws-json over WebSockets).")
rm_app = typer.Typer(help="S2 resource managers: device simulators that connect to a CEM.")
app.add_typer(cem_app, name="cem")
app.add_typer(rm_app, name="rm")
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

MEMBERS_FIELD = "gridflexMembers"
"""Extension field of an aggregated offer: the ids of the offers it aggregates, in order."""


def clear_errors(fn: F) -> F:
    """Turn gridflex and file errors into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (GridflexError, OSError) as exc:
            msg = str(exc).replace("\n", " ")
            err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


demo_app = typer.Typer(
    help="The main job: flex-offers of a fleet and a multi-energy site; `demo s2` runs S2 devices live."
)
app.add_typer(demo_app, name="demo")


@demo_app.callback(invoke_without_command=True)
@clear_errors
def demo(
    ctx: typer.Context,
    devices: Annotated[int, typer.Option(help="Number of devices in the fleet.")] = 10_000,
    day: Annotated[str, typer.Option(help="Local day (Europe/Paris) of French 2018 prices.")] = "2018-06-12",
    zone: Annotated[str, typer.Option(help="SMARD price zone.")] = "France",
    seed: Annotated[int, typer.Option(help="Seed of the fleet and the measurement noise.")] = 0,
    limit_kw: Annotated[
        float | None, typer.Option(help="Portfolio power limit; default: peak of the default schedules.")
    ] = None,
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "gridflex-report.html"
    ),
    site_report: Annotated[Path, typer.Option(help="Where to write the site HTML report.")] = Path(
        "gridflex-site-report.html"
    ),
) -> None:
    """Flex-offer lifecycle of a fleet, then a multi-energy office stacking energy, FCR and a DSO contract."""
    if ctx.invoked_subcommand is not None:
        return
    from gridflex.demo import STEPS, run_demo, run_site_demo, write_demo_report, write_site_demo_report

    labels = {
        "prices": "load day-ahead prices",
        "generate": f"generate {devices:,} devices",
        "validate": "validate flex-offers",
        "aggregate": "aggregate",
        "schedule": "schedule with portfolio limit",
        "disaggregate": "disaggregate and check every device",
        "execute": "simulate execution with noise",
    }
    with _progress() as progress:
        task = progress.add_task(labels[STEPS[0]], total=len(STEPS))

        def on_step(step: str, seconds: float) -> None:
            progress.console.print(f"  [green]✓[/] {labels[step]} ({seconds:.2f} s)")
            i = STEPS.index(step) + 1
            progress.update(task, advance=1, description=labels[STEPS[i]] if i < len(STEPS) else "done")

        result = run_demo(
            n_devices=devices, day=day, zone=zone, seed=seed, limit_kw=limit_kw, on_step=on_step
        )
    table = Table(title=f"gridflex demo — {zone}, {day}", show_header=False)
    for k, v in result.summary():
        table.add_row(k, v)
    console.print(table)
    out = write_demo_report(result, report)
    console.print(f"Report written to [bold]{out}[/] (open it in a browser; it works offline).")

    console.rule("multi-energy site: office with PV, battery, heat pump + buffer, EV chargers")
    with _progress() as progress:
        task = progress.add_task("co-optimise energy, FCR and the DSO contract", total=2)

        def on_site_step(step: str, seconds: float) -> None:
            done = {"site": "co-optimised schedule", "strategies": "strategies compared"}[step]
            progress.console.print(f"  [green]✓[/] {done} ({seconds:.2f} s)")
            progress.update(task, advance=1, description="compare strategies" if step == "site" else "done")

        site = run_site_demo(on_step=on_site_step)
    table = Table(title=f"strategies on '{site.result.site}' (EUR; value = −total cost)")
    table.add_column("")
    for col in site.strategies.columns:
        table.add_column(str(col), justify="right")
    for idx, row in site.strategies.iterrows():
        table.add_row(str(idx), *(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    console.print(table)
    out = write_site_demo_report(site, site_report)
    console.print(f"Site report written to [bold]{out}[/].")


@demo_app.command("s2")
@clear_errors
def demo_s2(
    report: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "gridflex-s2-report.html"
    ),
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1080.0,
    hours: Annotated[float, typer.Option(help="Simulated hours (at most 60 s of wall time).")] = 12.0,
) -> None:
    """A household and an office live over real sockets: CEM + one simulator per device kind."""
    from gridflex.s2.demo import run_s2_demo

    with console.status(f"running {hours:g} simulated hours at {speed:g}× on 127.0.0.1 …"):
        summary = run_s2_demo(report, speed=speed, hours=hours)
    table = Table(title=f"gridflex demo s2 — {hours:g} h at {speed:g}× in {summary['wall_s']} s")
    for col in ("site", "devices", "plans", "largest site power", "above its limit"):
        table.add_column(col)
    for name in ("household", "office"):
        site = summary[name]
        kinds = ", ".join(site["kinds"])
        table.add_row(
            name, kinds, str(site["plans"]), f"{site['max_site_kw']} kW", f"{site['max_over_limit_kw']} kW"
        )
    console.print(table)
    console.print(f"Report written to [bold]{report}[/].")


# ---- flex-offer steps ---------------------------------------------------------------------------


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
    from gridflex.prices import prices_on_grid

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
    from gridflex.errors import DataError
    from gridflex.flexoffer.execution import execute, simulate_measurements
    from gridflex.prices import prices_on_grid

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


# ---- grid flexibility evaluation ----------------------------------------------------------------


@app.command()
@clear_errors
def evaluate(
    study: Annotated[Path, typer.Argument(help="Study file (YAML or JSON; docs/evaluation.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("evaluation"),
    scenarios: Annotated[int, typer.Option(help="Number of scenarios.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the scenarios.")] = 0,
    scheduler: Annotated[
        str | None, typer.Option(help="Dask scheduler address (tcp://HOST:PORT); default: local processes.")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local worker processes (default: all CPUs).")] = None,
) -> None:
    """Balance score (3 states), storage sensitivity and available flexible capacity of a network."""
    from gridflex.errors import Problem as _Problem
    from gridflex.errors import ValidationError as _ValidationError
    from gridflex.evaluate_report import write_outputs
    from gridflex.grid.evaluation import evaluate as run_evaluation
    from gridflex.grid.study import load_study

    if scenarios < 1:
        raise _ValidationError("options", [_Problem("options", "--scenarios", "must be >= 1")])
    spec = load_study(study)
    with _progress() as progress:
        task = progress.add_task(f"evaluate {spec.name}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = run_evaluation(
            spec, scenarios, seed=seed, scheduler=scheduler, workers=workers, progress=on_progress
        )
        progress.update(task, description="write outputs")
        paths = write_outputs(result, out)
        progress.update(task, description="done")
    table = Table(title=f"gridflex evaluate — {spec.name} ({scenarios:,} scenarios, seed {seed})")
    for col in ("state", "storage", "score", "failing periods"):
        table.add_column(col)
    for name, st in result.states.items():
        failing = ", ".join(f"T{t + 1}" for t in st.failing_periods()) or "none"
        table.add_row(name, f"× {st.storage_scale:g}", f"{st.score:.2f}", failing)
    console.print(table)
    fit = result.sensitivity.fit
    if fit.beta is not None:
        console.print(
            f"fit: score = {fit.beta:.3f}·ln(E) + {fit.gamma:.3f} (R² {fit.r2:.3f}, {fit.n_points} points)"
        )
    console.print(
        f"{result.timings['total']:.1f} s; outputs in {out}: " + ", ".join(p.name for p in paths.values())
    )


@app.command("schedule")
@clear_errors
def schedule_site_cmd(
    site: Annotated[Path, typer.Argument(help="Site file (YAML or JSON; docs/site-format.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Result JSON.")] = Path("result.json"),
    csv: Annotated[Path | None, typer.Option(help="Also write the per-period table as CSV.")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report (offline).")] = None,
) -> None:
    """Optimal schedule of a multi-energy site: dispatch per asset and carrier, costs, flexibility."""
    from gridflex.scheduling import compare_strategies, run_schedule_file

    compiled, result = run_schedule_file(site, out, csv=csv)
    if report is not None:
        from gridflex.site_report import write_site_report

        strategies = compare_strategies(compiled) if compiled.products else None
        write_site_report(result, report, prices=compiled.prices, strategies=strategies)
    table = Table(
        title=f"gridflex schedule — {result.site} ({result.status}{', MILP' if result.is_mip else ''})"
    )
    table.add_column("cost component")
    table.add_column("EUR", justify="right")
    for k, v in result.costs_eur.items():
        table.add_row(k, f"{v:,.2f}")
    console.print(table)
    console.print(
        f"mean available flexibility: up {result.flex_up_kw.mean():,.1f} kW, down {result.flex_down_kw.mean():,.1f} kW; "
        f"built in {result.time_build_s * 1e3:.1f} ms, solved in {result.time_solver_s * 1e3:.1f} ms"
    )
    written = [str(p) for p in (out, csv, report) if p is not None]
    console.print("written: " + ", ".join(written))


@cem_app.command("serve")
@clear_errors
def cem_serve(
    site: Annotated[Path, typer.Option(help="Site file whose assets the S2 devices join.")],
    tokens: Annotated[Path, typer.Option(help="File of accepted bearer tokens, one per line.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM) for wss://.")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    control_types: Annotated[
        str | None,
        typer.Option(
            help="Control types the CEM selects, best first, comma separated: FRBC, DDBC, OMBC, PPBC, PEBC, "
            "NOT_CONTROLABLE or the S2 names (FILL_RATE_BASED_CONTROL, ...). Default: that order."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="DEBUG, INFO (connections, control types, every plan), WARNING or ERROR.")
    ] = "INFO",
) -> None:
    """Serve RMs at ws://HOST:PORT/s2/<resource-id> (Authorization: Bearer <token>) until interrupted."""
    import logging

    from rich.logging import RichHandler

    from gridflex.errors import Problem, ValidationError
    from gridflex.s2 import serve
    from gridflex.s2.server import parse_control_types

    levels = ("DEBUG", "INFO", "WARNING", "ERROR")
    if log_level.upper() not in levels:
        raise ValidationError(
            "options",
            [Problem("cem serve", "--log-level", f"{log_level!r} is not one of {', '.join(levels)}")],
        )
    policy = (
        None
        if control_types is None
        else parse_control_types(control_types, ("cem serve", "--control-types"))
    )
    console.print(
        f"CEM listening on {'wss' if certfile else 'ws'}://{host}:{port}/s2/<resource-id> (Ctrl-C stops)"
        + ("" if policy is None else f"; control types {', '.join(ct.value for ct in policy)}")
    )
    # connections, control types and every plan, one line each (quiet: --log-level WARNING)
    logging.basicConfig(format="%(message)s", handlers=[RichHandler(console=console, show_path=False)])
    logging.getLogger("gridflex").setLevel(log_level.upper())  # not the libraries' own INFO lines
    serve(
        site,
        host=host,
        port=port,
        tokens_path=tokens,
        certfile=certfile,
        keyfile=keyfile,
        control_types=policy,
    )


@rm_app.command("simulate")
@clear_errors
def rm_simulate(
    kind: Annotated[str, typer.Argument(help="Device kind (battery, pv, …).")],
    url: Annotated[str, typer.Option(help="CEM address, e.g. ws://127.0.0.1:8765/s2.")],
    token: Annotated[str, typer.Option(help="Bearer token accepted by the CEM.")],
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    duration_s: Annotated[float | None, typer.Option(help="Stop after this many simulated seconds.")] = None,
    resource_id: Annotated[str | None, typer.Option(help="Resource id (default: a new UUID).")] = None,
) -> None:
    """Run a simulated device as a real RM over the socket."""
    from gridflex.errors import Problem, ValidationError
    from gridflex.s2 import KINDS, simulate

    if kind not in KINDS:
        raise ValidationError(
            "options", [Problem("rm simulate", "KIND", f"{kind!r} is not one of {', '.join(KINDS)}")]
        )
    summary = simulate(kind, url, token, speed=speed, duration_s=duration_s, resource_id=resource_id)
    console.print(summary)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
