"""Split a schedule of aggregates back over their members (the inverse of :mod:`.aggregate`).

Proportional split (always feasible inside the aggregate)
    For an aggregate schedule with start ``S_g`` and energies ``X_t``, every member starts at
    ``EST_i + (S_g − EST_g)`` (inside its own window because ``tf_g = min tf_i``) and takes::

        x_ik = l'_ik + f_{g, offset_i + k} (u'_ik − l'_ik),   f_t = (X_t − L_t) / (U_t − L_t)

    (``f_t = 0`` when ``U_t = L_t``), where ``[l', u']`` is the member's inner box and ``[L_t, U_t]``
    the aggregate bounds. Since ``L_t = Σ l'`` and ``U_t = Σ u'``, the members sum to ``X_t`` exactly
    (up to float rounding), and every member stays inside its inner box, hence inside its own
    interval bounds and TEC. Values within the tolerance outside ``[L_t, U_t]`` are clipped
    (``f ∈ [0, 1]``), so the sum is then off by at most that tolerance.

LP fallback (``method="auto"`` or ``"lp"``)
    A schedule made against the members' *exact* sets (Σ of boxes and TECs, e.g. by another tool)
    can leave the inner aggregate. For just those aggregates, a small LP over the members'
    *original* boxes and TECs with ``Σ members = X_t`` exactly minimises the L1 distance to the
    (clipped) proportional guess ``p``: ``x = p + s⁺ − s⁻``, ``0 <= s⁺ <= u − p``, ``0 <= s⁻ <= p − l``,
    minimise ``Σ s⁺ + s⁻``. An infeasible LP raises :class:`DisaggregationError` naming the aggregate
    and what cannot be met (a period outside the members' summed boxes, the total outside the sum of
    their TECs, or the combination).

Nothing infeasible is returned silently. The proportional split meets every member's interval
bounds and TEC by construction: ``x = l + (u − l) c`` with ``c = α + (1 − α − β) f ∈ [0, 1]``, so
``l <= x <= u``, and ``Σ x`` lies in ``[Σ l', Σ u'] = [L, U]`` (up to float rounding; exactly on
float32 bounds, see :func:`_storage_eps`). The check that runs in the same sweep covers the rest:
start windows and grid, the per-period sums against ``X`` (they catch a member placed or scaled
wrongly), and the bounds and TEC of members alone in their aggregate (they take its energies as
given). A member schedule with LP parts, and any schedule passed to :func:`check_disaggregation`, is
checked in full: start window and grid, interval bounds, TEC, per-period sums. Tolerances follow
:mod:`gridflex.flexoffer.validate`: ``tol · (1 + |bound|)`` per value, times the profile length for
totals; per-period sums also allow ``1e-9 · Σ |x|`` for float rounding over many members.

Speed and memory: one sweep over blocks of whole members (:func:`blocks`) computes the split and the
check while a block is in the CPU cache; nothing bigger than a block is held besides the result
(docs/decisions/0016-disaggregation-in-one-sweep.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from gridflex.errors import MAX_SHOWN, DisaggregationError, InfeasibleError, Problem, capped
from gridflex.flexoffer.aggregation import Aggregation, aggregate, blocks, flat_indices, segment_sum
from gridflex.flexoffer.model import NO_TIME, FlexOfferBatch, Schedule, empty_result

__all__ = ["check_disaggregation", "disaggregate", "proportional_split"]

Method = Literal["auto", "proportional", "lp"]
_ROUNDING = 1e-9  # relative to Σ|x| per period: float rounding of sums over many members
_MAX_SHOWN = MAX_SHOWN  # problems collected per rule: no more than a message shows


def _fmt_time(t: int) -> str:
    return str(np.datetime64(int(t), "s")) + "Z"


def _raise(what: str, problems: list[Problem], count: int | None = None) -> None:
    """Raise one DisaggregationError listing the first problems (``count``: how many there are)."""
    raise DisaggregationError(f"{what}: {capped(problems, total=count)}", problems)


def _storage_eps(x: np.ndarray) -> float:
    """Relative rounding of stored energies: 0 for float64 (computed there), float32's machine epsilon
    (2**-23, twice its rounding to nearest) for float32 storage. A member schedule in float32 may then
    miss a TEC by ``eps · Σ|x|`` of the offer and a per-period sum by ``eps · Σ|x|`` of the period,
    on top of ``tol``; interval bounds are kept exactly (float32 bounds, monotonic rounding)."""
    return float(np.finfo(np.float32).eps) if x.dtype == np.float32 else 0.0


def _near(bound: np.ndarray, tol: float) -> np.ndarray:
    """Allowed excess beyond ``bound``: ``tol · (1 + |bound|)``, as in :mod:`.validate`."""
    return tol * (1.0 + np.abs(bound))


# ---- input checks -------------------------------------------------------------------------------
def _check_input(agg: FlexOfferBatch, schedule: Schedule, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Shapes, finiteness and the aggregate starts; returns (start shift in s per aggregate, outside_t)."""
    g, total = len(agg), len(agg.lower_kwh)
    if schedule.start_s.shape != (g,) or schedule.energy_kwh.shape != (total,):
        msg = (
            f"aggregate schedule has shapes {schedule.start_s.shape} / {schedule.energy_kwh.shape}, "
            f"expected ({g},) / ({total},) for {g} aggregates"
        )
        raise DisaggregationError(msg, [Problem("schedule", "shape", msg)])
    x = schedule.energy_kwh
    bad = ~np.isfinite(x)
    if bad.any():
        t = np.flatnonzero(bad)
        owner = agg.owner_index[t[:_MAX_SHOWN]]
        _raise(
            "aggregate schedule is not finite",
            [
                Problem(str(agg.ids[o]), "energy_kwh", f"period {int(k - agg.offsets[o])} is {x[k]}")
                for o, k in zip(owner, t[:_MAX_SHOWN], strict=True)
            ],
            len(t),
        )
    shift = schedule.start_s - agg.est_s
    window = (shift < 0) | (schedule.start_s > agg.lst_s) | (shift % agg.interval_s != 0)
    if window.any():
        idx = np.flatnonzero(window)
        _raise(
            "aggregate schedule starts outside the aggregates' windows or off the grid",
            [
                Problem(
                    str(agg.ids[i]),
                    "start_s",
                    f"start {_fmt_time(schedule.start_s[i])} not in [{_fmt_time(agg.est_s[i])}, "
                    f"{_fmt_time(agg.lst_s[i])}] on the {agg.interval_s} s grid",
                )
                for i in idx[:_MAX_SHOWN]
            ],
            len(idx),
        )
    lo, hi = agg.lower_kwh, agg.upper_kwh
    outside = (x < lo - _near(lo, tol)) | (x > hi + _near(hi, tol))
    return shift, outside


