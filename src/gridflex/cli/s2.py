"""``gridflex cem serve`` and ``gridflex rm simulate``: the S2 energy manager and device simulators."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from gridflex.cli.common import clear_errors, console

cem_app = typer.Typer(help="S2 customer energy manager (s2-ws-json over WebSockets).")
rm_app = typer.Typer(help="S2 resource managers: device simulators that connect to a CEM.")


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

    problems = []
    if kind not in KINDS:
        problems.append(Problem("rm simulate", "KIND", f"{kind!r} is not one of {', '.join(KINDS)}"))
    if not (math.isfinite(speed) and 0 < speed <= 1e5):  # NaN fails every comparison
        problems.append(
            Problem("rm simulate", "speed", f"must be a number > 0 and at most 1e5, got {speed:g}")
        )
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        problems.append(Problem("rm simulate", "duration-s", f"must be a number > 0, got {duration_s:g}"))
    if problems:  # checked before connecting
        raise ValidationError("options", problems)
    summary = simulate(kind, url, token, speed=speed, duration_s=duration_s, resource_id=resource_id)
    console.print(summary)
