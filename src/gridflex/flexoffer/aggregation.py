"""Aggregate many flex-offers into few, so that any schedule of the few splits back over the many.

Method: start-alignment aggregation (Šikšnys, Valsomatzis, Hose, Pedersen, "Aggregating and
disaggregating flexibility objects", SSDBM 2012 / TKDE 2015) over an *inner approximation* of every
member, which makes disaggregation of any schedule inside the aggregate always feasible.

Inner box per member
    A member whose total energy constraint (TEC) binds is replaced by a box inside its feasible set on
    which the TEC is redundant. With ``S_l = Σ l``, ``S_u = Σ u`` over its profile and ``[L, U]`` its
    effective TEC (:attr:`FlexOfferBatch.tec_effective`)::

        l' = l + α (u − l),   u' = u − β (u − l),
        α = (L − S_l) / (S_u − S_l),   β = (S_u − U) / (S_u − S_l)      (α = β = 0 when S_u = S_l)

    ``α + β <= 1`` because ``L <= U``, so ``l' <= u'``; ``Σ l' = L`` and ``Σ u' = U``. Any per-interval
    choice inside ``[l', u']`` satisfies the member's interval bounds *and* its TEC. Members without a
    binding TEC keep their box (α = β = 0).

Aggregate of a group
    ``EST_g = min EST_i`` and time flexibility ``tf_g = min tf_i``: any aggregate start shift
    ``δ ∈ [0, tf_g]`` moves every member to ``EST_i + δ``, inside its own window. Member ``i`` sits at
    ``offset_i = (EST_i − EST_g) / interval`` inside the aggregate profile, whose length is
    ``max(offset_i + D_i)``; its bounds are ``L_t = Σ l'_{i, t − offset_i}`` and ``U_t`` likewise
    (``np.bincount`` over the flat arrays, no loop per offer). The aggregate has no TEC (NaN): its
    total is implied by the bounds. Aggregates are named ``agg-<n>``, owned by ``"aggregator"``, carry
    the earliest acceptance / assignment deadline of their members (capped so that acceptance <=
    assignment <= LST_g), no prices, and **no default schedule**:
    members' defaults may start at different shifts from their EST, which no single aggregate start
    reproduces (place the members' defaults on a grid with :func:`place_on_grid` for a baseline).

Singletons
    A member alone in its group passes through unchanged: its aggregate has the member's own
    bounds (no inner box), TEC, unit prices and default schedule, so it keeps 100 % of every
    flexibility measure; disaggregation hands the aggregate's schedule to the member as it is.

Grouping (:func:`group_offers`)
    Offers fall in a cell ``(EST // est_tolerance_s, (LST − EST) // tf_tolerance_s, EST mod interval)``
    (the last part keeps members on one interval grid). Inside a cell, optional bin packing by count
    and / or by energy weight ``Σ max(|l|, |u|)``: offers sorted by weight, descending, then cut by a
    vectorized next-fit (cumulative sums): offers whose cumulative weight lies inside one capacity
    segment ``[k·cap, (k+1)·cap]`` share a bin; an offer straddling a segment border gets its own bin.
    Every bin respects the capacity unless one offer alone exceeds it, and the number of bins is at
    most ``2·ceil(W/cap) − 1 <= 2·OPT − 1`` (``W > 0`` the cell's total weight): next-fit's bound.

Balance aggregation (:func:`balance_aggregate`; Valsomatzis, Hose, Pedersen, "Balancing energy
flexibilities through aggregation", 2014)
    Inside each grouping cell, consumption offers (mid energy > 0) and production offers (< 0) are each
    sorted by ``|mid energy|`` descending and the i-th of one side is paired with the i-th of the other;
    unpaired offers stay alone. Each pair is then start-aligned. ``mid energy = (Σ l' + Σ u') / 2 =
    (L + U) / 2``. Imbalance of a grouping: ``Σ_g |Σ_{i∈g} mid_i| / Σ_i |mid_i|`` (1 for singletons).

Speed and memory
    Every per-interval pass runs over blocks of whole offers of about ``_CHUNK`` intervals (see
    :func:`blocks`), so temporaries stay in the CPU cache and each flat array is read or written about
    once. The inner boxes are never stored whole: an aggregation keeps ``α`` and ``1 − α − β`` per
    member and rebuilds ``(l', u')`` per block (:meth:`Aggregation.inner_block`); the aggregate bounds
    and the proportional split read them that way. The member-to-aggregate index (8 bytes per
    interval) is rebuilt per block and kept only when the aggregates' profiles are long in total
    (:class:`Placement`). ``benchmarks/flexoffers.py --memory-child N`` measures the peak memory.

Disaggregation lives in :mod:`gridflex.flexoffer.disaggregation`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from gridflex.errors import FlexOfferValidationError, Problem
from gridflex.flexoffer.model import _CHUNK, NO_TIME, FlexOfferBatch, Schedule, blocks, segment_sum

__all__ = [
    "Aggregation",
    "aggregate",
    "balance_aggregate",
    "balance_groups",
    "group_offers",
    "imbalance",
    "inner_bounds",
    "mid_energy_kwh",
    "offer_weight_kwh",
]

AGGREGATOR_OWNER = "aggregator"
_MAX_PROBLEMS_PER_RULE = 20
_TEC_SLACK = 1e-9  # relative slack before an empty effective TEC counts as invalid (float rounding)

# How to read after/before for each key of flexibility_summary (Aggregation.report). Only "energy" and
# "tec_energy" are additive over offers in the sense that aggregation can at most keep the members' total.
_MEASURE_NOTES = {
    "energy": "additive: Σ interval widths; the aggregates keep the members' inner-box widths",
    "tec_energy": "additive: the aggregates' implied TEC span is Σ of the members' effective TEC spans",
    "time": "a sum of tf over offers: fewer offers count fewer times; each aggregate keeps min tf",
    "time_per_member": "Σ over members of their aggregate's tf / Σ of their own tf: what devices keep",
    "product": "a sum of tf·ef per offer: not additive (products of per-aggregate sums)",
    "vector": "a sum of per-offer norms ‖(tf, ef)‖: not additive",
    "time_series": "a sum of per-offer norms of (tf, widths): not additive",
    "absolute_area": "a sum of per-offer areas: not additive (the aggregate area spans all members)",
    "relative_area": "a mean of per-offer ratios, not a sum: after/before compares averages",
    "assignment_log10": "log10 of a count: after − before (in decades) is the meaningful comparison",
    "assignment_zero_count": "a count of offers with no whole-unit assignment, not a flexibility",
}


# ---- small vectorized helpers -------------------------------------------------------------------
def _offer_of_flat(offsets: np.ndarray, flat_idx: np.ndarray) -> np.ndarray:
    return np.searchsorted(offsets, flat_idx, side="right") - 1


def _tec_bounds(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(S_l, S_u, L, U): profile sums and the effective TEC, as in ``batch.tec_effective``
    (recomputed here with ``reduceat`` to share the profile sums)."""
    s_l = segment_sum(batch.lower_kwh, batch.offsets)
    s_u = segment_sum(batch.upper_kwh, batch.offsets)
    tl, tu = batch.tec_lower_kwh, batch.tec_upper_kwh
    lo = np.where(np.isnan(tl), s_l, np.maximum(tl, s_l))
    hi = np.where(np.isnan(tu), s_u, np.minimum(tu, s_u))
    return s_l, s_u, lo, hi


