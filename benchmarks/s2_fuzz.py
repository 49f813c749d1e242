"""Fuzz the S2 message handler at full size, printed as JSON.

    .venv/bin/python benchmarks/s2_fuzz.py [--examples 4000] [--seed 0]

Runs the check of ``tests/s2/test_protocol.py::test_fuzz_handler`` (a session at one of four stages
gets a random frame: bytes, text, JSON values, fields of valid frames mutated; every reply must
conform to the S2 schema, and a refused frame must change nothing) with ``--examples`` examples. The
suite runs the same check with a few hundred. Reports the examples run, the wall time and the
outcome; exits 1 (still printing the JSON) when an example fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def fuzz(examples: int, seed: int) -> dict[str, Any]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    sys.path.insert(0, str(ROOT))  # the check and its strategies live with the tests
    from tests.s2 import test_protocol as tp

    calls = [0]

    def check(stage: int, frame: str | bytes) -> None:
        calls[0] += 1
        tp.check_fuzz_frame(stage, frame)

    run = hseed(seed)(
        settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                 suppress_health_check=list(HealthCheck))(given(st.integers(0, 3), tp.frames)(check))
    )  # fmt: skip
    t0 = time.perf_counter()
    error = None
    try:
        run()
    except Exception as exc:  # a failing example: reported, not raised
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]
    wall = time.perf_counter() - t0
    return {"examples_requested": examples, "calls": calls[0], "seed": seed, "wall_s": round(wall, 2),
            "ms_per_call": round(wall / max(calls[0], 1) * 1000.0, 3), "suite_examples": tp.FUZZ_EXAMPLES,
            "ok": error is None, "error": error}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--examples", type=int, default=4000, help="hypothesis examples (≥ 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--smoke", action="store_true", help="Tiny size: checks the script runs (the test suite)."
    )
    args = ap.parse_args(argv)
    if args.smoke:
        args.examples = 30
    if args.examples < 1:
        ap.error("--examples must be at least 1")
    out = fuzz(args.examples, args.seed)
    print(json.dumps(out, indent=2))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