def _bound_problems(agg: FlexOfferBatch, schedule: Schedule, outside: np.ndarray) -> list[Problem]:
    t = np.flatnonzero(outside)
    owner = agg.owner_index[t]
    out = []
    for o, k in zip(owner[:_MAX_SHOWN], t[:_MAX_SHOWN], strict=True):
        period = int(k - agg.offsets[o])
        when = _fmt_time(schedule.start_s[o] + period * agg.interval_s)
        out.append(
            Problem(
                str(agg.ids[o]),
                f"energy_kwh[{period}]",
                f"period {period} ({when}): {schedule.energy_kwh[k]:g} kWh outside the aggregate bounds "
                f"[{agg.lower_kwh[k]:g}, {agg.upper_kwh[k]:g}]",
            )
        )
    return out


# ---- one sweep over the members: the proportional split and the final check ---------------------
class _Sweep:
    """The member intervals block by block (see :func:`blocks`) and where each lands among the
    aggregates' intervals: the split and the check read every flat array once, while it is in the CPU
    cache, and hold nothing bigger than a block besides their result."""

    def __init__(self, aggregation: Aggregation) -> None:
        self.aggregation = aggregation
        self.placement = aggregation.placement
        self.blocks = blocks(aggregation.members.offsets)
        longest = max((b - a for _, _, a, b in self.blocks), default=0)
        self.base = np.arange(longest)  # positions inside a block, shared by every block

    def index(self, m0: int, m1: int, a: int, b: int) -> np.ndarray:
        """Aggregate flat index of the member flat intervals ``a..b`` (read only: may be a view)."""
        p = self.placement
        if p.stored is not None:
            return p.stored[a:b]
        idx = np.repeat(p.start[m0:m1] + a, p.lengths[m0:m1])
        idx += self.base[: b - a]
        return idx


