"""Flexibility measures of flex-offers, after Valsomatzis, Hose, Pedersen and Šikšnys,
"Measuring and Comparing Energy Flexibilities" (EDBT/ICDT Workshops 2015).

Every measure is vectorized: it returns one value per offer (arrays of length ``n``), and
:func:`flexibility_summary` gives batch totals. Notation: ``tf`` is the time flexibility in
intervals, ``D`` the profile length, ``l_k`` / ``u_k`` the lower / upper energy (kWh) of profile
interval ``k``. Energies are signed (positive = consumption), so production offers have
negative bounds; every measure below uses widths or absolute values and is sign-symmetric.
The measures use the per-interval profile bounds; only :func:`tec_energy_flexibility` looks at
the total energy constraint.
"""

from __future__ import annotations

import numpy as np

from gridflex.flexoffer.model import FlexOfferBatch

__all__ = [
    "MEASURES",
    "absolute_area_flexibility",
    "aggregation_in_words",
    "assignment_flexibility",
    "energy_flexibility",
    "flexibility_summary",
    "product_flexibility",
    "relative_area_flexibility",
    "tec_energy_flexibility",
    "time_flexibility",
    "time_series_flexibility",
    "time_series_magnitude",
    "vector_flexibility",
    "vector_flexibility_norm",
]


def time_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """``tf = (LST − EST) / interval``, in intervals (float64, length n)."""
    return (batch.lst_s - batch.est_s) / batch.interval_s


def energy_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """``ef = Σ_k (u_k − l_k)`` in kWh: the sum of the per-interval energy ranges."""
    return batch.sum_per_offer(batch.upper_kwh - batch.lower_kwh)


def tec_energy_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """``max(0, TEC_hi − TEC_lo)`` in kWh of the *effective* total energy constraint
    (:attr:`FlexOfferBatch.tec_effective`: the TEC intersected with ``[Σ l_k, Σ u_k]``)."""
    lo, hi = batch.tec_effective
    return np.maximum(hi - lo, 0.0)


def product_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """``pf = tf · ef`` (intervals · kWh); zero when either kind of flexibility is missing."""
    return time_flexibility(batch) * energy_flexibility(batch)


def vector_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """The vector ``(tf, ef)`` per offer, as an ``(n, 2)`` array (intervals, kWh)."""
    return np.column_stack((time_flexibility(batch), energy_flexibility(batch)))


def vector_flexibility_norm(batch: FlexOfferBatch) -> np.ndarray:
    """Euclidean norm of the vector flexibility: ``‖(tf, ef)‖₂ = sqrt(tf² + ef²)``."""
    return np.hypot(time_flexibility(batch), energy_flexibility(batch))


def time_series_flexibility(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray]:
    """The series ``w = (tf, u_1 − l_1, …, u_D − l_D)`` per offer, stored CSR-style.

    Returns ``(offsets, values)``: offer ``i``'s series is ``values[offsets[i]:offsets[i+1]]``,
    of length ``D_i + 1``. This is gridflex's reading of the paper's time-series measure: the
    time flexibility followed by the energy flexibility of every profile interval.
    """
    offsets = batch.offsets + np.arange(len(batch) + 1, dtype=np.int64)
    values = np.empty(offsets[-1])
    values[offsets[:-1]] = time_flexibility(batch)
    values[np.arange(len(batch.lower_kwh)) + batch.owner_index + 1] = batch.upper_kwh - batch.lower_kwh
    return offsets, values


def time_series_magnitude(batch: FlexOfferBatch) -> np.ndarray:
    """``‖w‖₂ = sqrt(tf² + Σ_k (u_k − l_k)²)``, the magnitude of :func:`time_series_flexibility`."""
    width = batch.upper_kwh - batch.lower_kwh
    return np.sqrt(time_flexibility(batch) ** 2 + batch.sum_per_offer(width * width))


