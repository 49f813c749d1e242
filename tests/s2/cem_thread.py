"""A CEM on a real socket in a thread of its own, for tests that drive a blocking client (the CLI)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.s2.helpers import TOKEN, small_site


@contextlib.contextmanager
def cem_in_thread(ssl_context: ssl.SSLContext | None = None, **kw: Any) -> Iterator[tuple[Any, int]]:
    """A CEM on 127.0.0.1 (ephemeral port, its own loop and thread); yields it and its port."""
    from gridflex.s2.server import CEM

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            box["cem"] = cem = CEM(small_site(), {TOKEN: None}, ping_interval_s=None, **kw)
            box["port"] = await cem.start("127.0.0.1", 0, ssl_context)
            ready.set()

        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(30), "the CEM did not start"
    try:
        yield box["cem"], box["port"]
    finally:
        asyncio.run_coroutine_threadsafe(box["cem"].stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certs(folder: Path) -> dict[str, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it (openssl), as PEM files."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    p = {n: folder / f"{n}.pem" for n in ("ca", "ca_key", "cert", "key", "csr")}
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")

    def sh(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    sh(
        "req",
        "-x509",
        *ec,
        "-keyout",
        p["ca_key"],
        "-out",
        p["ca"],
        "-days",
        "2",
        "-subj",
        "/CN=gridflex test CA",
    )
    sh("req", *ec, "-keyout", p["key"], "-out", p["csr"], "-subj", "/CN=127.0.0.1")
    sh("x509", "-req", "-in", p["csr"], "-CA", p["ca"], "-CAkey", p["ca_key"], "-CAcreateserial",
       "-out", p["cert"], "-days", "2", "-extfile", folder / "san.ext")  # fmt: skip
    return p
