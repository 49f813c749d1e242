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
    r = run("demo", "--devices", "400", "--report", str(report), "--site-report", str(site_report))
    assert r.exit_code == 0, r.output
    assert "optimality gap" in r.output and "cooptimised" in r.output
    assert "Services committed" in site_report.read_text()
    html = report.read_text()
    assert "Plotly.newPlot" in html
    # plotly.js is embedded: no script is loaded from the network.
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert len(html) > 1_000_000
