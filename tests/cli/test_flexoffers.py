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
from gridflex.flexoffer.model import NO_TIME
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


# ---- bad input: one line naming the file / object / field, exit code 2, never a traceback ---------
def offer(oid="ev-1", est="2018-06-12T18:00:00Z", lst="2018-06-12T20:00:00Z", **more) -> dict:
    fo = {
        "id": oid,
        "startAfterTime": est,
        "startBeforeTime": lst,
        "numSecondsPerInterval": 900,
        "flexOfferProfileConstraints": [
            {"minDuration": 2, "maxDuration": 2, "energyConstraintList": [{"lower": 0, "upper": 2}]}
        ],
    }
    fo.update(more)
    return fo


def fails(*args: str) -> str:
    """Run a command that must refuse its input: exit code 2 and exactly one line, starting 'error:'."""
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "Traceback" not in r.output
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fo")
    fleet, aggs, sched, members = (d / f for f in ("fleet.json", "aggs.json", "sched.json", "members.json"))
    run("flexoffers", "generate", "--devices", "40", "-o", str(fleet))
    run("flexoffers", "aggregate", str(fleet), "-o", str(aggs))
    run("flexoffers", "schedule", str(aggs), "-o", str(sched))
    run("flexoffers", "disaggregate", "--members", str(fleet), "--aggregates", str(sched), "-o", str(members))
    return {"fleet": fleet, "aggs": aggs, "sched": sched, "members": members}


BAD_FILES = {
    "malformed": (b'{"flexOffers": [', "malformed JSON"),
    "empty": (b"", "the file is empty"),
    "binary": (bytes(range(256)) * 4, "not UTF-8"),
    "empty list": (b"[]", "no flex-offers: the list is empty"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "not offers": (b'{"offers": 3}', "flexOffers: missing or not a list"),
}


@pytest.mark.parametrize("command", ["validate", "aggregate", "schedule", "measure"])
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_are_refused_in_one_line_naming_the_file(tmp_path, command, case):
    content, needle = BAD_FILES[case]
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    out = [] if command == "validate" else ["-o", str(tmp_path / "out.json")]
    line = fails("flexoffers", command, str(bad), *out)
    assert needle in line and str(bad) in line
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("year", [1000, 2999, 9999])
def test_years_outside_1970_to_2199_are_refused_by_validate_and_schedule_alike(tmp_path, year):
    f = tmp_path / "y.json"
    f.write_text(json.dumps([offer(est=f"{year}-06-12T18:00:00Z", lst=f"{year}-06-12T20:00:00Z")]))
    line = fails("flexoffers", "validate", str(f))
    assert "ev-1.startAfterTime" in line and "supported years 1970 to 2199" in line
    assert fails("flexoffers", "schedule", str(f), "-o", str(tmp_path / "s.json")) == line


def test_a_year_without_prices_is_named_by_schedule(tmp_path):
    f = tmp_path / "y.json"
    f.write_text(json.dumps([offer(est="2150-06-12T18:00:00Z", lst="2150-06-12T20:00:00Z")]))
    assert run("flexoffers", "validate", str(f)).exit_code == 0
    assert "no SMARD price file for 2150" in fails(
        "flexoffers", "schedule", str(f), "-o", str(tmp_path / "s.json")
    )


def test_schedule_options_are_checked_before_reading(tmp_path, files):
    out = str(tmp_path / "s.json")
    assert "--method" in fails("flexoffers", "schedule", str(files["aggs"]), "--method", "bogus", "-o", out)
    assert "--limit-kw" in fails("flexoffers", "schedule", str(files["aggs"]), "--limit-kw", "nan", "-o", out)
    assert "--time-limit-s" in fails(
        "flexoffers", "schedule", str(files["aggs"]), "--time-limit-s", "0", "-o", out
    )
    line = fails("flexoffers", "schedule", str(files["aggs"]), "--zone", "Atlantis", "-o", out)
    assert "unknown zone 'Atlantis'" in line


def test_aggregate_refuses_a_hundred_year_window_stating_the_limit(tmp_path):
    f = tmp_path / "long.json"
    f.write_text(json.dumps([offer(lst="2118-06-12T18:00:00Z")]))
    line = fails("flexoffers", "aggregate", str(f), "-o", str(tmp_path / "a.json"))
    assert "ev-1.startBeforeTime" in line and "31 days" in line


def test_files_spanning_more_than_a_year_are_refused(tmp_path):
    f = tmp_path / "span.json"
    f.write_text(json.dumps([offer("a"), offer("b", est="2020-06-12T18:00:00Z", lst="2020-06-12T18:00:00Z")]))
    assert "366 days" in fails("flexoffers", "validate", str(f))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--est-tolerance-min", "-5"),
        ("--est-tolerance-min", "0"),
        ("--tf-tolerance-min", "99999999"),
        ("--max-group-size", "0"),
        ("--max-group-size", "-3"),
    ],
)
def test_aggregate_options_are_refused_naming_the_option(tmp_path, files, option, value):
    line = fails(
        "flexoffers", "aggregate", str(files["fleet"]), option, value, "-o", str(tmp_path / "a.json")
    )
    assert option in line


