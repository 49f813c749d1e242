"""`gridflex market baseline` and `gridflex market settle` on the examples in examples/market/."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridflex.cli import app

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ROOT / "examples" / "market" / "baselines"
SETTLEMENT = ROOT / "examples" / "market" / "settlement"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_baseline_example_reproduces_the_settlement_baseline(tmp_path):
    out = tmp_path / "baseline.csv"
    r = run(
        "market", "baseline", BASELINES / "simbench_2016_spring_kw.csv", BASELINES / "x_of_y.json", "-o", out
    )
    assert r.exit_code == 0, r.output
    computed = pd.read_csv(out, index_col="time_utc")
    shipped = pd.read_csv(SETTLEMENT / "baseline.csv", index_col="time_utc")
    # the settlement example's baseline is this command's output on its day and meters
    np.testing.assert_allclose(
        computed.loc[shipped.index, shipped.columns], shipped, atol=5.01e-4
    )  # shipped rounded to 3 decimals
    assert computed.iloc[: 96 * 7].isna().all().all()  # the first week has no history: no baseline


def test_baseline_prints_csv_without_out():
    r = run("market", "baseline", BASELINES / "simbench_2016_spring_kw.csv", BASELINES / "mbma.json")
    assert r.exit_code == 0
    frame = pd.read_csv(io.StringIO(r.stdout))
    assert frame.columns[0] == "time_utc" and frame.shape[1] == 9  # eight meters
    assert len(frame) == 4028


def test_settle_example_money_balances(tmp_path):
    out, summary = tmp_path / "statements.csv", tmp_path / "summary.json"
    r = run("market", "settle", SETTLEMENT / "document.json", SETTLEMENT / "metered.csv",
            SETTLEMENT / "baseline.csv", "-o", out, "--period", "D", "--summary", summary)  # fmt: skip
    assert r.exit_code == 0, r.output
    statements = pd.read_csv(out)
    assert statements.amount_eur.sum() == pytest.approx(0.0, abs=1e-9)
    assert set(statements.period_start_utc) == {"2016-04-12T00:00:00Z"}
    res = json.loads(summary.read_text())
    [act] = res["activations"]
    assert act["ordered_kwh"] == pytest.approx(34.0)  # 17 kW for two hours
    assert sum(t["net_eur"] for t in res["totals_eur"].values()) == pytest.approx(0.0, abs=1e-9)
    assert res["totals_eur"]["agr-1"]["availability"] == pytest.approx(1.36)


def test_settle_prints_per_isp_statements_without_out():
    r = run(
        "market",
        "settle",
        SETTLEMENT / "document.json",
        SETTLEMENT / "metered.csv",
        SETTLEMENT / "baseline.csv",
    )
    assert r.exit_code == 0
    statements = pd.read_csv(io.StringIO(r.stdout))
    assert statements.groupby("period_start_utc").amount_eur.sum().abs().max() < 1e-9


def _one_line_exit_2(r) -> str:
    assert r.exit_code == 2
    assert "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    return r.stderr


def test_bad_inputs_are_one_line_exit_2(tmp_path):
    bad_doc = tmp_path / "bad.json"
    bad_doc.write_text('{"baseline": {"method": "x_of_y", "x": -1}}')
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("time_utc,a\n2016-04-12T00:00:00Z,1\nnot a time,2\n")
    csv = BASELINES / "simbench_2016_spring_kw.csv"
    assert "x" in _one_line_exit_2(run("market", "baseline", csv, bad_doc))
    assert "line 3" in _one_line_exit_2(run("market", "baseline", bad_csv, BASELINES / "x_of_y.json"))
    assert "missing.csv" in _one_line_exit_2(
        run("market", "baseline", tmp_path / "missing.csv", BASELINES / "x_of_y.json")
    )
    # a baseline on other meters/times than the metered file
    assert "must match" in _one_line_exit_2(
        run("market", "settle", SETTLEMENT / "document.json", SETTLEMENT / "metered.csv", csv)
    )
    assert "period" in _one_line_exit_2(
        run(
            "market",
            "settle",
            SETTLEMENT / "document.json",
            SETTLEMENT / "metered.csv",
            SETTLEMENT / "baseline.csv",
            "--period",
            "fortnight",
        )
    )
    doc = json.loads((SETTLEMENT / "document.json").read_text())
    doc["activations"][0]["meters"] = ["nobody"]
    (tmp_path / "doc.json").write_text(json.dumps(doc))
    assert "nobody" in _one_line_exit_2(
        run(
            "market", "settle", tmp_path / "doc.json", SETTLEMENT / "metered.csv", SETTLEMENT / "baseline.csv"
        )
    )


def test_nominated_baseline_reads_the_prognosis(tmp_path):
    doc = tmp_path / "nominated.json"
    doc.write_text('{"tz": "Europe/Berlin", "baseline": {"method": "nominated"}}')
    out = tmp_path / "baseline.csv"
    metered = SETTLEMENT / "metered.csv"
    r = run("market", "baseline", metered, doc, "--prognosis", SETTLEMENT / "baseline.csv", "-o", out)
    assert r.exit_code == 0, r.output
    # the nominated baseline is the prognosis itself
    pd.testing.assert_frame_equal(
        pd.read_csv(out), pd.read_csv(SETTLEMENT / "baseline.csv"), check_exact=False
    )
    r = run("market", "baseline", metered, doc)
    assert "prognosis" in _one_line_exit_2(r)  # nominated without --prognosis


@pytest.mark.parametrize(
    ("schema", "example"),
    [("baseline", BASELINES / "x_of_y.json"), ("baseline", BASELINES / "mbma.json"),
     ("settlement", SETTLEMENT / "document.json")],
)  # fmt: skip
def test_the_examples_follow_the_committed_schemas(schema, example):
    import jsonschema

    committed = json.loads((ROOT / "docs" / "schemas" / "market" / f"{schema}.schema.json").read_text())
    jsonschema.validate(json.loads(example.read_text()), committed)


# ── a capacity call carried down to the devices ─────────────────────────────────────────────────

MARKET = ROOT / "examples" / "market"


def test_dispatch_example_reaches_every_device(tmp_path):
    from gridflex.cli.flexoffers import read_document
    from gridflex.flexoffer.validate import validate_schedule

    r = run("market", "dispatch", MARKET / "capacity_devices.json",
            "--fleet", f"prosumers={MARKET / 'flexoffers.json'}", "-o", tmp_path)  # fmt: skip
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "dispatch.json").read_text())
    [call] = summary["calls"]
    site = call["sites"]["prosumers"]
    assert site["called_kw"] == pytest.approx(5.0) and len(site["planned_kw"]) == 4  # 1 h of 15 min
    assert all(d <= p - 5.0 + 1e-6 for p, d in zip(site["planned_kw"], site["dispatched_kw"], strict=True))
    devices = read_document(tmp_path / "call-0-prosumers.json").batch
    assert len(devices) == site["devices"] == 20
    assert devices.schedule is not None and validate_schedule(devices, devices.schedule) == []


def test_dispatch_bad_inputs_are_one_line_exit_2(tmp_path):
    fleet = f"prosumers={MARKET / 'flexoffers.json'}"
    doc = MARKET / "capacity_devices.json"
    assert "SITE=FILE" in _one_line_exit_2(
        run("market", "dispatch", doc, "--fleet", "prosumers", "-o", tmp_path)
    )
    other = f"elsewhere={MARKET / 'flexoffers.json'}"
    assert "prosumers" in _one_line_exit_2(run("market", "dispatch", doc, "--fleet", other, "-o", tmp_path))
    late = json.loads(doc.read_text())
    late["activations"][0]["start"] = "2018-06-13T05:00:00Z"  # after the activation calendar
    (tmp_path / "late.json").write_text(json.dumps(late))
    assert "calendar" in _one_line_exit_2(
        run("market", "dispatch", tmp_path / "late.json", "--fleet", fleet, "-o", tmp_path)
    )
