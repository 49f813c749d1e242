"""The CLI: every lifecycle step on its own, the demo, and one-line errors with exit code 2."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from gridflex.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_demo_runs_and_writes_an_offline_report(tmp_path):
    report, site_report = tmp_path / "report.html", tmp_path / "site.html"
    r = run(
        "demo", "flexoffers", "--devices", "400", "--report", str(report), "--site-report", str(site_report)
    )
    assert r.exit_code == 0, r.output
    assert "optimality gap" in r.output and "cooptimised" in r.output
    assert "Services committed" in site_report.read_text()
    html = report.read_text()
    assert "Plotly.newPlot" in html
    # plotly.js is embedded: no script is loaded from the network.
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert len(html) > 1_000_000
    # flex-offer measures in words, each explained; no raw identifiers
    assert "Start-time flexibility each device keeps" in html and "Number of distinct schedules" in html
    assert "assignment_log10" not in html and "time_per_member" not in html


def test_demo_refuses_absurd_fleet_sizes_in_one_line(tmp_path):
    for devices in ("0", "-5", "1000000000"):
        r = runner.invoke(
            app, ["demo", "flexoffers", "--devices", devices, "--report", str(tmp_path / "r.html")]
        )
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and "--devices" in lines[0], r.output
    assert not (tmp_path / "r.html").exists()


def test_demo_result_names_the_solver_limits_it_hit(monkeypatch):
    from gridflex.demos import flexoffers as demo

    real = demo.schedule_flexoffers

    def slow(*args, **kwargs):
        res = real(*args, **kwargs)
        res.limits_hit.append("the MILP stopped at its time limit of 5 s")
        return res

    monkeypatch.setattr(demo, "schedule_flexoffers", slow)
    result = demo.run_demo(n_devices=30)
    assert ("solver limit reached", "the MILP stopped at its time limit of 5 s") in result.summary()


def test_demo_runs_the_day_and_writes_its_files(tmp_path, monkeypatch):
    import functools
    import json

    from gridflex.demos import day

    # two of its sites, as tests/demos/test_day.py and benchmarks/day.py --smoke: the command's path and
    # files are the same; the README's full day is run by hand (docs/decisions/0015-suite-time.md)
    monkeypatch.setattr(
        day,
        "DayConfig",
        functools.partial(day.DayConfig, sites=(day.HOMES[0], day.OFFICE), stress_scale=0.95),
    )
    out = tmp_path / "day"
    r = run("demo", "--speed", "7200", "--seed", "1", "--out", str(out))
    assert r.exit_code == 0, r.output
    for words in (
        "the day from device to grid",
        "who paid whom",
        "gained against doing nothing",
        "S2 instructions",
    ):
        assert words in r.output, words
    # what to do next, after the files: the report's path on one line, to copy
    assert (
        f"Next: open {out / 'report.html'} in a browser" in r.output and "gridflex demo --serve" in r.output
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overloaded_isps"]["planned"] <= summary["overloaded_isps"]["before"]
    assert summary["overload_mwh"]["planned"] < summary["overload_mwh"]["before"]
    assert "MWh less above their ratings" in r.output or "more above their ratings" in r.output
    assert abs(sum(g["settlement_eur"] for g in summary["gains_eur"].values())) < 0.05  # money only moves
    offers = json.loads((out / "flexoffers.json").read_text())["flexOffers"]
    assert {fo["locationId"] for fo in offers} == {s["bus"] for s in summary["sites"].values()}
    assert all("flexOfferSchedule" in fo for fo in offers)
    html = (out / "report.html").read_text()
    assert "Plotly.newPlot" in html and not re.search(r"<script[^>]*\bsrc=", html)
    assert "Who paid whom" in html and "ODbL" in html
    # the market round is a file `gridflex market local` reads
    r2 = run("market", "local", str(out / "local-round.json"), "-o", str(tmp_path / "local.json"))
    assert r2.exit_code == 0, r2.output


def test_demo_refuses_a_bad_speed_in_one_line(tmp_path):
    r = runner.invoke(app, ["demo", "--speed", "0", "--out", str(tmp_path / "day")])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "day.speed" in lines[0], r.output
    assert not (tmp_path / "day").exists()


def test_demo_serve_refuses_a_bad_port_in_one_line(tmp_path):
    r = runner.invoke(app, ["demo", "--serve", "--port", "70000", "--out", str(tmp_path / "day")])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "--port" in lines[0], r.output


def test_demo_serve_refuses_a_store_in_use_in_one_line(tmp_path):
    """The demo creates its actors with the first admin token: a store that has one already is refused
    before the day starts (and the server it started is stopped)."""
    from gridflex.store import Store, bootstrap_admin

    db = f"sqlite:///{tmp_path / 'used.db'}"
    store = Store(db)
    store.upgrade()
    bootstrap_admin(store)
    store.close()
    r = runner.invoke(app, ["demo", "--serve", "--exit", "--db", db, "--out", str(tmp_path / "day")])
    assert r.exit_code == 2, r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "not empty" in errors[0] and "--db" in errors[0], r.output