def _fractions(agg: FlexOfferBatch, energy_kwh: np.ndarray) -> np.ndarray:
    """``f_t = (X_t − L_t) / (U_t − L_t)`` clipped to ``[0, 1]`` (0 where ``U_t = L_t``)."""
    span = agg.upper_kwh - agg.lower_kwh
    f = np.zeros(len(span))
    np.divide(energy_kwh - agg.lower_kwh, span, out=f, where=span > 0)
    np.clip(f, 0.0, 1.0, out=f)
    return f


def _split(sweep: _Sweep, energy_kwh: np.ndarray, check: _Check | None = None) -> np.ndarray:
    """Flat member energies ``l' + f (u' − l')`` for aggregate energies ``energy_kwh``, computed as
    ``l + (u − l)(α + (1 − α − β) f)`` from the inner boxes' coefficients (:mod:`.aggregation`);
    ``check`` checks each block while it is in the cache."""
    aggregation = sweep.aggregation
    mem = aggregation.members
    f = _fractions(aggregation.aggregates, energy_kwh)
    boxes = aggregation.inner_coefficients()
    lengths = sweep.placement.lengths
    # stored like the members' bounds (float32 bounds: float32 energies, rounded once from float64;
    # rounding is monotonic, so a value inside float32 bounds stays inside them, see _storage_eps)
    x = empty_result(len(mem.lower_kwh), mem.lower_kwh.dtype)
    single = np.flatnonzero(aggregation.alone)  # members alone: their aggregate's energies as they are
    low, width, value = (np.empty(len(sweep.base)) for _ in range(3))  # float64 work space of a block
    for m0, m1, a, b in sweep.blocks:
        k = b - a
        lo, w, v = low[:k], width[:k], value[:k]
        if boxes is None:  # inner boxes given as arrays
            lo[...], w[...] = aggregation.inner_block(m0, m1, a, b)
        else:
            lo[...], w[...] = mem.lower_kwh[a:b], mem.upper_kwh[a:b]  # float64: u − l exact for float32
        w -= lo
        idx = sweep.index(m0, m1, a, b)
        f.take(idx, out=v, mode="clip")  # the index is in range; "clip" spares a buffered copy
        if boxes is not None and not boxes.own:
            n_k = lengths[m0:m1]
            v *= np.repeat(boxes.keep[m0:m1], n_k)
            v += np.repeat(boxes.alpha[m0:m1], n_k)
        v *= w
        v += lo
        s0, s1 = np.searchsorted(single, (m0, m1))
        if s1 > s0:
            at = flat_indices(mem.offsets, single[s0:s1]) - a
            v[at] = energy_kwh[idx[at]]
        x[a:b] = v
        if check is not None:  # members alone took the aggregate's energies: their bounds and TEC too
            check.block(m0, m1, a, b, x, idx, low, bounds=boxes is None or s1 > s0)
    return x


def proportional_split(aggregation: Aggregation, energy_kwh: np.ndarray) -> np.ndarray:
    """Flat member energies ``l' + f (u' − l')`` for aggregate energies ``energy_kwh`` (clipped ``f``)."""
    return _split(_Sweep(aggregation), energy_kwh)


