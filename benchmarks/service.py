"""The service under load: order submissions/s and latency, gate-closure clearing, cold start.

A real `gridflex serve` process (rate limit off, job runner off) on a fresh database; the load comes
from this process over loopback (plain HTTP/1.1 on asyncio, ``--concurrency`` requests in flight,
keep-alive), so client and server do not share a GIL. Figures:

* ``submit``: orders/s over the whole burst, latency p50/p95/p99 (ms), CPU seconds of the server
  and of the load generator (the machine may be shared: CPU time is the steadier figure);
* ``gate_closure``: a product with ``--book`` stored orders cleared by the job code path (load, solve,
  write the run, trades and order outcomes in one transaction), seconds; and the job runner of
  `gridflex serve` on a product whose gate closes while it runs: seconds from the gate to the
  clearing job's start (target <= 1 s) and end;
* ``cold_start_s``: from starting `gridflex serve` to its first answered /health.

Targets (issue 12): >= 1,000 submissions/s with p95 <= 50 ms on SQLite, >= 500/s on PostgreSQL; gate
closure with 100,000 orders <= 5 s, its job started <= 1 s after the gate.

    .venv/bin/python benchmarks/service.py                       # SQLite and PostgreSQL, full size
    .venv/bin/python benchmarks/service.py --db sqlite --orders 5000 --book 100000
    .venv/bin/python benchmarks/service.py --smoke               # tiny, SQLite only (the suite runs it)

PostgreSQL: the server at 127.0.0.1:5432 (``GRIDFLEX_TEST_PG``); skipped (and said so) when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from gridflex.market import Product, ProductKind
from gridflex.store import Principal, Store
from gridflex.store.jobs import execute_clearing_job
from gridflex.store.tables import OrderRow

PG_ADMIN_URL = os.environ.get("GRIDFLEX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DELIVERY = datetime(2030, 1, 2, tzinfo=UTC)
URL_LINE = re.compile(r"serving on (http://\S+)")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its children that ended (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class Database:
    """A fresh database for one run: an SQLite file, or a PostgreSQL database dropped afterwards."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind, self.name = kind, f"gf_bench_{uuid.uuid4().hex[:10]}"
        if kind == "sqlite":
            self.url = f"sqlite:///{folder / 'bench.db'}"
            return
        self.admin = create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        with self.admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url = make_url(PG_ADMIN_URL).set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        if self.kind == "postgresql":
            with self.admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


def _world(store: Store, traders: int) -> tuple[dict[str, str], dict[str, int]]:
    """An operator and ``traders`` participants with one token each; their secrets and org ids."""
    secrets, ids = {}, {}
    with store.repos(Principal.system()) as r:
        for name, role in [("operator", "market_operator")] + [
            (f"t{i}", "aggregator") for i in range(traders)
        ]:
            org = r.accounts.create_org(name, [role])
            ids[name], secrets[name] = org.id, r.accounts.create_token(org.id, "bench").secret
    return secrets, ids


def _operator(ids: dict[str, int]) -> Principal:
    from gridflex.store import Role

    return Principal(ids["operator"], "operator", frozenset({Role.MARKET_OPERATOR}))


async def _post(
    conn: list[asyncio.StreamReader | asyncio.StreamWriter | None],
    host: str,
    port: int,
    path: str,
    head: bytes,
    body: bytes,
) -> tuple[int, bytes]:
    """One POST on a keep-alive connection (opened on first use); the status and body of the answer."""
    if conn[0] is None:
        conn[0], conn[1] = await asyncio.open_connection(host, port)
    reader, writer = conn
    assert isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter)
    writer.write(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
                 % (path.encode(), host.encode(), len(body), head, body))  # fmt: skip
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("closed by the server")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)


