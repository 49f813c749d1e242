"""Baselines that are stated, not estimated: nominated schedules and fixed references.

* Nominated: the participant's own forecast, sent before the market (the USEF D-prognosis) or
  the default schedule of a flex-offer (what the device does when nobody buys its flexibility).
* Fixed reference: a level agreed in the contract, constant or one profile per wall-clock slot.
"""

from __future__ import annotations

import numpy as np

from gridflex.errors import Problem, TimeGridError, ValidationError
from gridflex.flexoffer.model import FlexOfferBatch
from gridflex.market.baselines.calendar import DayLayout, as_meter_array
from gridflex.timegrid import TimeGrid

__all__ = ["fixed_reference", "nominated", "nominated_from_flexoffers"]


def nominated(prognosis_kw: np.ndarray, grid: TimeGrid) -> np.ndarray:
    """The nominated schedule (D-prognosis) as the baseline: checked for shape and finite values."""
    values = as_meter_array(prognosis_kw, grid.n, "prognosis_kw")
    if not np.isfinite(values).all():
        bad = np.argwhere(~np.isfinite(values))
        problems = [
            Problem(f"meter {i}", f"period {grid.index[t]}", "not a finite number") for i, t in bad[:10]
        ]
        raise ValidationError("nominated baseline", problems)
    return values.copy()


def nominated_from_flexoffers(batch: FlexOfferBatch, grid: TimeGrid) -> np.ndarray:
    """Each flex-offer's default schedule as average power per period (offers × periods, kW).

    Outside its profile an offer's default is 0 kW. The batch interval must equal the grid step.
    Raises :class:`ValidationError` when the batch has no default schedule.
    """
    if batch.default is None:
        raise ValidationError(
            "nominated baseline", [Problem("flexoffers", "default", "the batch has no default schedule")]
        )
    if batch.interval_s != grid.step_s:
        raise TimeGridError(
            f"flex-offer interval {batch.interval_s} s differs from the grid step {grid.step_s} s"
        )
    rel = batch.default.start_s - grid.start_s
    if (rel % grid.step_s).any():
        bad = int(np.flatnonzero(rel % grid.step_s)[0])
        raise TimeGridError(f"offer {batch.ids[bad]!r}: default start is off the {grid.step_s} s grid")
    owner, pos = batch.owner_index, batch.position
    t = (rel // grid.step_s)[owner] + pos
    inside = (t >= 0) & (t < grid.n)  # a default reaching past the grid is cut at its edges
    out = np.zeros(len(batch) * grid.n)
    np.add.at(out, owner[inside] * grid.n + t[inside], batch.default.energy_kwh[inside] / grid.step_h)
    return out.reshape(len(batch), grid.n)


def fixed_reference(reference_kw: np.ndarray | float, layout: DayLayout) -> np.ndarray:
    """A fixed reference on every period: a scalar, one level per meter (meters,), or one daily
    profile per meter (meters × slots per day), read by wall-clock slot (DST days included).
    float32 stays float32, as for meter data."""
    ref = np.asarray(reference_kw)
    ref = ref if ref.dtype == np.float32 else ref.astype(np.float64)
    n, spd = layout.grid.n, layout.slots_per_day
    if ref.ndim == 0:
        return np.full((1, n), float(ref))
    if ref.ndim == 1:
        return np.repeat(ref[:, None], n, axis=1)
    if ref.ndim == 2 and ref.shape[1] == spd:
        return np.take(ref, layout.slot_of_period, axis=1)
    raise ValidationError(
        "fixed reference",
        [
            Problem(
                "reference_kw", "shape", f"expected a scalar, (meters,) or (meters, {spd}); got {ref.shape}"
            )
        ],
    )
