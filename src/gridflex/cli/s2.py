"""``gridflex cem serve`` and ``gridflex rm simulate``: the S2 energy manager and device simulators."""

from __future__ import annotations

import math
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gridflex.cli.common import clear_errors, console


def clock_problems(command: str, speed: float, start: str | None) -> tuple[list[Any], datetime | None]:
    """Problems with the clock options shared by ``cem serve`` and ``rm simulate``; the start time."""
    from gridflex.errors import Problem

    problems = []
    if not (math.isfinite(speed) and 0 < speed <= 1e5):  # NaN fails every comparison
        problems.append(Problem(command, "speed", f"must be a number > 0 and at most 1e5, got {speed:g}"))
    t0 = None
    if start is not None:
        try:
            t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            problems.append(Problem(command, "start", f"{start!r} is not an ISO 8601 time"))
        else:
            if t0.tzinfo is None:
                problems.append(Problem(command, "start", f"{start!r} has no time zone (e.g. Z)"))
    return problems, t0


SPEED_HELP = "Simulated seconds per real second (give the CEM and its RMs the same)."
START_HELP = "Simulated start time, ISO 8601 with a zone, e.g. 2018-06-12T06:00:00Z (default: now)."

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
    speed: Annotated[float, typer.Option(help=SPEED_HELP)] = 1.0,
    start: Annotated[str | None, typer.Option(help=START_HELP)] = None,
    planner: Annotated[
        str, typer.Option(help="process (plans in a worker process, the default) or thread.")
    ] = "process",
) -> None:
    """Serve RMs at ws://HOST:PORT/s2/<resource-id> (Authorization: Bearer <token>) until interrupted."""
    import logging

    from rich.logging import RichHandler

    from gridflex.errors import Problem, ValidationError
    from gridflex.s2 import serve
    from gridflex.s2.server import check_listen_options, parse_control_types

    levels = ("DEBUG", "INFO", "WARNING", "ERROR")
    problems, t0 = clock_problems("cem serve", speed, start)
    problems += check_listen_options(host, port, certfile, keyfile)
    if planner not in ("process", "thread"):
        problems.append(Problem("cem serve", "--planner", f"{planner!r} is not one of process, thread"))
    if log_level.upper() not in levels:
        problems.append(
            Problem("cem serve", "--log-level", f"{log_level!r} is not one of {', '.join(levels)}")
        )
    if problems:
        raise ValidationError("options", problems)
    policy = (
        None
        if control_types is None
        else parse_control_types(control_types, ("cem serve", "--control-types"))
    )
    # connections, control types and every plan, one line each (quiet: --log-level WARNING)
    logging.basicConfig(format="%(message)s", handlers=[RichHandler(console=console, show_path=False)])
    logging.getLogger("gridflex").setLevel(log_level.upper())  # not the libraries' own INFO lines

    def listening(url: str) -> None:  # only once the site is loaded and the socket bound
        console.print(
            f"CEM listening on {url} (Ctrl-C stops)"
            + ("" if policy is None else f"; control types {', '.join(ct.value for ct in policy)}")
        )

    serve(
        site,
        host=host,
        port=port,
        tokens_path=tokens,
        certfile=certfile,
        keyfile=keyfile,
        control_types=policy,
        on_listening=listening,
        speed=speed,
        start=t0,
        planner=planner,
    )


SIM_KINDS = ("battery", "pv", "heatpump", "ev", "washing-machine", "chp", "hybrid-heatpump")
"""The simulator kinds, for --help without importing s2-python (a test pins it to gridflex.s2.KINDS)."""
RESOURCE_ID = re.compile(r"^[A-Za-z0-9_\-:.]{1,128}$")  # what the CEM's /s2/<resource-id> accepts


@rm_app.command("simulate")
@clear_errors
def rm_simulate(
    kind: Annotated[str, typer.Argument(help=f"Device kind: {', '.join(SIM_KINDS)}.")],
    url: Annotated[str, typer.Option(help="CEM address, e.g. ws://127.0.0.1:8765/s2.")],
    token: Annotated[str, typer.Option(help="Bearer token accepted by the CEM.")],
    speed: Annotated[float, typer.Option(help=SPEED_HELP)] = 1.0,
    start: Annotated[str | None, typer.Option(help=START_HELP)] = None,
    duration_s: Annotated[float | None, typer.Option(help="Stop after this many simulated seconds.")] = None,
    resource_id: Annotated[
        str | None, typer.Option(help="Resource id: letters, digits, _ - : . (default: a new UUID).")
    ] = None,
    cafile: Annotated[
        Path | None, typer.Option(help="CA certificate (PEM) to trust for a wss:// CEM (a private CA).")
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Do not verify the CEM's certificate (tests only).")
    ] = False,
    retries: Annotated[
        int, typer.Option(help="Failed connection attempts in a row before giving up (not for 401/403).")
    ] = 8,
) -> None:
    """Run a simulated device as a real RM over the socket."""
    from gridflex.errors import Problem, ValidationError
    from gridflex.s2 import KINDS, simulate

    problems, t0 = clock_problems("rm simulate", speed, start)
    if resource_id is not None and not RESOURCE_ID.match(resource_id):
        problems.append(Problem("rm simulate", "resource-id", "must be 1-128 of A-Z a-z 0-9 _ - : ."))
    if retries < 0:
        problems.append(Problem("rm simulate", "retries", f"must be >= 0, got {retries}"))
    if insecure and cafile is not None:
        problems.append(Problem("rm simulate", "insecure", "--insecure and --cafile exclude each other"))
    if kind not in KINDS:
        problems.append(Problem("rm simulate", "KIND", f"{kind!r} is not one of {', '.join(KINDS)}"))
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        problems.append(Problem("rm simulate", "duration-s", f"must be a number > 0, got {duration_s:g}"))
    if problems:  # checked before connecting
        raise ValidationError("options", problems)
    summary = simulate(kind, url, token, speed=speed, duration_s=duration_s, resource_id=resource_id,
                       cafile=None if cafile is None else str(cafile), insecure=insecure, retries=retries,
                       start=t0)  # fmt: skip
    console.print(summary)
