"""The PostgreSQL fixture's contract: unreachable PostgreSQL is a skip locally and a failure in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ci, outcome", [("", "1 skipped"), ("1", "1 error")])
def test_unreachable_postgresql_skips_locally_and_fails_in_ci(ci: str, outcome: str):
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["GRIDFLEX_TEST_PG"] = "postgresql+psycopg://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    if ci:
        env["CI"] = ci
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider",
         "tests/store/test_store.py::test_migrations_reach_head_and_are_idempotent[postgresql]"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert outcome in proc.stdout, proc.stdout[-2000:]
    assert (proc.returncode == 0) == (not ci)
