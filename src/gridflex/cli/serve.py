"""``gridflex serve`` (the REST API on one port) and ``gridflex db upgrade`` (migrations).

With no ``--db`` the store is the SQLite file ``./gridflex.db`` (WAL); ``--db postgresql+psycopg://…``
uses PostgreSQL. The schema is created or upgraded at start. On an empty store the first admin token
is printed once: only its digest is kept.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from gridflex.cli.common import clear_errors, console

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar="GRIDFLEX_DB",
        help="Database URL: sqlite:///path.db (default ./gridflex.db) or postgresql+psycopg://user@host/db.",
    ),
]

db_app = typer.Typer(help="The service's database: schema migrations.")


def shown_url(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
@clear_errors
def upgrade_cmd(db: DbOpt = None) -> None:
    """Create the schema, or migrate it to the newest revision (Alembic)."""
    from gridflex.store import Store
    from gridflex.store.migrate import current_revision

    store = Store(db)
    store.upgrade()
    console.print(
        f"{shown_url(store.url)}: schema at revision {current_revision(store.engine)}", highlight=False
    )
    store.close()


def _server_class() -> type:
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, which ends the process before
        `serve` stops its job runners: their spawned processes were left behind as orphans."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()  # return instead: `serve` cleans up, then exits

    return Server


@clear_errors
def serve(
    db: DbOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one (printed).")] = 8080,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    jobs: Annotated[
        bool,
        typer.Option(
            help="Run the background work in this process: clearing at each gate closure, webhook deliveries."
        ),
    ] = True,
    job_lease_s: Annotated[
        float,
        typer.Option(
            min=1.0, help="A running job without a heartbeat this long is run again (its server died)."
        ),
    ] = 30.0,
    rate_limit: Annotated[
        float,
        typer.Option(min=0.0, help="Requests per second per API token (bursts of twice that); 0: no limit."),
    ] = 100.0,
    dask: Annotated[
        str | None,
        typer.Option(
            envvar="GRIDFLEX_DASK",
            metavar="tcp://HOST:PORT",
            help="Dask scheduler for the evaluation studies' solves (default: the local job process).",
        ),
    ] = None,
) -> None:
    """Run the gridflex service: the REST API (OpenAPI at /openapi.json), health at /health, and the
    job runner that clears every product at its gate closure."""
    import uvicorn

    from gridflex.api import create_app
    from gridflex.api.delivery import WebhookSender
    from gridflex.api.limits import TokenBuckets
    from gridflex.api.worker import LONG_JOBS, JobWorker
    from gridflex.store import Store, bootstrap_admin

    if dask and jobs:  # a wrong address fails now, in seconds, with one line: not at the first study
        from gridflex.parallel import check_scheduler

        check_scheduler(dask, field="--dask")
    _Server = _server_class()
    store = Store(db)
    store.upgrade()
    first = bootstrap_admin(store)
    # Bind before printing, so that the printed URL is right for --port 0 and already accepts
    # connections (they wait in the backlog until the server loop starts).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    if first is not None:
        print(
            f"first admin token (shown once, only its digest is stored): {first.secret}\n"
            "more with `gridflex accounts create-token`",
            flush=True,
        )
    # The URL line comes last: scripts may wait for it.
    if dask and jobs:
        print(f"evaluation studies solve on the Dask scheduler at {dask}", flush=True)
    print(f"gridflex serving on http://{shown_host}:{bound} (database {shown_url(store.url)})", flush=True)
    buckets = TokenBuckets(rate_limit, max(1, int(2 * rate_limit))) if rate_limit > 0 else None
    app = create_app(store, rate_limit=buckets)
    config = uvicorn.Config(app, log_level="warning", access_log=access_log, timeout_graceful_shutdown=5)
    # Two lanes: studies run long, and must not hold a gate closure's clearing back.
    background: list[JobWorker | WebhookSender] = (
        [
            JobWorker(store, lease_s=job_lease_s, skip=LONG_JOBS),
            JobWorker(store, lease_s=job_lease_s, only=LONG_JOBS, dask=dask),
            WebhookSender(store),
        ]
        if jobs
        else []
    )
    try:
        for task in background:
            task.start()
        _Server(config).run(sockets=[sock])
    finally:
        for task in background:
            task.stop()
        sock.close()
        store.close()
