"""``gridflex demo``: the day from device to grid; ``demo flexoffers``, ``demo s2`` and ``demo market``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gridflex.cli.common import _progress, clear_errors, console, err

demo_app = typer.Typer(
    help="The day from device to grid (S2 sites, flex-offers, DSO requests, local market, settlement); "
    "`demo flexoffers`, `demo s2` and `demo market` run single links of the chain."
)


@demo_app.callback(invoke_without_command=True)
@clear_errors
def day(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option(help="Folder for the report, the flex-offers and the statements.")
    ] = Path("out/day"),
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second (1 to 7200).")] = 1440.0,
    seed: Annotated[int, typer.Option(help="Seed of the meter noise.")] = 0,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Run the day through a real `gridflex serve` (each actor with its own token, the "
            "dashboard live) and keep serving until Ctrl-C.",
        ),
    ] = False,
    exit_: Annotated[
        bool, typer.Option("--exit", help="With --serve: stop the server when the day is done.")
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(help="With --serve: an empty store's URL (default: a new SQLite file in --out)."),
    ] = None,
    port: Annotated[int, typer.Option(help="With --serve: the server's port (0: a free one).")] = 0,
) -> None:
    """The day, end to end: homes and an office over S2, their flex-offers, the DSO's requests on a
    stressed SimBench feeder, network-aware clearing, S2 instructions, metering, settlement."""
    if ctx.invoked_subcommand is not None:
        return
    from gridflex.demos.day import STEPS, DayConfig, check_day_config, run_day, write_day

    config = DayConfig(speed=speed, seed=seed)
    check_day_config(config)  # one clear line and exit code 2, before anything starts
    if not 0 <= port <= 65535:
        from gridflex.cli.flexoffers import bad_option

        bad_option("--port", f"0 to 65535, got {port}")
    served = None
    labels = {
        "grid": "DSO: stressed SimBench feeder, day-ahead prices",
        "sites": f"start {len(config.sites)} CEMs and their S2 devices on 127.0.0.1",
        "plans": "sites' plans (baselines) over S2",
        "requests": "DSO: congestion forecast and FlexRequests",
        "flexoffers": "sites' flex-offers, aggregated per bus",
        "clearing": "network-aware clearing, disaggregation",
        "instructions": "activations to the CEMs, S2 instructions",
        "delivery": f"devices run the day at {speed:g}x, metering",
        "settlement": "baselines, settlement, relief by power flow",
    }
    with _progress(err) as progress:
        task = progress.add_task(labels[STEPS[0]], total=len(STEPS))

        shown = ["", ""]  # the step's label, the simulated quarter-hour shown

        def on_step(step: str, seconds: float) -> None:
            progress.console.print(f"  [green]✓[/] {labels[step]} ({seconds:.1f} s)")
            i = STEPS.index(step) + 1
            shown[0] = labels[STEPS[i]] if i < len(STEPS) else "done"
            progress.update(task, advance=1, description=shown[0])

        def on_clock(t: datetime) -> None:  # the simulated time while the devices run the day
            at = f"{t.hour:02d}:{t.minute // 15 * 15:02d}"  # the quarter-hour
            if shown[0] == labels["delivery"] and at != shown[1]:
                shown[1] = at
                progress.update(task, description=f"{shown[0]}, simulated {at} UTC")

        if serve:
            from gridflex.demos.day_serve import default_db, run_served_day

            out.mkdir(parents=True, exist_ok=True)  # the server's log goes there

            def on_ready(sink: Any) -> None:
                show_service(sink)

            result, sink, served = run_served_day(
                config,
                db or default_db(out),
                port,
                on_step,
                on_ready,
                log=out / "serve.log",
                on_clock=on_clock,
            )
        else:
            result = run_day(config, on_step=on_step, on_clock=on_clock)
    table = Table(title="gridflex demo — the day from device to grid", show_header=False)
    for k, v in result.summary():
        table.add_row(k, v)
    console.print(table)
    paid = Table(title="who paid whom, and why (EUR)")
    for col in ("payer", "payee", "EUR", "why"):
        paid.add_column(col, justify="right" if col == "EUR" else "left")
    for payer, payee, eur, why in result.payments():
        paid.add_row(payer, payee, f"{eur:,.2f}", why)
    console.print(paid)
    gains = Table(
        title="what each actor gained against doing nothing (EUR, + = better off)",
        caption="the BRP's amount pays for energy it sourced and its customers did not take",
    )
    for col in ("actor", "settlement", "energy cost of the flexibility", "gain"):
        gains.add_column(col, justify="left" if col == "actor" else "right")
    for actor, g in result.gains_eur().items():
        cost = g.get("energy_cost_eur")
        gains.add_row(actor, f"{g['settlement_eur']:+,.2f}", "" if cost is None else f"{cost:,.2f}",
                      f"{g.get('gain_eur', g['settlement_eur']):+,.2f}")  # fmt: skip
    console.print(gains)
    dso = result.gains_eur().get("dso", {})
    if "eur_per_mwh_removed" in dso:
        console.print(f"The DSO's lines carried {dso['overload_removed_mwh']:.2f} MWh less above their ratings: "
                      f"{dso['eur_per_mwh_removed']:,.2f} EUR per MWh of overload removed.")  # fmt: skip
    elif "overload_removed_mwh" in dso:
        console.print(f"As delivered, the DSO's lines carried {-dso['overload_removed_mwh']:.2f} MWh more above "
                      "their ratings than forecast: the sites' execution missed the cleared relief.")  # fmt: skip
    paths = write_day(result, out)
    console.print(
        f"Written to [bold]{out}[/]: " + ", ".join(p.name for p in paths.values()) + ".", soft_wrap=True
    )
    console.print(f"Next: open {paths['report']} in a browser (it works offline)"
                  + ("." if served is not None else "; `gridflex demo --serve` runs the same day through "
                     "`gridflex serve` with its dashboard."), highlight=False, soft_wrap=True)  # fmt: skip
    if served is not None:
        from gridflex.cli.serve import shown_url
        from gridflex.store.engine import normalise_url

        keep_serving(served, sink, exit_, shown_url(normalise_url(db)) if db else str(out / "serve.db"))


def show_service(sink: Any) -> None:
    """The dashboard's URL and a token per role (on stdout, one line each: the user signs in with them)."""
    from gridflex.demos.day_serve import tokens_text

    console.print(f"The day, live: open {sink.url}/ and sign in with a token:", highlight=False)
    tokens = tokens_text(sink)
    width = max(len(actor) for actor, _ in tokens)
    for actor, token in tokens:
        console.print(f"  {actor:<{width}}  {token}", highlight=False, soft_wrap=True)


