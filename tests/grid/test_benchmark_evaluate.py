"""benchmarks/evaluate.py: the PyPSA side by side reports its per-scenario ratio, or says how to get it.

(tests/test_benchmarks.py runs every script with --smoke and checks its stdout is one JSON document;
there, evaluate_dask.py's smoke figures also show the same score for 1 and 2 Dask workers.)
"""

import importlib.util
import sys
from pathlib import Path

import pytest

from gridflex.grid.study import load_study

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_evaluate", ROOT / "benchmarks" / "evaluate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_without_pypsa_the_figures_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pypsa", None)  # import fails as when it is not installed
    out = _bench().pypsa_side_by_side(load_study(ROOT / "examples" / "rts24.yaml"), 1)
    assert out["available"] is False and ".[bench]" in out["reason"]


def test_with_pypsa_the_per_scenario_ratio_is_reported():
    pytest.importorskip("pypsa")
    out = _bench().pypsa_side_by_side(load_study(ROOT / "examples" / "rts24.yaml"), 1)
    assert out["available"] is True, out
    assert out["objective_max_rel_diff"] < 1e-6  # the same model on both sides
    assert out["speedup_per_scenario"] > 0 and set(out["per_scenario_ms"]) == {"gridflex", "pypsa"}
