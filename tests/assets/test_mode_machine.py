"""The mode_machine asset kind: a CHP with minimum up and down times, written in a site file."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from gridflex.errors import ValidationError
from gridflex.scheduling import load_site, parse_site, schedule_site
from tests.scheduling.helpers import balance_residual

ROOT = Path(__file__).resolve().parents[2]
CHP = {
    "kind": "mode_machine",
    "name": "chp",
    "modes": [
        {"name": "off"},
        {"name": "on", "power_kw": {"gas": 150, "electricity": -50, "heat": -80}},
    ],
    "transitions": [
        {"from": "off", "to": "on", "start_timers": ["min_up"], "blocking_timers": ["min_down"]},
        {"from": "on", "to": "off", "start_timers": ["min_down"], "blocking_timers": ["min_up"]},
    ],
    "timers_s": {"min_up": 7200, "min_down": 3600},
    "initial_mode": "off",
}


def _site(chp: dict, prices: list[float]) -> dict:
    return {
        "name": "chp-test",
        "time": {"start": "2018-06-12T00:00:00+00:00", "step_s": 900, "n_periods": len(prices)},
        "prices": {"day_ahead_eur_per_mwh": prices},
        "assets": [
            {"kind": "grid_connection", "name": "meter"},
            {"kind": "grid_connection", "name": "gas", "carrier": "gas", "export_max_kw": 0,
             "import_price_eur_per_mwh": 30},
            {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": 80},
            {"kind": "converter", "name": "boiler", "input_carrier": "gas", "outputs": {"heat": 0.9},
             "input_max_kw": 200},
            chp,
        ],
    }  # fmt: skip


def _runs(on: np.ndarray) -> tuple[list[int], list[int]]:
    """Lengths of the on stretches and of the off stretches between two on stretches."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], on.astype(int), [0]])))
    starts, ends = edges[::2], edges[1::2]
    return list(ends - starts), list(starts[1:] - ends[:-1])


# Electricity worth running for 30 min, then not for 30 min: a free CHP would follow it.
TOGGLING = [300.0, 300.0, 0.0, 0.0] * 12


def test_timers_hold_the_chp_on_for_2_h_and_off_for_1_h() -> None:
    res = schedule_site(parse_site(_site(CHP, TOGGLING)))
    on = res.power_kw["chp"]["electricity"] < -1.0
    up, down = _runs(on)
    assert up and all(u >= 8 for u in up[:-1]) and all(d >= 4 for d in down), (up, down)
    free = copy.deepcopy(CHP)
    del free["transitions"], free["timers_s"]
    res_free = schedule_site(parse_site(_site(free, TOGGLING)))
    up_free, _ = _runs(res_free.power_kw["chp"]["electricity"] < -1.0)
    assert min(up_free) < 8  # without timers it follows the prices: the timers are what binds
    assert res_free.costs_eur["total"] < res.costs_eur["total"]
    for carrier, residual in balance_residual(res).items():
        assert np.abs(residual).max() < 1e-5, carrier


def test_a_running_timer_blocks_the_first_periods() -> None:
    chp = {**CHP, "initial_mode": "on", "timers_running_s": {"min_up": 1800}}
    res = schedule_site(parse_site(_site(chp, [0.0] * 8)))  # electricity worth nothing: stop
    on = res.power_kw["chp"]["electricity"] < -1.0
    assert on[:2].all() and not on[2:].any()


def test_the_example_site_schedules_the_chp() -> None:
    res = schedule_site(load_site(ROOT / "examples" / "sites" / "chp.yaml"))
    assert res.status == "optimal" and res.kinds["chp"] == "mode_machine"
    elec = res.power_kw["chp"]["electricity"]
    on = elec < -1.0
    assert on.any()
    assert np.allclose(elec[on], -50.0) and np.allclose(res.power_kw["chp"]["gas"][on], 150.0)
    up, down = _runs(on)
    assert all(u >= 8 for u in up) and all(d >= 4 for d in down)
    assert res.costs_eur["transition"] == pytest.approx(5.0 * len(up), abs=1e-3)  # + a tiny tie-breaker
    for carrier, residual in balance_residual(res).items():
        assert np.abs(residual).max() < 1e-5, carrier


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"transitions": [{"from": "off", "to": "boost"}]}, "transitions[0]"),
        ({"transitions": [{"from": "off", "to": "on", "start_timers": ["warm"]}]}, "transitions[0]"),
        ({"initial_mode": "idle"}, "initial_mode"),
        ({"modes": []}, "modes"),
        ({"modes": [{"name": "on"}, {"name": "on"}], "transitions": None}, "modes"),
        ({"timers_running_s": {"warm": 60}}, "timers_running_s.warm"),
        ({"timers_s": {"min_up": -1, "min_down": 3600}}, "timers_s.min_up"),
    ],
)
def test_bad_machines_name_the_asset_and_field(change: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_site(_site({**CHP, **change}, [50.0] * 8))
    assert ("chp", field) in {(p.object_id, p.field) for p in info.value.problems}, info.value
