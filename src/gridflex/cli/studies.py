"""``gridflex studies submit|status|report``: evaluation studies on a server (`gridflex serve`),
through :mod:`gridflex.client`. The same study files as ``gridflex evaluate``; the server runs them
as jobs (docs/service.md, "Evaluation studies").

Results are JSON on stdout; progress goes to stderr; a refusal is one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gridflex.cli.common import _progress, clear_errors, err
from gridflex.cli.market import ServerOpt, TokenOpt

studies_app = typer.Typer(help="Evaluation studies on a gridflex server: submit, follow, fetch the report.")

JobArg = Annotated[int, typer.Argument(help="The evaluation job's id (printed by submit).")]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=1))  # plain print: exact JSON for pipes


def _follow(gf: Any, job_id: int) -> dict[str, Any]:
    """Wait for the job with a progress bar on stderr (scenario solves done / total)."""
    with _progress(err) as bar:
        task = bar.add_task(f"job {job_id}", total=None)

        def show(job: dict[str, Any]) -> None:
            done = job["message"].split(" of ")[0].replace(",", "") if " of " in job["message"] else ""
            total = (
                job["message"].split(" of ")[1].split(" ")[0].replace(",", "")
                if " of " in job["message"]
                else ""
            )
            if done.isdigit() and total.isdigit():
                bar.update(
                    task, completed=int(done), total=int(total), description=f"job {job_id} {job['stage']}"
                )
            else:
                bar.update(task, description=f"job {job_id} {job['stage']}")

        job = gf.wait_job(job_id, on_change=show)
        bar.update(task, description=f"job {job_id} {job['status']}")
    return job


@studies_app.command("submit")
@clear_errors
def submit_cmd(
    server: ServerOpt,
    token: TokenOpt,
    study: Annotated[Path, typer.Argument(help="Study file (YAML or JSON; docs/evaluation.md).")],
    scenarios: Annotated[int, typer.Option(min=1, help="Number of scenarios.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the scenarios.")] = 0,
    scenario_set: Annotated[
        str | None, typer.Option("--set", help="The scenario set to run (if the study has sets).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job to its end (progress on stderr).")] = False,
) -> None:
    """Upload a study and start its evaluation; prints the job (JSON), or with --wait the finished job."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        uploaded = gf.upload_study(study)
        job = gf.evaluate_study(uploaded["id"], scenarios=scenarios, seed=seed, scenario_set=scenario_set)
        if wait:
            job = _follow(gf, job["id"])
    _print_json(job)
    if job["status"] == "failed":
        err.print(f"job {job['id']} failed: {job['message']}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    # what to do next, on stderr (stdout stays the job's JSON)
    if job["status"] == "succeeded":
        err.print(f"job {job['id']} succeeded: {job['message']}\nthe report: gridflex studies report {job['id']} "
                  "--out DIR", highlight=False, soft_wrap=True)  # fmt: skip
    else:
        err.print(f"job {job['id']} {job['status']}: follow it with gridflex studies status {job['id']} --wait",
                  highlight=False, soft_wrap=True)  # fmt: skip


@studies_app.command("status")
@clear_errors
def status_cmd(server: ServerOpt, token: TokenOpt, job: JobArg,
               wait: Annotated[bool, typer.Option(help="Follow the job to its end.")] = False) -> None:  # fmt: skip
    """The job's status, stage, progress and, once it succeeded, its summary (JSON)."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        _print_json(_follow(gf, job) if wait else gf.get_job(job))


@studies_app.command("report")
@clear_errors
def report_cmd(
    server: ServerOpt,
    token: TokenOpt,
    job: JobArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the job's files (created).")] = Path(
        "evaluation"
    ),
) -> None:
    """Download the outputs of a finished evaluation (report.html, summary.json, CSVs) into --out."""
    from gridflex.client import Client

    with Client(server, token) as gf:
        names = [f["name"] for f in gf.request("GET", f"/v1/jobs/{job}/files")]
        if not names:
            state = gf.get_job(job)
            raise FileNotFoundError(
                f"job {job} has no files yet: it is {state['status']} ({state['message']})"
            )
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            (out / name).write_bytes(gf.job_file(job, name))
    _print_json({"job": job, "files": [str(out / n) for n in names]})
