"""``gridflex evaluate`` end to end on a tiny study: every output file, documented columns, clear errors."""

import json

import pandas as pd
from typer.testing import CliRunner

from gridflex.cli import app

TINY = """
name: tiny case9
network: {case: case9}
load: {shape: [0.9, 1.0, 1.1, 0.95], growth: 1.0, noise: {sigma_pu: 0.05}}
storage:
  - {id: b1, bus: 4, power_mw: 20, energy_mwh: 40}
demand_response:
  - {bus: 4, category: industrial, q: 0.5, delta: 0.1, nominal_mw: 10}
sensitivity: {scales: [0.5, 1.0], n_scenarios: 2}
chunk_size: 2
"""


def test_evaluate_writes_every_output(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["evaluate", str(study), "--scenarios", "3", "--seed", "1", "--out", str(out), "--workers", "1"]
    )
    assert res.exit_code == 0, res.output
    for name in ("z.csv", "summary.json", "capacity.csv", "sensitivity.json", "report.html"):
        assert (out / name).is_file(), name
    z = pd.read_csv(out / "z.csv")
    assert list(z.columns) == ["state", "scenario", "t0", "t1", "t2", "t3"]
    assert sorted(z.state.unique()) == ["current", "future", "simulated"] and len(z) == 9
    assert set(z[["t0", "t1", "t2", "t3"]].to_numpy().ravel()) <= {0, 1}
    cap = pd.read_csv(out / "capacity.csv")
    assert list(cap.columns) == ["period", "source", "kind", "up_mw", "down_mw", "load_mw"]
    assert set(cap.source) == {"generation", "load", "storage", "system"} and set(cap.kind) == {
        "total",
        "available",
    }
    summ = json.loads((out / "summary.json").read_text())
    assert set(summ["states"]) == {"simulated", "current", "future"}
    assert len(summ["states"]["current"]["score_per_period"]) == 4
    sens = json.loads((out / "sensitivity.json").read_text())
    assert [p["scale"] for p in sens["points"]] == [0.5, 1.0] and "beta" in sens["fit"]
    html = (out / "report.html").read_text()
    assert "Balance matrix z" in html and "<script" in html
    assert '<script src="http' not in html  # plotly.js embedded: works offline


def test_bad_study_is_one_line_and_exit_2(tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text(TINY.replace("energy_mwh: 40", "energy_mwh: -1"))
    res = CliRunner().invoke(app, ["evaluate", str(study), "--scenarios", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "storage.0.energy_mwh" in lines[0], res.output


def test_unknown_bus_is_a_clear_error(tmp_path):
    study = tmp_path / "bus.yaml"
    study.write_text(TINY.replace("bus: 4, power_mw", "bus: 99, power_mw"))
    res = CliRunner().invoke(app, ["evaluate", str(study), "--scenarios", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "storage.0.bus" in res.output
