"""`gridflex market ...` on the examples in examples/market/, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflex.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "market"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def _out(tmp_path, cmd, name):
    out = tmp_path / f"{name}.out.json"
    r = run("market", cmd, str(EXAMPLES / f"{name}.json"), "-o", str(out))
    assert r.exit_code == 0, r.output
    return json.loads(out.read_text())


def test_clear_example(tmp_path):
    res = _out(tmp_path, "clear", "auction")
    assert len(res["cells"]) == 24 and all(c["volume_mw"] > 0 for c in res["cells"])
    rejected = {o["order_id"] for o in res["orders"] if o["status"] == "rejected"}
    assert rejected == {"bad-negative", "bad-product", "bad-late", "bad-isp", "bad-price"}
    assert res["paid_by_buyers_eur"] == pytest.approx(res["received_by_sellers_eur"])
    assert {b["order_id"]: b["accepted"] for b in res["blocks"]} == {
        "baseload-nuke": True, "peak-ccgt": False, "night-electrolyser": True,
    }  # fmt: skip
    for b in res["blocks"]:
        assert (b["surplus_eur"] >= 0) if b["accepted"] else True


def test_clear_prints_json_on_stdout_without_out():
    r = run("market", "clear", str(EXAMPLES / "auction.json"))
    assert r.exit_code == 0
    assert json.loads(r.stdout)["welfare_eur"] > 0


def test_book_example(tmp_path):
    res = _out(tmp_path, "book", "book")
    assert [t["price_eur_per_mwh"] for t in res["trades"]] == [47.5, 47.5, 47.5, 48.0]
    st = {k: v["status"] for k, v in res["orders"].items()}
    assert st["fok"] == "cancelled" and st["b2"] == "cancelled" and st["rest"] == "expired"
    assert st["late"] == "rejected" and st["neg"] == "rejected"


def test_local_examples(tmp_path):
    res = _out(tmp_path, "local", "local")
    assert {o["offer_id"] for o in res["flex_orders"]} == {"cold-store", "cold-store-2"}
    assert all(v["unmet_mw"] == 0 for v in res["requests"].values())
    assert max(res["max_loading"].values()) <= 1.0 + 1e-9
    assert res["offers"]["bad-power"]["status"] == "rejected"
    gop = _out(tmp_path, "local", "local_gopacs")
    assert gop["pairs"] and all(p["up_offer"] == "sell-inside" for p in gop["pairs"])


def test_capacity_examples(tmp_path):
    res = _out(tmp_path, "capacity", "capacity")
    assert {a["bid_id"] for a in res["award"]["awards"]} == {"pool-schools", "chp"}
    assert res["activations"][0]["activated_mw"] == pytest.approx(1.2)
    fcr = _out(tmp_path, "capacity", "fcr")
    assert fcr["award"]["clearing_price_eur_per_mw_h"] == 15.0
    assert "too slow" in fcr["award"]["reasons"]["ccgt"]


@pytest.mark.parametrize(
    "content, words",
    [
        ("{not json", "problem"),
        ('{"products": [], "orders": [{"order_id": "a"}]}', "orders.0"),
        ('{"tender": {}, "bids": []}', "tender"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, content, words):
    f = tmp_path / "bad.json"
    f.write_text(content)
    cmd = "capacity" if "tender" in content else "clear"
    r = run("market", cmd, str(f))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]


def test_missing_file_exit_2(tmp_path):
    r = run("market", "local", str(tmp_path / "nope.json"))
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_schemas_command_writes_the_committed_schemas(tmp_path):
    assert run("market", "schemas", str(tmp_path)).exit_code == 0
    for p in tmp_path.glob("*.json"):
        assert p.read_text() == (ROOT / "docs" / "schemas" / "market" / p.name).read_text()


def test_trade_example_writes_member_schedules_inside_their_offers(tmp_path):
    from gridflex.flexoffer.io import read_flexoffers
    from gridflex.flexoffer.validate import validate_schedule

    out, sched = tmp_path / "trade.json", tmp_path / "members.json"
    r = run("market", "trade", str(EXAMPLES / "flexoffers.json"), "--schedules", str(sched), "-o", str(out))
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["accepted"] and res["buyer_value_eur"] >= res["price_eur"] > 0
    assert res["price_eur"] == pytest.approx(res["prosumer_payments_eur"] + res["aggregator_margin_eur"])
    members = read_flexoffers(sched)
    assert members.schedule is not None and validate_schedule(members, members.schedule) == []


def test_a_network_that_does_not_fit_is_one_line_and_exit_2(tmp_path):
    doc = json.loads((EXAMPLES / "local.json").read_text())
    doc["network"]["base_flow_mw"] = doc["network"]["base_flow_mw"][:1]
    f = tmp_path / "bad-network.json"
    f.write_text(json.dumps(doc))
    r = run("market", "local", str(f))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "base_flow_mw" in lines[0]
