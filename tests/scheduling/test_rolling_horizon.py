"""A site on a moving horizon plans at any hour: local-time windows roll (docs/site-format.md,
"Rolling horizon"), and a site that cannot roll is refused once by ``check_rolling``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridflex.assets.ev import EV
from gridflex.assets.shiftable_process import ShiftableProcess
from gridflex.s2.planner import PlanRequest, plan_site
from gridflex.scheduling import (
    Site,
    SiteResult,
    load_site,
    parse_site,
    precheck_site,
    schedule_site,
    site_on_horizon,
)
from gridflex.scheduling.site import check_rolling
from tests.scheduling.helpers import balance_residual

SITES = sorted(Path(__file__).parents[2].joinpath("examples", "sites").glob("*.yaml"))
DAYS = ["2025-06-12", "2025-03-30", "2025-10-26"]  # a normal day, Europe/Paris spring and autumn DST days
TZ = "Europe/Paris"
_loaded: dict[Path, Site] = {}


def _site(path: Path) -> Site:
    if path not in _loaded:
        _loaded[path] = load_site(path)
    return _loaded[path]


def _starts(day: str) -> list[pd.Timestamp]:
    """The 24 whole hours from local midnight (on a DST day they run into the next local day)."""
    midnight = pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")
    return [midnight + pd.Timedelta(hours=h) for h in range(24)]


def _store_bounds(a: Any) -> tuple[float, float, float]:
    """Lowest and highest level (kWh) and the level at the horizon start."""
    if isinstance(a, EV):
        return 0.0, a.battery_kwh, a.initial_kwh
    cap = a.capacity_kwh
    return a.soc_min_frac * cap, a.soc_max_frac * cap, a.initial_soc_frac * cap


def _check_invariants(moved: Site, r: SiteResult) -> None:
    dt = r.grid.step_h
    for carrier, residual in balance_residual(r).items():
        assert np.abs(residual).max() < 1e-5, f"{carrier} does not balance"
    assets = {a.name: a for a in moved.assets}
    services_kw = sum((np.asarray(v) for v in r.service_kw.values()), np.zeros(r.grid.n))
    for name, soc in r.soc_kwh.items():
        a = assets[name]
        lo, hi, initial = _store_bounds(a)
        soc = np.asarray(soc)
        assert (soc >= lo - 1e-6).all() and (soc <= hi + 1e-6).all(), f"{name} leaves its bounds"
        # Continuous: each change of level is explained by the period's power (and reserve activations).
        power = np.max([np.abs(p) for p in r.power_kw[name].values()], axis=0)
        eta = min(getattr(a, "charge_efficiency", 1.0), getattr(a, "discharge_efficiency", 1.0))
        loss_kwh = (1.0 - (1.0 - getattr(a, "loss_per_h", 0.0)) ** dt) * hi  # standing loss, at most
        step = np.abs(np.diff(np.r_[initial, soc]))
        assert (step <= (power + services_kw) * dt / eta + loss_kwh + 1e-6).all(), f"{name} level jumps"
        if isinstance(a, EV) and a.soft is None:
            assert isinstance(a.departure, int)
            need = a.initial_kwh + a.energy_need_kwh
            assert soc[a.departure - 1] >= need - 1e-4, f"{name} misses its need"
    for a in moved.assets:
        if isinstance(a, ShiftableProcess) and a.kind == "shiftable_process":
            assert isinstance(a.earliest_start, int) and isinstance(a.latest_end, int)
            kw = np.asarray(r.power_kw[a.name]["electricity"])
            assert abs(kw.sum() - sum(a.profile_kw)) < 1e-6, f"{a.name} does not run once"
            assert not kw[: a.earliest_start].any() and not kw[a.latest_end :].any(), (
                f"{a.name} leaves its window"
            )


@pytest.mark.parametrize("day", DAYS)
@pytest.mark.parametrize("path", SITES, ids=lambda p: p.stem)
def test_every_example_site_plans_at_every_hour(path: Path, day: str) -> None:
    site = _site(path)
    n = site.time.n_periods or 96
    assert check_rolling(site, n * site.time.step_s / 3600) == []
    for start in _starts(day):
        moved = site_on_horizon(site, start, n)
        # The gap only speeds up the services MILP: the invariants hold for any feasible plan.
        _check_invariants(moved, schedule_site(moved, time_limit_s=60, mip_rel_gap=1e-2))


@pytest.mark.parametrize("day", ["2018-02-06", "2018-03-25"])  # the Enedis contract is in force
def test_the_dso_evening_window_rolls_with_the_horizon(day: str) -> None:
    site = _site(SITES[[p.stem for p in SITES].index("office_services")])
    for start in _starts(day)[::3]:
        moved = site_on_horizon(site, start, 96)
        assert [d.name for d in moved.services.dso_contracts] == ["enedis-evening"]
        r = schedule_site(moved, time_limit_s=60, mip_rel_gap=1e-2)
        _check_invariants(moved, r)
        local = r.grid.index.tz_convert(TZ)
        evening = (local.weekday < 5) & (local.hour >= 17) & (local.hour < 20)
        kept = np.asarray(r.service_kw["enedis-evening"])
        assert np.allclose(kept[evening], 60.0) and not kept[~evening].any()


def test_home_at_16_55_utc_plans_the_washing_machine_before_22_00() -> None:
    """The README at 16:55 UTC: the window 12:00–22:00 is open; it is clipped to the start."""
    home = _site(SITES[[p.stem for p in SITES].index("home")])
    now = datetime(2026, 12, 3, 16, 55, tzinfo=UTC)  # 17:55 in Paris
    # The CEM's horizon starts at the period holding now (16:45 UTC): 22:00 is a boundary.
    start = datetime(2026, 12, 3, 16, 45, tzinfo=UTC)
    plan = plan_site(home, PlanRequest(start, 900, 96, loads_kw={"dev": np.zeros(96)}))
    assert plan.n == 96
    moved = site_on_horizon(home, start, 96)
    wm = next(a for a in moved.assets if a.name == "washing-machine")
    assert (wm.earliest_start, wm.latest_end) == (0, 17)  # 16:45 → 21:00 UTC (22:00 in Paris)
    _check_invariants(moved, schedule_site(moved))
    # A start off the period boundaries: 22:00 falls between two and rounds to the next one.
    moved = site_on_horizon(home, now, 96)
    wm = next(a for a in moved.assets if a.name == "washing-machine")
    assert (wm.earliest_start, wm.latest_end) == (0, 17)  # 16:55 + 17 × 15 min = 21:10 UTC
    _check_invariants(moved, schedule_site(moved))


@settings(max_examples=60, deadline=None)
@given(minute=st.integers(0, 366 * 24 * 60), stem=st.sampled_from(["home", "office", "office_services"]))
def test_any_minute_of_a_year_gives_a_valid_plannable_site(minute: int, stem: str) -> None:
    """Starts off the period boundaries too: every window lands inside the horizon, prechecks pass."""
    site = _site(SITES[[p.stem for p in SITES].index(stem)])
    start = datetime(2025, 1, 1, tzinfo=UTC) + pd.Timedelta(minutes=minute)
    moved = site_on_horizon(site, start, 96)
    assert precheck_site(moved) == []
    for a in moved.assets:
        if isinstance(a, EV | ShiftableProcess):
            window = (a.arrival, a.departure) if isinstance(a, EV) else (a.earliest_start, a.latest_end)
            assert isinstance(window[0], int) and isinstance(window[1], int)
            assert 0 <= window[0] < window[1] <= 96


@pytest.mark.parametrize("path", SITES, ids=lambda p: p.stem)
def test_the_cem_plans_every_example_site_at_every_hour_today(path: Path) -> None:
    """The S2 planner's path (devices appended, site validated again) on a date SMARD does not cover."""
    site = _site(path)
    n = site.time.n_periods or 96
    for h in range(24):
        start = datetime(2026, 12, 3, h, tzinfo=UTC)
        plan = plan_site(site, PlanRequest(start, site.time.step_s, n, loads_kw={"dev": np.full(n, 0.5)}))
        assert plan.n == n and np.isfinite(plan.net_import_kw).all()