def keep_serving(served: Any, sink: Any, exit_: bool, db: str) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sink.counts.items())
    console.print(f"Through the API: {counts}.", highlight=False)
    again = f"`gridflex serve --db {db}` serves the recorded day again (the tokens above still sign in)."
    if exit_:
        served.stop()
        console.print(
            f"Server stopped. {again}", highlight=False, soft_wrap=True
        )  # a path to copy: unwrapped
        return
    console.print(f"Serving the dashboard at [bold]{served.url}/[/] until Ctrl-C.")
    try:
        served.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        served.stop()
    console.print(f"Server stopped. {again}", highlight=False, soft_wrap=True)  # a path to copy: unwrapped


@demo_app.command("flexoffers")
@clear_errors
def demo_flexoffers(
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
    from gridflex.cli.flexoffers import bad_option, prepare_out
    from gridflex.flexoffer.limits import MAX_DEVICES

    if not 1 <= devices <= MAX_DEVICES:
        bad_option("--devices", f"must be 1 to {MAX_DEVICES:,}, got {devices:,}")
    if seed < 0:
        bad_option("--seed", f"must be >= 0, got {seed}")
    if limit_kw is not None and not (limit_kw > 0 and limit_kw < float("inf")):
        bad_option("--limit-kw", f"must be a positive number of kW, got {limit_kw}")
    prepare_out(report)
    prepare_out(site_report)

    from gridflex.demos.flexoffers import STEPS, run_demo, write_demo_report
    from gridflex.demos.site import run_site_demo, write_site_demo_report

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
    for note in result.scheduled.limits_hit:
        err.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
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
    console.print(strategies_table(site.result.site, site.strategies))
    times = site.strategies.attrs.get("time_s", {})
    if times:
        console.print("time: " + ", ".join(f"{name} {s:.2f} s" for name, s in times.items()))
    out = write_site_demo_report(site, site_report)
    console.print(f"Site report written to [bold]{out}[/].")


def strategies_table(site: str, strategies: Any) -> Table:
    """The strategies side by side: money rows (EUR, value = −total cost) first, then the mean
    commitments (kW) under their own heading; each row's unit in its name."""
    table = Table(title=f"strategies on '{site}'", caption="value = −total cost; revenue is negative cost")
    table.add_column("")
    for col in strategies.columns:
        table.add_column(str(col), justify="right")
    money = [i for i in strategies.index if str(i).endswith("_eur")]
    rest = [i for i in strategies.index if i not in money]
    for k, rows in enumerate((money, rest)):
        if k and rows:
            table.add_section()
        for idx in rows:
            row = strategies.loc[idx]
            table.add_row(str(idx), *(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    return table


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
    from gridflex.demos.s2 import check_s2_demo_options, run_s2_demo

    check_s2_demo_options(speed, hours)  # one clear line and exit code 2, before anything starts
    with console.status(f"running {hours:g} simulated hours at {speed:g}× on 127.0.0.1 …"):
        summary = run_s2_demo(report, speed=speed, hours=hours)
    table = Table(title=f"gridflex demo s2 — {hours:g} h at {speed:g}× in {summary['wall_s']} s")
    for col in ("site", "devices", "plans", "largest site power", "above its limit", "needs and bands"):
        table.add_column(col)
    for name in ("household", "office"):
        site = summary[name]
        kinds = ", ".join(site["kinds"])
        # as executed on the devices, not as planned: each shortfall with its reason
        outcomes = site.get("outcomes", {})
        missed = [f"{kind}: {oc['why']}" for kind, oc in outcomes.items() if not oc["ok"]]
        met = "; ".join(missed) if missed else f"all {len(outcomes)} met"
        table.add_row(
            name,
            kinds,
            str(site["plans"]),
            f"{site['max_site_kw']} kW",
            f"{site['max_over_limit_kw']} kW",
            met,
        )
    console.print(table)
    console.print(f"Report written to [bold]{report}[/].")


@demo_app.command("market")
@clear_errors
def demo_market(
    out: Annotated[Path, typer.Option(help="Folder for the JSON, CSV and offline HTML outputs.")] = Path(
        "out/demo-market"
    ),
    seed: Annotated[
        int, typer.Option(help="Seed of the stress scenario, the offer prices and the meter noise.")
    ] = 0,
) -> None:
    """A DSO request on a congested feeder answered by an aggregator: cleared, metered, baselined, settled;
    then a reserved-capacity call carried down to the devices."""
    from gridflex.cli.flexoffers import bad_option

    if seed < 0:
        bad_option("--seed", f"must be >= 0, got {seed}")
    from gridflex.demos.market import run_market_demo, write_market_demo

    with console.status("forecast the feeder, clear the DSO request, meter and settle …"):
        result = run_market_demo(seed=seed)
        paths = write_market_demo(result, out)
    table = Table(title="gridflex demo market — up = more power into the grid", show_header=False)
    for k, v in result.summary():
        table.add_row(k, v)
    console.print(table)
    statements = Table(title="settlement per participant (EUR, + = receives)")
    totals = result.settlement.totals()
    statements.add_column("participant")
    for col in totals.columns:
        statements.add_column(str(col), justify="right")
    for name, row in totals.iterrows():
        statements.add_row(str(name), *(f"{v:,.2f}" for v in row))
    console.print(statements)
    console.print(f"Files written to [bold]{out}[/]: " + ", ".join(p.name for p in paths.values()))

    console.rule("reserved capacity: a call inside the activation calendar, down to the devices")
    from gridflex.demos.market import run_capacity_demo

    with console.status("award the reservation, call it, reschedule and disaggregate each site …"):
        cap = run_capacity_demo(seed=seed)
    calls = Table(title=f"{cap.tender.tender_id}: {cap.activation.activated_mw:g} MW called (up)")
    for col in ("site", "devices", "called kW", "planned kW", "after the call kW"):
        calls.add_column(col, justify="right")
    for site in cap.sites.values():
        on = site.instructed_kw > 0
        calls.add_row(site.site_id, str(len(site.members)), f"{site.instructed_kw[on].mean():.1f}",
                      f"{site.planned_kw[on].mean():.1f}", f"{site.dispatched_kw[on].mean():.1f}")  # fmt: skip
    console.print(calls)
