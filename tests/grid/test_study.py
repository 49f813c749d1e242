"""Study files: YAML and JSON, errors that name the field, the schema kept in docs agrees."""

import json
from pathlib import Path

import pytest

from gridflex.errors import DataError, ValidationError
from gridflex.grid.study import load_study, study_json_schema

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """
name: tiny
network: {case: case9}
load: {shape: [0.8, 0.9, 1.0], growth: 1.1, noise: {sigma_pu: 0.02}}
storage:
  - {id: b1, bus: 4, power_mw: 10, energy_mwh: 40}
"""


def test_yaml_and_json_read_the_same(tmp_path):
    y = tmp_path / "s.yaml"
    y.write_text(MINIMAL)
    a = load_study(y)
    import yaml

    j = tmp_path / "s.json"
    j.write_text(json.dumps(yaml.safe_load(MINIMAL)))
    b = load_study(j)
    assert a == b
    assert a.n_periods == 3 and a.load.growth == 1.1
    assert a.storage[0].soc_init == 0.5  # defaults filled
    assert a.base_dir() == tmp_path


def _problems(tmp_path, text):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ValidationError) as e:
        load_study(p)
    assert str(p) in str(e.value)
    return {pr.field: pr.message for pr in e.value.problems}


def test_errors_name_the_field(tmp_path):
    probs = _problems(
        tmp_path,
        MINIMAL.replace("energy_mwh: 40", "energy_mwh: -4").replace("growth: 1.1", "growth: 1.1, growht: 2"),
    )
    assert "storage.0.energy_mwh" in probs
    assert "load.growht" in probs  # a typo is an error, not silently ignored


def test_model_rule_names_its_field(tmp_path):
    text = MINIMAL + "renewables:\n  - {id: w, bus: 1, kind: wind, capacity_mw: 5, profile_pu: [0.1, 0.2]}\n"
    probs = _problems(tmp_path, text)
    assert "renewables.0.profile_pu" in probs
    probs = _problems(tmp_path, MINIMAL.replace("energy_mwh: 40", "energy_mwh: 40, soc_init: 0.95"))
    assert any(f.startswith("storage.0") for f in probs)


def test_network_needs_exactly_one_source(tmp_path):
    probs = _problems(tmp_path, MINIMAL.replace("{case: case9}", "{}"))
    assert "network" in probs


def test_unreadable_files_are_data_errors(tmp_path):
    with pytest.raises(DataError):
        load_study(tmp_path / "missing.yaml")
    bad = tmp_path / "x.yaml"
    bad.write_text("network: [unclosed")
    with pytest.raises(DataError, match="YAML"):
        load_study(bad)


def test_schema_in_docs_agrees_with_the_models():
    on_disk = json.loads((ROOT / "docs" / "evaluation-study.schema.json").read_text())
    assert on_disk == study_json_schema()


def test_example_studies_validate():
    paths = sorted((ROOT / "examples").glob("*.yaml"))
    assert {p.name for p in paths} >= {"rts24.yaml", "case39.yaml", "rts24_province.yaml"}
    for p in paths:
        st = load_study(p)
        for name in st.scenario_sets:  # each set is validated with the study
            assert st.scenario_set(name).n_periods == st.n_periods


# ---- limits: what the solver cannot take is refused here, naming the field ---------------------


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("energy_mwh: 40", "energy_mwh: 1.0e300", "storage.0.energy_mwh"),
        ("energy_mwh: 40", "energy_mwh: .inf", "storage.0.energy_mwh"),
        ("power_mw: 10", "power_mw: .nan", "storage.0.power_mw"),
        ("growth: 1.1", "growth: 1.0e300", "load.growth"),
        ("sigma_pu: 0.02", "sigma_pu: .inf", "load.noise.sigma_pu"),
        ("shape: [0.8, 0.9, 1.0]", "shape: [0.8, 1.0e300, 1.0]", "load.shape.1"),
        ("name: tiny", "name: tiny\nshed_cost_eur_per_mwh: 1.0e300", "shed_cost_eur_per_mwh"),
        ("name: tiny", "name: tiny\nspill_cost_eur_per_mwh: -.inf", "spill_cost_eur_per_mwh"),
        ("name: tiny", "name: tiny\ndt_h: 1.0e300", "dt_h"),
        ("energy_mwh: 40", "energy_mwh: 40, eta_charge: 1.0e-300", "storage.0.eta_charge"),
    ],
)
def test_values_the_solver_cannot_take_are_refused_naming_the_field(tmp_path, old, new, field):
    probs = _problems(tmp_path, MINIMAL.replace(old, new))
    assert list(probs) == [field], probs  # one problem, on that field (not also the union's other branch)


@pytest.mark.parametrize("shape", ["[]", "[" + ", ".join(["1.0"] * 9000) + "]"])
def test_shape_length_is_checked_up_front(tmp_path, shape):
    from gridflex.grid.limits import MAX_PERIODS

    probs = _problems(tmp_path, MINIMAL.replace("[0.8, 0.9, 1.0]", shape))
    assert list(probs) == ["load.shape"] and f"give 1 to {MAX_PERIODS}" in probs["load.shape"]
