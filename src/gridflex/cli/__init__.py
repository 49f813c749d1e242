"""The command line: ``gridflex <group> <command>``, one module per command group.

Modules import what they run inside each command, so that ``gridflex --help`` starts fast.
"""

from __future__ import annotations

import typer

from gridflex.cli.accounts import accounts_app
from gridflex.cli.demo import demo_app
from gridflex.cli.evaluate import evaluate
from gridflex.cli.flexoffers import flexoffers_app
from gridflex.cli.grid import grid_app
from gridflex.cli.market import market_app
from gridflex.cli.s2 import cem_app, rm_app
from gridflex.cli.schedule import pool_cmd, schedule_site_cmd, size_cmd
from gridflex.cli.serve import db_app, serve
from gridflex.cli.studies import studies_app

app = typer.Typer(help="gridflex: energy flexibility from the device to the grid.", no_args_is_help=True)
app.add_typer(demo_app, name="demo")
app.add_typer(flexoffers_app, name="flexoffers")
app.add_typer(market_app, name="market")
app.command("evaluate")(evaluate)
app.command("schedule")(schedule_site_cmd)
app.command("pool")(pool_cmd)
app.command("size")(size_cmd)
app.add_typer(cem_app, name="cem")
app.add_typer(rm_app, name="rm")
app.add_typer(grid_app, name="grid")
app.command("serve")(serve)
app.add_typer(db_app, name="db")
app.add_typer(accounts_app, name="accounts")
app.add_typer(studies_app, name="studies")


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
