"""``gridflex schedule``: the optimal schedule of a multi-energy site."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from gridflex.cli.common import clear_errors, console

if TYPE_CHECKING:
    from gridflex.scheduling import SiteResult


def cost_table(result: SiteResult) -> Table:
    """Cost terms in one fixed order (``COST_TERMS``), revenue negative, the total last."""
    status = f"{result.status}{', MILP' if result.is_mip else ''}"
    table = Table(title=f"gridflex schedule — {result.site} ({status})", caption="revenue is negative")
    table.add_column("cost term")
    table.add_column("EUR", justify="right")
    costs = result.costs_eur  # ordered by the scheduler: COST_TERMS, then others, total last
    for k, v in costs.items():
        if k != "total":
            table.add_row(k, f"{v:,.2f}")
    table.add_section()
    table.add_row("total", f"{costs['total']:,.2f}", style="bold")
    return table


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
        from gridflex.reports.site import write_site_report

        strategies = compare_strategies(compiled) if compiled.products else None
        write_site_report(result, report, prices=compiled.prices, strategies=strategies)
    console.print(cost_table(result))
    console.print(
        f"mean available flexibility: up (more into the grid) {result.flex_up_kw.mean():,.1f} kW, "
        f"down (less into the grid) {result.flex_down_kw.mean():,.1f} kW, per period"
    )
    console.print(
        f"time: built in {result.time_build_s * 1e3:.1f} ms, solved in {result.time_solver_s * 1e3:.1f} ms"
    )
    written = [str(p) for p in (out, csv, report) if p is not None]
    console.print("written: " + ", ".join(written))


@clear_errors
def pool_cmd(
    sites: Annotated[list[Path], typer.Argument(help="Site files answering the tender together.")],
    contract: Annotated[
        Path,
        typer.Option(
            "--contract", "-c", help="YAML/JSON file of one DSO contract (services.dso_contracts[])."
        ),
    ],
    step_kw: Annotated[float, typer.Option(help="Share granularity, kW.")] = 10.0,
) -> None:
    """Pool sites to answer one DSO tender (e.g. Enedis, 250 kW minimum): shares at least total cost."""
    import yaml

    from gridflex.scheduling import load_site, pool_dso_contract

    spec = yaml.safe_load(contract.read_text(encoding="utf-8"))
    pool = pool_dso_contract([load_site(s) for s in sites], spec, step_kw=step_kw)
    table = Table(title=f"gridflex pool — {pool.contract} ({pool.power_kw:g} kW)")
    for col in ("site", "share kW", "most it holds alone kW", "cost at its share EUR"):
        table.add_column(col, justify="left" if col == "site" else "right")
    for name, kw in pool.shares_kw.items():
        res = pool.results[name]
        table.add_row(name, f"{kw:g}", f"{pool.alone_kw[name]:g}", f"{res.costs_eur['total']:,.2f}")
    console.print(table)
    console.print(f"value of the pool: {pool.value_eur:,.2f} EUR = the sites' cost without the contract "
                  f"{pool.standalone_cost_eur:,.2f} EUR - pooled {pool.cost_eur:,.2f} EUR (revenue negative)",
                  highlight=False)  # fmt: skip


@clear_errors
def size_cmd(
    file: Annotated[
        Path, typer.Argument(help="Sizing file: representative days (site files) and candidate sizes.")
    ],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV of every combination.")] = None,
) -> None:
    """Size assets (battery, tank, heat pump, PV) from capital costs and every revenue stream, services included."""
    import math

    from gridflex.scheduling.sizing import size_file

    result = size_file(file)
    money = {"operating_eur_per_year": "operating EUR/yr", "services_revenue_eur_per_year": "services revenue EUR/yr",
             "capital_eur_per_year": "capital EUR/yr", "total_eur_per_year": "total cost EUR/yr"}  # fmt: skip
    rows = result.table.to_dict("records")
    notes = any(row["note"] for row in rows)  # a column only when a combination could not run
    table = Table(
        title=f"gridflex size — {file.name}",
        caption="operating: the schedules' yearly cost, services revenue taken off; capital: its yearly annuity; "
        "total = operating + capital (the lowest wins)",
    )
    for col in result.best:  # a size's name folds onto lines rather than lose its end
        table.add_column(col, justify="right", overflow="fold")
    for col in money.values():
        table.add_column(col, justify="right", overflow="fold", max_width=10)
    if notes:
        table.add_column("note")
    for row in rows:
        cells = [f"{row[k]:g}" for k in result.best]
        cells += [f"{row[k]:,.0f}" if math.isfinite(row.get(k, math.nan)) else "-" for k in money]
        table.add_row(*cells, *([str(row["note"])] if notes else []))
    console.print(table)
    best = ", ".join(f"{k} = {v:g}" for k, v in result.best.items())
    console.print(f"best: {best} (total cost {result.best_cost_eur_per_year:,.0f} EUR/yr)", highlight=False)
    if out is not None:
        result.table.to_csv(out, index=False)
        console.print(f"written: {out}")
