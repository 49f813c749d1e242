"""`gridflex rm simulate` refuses bad options in one line (exit code 2) before it connects."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gridflex.cli import app


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--speed", "0"], "speed"), (["--speed", "-5"], "speed"), (["--speed", "nan"], "speed"),
     (["--speed", "1e300"], "speed"), (["--duration-s", "-1"], "duration-s"), (["--duration-s", "nan"], "duration-s")],
)  # fmt: skip
def test_rm_simulate_refuses_bad_options(args: list[str], field: str) -> None:
    # port 9 (discard) on loopback: nothing listens; the options are refused before any connection
    r = CliRunner().invoke(
        app, ["rm", "simulate", "battery", "--url", "ws://127.0.0.1:9/s2", "--token", "t", *args]
    )
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and field in lines[0], r.output
