"""A very short run of the S2 demo: two sites live on 127.0.0.1, an offline HTML report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridflex.cli import app
from gridflex.demos.s2 import run_s2_demo
from gridflex.errors import ValidationError
from gridflex.s2.rm.simulators import KINDS


def test_short_demo_writes_an_offline_report(tmp_path: Path) -> None:
    out = run_s2_demo(
        tmp_path / "s2.html", speed=720.0, hours=1.0
    )  # 5 s of wall time: a loaded machine still plans
    html = (tmp_path / "s2.html").read_text(encoding="utf-8")
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded: works offline
    # behaviour only: its wall-clock time is measured in benchmarks/s2_load.py (short_demo)
    kinds: set[str] = set()
    for name in ("household", "office"):
        site = out[name]
        assert site["plans"] >= 1 and site["last_error"] is None
        assert site["max_over_limit_kw"] <= 0.5  # the site stays under its fuse (and the DSO limit)
        kinds |= {d["kind"] for d in site["devices"]}
        assert any(d["instructions"] > 0 for d in site["devices"])
        # outcomes as executed (tests/s2/test_demo_outcomes.py runs long enough for departures)
        oc = site["outcomes"]
        assert {"ev", "heatpump", "pv"} <= set(oc) and oc["pv"]["ok"], oc
        assert oc["ev"]["charged_at_departure_kwh"] is None and oc["ev"]["ok"], oc  # still reachable
    assert set(KINDS) <= kinds  # one simulator per kind available
    assert out["office"]["replans"].get("congestion") == 1


def test_report_gives_the_fill_level_axis_its_unit(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    import numpy as np

    from gridflex.demos.s2 import _report

    times = [datetime(2018, 6, 12, 6, tzinfo=UTC) + timedelta(minutes=15 * k) for k in range(4)]
    devices = [
        {"kind": k, "resource_id": k, "instructions": 0, "summary": {}} for k in ("battery", "heatpump")
    ]
    site = {"plans": 1, "max_site_kw": 1.0, "max_over_limit_kw": 0.0, "replans": {}, "devices": devices,
            "_units": ["kWh", "°C"],
            "_series": (times, np.zeros((4, 2)), np.ones(4), np.full(4, 17.0), [[5.0] * 4, [50.0] * 4])}  # fmt: skip
    result = {"household": site, "office": site, "_frames": {"household": [], "office": []}}
    html = _report(tmp_path / "r.html", result, 1.0, 3600.0).read_text(encoding="utf-8")
    # each fill-level axis has its unit (plotly writes the degree sign escaped)
    assert "fill level (kWh)" in html and "fill level (\\u00b0C)" in html
    assert "power (kW, + = consumption)" in html


def test_demo_refuses_runs_over_a_minute(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="hours"):
        run_s2_demo(tmp_path / "x.html", speed=60.0, hours=24.0)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--speed", "0"), ("--speed", "-5"), ("--speed", "nan"), ("--speed", "inf"), ("--speed", "1e300"),
     ("--hours", "0"), ("--hours", "-1"), ("--hours", "1000"), ("--hours", "nan")],
)  # fmt: skip
def test_cli_refuses_bad_options_in_one_line(tmp_path: Path, option: str, value: str) -> None:
    report = tmp_path / "out" / "s2.html"
    r = CliRunner().invoke(app, ["demo", "s2", "--report", str(report), option, value])
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)  # no traceback
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and option.lstrip("-") in lines[0], r.output
    assert not report.exists()


def test_demo_s2_command_prints_needs_and_bands_as_executed(tmp_path: Path) -> None:
    report = tmp_path / "s2.html"
    r = CliRunner().invoke(app, ["demo", "s2", "--report", str(report), "--speed", "720", "--hours", "1"])
    assert r.exit_code == 0, r.output
    assert "needs and" in r.output and report.exists(), r.output  # the column header (wrapped at 80)
    assert "met" in r.output  # "all N met" or each shortfall with its reason
