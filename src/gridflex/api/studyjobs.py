"""Evaluation studies as service jobs: the study file checked as the API receives it, and the job
kind ``evaluation`` that runs :func:`gridflex.grid.evaluate` and keeps its outputs.

The job runs in the job runner's process (the local process pool of ``gridflex serve``); its OPF
solves run there serially or, when the server was started with ``--dask tcp://HOST:PORT``, on that
Dask cluster (:func:`configure` is the pool's initializer). Progress is written as the solves
complete; the outputs of ``gridflex evaluate`` (``report.html``, ``summary.json``, CSVs) are kept
as the job's files and ``summary.json`` is also the job's ``result.summary``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from gridflex.errors import GridflexError, Problem, ValidationError
from gridflex.grid import check_evaluation, evaluate, solve_plan
from gridflex.grid.study import Study, build_network, study_from_dict
from gridflex.parallel import runner
from gridflex.reports.evaluation import write_outputs
from gridflex.store import Store
from gridflex.store.columns import utcnow
from gridflex.store.jobfiles import attach_file
from gridflex.store.jobs import JobRow, fail, progress, succeed
from gridflex.store.runner import EXECUTORS
from gridflex.store.uploads import UploadRow

__all__ = [
    "EVALUATION",
    "MAX_SCENARIOS",
    "configure",
    "dask_address",
    "execute_evaluation",
    "study_of",
    "study_summary",
]

EVALUATION = "evaluation"
MAX_SCENARIOS = 1_000_000  # the memory check (gridflex.grid.check_evaluation) usually refuses fewer
PROGRESS_EVERY_S = 0.5  # write progress at most this often (a row update each, read by /v1/events)
FILE_REFERENCES = ("matpower", "fit_csv")  # paths on the machine that reads the study
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}

_dask: str | None = None


def configure(dask: str | None) -> None:
    """Run the solves of this process's evaluation jobs on the Dask scheduler ``dask`` (None: here)."""
    global _dask
    _dask = dask


def dask_address() -> str | None:
    return _dask


def _file_references(data: Any, path: str = "") -> list[Problem]:
    """A study read by the server may not name files: they would be the server's (``matpower``,
    ``fit_csv``). Each one found, named by its place in the document."""
    found: list[Problem] = []
    if isinstance(data, dict):
        for k, v in data.items():
            here = f"{path}.{k}" if path else str(k)
            if k in FILE_REFERENCES and v is not None:
                why = (
                    "names a file, which the service cannot read: give `network.case` (a pandapower case)"
                    if k == "matpower"
                    else "names a file, which the service cannot read: give the noise parameters it would fit"
                )
                found.append(Problem("body", here, why))
            else:
                found += _file_references(v, here)
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _file_references(v, f"{path}.{i}")
    return found


def study_of(data: Any) -> Study:
    """The uploaded study document as a :class:`Study`, or one ValidationError whose problems name
    the fields as the request body's (``loc``: ``body.<field>.<…>``)."""
    if not isinstance(data, dict):
        raise ValidationError("the study", [Problem("body", "", "a study file is a mapping of fields")])
    problems = _file_references(data)
    if problems:
        raise ValidationError("the study", problems)
    try:
        return study_from_dict(data, object_id="the study")
    except ValidationError as exc:
        raise ValidationError(
            "the study", [Problem("body", p.field, p.message) for p in exc.problems]
        ) from None


def check_network(study: Study) -> None:
    """Build the study's network and check its bus ids (422 naming ``network.case`` or the bus field)."""
    try:
        net = build_network(study)
    except GridflexError as exc:
        raise ValidationError("the study", [Problem("body", "network.case", str(exc))]) from None
    problems = check_evaluation(study, 1, net, available_bytes=None)
    if problems:
        raise ValidationError("the study", [Problem("body", p.field, p.message) for p in problems])


def check_run(study: Study, n_scenarios: int) -> None:
    """Refuse a run that cannot fit in this machine's memory, naming ``scenarios`` (or ``load.shape``)."""
    problems = check_evaluation(study, n_scenarios, build_network(study))
    if problems:
        named = [
            Problem("body", "scenarios" if p.field == "n_scenarios" else p.field, p.message) for p in problems
        ]
        raise ValidationError("the evaluation", named)


def study_summary(study: Study) -> dict[str, Any]:
    """What a study file holds, for listings."""
    return {
        "network": study.network.case,
        "n_periods": study.n_periods,
        "dt_h": study.dt_h,
        "storage_mwh": float(sum(s.energy_mwh for s in study.storage)),
        "scenario_sets": list(study.scenario_sets),
    }


def _finite(x: Any) -> Any:
    """JSON without NaN or infinities (PostgreSQL's JSON refuses them): those become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def execute_evaluation(store: Store, job_id: int) -> None:
    """Evaluate the job's study (``params``: ``scenarios``, ``seed``, ``scenario_set``); keep the
    outputs as the job's files. A study that cannot be evaluated ends the job ``failed``."""
    with store.transaction() as s:
        job = s.get_one(JobRow, job_id)
        body, params = s.get_one(UploadRow, int(job.upload_id or 0)).body, dict(job.params)
        progress(s, job_id, "preparing", 0.0)
    n, seed, chosen = int(params["scenarios"]), int(params.get("seed", 0)), params.get("scenario_set")
    where = f"dask {_dask}" if _dask else "local process"
    cpu0, wall0 = time.process_time(), time.perf_counter()  # this process's share (not Dask workers')
    last = [0.0]

    def on_progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        with store.transaction() as s:
            progress(s, job_id, "solving", 0.95 * done / max(total, 1))
            s.get_one(JobRow, job_id).message = f"{done:,} of {total:,} scenario solves ({where})"

    try:
        study = study_of(body)
        if chosen:
            study = study.scenario_set(chosen)
        net = build_network(study)
        total = solve_plan(study, n).n_solves
        run = runner(scheduler=_dask) if _dask else None
        result = evaluate(study, n, seed=seed, runner=run, progress=on_progress, net=net)
        with store.transaction() as s:
            progress(s, job_id, "writing", 0.97)
        with tempfile.TemporaryDirectory(prefix="gridflex-study-") as tmp:
            paths = write_outputs(result, tmp)
            files = {name: Path(p).read_bytes() for name, p in paths.items()}
    except GridflexError as exc:
        with store.transaction() as s:
            fail(s, job_id, f"{type(exc).__name__}: {exc}", utcnow())
        return
    summary = _finite(json.loads(files["summary.json"]))
    scores = ", ".join(f"{k} {v['score']:.2f}" for k, v in summary["states"].items())
    with store.transaction() as s:
        for name, data in files.items():
            attach_file(s, job_id, name, MEDIA_TYPES[Path(name).suffix], data)
        used = {
            "cpu_s": round(time.process_time() - cpu0, 3),
            "wall_s": round(time.perf_counter() - wall0, 3),
        }
        out = {
            "summary": summary,
            "files": sorted(files),
            "runner": where,
            "n_solves": total,
            "job_process": used,
        }
        succeed(s, job_id, out, f"{n:,} scenarios, {total:,} solves: {scores}", utcnow())


EXECUTORS[EVALUATION] = execute_evaluation
