"""A very short run of the S2 demo: two sites live on 127.0.0.1, an offline HTML report."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflex.demos.s2 import run_s2_demo
from gridflex.s2.simulators import KINDS


def test_short_demo_writes_an_offline_report(tmp_path: Path) -> None:
    out = run_s2_demo(tmp_path / "s2.html", speed=3600.0, hours=1.0)
    html = (tmp_path / "s2.html").read_text(encoding="utf-8")
    assert "plotly" in html.lower() and len(html) > 1_000_000  # plotly.js embedded: works offline
    assert out["wall_s"] < 30
    kinds: set[str] = set()
    for name in ("household", "office"):
        site = out[name]
        assert site["plans"] >= 1 and site["last_error"] is None
        assert site["max_over_limit_kw"] <= 0.5  # the site stays under its fuse (and the DSO limit)
        kinds |= {d["kind"] for d in site["devices"]}
        assert any(d["instructions"] > 0 for d in site["devices"])
    assert set(KINDS) <= kinds  # one simulator per kind available
    assert out["office"]["replans"].get("congestion") == 1


def test_demo_refuses_runs_over_a_minute(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        run_s2_demo(tmp_path / "x.html", speed=60.0, hours=24.0)
