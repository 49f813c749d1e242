"""Site scheduling: balance per carrier, exclusivity and its MILP fallback, costs, infeasibility, files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gridflex.errors import InfeasibleError
from gridflex.scheduling import (
    SiteInfeasibleError,
    build_site_model,
    compile_site,
    load_site,
    run_schedule_file,
    schedule_site,
    solve_site_model,
)
from tests.scheduling.helpers import balance_residual, grid, site

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples" / "sites").glob("*.yaml"))
PRICES = np.array(
    [40, 35, 30, 28, 30, 45, 70, 90, 80, 60, 50, 45, 40, 38, 40, 50, 65, 95, 110, 90, 70, 55, 50, 45.0]
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_solve_balanced_and_exclusive(path: Path) -> None:
    site = load_site(path)
    result = schedule_site(site)
    assert result.status == "optimal"
    for carrier, residual in balance_residual(result).items():
        assert np.abs(residual).max() < 1e-5, carrier
    # Stores never charge and discharge at once: the net flow and the SOC steps agree in sign
    # (up to standing losses; stores providing services also lose their expected activation energy).
    providing = {a for alloc in result.service_allocation_kw.values() for a, kw in alloc.items() if kw.any()}
    for name, e in result.soc_kwh.items():
        if name in providing:
            continue
        net = result.power_kw[name][next(iter(result.power_kw[name]))]
        de = np.diff(e)
        loss = getattr(next(a for a in site.assets if a.name == name), "loss_per_h", 0.0) * result.grid.step_h
        assert not np.any((net[1:] > 1e-6) & (de < -1e-3 - loss * e[:-1])), name
    assert (result.flex_up_kw >= 0).all() and (result.flex_down_kw >= 0).all()
    assert result.time_build_s > 0 and result.time_solver_s > 0
    parts = sum(v for k, v in result.costs_eur.items() if k != "total")
    assert parts == pytest.approx(result.costs_eur["total"], abs=1e-6)


def test_office_meets_every_hard_ev_need_and_reports_flexibility() -> None:
    s = load_site(ROOT / "examples" / "sites" / "office.yaml")
    result = schedule_site(s)
    for a in s.assets:
        if a.kind == "ev" and a.soft is None:
            e = result.soc_kwh[a.name]
            assert e.max() >= a.initial_kwh + a.energy_need_kwh - 1e-6
    assert result.flex_up_kw.max() > 0


def test_import_export_exclusivity_needs_the_milp_fallback() -> None:
    # Feed-in above the import price: the LP would import and export at once to earn the difference.
    s = site(
        [grid(fuse_kw=10), {"kind": "load", "name": "l", "profile_kw": 2.0}], n=4, prices=50.0,
        more_prices={"feed_in_eur_per_mwh": 100.0},
    )  # fmt: skip
    result = schedule_site(s)
    assert result.exclusivity_binaries == ["grid connection 'grid'"] and result.is_mip
    assert result.power_kw["grid"]["electricity"] == pytest.approx(np.full(4, 2.0))
    assert result.costs_eur["total"] == pytest.approx(4 * 2.0 * 50 / 1000)


def test_negative_prices_force_binaries_on_the_battery() -> None:
    prices = np.r_[np.full(6, -80.0), np.full(6, 60.0)]
    s = site(
        [grid(import_max_kw=20, export_max_kw=20),
         {"kind": "battery", "name": "b", "capacity_kwh": 10, "charge_power_kw": 5, "initial_soc_frac": 0.0,
          "soc_min_frac": 0.0, "charge_efficiency": 0.9, "discharge_efficiency": 0.9}],
        n=12, prices=prices,
    )  # fmt: skip
    lp = build_site_model(compile_site(s)).model.solve()
    result = schedule_site(s)
    assert "battery 'b'" in result.exclusivity_binaries
    assert result.costs_eur["total"] >= lp.objective - 1e-9
    e = result.soc_kwh["b"]
    net = result.power_kw["b"]["electricity"]
    step = np.diff(np.r_[0.0, e])
    expected = np.where(net > 0, 0.9 * net, net / 0.9)
    assert step == pytest.approx(expected, abs=1e-6)


def test_ev_precheck_message() -> None:
    s = site(
        [grid(), {"kind": "ev", "name": "car-2", "battery_kwh": 80, "energy_need_kwh": 40, "charger_kw": 7.4,
                  "charge_efficiency": 1.0, "arrival": "03:30", "departure": "07:00"}],
        n=96, step_s=900,
    )  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    msg = str(info.value)
    assert "EV 'car-2' cannot reach 40 kWh by 07:00: needs 11.4 kW, charger gives 7.4 kW" in msg
    assert info.value.problems[0].object_id == "car-2"
    assert isinstance(info.value, InfeasibleError)


def test_solver_infeasibility_is_mapped_to_the_asset() -> None:
    # The charger could do it, the fuse cannot: only the solver finds out.
    s = site(
        [grid(fuse_kw=3), {"kind": "ev", "name": "car-2", "battery_kwh": 80, "energy_need_kwh": 40,
                           "charger_kw": 11, "arrival": "18:00", "departure": "23:00"}],
    )  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    assert "ev 'car-2' energy need" in info.value.groups
    # The need against what the fuse lets through in the session: the pair, not a bound's slack.
    assert [(p.object_id, p.field) for p in info.value.problems] == [("car-2", "energy_need_kwh")]
    assert (
        "EV 'car-2' needs 40 kWh between 18:00 and 23:00 (8.42 kW on average at the charger), the rest "
        "of the site can give it at most 14.25 kWh: grid connection 'grid' allows 3 kW (fuse_kw)"
    ) in str(info.value)


def test_unserved_heat_is_named_by_carrier_and_node() -> None:
    s = site(
        [grid(), {"kind": "heat_pump", "name": "hp", "electric_power_kw": 2, "cop": 3.0},
         {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": [4.0] * 18 + [9.0] * 6}],
    )  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    assert (
        "load 'heat' needs 9 kW of heat at node 'site' in period 18:00–19:00 (and 5 more period(s)), "
        "heat pump 'hp' allows 6 kW"
    ) in str(info.value)


def test_a_load_above_the_fuse_names_the_load_and_the_fuse_not_the_battery() -> None:
    s = site(
        [grid(fuse_kw=60), {"kind": "load", "name": "l", "profile_kw": 100},
         {"kind": "battery", "name": "b", "capacity_kwh": 10, "charge_power_kw": 5, "target_soc_frac": 0.9}],
    )  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    msg = str(info.value)
    assert "load 'l' needs 100 kW of electricity at node 'site' in period 00:00–01:00" in msg
    assert "grid connection 'grid' 60 kW (fuse_kw)" in msg and "battery 'b' 5 kW" in msg
    assert "short by 0" not in msg
    alone = site([grid(fuse_kw=60, import_max_kw=80), {"kind": "load", "name": "l", "profile_kw": 100}])
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(alone)
    assert "load 'l' needs 100 kW" in str(info.value)
    assert "grid connection 'grid' allows 60 kW (fuse_kw)" in str(info.value)
    assert [(p.object_id, p.field) for p in info.value.problems] == [("grid", "fuse_kw")]


def test_production_nobody_can_take_is_named() -> None:
    s = site([grid(export_max_kw=5), {"kind": "load", "name": "gen", "profile_kw": [0] * 12 + [-20] * 12}])
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    assert (
        "load 'gen' produces 20 kW of electricity at node 'site' in period 12:00–13:00 (and 11 more period(s)), "
        "grid connection 'grid' allows 5 kW (export_max_kw)"
    ) in str(info.value)


def test_a_zero_shortfall_is_not_reported_as_short_by_zero() -> None:
    # Two cars share a fuse that can serve either alone, not both: left to the elastic diagnosis.
    cars = [
        {"kind": "ev", "name": f"car-{i}", "battery_kwh": 80, "energy_need_kwh": 20, "charger_kw": 11,
         "arrival": "18:00", "departure": "23:00"}
        for i in (1, 2)
    ]  # fmt: skip
    s = site([grid(fuse_kw=6), *cars])
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(s)
    assert "short by 0 " not in str(info.value) and "short by 0)" not in str(info.value)


@pytest.mark.parametrize(
    ("departure", "expected"),
    [
        ("07:00", "'07:00' (next at Tue 07:00) is after the horizon's end (Tue 12 Jun 04:00, period 4)"),
        (9, "9 is after the horizon's end (Tue 12 Jun 04:00, period 4)"),
        ("2018-06-11T05:00:00+02:00", "is before the horizon's start"),
        ("02:30", "'02:30' falls between two period boundaries"),
    ],
)
def test_a_time_off_the_horizon_says_where_it_is(departure: object, expected: str) -> None:
    from gridflex.errors import ValidationError

    ev = {"kind": "ev", "name": "car", "battery_kwh": 40, "charger_kw": 7, "arrival": "01:00",
          "departure": departure, "energy_need_kwh": 10}  # fmt: skip
    with pytest.raises(ValidationError) as info:
        site([grid(), ev], n=4)
    assert [(p.object_id, p.field) for p in info.value.problems] == [("car", "departure")]
    assert expected in info.value.problems[0].message


def test_soft_ev_need_pays_the_penalty() -> None:
    s = site(
        [grid(fuse_kw=3), {"kind": "ev", "name": "car", "battery_kwh": 80, "energy_need_kwh": 40,
                           "charger_kw": 11, "arrival": "18:00", "departure": "23:00",
                           "soft": {"penalty_eur_per_kwh": 1.0}}],
        prices=PRICES,
    )  # fmt: skip
    result = schedule_site(s)
    stored = result.soc_kwh["car"][22]
    assert stored == pytest.approx(5 * 3 * 0.95)
    assert result.costs_eur["penalty"] == pytest.approx(40 - stored)


def test_peak_charge_and_co2_and_tou() -> None:
    load = np.r_[np.full(12, 2.0), np.full(12, 8.0)]
    base = [grid(peak_eur_per_kw=10.0), {"kind": "load", "name": "l", "profile_kw": list(load)},
            {"kind": "battery", "name": "b", "capacity_kwh": 60, "charge_power_kw": 10, "charge_efficiency": 1,
             "discharge_efficiency": 1, "initial_soc_frac": 0.0, "soc_min_frac": 0.0}]  # fmt: skip
    more = {"tou_eur_per_mwh": 1.0, "co2_kg_per_mwh": 100.0, "co2_eur_per_t": 50.0}
    result = schedule_site(site(base, prices=0.0, more_prices=more))
    imp = result.power_kw["grid"]["electricity"]
    assert imp.max() == pytest.approx(load.mean())  # the battery flattens the import completely
    assert result.costs_eur["peak"] == pytest.approx(10.0 * load.mean())
    assert result.costs_eur["co2"] == pytest.approx(load.sum() / 1000 * 100 / 1000 * 50)
    assert result.costs_eur["tariff"] == pytest.approx(load.sum() / 1000)


def test_intraday_market_is_used_within_its_limit() -> None:
    intraday = PRICES.copy()
    intraday[18] = 10.0
    s = site([grid(), {"kind": "load", "name": "l", "profile_kw": 10.0}], prices=PRICES,
             more_prices={"intraday": {"prices_eur_per_mwh": list(intraday), "max_kw": 4.0}})  # fmt: skip
    result = schedule_site(s)
    expected = (PRICES.sum() * 10 - (PRICES[18] - 10.0) * 4) / 1000
    assert result.costs_eur["energy"] + result.costs_eur["intraday"] == pytest.approx(expected)


def test_extra_constraint_group_before_solving() -> None:
    s = site([grid(), {"kind": "load", "name": "l", "profile_kw": 3.0},
              {"kind": "battery", "name": "b", "capacity_kwh": 20, "charge_power_kw": 5}], prices=PRICES)  # fmt: skip
    sm = build_site_model(compile_site(s))
    imp = next(b for b in sm.model.var_blocks if b.name == "grid connection 'grid' import")
    sm.model.add_constrs("dso limit", np.arange(24), imp.idx, 1.0, -np.inf, np.full(24, 4.0))
    result = solve_site_model(sm)
    assert result.power_kw["grid"]["electricity"].max() <= 4.0 + 1e-9


def test_run_schedule_file_writes_json_and_csv(tmp_path: Path) -> None:
    out, csv = tmp_path / "r.json", tmp_path / "r.csv"
    _, result = run_schedule_file(ROOT / "examples" / "sites" / "home.yaml", out, csv=csv)
    data = json.loads(out.read_text())
    assert data["status"] == "optimal" and data["time"]["n_periods"] == 96
    assert set(data["assets"]) == set(result.power_kw)
    assert len(data["flexibility_kw"]["up"]) == 96
    frame = result.to_frame()
    assert frame.shape[0] == 96 and "power_kw/car/electricity" in frame.columns
    assert csv.read_text().splitlines()[0].startswith("start_utc,")
    wm = result.power_kw["washing-machine"]["electricity"]
    assert wm.sum() == pytest.approx(6.0)  # the sequence runs exactly once


def test_site_functions_take_a_path_a_site_or_a_compiled_site() -> None:
    path = ROOT / "examples" / "sites" / "home.yaml"
    compiled = compile_site(path)
    assert compile_site(compiled) is compiled  # never compiled twice
    by_path, by_site = schedule_site(path), schedule_site(load_site(path))
    assert by_path.costs_eur["total"] == pytest.approx(by_site.costs_eur["total"])
    with pytest.raises(TypeError, match="a Site, a CompiledSite, a dict or a path"):
        compile_site(42)  # type: ignore[arg-type]


def test_capped_lists_the_first_problems_and_counts_the_rest() -> None:
    from gridflex.errors import MAX_SHOWN, Problem, ValidationError, capped, unique

    probs = [Problem(f"a{i}", "f", "bad") for i in range(MAX_SHOWN + 3)]
    text = capped(probs)
    assert text.count("bad") == MAX_SHOWN and text.endswith("; … and 3 more")
    assert capped(probs[:2], total=5).endswith("; … and 3 more")
    assert unique([probs[0], probs[0], probs[1]]) == probs[:2]
    assert str(ValidationError("x", probs)).endswith("… and 3 more")


def test_an_infeasible_message_lists_the_first_problems_and_counts_the_rest() -> None:
    from gridflex.errors import MAX_SHOWN

    cars = [
        {"kind": "ev", "name": f"car-{i}", "battery_kwh": 80, "energy_need_kwh": 40, "charger_kw": 7,
         "arrival": "18:00", "departure": "20:00"}
        for i in range(MAX_SHOWN + 2)
    ]  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(site([grid(), *cars]))
    assert len(info.value.problems) == MAX_SHOWN + 2
    assert str(info.value).count("cannot reach") == MAX_SHOWN and str(info.value).endswith("… and 2 more")
