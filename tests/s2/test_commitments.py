"""Site-file windows remembered between plans (a CEM re-plans every period): a process run that has
started continues as committed and runs once per window; an EV session's energy so far is what the
plans charged. Checked in execution: each plan's first hour is what happens, as on a real site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gridflex.s2.planner import PlanRequest, WarmModel, plan_site
from gridflex.scheduling import load_site, schedule_site, site_on_horizon
from gridflex.scheduling.rolling import Commitments, record
from gridflex.timegrid import TimeGrid

HOME = (
    Path(__file__).resolve().parents[2] / "examples" / "sites" / "home.yaml"
)  # car 18:30-07:00 (25 kWh), washing machine 12:00-22:00
STEP, N = 900, 96


def _execute(hours: range, commitments: Commitments | None) -> dict[str, np.ndarray]:
    """Re-plan every hour from 12:00 Paris (2018-06-12) and run each plan's first hour; the executed
    power per asset (kW per period) and the car as each plan saw it."""
    site = load_site(HOME)
    own = {a.name: a for a in site.assets}
    t0 = datetime(2018, 6, 12, 10, 0, tzinfo=UTC)
    done: dict[str, list[float]] = {"washing-machine": [], "car": [], "car_initial": []}
    for h in hours:
        start = t0 + timedelta(hours=h)
        moved = site_on_horizon(site, start, N, STEP, commitments=commitments)
        res = schedule_site(moved)
        if commitments is not None:
            record(commitments, own, list(moved.assets), res.power_kw, TimeGrid(start, STEP, N))
        for name in ("washing-machine", "car"):
            kw = res.power_kw.get(name, {}).get("electricity", np.zeros(N))
            done[name] += [float(x) for x in kw[:4]]
        car = next((a for a in moved.assets if a.name == "car"), None)
        done["car_initial"].append(np.nan if car is None else car.initial_kwh)
    return {k: np.array(v) for k, v in done.items()}


@pytest.fixture(scope="module")
def remembered() -> dict[str, np.ndarray]:
    return _execute(range(21), Commitments())  # 12:00 to 09:00 Paris


def test_a_started_run_continues_and_runs_once_per_window(remembered: dict[str, np.ndarray]) -> None:
    profile = next(a for a in load_site(HOME).assets if a.name == "washing-machine").profile_kw
    ran = remembered["washing-machine"][: 10 * 4]  # 12:00-22:00 Paris: the window
    kwh = ran.sum() * STEP / 3600
    assert kwh == pytest.approx(sum(profile) * STEP / 3600, abs=1e-6)  # once, whole
    on = np.flatnonzero(ran > 1e-9)
    assert np.allclose(ran[on[0] : on[0] + len(profile)], profile)  # in one go, as its sequence
    # without memory each plan re-places the run in what is left of the window: it runs again
    forgetful = _execute(range(10), None)["washing-machine"]
    assert forgetful.sum() * STEP / 3600 > kwh + 1e-3


def test_the_car_gets_its_need_in_execution(remembered: dict[str, np.ndarray]) -> None:
    car = next(a for a in load_site(HOME).assets if a.name == "car")
    stored = remembered["car"] * STEP / 3600 * car.charge_efficiency  # no V2G in the file
    # 18:30-07:00 Paris: hours 6.5..19 of the run; executed energy meets the need by departure
    assert stored.sum() >= car.energy_need_kwh - 1e-6
    # each plan of the open session starts from what was really charged so far (not a share)
    seen = remembered["car_initial"]
    for h in range(7, 19):  # plans at 19:00 .. 06:00 Paris, the session open
        assert seen[h] == pytest.approx(car.initial_kwh + stored[: h * 4].sum(), abs=1e-6)


def test_the_cem_planner_keeps_commitments_between_plans() -> None:
    site = load_site(HOME)
    warm = WarmModel()
    t0 = datetime(2018, 6, 12, 10, 0, tzinfo=UTC)
    for h in range(5):  # 12:00-16:00 Paris: the run is placed, starts, and goes on
        plan_site(site, PlanRequest(t0 + timedelta(hours=h), STEP, N, warm=warm))
    ((key, start),) = warm.commitments.runs.items()
    assert key[0] == "washing-machine" and start < (t0 + timedelta(hours=4)).timestamp()
    moved = site_on_horizon(site, t0 + timedelta(hours=4), N, STEP, commitments=warm.commitments)
    wm = next((a for a in moved.assets if a.name == "washing-machine"), None)
    ran = round(((t0 + timedelta(hours=4)).timestamp() - start) / STEP)
    if ran < 8:  # still running: the rest of its sequence, fixed at the start
        assert wm is not None and wm.earliest_start == 0 and wm.latest_end == 8 - ran
    else:  # finished: no second run in the same window
        assert wm is None