def test_aggregate_of_an_empty_list_prints_no_nan(tmp_path):
    f = tmp_path / "empty.json"
    f.write_text("[]")
    line = fails("flexoffers", "aggregate", str(f), "-o", str(tmp_path / "a.json"))
    assert "nan" not in line.lower() and "empty" in line


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "malformed JSON"),
        (b"[1, 2, 3]", "expected an object"),
        (b'{"nobody": [1]}', "needs a list of"),
        (b"", "the file is empty"),
    ],
)
def test_measure_refuses_bad_measured_files(tmp_path, files, content, needle):
    m = tmp_path / "measured.json"
    m.write_bytes(content)
    line = fails(
        "flexoffers", "measure", str(files["members"]), "--measured", str(m), "-o", str(tmp_path / "x.json")
    )
    assert needle in line and str(m) in line


def test_measure_takes_a_measured_file_of_the_right_shape(tmp_path, files):
    batch = read_flexoffers(files["members"])
    data = {
        oid: batch.schedule.energy_kwh[a:b].tolist()
        for oid, a, b in zip(
            batch.ids.tolist(), batch.offsets[:-1].tolist(), batch.offsets[1:].tolist(), strict=True
        )
    }
    m = tmp_path / "measured.json"
    m.write_text(json.dumps(data))
    out = tmp_path / "x.json"
    assert (
        run("flexoffers", "measure", str(files["members"]), "--measured", str(m), "-o", str(out)).exit_code
        == 0
    )
    assert max(map(abs, json.loads(out.read_text())["imbalanceKwh"])) < 1e-6
    data[batch.ids[0]][0] = None
    m.write_text(json.dumps(data))
    assert batch.ids[0] in fails(
        "flexoffers", "measure", str(files["members"]), "--measured", str(m), "-o", str(out)
    )


@pytest.mark.parametrize("noise", ["1e300", "-0.1", "nan", "inf", "2"])
def test_measure_refuses_absurd_noise(tmp_path, files, noise):
    line = fails(
        "flexoffers", "measure", str(files["members"]), "--noise", noise, "-o", str(tmp_path / "x.json")
    )
    assert "--noise" in line


@pytest.mark.parametrize("devices", ["0", "-1", "1000000000"])
def test_generate_refuses_absurd_fleet_sizes(tmp_path, devices):
    assert "--devices" in fails(
        "flexoffers", "generate", "--devices", devices, "-o", str(tmp_path / "f.json")
    )


