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
