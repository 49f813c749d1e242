"""Every benchmark script runs at a tiny size (`--smoke`) and prints one JSON document, nothing else, on stdout.

The full sizes are for people measuring (their commands are in each script's docstring and in the docs);
this keeps every script importable and runnable as the code under it moves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
TIMEOUT_S = 600  # a hang fails the test instead of stalling the suite; smoke runs take seconds


def _dask_scaling(figures: dict) -> None:
    """evaluate_dask.py: 1 then 2 workers of a local Dask cluster give the same results as a serial run."""
    runs = figures["runs"]
    assert [r["workers"] for r in runs] == [1, 2]
    assert runs[0]["score"] == runs[1]["score"]  # the same results whatever the cluster
    assert figures["same_z_for_every_worker_count_and_serial"] and figures["drawn_in"].startswith("workers")
    assert all(r["wall_s_median"] > 0 and r["scenarios_per_s"] > 0 for r in runs)


# what a script's smoke figures must show beyond being one JSON document (one run per script)
CHECKS = {"evaluate_dask.py": _dask_scaling}


def test_there_are_benchmarks():
    assert len(BENCHMARKS) >= 5, BENCHMARKS


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_smoke_run_prints_one_json_document(script: Path):
    proc = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, (
        f"{script.name} --smoke exited with {proc.returncode}:\n{proc.stderr[-3000:]}"
    )
    try:
        figures = json.loads(proc.stdout)  # one document: any other line on stdout breaks this
    except json.JSONDecodeError as exc:
        pytest.fail(f"{script.name} --smoke: stdout is not one JSON document ({exc}):\n{proc.stdout[:2000]}")
    assert isinstance(figures, dict) and figures, f"{script.name} --smoke printed no figures: {figures!r}"
    if script.name in CHECKS:
        CHECKS[script.name](figures)
