"""`gridflex.client` against the app (in process, both databases) and `gridflex market submit|list|cancel`
against a real `gridflex serve` process: the server's refusals arrive as one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflex.cli import app as cli
from gridflex.client import PAGE, Client, ServerError, ServiceUnreachableError
from tests.api.conftest import Api
from tests.api.test_serve import serving
from tests.store.world import AFTER_GATE, PRODUCT


def client(api: Api, who: str) -> Client:
    return Client("http://testserver", api.world.secrets[who], http=api.client)


def test_submit_list_cancel_through_the_client(api: Api):
    alice, bob = client(api, "alice"), client(api, "bob")
    o = alice.submit_order(PRODUCT.product_id, "buy", 3, 10, 60, idempotency_key="k-1")
    again = alice.submit_order(PRODUCT.product_id, "buy", 3, 10, 60, idempotency_key="k-1")
    assert o == again and o["status"] == "active" and o["quantity_mw"] == 10
    bob.submit_order(PRODUCT.product_id, "sell", 3, 4, 20)
    assert [x["id"] for x in alice.list_orders()] == [o["id"]]  # her own only
    assert len(client(api, "operator").list_orders()) == 2
    assert alice.cancel_order(o["id"])["status"] == "cancelled"
    assert alice.list_orders(status="active") == []
    with pytest.raises(ServerError) as e:
        alice.cancel_order(o["id"])
    assert (
        e.value.status == 409
        and str(e.value) == f"POST /v1/orders/{o['id']}/cancel: 409 order {o['id']} is cancelled, not active"
    )
    with pytest.raises(ServerError) as e:
        bob.get_order(o["id"])
    assert e.value.status == 404  # another tenant's order is not found


def test_a_refusal_is_one_line_naming_the_fields(api: Api):
    with pytest.raises(ServerError) as e:
        client(api, "alice").submit_order(PRODUCT.product_id, "hold", 3, -1, 60)
    msg = str(e.value)
    assert "\n" not in msg and e.value.status == 422
    assert msg.startswith("POST /v1/orders: 422 ") and "side:" in msg and "quantity_mw:" in msg
    with pytest.raises(ServerError, match="401 unknown token"):
        Client("http://testserver", "gfx_wrong", http=api.client).me()


def test_lists_follow_the_pages(api: Api):
    n = PAGE + 5  # more than one page of the server
    with api.store.repos(api.world.principals["alice"]) as r:
        for i in range(n):
            r.orders.submit({"product": PRODUCT.product_id, "side": "buy", "isp": i % 24, "quantity_mw": 1,
                             "price_eur_per_mwh": 10})  # fmt: skip
    alice = client(api, "alice")
    ids = [o["id"] for o in alice.list_orders()]
    assert len(ids) == n == len(set(ids)) and ids == sorted(ids)
    assert len(alice.list_orders(limit=7)) == 7
    api.clock[0] = AFTER_GATE
    client(api, "operator").run_clearing(PRODUCT.product_id)
    assert alice.list_trades() == []  # no seller: nothing traded


def test_an_unreachable_server_is_one_line():
    with pytest.raises(ServiceUnreachableError, match="not a server URL"):
        Client("localhost:1", "t")
    with pytest.raises(ServiceUnreachableError, match=r"GET http://127.0.0.1:9/v1/me"):
        Client("http://127.0.0.1:9", "t", timeout_s=2).me()  # the discard port: connection refused


def test_market_commands_on_a_real_server(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner().invoke
    for name, role in (("op", "market_operator"), ("alice", "prosumer")):
        assert run(cli, ["accounts", "create-org", name, "--role", role, "--db", db]).exit_code == 0
    op = run(cli, ["accounts", "create-token", "op", "--db", db]).output.strip()
    alice = run(cli, ["accounts", "create-token", "alice", "--db", db]).output.strip()
    with serving(db, tmp_path) as (url, _):
        future = {"delivery_start": "2030-01-02T00:00:00Z", "gate_closure": None}  # the clock is real here
        Client(url, op).create_product(json.loads(PRODUCT.model_dump_json()) | future)

        def gf(*args: str, token: str = alice) -> subprocess.CompletedProcess[str]:
            cmd = [sys.executable, "-m", "gridflex.cli", "market", *args, "--server", url, "--token", token]
            return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

        sub = gf("submit", "--product", PRODUCT.product_id, "--side", "buy", "--isp", "8",
                 "--quantity-mw", "10", "--price", "60", "--idempotency-key", "a-1")  # fmt: skip
        assert sub.returncode == 0, sub.stderr
        order = json.loads(sub.stdout)
        assert order["status"] == "active" and "order 1: active" in sub.stderr
        listed = gf("list")
        assert listed.returncode == 0 and [o["id"] for o in json.loads(listed.stdout)] == [order["id"]]
        cancelled = gf("cancel", str(order["id"]))
        assert json.loads(cancelled.stdout)["status"] == "cancelled"
        again = gf("cancel", str(order["id"]))
        assert again.returncode == 2 and again.stdout == ""
        assert again.stderr.strip() == "error: POST /v1/orders/1/cancel: 409 order 1 is cancelled, not active"
        bad = gf(
            "submit", "--product", PRODUCT.product_id, "--side", "buy", "--isp", "8", "--quantity-mw", "-1"
        )
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
        assert "422 quantity_mw: Input should be greater than 0" in bad.stderr
        # after the trade: a provider uploads readings, sees its activations and statements
        Client(url, alice).register_connection_point("EAN-9")
        meter = tmp_path / "meter.csv"
        meter.write_text("time_utc,EAN-9\n2030-01-02T00:00:00Z,1.5\n2030-01-02T00:15:00Z,2\n")
        up = gf("readings", str(meter))
        assert up.returncode == 0 and json.loads(up.stdout)["inserted"] == 2, up.stderr
        assert json.loads(gf("activations").stdout) == []
        ack = gf("acknowledge", "7", "--connection-point", "EAN-9")
        assert ack.returncode == 2 and "404 activation 7 not found" in ack.stderr
        st = gf("statement", "3", "--period", "D")
        assert st.returncode == 2 and "404 settlement 3 not found" in st.stderr
        stranger = gf("list", token="gfx_" + "x" * 43)
        assert stranger.returncode == 2 and "401 unknown token" in stranger.stderr
    down = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "market", "list", "--server", url, "--token", alice],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert down.returncode == 2 and down.stderr.startswith("error: GET ") and "Traceback" not in down.stderr
