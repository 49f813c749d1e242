"""Sizing against hand-computed annuities and arbitrage revenue; services count in the choice."""

from __future__ import annotations

import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import parse_site
from gridflex.scheduling.sizing import SizeOption, annuity_factor, size_site
from tests.scheduling.helpers import START


def _day(services: dict | None = None) -> dict:
    return {
        "name": "arbitrage",
        "time": {"start": START, "step_s": 3600, "n_periods": 24, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": [20.0] * 12 + [100.0] * 12},
        "assets": [
            {"kind": "grid_connection", "name": "grid", "import_max_kw": 1000, "export_max_kw": 1000},
            {"kind": "load", "name": "load", "profile_kw": 5.0},
            {"kind": "battery", "name": "b", "capacity_kwh": 10, "charge_power_kw": 10, "soc_min_frac": 0.0,
             "initial_soc_frac": 0.0, "charge_efficiency": 1.0, "discharge_efficiency": 1.0},
        ],
        **({"services": services} if services else {}),
    }  # fmt: skip


def _battery(capex: float) -> SizeOption:
    return SizeOption("b", "capacity_kwh", [0.0, 10.0, 20.0], capex, 10.0, linked={"charge_power_kw": 1.0})


def test_the_annuity_factor_matches_its_closed_form() -> None:
    assert annuity_factor(0.05, 10) == pytest.approx(0.05 * 1.05**10 / (1.05**10 - 1))
    assert annuity_factor(0.0, 8) == pytest.approx(1 / 8)


@pytest.mark.parametrize(("capex", "best"), [(200.0, 20.0), (300.0, 0.0)])
def test_a_battery_is_sized_by_its_arbitrage_against_its_annuity_hand_computed(
    capex: float, best: float
) -> None:
    """Lossless battery, 1 C, empty at start: each day it buys E kWh at 20 and sells them at 100 EUR/MWh:
    0.08 EUR per kWh of size and day, 29.2 EUR per kWh and year. Its annuity at 5 % over 10 years is
    0.1295 × capex: 25.90 EUR/kWh/yr at 200 EUR/kWh (worth it: the largest size) and 38.85 at 300
    (not worth it: none)."""
    result = size_site([(parse_site(_day()), 365.0)], [_battery(capex)])
    assert result.best == {"b.capacity_kwh": best}
    table = result.table.set_index("b.capacity_kwh")
    saving = table.loc[0.0, "operating_eur_per_year"] - table.loc[20.0, "operating_eur_per_year"]
    assert saving == pytest.approx(365 * 0.08 * 20)
    assert table.loc[20.0, "capital_eur_per_year"] == pytest.approx(capex * 20 * annuity_factor(0.05, 10))


def test_services_revenue_enters_the_sizing() -> None:
    """At 300 EUR/kWh arbitrage alone does not pay; an FCR availability price makes a battery worth it."""
    fcr = {"reserves": [{"name": "fcr", "product": "fcr", "availability_price_eur_per_mw_h": 40.0}]}
    result = size_site([(parse_site(_day(fcr)), 365.0)], [_battery(300.0)])
    assert result.best["b.capacity_kwh"] > 0
    assert result.table["services_revenue_eur_per_year"].max() > 0


def test_bad_sizing_inputs_are_named() -> None:
    with pytest.raises(ValidationError) as info:
        size_site([(parse_site(_day()), 0.0)], [SizeOption("ghost", "capacity_kwh", [1.0], 1.0, 10.0),
                                                 SizeOption("b", "wings", [-1.0], 1.0, 10.0)])  # fmt: skip
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert {
        ("ghost", "options.0"),
        ("b", "options.1.field"),
        ("b", "options.1.values"),
        ("sizing", "days.0"),
    } <= fields


def test_a_sizing_file_gives_what_size_site_gives_and_the_size_command_prints_it(tmp_path) -> None:
    """The hand-computed case as files: a site file and a sizing file beside it (site path relative
    to the sizing file); ``gridflex size`` prints the best size and writes every combination."""
    import json

    import yaml
    from typer.testing import CliRunner

    from gridflex.cli import app
    from gridflex.scheduling.sizing import size_file

    (tmp_path / "days").mkdir()
    (tmp_path / "days" / "arbitrage.json").write_text(json.dumps(_day()))
    spec = {"days": [{"site": "days/arbitrage.json", "weight": 365}],
            "options": [{"asset": "b", "field": "capacity_kwh", "values": [0, 10, 20], "capex_eur_per_unit": 200,
                         "lifetime_years": 10, "linked": {"charge_power_kw": 1.0}}]}  # fmt: skip
    path = tmp_path / "sizing.yaml"
    path.write_text(yaml.safe_dump(spec))
    from_file = size_file(path)
    direct = size_site([(parse_site(_day()), 365.0)], [_battery(200.0)])
    assert from_file.best == direct.best == {"b.capacity_kwh": 20.0}
    assert from_file.best_cost_eur_per_year == pytest.approx(direct.best_cost_eur_per_year)
    out = CliRunner().invoke(app, ["size", str(path), "--out", str(tmp_path / "t.csv")])
    assert out.exit_code == 0, out.output
    assert "best: b.capacity_kwh = 20" in out.output and (tmp_path / "t.csv").read_text().count("\n") == 4


def test_a_bad_sizing_file_names_the_field(tmp_path) -> None:
    import yaml

    from gridflex.scheduling.sizing import size_file

    path = tmp_path / "sizing.yaml"
    path.write_text(yaml.safe_dump({"days": [{"site": "x.yaml", "weight": -1}],
                                    "options": [{"asset": "b", "field": "capacity_kwh", "values": [],
                                                 "capex_eur_per_unit": 1, "lifetime_years": 10}]}))  # fmt: skip
    with pytest.raises(ValidationError) as info:
        size_file(path)
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert {("sizing", "days.0.weight"), ("sizing", "options.0.values")} <= fields
