"""The CLI: every lifecycle step on its own, the demo, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from gridflex.cli import app
from gridflex.flexoffer.io import read_flexoffers
from gridflex.flexoffer.validate import validate_schedule

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_each_lifecycle_step_from_the_command_line(tmp_path):
    fleet, aggs, sched, members, execution = (
        tmp_path / f for f in ("fleet.json", "aggs.json", "sched.json", "members.json", "exec.json")
    )
    assert run("flexoffers", "generate", "--devices", "300", "--seed", "4", "-o", str(fleet)).exit_code == 0
    r = run("flexoffers", "validate", str(fleet))
    assert r.exit_code == 0 and "300 flex-offers" in r.output
    assert run("flexoffers", "aggregate", str(fleet), "-o", str(aggs)).exit_code == 0
    doc = json.loads(aggs.read_text())
    member_ids = [m for o in doc["flexOffers"] for m in o["gridflexMembers"]]
    assert sorted(member_ids) == sorted(read_flexoffers(fleet).ids.tolist())
    r = run("flexoffers", "schedule", str(aggs), "--limit-kw", "400", "-o", str(sched))
    assert r.exit_code == 0, r.output
    assert read_flexoffers(sched).schedule is not None
    r = run(
        "flexoffers", "disaggregate", "--members", str(fleet), "--aggregates", str(sched), "-o", str(members)
    )
    assert r.exit_code == 0, r.output
    batch = read_flexoffers(members)
    assert batch.schedule is not None and validate_schedule(batch, batch.schedule) == []
    r = run("flexoffers", "measure", str(members), "--noise", "0.05", "-o", str(execution))
    assert r.exit_code == 0, r.output
    result = json.loads(execution.read_text())
    dev = np.array(list(result["deviationKwhPerOffer"].values()))
    # Energy balance: the imbalance is the sum of the device deviations.
    assert sum(result["imbalanceKwh"]) == pytest.approx(dev.sum(), abs=1e-3)


def test_balance_aggregation_from_the_command_line(tmp_path):
    fleet, aggs = tmp_path / "fleet.json", tmp_path / "aggs.json"
    run("flexoffers", "generate", "--devices", "200", "-o", str(fleet))
    r = run("flexoffers", "aggregate", str(fleet), "--balance", "-o", str(aggs))
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "line 1"),
        ('{"flexOffers": [{"id": "x"}]}', "x"),
        (
            '{"flexOffers": [{"id": "ev-1", "startAfterTime": "2018-06-12T20:00:00Z",'
            ' "startBeforeTime": "2018-06-12T18:00:00Z", "numSecondsPerInterval": 900,'
            ' "flexOfferProfileConstraints": [{"minDuration": 1, "maxDuration": 1,'
            ' "energyConstraintList": [{"lower": 0, "upper": 1}]}]}]}',
            "ev-1.startBeforeTime",
        ),
    ],
)
def test_bad_file_gives_one_clear_line_and_exit_code_2(tmp_path, content, needle):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "flexoffers", "validate", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert needle in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_file_and_unscheduled_input_are_clear(tmp_path):
    r = runner.invoke(app, ["flexoffers", "validate", str(tmp_path / "nope.json")])
    assert r.exit_code == 2
    fleet = tmp_path / "fleet.json"
    run("flexoffers", "generate", "--devices", "20", "-o", str(fleet))
    r = runner.invoke(app, ["flexoffers", "measure", str(fleet), "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "no flexOfferSchedule" in r.output
