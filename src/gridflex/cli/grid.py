"""``gridflex grid``: distribution-grid congestion forecast for the DSO's technical VPP."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from gridflex.cli.common import clear_errors, console

grid_app = typer.Typer(
    help="Distribution grids: congestion forecast, flexibility requests and market relief.",
    no_args_is_help=True,
)


@grid_app.command("forecast")
@clear_errors
def forecast_cmd(
    network: Annotated[
        str,
        typer.Argument(
            help="Shipped grid (mv-semiurb, lv-rural1-storage), .npz grid file, pandapower .json, "
            "cigre-mv, cigre-lv, or a SimBench code (with gridflex[simbench])."
        ),
    ],
    day: Annotated[
        str, typer.Option(help="First day, YYYY-MM-DD (UTC); shipped profiles cover 2016.")
    ] = "2016-01-20",
    days: Annotated[int, typer.Option(help="Days to forecast (1 = day-ahead, 7 = week-ahead).")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("forecast"),
    stress_name: Annotated[
        str, typer.Option("--stress", help="Stress scenario: none, winter, summer.")
    ] = "none",
    ev_share: Annotated[
        float | None, typer.Option(help="Override: share of households with an EV (0..1).")
    ] = None,
    heat_pump_share: Annotated[
        float | None, typer.Option(help="Override: share with a heat pump (0..1).")
    ] = None,
    pv_scale: Annotated[float | None, typer.Option(help="Override: factor on PV production.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override: seed of the stress scenario.")] = None,
    loading_limit: Annotated[
        float, typer.Option(help="Loading limit of lines and transformers (%).")
    ] = 100.0,
    voltage_min: Annotated[float, typer.Option(help="Lowest allowed voltage (pu).")] = 0.90,
    voltage_max: Annotated[float, typer.Option(help="Highest allowed voltage (pu).")] = 1.10,
) -> None:
    """Forecast loadings and voltages at 15 min, find congestion and write FlexRequests and a report.

    Signs: power positive = consumption; flexibility up = more power into the grid, down = less.
    """
    import dataclasses
    import json
    import time

    from gridflex.grid.distribution.congestion import Limits, forecast
    from gridflex.grid.distribution.gridfile import open_network
    from gridflex.grid.distribution.requests import request_batch
    from gridflex.grid.distribution.stress import SCENARIOS
    from gridflex.reports.tvpp import forecast_report

    start = _checked_options(day, days, stress_name, voltage_band=(voltage_min, voltage_max))
    t0 = time.perf_counter()
    case = open_network(network, start=start, periods=96 * days)
    t1 = time.perf_counter()
    overrides: dict[str, float | None] = {
        "ev_share": ev_share,
        "heat_pump_share": heat_pump_share,
        "pv_scale": pv_scale,
    }
    if seed is not None:
        overrides["seed"] = seed
    scenario = dataclasses.replace(
        SCENARIOS[stress_name],
        **{k: v for k, v in overrides.items() if v is not None},  # type: ignore[arg-type]
    )
    periods, series = _stressed_series(case, start, days, scenario)
    fc = forecast(
        case.network,
        series,
        Limits(loading_pct=loading_limit, voltage_min_pu=voltage_min, voltage_max_pu=voltage_max),
    )
    batch = request_batch(fc)
    t2 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / "requests.json").write_text(batch.model_dump_json(indent=1) + "\n")
    timings = {"load network": t1 - t0, "forecast to requests": t2 - t1, **fc.timings_s}
    report = forecast_report(fc, out / "report.html", timings)
    summary = {
        "network": case.network.name, "start": start.isoformat(), "periods": periods,
        "max_loading_pct": round(float(fc.result.branch_loading_pct.max()), 3),
        "violations": len(fc.violations), "congested_periods": len(fc.congested_periods),
        "congestion_points": len(fc.points), "requests": len(batch.requests),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")

    _print_points(fc, f"gridflex grid forecast — {case.network.name}, {start:%Y-%m-%d}, {days} day(s)")
    console.print(
        f"max loading {summary['max_loading_pct']:.1f} %, {len(fc.violations)} violations, "
        f"{len(batch.requests)} FlexRequests; {t2 - t1:.2f} s; outputs in {out}: requests.json, "
        f"{report.name}, summary.json"
    )


@grid_app.command("relieve")
@clear_errors
def relieve_cmd(
    network: Annotated[
        str, typer.Argument(help="Shipped grid, .npz grid file, pandapower .json, cigre-mv, ...")
    ],
    day: Annotated[
        str, typer.Option(help="First day, YYYY-MM-DD (UTC); shipped profiles cover 2016.")
    ] = "2016-01-20",
    days: Annotated[
        int, typer.Option(help="Days, each cleared on its own (366 = a year from 2016-01-01).")
    ] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("relief"),
    stress_name: Annotated[
        str, typer.Option("--stress", help="Stress scenario: none, winter, summer.")
    ] = "winter",
    offer_seed: Annotated[
        int, typer.Option(help="Seed of the offer generator (prices, shares, divisibility).")
    ] = 0,
    rounds: Annotated[int, typer.Option(help="Clearing rounds per day (residuals are requested again).")] = 3,
    loading_limit: Annotated[
        float, typer.Option(help="Loading limit of lines and transformers (%).")
    ] = 100.0,
    voltage_min: Annotated[float, typer.Option(help="Lowest allowed voltage (pu).")] = 0.90,
    voltage_max: Annotated[float, typer.Option(help="Highest allowed voltage (pu).")] = 1.10,
    flexoffers: Annotated[
        Path | None,
        typer.Option(
            help="Sites' flex-offers (FlexOffer JSON, each with locationId = a bus of the network): their "
            "default schedules join the forecast, their flexibility is offered."
        ),
    ] = None,
    grid_offers: Annotated[
        bool, typer.Option(help="Also offer the grid elements' own flexibility (synthetic, --offer-seed).")
    ] = True,
) -> None:
    """Close the loop: forecast, FlexRequests (overloads and voltages out of the band), offers at the
    connections, network-aware clearing, activation and an AC re-check; writes summary.json, days.csv
    and orders.csv.

    Signs: power positive = consumption; flexibility up = more power into the grid, down = less.
    """
    import csv
    import json
    import time

    from gridflex.errors import Problem, ValidationError
    from gridflex.grid.distribution.congestion import Limits
    from gridflex.grid.distribution.gridfile import open_network
    from gridflex.grid.distribution.relief import OfferModel, relieve_by_market
    from gridflex.grid.distribution.stress import SCENARIOS

    extra = [Problem("options", "--rounds", "must be >= 1")] if rounds < 1 else []
    if flexoffers is None and not grid_offers:
        extra.append(Problem("options", "--no-grid-offers", "needs --flexoffers: nothing to offer"))
    start = _checked_options(day, days, stress_name, extra, (voltage_min, voltage_max))
    located = None
    if flexoffers is not None:
        from gridflex.flexoffer.from_site import site_flexoffers_from_json

        try:
            doc = json.loads(flexoffers.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "options", [Problem(str(flexoffers), "--flexoffers", f"not JSON: {exc}")]
            ) from None
        located = site_flexoffers_from_json(doc)
    t0 = time.perf_counter()
    case = open_network(network, start=start, periods=96 * days)
    _, series = _stressed_series(case, start, days, SCENARIOS[stress_name])
    rel = relieve_by_market(
        case.network, series,
        Limits(loading_pct=loading_limit, voltage_min_pu=voltage_min, voltage_max_pu=voltage_max),
        OfferModel(seed=offer_seed), rounds, flexoffers=located, grid_offers=grid_offers,
    )  # fmt: skip
    elapsed_s = time.perf_counter() - t0
    summary = {"network": case.network.name, "start": start.isoformat(), "stress": stress_name,
               **rel.summary(), "time_s": round(elapsed_s, 3)}  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    with (out / "days.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["start", "periods_requested", "periods_residual", "unrequested_periods", "requests", "offers",
                    "accepted", "energy_mwh", "cost_eur", "max_loading_before_pct", "max_loading_after_pct"])  # fmt: skip
        for d in rel.days:
            w.writerow([d.start, len(d.periods_requested), len(d.periods_residual), len(d.unrequested_periods),
                        d.requests, d.offers, d.accepted, round(d.energy_mwh, 6), round(d.cost_eur, 4),
                        round(d.max_loading_before_pct, 3), round(d.max_loading_after_pct, 3)])  # fmt: skip
    with (out / "orders.csv").open("w", newline="") as f:
        fields = ["day", "offer_id", "element", "node", "direction", "factor", "price_eur_per_mwh", "energy_mwh",
                  "cost_eur"]  # fmt: skip
        w2 = csv.DictWriter(f, fieldnames=fields)
        w2.writeheader()
        for d in rel.days:
            for o in d.orders:
                w2.writerow({"day": d.start[:10], **o})
    console.print(
        f"{case.network.name}, {days} day(s) from {start:%Y-%m-%d}, stress {stress_name}: "
        f"{summary['periods_requested']} periods requested, {summary['periods_relieved']} relieved, "
        f"{summary['periods_residual']} residual; {summary['accepted']} of {summary['offers']} offers accepted, "
        f"{summary['energy_mwh']:.2f} MWh, {summary['cost_eur']:.2f} EUR; max loading "
        f"{summary['max_loading_before_pct']:.1f} % → {summary['max_loading_after_pct']:.1f} %; voltage "
        f"{_band(summary, 'before')} → {_band(summary, 'after')} pu; {elapsed_s:.2f} s; "
        f"outputs in {out}: summary.json, days.csv, orders.csv"
    )


@grid_app.command("envelopes")
@clear_errors
def envelopes_cmd(
    network: Annotated[
        str, typer.Argument(help="Shipped grid, .npz grid file, pandapower .json, cigre-mv, ...")
    ],
    day: Annotated[
        str, typer.Option(help="First day, YYYY-MM-DD (UTC); shipped profiles cover 2016.")
    ] = "2016-01-20",
    days: Annotated[int, typer.Option(help="Days (1 = day-ahead, 7 = week-ahead).")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("envelopes"),
    stress_name: Annotated[
        str, typer.Option("--stress", help="Stress scenario: none, winter, summer.")
    ] = "none",
    clear: Annotated[
        bool,
        typer.Option(
            help="Relieve a congested forecast on the market first (--offer-seed) and compute the "
            "envelopes on the cleared series; --no-clear shares the relief among the connections."
        ),
    ] = True,
    offer_seed: Annotated[int, typer.Option(help="Seed of the offer generator.")] = 0,
    loading_limit: Annotated[
        float, typer.Option(help="Loading limit of lines and transformers (%).")
    ] = 100.0,
    voltage_min: Annotated[float, typer.Option(help="Lowest allowed voltage (pu).")] = 0.90,
    voltage_max: Annotated[float, typer.Option(help="Highest allowed voltage (pu).")] = 1.10,
) -> None:
    """Dynamic operating envelopes: per connection bus and period, the import and export limits (MW)
    that keep the feeder within limits with every connection at its envelope at once; writes
    envelopes.csv, envelopes.json and summary.json (with an AC check at the envelopes' corners).

    Signs: power positive = consumption; import = consumption, export = production.
    """
    import csv
    import json
    import time

    from gridflex.grid.distribution.congestion import Limits
    from gridflex.grid.distribution.envelopes import check_corners, operating_envelopes
    from gridflex.grid.distribution.gridfile import open_network
    from gridflex.grid.distribution.powerflow import PowerFlow
    from gridflex.grid.distribution.relief import OfferModel, relieve_by_market, violated_periods
    from gridflex.grid.distribution.sensitivity import sensitivities
    from gridflex.grid.distribution.stress import SCENARIOS

    start = _checked_options(day, days, stress_name, voltage_band=(voltage_min, voltage_max))
    t0 = time.perf_counter()
    case = open_network(network, start=start, periods=96 * days)
    net = case.network
    _, series = _stressed_series(case, start, days, SCENARIOS[stress_name])
    limits = Limits(loading_pct=loading_limit, voltage_min_pu=voltage_min, voltage_max_pu=voltage_max)
    pf = PowerFlow(net)
    result = pf.run(series, angles=True)
    congested = int(violated_periods(net, result, limits).sum())
    market: dict[str, Any] = {}
    if congested and clear:
        rel = relieve_by_market(net, series, limits, OfferModel(seed=offer_seed), pf=pf)
        s = rel.summary()
        market = {
            k: s[k] for k in ("periods_requested", "periods_residual", "accepted", "energy_mwh", "cost_eur")
        }
        series = rel.relieved
        result = pf.run(series, angles=True)
    env = operating_envelopes(net, series, result, sensitivities(net, result), limits, pf=pf)
    corners = check_corners(net, series, env, pf, limits)
    elapsed_s = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    (out / "envelopes.json").write_text(json.dumps(env.to_dict(), indent=1) + "\n")
    times = [series.start + timedelta(minutes=series.step_min * t) for t in range(series.periods)]
    with (out / "envelopes.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["connection", "start", "forecast_mw", "import_limit_mw", "export_limit_mw"])
        for c, name in enumerate(env.connection_names):
            for t, when in enumerate(times):
                w.writerow([name, when.isoformat(), round(float(env.forecast_mw[t, c]), 6),
                            round(float(env.import_limit_mw[t, c]), 6), round(float(env.export_limit_mw[t, c]), 6)])  # fmt: skip
    room = env.import_limit_mw - env.forecast_mw
    summary = {
        "network": net.name, "start": start.isoformat(), "stress": stress_name, "periods": series.periods,
        "connections": len(env.connection_names), "congested_periods": congested,
        "cleared": bool(market), "market": market or None,
        "connections_to_move": int((room < -1e-6).any(axis=0).sum()),
        "min_import_headroom_mw": round(float(room.min()), 6),
        "corners": corners, "time_s": round(elapsed_s, 3),
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    on = "the cleared series" if market else "the forecast"
    console.print(
        f"{net.name}, {days} day(s) from {start:%Y-%m-%d}, stress {stress_name}: envelopes of "
        f"{len(env.connection_names)} connections × {series.periods} periods on {on} "
        f"({congested} congested periods before); {summary['connections_to_move']} connections must move; "
        f"all at import: max loading {corners['import']['max_loading_pct']:.1f} %, min voltage "
        f"{corners['import']['min_voltage_pu']:.3f} pu; all at export: max loading "
        f"{corners['export']['max_loading_pct']:.1f} %, max voltage {corners['export']['max_voltage_pu']:.3f} pu; "
        f"{elapsed_s:.2f} s; outputs in {out}: envelopes.csv, envelopes.json, summary.json"
    )


def _band(summary: dict, when: str) -> str:
    lo, hi = summary[f"min_voltage_{when}_pu"], summary[f"max_voltage_{when}_pu"]
    return "n/a" if lo is None else f"{lo:.3f}–{hi:.3f}"


def _checked_options(
    day: str,
    days: int,
    stress_name: str,
    extra: list | None = None,
    voltage_band: tuple[float, float] | None = None,
) -> datetime:
    """The first day of a run; every bad option (with ``extra`` problems and the ``--voltage-min``/
    ``--voltage-max`` band) in one ValidationError."""
    from gridflex.errors import Problem, ValidationError
    from gridflex.grid.distribution.stress import SCENARIOS

    problems = list(extra or [])
    if voltage_band is not None:
        vmin, vmax = voltage_band
        if vmin <= 0:
            problems.append(Problem("options", "--voltage-min", f"must be > 0 pu, got {vmin:g}"))
        if vmax <= vmin:
            problems.append(Problem("options", "--voltage-max", f"must be above --voltage-min ({vmin:g} pu)"))
    start = None
    try:
        start = datetime.strptime(day, "%Y-%m-%d")
    except ValueError:
        problems.append(Problem("options", "--day", f"{day!r} is not a date YYYY-MM-DD"))
    if days < 1:
        problems.append(Problem("options", "--days", "must be >= 1"))
    if stress_name not in SCENARIOS:
        problems.append(Problem("options", "--stress", f"{stress_name!r}: one of {', '.join(SCENARIOS)}"))
    if problems or start is None:
        raise ValidationError("options", problems)
    return start


def _stressed_series(case: Any, start: datetime, days: int, scenario: Any) -> tuple[int, Any]:
    """The network's profiles over ``days`` from ``start`` with the stress scenario applied."""
    from gridflex.grid.distribution.stress import stress

    periods = 96 * days * 15 // case.profiles.step_min
    return periods, stress(
        case.network, case.profiles.series(case.network, start=start, periods=periods), scenario
    )


def _print_points(fc: Any, title: str) -> None:
    """One row per congestion point: causes, connections, energy up/down, requested periods."""
    table = Table(title=title)
    for col in ("congestion point", "causes", "connections", "up MWh", "down MWh", "requested periods"):
        table.add_column(col)
    h = fc.result.step_min / 60
    for cp in fc.points:
        need = cp.requested_mw
        table.add_row(cp.name, ", ".join(v.name for v in cp.violations[:3]) + (" …" if len(cp.violations) > 3 else ""),
                      str(len(cp.connection_buses)), f"{need.clip(0).sum() * h:.2f}", f"{(-need).clip(0).sum() * h:.2f}",
                      str(int((need != 0).sum())))  # fmt: skip
    if fc.points:
        console.print(table)
