"""`gridflex rm simulate` and `gridflex cem serve` as a user meets them: TLS verified by default,
connection failures in one line with a non-zero exit, the options refused before anything starts."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import connect

from gridflex.cli import app
from gridflex.cli.s2 import SIM_KINDS
from gridflex.s2 import KINDS
from gridflex.s2 import server as server_mod
from gridflex.s2.rm.simulators import RMConnectError, Simulator
from gridflex.s2.server import tls_context
from tests.s2.cem_thread import cem_in_thread, free_port, make_certs
from tests.s2.helpers import TOKEN, run

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / "examples" / "sites" / "home.yaml"


def lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.strip()]


def sim(*args: str) -> tuple[int, list[str]]:
    r = CliRunner().invoke(app, ["rm", "simulate", *args])
    return r.exit_code, lines(r.output)


def test_help_lists_every_kind() -> None:
    assert SIM_KINDS == KINDS
    r = CliRunner().invoke(app, ["rm", "simulate", "--help"], env={"COLUMNS": "400"})
    assert r.exit_code == 0
    assert all(k in r.output for k in KINDS), r.output


# ── connection failures: one line naming the URL and why, exit 2 ─────────────────────────────────


def test_unknown_token_fails_at_once_without_retry() -> None:
    with cem_in_thread() as (_, port):
        url = f"ws://127.0.0.1:{port}/s2"
        code, out = sim("battery", "--url", url, "--token", "wrong", "--retries", "5")
        assert code == 2 and len(out) == 1, out
        assert url in out[0] and "401" in out[0], out
        bad = Simulator("battery", url, "wrong", retries=5)
        with pytest.raises(RMConnectError, match="401"):
            run(bad.run(duration_s=60))
        assert bad.attempts == 1  # never retried


def test_not_found_is_retried_a_bounded_number_of_times() -> None:
    with cem_in_thread() as (_, port):
        url = f"ws://127.0.0.1:{port}/nowhere"
        code, out = sim("battery", "--url", url, "--token", TOKEN, "--retries", "0")
        assert code == 2 and len(out) == 1 and "404" in out[0] and url in out[0], out
        s = Simulator("battery", url, TOKEN, retries=2)
        with pytest.raises(RMConnectError, match="404"):
            run(s.run(duration_s=60))
        assert s.attempts == 3  # the first try and 2 retries, with backoff between


def test_refused_connection_and_bad_url() -> None:
    url = f"ws://127.0.0.1:{free_port()}/s2"
    code, out = sim("battery", "--url", url, "--token", TOKEN, "--retries", "1")
    assert code == 2 and len(out) == 1 and "refused" in out[0] and url in out[0], out
    for bad in ("http://127.0.0.1:1/s2", "not a url"):
        code, out = sim("pv", "--url", bad, "--token", TOKEN)
        assert code == 2 and len(out) == 1 and "URL" in out[0], out


def test_non_uuid_resource_id_is_accepted() -> None:
    with cem_in_thread() as (cem, port):
        url = f"ws://127.0.0.1:{port}/s2"
        args = ["--url", url, "--token", TOKEN, "--speed", "20", "--duration-s", "10"]
        code, out = sim("battery", *args, "--resource-id", "meter-7:a.b_c")
        assert code == 0, out
        assert cem.devices["meter-7:a.b_c"].details is not None  # the whole session ran
        code, out = sim("battery", *args, "--resource-id", "a/b")
        assert code == 2 and len(out) == 1 and "resource-id" in out[0], out


# ── TLS: the CEM's certificate is verified ──────────────────────────────────────────────────────


def test_wss_verifies_the_certificate(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    with cem_in_thread(tls_context(certs["cert"], certs["key"])) as (cem, port):
        url = f"wss://127.0.0.1:{port}/s2"
        base = ["battery", "--url", url, "--token", TOKEN, "--speed", "20", "--duration-s", "5"]
        code, out = sim(*base)  # self-made CA, not trusted: refused before the token is sent
        assert code == 2 and len(out) == 1 and "not trusted" in out[0] and url in out[0], out
        assert not cem.devices
        code, out = sim(*base, "--cafile", str(certs["ca"]), "--resource-id", "via-ca")
        assert code == 0, out
        code, out = sim(*base, "--insecure", "--resource-id", "insecure")
        assert code == 0, out
        assert {"via-ca", "insecure"} <= set(cem.devices)
        code, out = sim(*base, "--cafile", str(tmp_path / "missing.pem"))
        assert code == 2 and len(out) == 1 and "missing.pem" in out[0], out


# ── cem serve: options, errors naming the file, "listening" only once bound ─────────────────────


def serve(*args: str) -> tuple[int, list[str]]:
    r = CliRunner().invoke(app, ["cem", "serve", "--site", str(HOME), *args])
    return r.exit_code, lines(r.output)


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--keyfile", "k.pem"], "keyfile"), (["--certfile", "c.pem"], "certfile"),
     (["--port", "70000"], "port"), (["--port", "-1"], "port"), (["--speed", "0"], "speed"),
     (["--speed", "nan"], "speed"), (["--start", "soon"], "start"), (["--start", "2018-06-12T06:00:00"], "start")],
)  # fmt: skip
def test_cem_serve_refuses_bad_options(tmp_path: Path, args: list[str], field: str) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t\n")
    code, out = serve("--tokens", str(tokens), *args)
    assert code == 2 and len(out) == 1 and field in out[0] and "listening" not in out[0], out


def test_cem_serve_errors_name_the_file(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t\n")
    bad_site = tmp_path / "broken.yaml"
    bad_site.write_text("x: [\n")
    r = CliRunner().invoke(app, ["cem", "serve", "--site", str(bad_site), "--tokens", str(tokens)])
    assert r.exit_code == 2 and "broken.yaml" in r.output and "listening" not in r.output, r.output
    code, out = serve("--tokens", str(tmp_path / "none.txt"))
    assert code == 2 and len(out) == 1 and "none.txt" in out[0], out
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    code, out = serve("--tokens", str(tokens), "--certfile", str(junk), "--keyfile", str(junk))
    assert code == 2 and len(out) == 1 and "junk.pem" in out[0], out


def test_cem_serve_port_in_use_is_one_line(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        code, out = serve("--tokens", str(tokens), "--port", str(s.getsockname()[1]))
    assert code == 2 and len(out) == 1 and "listening" not in " ".join(out), out


def test_warns_when_listening_on_the_network_without_tls(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    async def nothing(*a: object, **k: object) -> None:
        return None

    monkeypatch.setattr(server_mod, "run_cem", nothing)  # no socket: only the checks before it
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t\n")
    with caplog.at_level(logging.WARNING, logger="gridflex.s2"):
        server_mod.serve(HOME, host="127.0.0.1", port=0, tokens_path=tokens)
        assert not caplog.records
        server_mod.serve(HOME, host="0.0.0.0", port=0, tokens_path=tokens)
    assert any("without TLS" in r.getMessage() for r in caplog.records)
    assert server_mod.is_loopback("::1") and server_mod.is_loopback("localhost")
    assert not server_mod.is_loopback("192.168.1.2") and not server_mod.is_loopback("cem.example")


def test_cem_serve_prints_listening_once_bound(tmp_path: Path) -> None:
    """A real `gridflex cem serve` on port 0: the line names the bound port, which accepts an RM at
    once; SIGTERM then ends it cleanly (exit 0)."""
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{TOKEN}\nadmin-token @admin\n")
    cmd = [str(Path(sys.executable).parent / "gridflex"), "cem", "serve", "--site", str(HOME), "--tokens", str(tokens),
           "--port", "0", "--log-level", "WARNING", "--speed", "10", "--start", "2018-06-12T06:00:00Z"]  # fmt: skip
    env = {**os.environ, "COLUMNS": "300"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        m = re.search(r"listening on ws://127\.0\.0\.1:(\d+)/s2", first)
        assert m and int(m.group(1)) > 0, first
        s = Simulator(
            "pv", f"ws://127.0.0.1:{m.group(1)}/s2", TOKEN, resource_id=str(uuid.uuid4()), retries=0
        )
        run(s.run(duration_s=0.5))
        assert s.connections == 1

        async def status() -> dict[str, object]:
            hdr = {"Authorization": "Bearer admin-token"}
            async with connect(f"ws://127.0.0.1:{m.group(1)}/admin", additional_headers=hdr) as ws:
                await ws.send('{"action": "status"}')
                return dict(json.loads(await ws.recv()))

        assert str(run(status())["start"]).startswith("2018-06-12T0")  # the CEM runs on --start's clock
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cem_serve_refuses_at_start_a_site_that_cannot_roll(tmp_path: Path) -> None:
    # a 4 h horizon cannot hold the home's overnight EV session or the washing machine's window:
    # refused once, naming the file and the fields, before listening (not at every plan)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("t\n")
    short = tmp_path / "home-4h.yaml"
    short.write_text(
        HOME.read_text(encoding="utf-8").replace(
            'end: "2018-06-13T12:00:00+02:00"', 'end: "2018-06-12T16:00:00+02:00"'
        ),
        encoding="utf-8",
    )
    r = CliRunner().invoke(
        app, ["cem", "serve", "--site", str(short), "--tokens", str(tokens), "--port", "0"]
    )
    assert r.exit_code == 2 and "home-4h.yaml" in r.output and "listening" not in r.output, r.output
    assert "departure" in r.output or "latest_end" in r.output, r.output
