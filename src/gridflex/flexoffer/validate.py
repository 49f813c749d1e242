"""Validation of flex-offer batches: vectorized rules, one :class:`Problem` per offending offer and rule.

Every rule is a numpy mask over the whole batch; :class:`Problem` objects are built only for the
offers that break a rule, so a million valid offers validate in a fraction of a second.
``Problem.object_id`` is the offer id, ``Problem.field`` the JSON field name of the public
FlexOffer format (see ``docs/flexoffer-format.md``), e.g. ``"startBeforeTime"`` or
``"flexOfferProfileConstraints[3].lower"``. Inside a batch, the index in
``flexOfferProfileConstraints[k]`` and ``scheduleSlices[k]`` is the *profile interval* ``k``;
:mod:`gridflex.flexoffer.io` maps it back to the slice index of the JSON it read.

Rules (the tolerance ``tol`` is absolute plus relative: ``tol * (1 + |bound|)``):

* ``numSecondsPerInterval`` > 0; ids unique and non-empty; profiles non-empty;
* ``startAfterTime`` (EST) <= ``startBeforeTime`` (LST); EST, LST, the deadlines and schedule
  starts lie on the interval grid (a multiple of ``interval_s`` since the epoch);
* profile bounds finite, ``lower <= upper`` in every interval;
* total energy constraint (TEC): each given side finite, ``lower <= upper``, and the TEC meets the
  reachable range ``[sum lower, sum upper]`` of the profile;
* every time between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z (:data:`TIME_MIN_S`,
  :data:`TIME_MAX_S`: beyond, the nanosecond clocks of numpy and pandas that time grids use
  overflow, and no price data exists);
* ``acceptBeforeTime <= assignmentBeforeTime <= startBeforeTime`` for those given;
* unit prices finite when given;
* default and assigned schedules (where present): start in ``[EST, LST]`` and on the grid, every
  interval energy finite and within its bounds, the total within the TEC.
"""

from __future__ import annotations

import numpy as np

from gridflex.errors import FlexOfferValidationError, Problem
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule, segment_sum

__all__ = ["check_flexoffers", "validate_flexoffers", "validate_schedule"]

PROFILE = "flexOfferProfileConstraints"
TOL = 1e-6
TIME_MIN_S = 0
"""Earliest time a flex-offer may name: 1970-01-01T00:00:00Z."""
TIME_MAX_S = 7_258_118_400
"""Times must be before 2200-01-01T00:00:00Z (nanosecond time grids end in 2262)."""


def _fmt_time(t: int) -> str:
    if t == NO_TIME:
        return "absent"
    return str(np.datetime64(int(t), "s")) + "Z"


def _per_offer(ids: np.ndarray, bad: np.ndarray, field: str, message, *columns: np.ndarray) -> list[Problem]:
    """Problems for offers where ``bad`` holds; ``message`` formats the values of ``columns`` there."""
    idx = np.flatnonzero(bad)
    if not len(idx):
        return []
    cols = [c[idx].tolist() for c in columns]
    names = ids[idx].tolist()
    return [Problem(names[j], field, message(*(c[j] for c in cols))) for j in range(len(idx))]


def _per_interval(
    batch: FlexOfferBatch, bad_flat: np.ndarray, field_fmt: str, message, *columns: np.ndarray
) -> list[Problem]:
    """One problem per offer with offending intervals (a mask or sorted flat indices), naming the
    first one and counting the rest."""
    flat = np.flatnonzero(bad_flat) if bad_flat.dtype == bool else bad_flat
    if not len(flat):
        return []
    owner = batch.owner_index[flat]
    offers, first, count = np.unique(owner, return_index=True, return_counts=True)
    at = flat[first]
    pos = batch.position[at].tolist()
    cols = [c[at].tolist() for c in columns]
    names = batch.ids[offers].tolist()
    out = []
    for j in range(len(offers)):
        more = f" (and {count[j] - 1} more interval(s))" if count[j] > 1 else ""
        msg = message(pos[j], *(c[j] for c in cols)) + more
        out.append(Problem(names[j], field_fmt.format(k=pos[j]), msg))
    return out


def _seg_sum(batch: FlexOfferBatch, flat: np.ndarray) -> np.ndarray:
    """Sum of a flat per-interval array over each offer's profile (contiguous segments)."""
    n, total = len(batch), len(flat)
    if total == 0:
        return np.zeros(n)
    if flat.dtype != np.float64:  # float32 storage: float64 accumulation, block by block
        return segment_sum(flat, batch.offsets)
    lengths = batch.lengths
    out = np.add.reduceat(flat, np.minimum(batch.offsets[:-1], total - 1))
    out[lengths == 0] = 0.0
    return out


