"""Services: reserves and DSO contracts are deliverable (checked independently), bid rules, strategies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import SiteInfeasibleError, load_site, parse_site, schedule_site
from gridflex.scheduling.strategies import compare_strategies, run_strategy
from tests.scheduling.helpers import START

ROOT = Path(__file__).resolve().parents[2]
PRICES = [40, 35, 30, 28, 30, 45, 70, 90, 80, 60, 50, 45, 40, 38, 40, 50, 65, 95, 110, 90, 70, 55, 50, 45.0]


def _site(services: dict, n: int = 24, grid: dict | None = None, battery: dict | None = None) -> dict:
    return {
        "name": "svc",
        "time": {"start": START, "step_s": 3600, "n_periods": n, "timezone": "Europe/Paris"},
        "prices": {"day_ahead_eur_per_mwh": PRICES[:n] if n == 24 else 50.0},
        "assets": [
            {"kind": "grid_connection", "name": "grid", "import_max_kw": 60, "export_max_kw": 40, **(grid or {})},
            {"kind": "load", "name": "load", "profile_kw": 10.0},
            {"kind": "battery", "name": "b", "capacity_kwh": 40, "charge_power_kw": 20, "soc_min_frac": 0.1,
             "initial_soc_frac": 0.5, "target_soc_frac": 0.5, "charge_efficiency": 0.95,
             "discharge_efficiency": 0.95, **(battery or {})},
            {"kind": "pv", "name": "pv", "profile_kw": [0] * 7 + [5, 10, 15, 18, 20, 20, 18, 15, 10, 5] + [0] * 7},
            {"kind": "ev", "name": "car", "battery_kwh": 50, "initial_kwh": 10, "energy_need_kwh": 20,
             "charger_kw": 11, "v2g_kw": 5, "arrival": "08:00", "departure": "18:00"},
        ],
        "services": services,
    }  # fmt: skip


RESERVES = {
    "reserves": [
        {"name": "fcr", "product": "fcr", "block_h": 4, "min_bid_kw": 5, "step_kw": 1,
         "availability_price_eur_per_mw_h": [20, 12, 25, 30, 35, 15], "activation_share": 0.1},
        {"name": "afrr-up", "product": "afrr_up", "block_h": 4, "delivery_duration_h": 1.5,
         "availability_price_eur_per_mw_h": 8.0, "activation_share": 0.05, "activation_price_eur_per_mwh": 120},
    ]
}  # fmt: skip


def _limits(site: dict, result, n: int) -> dict[str, dict]:
    """Independent per-asset limits from the site parameters (not from the model)."""
    out = {}
    for a in site["assets"]:
        if a["kind"] == "battery":
            p = a["charge_power_kw"]
            out[a["name"]] = dict(lo=np.full(n, -p), hi=np.full(n, p), e_lo=a["soc_min_frac"] * a["capacity_kwh"],
                                  e_hi=a["capacity_kwh"], e0=a["initial_soc_frac"] * a["capacity_kwh"],
                                  eta_c=a["charge_efficiency"], eta_d=a["discharge_efficiency"])  # fmt: skip
        elif a["kind"] == "ev":
            plugged = np.zeros(n)
            plugged[8:18] = 1.0
            out[a["name"]] = dict(lo=-a["v2g_kw"] * plugged, hi=a["charger_kw"] * plugged, e_lo=0.0,
                                  e_hi=a["battery_kwh"], e0=a["initial_kwh"], eta_c=0.95, eta_d=0.95)  # fmt: skip
        elif a["kind"] == "pv":
            out[a["name"]] = dict(lo=-np.asarray(a["profile_kw"], float), hi=np.zeros(n))
    return out


def _check_deliverable(site: dict, result, names: list[str], up: bool, only: np.ndarray | None = None) -> int:
    """From every period, activate every listed service fully in one direction for its duration:
    assets stay within power and energy limits, the grid connection within its limits."""
    n, dt = result.grid.n, result.grid.step_h
    lim = _limits(site, result, n)
    durations = {s: result.service_info[s]["delivery_duration_h"] for s in names}
    dmax = max(durations.values())
    sign = -1.0 if up else 1.0
    checks = 0
    for t in range(n) if only is None else np.flatnonzero(only):
        total_dev = {}
        for a, li in lim.items():
            net = result.power_kw[a]["electricity"]
            r = {s: result.service_allocation_kw[s].get(a, np.zeros(n))[t] for s in names}
            for tau in np.linspace(0, dmax, 25)[1:]:
                k = min(int(np.ceil(tau / dt - 1e-9)) - 1, n - 1 - t)
                if t + k >= n:
                    break
                dev = sum(r[s] for s in names if tau <= durations[s] + 1e-9)
                assert li["lo"][t + k] - 1e-6 <= net[t + k] + sign * dev <= li["hi"][t + k] + 1e-6, (
                    a,
                    t,
                    tau,
                )
                total_dev[(k, tau)] = total_dev.get((k, tau), 0.0) + dev
                if "e_lo" in li:
                    e = np.r_[li["e0"], result.soc_kwh[a]]
                    f = tau / dt - k
                    sched = (1 - f) * e[t + k] + f * e[t + k + 1]
                    moved = sum(r[s] * min(tau, durations[s]) for s in names)
                    energy = sched - moved / li["eta_d"] if up else sched + moved * li["eta_c"]
                    assert li["e_lo"] - 1e-6 <= energy <= li["e_hi"] + 1e-6, (a, t, tau, energy)
                checks += 1
        grid = result.power_kw["grid"]["electricity"]
        g = site["assets"][0]
        for (k, _tau), dev in total_dev.items():
            assert -g["export_max_kw"] - 1e-6 <= grid[t + k] + sign * dev <= g["import_max_kw"] + 1e-6
    return checks


def test_reserves_are_deliverable_from_every_period_and_blocks_follow_the_bid_rules() -> None:
    site = _site(RESERVES, grid={"export_max_kw": 5, "import_max_kw": 30})  # tight: the grid limits bind
    result = schedule_site(parse_site(site))
    assert result.costs_eur["reserve_availability"] < 0 and result.strategy == "cooptimised"
    # Symmetric FCR counts in both directions, together with aFRR up in the up direction.
    assert _check_deliverable(site, result, ["fcr", "afrr-up"], up=True) > 0
    assert _check_deliverable(site, result, ["fcr"], up=False) > 0
    fcr = result.service_kw["fcr"]
    blocks = fcr.reshape(6, 4)
    assert (blocks == blocks[:, :1]).all()  # constant within each 4 h block
    for kw in blocks[:, 0]:
        assert kw == 0 or kw >= 5 - 1e-9
        assert abs(kw - round(kw)) < 1e-6  # 1 kW steps
    assert fcr.max() > 0 and "reserve 'fcr' bid steps" in result.service_info["fcr"]["binaries"]
    allocated = sum(result.service_allocation_kw["fcr"].values())
    assert allocated == pytest.approx(fcr, abs=1e-6)
    # Availability revenue = Σ blocks kW/1000 · price · 4 h.
    price = np.repeat([20, 12, 25, 30, 35, 15], 4)
    assert -result.costs_eur["reserve_availability"] == pytest.approx(
        (fcr / 1000 * price).sum() + (result.service_kw["afrr-up"] / 1000 * 8.0).sum(), rel=1e-6
    )


def test_dso_contract_keeps_its_capacity_in_every_window() -> None:
    dso = {"dso_contracts": [{
        "name": "enedis", "power_kw": 15, "min_power_kw": 10, "min_duration_h": 2,
        "calendar": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "17:00", "end": "20:00"}],
        "availability_price_eur_per_mw_h": 40, "activation_price_eur_per_mwh": 200, "activation_share": 0.1,
    }]}  # fmt: skip
    site = _site(dso)
    result = schedule_site(parse_site(site))
    window = np.zeros(24, bool)
    window[17:20] = True  # 2018-06-12 is a Tuesday; local hours
    assert (result.service_kw["enedis"][window] == pytest.approx(15.0)) and not result.service_kw["enedis"][
        ~window
    ].any()
    assert len(result.service_blocks["enedis"]) == 1 and result.service_blocks["enedis"][0]["kw"] == 15.0
    assert _check_deliverable(site, result, ["enedis"], up=True, only=window) > 0
    assert -result.costs_eur["dso_availability"] == pytest.approx(15 / 1000 * 40 * 3)
    assert -result.costs_eur["dso_activation"] == pytest.approx(15 / 1000 * 0.1 * 200 * 3)
    # Without reservation the contract is optional, but not below its minimum power.
    dso["dso_contracts"][0].update(reservation=False, availability_price_eur_per_mw_h=0, activation_share=0.0)
    free = schedule_site(parse_site(_site(dso)))
    assert free.service_kw["enedis"].max() == 0.0


def test_cooptimised_is_worth_at_least_each_sequence() -> None:
    table = compare_strategies(load_site(ROOT / "examples" / "sites" / "office_services.yaml"))
    value = table.loc["value_eur"]
    tol = 1e-5 * abs(value["cooptimised"]) + 1e-6
    assert value["cooptimised"] >= value["energy_first"] - tol
    assert value["cooptimised"] >= value["services_first"] - tol
    assert table.loc["services_revenue_eur", "cooptimised"] > 0


def test_services_first_fixes_the_commitments_of_its_forecast() -> None:
    data = _site(RESERVES)
    data["strategy"] = {"name": "services_first", "price_forecast": 50.0}
    result = schedule_site(parse_site(data))
    co = run_strategy(parse_site(data), "cooptimised")
    assert result.strategy == "services_first"
    assert result.costs_eur["total"] >= co.costs_eur["total"] - 1e-6


def test_a_commitment_the_battery_cannot_deliver_names_service_and_asset() -> None:
    services = {"reserves": [{"name": "fcr", "product": "fcr", "min_bid_kw": 1000, "step_kw": 100,
                              "committed_kw": 1000, "availability_price_eur_per_mw_h": 10, "providers": ["b"]}]}  # fmt: skip
    with pytest.raises(SiteInfeasibleError) as info:
        schedule_site(parse_site(_site(services)))
    msg = str(info.value)
    assert "reserve 'fcr' commits 1000 kW symmetric" in msg and "battery 'b'" in msg
    assert info.value.problems[0].object_id == "fcr"


def test_bad_service_fields_are_named() -> None:
    def problems(services: dict) -> set[tuple[str, str]]:
        with pytest.raises(ValidationError) as info:
            parse_site(_site(services))
        return {(p.object_id, p.field) for p in info.value.problems}

    bad = {"reserves": [{"name": "fcr", "product": "fcr", "block_h": 5, "availability_price_eur_per_mw_h": [1, 2, 3, 4, 5],
                         "providers": ["load", "nobody"]},
                        {"name": "x", "product": "turbo", "availability_price_eur_per_mw_h": 1},
                        {"name": "y", "product": "mfrr", "min_bid_kw": -1, "availability_price_eur_per_mw_h": 1}],
           "dso_contracts": [{"name": "d", "power_kw": 100, "min_power_kw": 250, "min_duration_h": 1,
                              "calendar": [{"start": "25:00", "end": "20:00"}]}]}  # fmt: skip
    got = problems(bad)
    assert {("x", "product"), ("y", "min_bid_kw")} <= got
    bad["reserves"] = bad["reserves"][:1]
    got = problems(bad)
    assert {("fcr", "block_h"), ("fcr", "availability_price_eur_per_mw_h"), ("fcr", "providers")} <= got
    assert {("d", "power_kw"), ("d", "calendar.0.start")} <= got


def test_result_files_carry_the_services(tmp_path: Path) -> None:
    result = schedule_site(parse_site(_site(RESERVES)))
    data = json.loads(result.to_json())
    assert data["services"]["fcr"]["direction"] == "symmetric" and len(data["services"]["fcr"]["blocks"]) == 6
    assert "reserve_availability" in data["revenue_eur"]
    frame = result.to_frame()
    assert "service_kw/fcr" in frame.columns and "service_kw/fcr/b" in frame.columns


def test_report_has_dispatch_services_and_strategies(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gridflex.cli import app

    site = tmp_path / "site.json"
    site.write_text(json.dumps(_site(RESERVES, n=24)))
    out = tmp_path / "r.html"
    r = CliRunner().invoke(
        app, ["schedule", str(site), "--out", str(tmp_path / "r.json"), "--report", str(out)]
    )
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "r.json").read_text())
    text = out.read_text()
    assert result["services"] and "Services committed" in text and "Strategies compared" in text
    assert "Dispatch: electricity" in text and "<script" in text and "cdn" not in text.lower()[:2000]
