"""``gridflex evaluate`` end to end on a tiny study: every output file, documented columns, clear errors."""

import json

import pandas as pd
import pytest
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
    # Figure 4 and Figure 6 headline numbers and the marginal benefit, as in summary.json
    imp, cap = summ["improvement"]["current_over_simulated"], summ["capacity"]
    assert "Improvement by storage (Figure 4)" in html and f"area {imp['area_score_h']:.1f} score·h" in html
    assert f"up {cap['mean_available_up_mw']:.0f} MW, down {cap['mean_available_down_mw']:.0f} MW" in html
    assert "paper&#x27;s Figure 6" in html or "paper's Figure 6" in html
    assert summ["economics"]["marginal_benefit"] is None and summ["economics"]["ln"]["beta"] is None
    assert "marginal benefit at the installed storage" in html and "none (no fit: " in html
    assert '<script src="http' not in html  # plotly.js embedded: works offline


def test_bad_study_is_one_line_and_exit_2(tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text(TINY.replace("energy_mwh: 40", "energy_mwh: -1"))
    res = CliRunner().invoke(app, ["evaluate", str(study), "--scenarios", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "storage.0.energy_mwh" in lines[0], res.output


def test_a_negative_seed_names_the_option(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    res = CliRunner().invoke(app, ["evaluate", str(study), "--seed", "-1", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--seed: must be a whole number >= 0, got -1" in res.output, res.output
    assert not (tmp_path / "o").exists()  # refused before any work


def test_unknown_bus_is_a_clear_error(tmp_path):
    study = tmp_path / "bus.yaml"
    study.write_text(TINY.replace("bus: 4, power_mw", "bus: 99, power_mw"))
    res = CliRunner().invoke(app, ["evaluate", str(study), "--scenarios", "2", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "storage.0.bus" in res.output


# ---- bad input: one line naming the option, file or field, exit code 2, before any work ---------


def _one_line_error(tmp_path, *args, text=TINY):
    study = tmp_path / "tiny.yaml"
    study.write_text(text)
    res = CliRunner().invoke(app, ["evaluate", str(study), *args])
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error:"), res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    return lines[0]


def test_empty_shape_names_the_field(tmp_path):
    line = _one_line_error(
        tmp_path, "--out", str(tmp_path / "o"), text=TINY.replace("[0.9, 1.0, 1.1, 0.95]", "[]")
    )
    assert "load.shape" in line and "give 1 to" in line
    assert not (tmp_path / "o").exists()  # nothing written for a study that cannot run


def test_too_many_scenarios_are_refused_up_front_with_the_limit(tmp_path):
    line = _one_line_error(tmp_path, "--scenarios", "1e12", "--workers", "1", "--out", str(tmp_path / "o"))
    assert "--scenarios" in line and "1,000,000,000,000 scenarios" in line and "scenarios fit" in line


@pytest.mark.parametrize(("value", "why"), [("2.5", "whole number"), ("many", "not a number"), ("0", ">= 1")])
def test_scenarios_must_be_a_whole_number(tmp_path, value, why):
    line = _one_line_error(tmp_path, "--scenarios", value, "--out", str(tmp_path / "o"))
    assert "--scenarios" in line and why in line


def test_scenarios_accept_exponent_notation(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    res = CliRunner().invoke(
        app, ["evaluate", str(study), "--scenarios", "2e0", "--workers", "1", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["n_scenarios"] == 2


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_fewer_than_one_worker_is_refused(tmp_path, workers):
    line = _one_line_error(tmp_path, "--workers", workers, "--scenarios", "2", "--out", str(tmp_path / "o"))
    assert "--workers" in line and ">= 1" in line


def test_a_scheduler_that_is_not_an_address_is_refused_at_once(tmp_path):
    pytest.importorskip("distributed")
    line = _one_line_error(
        tmp_path, "--scheduler", "garbage", "--scenarios", "2", "--out", str(tmp_path / "o")
    )
    assert "--scheduler" in line and "tcp://HOST:PORT" in line


def test_out_is_checked_before_the_run(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    line = _one_line_error(tmp_path, "--scenarios", "2", "--workers", "1", "--out", str(tmp_path / "afile"))
    assert "--out" in line and "is a file" in line
    line = _one_line_error(
        tmp_path, "--scenarios", "2", "--workers", "1", "--out", str(tmp_path / "afile" / "x")
    )
    assert "--out" in line and "cannot create the folder" in line


def test_output_folder_is_created_with_its_parents(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    out = tmp_path / "new" / "deeper"
    res = CliRunner().invoke(
        app, ["evaluate", str(study), "--scenarios", "2", "--workers", "1", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert (out / "summary.json").is_file()


def test_progress_shows_a_total_from_the_start(tmp_path, monkeypatch):
    import importlib

    cmd = importlib.import_module("gridflex.cli.evaluate")  # the package's `evaluate` is the command
    totals = []
    real = cmd._progress

    def recording():
        bar = real()
        add = bar.add_task

        def add_task(description, total=None, **kw):
            totals.append(total)
            return add(description, total=total, **kw)

        bar.add_task = add_task
        return bar

    monkeypatch.setattr(cmd, "_progress", recording)
    study = tmp_path / "tiny.yaml"
    study.write_text(TINY)
    res = CliRunner().invoke(
        app, ["evaluate", str(study), "--scenarios", "3", "--workers", "1", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    assert totals == [11]  # 3 states × 3 scenarios + sweep scale 0.5 × 2 (1.0 is the current state's)
    assert "None" not in res.output and "11/11" in res.output


# ---- scenario sets: --set picks sets, each overrides the study ----------------------------------

SETS = (
    TINY
    + """scenario_sets:
  typical: {}
  stressed: {load: {growth: 2.2}, outage_rate: 0.3}
"""
)


def test_every_scenario_set_runs_into_its_folder_and_set_picks_one(tmp_path):
    study = tmp_path / "sets.yaml"
    study.write_text(SETS)
    base = ["evaluate", str(study), "--scenarios", "3", "--seed", "4", "--workers", "1"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "all")])
    assert res.exit_code == 0, res.output
    both = json.loads((tmp_path / "all" / "scenario_sets.json").read_text())
    assert set(both) == {"typical", "stressed"}
    typical = json.loads((tmp_path / "all" / "typical" / "summary.json").read_text())
    stressed = json.loads((tmp_path / "all" / "stressed" / "summary.json").read_text())
    assert typical["study"].endswith("typical") and stressed["study"].endswith("stressed")
    # the override took effect: 2.2 × the load with 30 % of the units out cannot be balanced everywhere
    assert both["typical"]["current"] == typical["states"]["current"]["score"] == 100.0
    assert both["stressed"]["current"] == stressed["states"]["current"]["score"] < 100.0
    assert not (tmp_path / "all" / "summary.json").exists()  # the sets' outputs, not the base study's

    res = CliRunner().invoke(app, [*base, "--set", "stressed", "--out", str(tmp_path / "one")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["scenario_sets.json", "stressed"]
    assert set(json.loads((tmp_path / "one" / "scenario_sets.json").read_text())) == {"stressed"}
    z_one = pd.read_csv(tmp_path / "one" / "stressed" / "z.csv")
    pd.testing.assert_frame_equal(z_one, pd.read_csv(tmp_path / "all" / "stressed" / "z.csv"))  # same seed


def test_an_unknown_set_names_the_option_and_the_sets(tmp_path):
    line = _one_line_error(
        tmp_path, "--set", "nosuch", "--scenarios", "2", "--out", str(tmp_path / "o"), text=SETS
    )
    assert "--set" in line and "'nosuch'" in line and "typical, stressed" in line
    assert not (tmp_path / "o").exists()


def test_a_bad_override_in_a_set_names_the_set_and_the_field(tmp_path):
    bad = SETS.replace("growth: 2.2", "growth: -2")
    line = _one_line_error(
        tmp_path, "--set", "typical", "--scenarios", "2", "--out", str(tmp_path / "o"), text=bad
    )
    assert "scenario_sets.stressed.load.growth" in line
    assert not (tmp_path / "o").exists()