def _profile_sums(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", over="ignore"):
        return _seg_sum(batch, batch.lower_kwh), _seg_sum(batch, batch.upper_kwh)


def _tec_effective(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray]:
    s_lo, s_hi = _profile_sums(batch)
    t_lo, t_hi = batch.tec_lower_kwh, batch.tec_upper_kwh
    with np.errstate(invalid="ignore"):
        return (
            np.where(np.isnan(t_lo), s_lo, np.maximum(t_lo, s_lo)),
            np.where(np.isnan(t_hi), s_hi, np.minimum(t_hi, s_hi)),
        )


def _structure(batch: FlexOfferBatch) -> list[Problem]:
    """Array shapes that would make the vectorized rules fail; checked first."""
    n = len(batch.ids)
    out = []
    per_offer: tuple[str, ...] = ("est_s", "lst_s", "owners", "tec_lower_kwh", "tec_upper_kwh")
    per_offer += ("accept_before_s", "assign_before_s", "price_above_eur_per_mwh", "price_below_eur_per_mwh")
    for name in per_offer:
        if getattr(batch, name).shape != (n,):
            out.append(Problem("batch", name, f"has shape {getattr(batch, name).shape}, expected ({n},)"))
    off = batch.offsets
    if off.shape != (n + 1,) or off[0] != 0 or np.any(np.diff(off) < 0):
        out.append(Problem("batch", "offsets", f"must be {n + 1} non-decreasing values starting at 0"))
    else:
        for name in ("lower_kwh", "upper_kwh"):
            if getattr(batch, name).shape != (off[-1],):
                out.append(Problem("batch", name, f"has {getattr(batch, name).shape}, expected ({off[-1]},)"))
    return out


def validate_schedule(
    batch: FlexOfferBatch,
    schedule: Schedule,
    tol: float = TOL,
    field: str = "flexOfferSchedule",
    allow_missing: bool = False,
) -> list[Problem]:
    """Problems of ``schedule`` against ``batch``: start on the grid and in ``[EST, LST]``, every
    interval energy finite and within ``[lower, upper]``, the total within the effective TEC.

    Energy comparisons allow ``tol * (1 + |bound|)`` kWh (the total: ``tol * (1 + |bound|)`` times
    the profile length; for a float32 schedule, plus ``2**-23 · Σ|x|`` of the offer, its rounding to
    float32, see ``docs/decisions/0007-compact-flexoffer-arrays.md``). With ``allow_missing``, offers whose start is ``NO_TIME`` have no schedule
    and are skipped; otherwise a missing start is a problem.
    """
    structural = _structure(batch)
    if structural:
        return structural
    n, total = len(batch), len(batch.lower_kwh)
    if schedule.start_s.shape != (n,) or schedule.energy_kwh.shape != (total,):
        return [
            Problem(
                "batch",
                field,
                f"schedule arrays have shapes {schedule.start_s.shape} / {schedule.energy_kwh.shape}, "
                f"expected ({n},) / ({total},)",
            )
        ]
    ids, start, est, lst = batch.ids, schedule.start_s, batch.est_s, batch.lst_s
    present = start != NO_TIME
    out = []
    if not allow_missing:
        out += _per_offer(ids, ~present, f"{field}.startTime", lambda: "missing: every offer needs a start")
    ivl = batch.interval_s
    if ivl > 0:
        off_grid = present & (start % ivl != 0)
        out += _per_offer(
            ids, off_grid, f"{field}.startTime", lambda s: f"{_fmt_time(s)} is not on the {ivl} s grid", start
        )
    window = present & ((start < est) | (start > lst))
    out += _per_offer(
        ids,
        window,
        f"{field}.startTime",
        lambda s, a, b: f"{_fmt_time(s)} is outside the start window [{_fmt_time(a)}, {_fmt_time(b)}]",
        start,
        est,
        lst,
    )
    e, lo, hi = schedule.energy_kwh, batch.lower_kwh, batch.upper_kwh
    everyone = bool(present.all())
    used = None if everyone else present[batch.owner_index]
    slices = f"{field}.scheduleSlices[{{k}}]"
    # fast pass: candidates only, then the exact rule on them (NaN compares False everywhere)
    nonfinite = np.flatnonzero(~np.isfinite(e))
    if used is not None:
        nonfinite = nonfinite[used[nonfinite]]
    out += _per_interval(
        batch, nonfinite, slices, lambda k, x: f"energy {x} in interval {k} is not finite", e
    )
    for name, bound, sign in (("below lower", lo, -1.0), ("above upper", hi, 1.0)):
        with np.errstate(invalid="ignore"):
            cand = np.flatnonzero(e < bound) if sign < 0 else np.flatnonzero(e > bound)
        if used is not None:
            cand = cand[used[cand]]
        b = bound[cand]
        cand = cand[sign * (e[cand] - b) > tol * (1 + np.abs(b))]
        out += _per_interval(
            batch,
            cand,
            slices,
            lambda k, x, b, name=name: f"energy {x:g} kWh in interval {k} is {name} {b:g}",
            e,
            bound,
        )
    with np.errstate(invalid="ignore"):
        total_e = _seg_sum(batch, e if used is None else np.where(used, e, 0.0))
    t_lo, t_hi = _tec_effective(batch)
    d = batch.lengths
    with np.errstate(invalid="ignore"):
        out_tec = (
            present
            & np.isfinite(total_e)
            & (
                (total_e < t_lo - tol * d * (1 + np.abs(t_lo)))
                | (total_e > t_hi + tol * d * (1 + np.abs(t_hi)))
            )
        )
        if e.dtype == np.float32 and out_tec.any():  # each value rounded once to float32: 2**-23 · Σ|x|
            slack = float(np.finfo(np.float32).eps) * _seg_sum(batch, np.abs(e))
            out_tec &= (total_e < t_lo - tol * d * (1 + np.abs(t_lo)) - slack) | (
                total_e > t_hi + tol * d * (1 + np.abs(t_hi)) + slack
            )
    out += _per_offer(
        ids,
        out_tec,
        f"{field}.scheduleSlices",
        lambda s, a, b: (
            f"total energy {s:g} kWh is outside the reachable total [{a:g}, {b:g}] kWh "
            "(totalEnergyConstraint within the profile sums)"
        ),
        total_e,
        t_lo,
        t_hi,
    )
    return out


def _validate_times(batch: FlexOfferBatch) -> list[Problem]:
    ids, est, lst, ivl = batch.ids, batch.est_s, batch.lst_s, batch.interval_s
    out = _per_offer(
        ids,
        est > lst,
        "startBeforeTime",
        lambda b, a: f"{_fmt_time(b)} is before startAfterTime {_fmt_time(a)}",
        lst,
        est,
    )
    acc, asg = batch.accept_before_s, batch.assign_before_s
    has_acc, has_asg = acc != NO_TIME, asg != NO_TIME
    times = (
        ("startAfterTime", est, True),
        ("startBeforeTime", lst, True),
        ("acceptBeforeTime", acc, has_acc),
        ("assignmentBeforeTime", asg, has_asg),
    )
    for name, t, given in times:
        out += _per_offer(
            ids,
            given & ((t < TIME_MIN_S) | (t >= TIME_MAX_S)),
            name,
            lambda x: f"{_fmt_time(x)} is outside the supported years 1970 to 2199",
            t,
        )
    if ivl > 0:
        for name, t, given in times:
            out += _per_offer(
                ids,
                given & (t % ivl != 0),
                name,
                lambda x: f"{_fmt_time(x)} is not on the {ivl} s interval grid",
                t,
            )
    out += _per_offer(
        ids,
        has_acc & has_asg & (acc > asg),
        "acceptBeforeTime",
        lambda a, b: f"{_fmt_time(a)} is after assignmentBeforeTime {_fmt_time(b)}",
        acc,
        asg,
    )
    for name, t, given in (("acceptBeforeTime", acc, has_acc), ("assignmentBeforeTime", asg, has_asg)):
        out += _per_offer(
            ids,
            given & (t > lst),
            name,
            lambda a, b: f"{_fmt_time(a)} is after startBeforeTime {_fmt_time(b)}",
            t,
            lst,
        )
    return out


def _validate_profile(batch: FlexOfferBatch) -> list[Problem]:
    lo, hi = batch.lower_kwh, batch.upper_kwh
    empty = batch.lengths == 0
    out = _per_offer(batch.ids, empty, PROFILE, lambda: "empty profile: needs at least one slice")
    fin_lo, fin_hi = np.isfinite(lo), np.isfinite(hi)
    out += _per_interval(
        batch, ~fin_lo, PROFILE + "[{k}].lower", lambda k, x: f"lower {x} in interval {k} is not finite", lo
    )
    out += _per_interval(
        batch, ~fin_hi, PROFILE + "[{k}].upper", lambda k, x: f"upper {x} in interval {k} is not finite", hi
    )
    out += _per_interval(
        batch,
        fin_lo & fin_hi & (lo > hi),
        PROFILE + "[{k}].lower",
        lambda k, a, b: f"lower {a:g} kWh is above upper {b:g} kWh in interval {k}",
        lo,
        hi,
    )
    return out


def _validate_tec(batch: FlexOfferBatch) -> list[Problem]:
    ids, t_lo, t_hi = batch.ids, batch.tec_lower_kwh, batch.tec_upper_kwh
    out = []
    for side, t in (("lower", t_lo), ("upper", t_hi)):
        out += _per_offer(
            ids, np.isinf(t), f"totalEnergyConstraint.{side}", lambda x: f"{x} is not finite", t
        )
    fin_lo, fin_hi = np.isfinite(t_lo), np.isfinite(t_hi)
    out += _per_offer(
        ids,
        fin_lo & fin_hi & (t_lo > t_hi),
        "totalEnergyConstraint.lower",
        lambda a, b: f"lower {a:g} kWh is above upper {b:g} kWh",
        t_lo,
        t_hi,
    )
    s_lo, s_hi = _profile_sums(batch)
    profile_ok = np.isfinite(s_lo) & np.isfinite(s_hi)
    with np.errstate(invalid="ignore"):
        above = profile_ok & fin_lo & (t_lo > s_hi + TOL * (1 + np.abs(s_hi)))
        below = profile_ok & fin_hi & (t_hi < s_lo - TOL * (1 + np.abs(s_lo)))
    msg = "{side} {x:g} kWh is {where} the reachable range [{a:g}, {b:g}] kWh of the profile"
    out += _per_offer(
        ids,
        above,
        "totalEnergyConstraint.lower",
        lambda x, a, b: msg.format(side="lower", x=x, where="above", a=a, b=b),
        t_lo,
        s_lo,
        s_hi,
    )
    out += _per_offer(
        ids,
        below,
        "totalEnergyConstraint.upper",
        lambda x, a, b: msg.format(side="upper", x=x, where="below", a=a, b=b),
        t_hi,
        s_lo,
        s_hi,
    )
    return out


def _validate_ids(batch: FlexOfferBatch) -> list[Problem]:
    ids = batch.ids
    out = _per_offer(ids, ids == "", "id", lambda: "empty id")
    names = ids.tolist()
    if len(set(names)) == len(names):
        return out
    _, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    dup = counts[inverse] > 1
    out += _per_offer(
        ids, dup & (ids != ""), "id", lambda c: f"duplicate id: {c} offers share it", counts[inverse]
    )
    return out


def validate_flexoffers(batch: FlexOfferBatch) -> list[Problem]:
    """All problems of ``batch`` (empty when valid). See the module docstring for the rules."""
    out = _structure(batch)
    if out:
        return out
    if batch.interval_s <= 0:
        out.append(Problem("batch", "numSecondsPerInterval", f"must be positive, got {batch.interval_s}"))
    out += _validate_ids(batch)
    out += _validate_times(batch)
    out += _validate_profile(batch)
    out += _validate_tec(batch)
    prices = (
        ("aboveDefaultEurPerMWh", batch.price_above_eur_per_mwh),
        ("belowDefaultEurPerMWh", batch.price_below_eur_per_mwh),
    )
    for side, p in prices:
        out += _per_offer(batch.ids, np.isinf(p), f"unitPrices.{side}", lambda x: f"{x} is not finite", p)
    for name, sched in (("defaultSchedule", batch.default), ("flexOfferSchedule", batch.schedule)):
        if sched is not None:
            out += validate_schedule(batch, sched, field=name, allow_missing=True)
    return out


def check_flexoffers(batch: FlexOfferBatch, what: str = "flex-offer batch") -> FlexOfferBatch:
    """Return ``batch`` unchanged when valid; raise :class:`FlexOfferValidationError` with every problem."""
    problems = validate_flexoffers(batch)
    if problems:
        raise FlexOfferValidationError(what, problems)
    return batch