def test_a_lone_local_end_is_after_the_start() -> None:
    car = {**EV_SPEC, "arrival": 0, "departure": "07:00"}
    moved = _moved(_one(car, n=24), "2025-06-13 07:00")  # 07:00 now is no session: the next 07:00
    assert (moved.arrival, moved.departure) == (0, 24)


# ── the rules, one by one ─────────────────────────────────────────────────────────────────────


def _one(asset: dict[str, Any], n: int = 24) -> Site:
    return parse_site({
        "name": "rules", "time": {"start": "2025-06-12T12:00:00+02:00", "step_s": 3600, "n_periods": n,
                                  "timezone": TZ},
        "assets": [{"kind": "grid_connection", "name": "meter"}, asset],
    })  # fmt: skip


EV_SPEC = {"kind": "ev", "name": "car", "battery_kwh": 60, "initial_kwh": 10, "energy_need_kwh": 26,
           "arrival": "18:00", "departure": "07:00", "charger_kw": 11}  # fmt: skip


def _moved(site: Site, local: str, n: int = 24) -> Any:
    start = pd.Timestamp(local).tz_localize(TZ)
    return next((a for a in site_on_horizon(site, start, n).assets if a.name in ("car", "wm")), None)


def test_an_ev_session_open_at_the_start_is_clipped_and_its_need_scaled() -> None:
    car = _moved(_one(EV_SPEC), "2025-06-12 20:00")  # 2 of the 13 h of the session are past
    assert (car.arrival, car.departure) == (0, 11)
    assert car.energy_need_kwh == pytest.approx(22.0) and car.initial_kwh == pytest.approx(14.0)
    car = _moved(_one(EV_SPEC), "2025-06-12 08:00")  # over: the evening's session
    assert (car.arrival, car.departure, car.energy_need_kwh) == (10, 23, 26)


