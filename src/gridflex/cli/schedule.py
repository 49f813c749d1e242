"""``gridflex schedule``: the optimal schedule of a multi-energy site."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gridflex.cli.common import clear_errors, console


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
