"""``gridflex market ...``: clear an auction, replay a continuous book, run a DSO request round,
award a capacity tender — each on one JSON file (formats: docs/market.md, schemas in docs/schemas/market/);
compute baselines and settle a period on meter CSVs (docs/market-baselines-settlement.md); carry
capacity calls down to the devices of each site (``dispatch``).

Results are one JSON document, written to ``--out`` or printed on stdout; a summary goes to stderr
when ``--out`` is given. Bad input is one line on stderr and exit code 2; bad orders inside a good
file are rejected one by one in the result, the rest clears.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridflex.cli.common import clear_errors, err

market_app = typer.Typer(
    help="Markets on files: auction, continuous book, local flexibility, capacity, baselines, settlement."
)

OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Write the result JSON here (default: stdout).")
]


def _emit(result: dict[str, Any], out: Path | None, summary: str) -> None:
    text = json.dumps(result, indent=1, default=str)
    if out is None:
        print(text)  # plain print: exact JSON for pipes, no console wrapping
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    err.print(f"{summary}; written to {out}", highlight=False, soft_wrap=True)


def _time_s(t) -> int | None:
    return None if t is None else int(t.timestamp())


@market_app.command("clear")
@clear_errors
def clear_cmd(file: Annotated[Path, typer.Argument(help="Auction JSON (products, orders, block_orders).")],
              out: OutOpt = None) -> None:  # fmt: skip
    """Uniform-price (pay-as-clear) auction per ISP, with block orders."""
    from gridflex.market.auction import clear_auction
    from gridflex.market.io import AuctionDocument, read_document
    from gridflex.market.orders import OrderArrays

    doc = read_document(file, AuctionDocument)
    r = clear_auction(
        doc.products, OrderArrays.from_orders(doc.orders), doc.block_orders, _time_s(doc.cleared_at)
    )
    res = r.to_json()
    traded = sum(c["volume_mw"] for c in res["cells"])
    rejected = int((~r.valid).sum()) + sum(b.reason.startswith("rejected") for b in r.blocks)
    _emit(res, out, f"{len(doc.orders)} orders, {len(doc.block_orders)} blocks: {traded:g} MW traded, "
                    f"welfare {res['welfare_eur']:.2f} EUR, {rejected} rejected")  # fmt: skip


@market_app.command("book")
@clear_errors
def book_cmd(
    file: Annotated[Path, typer.Argument(help="Book JSON (products, events).")], out: OutOpt = None
) -> None:
    """Replay events through the continuous book (price-time priority)."""
    from gridflex.market.book import ContinuousBook
    from gridflex.market.io import BookDocument, read_document

    doc = read_document(file, BookDocument)
    book = ContinuousBook(doc.products)
    log = []
    for k, ev in enumerate(doc.events):
        if ev.action == "submit":
            if ev.order is None:
                raise _bad(file, k, "submit needs an order")
            r = book.submit(ev.order, _time_s(ev.at))
        elif ev.action == "cancel":
            if ev.order_id is None:
                raise _bad(file, k, "cancel needs an order_id")
            r = book.cancel(ev.order_id)
        else:
            if ev.at is None:
                raise _bad(file, k, "close_gates needs at")
            log.append({"event": k, "expired": book.close_gates(int(ev.at.timestamp()))})
            continue
        log.append({"event": k, **r.model_dump(mode="json")})
    ids = [e.order.order_id for e in doc.events if e.order is not None]
    final = {i: book.status(i).model_dump(mode="json") for i in dict.fromkeys(ids) if i in book}
    res = {"events": log, "trades": [_trade(t) for t in book.trades], "orders": final}
    _emit(res, out, f"{len(doc.events)} events, {len(book.trades)} trades")


def _trade(t) -> dict:
    return t._asdict()


def _bad(file: Path, k: int, msg: str) -> Exception:
    from gridflex.errors import DataError

    return DataError(f"{file}: events.{k}: {msg}")


@market_app.command("local")
@clear_errors
def local_cmd(file: Annotated[Path, typer.Argument(help="Local round JSON (product, requests, offers, network).")],
              out: OutOpt = None) -> None:  # fmt: skip
    """DSO request round: least-cost pay-as-bid selection of FlexOffers, network-aware when a network is given."""
    from gridflex.market.io import LocalDocument, read_document
    from gridflex.market.local import clear_local

    doc = read_document(file, LocalDocument)
    r = clear_local(doc.product, doc.requests, doc.offers, network=doc.network, balanced=doc.balanced,
                    balance_tolerance_mw=doc.balance_tolerance_mw, now_s=_time_s(doc.cleared_at),
                    time_limit_s=doc.time_limit_s, mip_rel_gap=doc.mip_rel_gap)  # fmt: skip
    unmet = sum(r.request_unmet_mw.values())
    gap = "" if not r.is_mip else f", gap {r.mip_gap:.3%}"
    _emit(
        r.to_json(),
        out,
        f"{len(r.orders)} FlexOrders, cost {r.cost_eur:.2f} EUR, unmet {unmet:g} MW ({r.status}{gap})",
    )


@market_app.command("capacity")
@clear_errors
def capacity_cmd(file: Annotated[Path, typer.Argument(help="Capacity JSON (tender, bids, activations).")],
                 out: OutOpt = None) -> None:  # fmt: skip
    """Award a capacity tender (local reservation or TSO reserve), then run its activation calls."""
    from gridflex.market.capacity import activate, procure_capacity
    from gridflex.market.io import CapacityDocument, read_document

    doc = read_document(file, CapacityDocument)
    r = procure_capacity(doc.tender, doc.bids)
    acts = [activate(doc.tender, doc.bids, r, a.start, a.duration_h, a.power_mw).model_dump(mode="json")
            for a in doc.activations]  # fmt: skip
    res = {"award": r.model_dump(mode="json"), "activations": acts}
    _emit(res, out, f"{r.procured_mw:g} of {doc.tender.required_mw:g} MW procured for {r.cost_eur:.2f} EUR")


@market_app.command("trade")
@clear_errors
def trade_cmd(
    file: Annotated[Path, typer.Argument(help="FlexOffer JSON of the prosumers (defaults and unit prices).")],
    out: OutOpt = None,
    schedules: Annotated[
        Path | None, typer.Option(help="Write the prosumers' assigned schedules here (FlexOffer JSON).")
    ] = None,
    zone: Annotated[str, typer.Option(help="SMARD zone of the buyer's day-ahead prices.")] = "France",
    margin: Annotated[float, typer.Option(help="Aggregator's mark-up on the prosumer payments.")] = 0.1,
    buyer: Annotated[str, typer.Option(help="Buyer (BRP or DSO).")] = "BRP",
    seller: Annotated[str, typer.Option(help="Seller (the aggregator).")] = "aggregator",
    limit_kw: Annotated[float | None, typer.Option(help="Portfolio power limit per period.")] = None,
    now: Annotated[
        str | None,
        typer.Option(
            help="Decision time, ISO 8601 with offset: offers past their acceptBeforeTime or "
            "assignmentBeforeTime keep their defaults. Default: no clock."
        ),
    ] = None,
) -> None:
    """Flex-offer trading (TotalFlex): aggregate, the buyer schedules at its prices, disaggregate, settle."""
    from gridflex.cli.flexoffers import _grid_for, parse_now, read_document, write_document
    from gridflex.flexoffer.aggregation import aggregate
    from gridflex.market.flexoffers import trade_flexoffers
    from gridflex.market.prices import prices_on_grid

    members = read_document(file).batch
    grid = _grid_for(members)
    t = trade_flexoffers(aggregate(members), grid, prices_on_grid(grid, zone), buyer=buyer, seller=seller,
                         margin=margin, limit_kw=limit_kw, now_s=None if now is None else parse_now(now))  # fmt: skip
    res = {**t.to_json(), "members": len(members), "aggregates": len(t.aggregate_schedule.schedule.start_s)}
    if schedules is not None and t.member_schedule is not None:
        write_document(members.with_schedule(t.member_schedule), schedules)
    _emit(res, out, t.reason)


@market_app.command("schemas")
@clear_errors
def schemas_cmd(
    directory: Annotated[Path, typer.Argument(help="Folder for the *.schema.json files.")],
) -> None:
    """Write the JSON Schemas of the market documents (generated from the models)."""
    from gridflex.market.io import write_schemas

    paths = write_schemas(directory)
    err.print(f"{len(paths)} schemas written to {directory}", highlight=False)


def _csv_to_stdout(frame) -> None:
    import sys

    frame.to_csv(sys.stdout, index=False, float_format="%.10g")


@market_app.command("baseline")
@clear_errors
def baseline_cmd(
    metered: Annotated[Path, typer.Argument(help="Meter CSV: time_utc, then one column per meter (kW).")],
    document: Annotated[
        Path, typer.Argument(help="Baseline JSON (tz, holidays, event days, events, method).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the baseline CSV here (default: stdout).")
    ] = None,
    prognosis: Annotated[
        Path | None, typer.Option(help="Meter CSV of the nominated schedules (method 'nominated').")
    ] = None,
) -> None:
    """Baseline of every meter, as a meter CSV (kW; an empty cell: too little history, no baseline)."""
    import numpy as np
    import pandas as pd

    from gridflex.market.baselines import baselines_from_files

    result = baselines_from_files(metered, document, out_csv=out, prognosis_csv=prognosis)
    if out is None:
        frame = pd.DataFrame(result.kw.T, columns=result.meter_ids)
        frame.insert(0, "time_utc", result.grid.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
        _csv_to_stdout(frame)
        return
    missing = int((~np.isfinite(result.kw)).sum())
    err.print(f"baseline of {len(result.meter_ids)} meters × {result.grid.n} periods "
              f"({missing} meter-periods without one); written to {out}", highlight=False, soft_wrap=True)  # fmt: skip


@market_app.command("settle")
@clear_errors
def settle_cmd(
    document: Annotated[
        Path, typer.Argument(help="Settlement JSON (participants, meters, reservations, activations).")
    ],
    metered: Annotated[Path, typer.Argument(help="Meter CSV (kW).")],
    baseline: Annotated[Path, typer.Argument(help="Baseline CSV, same meters and times (kW).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the statements CSV here (default: stdout).")
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(help="Sum statements per pandas period: D (UTC day), MS (month); default: per ISP."),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option(help="Write activations (delivered, performance) and totals as JSON here.")
    ] = None,
) -> None:
    """Settle a period: activation payments, penalties, availability, BRP correction, per participant."""
    from gridflex.errors import DataError
    from gridflex.market.settlement import settle_files

    if period not in (None, "D", "W", "MS", "h", "YS"):
        raise DataError(f"--period: expected D, W, MS, YS or h, got {period!r}")
    result = settle_files(document, metered, baseline, out_csv=out, period=period)
    if summary is not None:
        totals = result.totals()
        doc = {
            "activations": result.activations.to_dict(orient="records"),
            "totals_eur": {p: {k: float(v) for k, v in row.items()} for p, row in totals.iterrows()},
        }
        summary.parent.mkdir(parents=True, exist_ok=True)
        summary.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if out is None:
        statements = result.statements(period)
        statements["period_start_utc"] = statements.period_start_utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        _csv_to_stdout(statements)
        return
    net = result.totals().net_eur if len(result.lines) else {}
    parts = ", ".join(f"{p} {v:+.2f}" for p, v in dict(net).items())
    err.print(
        f"net EUR (+ receives): {parts or 'nothing settled'}; written to {out}",
        highlight=False,
        soft_wrap=True,
    )


@market_app.command("dispatch")
@clear_errors
def dispatch_cmd(
    file: Annotated[Path, typer.Argument(help="Capacity JSON (tender, bids, activation calls).")],
    fleet: Annotated[
        list[str], typer.Option(help="SITE=FILE: a site's devices as FlexOffer JSON (repeat per site).")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for the device schedules and the summary.")
    ],
    zone: Annotated[str, typer.Option(help="SMARD zone of the prices the sites plan against.")] = "France",
) -> None:
    """Award a capacity tender, run its calls, and carry each call down to the devices of every site
    (its flex-offers rescheduled under the call and disaggregated)."""
    from gridflex.cli.flexoffers import _grid_for, read_document, write_document
    from gridflex.errors import DataError
    from gridflex.market.capacity import activate, procure_capacity
    from gridflex.market.dispatch import dispatch_activation
    from gridflex.market.io import CapacityDocument
    from gridflex.market.io import read_document as read_market_document
    from gridflex.market.prices import prices_on_grid
    from gridflex.timegrid import TimeGrid

    doc = read_market_document(file, CapacityDocument)
    if doc.tender.direction not in ("up", "down"):
        raise DataError(
            f"{file}: tender.direction: a call on a symmetric reserve needs its direction (up/down)"
        )
    fleets = {}
    for spec in fleet:
        site, sep, path = spec.partition("=")
        if not sep or not site or not path:
            raise DataError(f"--fleet: expected SITE=FILE, got {spec!r}")
        fleets[site] = read_document(Path(path)).batch
    grids = [_grid_for(b) for b in fleets.values()]
    first = min(grids, key=lambda g: g.start_s)  # one grid covering every site's flex-offers
    if any(g.step_s != first.step_s for g in grids):
        raise DataError("--fleet: the sites' flex-offers must share one interval length")
    end_s = max(g.start_s + g.n * g.step_s for g in grids)
    grid = TimeGrid(first.start, first.step_s, (end_s - first.start_s) // first.step_s)
    prices = prices_on_grid(grid, zone)
    award = procure_capacity(doc.tender, doc.bids)
    out.mkdir(parents=True, exist_ok=True)
    calls = []
    for k, call in enumerate(doc.activations):
        act = activate(doc.tender, doc.bids, award, call.start, call.duration_h, call.power_mw)
        now_s = int(call.start.timestamp())  # dispatched as the call starts: the plan ran until then
        sites = dispatch_activation(act, str(doc.tender.direction), fleets, grid, prices, now_s=now_s)
        rows = {}
        for site, d in sites.items():
            write_document(d.members, out / f"call-{k}-{site}.json")
            on = d.instructed_kw > 0
            rows[site] = {"devices": len(d.members), "called_kw": float(d.instructed_kw[on].mean()),
                          "planned_kw": d.planned_kw[on].round(3).tolist(),
                          "dispatched_kw": d.dispatched_kw[on].round(3).tolist()}  # fmt: skip
        calls.append({"call": k, **act.model_dump(mode="json"), "sites": rows})
    summary = {"direction": str(doc.tender.direction), "award": award.model_dump(mode="json"), "calls": calls}
    (out / "dispatch.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    err.print(f"{len(calls)} call(s) dispatched to {len(fleets)} site(s); written to {out}",
              highlight=False, soft_wrap=True)  # fmt: skip


# -- on a server (`gridflex serve`), through gridflex.client ------------------------------------------

ServerOpt = Annotated[
    str,
    typer.Option("--server", envvar="GRIDFLEX_SERVER", help="The service's URL, e.g. http://127.0.0.1:8080."),
]
TokenOpt = Annotated[
    str, typer.Option("--token", envvar="GRIDFLEX_TOKEN", help="An API token (gfx_…) of the participant.")
]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=1))  # plain print: exact JSON for pipes


@market_app.command("submit")
@clear_errors
def submit_cmd(
    server: ServerOpt,
    token: TokenOpt,
    product: Annotated[str, typer.Option(help="Product id.")],
    side: Annotated[str, typer.Option(help="buy or sell.")],
    isp: Annotated[int, typer.Option(help="ISP index in the product horizon, 0-based.")],
    quantity_mw: Annotated[float, typer.Option("--quantity-mw", help="MW over the ISP.")],
    price: Annotated[
        float | None, typer.Option("--price", help="Limit price, EUR/MWh (none: at any price).")
    ] = None,
    place: Annotated[str, typer.Option(help="Bidding zone or congestion point.")] = "",
    execution: Annotated[str, typer.Option(help="normal, fill_or_kill or fill_and_kill.")] = "normal",
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="Makes a retry safe: the same key, one order.")
    ] = None,
) -> None:
    """Submit one order to the service; prints the stored order (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        o = gf.submit_order(product, side, isp, quantity_mw, price, place=place, execution=execution,
                            idempotency_key=idempotency_key)  # fmt: skip
    _print_json(o)
    err.print(f"order {o['id']}: {o['status']}" + (f" ({o['reason']})" if o["reason"] else ""),
              highlight=False, soft_wrap=True)  # fmt: skip


@market_app.command("list")
@clear_errors
def list_cmd(
    server: ServerOpt,
    token: TokenOpt,
    product: Annotated[str | None, typer.Option(help="Only this product's orders.")] = None,
    status: Annotated[str | None, typer.Option(help="Only orders with this status (e.g. active).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many (default: all).")] = None,
) -> None:
    """List the orders the token may see, oldest first (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        _print_json(gf.list_orders(product, status, limit))


@market_app.command("cancel")
@clear_errors
def cancel_cmd(
    server: ServerOpt, token: TokenOpt, order_id: Annotated[int, typer.Argument(help="The order's id.")]
) -> None:
    """Cancel one of the participant's active orders; prints it (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        _print_json(gf.cancel_order(order_id))


@market_app.command("readings")
@clear_errors
def readings_cmd(
    server: ServerOpt,
    token: TokenOpt,
    file: Annotated[
        Path,
        typer.Argument(help="Meter CSV (time_utc, one column of kW per connection point) or JSON readings."),
    ],
) -> None:
    """Upload meter readings (kW per ISP, + = consumption); prints what was inserted, unchanged, corrected."""
    from gridflex.client import Client
    from gridflex.errors import DataError

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {file}: {exc}") from None
    with Client(server, token) as gf:
        if file.suffix.lower() == ".json":
            try:
                readings = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(f"{file}, line {exc.lineno}: not JSON ({exc.msg})") from None
            got = gf.upload_readings(readings.get("readings", []) if isinstance(readings, dict) else readings)
        else:
            got = gf.upload_meter_csv(text)
    _print_json(got)


@market_app.command("activations")
@clear_errors
def activations_cmd(
    server: ServerOpt,
    token: TokenOpt,
    status: Annotated[str | None, typer.Option(help="sent, acknowledged, declined or settled.")] = None,
) -> None:
    """List the activations the token may see: a provider's calls to answer, a DSO's calls (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        _print_json(gf.list_activations(status))


@market_app.command("acknowledge")
@clear_errors
def acknowledge_cmd(
    server: ServerOpt,
    token: TokenOpt,
    activation_id: Annotated[int, typer.Argument(help="The activation's id.")],
    connection_point: Annotated[
        list[str], typer.Option("--connection-point", help="An EAN that delivers (repeat for more).")
    ],
) -> None:
    """Acknowledge an activation as its provider, naming the connection points that deliver (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        _print_json(gf.acknowledge_activation(activation_id, connection_point))


@market_app.command("statement")
@clear_errors
def statement_cmd(
    server: ServerOpt,
    token: TokenOpt,
    settlement_id: Annotated[int, typer.Argument(help="The settlement's id.")],
    period: Annotated[
        str | None, typer.Option(help="D (UTC day), W or MS (month); default: per ISP.")
    ] = None,
) -> None:
    """The token's statement of a settlement as CSV on stdout (+ = receives)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        print(gf.statement(settlement_id, period, csv=True), end="")
