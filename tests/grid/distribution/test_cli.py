"""`gridflex grid forecast` and `grid envelopes`: outputs on good input, one line and exit code 2 on bad input."""

import json

import pandapower as pp
import pytest
from typer.testing import CliRunner

from gridflex.cli import app
from gridflex.grid.distribution.requests import FlexRequestBatch

runner = CliRunner()


def test_stressed_winter_day_writes_requests_report_and_summary(tmp_path):
    res = runner.invoke(
        app,
        [
            "grid",
            "forecast",
            "mv-semiurb",
            "--day",
            "2016-01-20",
            "--stress",
            "winter",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    batch = FlexRequestBatch.model_validate_json((tmp_path / "requests.json").read_text())
    assert batch.requests and batch.periods == 96
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["violations"] > 0 and summary["max_loading_pct"] > 100
    html = (tmp_path / "report.html").read_text()
    assert "Loading per branch" in html and "Needs of CP" in html and "ODbL" in html


def test_week_ahead_on_a_small_grid(tmp_path):
    res = runner.invoke(
        app,
        [
            "grid",
            "forecast",
            "lv-rural1-storage",
            "--day",
            "2016-03-07",
            "--days",
            "7",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "summary.json").read_text())["periods"] == 7 * 96


def test_cigre_and_pandapower_json_networks_get_flat_profiles(tmp_path):
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 0.4, name="A"), pp.create_bus(net, 0.4, name="B")
    pp.create_ext_grid(net, b0)
    pp.create_line_from_parameters(net, b0, b1, 0.3, 0.2, 0.08, 200.0, 0.1, name="cable")
    pp.create_load(net, b1, p_mw=0.08, name="street")
    path = tmp_path / "feeder.json"
    pp.to_json(net, str(path))
    res = runner.invoke(
        app, ["grid", "forecast", str(path), "--day", "2024-05-01", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert (
        json.loads((tmp_path / "o" / "summary.json").read_text())["violations"] == 1
    )  # 80 kW on a 100 A cable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch"], "unknown network 'nosuch'"),
        (["mv-semiurb", "--day", "20160120"], "--day"),
        (["mv-semiurb", "--day", "2019-01-01"], "not a period of the profiles"),
        (["mv-semiurb", "--stress", "hot"], "--stress"),
        (["mv-semiurb", "--stress", "winter", "--ev-share", "2"], "stress.ev_share"),
        (["missing.json"], "no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, args, message):
    res = runner.invoke(app, ["grid", "forecast", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in res.output


def test_a_network_with_an_island_is_refused_naming_the_element(tmp_path):
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 0.4), pp.create_bus(net, 0.4)
    pp.create_ext_grid(net, b0)
    pp.create_load(net, b1, p_mw=0.01, name="orphan")
    pp.to_json(net, str(tmp_path / "island.json"))
    res = runner.invoke(app, ["grid", "forecast", str(tmp_path / "island.json"), "--out", str(tmp_path)])
    assert res.exit_code == 2 and "load orphan.bus" in res.output


def test_envelopes_of_a_stressed_day_on_its_cleared_series_hold_at_their_corners(tmp_path):
    import csv

    res = runner.invoke(
        app,
        [
            "grid",
            "envelopes",
            "mv-semiurb",
            "--day",
            "2016-01-20",
            "--stress",
            "winter",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "on the cleared series" in res.output and "envelopes.csv" in res.output
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["cleared"] and s["congested_periods"] > 0 and s["market"]["periods_residual"] == 0
    # every connection at its import limit at once, then at its export limit: within limits (AC)
    assert (
        s["corners"]["import"]["periods_out_of_limits"]
        == 0
        == s["corners"]["export"]["periods_out_of_limits"]
    )
    assert 98.0 < s["corners"]["import"]["max_loading_pct"] <= 100.0  # the feeder's headroom is used
    with (tmp_path / "envelopes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == s["connections"] * 96
    assert all(float(r["import_limit_mw"]) >= -float(r["export_limit_mw"]) for r in rows)
    env = json.loads((tmp_path / "envelopes.json").read_text())
    assert len(env["connections"]) == s["connections"] and env["step_min"] == 15


@pytest.mark.parametrize("command", ["forecast", "relieve", "envelopes"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--voltage-min", "1.1", "--voltage-max", "1.0"], "--voltage-max: must be above"),
        (["--voltage-min", "0"], "--voltage-min: must be > 0 pu"),
    ],
)
def test_every_grid_command_checks_the_voltage_band_alike(tmp_path, command, args, message):
    res = runner.invoke(app, ["grid", command, "mv-semiurb", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]