def _problems(ids: np.ndarray, bad: np.ndarray, field_name: str, message: str) -> list[Problem]:
    where = np.flatnonzero(bad)
    out = [Problem(str(ids[i]), field_name, message) for i in where[:_MAX_PROBLEMS_PER_RULE]]
    if len(where) > _MAX_PROBLEMS_PER_RULE:
        more = len(where) - _MAX_PROBLEMS_PER_RULE
        out.append(Problem("batch", field_name, f"{more} more offer(s) with: {message}"))
    return out


@dataclass(frozen=True)
class _Sums:
    """Per-offer profile sums and effective TEC, computed once per aggregation."""

    lower: np.ndarray  # S_l
    upper: np.ndarray  # S_u
    tec_lower: np.ndarray  # L
    tec_upper: np.ndarray  # U


def _check_batch(batch: FlexOfferBatch) -> tuple[list[Problem], _Sums | None]:
    """What aggregation needs from a batch: structure, finite bounds, lower <= upper, a TEC that can be
    met. Returns the problems and, when there are none, the per-offer sums for :func:`_inner`.

    The full rule set is :mod:`gridflex.flexoffer.validate`; this is the subset aggregation relies on.
    Finiteness is read from the per-offer sums (a NaN or inf bound makes its sum non-finite), and
    ``lower <= upper`` from one comparison, so valid batches cost two passes over the flat arrays.
    """
    n = len(batch)
    off = batch.offsets
    total = len(batch.lower_kwh)
    if len(off) != n + 1 or off[0] != 0 or off[-1] != total or np.any(np.diff(off) < 0):
        return [Problem("batch", "offsets", f"offsets must rise from 0 to {total} over {n} offers")], None
    for name in ("est_s", "lst_s", "tec_lower_kwh", "tec_upper_kwh", "owners"):
        if len(getattr(batch, name)) != n:
            return [Problem("batch", name, f"length {len(getattr(batch, name))}, expected {n}")], None
    if len(batch.upper_kwh) != total:
        return [Problem("batch", "upper_kwh", f"length {len(batch.upper_kwh)}, expected {total}")], None
    problems = _problems(batch.ids, batch.lst_s < batch.est_s, "lst_s", "latest start before earliest start")
    sums = _Sums(*_tec_bounds(batch))
    bad = ~(np.isfinite(sums.lower) & np.isfinite(sums.upper))
    inverted = batch.upper_kwh < batch.lower_kwh  # NaN compares False: caught by the sums above
    if inverted.any():
        bad[_offer_of_flat(off, np.flatnonzero(inverted))] = True
    if bad.any():
        problems += _problems(batch.ids, bad, "lower_kwh", "an interval bound is not finite or lower > upper")
        return problems, None
    lo, hi = sums.tec_lower, sums.tec_upper
    empty = lo > hi + _TEC_SLACK * (1.0 + np.abs(hi))
    problems += _problems(batch.ids, empty, "tec_lower_kwh", "total energy constraint cannot be met")
    return problems, (None if problems else sums)