def test_an_occurrence_ending_after_the_horizon_is_left_to_a_later_plan() -> None:
    site = _one(EV_SPEC)  # planned on 12 h horizons
    assert _moved(site, "2025-06-12 08:00", 12) is None  # 18:00–07:00 ends after 20:00
    car = _moved(site, "2025-06-12 18:00", 12)
    assert car is None  # 13 h do not fit 12: check_rolling refuses the site for such a horizon
    assert [(p.object_id, p.field) for p in check_rolling(site, 12)] == [("car", "departure")]


def test_a_process_window_too_short_to_run_in_counts_as_run() -> None:
    wm = {"kind": "shiftable_process", "name": "wm", "profile_kw": [2.0, 1.0],
          "earliest_start": "12:00", "latest_end": "22:00"}  # fmt: skip
    moved = _moved(_one(wm), "2025-06-12 20:00")
    assert (moved.earliest_start, moved.latest_end) == (0, 2)
    moved = _moved(_one(wm, n=26), "2025-06-12 21:00", 26)  # 1 h left for a 2 h run: tomorrow's window
    assert (moved.earliest_start, moved.latest_end) == (15, 25)


def test_windows_on_dst_days_follow_the_local_clock() -> None:
    # Spring (2025-03-30 02:00 → 03:00): from 12:00 the day before, the night's session lasts 12 h.
    car = _moved(_one(EV_SPEC), "2025-03-29 12:00")
    assert (car.arrival, car.departure) == (6, 18)
    # Autumn (2025-10-26 03:00 → 02:00): the same session lasts 14 h.
    car = _moved(_one(EV_SPEC), "2025-10-25 12:00")
    assert (car.arrival, car.departure) == (6, 20)


def test_check_rolling_refuses_what_cannot_roll_naming_object_and_field() -> None:
    fixed = {**EV_SPEC, "arrival": "2025-06-12T18:00:00+02:00"}
    assert [(p.object_id, p.field) for p in check_rolling(_one(fixed, n=36), 24)] == [("car", "arrival")]
    late = {**EV_SPEC, "arrival": 30, "departure": 40}
    assert ("car", "arrival") in [(p.object_id, p.field) for p in check_rolling(_one(late, n=48), 24)]
    long = {**EV_SPEC, "arrival": "13:00", "departure": "12:00"}  # 23 h, 24 h on the autumn day
    probs = check_rolling(_one(long, n=48), 23)
    assert [(p.object_id, p.field) for p in probs] == [("car", "departure")]
    assert "24 h" in probs[0].message and "23 h horizon" in probs[0].message
    assert check_rolling(_one(long, n=48), 24) == []
    assert [p.field for p in check_rolling(_one(EV_SPEC), 24, 7)] == ["step_s"]
    assert check_rolling(_one(EV_SPEC), 24) == []


def test_check_rolling_refuses_a_dso_calendar_that_never_occurs() -> None:
    data = _site(SITES[[p.stem for p in SITES].index("office_services")]).model_dump(mode="json")
    data["services"]["dso_contracts"][0]["calendar"][0]["days"] = []
    probs = check_rolling(parse_site(data), 24)
    assert [(p.object_id, p.field) for p in probs] == [("enedis-evening", "calendar")]
