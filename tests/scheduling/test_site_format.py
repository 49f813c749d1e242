"""Site files: loading, validation with named asset and field, the JSON schema kept in docs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from gridflex.assets import ASSET_KINDS
from gridflex.errors import DataError, ValidationError
from gridflex.scheduling import load_site, parse_site, site_json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "sites").glob("*.yaml"))


def _base(assets: list[dict]) -> dict:
    return {
        "time": {"start": "2018-06-12T00:00:00+02:00", "step_s": 3600, "n_periods": 24},
        "prices": {"day_ahead_eur_per_mwh": 40.0},
        "assets": [{"kind": "grid_connection", "name": "grid"}, *assets],
    }


def _problems(data: dict) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_site(data)
    return {(p.object_id, p.field) for p in info.value.problems}


def test_schema_file_agrees_with_the_models() -> None:
    on_disk = json.loads((ROOT / "docs" / "site.schema.json").read_text())
    assert on_disk == site_json_schema(), "regenerate docs/site.schema.json (see docs/site-format.md)"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_load_and_match_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text()), site_json_schema())
    assert load_site(path).assets


def test_examples_use_every_asset_kind() -> None:
    kinds = {a["kind"] for p in EXAMPLES for a in yaml.safe_load(p.read_text())["assets"]}
    assert kinds == set(ASSET_KINDS)


def test_missing_and_wrong_fields_name_the_asset_and_field() -> None:
    bad = _base(
        [
            {"kind": "battery", "name": "bat", "charge_power_kw": 5},  # no capacity
            {"kind": "pv", "name": "pv", "profile_kw": [1, 2, 3, 4, 5]},  # 5 does not divide 24
            {"kind": "ev", "name": "car", "battery_kwh": 50, "energy_need_kwh": 10, "charger_kw": -1},
            {"kind": "heat_pump", "name": "hp", "electric_power_kw": 5, "colour": "red"},
        ]
    )
    probs = _problems(bad)
    assert ("bat", "capacity_kwh") in probs
    assert ("car", "charger_kw") in probs
    assert ("hp", "colour") in probs
    bad["assets"] = [*bad["assets"][:1], bad["assets"][2]]
    assert ("pv", "profile_kw") in _problems(bad)


def test_cross_field_problems() -> None:
    probs = _problems(
        _base(
            [
                {"kind": "battery", "name": "b", "capacity_kwh": 10, "charge_power_kw": 5,
                 "soc_min_frac": 0.5, "initial_soc_frac": 0.2},
                {"kind": "ev", "name": "car", "battery_kwh": 50, "initial_kwh": 45, "energy_need_kwh": 10,
                 "charger_kw": 7, "arrival": "10:00", "departure": "09:07"},
                {"kind": "load", "name": "car", "profile_kw": 1.0},
            ]
        )
    )  # fmt: skip
    assert {
        ("b", "initial_soc_frac"),
        ("car", "energy_need_kwh"),
        ("car", "departure"),
        ("car", "name"),
    } <= probs


def test_unknown_kind_and_bad_time() -> None:
    data = _base([{"kind": "nuclear", "name": "np"}])
    assert ("np", "") in _problems(data) or any(o == "np" for o, _ in _problems(data))
    data = _base([])
    data["time"] = {"start": "2018-06-12T00:00:00", "step_s": 3600, "n_periods": 24}
    assert ("time", "start") in _problems(data)
    data["time"] = {"start": "2018-06-12T00:00:00Z", "step_s": 3600}
    assert ("time", "n_periods") in _problems(data)


def test_prices_from_smard_and_bad_length(tmp_path: Path) -> None:
    data = _base([])
    data["prices"] = {"day_ahead_eur_per_mwh": {"smard": {"zone": "Atlantis"}}}
    assert ("prices", "day_ahead_eur_per_mwh.smard") in _problems(data)
    data["prices"] = {"day_ahead_eur_per_mwh": [1.0] * 7}
    assert ("prices", "day_ahead_eur_per_mwh") in _problems(data)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        load_site(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("time: [unclosed")
    with pytest.raises(DataError, match="not valid YAML"):
        load_site(broken)
    as_json = tmp_path / "site.json"
    as_json.write_text(json.dumps(_base([{"kind": "load", "name": "l", "profile_kw": 2.0}])))
    assert load_site(as_json).assets[1].name == "l"


@pytest.mark.parametrize(
    ("asset", "prices", "where", "says"),
    [
        ({"kind": "battery", "name": "b", "capacity_kwh": 1e300, "charge_power_kw": 5}, 40.0,
         ("b", "capacity_kwh"), "is 1e+300: give a finite number, |x| ≤ 1e9 kWh"),
        ({"kind": "load", "name": "l", "profile_kw": [1.0, float("nan")]}, 40.0,
         ("l", "profile_kw"), "is not a number (NaN) (value 1)"),
        ({"kind": "load", "name": "l", "profile_kw": 1.0}, 1e300,
         ("prices", "day_ahead_eur_per_mwh"), "|x| ≤ 1e9 EUR/MWh"),
        ({"kind": "load", "name": "l", "profile_kw": 1.0}, [40.0] * 23 + [float("-inf")],
         ("prices", "day_ahead_eur_per_mwh"), "is infinite (-inf) (value 23)"),
    ],
)  # fmt: skip
def test_values_the_solver_cannot_take_are_refused_naming_object_and_field(
    asset, prices, where, says
) -> None:
    data = _base([asset])
    data["prices"] = {"day_ahead_eur_per_mwh": prices}
    with pytest.raises(ValidationError) as info:
        parse_site(data)
    problems = {(p.object_id, p.field): p.message for p in info.value.problems}
    assert list(problems) == [where] and says in problems[where]


def test_infinities_from_a_yaml_file_and_in_services_are_refused(tmp_path: Path) -> None:
    data = _base([{"kind": "battery", "name": "b", "capacity_kwh": 10, "charge_power_kw": 5}])
    data["assets"][0]["fuse_kw"] = float("inf")
    data["services"] = {
        "reserves": [{"name": "fcr", "product": "fcr", "availability_price_eur_per_mw_h": 1e300}]
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))  # fuse_kw: .inf in YAML
    assert ".inf" in path.read_text()
    with pytest.raises(ValidationError) as info:
        load_site(path)
    fields = {(p.object_id, p.field) for p in info.value.problems}
    assert fields == {("grid", "fuse_kw"), ("fcr", "availability_price_eur_per_mw_h")}


def test_pydantic_errors_name_the_object_once_per_field() -> None:
    from gridflex.documents import problems_from_pydantic
    from gridflex.scheduling.site import Site

    data = _base([{"kind": "load", "name": "l", "profile_kw": "lots"}, {"kind": "load", "profile_kw": 1.0}])
    data["services"] = {
        "reserves": [
            {"name": "fcr", "product": "fcr", "block_h": "four", "availability_price_eur_per_mw_h": 1}
        ]
    }
    try:
        Site.model_validate(data)
    except Exception as exc:  # pydantic's ValidationError
        problems = problems_from_pydantic(exc, data, "site")
    pairs = [(p.object_id, p.field) for p in problems]
    # a series fails both union members (number, list): one problem, not two
    assert pairs.count(("l", "profile_kw")) == 1
    assert ("assets[2]", "name") in pairs and ("fcr", "block_h") in pairs
    data["assets"][1]["profile_kw"] = [1.0, "a"]  # a bad value in a list names its position
    try:
        Site.model_validate(data)
    except Exception as exc:
        pairs = [(p.object_id, p.field) for p in problems_from_pydantic(exc, data, "site")]
    assert ("l", "profile_kw[1]") in pairs and ("l", "profile_kw") not in pairs


def test_a_horizon_too_long_is_refused_before_any_array_is_made() -> None:
    data = _base([])
    data["time"]["n_periods"] = 10**8
    assert _problems(data) == {("time", "n_periods")}
    data["time"] = {"start": "2018-06-12T00:00:00Z", "step_s": 1, "end": "2100-01-01T00:00:00Z"}
    assert _problems(data) == {("time", "end")}


def test_an_unknown_strategy_is_a_validation_error() -> None:
    from gridflex.scheduling import run_strategy

    site = parse_site(_base([{"kind": "load", "name": "l", "profile_kw": 1.0}]))
    with pytest.raises(ValidationError) as info:
        run_strategy(site, "bogus")
    assert [(p.object_id, p.field) for p in info.value.problems] == [("strategy", "name")]