# ---- inner approximation ------------------------------------------------------------------------


def inner_bounds(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray]:
    """Flat per-interval ``(l', u')`` of the inner box of every offer (see module docstring).

    When no TEC binds, the batch's own arrays are returned (no copy: treat them as read-only).
    Raises :class:`FlexOfferValidationError` for a batch without an inner box (see :func:`aggregate`).
    """
    problems, sums = _check_batch(batch)
    if sums is None:
        raise FlexOfferValidationError("flex-offers for an inner approximation", problems)
    return _inner(batch, sums)


def _alpha_keep(sums: _Sums) -> tuple[np.ndarray, np.ndarray]:
    """Per offer ``α`` and ``1 − α − β`` of the inner box (module docstring)."""
    span = sums.upper - sums.lower
    pos = span > 0
    alpha = np.zeros(len(span))
    beta = np.zeros(len(span))
    np.divide(sums.tec_lower - sums.lower, span, out=alpha, where=pos)
    np.divide(sums.upper - sums.tec_upper, span, out=beta, where=pos)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    np.clip(beta, 0.0, 1.0 - alpha, out=beta)  # float rounding of L <= U
    return alpha, 1.0 - alpha - beta


class _InnerBoxes:
    """The inner boxes ``(l', u')`` of a batch, block by block, from per-offer ``α`` and ``1 − α − β``:
    8 bytes per offer instead of 16 per profile interval (see :func:`blocks`)."""

    def __init__(self, batch: FlexOfferBatch, sums: _Sums, whole: np.ndarray | None = None) -> None:
        alpha, keep = _alpha_keep(sums)
        if whole is not None:  # members alone keep their own box (and their TEC, in their aggregate)
            alpha[whole] = 0.0
            keep[whole] = 1.0
        self.lower, self.upper, self.offsets, self.lengths = (
            batch.lower_kwh,
            batch.upper_kwh,
            batch.offsets,
            batch.lengths,
        )
        self.own = not (alpha.any() or (keep != 1.0).any())  # no TEC binds: the batch's own boxes
        self.alpha, self.keep, self.whole = alpha, keep, whole

    def block(self, m0: int, m1: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """``(l', u')`` of flat intervals ``a..b`` (offers ``m0..m1``)."""
        lower, upper = self.lower[a:b], self.upper[a:b]
        if self.own:
            return lower, upper
        width = np.subtract(upper, lower, dtype=np.float64)  # float64 also for float32 bounds
        lengths = self.lengths[m0:m1]
        lo = np.repeat(self.alpha[m0:m1], lengths)
        lo *= width
        lo += lower
        hi = np.repeat(self.keep[m0:m1], lengths)
        hi *= width
        hi += lo  # u' = l' + (1 − α − β)(u − l) >= l' exactly
        if self.whole is not None:  # their own bounds bit for bit (l + (u − l) may round away from u)
            w = np.repeat(self.whole[m0:m1], lengths)
            lo[w], hi[w] = lower[w], upper[w]
        return lo, hi

    def full(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(l', u')`` (the batch's own arrays, not copied, when no TEC binds)."""
        if self.own:
            return self.lower, self.upper
        lo, hi = np.empty(len(self.lower)), np.empty(len(self.upper))  # float64, also for float32 bounds
        for m0, m1, a, b in blocks(self.offsets):
            lo[a:b], hi[a:b] = self.block(m0, m1, a, b)
        return lo, hi


def _inner(
    batch: FlexOfferBatch, sums: _Sums, whole: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inner boxes ``(l', u')`` (the batch's own arrays when no TEC binds); ``whole``: offers that keep
    their own box (members alone in their aggregate, whose TEC the aggregate carries itself)."""
    return _InnerBoxes(batch, sums, whole).full()


def flat_indices(offsets: np.ndarray, offers: np.ndarray) -> np.ndarray:
    """Flat profile indices of ``offers`` (in that order), for CSR ``offsets``."""
    lengths = offsets[1:][offers] - offsets[:-1][offers]
    k = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(offsets[:-1][offers], lengths) + k


class Placement:
    """Where every flat member interval lands in the aggregates' flat profile, without storing it.

    Member ``i`` starts at aggregate flat index ``targets[i]``; block by block (see :func:`blocks`) the
    index is rebuilt in the CPU cache. Sums per aggregate interval go block by block into the range of
    intervals the block touches when the aggregates' profiles are short in total (at most two
    blocks); otherwise the index is built once, kept, and summed with one ``np.bincount``.
    """

    def __init__(
        self,
        offsets: np.ndarray,
        targets: np.ndarray,
        total: int,
        cache: dict,
        lengths: np.ndarray | None = None,
    ) -> None:
        self.offsets, self.total, self.cache = offsets, total, cache
        self.start = targets - offsets[:-1]
        self.lengths = np.diff(offsets) if lengths is None else lengths  # shared with the inner boxes

    @property
    def stored(self) -> np.ndarray | None:
        return self.cache.get("flat_index")

    def index(self) -> np.ndarray:
        if self.stored is None:
            flat_index = np.empty(int(self.offsets[-1]), dtype=np.int64)
            for m0, m1, a, b in blocks(self.offsets):
                flat_index[a:b] = self.block(m0, m1, a, b)
            self.cache["flat_index"] = flat_index
        return self.cache["flat_index"]

    def block(self, m0: int, m1: int, a: int, b: int) -> np.ndarray:
        """The aggregate flat index of member flat intervals ``a..b`` (offers ``m0..m1``)."""
        if self.stored is not None:
            return self.stored[a:b]
        idx = np.repeat(self.start[m0:m1], self.lengths[m0:m1])
        idx += np.arange(a, b)
        return idx

    def block_sums(
        self, block: Callable[[int, int, int, int], tuple[np.ndarray, ...]], k: int
    ) -> list[np.ndarray]:
        """Sums per aggregate interval of ``k`` flat member arrays given block by block by ``block``
        (never whole, unless the index is stored: then the arrays are built to sum them at once)."""
        if self.stored is None and self.total > 2 * _CHUNK:
            self.index()
        if self.stored is not None:
            flats = [np.empty(int(self.offsets[-1])) for _ in range(k)]
            for m0, m1, a, b in blocks(self.offsets):
                for f, v in zip(flats, block(m0, m1, a, b), strict=True):
                    f[a:b] = v
            return self.sums(*flats)
        out = [np.zeros(self.total) for _ in range(k)]
        for m0, m1, a, b in blocks(self.offsets):
            idx = self.block(m0, m1, a, b)  # a fresh array here (no stored index): shifted in place
            r0 = int(idx.min())
            idx -= r0
            r1 = r0 + int(idx.max()) + 1
            for o, f in zip(out, block(m0, m1, a, b), strict=True):
                o[r0:r1] += np.bincount(idx, weights=f, minlength=r1 - r0)
        return out

    def sums(self, *flats: np.ndarray) -> list[np.ndarray]:
        """Sum of each flat member array per aggregate interval."""
        if self.stored is None and self.total > 2 * _CHUNK:
            self.index()
        if self.stored is not None:
            return [np.bincount(self.stored, weights=f, minlength=self.total) for f in flats]
        out = [np.zeros(self.total) for _ in flats]
        for m0, m1, a, b in blocks(self.offsets):
            idx = self.block(m0, m1, a, b)  # a fresh array here (no stored index): shifted in place
            r0 = int(idx.min())
            idx -= r0
            r1 = r0 + int(idx.max()) + 1
            for o, f in zip(out, flats, strict=True):
                o[r0:r1] += np.bincount(idx, weights=f[a:b], minlength=r1 - r0)
        return out


# ---- the result -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Aggregation:
    """Aggregates and the map back to their members.

    ``aggregates``        one flex-offer per group (``agg-<n>``), bounds from the members' inner boxes
    ``members``           the input batch
    ``group``             int64 (n,): aggregate index of each member
    ``offset``            int64 (n,): member start inside its aggregate profile, in intervals
    ``inner_lower_kwh``, ``inner_upper_kwh``  flat, aligned with ``members``: the inner boxes (built on
                          first use; :meth:`inner_block` gives them block by block without storing them)
    """

    aggregates: FlexOfferBatch
    members: FlexOfferBatch
    group: np.ndarray
    offset: np.ndarray
    _inner_lower: np.ndarray | None = None
    _inner_upper: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def member_ids(self) -> list[list[str]]:
        """Per aggregate, the ids of its members (as written in ``gridflexMembers``)."""
        order = np.argsort(self.group, kind="stable")
        bounds = np.searchsorted(self.group[order], np.arange(len(self.aggregates) + 1)).tolist()
        ids = self.members.ids[order].tolist()
        return [ids[a:b] for a, b in itertools.pairwise(bounds)]

    def _inner_full(self) -> tuple[np.ndarray, np.ndarray]:
        if self._inner_lower is not None and self._inner_upper is not None:
            return self._inner_lower, self._inner_upper
        if "inner_full" not in self._cache:
            self._cache["inner_full"] = self._boxes().full()
        return self._cache["inner_full"]

    def _boxes(self) -> _InnerBoxes:
        if "inner" not in self._cache:
            problems, sums = _check_batch(self.members)
            if sums is None:
                raise FlexOfferValidationError("aggregation members", problems)
            self._cache["inner"] = _InnerBoxes(self.members, sums, self.alone if self.alone.any() else None)
        return self._cache["inner"]

    @property
    def inner_lower_kwh(self) -> np.ndarray:
        """Flat lower bounds ``l'`` of the members' inner boxes (aligned with ``members``)."""
        return self._inner_full()[0]

    @property
    def inner_upper_kwh(self) -> np.ndarray:
        """Flat upper bounds ``u'`` of the members' inner boxes (aligned with ``members``)."""
        return self._inner_full()[1]

    def inner_coefficients(self) -> _InnerBoxes | None:
        """The inner boxes as per-member coefficients: ``alpha`` (``α``) and ``keep`` (``1 − α − β``),
        so that ``l' = l + α (u − l)`` and ``u' − l' = (1 − α − β)(u − l)`` (``own``: no TEC binds,
        ``α = 0`` and ``1 − α − β = 1``); ``None`` when the boxes were given as arrays."""
        if self._inner_lower is not None and self._inner_upper is not None:
            return None
        return self._boxes()

    def inner_block(self, m0: int, m1: int, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """``(l', u')`` of member flat intervals ``a..b`` (members ``m0..m1``, see :func:`blocks`)."""
        if self._inner_lower is not None and self._inner_upper is not None:
            return self._inner_lower[a:b], self._inner_upper[a:b]
        if "inner_full" in self._cache:
            lo, hi = self._cache["inner_full"]
            return lo[a:b], hi[a:b]
        return self._boxes().block(m0, m1, a, b)

    @property
    def ratio(self) -> float:
        """Aggregation ratio: members per aggregate (NaN when there are no aggregates)."""
        return len(self.members) / len(self.aggregates) if len(self.aggregates) else float("nan")

    @property
    def alone(self) -> np.ndarray:
        """bool (n,): members alone in their aggregate (passed through unchanged)."""
        if "alone" not in self._cache:
            size = np.bincount(self.group, minlength=len(self.aggregates))
            self._cache["alone"] = size[self.group] == 1
        return self._cache["alone"]

    @property
    def placement(self) -> Placement:
        """Block-wise map from member intervals to aggregate intervals (used by disaggregation)."""
        if "placement" not in self._cache:
            targets = self.aggregates.offsets[:-1][self.group] + self.offset
            total = len(self.aggregates.lower_kwh)
            self._cache["placement"] = Placement(self.members.offsets, targets, total, self._cache)
        return self._cache["placement"]

    @property
    def flat_index(self) -> np.ndarray:
        """For every flat member interval, the index of its interval in the aggregates' flat profile.

        Built on first use and kept (8 bytes per member interval); the aggregation and the proportional
        split work block by block without it when the aggregates' profiles are short in total.
        """
        return self.placement.index()

    def sum_to_aggregates(self, flat: np.ndarray) -> np.ndarray:
        """Sum of a flat member array (aligned with ``members``) per aggregate interval."""
        return self.placement.sums(flat)[0]

    def report(self) -> dict:
        """Flexibility before (members) and after (aggregates), the retained share per measure, and
        the imbalance of the grouping.

        ``retained[m] = after[m] / before[m]`` (NaN when before is 0). The inner boxes and the
        start alignment (``tf_g = min tf_i``) both give up flexibility; the share says how much is kept.
        ``retained["time_per_member"]`` = Σ_i tf_{g(i)} / Σ_i tf_i: the time flexibility each device
        still has through its aggregate. ``notes`` says per measure how to read the ratio (only ``energy`` and ``tec_energy`` are
        additive over offers; for ``assignment_log10`` compare ``after − before``).
        """
        from gridflex.flexoffer.measures import flexibility_summary

        before = flexibility_summary(self.members)
        after = flexibility_summary(self.aggregates)
        retained = {
            k: (after[k] / before[k] if before[k] != 0.0 and np.isfinite(before[k]) else float("nan"))
            for k in before
            if k in after
        }
        # Each member keeps the time flexibility of its aggregate: the device-level view of "time".
        tf_members = self.members.time_flex.sum()
        kept = self.aggregates.time_flex[self.group].sum()
        retained["time_per_member"] = float(kept / tf_members) if tf_members else float("nan")
        return {
            "members": len(self.members),
            "aggregates": len(self.aggregates),
            "ratio": self.ratio,
            "time_per_member": {"before": float(tf_members), "after": float(kept)},
            "before": before,
            "after": after,
            "retained": retained,
            "notes": {k: v for k, v in _MEASURE_NOTES.items() if k in retained},
            "imbalance": {
                "before": _imbalance_singletons(self.members),
                "after": imbalance(self.members, self.group),
            },
        }


# ---- grouping -----------------------------------------------------------------------------------
def _cells(batch: FlexOfferBatch, est_tolerance_s: int, tf_tolerance_s: int) -> np.ndarray:
    """One int64 key per offer, equal for offers of the same grouping cell, ordered (EST, tf, phase)."""
    if est_tolerance_s <= 0 or tf_tolerance_s <= 0:
        raise ValueError("est_tolerance_s and tf_tolerance_s must be positive")
    est = batch.est_s
    k1 = est // int(est_tolerance_s)
    k2 = (batch.lst_s - est) // int(tf_tolerance_s)
    k3 = est % batch.interval_s
    if len(est) == 0:
        return np.zeros(0, dtype=np.int64)
    k1 = k1 - k1.min()
    k2 = k2 - k2.min()
    m2, m3 = int(k2.max()) + 1, int(k3.max()) + 1
    if (int(k1.max()) + 1) * m2 * m3 < 2**62:
        return (k1 * m2 + k2) * m3 + k3
    _, inverse = np.unique(np.stack([k1, k2, k3], axis=1), axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _run_start(new: np.ndarray) -> np.ndarray:
    """For each position of a sorted sequence with run starts ``new``, the position of its run start."""
    pos = np.where(new, np.arange(len(new)), 0)
    return np.maximum.accumulate(pos)


def offer_weight_kwh(batch: FlexOfferBatch) -> np.ndarray:
    """Energy weight per offer for bin packing: ``Σ max(|l|, |u|)`` over its profile."""
    w = np.abs(batch.lower_kwh)
    np.maximum(w, np.abs(batch.upper_kwh), out=w)
    return segment_sum(w, batch.offsets)


def group_offers(
    batch: FlexOfferBatch,
    est_tolerance_s: int = 3600,
    tf_tolerance_s: int = 3600,
    max_group_size: int | None = None,
    max_group_kwh: float | None = None,
) -> np.ndarray:
    """Group id (int64, 0..G−1) per offer: same grouping cell, then bins by count and / or energy.

    Cell: ``(EST // est_tolerance_s, (LST − EST) // tf_tolerance_s, EST mod interval)``. Inside a cell,
    offers sorted by weight ``Σ max(|l|, |u|)`` descending are cut into bins of at most
    ``max_group_kwh`` (vectorized next-fit, see module docstring: at most ``2·OPT − 1`` bins; an offer
    heavier than the limit gets a bin alone), then each bin into chunks of at most ``max_group_size``.
    Groups are numbered in cell order (EST first).
    """
    n = len(batch)
    if max_group_size is not None and max_group_size < 1:
        raise ValueError("max_group_size must be at least 1")
    if max_group_kwh is not None and not max_group_kwh > 0:
        raise ValueError("max_group_kwh must be positive")
    key = _cells(batch, est_tolerance_s, tf_tolerance_s)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if max_group_size is None and max_group_kwh is None:
        _, inverse = np.unique(key, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64)
    if max_group_kwh is None:
        order = np.argsort(key, kind="stable")
    else:
        weight = offer_weight_kwh(batch)
        order = np.lexsort((-weight, key))
    ks = key[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(ks[1:], ks[:-1], out=new[1:])
    if max_group_kwh is not None:
        new |= _energy_cuts(weight[order], new, float(max_group_kwh))
    if max_group_size is not None:
        rank = np.arange(n) - _run_start(new)
        new |= rank % int(max_group_size) == 0
    groups = np.empty(n, dtype=np.int64)
    groups[order] = np.cumsum(new) - 1
    return groups


def _energy_cuts(w: np.ndarray, cell_start: np.ndarray, cap: float) -> np.ndarray:
    """Bin starts of the vectorized next-fit over weights ``w`` (sorted within cells)."""
    csum = np.cumsum(w)
    start = csum - w  # cumulative weight before each offer (global)
    start -= start[_run_start(cell_start)]  # ... within its cell
    end = start + w
    seg = np.floor(start / cap)
    seg_end = np.maximum(np.ceil(end / cap) - 1.0, seg)
    straddle = seg_end > seg
    new = np.zeros(len(w), dtype=bool)
    new[1:] = (seg[1:] != seg[:-1]) | straddle[:-1]
    new |= straddle
    return new


# ---- balance ------------------------------------------------------------------------------------
def mid_energy_kwh(batch: FlexOfferBatch) -> np.ndarray:
    """Mid energy per offer, ``(Σ l' + Σ u') / 2 = (L + U) / 2`` with ``[L, U]`` the effective TEC."""
    _, _, lo, hi = _tec_bounds(batch)
    return 0.5 * (lo + hi)


def imbalance(batch: FlexOfferBatch, groups: np.ndarray) -> float:
    """Imbalance ``Σ_g |Σ_{i∈g} mid_i| / Σ_i |mid_i|`` of a grouping.

    1 when no group mixes signs, 0 when every group cancels (and 0 when all mid energies are 0).
    """
    mid = mid_energy_kwh(batch)
    denom = float(np.abs(mid).sum())
    if denom == 0.0:
        return 0.0
    return float(np.abs(np.bincount(np.asarray(groups, dtype=np.int64), weights=mid)).sum() / denom)


def _imbalance_singletons(batch: FlexOfferBatch) -> float:
    return 1.0 if np.any(mid_energy_kwh(batch) != 0.0) else 0.0


def balance_groups(
    batch: FlexOfferBatch, est_tolerance_s: int = 3600, tf_tolerance_s: int = 3600
) -> np.ndarray:
    """Group id per offer, pairing consumers with producers inside each grouping cell.

    See the module docstring; groups are numbered by cell, pairs first, then the unpaired offers.
    """
    return _balance_groups(batch, est_tolerance_s, tf_tolerance_s, mid_energy_kwh(batch))


def _balance_groups(
    batch: FlexOfferBatch, est_tolerance_s: int, tf_tolerance_s: int, mid: np.ndarray
) -> np.ndarray:
    n = len(batch)
    key = _cells(batch, est_tolerance_s, tf_tolerance_s)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, cell = np.unique(key, return_inverse=True)
    cell = cell.reshape(-1).astype(np.int64)
    side = np.sign(mid).astype(np.int64)  # +1 consumption, −1 production, 0 neither
    order = np.lexsort((-np.abs(mid), side, cell))
    cs, ss = cell[order], side[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = (cs[1:] != cs[:-1]) | (ss[1:] != ss[:-1])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - _run_start(new)
    n_cells = int(cell.max()) + 1
    pairs = np.minimum(
        np.bincount(cell[side > 0], minlength=n_cells), np.bincount(cell[side < 0], minlength=n_cells)
    )
    paired = (side != 0) & (rank < pairs[cell])
    sub = np.where(paired, rank, n + np.arange(n))  # unpaired: a key of their own
    _, groups = np.unique(cell * (2 * n) + sub, return_inverse=True)
    return groups.reshape(-1).astype(np.int64)


# ---- aggregation --------------------------------------------------------------------------------
def _dense_groups(groups: np.ndarray, n: int) -> np.ndarray:
    g = np.asarray(groups)
    if g.shape != (n,) or (n and not np.issubdtype(g.dtype, np.integer)):
        raise FlexOfferValidationError(
            "aggregation groups",
            [Problem("groups", "shape", f"expected {n} integer group ids, got {g.shape}")],
        )
    g = g.astype(np.int64, copy=False)
    if n == 0:
        return g
    if g.min() == 0 and np.bincount(g).all():
        return g
    _, inverse = np.unique(g, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _earliest_deadline(
    values: np.ndarray, group: np.ndarray, n_groups: int, latest: np.ndarray
) -> np.ndarray:
    """Earliest member deadline per group (members without one ignored), at most ``latest``."""
    big = np.iinfo(np.int64).max
    out = np.full(n_groups, big, dtype=np.int64)
    np.minimum.at(out, group, np.where(values == NO_TIME, big, values))
    absent = out == big
    np.minimum(out, latest, out=out)
    out[absent] = NO_TIME
    return out


def aggregate(batch: FlexOfferBatch, groups: np.ndarray | None = None, **grouping: object) -> Aggregation:
    """Start-align each group of ``batch`` over the members' inner boxes.

    ``groups``: a group id per offer; when omitted, :func:`group_offers` (``batch, **grouping``) makes
    them. Raises :class:`FlexOfferValidationError` for a batch aggregation cannot use (bounds not finite,
    lower > upper, an unreachable TEC, LST < EST) or a group whose members' ESTs are not on one
    interval grid.
    """
    problems, sums = _check_batch(batch)
    if sums is None:
        raise FlexOfferValidationError("flex-offers to aggregate", problems)
    n = len(batch)
    if groups is None:
        group = group_offers(batch, **grouping)  # type: ignore[arg-type]
    elif grouping:
        raise TypeError("pass either groups or grouping options, not both")
    else:
        group = _dense_groups(groups, n)
    return _aggregate_groups(batch, group, sums)


def _aggregate_groups(batch: FlexOfferBatch, group: np.ndarray, sums: _Sums) -> Aggregation:
    """Aggregation of a checked batch with dense group ids."""
    n = len(batch)
    n_groups = int(group.max()) + 1 if n else 0
    interval = batch.interval_s

    est_g = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(est_g, group, batch.est_s)
    shift_s = batch.est_s - est_g[group]
    off_grid = shift_s % interval != 0
    if off_grid.any():
        raise FlexOfferValidationError(
            "aggregation groups",
            _problems(batch.ids, off_grid, "est_s", "earliest start not on the interval grid of its group"),
        )
    offset = shift_s // interval
    tf_g = np.full(n_groups, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(tf_g, group, batch.time_flex)
    length_g = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(length_g, group, offset + batch.lengths)
    agg_offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(length_g, out=agg_offsets[1:])

    # A member alone in its group passes through unchanged: its own box, TEC, prices and default
    # (the inner box would give up flexibility only needed to split a sum over several members).
    size = np.bincount(group, minlength=n_groups)
    alone = size[group] == 1
    boxes = _InnerBoxes(batch, sums, alone if alone.any() else None)  # block by block, never stored whole
    cache: dict = {"alone": alone, "inner": boxes}
    targets = agg_offsets[:-1][group]
    targets += offset
    placement = Placement(batch.offsets, targets, int(agg_offsets[-1]), cache, boxes.lengths)
    del targets
    agg_lo, agg_hi = placement.block_sums(boxes.block, 2)

    lst_g = est_g + tf_g * interval
    # deadlines: the earliest of the members', kept in order acceptance <= assignment <= LST
    assign = _earliest_deadline(batch.assign_before_s, group, n_groups, lst_g)
    latest_accept = np.where(assign == NO_TIME, lst_g, assign)
    accept = _earliest_deadline(batch.accept_before_s, group, n_groups, latest_accept)
    single = np.flatnonzero(alone)  # members alone, and their groups group[single]
    g_single = group[single]

    def passed(values: np.ndarray, absent: float | int = np.nan) -> np.ndarray:
        out = np.full(n_groups, absent, dtype=values.dtype)
        out[g_single] = values[single]
        return out

    aggregates = FlexOfferBatch(
        ids=np.char.add("agg-", np.arange(n_groups).astype(str)) if n_groups else np.zeros(0, dtype="<U1"),
        owners=np.full(n_groups, AGGREGATOR_OWNER),
        est_s=est_g,
        lst_s=lst_g,
        offsets=agg_offsets,
        lower_kwh=agg_lo,
        upper_kwh=agg_hi,
        interval_s=interval,
        accept_before_s=accept,
        assign_before_s=assign,
        tec_lower_kwh=passed(batch.tec_lower_kwh),
        tec_upper_kwh=passed(batch.tec_upper_kwh),
        price_above_eur_per_mwh=passed(batch.price_above_eur_per_mwh),
        price_below_eur_per_mwh=passed(batch.price_below_eur_per_mwh),
        default=_passed_default(batch, single, g_single, n_groups, agg_offsets),
    )
    result = Aggregation(aggregates, batch, group, offset, None, None, cache)
    result._cache["placement"] = placement
    return result


def _passed_default(
    batch: FlexOfferBatch, single: np.ndarray, g_single: np.ndarray, n_groups: int, agg_offsets: np.ndarray
) -> Schedule | None:
    """The default schedules of members alone in their group, as their aggregates' defaults."""
    d = batch.default
    if d is None or not len(single) or np.all(d.start_s[single] == NO_TIME):
        return None
    start = np.full(n_groups, NO_TIME, dtype=np.int64)
    start[g_single] = d.start_s[single]
    energy = np.full(int(agg_offsets[-1]), np.nan)
    lengths = batch.lengths[single]
    k = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    energy[np.repeat(agg_offsets[g_single], lengths) + k] = d.energy_kwh[
        np.repeat(batch.offsets[single], lengths) + k
    ]
    return Schedule(start, energy)


def balance_aggregate(
    batch: FlexOfferBatch, est_tolerance_s: int = 3600, tf_tolerance_s: int = 3600
) -> Aggregation:
    """Pair consumption with production offers inside each grouping cell, then start-align each pair.

    ``report()["imbalance"]`` gives the imbalance before (every offer alone: 1) and after.
    """
    problems, sums = _check_batch(batch)
    if sums is None:
        raise FlexOfferValidationError("flex-offers to aggregate", problems)
    mid = 0.5 * (sums.tec_lower + sums.tec_upper)
    return _aggregate_groups(batch, _balance_groups(batch, est_tolerance_s, tf_tolerance_s, mid), sums)