class _Check:
    """The final check of a member schedule (:func:`check_disaggregation`), block by block: start
    window and grid, interval bounds and TEC per member; the sums per aggregate interval are
    accumulated and compared with the aggregate's energies by :meth:`problems`."""

    def __init__(self, sweep: _Sweep, start: np.ndarray, tol: float) -> None:
        self.sweep, self.start, self.tol = sweep, start, tol
        self.eps = 0.0  # set by block() from the schedule's storage (_storage_eps)
        self.sums = np.zeros(len(sweep.aggregation.aggregates.lower_kwh))
        self.window: list[np.ndarray] = []  # failing members per rule, block by block
        self.bounds: list[np.ndarray] = []
        self.tec: list[np.ndarray] = []
        self.totals: dict[int, float] = {}  # totals of the first members failing their TEC

    def block(
        self,
        m0: int,
        m1: int,
        a: int,
        b: int,
        x: np.ndarray,
        idx: np.ndarray,
        work: np.ndarray,
        bounds: bool = True,
    ) -> None:
        """Check members ``m0..m1`` (flat ``a..b`` of ``x``; ``idx``: their aggregate flat index;
        ``work``: float64 work space of a block); ``bounds=False`` skips the interval bounds and TECs
        (met by construction by the proportional split, see :func:`_split`)."""
        mem = self.sweep.aggregation.members
        self.eps = _storage_eps(x)
        start = self.start[m0:m1]
        shift = start - mem.est_s[m0:m1]
        bad = (shift < 0) | (start > mem.lst_s[m0:m1]) | (shift % mem.interval_s != 0)
        if bad.any():
            self.window.append(m0 + np.flatnonzero(bad))
        xs = v = x[a:b]
        if x.dtype != np.float64:
            v = work[: b - a]
            v[...] = xs  # sums of float32 in float64
        if bounds:
            self._members(m0, m1, a, b, xs, v)
        np.add.at(self.sums, idx, v)

    def _members(self, m0: int, m1: int, a: int, b: int, xs: np.ndarray, v: np.ndarray) -> None:
        """Interval bounds and TECs of members ``m0..m1`` (``xs``: their energies, ``v``: in float64)."""
        mem, tol = self.sweep.aggregation.members, self.tol
        lo, hi = mem.lower_kwh[a:b], mem.upper_kwh[a:b]
        if not (np.greater_equal(xs, lo).all() and np.less_equal(xs, hi).all()):  # NaN fails here too
            fail = ~((xs >= lo - _near(lo, tol)) & (xs <= hi + _near(hi, tol)))
            if fail.any():
                at = np.searchsorted(mem.offsets, a + np.flatnonzero(fail), side="right") - 1
                self.bounds.append(np.unique(at))
        offsets = mem.offsets[m0 : m1 + 1] - a
        total = segment_sum(v, offsets)
        t_lo, t_hi = mem.tec_lower_kwh[m0:m1], mem.tec_upper_kwh[m0:m1]
        d = self.sweep.placement.lengths[m0:m1]
        below, above = t_lo - tol * d * (1 + np.abs(t_lo)), t_hi + tol * d * (1 + np.abs(t_hi))
        bad = (total < below) | (total > above)
        if self.eps and bad.any():  # float32 storage: see _storage_eps
            slack = self.eps * segment_sum(np.abs(v), offsets)
            bad = (total < below - slack) | (total > above + slack)
        if bad.any():
            failing = m0 + np.flatnonzero(bad)
            self.tec.append(failing)
            if len(self.totals) < _MAX_SHOWN:
                self.totals.update(
                    zip(failing[:_MAX_SHOWN].tolist(), total[bad][:_MAX_SHOWN].tolist(), strict=True)
                )

    def problems(self, x: np.ndarray, aggregate_energy_kwh: np.ndarray) -> list[Problem]:
        """Every problem found, the sums per aggregate interval compared with ``aggregate_energy_kwh``."""
        aggregation = self.sweep.aggregation
        mem, agg = aggregation.members, aggregation.aggregates
        out: list[Problem] = []

        def add(found: list[np.ndarray], field: str, message: Callable[[int], str]) -> None:
            idx = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
            out.extend(Problem(str(mem.ids[i]), field, message(i)) for i in idx[:_MAX_SHOWN])
            if len(idx) > _MAX_SHOWN:
                out.append(Problem("members", field, f"{len(idx) - _MAX_SHOWN} more members"))

        start = self.start
        add(
            self.window,
            "start_s",
            lambda i: f"start {_fmt_time(start[i])} outside its window or off the grid",
        )
        add(
            self.bounds,
            "energy_kwh",
            lambda i: "an interval energy is outside the offer's bounds (or not finite)",
        )
        t_lo, t_hi = mem.tec_lower_kwh, mem.tec_upper_kwh
        add(
            self.tec,
            "energy_kwh",
            lambda i: f"total {self.totals[i]:g} kWh outside its TEC [{t_lo[i]:g}, {t_hi[i]:g}]",
        )
        sums = self.sums
        gap = np.abs(sums - aggregate_energy_kwh)
        magnitude = np.maximum(
            np.abs(aggregate_energy_kwh), np.maximum(np.abs(agg.lower_kwh), np.abs(agg.upper_kwh))
        )
        allowed = _near(magnitude, self.tol)  # the clipped split may miss X by the tolerance on its bounds
        bad_t = gap > allowed
        if bad_t.any():  # allow float rounding relative to Σ|x| (cancelling members), computed only now
            scale = np.zeros(len(sums))
            for m0, m1, a, b in self.sweep.blocks:
                np.add.at(scale, self.sweep.index(m0, m1, a, b), np.abs(x[a:b]))
            bad_t &= gap > allowed + (_ROUNDING + _storage_eps(x)) * scale
        for k in np.flatnonzero(bad_t)[:_MAX_SHOWN]:
            o = int(np.searchsorted(agg.offsets, k, side="right") - 1)
            out.append(
                Problem(
                    str(agg.ids[o]),
                    f"energy_kwh[{int(k - agg.offsets[o])}]",
                    f"members sum to {sums[k]:g} kWh, aggregate has {aggregate_energy_kwh[k]:g}",
                )
            )
        return out


