"""A real `gridflex serve` process (subprocess, ephemeral port) on SQLite and PostgreSQL, and the
`gridflex accounts` / `gridflex db` commands."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from typer.testing import CliRunner

from gridflex.cli import app as cli
from gridflex.store.migrate import head_revision

URL = re.compile(r"serving on (http://\S+)")
TOKEN = re.compile(r"(gfx_[A-Za-z0-9_-]{43})")
STARTUP_LIMIT_S = 120  # a bound against hanging, not a performance claim


@contextmanager
def serving(
    db_url: str, cwd: Path, procs: list[subprocess.Popen] | None = None, args: tuple[str, ...] = ()
) -> Iterator[tuple[str, str | None]]:
    """Start `gridflex serve --port 0`; yield its URL and the first admin token (None if not printed).
    The server leads its own process group: ``os.killpg`` kills it with its job workers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridflex.cli", "serve", "--db", db_url, "--port", "0", *args],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
    )  # fmt: skip
    if procs is not None:
        procs.append(proc)  # the caller may kill it
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if URL.search(line):  # the last line serve prints before serving
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        ready.wait(STARTUP_LIMIT_S)
        text = "".join(lines)
        url = URL.search(text)
        assert url, f"no URL printed:\n{text}"
        token = TOKEN.search(text)
        yield url[1], token[1] if token else None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(STARTUP_LIMIT_S)
        assert "Traceback" not in "".join(lines), "".join(lines)


def _get(url: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for _ in range(200):  # the socket accepts at once; retry only if the process is slow to answer
        try:
            return httpx.get(url + path, headers=headers, timeout=30)
        except httpx.TransportError:
            threading.Event().wait(0.1)
    raise AssertionError(f"{url}{path} never answered")


def test_gridflex_serve_answers_health_and_an_authenticated_request(db_url: str, tmp_path: Path):
    with serving(db_url, tmp_path) as (url, token):
        assert token is not None, "a new store prints the first admin token"
        assert _get(url, "/health").json()["status"] == "ok"
        assert _get(url, "/v1/me").status_code == 401
        me = _get(url, "/v1/me", token)
        assert me.status_code == 200 and me.json()["roles"] == ["admin"]
    with serving(db_url, tmp_path) as (url, again):
        assert again is None  # printed once only
        assert _get(url, "/v1/me", token).status_code == 200  # the digest was kept, not the secret


def test_accounts_commands_bootstrap_from_the_shell(tmp_path: Path):
    db = ["--db", f"sqlite:///{tmp_path / 'g.db'}"]
    run = CliRunner().invoke
    r = run(cli, ["accounts", "create-org", "dso-west", "--role", "dso", "--role", "brp", *db])
    assert r.exit_code == 0, r.output
    r = run(cli, ["accounts", "create-token", "dso-west", "--name", "scada", *db])
    secret = r.output.strip()
    assert r.exit_code == 0 and TOKEN.fullmatch(secret), r.output
    listed = run(cli, ["accounts", "list", *db]).output
    assert "dso-west" in listed and "scada" in listed and secret not in listed
    assert run(cli, ["accounts", "revoke-token", "1", *db]).exit_code == 0
    bad = run(cli, ["accounts", "create-org", "x", "--role", "wizard", *db])
    assert bad.exit_code == 2 and "unknown role 'wizard'" in bad.output
    assert run(cli, ["accounts", "create-token", "nobody", *db]).exit_code == 2
    up = run(cli, ["db", "upgrade", *db])
    assert up.exit_code == 0 and f"revision {head_revision()}" in up.output  # the newest migration


def test_db_upgrade_creates_the_default_file_in_the_current_folder(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "db", "upgrade"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gridflex.db").exists()


def test_sigkill_during_a_burst_loses_and_doubles_no_accepted_order(db_url: str, tmp_path: Path):
    """Clients retry with their Idempotency-Key after the crash: one order per key, and every order
    acknowledged (201) before the kill is still there with the same id."""
    from concurrent.futures import ThreadPoolExecutor

    n = 150
    body = {"product": "DA-2030-01-02", "side": "buy", "isp": 3, "quantity_mw": 1, "price_eur_per_mwh": 50}
    acked: dict[int, int] = {}
    procs: list[subprocess.Popen] = []
    with serving(db_url, tmp_path, procs) as (url, admin):
        a = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=url, timeout=30) as c:
            op = c.post(
                "/v1/participants", json={"name": "op", "roles": ["market_operator"]}, headers=a
            ).json()
            al = c.post("/v1/participants", json={"name": "al", "roles": ["prosumer"]}, headers=a).json()
            op_tok = c.post("/v1/tokens", json={"name": "t", "org_id": op["id"]}, headers=a).json()["secret"]
            al_tok = c.post("/v1/tokens", json={"name": "t", "org_id": al["id"]}, headers=a).json()["secret"]
            product = {"product_id": "DA-2030-01-02", "kind": "energy_auction",
                       "delivery_start": "2030-01-02T00:00:00Z", "n_isps": 24}  # fmt: skip
            assert (
                c.post(
                    "/v1/products", json=product, headers={"Authorization": f"Bearer {op_tok}"}
                ).status_code
                == 201
            )
        h = {"Authorization": f"Bearer {al_tok}"}

        def submit(i: int) -> None:
            try:
                r = httpx.post(
                    url + "/v1/orders", json=body, headers={**h, "Idempotency-Key": f"k{i}"}, timeout=30
                )
            except httpx.TransportError:
                return  # the server died: the client will retry
            if r.status_code == 201:
                acked[i] = r.json()["id"]

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(submit, i) for i in range(n)]
            while len(acked) < 20 and not all(f.done() for f in futures):
                threading.Event().wait(0.01)
            os.killpg(procs[0].pid, signal.SIGKILL)  # mid-burst, no goodbye (with its job workers)
    assert 0 < len(acked) < n, "the kill should land inside the burst"
    with serving(db_url, tmp_path) as (url, _), httpx.Client(base_url=url, headers=h, timeout=30) as c:
        ids = {}
        for i in range(n):
            r = c.post("/v1/orders", json=body, headers={"Idempotency-Key": f"k{i}"})
            assert r.status_code == 201, r.text
            ids[i] = r.json()["id"]
        listed = c.get("/v1/orders?limit=1000").json()
    assert all(ids[i] == acked[i] for i in acked)  # acknowledged before the kill: kept, same order
    assert len(listed) == n == len(set(ids.values()))  # one order per key, none doubled