def assignment_flexibility(batch: FlexOfferBatch, unit_kwh: float = 1.0) -> np.ndarray:
    """``log10`` of the number of distinct assignments with whole energy units of ``unit_kwh``.

    ``count = (tf + 1) · Π_k (⌊u_k/unit⌋ − ⌈l_k/unit⌉ + 1)``: every start, times every choice of a
    whole number of units in each interval (the total energy constraint is ignored). The log is
    returned because the count overflows quickly; it is ``-inf`` when some interval holds no whole
    unit (count 0). ``u_k/unit`` and ``l_k/unit`` are rounded to 1e-9 first, so ``0.3/0.1`` counts 3.
    """
    if not unit_kwh > 0:
        raise ValueError(f"unit_kwh must be positive, got {unit_kwh}")
    hi = np.floor(np.round(batch.upper_kwh / unit_kwh, 9))
    lo = np.ceil(np.round(batch.lower_kwh / unit_kwh, 9))
    choices = np.maximum(hi - lo + 1, 0.0)
    zero = batch.sum_per_offer((choices == 0).astype(np.float64)) > 0
    logs = batch.sum_per_offer(np.log10(np.where(choices > 0, choices, 1.0)))
    tf = time_flexibility(batch)
    out = np.log10(np.maximum(tf, 0.0) + 1) + logs
    return np.where(zero, -np.inf, out)


