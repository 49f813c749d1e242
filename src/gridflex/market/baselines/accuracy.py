"""How well a baseline predicts load on held-out days, where nothing was activated.

Figures over the evaluated periods (those of the held-out days, within the event window if given):

* ``bias_kw``: mean of baseline − metered; ``bias_pct``: its sum over the sum of |metered|
  (positive = the baseline over-estimates, which would pay for flexibility never delivered);
* ``mape_pct``: mean of |baseline − metered| / |metered| over periods with |metered| above
  ``zero_kw``. Periods at or below it are left out of the MAPE, where one near-zero load would
  dominate the mean, and counted in ``zero_periods``; ``nmae_pct`` (sum |error| / sum |metered|)
  includes them and stays defined when the load is zero;
* ``rmse_kw``; ``missing_periods``: periods without a baseline (NaN: too little history), left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date

import numpy as np

from gridflex.market.baselines.calendar import DayLayout, as_meter_array
from gridflex.market.baselines.spec import BaselineInputs, BaselineSpec, compute_baseline

__all__ = ["AccuracyReport", "accuracy", "held_out_accuracy"]


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy of one baseline on held-out periods; see the module docstring."""

    method: str
    meters: int
    periods: int  # evaluated (meter, period) cells, baseline defined
    bias_kw: float
    bias_pct: float
    mape_pct: float
    nmae_pct: float
    rmse_kw: float
    zero_periods: int
    missing_periods: int

    def to_dict(self) -> dict:
        return asdict(self)


def _pct(num: float, den: float) -> float:
    return float(100.0 * num / den) if den > 0 else float("nan")


def accuracy(
    baseline_kw: np.ndarray,
    metered_kw: np.ndarray,
    evaluate: np.ndarray | None = None,
    method: str = "",
    zero_kw: float = 1e-3,
) -> AccuracyReport:
    """Accuracy of ``baseline_kw`` against ``metered_kw`` (meters × periods) on the ``evaluate`` mask."""
    meas = as_meter_array(metered_kw, np.shape(metered_kw)[-1], "metered_kw")
    base = as_meter_array(baseline_kw, meas.shape[1], "baseline_kw", meters=meas.shape[0])
    cells = np.ones(meas.shape, dtype=bool) if evaluate is None else np.broadcast_to(evaluate, meas.shape)
    defined = cells & np.isfinite(base) & np.isfinite(meas)
    err = (base - meas)[defined].astype(np.float64)
    actual = meas[defined].astype(np.float64)
    nonzero = np.abs(actual) > zero_kw
    abs_sum = float(np.abs(actual).sum())
    return AccuracyReport(
        method=method,
        meters=int(meas.shape[0]),
        periods=int(defined.sum()),
        bias_kw=float(err.mean()) if err.size else float("nan"),
        bias_pct=_pct(float(err.sum()), abs_sum),
        mape_pct=float(100.0 * np.mean(np.abs(err[nonzero]) / np.abs(actual[nonzero])))
        if nonzero.any()
        else float("nan"),
        nmae_pct=_pct(float(np.abs(err).sum()), abs_sum),
        rmse_kw=float(np.sqrt(np.mean(err**2))) if err.size else float("nan"),
        zero_periods=int((~nonzero).sum()),
        missing_periods=int((cells & ~defined).sum()),
    )


def held_out_accuracy(
    metered_kw: np.ndarray,
    layout: DayLayout,
    specs: Mapping[str, BaselineSpec],
    held_out_days: Iterable[str | date],
    event_window: tuple[str, str] | None = None,
    zero_kw: float = 1e-3,
) -> list[AccuracyReport]:
    """Each baseline method's accuracy on days where nothing was activated, as if there had been.

    The held-out days play the event days: they are excluded from like-day histories, and MBMA
    sees an event in ``event_window`` on each of them. Figures cover the held-out days, within
    ``event_window`` when given (where a baseline is used), else whole days.
    """
    held = layout.day_mask(held_out_days)
    on_days = held[layout.day_of_period]
    window = layout.slot_mask(event_window) if event_window else np.ones(layout.grid.n, dtype=bool)
    evaluate = on_days & window
    inputs = BaselineInputs(layout, held, event_mask=evaluate)
    reports = []
    for name, spec in specs.items():
        base = compute_baseline(metered_kw, spec, inputs)
        reports.append(accuracy(base, metered_kw, evaluate[None, :], method=name, zero_kw=zero_kw))
    return reports