async def _burst(url: str, secrets: list[str], n: int, concurrency: int) -> tuple[float, list[float], int]:
    """Submit ``n`` orders with ``concurrency`` in flight; wall seconds, each latency (s) and how many
    requests were retried (a keep-alive connection closed by the server under load: the same
    Idempotency-Key makes the retry safe, and its latency counts from the first try).

    The load is plain HTTP/1.1 on asyncio streams, one keep-alive connection per request in flight:
    httpx spent ~1.5 ms of CPU per request, as much as the server, on the same two cores."""
    host, port = url.split("://", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    retries = 0
    queue = iter(range(n))

    async def worker(w: int) -> None:
        nonlocal retries
        conn: list[asyncio.StreamReader | asyncio.StreamWriter | None] = [None, None]
        auth = f"Authorization: Bearer {secrets[w % len(secrets)]}\r\n"
        for i in queue:
            body = {"product": "BENCH", "side": "buy" if i % 2 else "sell", "isp": i % 24,
                    "quantity_mw": 1 + i % 5, "price_eur_per_mwh": 20 + i % 50}  # fmt: skip
            head, data = f"{auth}Idempotency-Key: o{i}\r\n".encode(), json.dumps(body).encode()
            t0 = time.perf_counter()
            for attempt in range(4):
                try:
                    status, answer = await _post(conn, host, int(port), "/v1/orders", head, data)
                    break
                except (OSError, asyncio.IncompleteReadError):
                    if attempt == 3:
                        raise
                    retries += 1
                    conn[:] = [None, None]
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                raise RuntimeError(f"order {i}: {status} {answer.decode()}")
        if isinstance(conn[1], asyncio.StreamWriter):
            conn[1].close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return time.perf_counter() - t0, latencies, retries


def _serve(url: str) -> tuple[subprocess.Popen[str], str, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridflex.cli", "serve", "--db", url, "--port", "0", "--rate-limit", "0", "--no-jobs"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdout is not None
    printed = ""
    while (m := URL_LINE.search(printed)) is None:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"gridflex serve ended:\n{printed}")
        printed += line
    base = m[1]
    while True:
        try:
            httpx.get(base + "/health", timeout=30).raise_for_status()
            break
        except httpx.TransportError:
            time.sleep(0.01)
    return proc, base, time.perf_counter() - t0


def _quantile(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1] if len(xs) > 1 else xs[0]


def _gate_closure(store: Store, ids: dict[str, int], n: int) -> dict[str, float]:
    gate = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)  # just closed
    with store.repos(_operator(ids)) as r:
        r.products.create(Product(product_id="GATE", kind=ProductKind.ENERGY_AUCTION,
                                  delivery_start=gate + timedelta(hours=12),
                                  n_isps=24, gate_closure=gate))  # fmt: skip
        job_id = r.jobs.enqueue_clearing("GATE", run_at=gate)
        job_id = job_id.id
    traders = [v for k, v in ids.items() if k != "operator"]
    at = gate - timedelta(hours=1)
    rows = [
        {"participant_org_id": traders[i % len(traders)], "product_id": "GATE", "place": "", "isp": (i // 2) % 24,
         "side": "buy" if i % 2 else "sell", "quantity_mw": 1.0 + i % 7, "price_eur_per_mwh": 20.0 + (i * 37) % 60,
         "execution": "normal", "status": "active", "reason": "", "accepted_mw": 0.0, "client_ref": "",
         "submitted_at": at, "updated_at": at}
        for i in range(n)
    ]  # fmt: skip
    with store.transaction() as s:
        s.execute(insert(OrderRow), rows)
    c0, t0 = time.process_time(), time.perf_counter()
    execute_clearing_job(store, job_id)
    return {"orders": n, "load_clear_persist_s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(time.process_time() - c0, 3)}  # fmt: skip


def _profiler(pid: int, out: str | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server (``--profile``: collapsed stacks, one line per stack), or None."""
    if out is None:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "250", "--nonblocking", "-o", out]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _job_start(store: Store, ids: dict[str, int], lead_s: float = 2.0) -> dict[str, float]:
    """The job runner of `gridflex serve` (its thread and warm process pool) on a product whose gate
    closes ``lead_s`` later: seconds from the gate to the job's start and end."""
    from gridflex.api.worker import JobWorker
    from gridflex.store.jobs import JobRow

    worker = JobWorker(store)
    worker.start()
    try:
        worker.wait_warm()  # a server that has been up a while
        gate = datetime.now(UTC) + timedelta(seconds=lead_s)
        with store.repos(_operator(ids)) as r:
            r.products.create(Product(product_id="START", kind=ProductKind.ENERGY_AUCTION,
                                      delivery_start=gate + timedelta(hours=12), n_isps=24, gate_closure=gate))  # fmt: skip
            job_id = r.jobs.enqueue_clearing("START").id
        while True:
            time.sleep(0.05)
            with store.transaction() as s:
                job = s.get_one(JobRow, job_id)
                if job.finished_at is not None:
                    assert job.started_at is not None and job.status == "succeeded", job.message
                    started, finished = job.started_at, job.finished_at
                    break
    finally:
        worker.stop()
    return {"job_start_after_gate_s": round((started - gate).total_seconds(), 3),
            "job_done_after_gate_s": round((finished - gate).total_seconds(), 3)}  # fmt: skip


def run(
    kind: str, orders: int, concurrency: int, traders: int, book: int, profile: str | None = None
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        try:
            db = Database(kind, Path(folder))
        except Exception as exc:  # no PostgreSQL here: say so in the figures
            return {"skipped": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        try:
            store = Store(db.url)
            store.upgrade()
            secrets, ids = _world(store, traders)
            with store.repos(_operator(ids)) as r:
                r.products.create(Product(product_id="BENCH", kind=ProductKind.ENERGY_AUCTION, delivery_start=DELIVERY,
                                          n_isps=24))  # fmt: skip
            proc, base, cold_s = _serve(db.url)
            try:
                trader_secrets = [v for k, v in secrets.items() if k != "operator"]
                asyncio.run(_burst(base, trader_secrets, min(200, orders), concurrency))  # warm up
                spy = _profiler(proc.pid, profile and f"{profile}.{kind}.txt")
                server_cpu0, load_cpu0 = _cpu_s(proc.pid), resource.getrusage(resource.RUSAGE_SELF)
                wall, lat, retried = asyncio.run(_burst(base, trader_secrets, orders, concurrency))
                server_cpu = _cpu_s(proc.pid) - server_cpu0
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
                    spy.wait(60)
                load_ru = resource.getrusage(resource.RUSAGE_SELF)
                load_cpu = load_ru.ru_utime + load_ru.ru_stime - load_cpu0.ru_utime - load_cpu0.ru_stime
            finally:
                proc.terminate()
                proc.wait(60)
            gate = _gate_closure(store, ids, book) | _job_start(store, ids)
            store.close()
        finally:
            db.drop()
    ms = [x * 1000 for x in lat]
    return {
        "cold_start_s": round(cold_s, 3),
        "submit": {
            "orders": orders, "concurrency": concurrency, "tokens": traders, "retried": retried,
            "orders_per_s": round(orders / wall, 1), "wall_s": round(wall, 3),
            "latency_ms": {"p50": round(statistics.median(ms), 2), "p95": round(_quantile(ms, 95), 2),
                           "p99": round(_quantile(ms, 99), 2)},
            "server_cpu_s": round(server_cpu, 3), "load_generator_cpu_s": round(load_cpu, 3),
            "server_cpu_ms_per_order": round(1000 * server_cpu / orders, 3),
        },
        "gate_closure": gate,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--orders", type=int, default=5000, help="Orders submitted in the measured burst.")
    ap.add_argument("--concurrency", type=int, default=16, help="Requests in flight.")
    ap.add_argument("--tokens", type=int, default=8, help="Participants (one token each) sharing the load.")
    ap.add_argument("--book", type=int, default=100_000, help="Stored orders cleared at the gate closure.")
    ap.add_argument("--profile", metavar="PREFIX", help="Sample the server with py-spy during the burst: "
                    "PREFIX.<db>.txt, collapsed stacks (py-spy: the bench extra).")  # fmt: skip
    ap.add_argument("--smoke", action="store_true", help="Tiny sizes, SQLite only (for the test suite).")
    a = ap.parse_args()
    if a.smoke:
        a.db, a.orders, a.concurrency, a.book = "sqlite", 100, 4, 500
    kinds = ["sqlite", "postgresql"] if a.db == "both" else [a.db]
    out = {"machine_cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    for kind in kinds:
        out[kind] = run(kind, a.orders, a.concurrency, a.tokens, a.book, a.profile)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
