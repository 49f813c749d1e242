"""Pooling sites to reach a DSO tender's minimum size, checked against one two-node site."""

from __future__ import annotations

import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site, schedule_site
from gridflex.scheduling.pooling import pool_dso_contract
from tests.scheduling.helpers import START

PRICES = [40, 35, 30, 28, 30, 45, 70, 90, 80, 60, 50, 45, 40, 38, 40, 50, 65, 95, 110, 90, 70, 55, 50, 45.0]
CONTRACT = {
    "name": "enedis", "power_kw": 250, "min_power_kw": 250, "min_duration_h": 2,
    "calendar": [{"start": "17:00", "end": "20:00"}], "availability_price_eur_per_mw_h": 40,
}  # fmt: skip


def _assets(tag: str, battery_kw: float, node: str = "site") -> list[dict]:
    return [
        {"kind": "grid_connection", "name": f"grid{tag}", "node": node, "import_max_kw": 400, "export_max_kw": 400},
        {"kind": "load", "name": f"load{tag}", "node": node, "profile_kw": 50.0},
        {"kind": "battery", "name": f"b{tag}", "node": node, "capacity_kwh": 4 * battery_kw,
         "charge_power_kw": battery_kw, "soc_min_frac": 0.1, "initial_soc_frac": 0.5, "target_soc_frac": 0.5,
         "charge_efficiency": 0.95, "discharge_efficiency": 0.95},
    ]  # fmt: skip


def _site(name: str, assets: list[dict], services: dict | None = None) -> dict:
    return {
        "name": name,
        "time": {"start": START, "step_s": 3600, "n_periods": 24, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": PRICES},
        "assets": assets,
        **({"services": services} if services else {}),
    }


def test_two_sites_too_small_alone_answer_a_250_kw_tender_together() -> None:
    a, b = _site("a", _assets("", 150.0)), _site("b", _assets("", 120.0))
    pool = pool_dso_contract([parse_site(a), parse_site(b)], CONTRACT, step_kw=10)
    assert sum(pool.shares_kw.values()) == pytest.approx(250.0)
    assert pool.alone_kw["a"] < 250 and pool.alone_kw["b"] < 250  # neither reaches the minimum alone
    for name, kw in pool.shares_kw.items():
        assert pool.results[name].service_kw["enedis"][17:20] == pytest.approx(kw)
    # Second formulation: one site with the two as nodes answering the contract as a whole (the LP
    # splits continuously, so it is at least as good; the 10 kW grid is fine enough to tie here).
    joint = schedule_site(parse_site(_site("ab", _assets("-a", 150.0, "a") + _assets("-b", 120.0, "b"),
                                           {"dso_contracts": [CONTRACT]})))  # fmt: skip
    assert joint.costs_eur["total"] <= pool.cost_eur + 1e-6
    assert pool.cost_eur == pytest.approx(joint.costs_eur["total"], abs=0.05)
    # Revenue of the pool: 250 kW × 40 EUR/MW·h × 3 h = 30 EUR, shared by the sites.
    revenue = sum(-r.costs_eur["dso_availability"] for r in pool.results.values())
    assert revenue == pytest.approx(30.0)
    assert pool.value_eur == pytest.approx(pool.standalone_cost_eur - pool.cost_eur)


def test_a_pool_that_cannot_reach_the_power_says_how_much_it_holds() -> None:
    small = [parse_site(_site(n, _assets("", 40.0))) for n in ("x", "y")]
    with pytest.raises(ValidationError) as info:
        pool_dso_contract(small, CONTRACT, step_kw=10)
    p = info.value.problems[0]
    assert (p.object_id, p.field) == ("enedis", "power_kw") and "hold at most" in p.message


def test_bad_pool_inputs_are_named() -> None:
    s = parse_site(_site("a", _assets("", 150.0)))
    with pytest.raises(ValidationError) as info:
        pool_dso_contract([s, s], dict(CONTRACT, power_kw=245), step_kw=10)
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert {("pool", "sites"), ("enedis", "power_kw")} <= fields


def test_the_pool_command_prints_shares_and_value(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from gridflex.cli import app

    paths = []
    for name, kw in (("a", 150.0), ("b", 120.0)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(_site(name, _assets("", kw))))
        paths.append(str(p))
    contract = tmp_path / "tender.json"
    contract.write_text(json.dumps(CONTRACT))
    out = CliRunner().invoke(app, ["pool", *paths, "--contract", str(contract), "--step-kw", "50"])
    assert out.exit_code == 0, out.output
    assert "enedis (250 kW)" in out.output and "value of the pool" in out.output


def test_the_pool_example_files_answer_the_tender_together() -> None:
    """examples/sites/pool: a school and a gym, each too small alone for the 250 kW Enedis tender."""
    from pathlib import Path

    import yaml

    from gridflex.scheduling import load_site

    folder = Path(__file__).resolve().parents[2] / "examples" / "sites" / "pool"
    tender = yaml.safe_load((folder / "enedis_tender.yaml").read_text())
    pool = pool_dso_contract([load_site(folder / f) for f in ("school.yaml", "gym.yaml")], tender, step_kw=10)
    assert all(kw < 250 for kw in pool.alone_kw.values())
    assert sum(pool.shares_kw.values()) == pytest.approx(250.0)
    assert all(pool.shares_kw[s] <= pool.alone_kw[s] + 1e-9 for s in pool.shares_kw)
    assert pool.value_eur > 0 and pool.cost_eur == pytest.approx(pool.standalone_cost_eur - pool.value_eur)