def _placement_envelope(batch: FlexOfferBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper and lower envelope over all placements, per absolute interval of ``[EST, LST + D)``.

    Returns ``(offsets, hi, lo)``, CSR over offers with ``tf_i + D_i`` intervals each. Where some
    placement does not cover an interval it contributes 0 to both envelopes.
    """
    tf = np.maximum(batch.time_flex, 0)
    d = batch.lengths
    span = tf + d
    offsets = np.concatenate(([0], np.cumsum(span))).astype(np.int64)
    owner_t = np.repeat(np.arange(len(batch), dtype=np.int64), span)
    t = np.arange(offsets[-1], dtype=np.int64) - offsets[:-1][owner_t]
    full = (t >= tf[owner_t]) & (t < d[owner_t])  # covered by every placement
    hi = np.where(full, -np.inf, 0.0)
    lo = np.where(full, np.inf, 0.0)
    # flat profile intervals ordered by descending tf of their offer: placements δ are a prefix
    order = np.argsort(-tf[batch.owner_index], kind="stable")
    tf_sorted = tf[batch.owner_index][order]
    base = offsets[:-1][batch.owner_index][order] + batch.position[order]
    upper, lower = batch.upper_kwh[order], batch.lower_kwh[order]
    max_tf = int(tf.max()) if len(tf) else -1
    counts = np.searchsorted(-tf_sorted, -np.arange(max_tf + 1), side="right")
    for delta in range(max_tf + 1):
        m = counts[delta]
        idx = base[:m] + delta
        hi[idx] = np.maximum(hi[idx], upper[:m])
        lo[idx] = np.minimum(lo[idx], lower[:m])
    return offsets, hi, lo


def absolute_area_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """Area (kWh · intervals) of the union of all placements in the time–energy plane.

    For each absolute interval ``t`` of ``[EST, LST + D)`` and all starts ``δ ∈ [0, tf]``:
    ``hi_t = max_δ u_{t−δ}`` and ``lo_t = min_δ l_{t−δ}``, where a placement that does not cover
    ``t`` contributes 0 to both; ``area = Σ_t (hi_t − lo_t)``. With ``tf = 0`` the area equals
    the energy flexibility ``ef``. Vectorized: one pass per start offset ``δ`` up to the largest tf.
    """
    offsets, hi, lo = _placement_envelope(batch)
    owner_t = np.repeat(np.arange(len(batch), dtype=np.int64), np.diff(offsets))
    return np.bincount(owner_t, weights=hi - lo, minlength=len(batch))


def relative_area_flexibility(batch: FlexOfferBatch) -> np.ndarray:
    """``absolute area / Σ_k max(|l_k|, |u_k|)`` (0 when the denominator is 0)."""
    area = absolute_area_flexibility(batch)
    denom = batch.sum_per_offer(np.maximum(np.abs(batch.lower_kwh), np.abs(batch.upper_kwh)))
    return np.divide(area, denom, out=np.zeros(len(batch)), where=denom > 0)


def flexibility_summary(batch: FlexOfferBatch, unit_kwh: float = 1.0) -> dict[str, float]:
    """Batch totals of every scalar measure.

    Keys: ``time``, ``energy``, ``product``, ``tec_energy``, ``vector`` (sum of norms),
    ``time_series`` (sum of magnitudes), ``assignment_log10`` (sum of the per-offer log10 counts
    over offers with at least one assignment, i.e. log10 of the number of joint assignments of
    those offers), ``assignment_zero_count`` (offers with no whole-unit assignment, left out of
    ``assignment_log10``), ``absolute_area`` (sum) and ``relative_area`` (mean; 0 for an empty batch).
    """
    assign = assignment_flexibility(batch, unit_kwh)
    finite = np.isfinite(assign)
    rel = relative_area_flexibility(batch)
    return {
        "time": float(time_flexibility(batch).sum()),
        "energy": float(energy_flexibility(batch).sum()),
        "product": float(product_flexibility(batch).sum()),
        "tec_energy": float(tec_energy_flexibility(batch).sum()),
        "vector": float(vector_flexibility_norm(batch).sum()),
        "time_series": float(time_series_magnitude(batch).sum()),
        "assignment_log10": float(assign[finite].sum()),
        "assignment_zero_count": float((~finite).sum()),
        "absolute_area": float(absolute_area_flexibility(batch).sum()),
        "relative_area": float(rel.mean()) if len(rel) else 0.0,
    }


MEASURES: dict[str, tuple[str, str, str]] = {
    # key: (what it is, unit, how to read after / before for an aggregation)
    "time_per_member": (
        "Start-time flexibility each device keeps",
        "intervals",
        "Σ over devices of the start window of their aggregate / Σ of their own windows: an aggregate "
        "keeps the narrowest window of its members, so this is what aggregation costs a device in time",
    ),
    "time": (
        "Start-time flexibility summed over offers",
        "intervals",
        "one window per offer: many devices in one aggregate count one window, so this falls with the "
        "number of offers even when every device keeps its window (the row above)",
    ),
    "energy": (
        "Energy flexibility",
        "kWh",
        "Σ of the per-interval energy ranges; the aggregates keep the members' inner boxes, the part "
        "of each range that any split of the aggregate can give every member within its total energy",
    ),
    "tec_energy": (
        "Total-energy flexibility",
        "kWh",
        "Σ of the total-energy ranges (TEC within the profile sums): aggregation keeps all of it",
    ),
    "absolute_area": (
        "Time-energy area",
        "kWh·intervals",
        "Σ over offers of the area every start and energy choice covers; one aggregate covers one area "
        "for all its members, so this falls with the number of offers as the summed start time does",
    ),
    "relative_area": (
        "Time-energy area per kWh of profile, mean over offers",
        "intervals",
        "a mean of per-offer ratios, compared as averages",
    ),
    "product": (
        "Start time × energy flexibility, summed over offers",
        "kWh·intervals",
        "products per offer: not additive, falls with the number of offers",
    ),
    "vector": (
        "Length of (start time, energy) flexibility, summed over offers",
        "",
        "norms per offer: not additive, falls with the number of offers",
    ),
    "time_series": (
        "Length of (start time, energy per interval), summed over offers",
        "",
        "norms per offer: not additive, falls with the number of offers",
    ),
    "assignment_log10": (
        "Number of distinct schedules (whole kWh per interval)",
        "decades",
        "log10 of a count: compare after − before, in decades (powers of ten); aggregation ties the "
        "members together, so far fewer joint schedules remain",
    ),
    "assignment_zero_count": (
        "Offers without a whole-kWh schedule",
        "offers",
        "a count of offers left out of the number of schedules, not a flexibility",
    ),
}
"""Every measure of :func:`flexibility_summary` (and the per-device time of an aggregation), in words."""


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def aggregation_in_words(report: dict) -> list[tuple[str, str]]:
    """(measure, "before → after (kept %): how to read it") rows for ``Aggregation.report()``, one per
    measure of :data:`MEASURES`, for reports and consoles (no raw keys such as ``assignment_log10``)."""
    rows = []
    before, after, kept = report["before"], report["after"], report["retained"]
    for key, (label, unit, reading) in MEASURES.items():
        if key == "time_per_member":
            b, a = report["time_per_member"]["before"], report["time_per_member"]["after"]
        elif key in before and key in after:
            b, a = before[key], after[key]
        else:
            continue
        u = f" {unit}" if unit and unit != "decades" else ""
        if key == "assignment_log10":
            change = f"10^{b:,.0f} → 10^{a:,.0f} schedules ({a - b:+,.0f} decades)"
        elif key == "assignment_zero_count":
            change = f"{b:,.0f} → {a:,.0f}"
        else:
            share = kept.get(key, float("nan"))
            pct = f"{100 * share:.1f} % kept" if np.isfinite(share) else "nothing to keep"
            change = f"{_num(b)} → {_num(a)}{u} ({pct})"
        rows.append((label, f"{change}: {reading}"))
    return rows
