"""A reproducible stress generator: EV and heat-pump adoption and PV scaling on top of a grid's profiles.

SimBench grids are never congested as shipped (lines peak below 100 %), so tests, examples and
benchmarks add what the energy transition brings, from real profiles where they exist:

- EVs: SimBench's home-charging-station profiles (``HLS_A_3.7``, ``HLS_B_3.7``, ``HLS_A_11.0``,
  ``HLS_A_22.0``; normalised to the station's rating), shipped with ``lv-rural1-storage``.
- Heat pumps: SimBench's heat-pump profiles (``Air_Parallel_2``, ``Air_Semi-Parallel_2``,
  ``Air_Alternative_2``, ``Soil_Alternative_2``), from the same grid.
- PV: the production of every PV generator (SimBench ``PV*`` and the ``lv_*`` aggregates of LV
  feeders) times ``pv_scale``.

Households per residential load (profiles ``H0*`` and ``lv_*``) = nominal power / ``household_kw``.
Each household adopts an EV (heat pump) with probability ``ev_share`` (``heat_pump_share``), drawn with
``seed``; the adopted units of a load are spread over the profiles and over time shifts of up to
``max_shift_periods`` either way (diversity between households), all drawn with the same seed: the
same scenario on the same grid and series gives the same result, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from gridflex.errors import Problem, ValidationError
from gridflex.grid.distribution.model import DistributionNetwork
from gridflex.grid.distribution.profiles import ElementSeries, Profiles

# SimBench profile → rated power of one unit (kW)
EV_PROFILES_KW = {"HLS_A_3.7": 3.7, "HLS_B_3.7": 3.7, "HLS_A_11.0": 11.0, "HLS_A_22.0": 22.0}
HEAT_PUMP_PROFILES = ("Air_Parallel_2", "Air_Semi-Parallel_2", "Air_Alternative_2", "Soil_Alternative_2")
RESIDENTIAL_PREFIXES = ("H0", "lv_")


@dataclass(frozen=True)
class StressScenario:
    """What is added to the grid's own profiles; the defaults change nothing."""

    ev_share: float = 0.0  # share of households with an EV, 0..1
    heat_pump_share: float = 0.0  # share of households with a heat pump, 0..1
    pv_scale: float = 1.0  # factor on the production of every PV generator
    household_kw: float = 4.0  # nominal power of one household: how many a residential load stands for
    heat_pump_kw: float = 3.0  # electric rating of one heat pump
    max_shift_periods: int = 8  # time diversity between households: up to 2 h either way at 15 min
    seed: int = 0

    def validate(self) -> list[Problem]:
        out = []
        for name in ("ev_share", "heat_pump_share"):
            if not 0 <= getattr(self, name) <= 1:
                out.append(Problem("stress", name, "must be between 0 and 1"))
        for name in ("pv_scale", "household_kw", "heat_pump_kw", "max_shift_periods"):
            if not getattr(self, name) >= 0:
                out.append(Problem("stress", name, "must be >= 0"))
        return out

    def describe(self) -> str:
        return (
            f"stress: EV {self.ev_share:.0%} and heat pumps {self.heat_pump_share:.0%} of households, "
            f"PV x{self.pv_scale:g} (seed {self.seed})"
        )


def stress(
    net: DistributionNetwork,
    series: ElementSeries,
    scenario: StressScenario,
    unit_profiles: Profiles | None = None,
) -> ElementSeries:
    """``series`` with the scenario's EVs, heat pumps and extra PV added (house sign: + consumption)."""
    problems = scenario.validate()
    if problems:
        raise ValidationError("stress scenario", problems)
    if unit_profiles is None:
        from gridflex.grid.distribution.gridfile import load_grid

        unit_profiles = load_grid("lv-rural1-storage").profiles
    rng = np.random.default_rng(scenario.seed)
    delta = np.zeros_like(series.p_mw)
    n_load = len(net.load)
    households = np.zeros(n_load, dtype=np.int64)
    residential = np.array([str(p).startswith(RESIDENTIAL_PREFIXES) for p in net.load.profile], dtype=bool)
    households[residential] = np.round(net.load.p_mw[residential] * 1e3 / scenario.household_kw).astype(
        np.int64
    )
    t0 = _offset(series, unit_profiles)
    units = (
        (scenario.ev_share, {f"load_p:{k}": v for k, v in EV_PROFILES_KW.items()}),
        (scenario.heat_pump_share, {f"load_p:{k}": scenario.heat_pump_kw for k in HEAT_PUMP_PROFILES}),
    )
    for share, profiles in units:
        if share <= 0 or households.sum() == 0:
            continue
        adopters = rng.binomial(households, share)
        per_profile = np.stack(
            [rng.multinomial(n, np.full(len(profiles), 1 / len(profiles))) for n in adopters]
        )
        for j, (name, kw) in enumerate(profiles.items()):
            delta[:, :n_load] += _shifted_sum(
                unit_profiles, name, t0, series.periods, per_profile[:, j], scenario, rng
            ) * (kw / 1e3)
    if scenario.pv_scale != 1.0:
        sg = net.sgen
        is_pv = np.array(
            [
                "PV" in str(k) or str(p).startswith(("PV", "lv_"))
                for k, p in zip(sg.kind, sg.profile, strict=True)
            ],
            dtype=bool,
        )
        cols = n_load + np.flatnonzero(is_pv)
        delta[:, cols] += (scenario.pv_scale - 1.0) * series.p_mw[:, cols]  # sgen columns are negative
    return series.with_changes(delta, note=scenario.describe())


def _offset(series: ElementSeries, profiles: Profiles) -> int:
    """Period of the unit profiles matching the series' start (same time of year; the year wraps)."""
    minutes = (series.start - profiles.start).total_seconds() / 60
    return int(minutes // profiles.step_min) % profiles.periods


def _shifted_sum(
    profiles: Profiles,
    name: str,
    t0: int,
    n: int,
    counts: np.ndarray,
    scenario: StressScenario,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n, loads): Σ over each load's units of the profile, each unit shifted in time at random."""
    j = profiles.column(name)
    if j is None:
        raise ValidationError(
            "stress scenario", [Problem("stress", name, "profile missing from the unit profiles")]
        )
    s = scenario.max_shift_periods
    idx = (t0 - s + np.arange(n + 2 * s)) % profiles.periods
    windows = sliding_window_view(profiles.values[idx, j], 2 * s + 1)[:, ::-1]  # [t, k]: value at t - (k - s)
    shifts = np.stack([rng.multinomial(c, np.full(2 * s + 1, 1 / (2 * s + 1))) for c in counts], axis=1)
    return windows @ shifts


# Scenarios that congest the shipped ``mv-semiurb`` grid (used by the example, the tests and the benchmark):
# a cold January day with heat pumps and EVs in most homes, and a June day with twelve times today's PV.
WINTER = StressScenario(ev_share=0.8, heat_pump_share=0.8, household_kw=1.5, seed=1)
SUMMER = StressScenario(pv_scale=12.0, seed=1)
SCENARIOS = {"none": StressScenario(), "winter": WINTER, "summer": SUMMER}
