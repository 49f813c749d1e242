"""Model-predictive control: zero forecast error ≈ perfect foresight, errors cost, warm re-solves."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import load_site
from gridflex.scheduling.mpc import run_mpc

ROOT = Path(__file__).resolve().parents[2]


def _office_without_evs():
    site = load_site(ROOT / "examples" / "sites" / "office_services.yaml")
    return site.model_copy(update={"assets": [a for a in site.assets if a.kind != "ev"]})


def test_mpc_without_forecast_error_matches_perfect_foresight_and_errors_cost_more() -> None:
    site = _office_without_evs()
    exact = run_mpc(site, days=3, step_h=1, horizon_h=24, forecast_error=0.0)
    # Only the end-of-horizon targets separate the rolling run from the one-shot optimum.
    assert exact.regret_eur >= -1e-6
    assert exact.realised_cost_eur == pytest.approx(exact.perfect_foresight_cost_eur, rel=5e-3)
    noisy = run_mpc(site, days=3, step_h=1, horizon_h=24, forecast_error=0.2, seed=7)
    assert noisy.perfect_foresight_cost_eur == pytest.approx(exact.perfect_foresight_cost_eur)
    assert noisy.realised_cost_eur >= exact.perfect_foresight_cost_eur - 1e-6
    assert noisy.realised_cost_eur >= exact.realised_cost_eur - 1e-6
    same = run_mpc(site, days=3, step_h=1, horizon_h=24, forecast_error=0.2, seed=7)
    assert same.realised_cost_eur == pytest.approx(noisy.realised_cost_eur)  # seeded


def test_mpc_re_solves_the_same_model_warm_and_agrees_with_a_fresh_build() -> None:
    result = run_mpc(_office_without_evs(), days=2, step_h=2, horizon_h=36, forecast_error=0.1, seed=1)
    assert result.steps == 24
    # One model per horizon length: 36 h, then the shrinking tail 34 h, 32 h, ... (every 2 h).
    assert result.builds == len({min(144, 192 - s) for s in range(0, 192, 8)})
    assert len(result.solve_warm_s) == result.steps - result.builds
    assert result.max_warm_cold_gap_eur < 1e-6  # in-place data changes = a fresh model of the same data


def test_mpc_names_what_it_does_not_support() -> None:
    site = load_site(ROOT / "examples" / "sites" / "office_services.yaml")
    with pytest.raises(ValidationError) as info:
        run_mpc(site, days=2)
    assert ("car-1", "kind") in {(p.object_id, p.field) for p in info.value.problems}
