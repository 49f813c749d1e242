"""A seeded, reproducible synthetic fleet of flex-offers, valid by construction.

**Synthetic data.** No public data set gives per-device flexibility for a fleet, so the offers are
drawn from simple, documented distributions. Each distribution names its source or says that it is
an assumption; treat the fleet as a realistic *shape* for tests and benchmarks, not as a forecast.

One vectorized function per device type draws all devices of that type at once (no Python loop per
device) and returns a :class:`FlexOfferBatch`; :func:`generate_fleet` concatenates them in the order
of :data:`DEFAULT_MIX`. Every offer, with its default schedule, fits inside :func:`fleet_horizon`
(local midnight of ``day`` for 36 hours): ``horizon.start <= EST <= LST`` and
``LST + duration <= horizon.end``, all on the horizon's grid.

Local wall-clock times (arrival 18:00, PV 07:00–20:00, ...) are converted to UTC once, through a
small table of the local grid times of ``day`` and the next day, so DST days (23 or 25 hours) are
handled: a skipped wall-clock time moves forward to the first existing one, a repeated one takes its
first (summer-time) occurrence.

Sign: positive energy = consumption, negative = production. Energies in kWh per interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cached_property

import numpy as np
import pandas as pd

from gridflex.errors import Problem, ValidationError
from gridflex.flexoffer.model import FlexOfferBatch, Schedule
from gridflex.timegrid import TimeGrid

__all__ = [
    "COLD_TYPES",
    "DEFAULT_MIX",
    "DEVICE_TYPES",
    "ColdParams",
    "cold_offers",
    "fleet_horizon",
    "generate_fleet",
]

DEFAULT_MIX: dict[str, float] = {
    "ev": 0.35,
    "heat_pump": 0.2,
    "wet_appliance": 0.25,
    "home_battery": 0.1,
    "pv": 0.1,
}
"""Share of each device type in a fleet (assumption: an aggregator portfolio of French households)."""

COLD_TYPES: tuple[str, ...] = ("fridge", "freezer")
"""Cold appliances: generated when a ``mix`` asks for them (they are not in :data:`DEFAULT_MIX`, so the
default fleet stays as it was)."""

DEVICE_TYPES: tuple[str, ...] = (*DEFAULT_MIX, *COLD_TYPES)

# Child seeds in this order, so a type added later never changes the devices of another, nor owners.
_SEED_ORDER: tuple[str, ...] = (*DEFAULT_MIX, "owners", *COLD_TYPES)

HORIZON_H = 36
"""Length of :func:`fleet_horizon` in hours (absolute, from local midnight of ``day``)."""

_TABLE_H = 48  # wall-clock hours covered by the local→UTC table (the horizon ends before local 37:00)
_DEVICES_PER_PROSUMER = 1.6  # assumption: a participating household brings ~1.6 flexible devices
_PRICE_RANGE_EUR_PER_MWH = (
    1.0,
    8.0,
)  # assumption: activation prices above / below the default (a small share of the spread)
_ACCEPT_LEAD_S = 7200  # acceptBeforeTime = EST − 2 h
_ASSIGN_LEAD_S = 900  # assignmentBeforeTime = EST − 15 min

# PV location: centre of France (assumption, used for the clear-sky day length only).
_PV_LAT_DEG = 46.5
_PV_LON_DEG = 2.5


# ---- time helpers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Clock:
    """Local wall-clock ↔ UTC for ``day`` and the next day, on a grid of ``interval_s``."""

    interval_s: int
    wall_utc_s: np.ndarray  # int64: UTC seconds of local wall-clock time k*interval_s after midnight
    start_s: int  # horizon start (local midnight of day, UTC seconds)
    end_s: int  # horizon end
    day_of_year: int
    day_utc_s: int  # UTC midnight of the calendar date ``day`` (reference for the sun's position)

    @property
    def per_hour(self) -> int:
        return 3600 // self.interval_s

    def n_intervals(self, hours: np.ndarray | float) -> np.ndarray:
        """Number of whole intervals in ``hours`` (rounded to the nearest)."""
        return np.rint(np.asarray(hours, dtype=float) * self.per_hour).astype(np.int64)

    def wall_up(self, hours: np.ndarray) -> np.ndarray:
        """UTC seconds of local wall-clock ``hours`` after midnight of ``day``, rounded up to the grid."""
        k = np.ceil(np.asarray(hours, dtype=float) * self.per_hour - 1e-9).astype(np.int64)
        return self._snap(self.wall_utc_s[k], up=True)

    def wall_down(self, hours: np.ndarray) -> np.ndarray:
        """Same as :meth:`wall_up`, rounded down to the grid."""
        k = np.floor(np.asarray(hours, dtype=float) * self.per_hour + 1e-9).astype(np.int64)
        return self._snap(self.wall_utc_s[k], up=False)

    def wall_k(self, k: np.ndarray) -> np.ndarray:
        """UTC seconds of the ``k``-th local grid time after midnight."""
        return self._snap(self.wall_utc_s[np.asarray(k, dtype=np.int64)], up=True)

    def _snap(self, t: np.ndarray, up: bool) -> np.ndarray:
        # Keep every time on the horizon grid, even for zones whose offset is not a whole step.
        rel = t - self.start_s
        q = -(-rel // self.interval_s) if up else rel // self.interval_s
        return self.start_s + q * self.interval_s


def _local_midnight(day: object, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(day)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(tz).tz_localize(None)
    return ts.normalize()


def _clock(day: object, tz: str, interval_s: int) -> _Clock:
    midnight = _local_midnight(day, tz)
    k = _TABLE_H * 3600 // interval_s + 1
    naive = pd.date_range(midnight, periods=k, freq=pd.Timedelta(seconds=interval_s))
    aware = naive.tz_localize(tz, ambiguous=np.ones(k, dtype=bool), nonexistent="shift_forward")
    wall = aware.as_unit("s").asi8.astype(np.int64)
    start = int(wall[0])
    day_utc_s = int((midnight - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))
    return _Clock(interval_s, wall, start, start + HORIZON_H * 3600, int(midnight.day_of_year), day_utc_s)


def fleet_horizon(
    day: str | date | datetime = "2018-06-12", tz: str = "Europe/Paris", interval_s: int = 900
) -> TimeGrid:
    """The grid every generated offer lies in: local midnight of ``day`` (in ``tz``) for 36 hours.

    36 absolute hours, also on DST days (so it ends at local 13:00 of the next day after the spring
    change, 11:00 after the autumn one, 12:00 otherwise).
    """
    _check_args(0, None, day, tz, interval_s)
    c = _clock(day, tz, interval_s)
    return TimeGrid(pd.Timestamp(c.start_s, unit="s", tz="UTC"), interval_s, HORIZON_H * 3600 // interval_s)


# ---- shared construction ------------------------------------------------------------------------
def _labels(prefix: str, numbers: np.ndarray, min_digits: int = 6) -> np.ndarray:
    """``prefix`` + zero-padded decimal ``numbers`` (at least ``min_digits``, all of one width), built
    as UCS-4 code points (no per-item string formatting), as numpy ``StringDType`` strings."""
    numbers = np.asarray(numbers, dtype=np.int64)
    width = max(min_digits, len(str(int(numbers.max()))) if len(numbers) else min_digits)
    head = np.array([ord(ch) for ch in prefix], dtype=np.uint32)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    out = np.empty(len(numbers), dtype=np.dtypes.StringDType())
    # in chunks, as variable-width strings: 16 bytes per label instead of 4 per character, and no
    # temporaries of the size of the whole fleet
    for a in range(0, len(numbers), _LABEL_CHUNK):
        part = numbers[a : a + _LABEL_CHUNK]
        raw = np.empty((len(part), len(head) + width), dtype=np.uint32)
        raw[:, : len(head)] = head
        raw[:, len(head) :] = (part[:, None] // powers) % 10 + ord("0")
        out[a : a + len(part)] = raw.view(f"U{raw.shape[1]}").ravel()
    return out


_LABEL_CHUNK = 1 << 18


@dataclass
class _Layout:
    """CSR layout of ``n`` profiles: which device owns each flat interval, and where in its profile."""

    lengths: np.ndarray

    def __post_init__(self) -> None:
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        self.offsets = np.concatenate(([0], np.cumsum(self.lengths))).astype(np.int64)

    # built on first use (8 bytes per interval each): fixed-length types broadcast instead
    @cached_property
    def owner(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.lengths), dtype=np.int64), self.lengths)

    @cached_property
    def pos(self) -> np.ndarray:
        return np.arange(self.offsets[-1], dtype=np.int64) - self.offsets[:-1][self.owner]


def _batch(
    kind: str,
    rng: np.random.Generator,
    c: _Clock,
    est: np.ndarray,
    lst: np.ndarray,
    lay: _Layout,
    lower: np.ndarray,
    upper: np.ndarray,
    default_kwh: np.ndarray,
    tec: tuple[np.ndarray, np.ndarray] | None = None,
) -> FlexOfferBatch:
    """Assemble one device type's batch; adds ids, deadlines, prices and a default starting at EST."""
    n = len(est)
    lo_price, hi_price = _PRICE_RANGE_EUR_PER_MWH
    accept_lead = -(-_ACCEPT_LEAD_S // c.interval_s) * c.interval_s
    assign_lead = -(-_ASSIGN_LEAD_S // c.interval_s) * c.interval_s
    return FlexOfferBatch(
        ids=_labels(f"{kind}-", np.arange(n)),
        est_s=est,
        lst_s=lst,
        offsets=lay.offsets,
        lower_kwh=lower,
        upper_kwh=upper,
        interval_s=c.interval_s,
        tec_lower_kwh=None if tec is None else tec[0],  # type: ignore[arg-type]  # None = no TEC
        tec_upper_kwh=None if tec is None else tec[1],  # type: ignore[arg-type]
        accept_before_s=est - accept_lead,
        assign_before_s=est - assign_lead,
        price_above_eur_per_mwh=rng.uniform(lo_price, hi_price, n),
        price_below_eur_per_mwh=rng.uniform(lo_price, hi_price, n),
        default=Schedule(est, default_kwh),
    )


# ---- device types -------------------------------------------------------------------------------
def _ev(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """EV charging at home, overnight.

    * arrival ~ N(18:00, 1.5 h) clipped to [15:00, 23:00], departure next day ~ N(07:30, 1 h) clipped
      to [05:00, 10:00] — assumption shaped on home-charging studies (evening arrival peak).
    * daily distance lognormal, median 35 km, sigma 0.6 (assumption; French average commute+errands
      ~30–40 km/day), × 0.18 kWh/km (typical compact EV incl. charging losses); need clipped to
      [2, 40] kWh and to what the charger delivers in the stay minus one interval (so at least one
      spare interval remains; the driver leaves with less than wished on a very short stay).
    * charger 3.7 / 7.4 / 11 kW with probabilities 0.3 / 0.5 / 0.2 (assumption: common EU wallboxes).
    * profile of ``ceil(need / (p·Δh)) + 2`` intervals (capped by the stay), each ``[0, p·Δh]``;
      TEC exactly ``[need, need]``; EST = arrival rounded up, LST = departure − profile length.
    * default: full power from arrival until the need is met (last partial interval gets the rest).
    """
    arrive_h = np.clip(rng.normal(18.0, 1.5, n), 15.0, 23.0)
    depart_h = 24.0 + np.clip(rng.normal(7.5, 1.0, n), 5.0, 10.0)
    km = rng.lognormal(math.log(35.0), 0.6, n)
    power_kw = rng.choice(np.array([3.7, 7.4, 11.0]), size=n, p=[0.3, 0.5, 0.2])
    est = c.wall_up(arrive_h)
    departure = c.wall_down(depart_h)
    stay = (departure - est) // c.interval_s  # >= 5 h, also on DST nights
    step_kwh = power_kw * c.interval_s / 3600.0
    need = np.clip(km * 0.18, 2.0, 40.0)
    need = np.floor(np.minimum(need, (stay - 1) * step_kwh) * 1000.0) / 1000.0  # whole Wh
    full = np.floor(need / step_kwh + 1e-12).astype(np.int64)
    length = np.minimum(np.ceil(need / step_kwh - 1e-12).astype(np.int64) + 2, stay)
    lst = departure - length * c.interval_s
    lay = _Layout(length)
    step_flat = step_kwh[lay.owner]
    rest = np.clip(need - full * step_kwh, 0.0, step_kwh)[lay.owner]
    full_flat = full[lay.owner]
    default = np.where(lay.pos < full_flat, step_flat, np.where(lay.pos == full_flat, rest, 0.0))
    lower = np.zeros(len(lay.owner))
    return _batch("ev", rng, c, est, lst, lay, lower, step_flat, default, (need, need.copy()))


def _heat_pump(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Heat pump with a thermal buffer, one 4 h block in the evening or night.

    * start at a whole local hour uniform in 18:00 … 01:00 (assumption: evening/night heating or
      hot-water block, off-peak tariff habit in France);
    * electric power 2–6 kW uniform (assumption: residential air/water heat pumps);
    * heat demand: mean electric energy ``E`` = 40–70 % of ``p · 4 h`` (assumption);
    * the buffer lets the total move by ``b`` = 10–25 % of ``E`` (assumption): TEC ``[E − b, E + b]``;
    * each interval ``[0, p·Δh]``; time flexibility 0–2 h (whole intervals); default ``E`` evenly from EST.
    """
    start_h = rng.integers(18, 26, n).astype(float)
    power_kw = rng.uniform(2.0, 6.0, n)
    length = int(c.n_intervals(4.0))
    energy = rng.uniform(0.4, 0.7, n) * power_kw * 4.0
    band = rng.uniform(0.10, 0.25, n) * energy
    est = c.wall_up(start_h)
    tf = rng.integers(0, int(c.n_intervals(2.0)) + 1, n)
    lst = np.minimum(est + tf * c.interval_s, c.end_s - length * c.interval_s)
    lay = _Layout(np.full(n, length))
    upper = np.repeat(power_kw * c.interval_s / 3600.0, length)
    default = np.repeat(energy / length, length)
    lower = np.zeros(len(upper))
    return _batch("heat_pump", rng, c, est, lst, lay, lower, upper, default, (energy - band, energy + band))


def _wet_appliance(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Washing machine or dishwasher: a fixed profile that can only be shifted.

    * heating phase ~2.0 kW (uniform 1.8–2.2 kW) for 30 min, then 0.15–0.3 kW for 60–90 min
      (assumption shaped on measured cycles of EU appliances, e.g. the SmartA / REFIT studies);
      the energy of each interval is the exact integral of this power over the interval;
    * EST uniform on the local grid 08:00–20:00; time flexibility 2–8 h, cut so that the whole cycle
      stays in the horizon; no TEC; default starts at EST. Lower = upper = default.
    """
    heat_kw = rng.uniform(1.8, 2.2, n)
    heat_h = 0.5
    tail_kw = rng.uniform(0.15, 0.3, n)
    tail_h = rng.integers(60, 91, n) / 60.0
    est = c.wall_k(rng.integers(int(c.n_intervals(8.0)), int(c.n_intervals(20.0)) + 1, n))
    length = np.ceil((heat_h + tail_h) * c.per_hour - 1e-9).astype(np.int64)
    tf = rng.integers(int(c.n_intervals(2.0)), int(c.n_intervals(8.0)) + 1, n)
    lst = np.minimum(est + tf * c.interval_s, c.end_s - length * c.interval_s)
    lay = _Layout(length)
    dt_h = c.interval_s / 3600.0
    a = lay.pos * dt_h
    b = a + dt_h
    end = (heat_h + tail_h)[lay.owner]

    def overlap(lo: np.ndarray | float, hi: np.ndarray | float) -> np.ndarray:
        return np.clip(np.minimum(b, hi) - np.maximum(a, lo), 0.0, None)

    energy = heat_kw[lay.owner] * overlap(0.0, heat_h) + tail_kw[lay.owner] * overlap(heat_h, end)
    return _batch("wet_appliance", rng, c, est, lst, lay, energy, energy.copy(), energy.copy())


def _home_battery(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Home battery offering a 4–6 h window (16–24 intervals of 15 min) of charge/discharge.

    * power 3–5 kW uniform, capacity ``p`` × 2–3 h (assumption: e.g. 5 kW / 13.5 kWh wall batteries);
    * each interval ``[−p·Δh, +p·Δh]``; TEC ``[0, 0.1·capacity]``: over the window the battery must
      end at least where it started (net charge >= 0, allowing for losses);
    * EST uniform on the local grid 06:00–16:00 (assumption); no time flexibility; default all zero.

    A flex-offer cannot carry the state-of-charge path: intermediate SoC limits are not represented,
    so a schedule respecting the offer may still be infeasible for a nearly full or empty battery.
    """
    length = rng.integers(int(c.n_intervals(4.0)), int(c.n_intervals(6.0)) + 1, n)
    power_kw = rng.uniform(3.0, 5.0, n)
    capacity_kwh = power_kw * rng.uniform(2.0, 3.0, n)
    est = c.wall_k(rng.integers(int(c.n_intervals(6.0)), int(c.n_intervals(16.0)) + 1, n))
    lay = _Layout(length)
    upper = (power_kw * c.interval_s / 3600.0)[lay.owner]
    default = np.zeros(len(lay.owner))
    tec = (np.zeros(n), 0.1 * capacity_kwh)
    return _batch("home_battery", rng, c, est, est.copy(), lay, -upper, upper, default, tec)


def _clear_sky_hours(c: _Clock) -> tuple[float, float]:
    """Sunrise and sunset (UTC hours of ``day``) at the PV location, from the solar declination
    (Cooper's formula) and the sunset hour angle; the equation of time is neglected."""
    decl = math.radians(23.45) * math.sin(2.0 * math.pi * (284 + c.day_of_year) / 365.0)
    cos_w = -math.tan(math.radians(_PV_LAT_DEG)) * math.tan(decl)
    half_day_h = math.degrees(math.acos(min(1.0, max(-1.0, cos_w)))) / 15.0
    noon_utc_h = 12.0 - _PV_LON_DEG / 15.0
    return noon_utc_h - half_day_h, noon_utc_h + half_day_h


def _pv(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Curtailable rooftop PV over local 07:00–20:00 of ``day``.

    * peak 3–9 kWp uniform (assumption: residential roofs);
    * clear-sky shape: a sine between sunrise and sunset at 46.5° N, 2.5° E (see
      :func:`_clear_sky_hours`), integrated exactly over each interval;
    * one cloudiness factor per system, uniform 0.5–1 (assumption);
    * each interval ``[−pv_t, 0]`` (production can be curtailed down to zero); no time flexibility,
      no TEC; default ``−pv_t`` (full production).
    """
    est_s = int(c.wall_up(np.array([7.0]))[0])
    end_s = int(c.wall_down(np.array([20.0]))[0])
    length = (end_s - est_s) // c.interval_s
    rise_h, set_h = _clear_sky_hours(c)
    edges_h = (est_s - c.day_utc_s + c.interval_s * np.arange(length + 1)) / 3600.0
    span_h = set_h - rise_h
    e = np.clip(edges_h, rise_h, set_h)
    # ∫ sin(π (t − rise) / span) dt over each interval, in hours (peak 1 kW per kWp).
    shape_kwh_per_kwp = span_h / math.pi * -np.diff(np.cos(math.pi * (e - rise_h) / span_h))
    kwp = rng.uniform(3.0, 9.0, n)
    cloud = rng.uniform(0.5, 1.0, n)
    lay = _Layout(np.full(n, length))
    # −(kwp·cloud)_i · shape_k, broadcast (no per-interval index arrays): the largest type in a fleet
    lower = np.multiply.outer(kwp * cloud, np.clip(shape_kwh_per_kwp, 0.0, None)).ravel()
    np.negative(lower, out=lower)
    est = np.full(n, est_s, dtype=np.int64)
    upper = np.zeros(len(lower))
    return _batch("pv", rng, c, est, est.copy(), lay, lower, upper, lower.copy())


@dataclass(frozen=True)
class ColdParams:
    """The 1R1C compartment of cold appliances (the model of ``gridflex.assets.thermal``), one value
    per device: capacity ``C`` (kWh/K), loss ``H`` to the room (kW/K), COP, compressor power (kW),
    room temperature and band (°C), internal gains (door openings, kW)."""

    capacity_kwh_per_k: np.ndarray
    loss_kw_per_k: np.ndarray
    cop: np.ndarray
    compressor_kw: np.ndarray
    room_c: np.ndarray
    min_c: np.ndarray
    max_c: np.ndarray
    gains_kw: np.ndarray


# Assumptions (per kind): C from 20–40 kg (fridge) / 20–40 kg frozen (freezer) of water-equivalent
# contents and liner; H of EU class A–D appliances (100–300 kWh a year); COPs of domestic compressors.
_COLD_DRAWS = {
    "fridge": {"c": (0.03, 0.06), "h": (0.0015, 0.0025), "cop": (1.6, 2.4), "p": (0.07, 0.12), "band": (2.0, 6.0)},
    "freezer": {"c": (0.04, 0.08), "h": (0.001, 0.002), "cop": (1.2, 1.8), "p": (0.08, 0.15), "band": (-24.0, -16.0)},
}  # fmt: skip


def draw_cold_params(kind: str, rng: np.random.Generator, n: int) -> ColdParams:
    """Device parameters of ``n`` fridges or freezers (uniform in the ranges of ``_COLD_DRAWS``;
    room 18–24 °C, gains 0–5 W)."""
    d = _COLD_DRAWS[kind]
    u = lambda r: rng.uniform(r[0], r[1], n)  # noqa: E731
    lo, hi = d["band"]
    return ColdParams(u(d["c"]), u(d["h"]), u(d["cop"]), u(d["p"]), u((18.0, 24.0)), np.full(n, lo),
                      np.full(n, hi), u((0.0, 0.005)))  # fmt: skip


def cold_offers(kind: str, p: ColdParams, rng: np.random.Generator, c: _Clock) -> FlexOfferBatch:
    """Flex-offers of cold appliances whose every schedule keeps the compartment in its band.

    Each offer is a window of ``L`` intervals starting with the compartment at the band's middle
    ``T_m`` (the thermostat holds it there before the window). With ``h`` the half band, the most heat
    that can enter is ``g_max = H·(T_room − T_min) + gains`` (compartment at its coldest), the least
    ``g_min = H·(T_room − T_max) + gains``; the window lasts at most ``C·h / g_max`` (so even no
    cooling at all keeps ``T ≤ T_max``). Heat removed ``R = COP·E`` over the window lies in
    ``[G_m − C·h/2, min(G_m + C·h/2, C·h)]`` with ``G_m = (H·(T_room − T_m) + gains)·L·Δh`` (the
    energy-neutral removal): the compartment ends within the band, and front-loading all of it drops
    ``T`` by at most ``C·h/C = h``. Per interval ``[0, p·Δh]``. EST uniform on the local grid
    02:00–20:00, time flexibility 0–4 h (assumption); default: ``G_m/COP`` spread evenly.
    """
    n = len(p.cop)
    dt_h = c.interval_s / 3600.0
    half = (p.max_c - p.min_c) / 2.0
    band_kwh = p.capacity_kwh_per_k * half
    g_max = p.loss_kw_per_k * (p.room_c - p.min_c) + p.gains_kw
    mid_kw = p.loss_kw_per_k * (p.room_c - (p.min_c + half)) + p.gains_kw
    length = np.clip(np.floor(band_kwh / g_max / dt_h + 1e-9).astype(np.int64), 1, int(c.n_intervals(8.0)))
    w_h = length * dt_h
    neutral = mid_kw * w_h
    lo_heat = np.maximum(neutral - band_kwh / 2.0, 0.0)
    hi_heat = np.minimum.reduce([neutral + band_kwh / 2.0, band_kwh, p.compressor_kw * p.cop * w_h])
    est = c.wall_k(rng.integers(int(c.n_intervals(2.0)), int(c.n_intervals(20.0)) + 1, n))
    tf = rng.integers(0, int(c.n_intervals(4.0)) + 1, n)
    lst = np.minimum(est + tf * c.interval_s, c.end_s - length * c.interval_s)
    lay = _Layout(length)
    upper = (p.compressor_kw * dt_h)[lay.owner]
    default = (neutral / p.cop / length)[lay.owner]
    tec = (lo_heat / p.cop, hi_heat / p.cop)
    return _batch(kind, rng, c, est, lst, lay, np.zeros(len(upper)), upper, default, tec)


def _fridge(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Fridges: see :func:`cold_offers` and :func:`draw_cold_params`."""
    return cold_offers("fridge", draw_cold_params("fridge", rng, n), rng, c)


def _freezer(rng: np.random.Generator, n: int, c: _Clock) -> FlexOfferBatch:
    """Freezers: see :func:`cold_offers` and :func:`draw_cold_params`."""
    return cold_offers("freezer", draw_cold_params("freezer", rng, n), rng, c)


_GENERATORS: dict[str, Callable[[np.random.Generator, int, _Clock], FlexOfferBatch]] = {
    "ev": _ev,
    "heat_pump": _heat_pump,
    "wet_appliance": _wet_appliance,
    "home_battery": _home_battery,
    "pv": _pv,
    "fridge": _fridge,
    "freezer": _freezer,
}


# ---- argument checks and counts -----------------------------------------------------------------
def _check_args(n_devices: object, mix: object, day: object, tz: str, interval_s: object) -> dict[str, float]:
    problems: list[Problem] = []
    bad = lambda f, m: problems.append(Problem("fleet", f, m))  # noqa: E731
    if isinstance(n_devices, bool) or not isinstance(n_devices, int | np.integer):
        bad("n_devices", f"must be an integer, got {n_devices!r}")
    elif n_devices < 0:
        bad("n_devices", f"must be >= 0, got {n_devices}")
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | np.integer):
        bad("interval_s", f"must be an integer number of seconds, got {interval_s!r}")
    elif interval_s <= 0 or 3600 % interval_s:
        bad("interval_s", f"must be a positive divisor of 3600 s, got {interval_s}")
    try:
        year = _local_midnight(day, tz).year
    except (ValueError, TypeError) as exc:
        bad("day", f"cannot read {day!r} as a date: {exc}")
    else:
        if not 1970 <= year <= 2198:  # the 36-hour horizon must end before 2200, as flex-offer times do
            bad("day", f"{day!r} is outside the supported years 1970 to 2198")
    try:
        pd.Timestamp("2000-01-01").tz_localize(tz)
    except Exception as exc:  # several exception types for an unknown zone
        bad("tz", f"unknown time zone {tz!r}: {exc}")
    shares = dict(DEFAULT_MIX) if mix is None else {}
    if mix is not None and not isinstance(mix, Mapping):
        bad("mix", f"must be a mapping of device type to share, got {type(mix).__name__}")
    elif mix is not None:
        for name, share in mix.items():
            if name not in DEVICE_TYPES:
                bad(f"mix.{name}", f"unknown device type; known: {', '.join(DEVICE_TYPES)}")
            elif isinstance(share, bool) or not isinstance(share, int | float | np.integer | np.floating):
                bad(f"mix.{name}", f"share must be a number, got {share!r}")
            elif not math.isfinite(share) or share < 0:
                bad(f"mix.{name}", f"share must be finite and >= 0, got {share}")
            else:
                shares[name] = float(share)
        if not problems and n_devices and sum(shares.values()) <= 0:
            bad("mix", "shares sum to zero: no device type to generate")
    if problems:
        raise ValidationError("fleet arguments", problems)
    return shares


def _counts(n_devices: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Devices per type by the largest-remainder method: they sum exactly to ``n_devices``."""
    w = np.array([shares.get(k, 0.0) for k in DEVICE_TYPES])
    if n_devices == 0 or w.sum() <= 0:
        return dict.fromkeys(DEVICE_TYPES, 0)
    quota = w / w.sum() * n_devices
    base = np.floor(quota).astype(np.int64)
    order = np.argsort(-(quota - base), kind="stable")
    base[order[: n_devices - int(base.sum())]] += 1
    return dict(zip(DEVICE_TYPES, base.tolist(), strict=True))


def _stored(batch: FlexOfferBatch, dtype: np.dtype) -> FlexOfferBatch:
    """``batch`` with its per-interval energies stored as ``dtype`` (each type cast as soon as it is
    drawn, so only one type is ever held in float64)."""
    if dtype == batch.lower_kwh.dtype:
        return batch
    d = batch.default
    return replace(
        batch,
        lower_kwh=batch.lower_kwh.astype(dtype),
        upper_kwh=batch.upper_kwh.astype(dtype),
        default=None if d is None else Schedule(d.start_s, d.energy_kwh.astype(dtype)),
    )


def generate_fleet(
    n_devices: int = 10_000,
    day: str | date | datetime = "2018-06-12",
    tz: str = "Europe/Paris",
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    interval_s: int = 900,
    dtype: str | type | np.dtype = "float64",
) -> FlexOfferBatch:
    """A synthetic fleet of ``n_devices`` flex-offers for ``day``, reproducible from ``seed``.

    ``mix`` maps device types (:data:`DEVICE_TYPES`: the default mix's and ``fridge``, ``freezer``) to
    non-negative shares (normalised; missing types get 0); counts per type use the largest remainder, so they sum exactly to ``n_devices``.
    Offers come grouped by type in the order of :data:`DEFAULT_MIX`, ids ``"<type>-<6 digits>"``
    numbered within each type. Owners ``"prosumer-<n>"`` (``n`` zero-padded to one width per fleet)
    are drawn uniformly among ``ceil(n_devices / 1.6)`` households (assumption: ~1.6 flexible
    devices per household; a household may get two devices of one type).

    Every offer has: EST <= LST on the horizon grid, the whole window ``[EST, LST + duration)``
    inside :func:`fleet_horizon`, lower <= upper, a TEC (where present) inside the profile sums,
    a default schedule starting at EST inside the bounds and the TEC, acceptBeforeTime = EST − 2 h,
    assignmentBeforeTime = EST − 15 min (rounded up to whole intervals), and activation prices above
    and below the default uniform in 5–40 EUR/MWh (assumption). See each ``_<type>`` function for
    its distributions. Each type draws from its own child seed, so changing the count of one type
    does not change the devices of another.

    ``dtype``: storage of the per-interval energies (bounds and default schedule), ``"float64"`` or
    ``"float32"`` (half the memory, for fleets of millions: each value is the float64 draw rounded
    to the nearest float32, so bounds stay ordered and the default inside them; see
    ``docs/decisions/0007-compact-flexoffer-arrays.md``).

    Raises :class:`~gridflex.errors.ValidationError` naming the field (``n_devices``, ``mix.<type>``,
    ``day``, ``tz``, ``interval_s``, ``dtype``).
    """
    shares = _check_args(n_devices, mix, day, tz, interval_s)
    try:
        flat_dtype = None if dtype is None else np.dtype(dtype)  # np.dtype(None) would be float64
    except TypeError:
        flat_dtype = None
    if flat_dtype is None or flat_dtype.name not in ("float64", "float32"):
        raise ValidationError(
            "fleet arguments", [Problem("fleet", "dtype", f"must be float64 or float32, got {dtype!r}")]
        )
    n_devices, interval_s = int(n_devices), int(interval_s)
    c = _clock(day, tz, interval_s)
    counts = _counts(n_devices, shares)
    seqs = dict(zip(_SEED_ORDER, np.random.SeedSequence(seed).spawn(len(_SEED_ORDER)), strict=True))
    parts = [
        _stored(_GENERATORS[kind](np.random.default_rng(seqs[kind]), counts[kind], c), np.dtype(flat_dtype))
        for kind in DEVICE_TYPES
    ]
    fleet = FlexOfferBatch.concat(parts, consume=True)  # peak: the fleet plus one field, not twice it
    del parts
    households = max(1, math.ceil(n_devices / _DEVICES_PER_PROSUMER))
    owners = _labels("prosumer-", np.random.default_rng(seqs["owners"]).integers(0, households, n_devices), 1)
    return replace(fleet, owners=owners)
