"""The CLI: every lifecycle step on its own, the demo, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from gridflex.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_schedule_site_from_the_command_line(tmp_path):
    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    r = run("schedule", "examples/sites/home.yaml", "--out", str(out), "--csv", str(csv))
    assert r.exit_code == 0, r.output
    assert json.loads(out.read_text())["status"] == "optimal" and csv.stat().st_size > 0


def test_bad_site_file_gives_one_clear_line(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text("name: x\nassets:\n  - {kind: battery, name: b, capacity_kwh: -5}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "schedule", str(bad), "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in proc.stderr


def test_packaged_demo_site_is_the_documented_example():
    from pathlib import Path

    from gridflex.demos.site import demo_site_path

    example = Path(__file__).parents[2] / "examples" / "sites" / "office_services.yaml"
    assert demo_site_path().read_text() == example.read_text()


def test_schedule_compiles_the_site_once(tmp_path, monkeypatch):
    import gridflex.scheduling.site as site_mod

    calls = []
    real = site_mod._compile
    monkeypatch.setattr(site_mod, "_compile", lambda s: calls.append(s.name) or real(s))
    r = run("schedule", "examples/sites/home.yaml", "--out", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    assert len(calls) == 1


def _rows(output: str) -> list[str]:
    """The first cell of each table row in the console output."""
    return [ln.split("│")[1].strip() for ln in output.splitlines() if ln.count("│") >= 3]


def test_cost_terms_in_a_fixed_order_total_last_and_no_timing_in_the_eur_table(tmp_path):
    from gridflex.scheduling.result import COST_TERMS
    from tests.scheduling.test_services import RESERVES, _site

    site = tmp_path / "site.json"
    site.write_text(json.dumps(_site(RESERVES)))
    r = run("schedule", str(site), "--out", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    rows = _rows(r.output)
    assert rows[-1] == "total" and "time_s" not in " ".join(rows)
    terms = rows[:-1]
    assert terms == [k for k in COST_TERMS if k in terms]  # COST_TERMS order, services included
    assert {"reserve_availability", "energy", "feed_in"} <= set(terms)
    assert any(ln.startswith("time: built in") for ln in r.output.splitlines())


def test_the_strategies_table_keeps_money_and_time_apart():
    from gridflex.cli.demo import strategies_table
    from gridflex.scheduling import compare_strategies, parse_site
    from tests.scheduling.test_services import RESERVES, _site

    table = compare_strategies(parse_site(_site(RESERVES)))
    assert "time_s" not in table.index and set(table.attrs["time_s"]) == set(table.columns)
    index = list(table.index)
    costs = [i for i in index if i.startswith("cost_")]
    assert index.index("total_cost_eur") == len(costs)  # the terms, then their total
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(strategies_table("svc", table))
    rows = _rows(console.export_text())
    money = [r for r in rows if r.endswith("_eur")]
    assert rows[: len(money)] == money and all(
        r.endswith("_kw_fcr") or "_kw_" in r for r in rows[len(money) :]
    )


def test_a_duplicate_name_is_reported_once(tmp_path):
    bad = tmp_path / "site.yaml"
    bad.write_text(
        "time: {start: '2018-06-12T00:00:00+02:00', step_s: 3600, n_periods: 24}\n"
        "assets:\n  - {kind: grid_connection, name: grid}\n"
        + "".join(f"  - {{kind: load, name: l, profile_kw: {k}}}\n" for k in range(3))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "schedule", str(bad), "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("is used by more than one asset") == 1 and "1 problem(s)" in proc.stderr


def test_schedule_with_services_and_report_compiles_the_site_once(tmp_path, monkeypatch):
    import gridflex.scheduling.site as site_mod
    from tests.scheduling.test_services import RESERVES, _site

    site = tmp_path / "site.json"
    site.write_text(json.dumps(_site(RESERVES)))
    calls = []
    real = site_mod._compile
    monkeypatch.setattr(site_mod, "_compile", lambda s: calls.append(s.name) or real(s))
    r = run("schedule", str(site), "--out", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.html"))
    assert r.exit_code == 0, r.output
    assert len(calls) == 1  # schedule, the three strategies for the report and the report itself