def test_generate_takes_a_device_mix(tmp_path):
    out = tmp_path / "mix.json"
    r = run(
        "flexoffers",
        "generate",
        "--devices",
        "10",
        "--mix",
        "ev=0.3, heat_pump=0.5,fridge=0.2",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    batch = read_flexoffers(out)
    kinds = [i.rsplit("-", 1)[0] for i in batch.ids.tolist()]
    assert {k: kinds.count(k) for k in set(kinds)} == {"ev": 3, "heat_pump": 5, "fridge": 2}
    assert validate_schedule(batch, batch.default) == []


@pytest.mark.parametrize(
    ("mix", "needle"),
    [
        ("ev=0.5,toaster=0.5", "unknown device type 'toaster'"),
        ("ev", "is not type=share"),
        ("ev=-1", "must be a number >= 0"),
        ("ev=nan", "must be a number >= 0"),
        ("ev=0,pv=0", "sum to zero"),
        ("ev=1,ev=2", "given twice"),
    ],
)
def test_generate_refuses_a_bad_mix_naming_the_option(tmp_path, mix, needle):
    line = fails("flexoffers", "generate", "--devices", "5", "--mix", mix, "-o", str(tmp_path / "f.json"))
    assert "--mix" in line and needle in line


def test_schedule_at_a_decision_time_leaves_late_offers_to_their_defaults(tmp_path, files):
    """--now 06:00 local: aggregates whose acceptBeforeTime (EST − 2 h) or assignmentBeforeTime has
    passed stay unscheduled; their members run their default schedules, the others start after now."""
    sched, members = tmp_path / "s.json", tmp_path / "m.json"
    now = "2018-06-12T06:00:00+02:00"
    r = run("flexoffers", "schedule", str(files["aggs"]), "--now", now, "-o", str(sched))
    assert r.exit_code == 0, r.output
    aggs = read_flexoffers(sched)
    assert aggs.schedule is not None
    now_s = int(np.datetime64("2018-06-12T04:00:00", "s").astype(np.int64))
    late = (aggs.accept_before_s < now_s) | (aggs.assign_before_s < now_s) | (aggs.lst_s < now_s)
    assert late.any() and not late.all()
    assert ((aggs.schedule.start_s == NO_TIME) == late).all()
    assert (aggs.schedule.start_s[~late] >= now_s).all()
    r = run(
        "flexoffers",
        "disaggregate",
        "--members",
        str(files["fleet"]),
        "--aggregates",
        str(sched),
        "-o",
        str(members),
    )
    assert r.exit_code == 0, r.output
    fleet, out = read_flexoffers(files["fleet"]), read_flexoffers(members)
    assert out.schedule is not None and fleet.default is not None
    assert validate_schedule(out, out.schedule) == []
    group = {
        m: i
        for i, o in enumerate(json.loads(files["aggs"].read_text())["flexOffers"])
        for m in o["gridflexMembers"]
    }
    unassigned = np.array([late[group[m]] for m in out.ids.tolist()])
    assert (out.schedule.start_s[unassigned] == fleet.default.start_s[unassigned]).all()
    assert (out.schedule.start_s[~unassigned] >= now_s).all()
    assert "--now" in fails("flexoffers", "schedule", str(files["aggs"]), "--now", "06:00", "-o", str(sched))


def test_every_command_creates_the_folder_of_its_output(tmp_path, files):
    new = tmp_path / "new" / "deeper"
    commands = [
        ("generate", "--devices", "5"),
        ("aggregate", str(files["fleet"])),
        ("schedule", str(files["aggs"])),
        ("disaggregate", "--members", str(files["fleet"]), "--aggregates", str(files["sched"])),
        ("measure", str(files["members"])),
    ]
    for i, args in enumerate(commands):
        out = new / f"{i}.json"
        r = run("flexoffers", *args, "-o", str(out))
        assert r.exit_code == 0, r.output
        assert out.is_file()
        json.loads(out.read_text())
    # a folder given as --out is refused before any work, by every command
    for args in commands:
        assert "is a folder" in fails("flexoffers", *args, "-o", str(new))


def test_disaggregate_names_a_member_missing_from_the_aggregates(tmp_path, files):
    doc = json.loads(files["sched"].read_text())
    doc["flexOffers"][0]["gridflexMembers"] = doc["flexOffers"][0]["gridflexMembers"][1:]
    sched = tmp_path / "sched.json"
    sched.write_text(json.dumps(doc))
    line = fails(
        "flexoffers",
        "disaggregate",
        "--members",
        str(files["fleet"]),
        "--aggregates",
        str(sched),
        "-o",
        str(tmp_path / "m.json"),
    )
    assert "belongs to no aggregate" in line
    del doc["flexOffers"][0]["gridflexMembers"]
    sched.write_text(json.dumps(doc))
    line = fails(
        "flexoffers",
        "disaggregate",
        "--members",
        str(files["fleet"]),
        "--aggregates",
        str(sched),
        "-o",
        str(tmp_path / "m.json"),
    )
    assert "agg-0.gridflexMembers: missing" in line


def test_schedule_and_disaggregate_read_each_file_once(tmp_path, files, monkeypatch):
    import gridflex.flexoffer.io as fio

    calls = []
    real = fio._read_text
    monkeypatch.setattr(fio, "_read_text", lambda path, *a: calls.append(str(path)) or real(path, *a))
    run("flexoffers", "schedule", str(files["aggs"]), "-o", str(tmp_path / "s.json"))
    assert calls == [str(files["aggs"])]
    calls.clear()
    run(
        "flexoffers",
        "disaggregate",
        "--members",
        str(files["fleet"]),
        "--aggregates",
        str(files["sched"]),
        "-o",
        str(tmp_path / "m.json"),
    )
    assert sorted(calls) == sorted([str(files["fleet"]), str(files["sched"])])
    # the members list of the aggregates survives scheduling
    assert all("gridflexMembers" in o for o in json.loads((tmp_path / "s.json").read_text())["flexOffers"])


def test_off_a_terminal_stderr_holds_the_error_line_alone(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"[" * 100_000)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridflex.cli",
            "flexoffers",
            "schedule",
            str(bad),
            "-o",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: malformed JSON"), repr(proc.stderr)