def _check(sweep: _Sweep, schedule: Schedule, aggregate_energy_kwh: np.ndarray, tol: float) -> list[Problem]:
    check = _Check(sweep, schedule.start_s, tol)
    x = schedule.energy_kwh
    work = np.empty(len(sweep.base))
    for m0, m1, a, b in sweep.blocks:
        check.block(m0, m1, a, b, x, sweep.index(m0, m1, a, b), work)
    return check.problems(x, aggregate_energy_kwh)


# ---- the LP fallback ----------------------------------------------------------------------------
def _members_by_group(aggregation: Aggregation) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(aggregation.group, kind="stable")
    bounds = np.searchsorted(aggregation.group[order], np.arange(len(aggregation.aggregates) + 1))
    return order, bounds


def _flat_of(batch: FlexOfferBatch, members: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of ``members``' intervals and their periods inside the aggregate (``offset + k``)."""
    lengths = batch.lengths[members]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    k = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    return np.repeat(batch.offsets[:-1][members], lengths) + k, np.repeat(offset, lengths) + k


def _lp_split_group(
    aggregation: Aggregation, g: int, members: np.ndarray, target: np.ndarray, energy: np.ndarray, tol: float
) -> None:
    """Re-split aggregate ``g`` over its members' original boxes and TECs; writes into ``energy``."""
    from gridflex.optimize import Model

    mem, agg = aggregation.members, aggregation.aggregates
    fl, t_local = _flat_of(mem, members, aggregation.offset[members])
    lo, hi = mem.lower_kwh[fl], mem.upper_kwh[fl]
    p = np.clip(energy[fl], lo, hi)
    x_g = target[agg.offsets[g] : agg.offsets[g + 1]]
    n_t = len(x_g)
    agg_id = str(agg.ids[g])

    m = Model(f"disaggregate {agg_id}")
    up = m.add_vars(len(fl), lb=0.0, ub=hi - p, cost=1.0, name="energy above the proportional split")
    down = m.add_vars(len(fl), lb=0.0, ub=p - lo, cost=1.0, name="energy below the proportional split")
    rows2 = np.concatenate((t_local, t_local))
    cols2 = np.concatenate((up.idx, down.idx))
    vals2 = np.concatenate((np.ones(len(fl)), -np.ones(len(fl))))
    rest = x_g - np.bincount(t_local, weights=p, minlength=n_t)
    m.add_constrs("period sums", row=rows2, col=cols2, val=vals2, lb=rest, ub=rest)
    has_tec = ~(np.isnan(mem.tec_lower_kwh[members]) & np.isnan(mem.tec_upper_kwh[members]))
    if has_tec.any():
        local = np.repeat(np.arange(len(members)), mem.lengths[members])
        t_lo, t_hi = _group_tec(mem, members, local, lo, hi)
        sel = has_tec[local]
        rank = np.cumsum(has_tec) - 1
        p_sum = np.bincount(local, weights=p, minlength=len(members))[has_tec]
        m.add_constrs(
            "member TECs",
            row=np.concatenate((rank[local[sel]], rank[local[sel]])),
            col=np.concatenate((up.idx[sel], down.idx[sel])),
            val=np.concatenate((np.ones(sel.sum()), -np.ones(sel.sum()))),
            lb=t_lo[has_tec] - p_sum,
            ub=t_hi[has_tec] - p_sum,
        )
    try:
        sol = m.solve()
    except InfeasibleError as e:
        problem = _why_not(aggregation, g, members, fl, t_local, x_g, tol, str(e))
        raise DisaggregationError(
            f"aggregate {agg_id} ({len(members)} members): the schedule cannot be split over its members: "
            f"{problem.message}",
            [problem],
        ) from None
    energy[fl] = p + sol.value(up) - sol.value(down)


def _group_tec(
    mem: FlexOfferBatch, members: np.ndarray, local: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Effective TEC of ``members`` (``local``: member rank of each of their flat intervals)."""
    lo_sum = np.bincount(local, weights=lo, minlength=len(members))
    hi_sum = np.bincount(local, weights=hi, minlength=len(members))
    tl, tu = mem.tec_lower_kwh[members], mem.tec_upper_kwh[members]
    t_lo = np.where(np.isnan(tl), lo_sum, np.maximum(tl, lo_sum))
    t_hi = np.where(np.isnan(tu), hi_sum, np.minimum(tu, hi_sum))
    return t_lo, t_hi


def _why_not(
    aggregation: Aggregation,
    g: int,
    members: np.ndarray,
    fl: np.ndarray,
    t_local: np.ndarray,
    x_g: np.ndarray,
    tol: float,
    solver_msg: str,
) -> Problem:
    """Name what an aggregate schedule asks that its members cannot give together."""
    mem, agg = aggregation.members, aggregation.aggregates
    agg_id = str(agg.ids[g])
    lo_t = np.bincount(t_local, weights=mem.lower_kwh[fl], minlength=len(x_g))
    hi_t = np.bincount(t_local, weights=mem.upper_kwh[fl], minlength=len(x_g))
    bad = np.flatnonzero((x_g < lo_t - _near(lo_t, tol)) | (x_g > hi_t + _near(hi_t, tol)))
    if len(bad):
        text = "; ".join(
            f"period {k}: {x_g[k]:g} kWh outside the members' summed bounds [{lo_t[k]:g}, {hi_t[k]:g}]"
            for k in bad[:_MAX_SHOWN]
        )
        return Problem(agg_id, f"energy_kwh[{int(bad[0])}]", text)
    local = np.repeat(np.arange(len(members)), mem.lengths[members])
    t_lo, t_hi = _group_tec(mem, members, local, mem.lower_kwh[fl], mem.upper_kwh[fl])
    total, need_lo, need_hi = float(x_g.sum()), float(t_lo.sum()), float(t_hi.sum())
    if total < need_lo - tol * (1 + abs(need_lo)) or total > need_hi + tol * (1 + abs(need_hi)):
        return Problem(
            agg_id,
            "energy_kwh",
            f"total {total:g} kWh outside the sum of the members' total energy constraints "
            f"[{need_lo:g}, {need_hi:g}]",
        )
    return Problem(
        agg_id,
        "energy_kwh",
        f"the per-period sums and the members' total energy constraints conflict ({solver_msg})",
    )


# ---- the final check ----------------------------------------------------------------------------
def check_disaggregation(
    aggregation: Aggregation, member_schedule: Schedule, aggregate_energy_kwh: np.ndarray, tol: float = 1e-6
) -> list[Problem]:
    """Problems of a member schedule: start window and grid, interval bounds, TEC, and the per-period
    sums against the aggregate energies. Vectorized, block by block; ``[]`` when all is well."""
    mem, agg = aggregation.members, aggregation.aggregates
    shapes = (member_schedule.start_s.shape, member_schedule.energy_kwh.shape, aggregate_energy_kwh.shape)
    want = ((len(mem),), mem.lower_kwh.shape, agg.lower_kwh.shape)
    if shapes != want:
        return [
            Problem(
                "schedule",
                "shape",
                f"member schedule and aggregate energies have shapes {shapes}, expected {want}",
            )
        ]
    return _check(_Sweep(aggregation), member_schedule, aggregate_energy_kwh, tol)


# ---- entry point --------------------------------------------------------------------------------
def disaggregate(
    aggregation: Aggregation, schedule: Schedule, method: Method = "auto", tol: float = 1e-6
) -> Schedule:
    """Member schedule (aligned with ``aggregation.members``) for a schedule of the aggregates.

    ``method``: ``"proportional"`` (energies must lie inside the aggregate bounds, within ``tol``),
    ``"lp"`` (an LP per aggregate over the members' original boxes and TECs), or ``"auto"``
    (proportional where the energies lie inside the bounds, the LP for the other aggregates only).
    Raises :class:`DisaggregationError` naming the aggregate, the period and the values when the
    schedule cannot be split, and when the final check of the member schedule fails.
    """
    if method not in ("auto", "proportional", "lp"):
        raise ValueError(f"method must be 'auto', 'proportional' or 'lp', not {method!r}")
    agg, mem = aggregation.aggregates, aggregation.members
    shift, outside = _check_input(agg, schedule, tol)
    x_agg = schedule.energy_kwh
    if method == "proportional" and outside.any():
        problems = _bound_problems(agg, schedule, outside)
        _raise("aggregate schedule outside the aggregate bounds", problems, int(outside.sum()))
    if method == "lp":
        lp_groups = np.arange(len(agg))
    elif outside.any():
        lp_groups = np.unique(agg.owner_index[outside])
    else:
        lp_groups = np.zeros(0, dtype=np.int64)
    start = shift.take(aggregation.group, out=empty_result(len(mem), np.int64), mode="clip")  # in range
    start += mem.est_s
    sweep = _Sweep(aggregation)
    if not len(lp_groups):  # split and check in one sweep
        check = _Check(sweep, start, tol)
        energy = _split(sweep, x_agg, check)
        problems = check.problems(energy, x_agg)
    else:
        energy = _split(sweep, x_agg)
        order, bounds = _members_by_group(aggregation)
        for g in lp_groups.tolist():
            members = order[bounds[g] : bounds[g + 1]]
            _lp_split_group(aggregation, g, members, x_agg, energy, tol)
        problems = _check(sweep, Schedule(start, energy), x_agg, tol)
    result = Schedule(start, energy)
    if problems:
        _raise("disaggregated member schedule fails its check", problems)
    return result


def disaggregate_assigned(aggregation: Aggregation, schedule: Schedule) -> Schedule:
    """:func:`disaggregate` where some aggregates got no schedule (start ``NO_TIME``: rejected because
    a deadline passed at the decision time, see ``schedule_flexoffers(now_s=...)``): the members of
    those aggregates were not assigned in time and keep their default schedule (TotalFlex: an offer
    not assigned before its ``assignmentBeforeTime`` runs its default); the others get their share.
    """
    open_ = schedule.start_s != NO_TIME
    if open_.all():
        return disaggregate(aggregation, schedule)
    members = aggregation.members
    if members.default is None:
        raise DisaggregationError(
            "members of an unassigned aggregate need a default schedule",
            [Problem("members", "defaultSchedule", "missing: an offer left unassigned runs its default")],
        )
    kept = np.flatnonzero(open_)
    idx = np.flatnonzero(open_[aggregation.group])
    start = members.default.start_s.copy()
    energy = np.asarray(members.default.energy_kwh, dtype=float).copy()
    if idx.size:
        # The members of the assigned aggregates alone; dense group ids keep the aggregates' order.
        sub = aggregate(members.take(idx), groups=aggregation.group[idx])
        agg_flat = flat_indices(aggregation.aggregates.offsets, kept)
        part = disaggregate(sub, Schedule(schedule.start_s[kept], schedule.energy_kwh[agg_flat]))
        start[idx] = part.start_s
        energy[flat_indices(members.offsets, idx)] = part.energy_kwh
    return Schedule(start, energy)
