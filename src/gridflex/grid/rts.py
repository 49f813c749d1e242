"""Published IEEE Reliability Test System data: the RTS-24 network with unit types and ramp rates,
and the RTS hourly load shape.

Sources
-------
- Network: pandapower's ``case24_ieee_rts`` (MATPOWER's case24_ieee_rts, from the RTS-96 report:
  C. Grigg et al., "The IEEE Reliability Test System-1996", IEEE Trans. Power Systems 14(3),
  1010–1020, 1999).
- Ramp rates: RTS-96 report, Table 7 ("unit cycling restrictions and ramp rates"), MW/min per unit
  group. The case carries no ramp data; :func:`rts24_network` adds them from that table. The
  values below were transcribed from the table as cited in our design brief and could not be
  re-checked against the paper's text offline; the hydro units have no ramp limit in the table
  (we use pmax per minute, i.e. unconstrained at any step ≥ 1 min).
- Load shape: the RTS weekly (Table 4), daily (Table 5) and hourly (Table 6) percentages as
  shipped by the ``gen-adequacy`` package (``gen_adequacy.ieee_rts``, MPL-2.0, S. Tindemans),
  read from there rather than copied: 52 weeks × 7 days × 24 h = 8736 values, per unit of the
  annual peak (2850 MW for one area). Week 1 starts on a Monday; seasons as in the RTS (winter
  weeks 1–8 and 44–52, summer 18–30, spring/fall otherwise).

With hourly periods, the published ramp rates never bind on RTS-24 (every unit can cross its
whole range pmin → pmax within one hour); they bind at sub-hourly steps (e.g. 15 min).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.grid.network import Network

RTS96_RAMP_MW_PER_MIN: dict[str, float] = {
    "U12": 1.0,  # oil / steam
    "U20": 3.0,  # oil / combustion turbine
    "U50 hydro": 50.0,  # hydro: no limit in Table 7; pmax per minute
    "U76": 2.0,  # coal / steam
    "U100": 7.0,  # oil / steam
    "U155": 3.0,  # coal / steam
    "U197": 3.0,  # oil / steam
    "U350": 4.0,  # coal / steam
    "U400": 20.0,  # nuclear
    "sync cond": 0.0,  # synchronous condenser: no active power
}
"""Ramp rate by RTS-96 unit group, MW/min (RTS-96 report, Table 7)."""

_TYPE_BY_PMAX = {12.0: "U12", 20.0: "U20", 50.0: "U50 hydro", 76.0: "U76", 100.0: "U100",
                 155.0: "U155", 197.0: "U197", 350.0: "U350", 400.0: "U400", 0.0: "sync cond"}  # fmt: skip
HOURS_PER_YEAR = 8736
PEAK_DAY_OF_YEAR = 352
"""Day of the annual peak: week 51 (100 %), Tuesday (100 %), 1-based day of year."""


def rts24_network() -> Network:
    """pandapower ``case24_ieee_rts`` with unit types and RTS-96 ramp rates.

    Generator types are mapped from each unit's pmax (unique per RTS-96 unit group; pmax 0 is the
    synchronous condenser at RTS bus 14). Ramp rates added from RTS-96 Table 7
    (:data:`RTS96_RAMP_MW_PER_MIN`, × 60 → MW/h) since the case has none.
    """
    return _rts24()


@lru_cache(maxsize=1)
def _rts24() -> Network:
    net = Network.case("case24_ieee_rts")
    types = []
    problems = []
    for name, pmax in zip(net.gen_name, net.gen_pmax_mw, strict=True):
        t = _TYPE_BY_PMAX.get(float(pmax))
        if t is None:
            problems.append(Problem(str(name), "max_p_mw", f"{pmax} MW matches no RTS-96 unit group"))
        types.append(t or "")
    if problems:
        raise ValidationError("case24_ieee_rts unit types", problems)
    ramp = np.array([RTS96_RAMP_MW_PER_MIN[t] * 60.0 for t in types])
    return dataclasses.replace(net, name="rts24", gen_type=np.array(types), gen_ramp_mw_per_h=ramp)


@lru_cache(maxsize=1)
def _load_shape() -> np.ndarray:
    from gen_adequacy import ieee_rts

    profile = np.asarray(ieee_rts(resolution=1, areas=1).load_profile, dtype=float)
    shape = profile / profile.max()
    shape.setflags(write=False)
    return shape


def rts_hourly_load_pu(day_of_year: int | None = None) -> np.ndarray:
    """RTS hourly load per unit of the annual peak: all 8736 hours, or the 24 of one day (1..364)."""
    shape = _load_shape()
    if day_of_year is None:
        return shape.copy()
    if not isinstance(day_of_year, int | np.integer) or not 1 <= day_of_year <= HOURS_PER_YEAR // 24:
        raise ValidationError(
            "RTS load shape",
            [Problem("rts", "day_of_year", f"must be an integer in 1..364, got {day_of_year!r}")],
        )
    d = int(day_of_year) - 1
    return shape[24 * d : 24 * d + 24].copy()


def rts_load_shape(weeks: Sequence[int] | None = None) -> np.ndarray:
    """RTS hourly load per unit of the annual peak for the given weeks (1..52, in order), 168 h each."""
    shape = _load_shape()
    if weeks is None:
        return shape.copy()
    w = np.asarray(list(weeks))
    if w.ndim != 1 or not np.issubdtype(w.dtype, np.integer) or ((w < 1) | (w > 52)).any():
        raise ValidationError(
            "RTS load shape", [Problem("rts", "weeks", f"must be integers in 1..52, got {weeks!r}")]
        )
    idx = ((w[:, None] - 1) * 168 + np.arange(168)[None, :]).ravel()
    return shape[idx].copy()


def rts_peak_day_load_pu() -> np.ndarray:
    """(24,) hourly load of the RTS peak day (week 51, Tuesday), per unit of the annual peak."""
    return rts_hourly_load_pu(PEAK_DAY_OF_YEAR)


def rts24_load_mw(load_pu: np.ndarray, net: Network | None = None) -> np.ndarray:
    """(T, n_loads) MW: a system load shape (T,) per unit of the annual peak × each load's peak MW.

    The case's nominal loads are the annual peak (they sum to 2850 MW), so every bus follows the
    system shape with its own share, as in the RTS.
    """
    n = net if net is not None else rts24_network()
    pu = np.asarray(load_pu, dtype=float).ravel()
    return pu[:, None] * n.load_mw[None, :]


def resample_hourly(hourly: np.ndarray, dt_h: float) -> np.ndarray:
    """A day of hourly values at a step of ``dt_h`` hours that divides 24 h, keeping every hour's energy.

    The hourly values are read as constant within their hour (the RTS publishes hourly means); each
    new period gets the mean of that step function over the period: 0.25 h repeats each hour four
    times, 2 h averages pairs of hours, 0.4 h mixes neighbouring hours where a period straddles two.
    """
    h = np.asarray(hourly, dtype=float).ravel()
    n = round(h.size / dt_h)
    if n < 1 or abs(n * dt_h - h.size) > 1e-9:
        raise ValidationError(
            "RTS load shape", [Problem("rts", "dt_h", f"{dt_h:g} h does not divide {h.size} h")]
        )
    cum = np.concatenate([[0.0], np.cumsum(h)])  # energy up to each whole hour
    edges = np.arange(n + 1) * dt_h
    energy = np.interp(edges, np.arange(h.size + 1, dtype=float), cum)
    return np.diff(energy) / dt_h
