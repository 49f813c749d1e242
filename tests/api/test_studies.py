"""Evaluation studies as service jobs: study files validated at upload (422 naming the field), the
evaluation run by a real `gridflex serve` on SQLite and PostgreSQL with its progress on /v1/events,
its outputs downloadable, the owner's only; the same through `gridflex studies`; and on Dask."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from gridflex.cli import app as cli
from gridflex.client import Client, ServerError
from gridflex.grid import evaluate
from gridflex.grid.study import study_from_dict
from gridflex.store import Store
from tests.api.conftest import Api
from tests.api.test_jobs import _sse
from tests.api.test_routes import STUDY
from tests.api.test_serve import serving
from tests.store.world import build_world

WAIT_S = 300  # a bound against hanging on a loaded machine, not a performance claim
N, SEED = 6, 3


def _post(api: Api, body: object, who: str = "alice", yaml_text: bool = False):
    if yaml_text:
        headers = {**api.auth(who), "Content-Type": "application/yaml"}
        return api.client.post("/v1/studies", content=yaml.safe_dump(body), headers=headers)
    return api.client.post("/v1/studies", json=body, headers=api.auth(who))


def _locs(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 422, r.text
    return [d["loc"] for d in r.json()["detail"]]


def test_a_study_is_validated_at_upload_naming_the_field(api: Api):
    ok = _post(api, STUDY, yaml_text=True)
    assert ok.status_code == 201, ok.text
    assert ok.json()["summary"] == {
        "network": "case9", "n_periods": 4, "dt_h": 1.0, "storage_mwh": 40.0, "scenario_sets": [],
    }  # fmt: skip
    bad_storage = {**STUDY, "storage": [{**STUDY["storage"][0], "energy_mwh": -40}]}
    assert ["body", "storage", "0", "energy_mwh"] in _locs(_post(api, bad_storage))
    assert ["body", "colour"] in _locs(_post(api, {**STUDY, "colour": "red"}))  # unknown fields are errors
    assert ["body", "storage", "0", "bus"] in _locs(
        _post(api, {**STUDY, "storage": [{**STUDY["storage"][0], "bus": 99}]})
    )
    assert _locs(_post(api, {**STUDY, "network": {"case": "case_nowhere"}})) == [["body", "network", "case"]]
    # a study on the server may not name files: they would be the server's own
    assert _locs(_post(api, {**STUDY, "network": {"matpower": "/etc/passwd"}})) == [
        ["body", "network", "matpower"]
    ]
    sets = {**STUDY, "scenario_sets": {"hot": {"load": {"noise": {"fit_csv": "../secret.csv"}}}}}
    assert _locs(_post(api, sets)) == [["body", "scenario_sets", "hot", "load", "noise", "fit_csv"]]
    r = api.client.post(
        "/v1/studies", content=b"name: [", headers={**api.auth("alice"), "Content-Type": "application/yaml"}
    )
    assert _locs(r) == [["body"]]
    assert _locs(_post(api, [1, 2])) == [["body"]]
    # the evaluation's options
    sid = ok.json()["id"]
    jobs = f"/v1/studies/{sid}/jobs"
    assert ["body", "scenarios"] in _locs(
        api.client.post(jobs, json={"scenarios": 0}, headers=api.auth("alice"))
    )
    r = api.client.post(jobs, json={"scenarios": 2, "scenario_set": "hot"}, headers=api.auth("alice"))
    assert _locs(r) == [["body", "scenario_set"]]
    with_sets = _post(api, {**STUDY, "scenario_sets": {"calm": {}, "hot": {"load": {"growth": 1.1}}}}).json()
    r = api.client.post(
        f"/v1/studies/{with_sets['id']}/jobs", json={"scenarios": 2}, headers=api.auth("alice")
    )
    assert _locs(r) == [["body", "scenario_set"]] and "calm, hot" in r.text
    job = api.client.post(jobs, json={"scenarios": 2, "seed": 7}, headers=api.auth("alice"))
    assert job.status_code == 201 and job.json()["params"] == {"scenarios": 2, "seed": 7}, job.text
    # tenancy: bob sees none of it
    assert api.client.get("/v1/studies", headers=api.auth("bob")).json() == []
    for path in (f"/v1/studies/{sid}", f"/v1/studies/{sid}/file", f"/v1/jobs/{job.json()['id']}/files"):
        assert api.client.get(path, headers=api.auth("bob")).status_code == 404, path
    assert api.client.post(jobs, json={"scenarios": 2}, headers=api.auth("bob")).status_code == 404
    assert api.client.get(f"/v1/studies/{sid}/file", headers=api.auth("alice")).json() == STUDY


def _scores(summary: dict) -> dict[str, float]:
    return {k: v["score"] for k, v in summary["states"].items()}


@pytest.fixture(scope="module")
def reference() -> dict[str, float]:
    """The scores of the same study and seed evaluated in this process (results depend on the seed only)."""
    res = evaluate(study_from_dict(STUDY), N, seed=SEED)
    return {k: round(v.score, 4) for k, v in res.states.items()}


def test_a_study_runs_as_a_job_on_a_real_server(db_url: str, tmp_path: Path, reference: dict[str, float]):
    store = Store(db_url)
    w = build_world(store)
    store.close()
    path = tmp_path / "nine-bus.yaml"
    path.write_text(yaml.safe_dump(STUDY), encoding="utf-8")
    with serving(db_url, tmp_path) as (url, _):
        alice, bob = Client(url, w.secrets["alice"]), Client(url, w.secrets["bob"])
        study = alice.upload_study(path)
        mine, theirs = httpx.Client(timeout=WAIT_S), httpx.Client(timeout=3)
        live, other = (
            c.send(
                c.build_request("GET", url + "/v1/events", headers={"Authorization": f"Bearer {t}"}),
                stream=True,
            )
            for c, t in ((mine, w.secrets["alice"]), (theirs, w.secrets["bob"]))
        )
        job = alice.evaluate_study(study["id"], scenarios=N, seed=SEED)
        assert (job["kind"], job["upload_id"], job["status"]) == ("evaluation", study["id"], "queued")
        seen = _sse(live, lambda e: e["id"] == job["id"] and e["status"] in ("succeeded", "failed"))
        done = alice.wait_job(job["id"], timeout_s=WAIT_S)
        assert done["status"] == "succeeded", done["message"]
        # the scores are those of the same evaluation in this process
        assert _scores(done["result"]["summary"]) == reference
        assert done["result"]["runner"] == "local process" and done["result"]["n_solves"] == 4 * N
        assert f"{N} scenarios, {4 * N} solves" in done["message"]
        # progress on the events stream: non-decreasing, counting solves, to the end
        ours = [e for e in seen if e["id"] == job["id"]]
        assert ours[-1]["status"] == "succeeded" and all(e["result"] == {} for e in ours)
        fractions = [e["progress"] for e in ours]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
        solving = [e["message"] for e in ours if e["stage"] == "solving"]  # as many as the stream caught
        assert all(re.fullmatch(r"\d+ of 24 scenario solves \(local process\)", m) for m in solving), solving
        with pytest.raises(httpx.ReadTimeout):
            _sse(other, lambda e: True)  # bob's stream stays quiet: alice's study is not his to see
        for r, c in ((live, mine), (other, theirs)):
            r.close()
            c.close()
        # the outputs: the report (offline, sandboxed), summary.json as the result, the CSVs
        files = {f["name"]: f for f in alice.request("GET", f"/v1/jobs/{job['id']}/files")}
        assert set(files) == {"report.html", "summary.json", "z.csv", "capacity.csv", "sensitivity.json"}
        raw = httpx.get(
            f"{url}/v1/jobs/{job['id']}/files/report.html",
            headers={**alice.auth, "Accept-Encoding": "identity"},
        )
        assert (
            raw.headers["content-type"].startswith("text/html")
            and "sandbox" in raw.headers["content-security-policy"]
        )
        assert len(raw.content) == files["report.html"]["size"] and b"nine-bus" in raw.content
        assert b"Plotly.newPlot" in raw.content and not re.search(
            rb"<script[^>]+src=", raw.content
        )  # offline
        assert alice.job_file(job["id"], "report.html") == raw.content  # gzip on the wire, the same bytes
        assert _scores(json.loads(alice.job_file(job["id"], "summary.json"))) == reference
        z = alice.job_file(job["id"], "z.csv").decode().splitlines()
        assert z[0] == "state,scenario,t0,t1,t2,t3" and len(z) == 1 + 3 * N
        # the owner's only
        assert bob.list_studies() == []
        for call in (lambda: bob.get_job(job["id"]), lambda: bob.job_file(job["id"], "report.html"),
                     lambda: bob.evaluate_study(study["id"], scenarios=2)):  # fmt: skip
            with pytest.raises(ServerError) as e:
                call()
            assert e.value.status == 404
        # the command line, through the same client
        env = {"GRIDFLEX_SERVER": url, "GRIDFLEX_TOKEN": w.secrets["alice"]}
        runner = CliRunner()
        sub = runner.invoke(
            cli,
            ["studies", "submit", str(path), "--scenarios", str(N), "--seed", str(SEED), "--wait"],
            env=env,
        )
        assert sub.exit_code == 0, sub.output
        finished = json.loads(sub.stdout)
        assert finished["status"] == "succeeded" and _scores(finished["result"]["summary"]) == reference
        assert f"the report: gridflex studies report {finished['id']}" in sub.stderr  # what to do next
        rep = runner.invoke(
            cli, ["studies", "report", str(finished["id"]), "--out", str(tmp_path / "out")], env=env
        )
        assert rep.exit_code == 0, rep.output
        assert (tmp_path / "out" / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
        assert json.loads((tmp_path / "out" / "summary.json").read_text())["n_scenarios"] == N
        bad = runner.invoke(cli, ["studies", "status", "999999"], env=env)
        assert bad.exit_code == 2 and "404" in bad.output


def test_serve_refuses_an_unreachable_dask_scheduler_in_one_line(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "gridflex.cli", "serve", "--db", f"sqlite:///{tmp_path / 'g.db'}", "--port", "0",
         "--dask", "tcp://127.0.0.1:1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert (
        "--dask" in proc.stderr
        and "Traceback" not in proc.stderr
        and len(proc.stderr.strip().splitlines()) <= 2
    )


def test_serve_dask_runs_the_solves_of_a_study_on_the_cluster(tmp_path: Path, reference: dict[str, float]):
    """`gridflex serve --dask`: a real local cluster of two worker processes solves the study; the
    scores are the in-process ones (the scenarios are drawn in the job, from the seed)."""
    distributed = pytest.importorskip("distributed")
    url = f"sqlite:///{tmp_path / 'gridflex.db'}"
    store = Store(url)
    store.upgrade()
    w = build_world(store)
    store.close()
    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, dashboard_address=":0", silence_logs=40
    ) as cluster:
        address = cluster.scheduler_address
        with serving(url, tmp_path, args=("--dask", address)) as (base, _):
            alice = Client(
                base, w.secrets["alice"], timeout_s=WAIT_S
            )  # the cluster's workers load the machine
            job = alice.evaluate_study(alice.upload_study(STUDY)["id"], scenarios=N, seed=SEED)
            done = alice.wait_job(job["id"], timeout_s=WAIT_S)
        assert done["status"] == "succeeded", done["message"]
        assert done["result"]["runner"] == f"dask {address}"
        assert _scores(done["result"]["summary"]) == reference
        # the chunks were tasks of this scheduler, computed by its worker processes
        prefixes = cluster.scheduler.task_prefixes
        assert "solve_chunk" in prefixes, sorted(prefixes)
        n_chunks = 4 * N // STUDY["chunk_size"]
        assert sum(prefixes["solve_chunk"].state_counts.values()) >= n_chunks
