"""Baselines: what a meter would have shown without activation, as functions over arrays.

Arrays are meters × periods of average power in kW (positive = consumption), on a
:class:`~gridflex.timegrid.TimeGrid` of whole local days; :func:`day_layout` places the periods in
the site's local days (DST-aware). Methods: nominated (D-prognosis, flex-offer default schedule),
X-of-Y, rolling average of like days, same-day adjustment, meter-before-meter-after, fixed
reference; :func:`held_out_accuracy` reports how each does on days without activation.
See ``docs/market-baselines-settlement.md``.
"""

from gridflex.market.baselines.accuracy import AccuracyReport, accuracy, held_out_accuracy
from gridflex.market.baselines.adjust import meter_before_meter_after, same_day_adjustment
from gridflex.market.baselines.calendar import WEEKDAY, WEEKEND, DayLayout, day_layout
from gridflex.market.baselines.files import (
    BaselineDocument,
    MeterData,
    baselines_from_files,
    read_meter_csv,
    write_meter_csv,
)
from gridflex.market.baselines.history import like_day_average, like_day_candidates, x_of_y
from gridflex.market.baselines.reference import fixed_reference, nominated, nominated_from_flexoffers
from gridflex.market.baselines.spec import METHODS, Adjustment, BaselineInputs, BaselineSpec, compute_baseline

__all__ = [
    "METHODS",
    "WEEKDAY",
    "WEEKEND",
    "AccuracyReport",
    "Adjustment",
    "BaselineDocument",
    "BaselineInputs",
    "BaselineSpec",
    "DayLayout",
    "MeterData",
    "accuracy",
    "baselines_from_files",
    "compute_baseline",
    "day_layout",
    "fixed_reference",
    "held_out_accuracy",
    "like_day_average",
    "like_day_candidates",
    "meter_before_meter_after",
    "nominated",
    "nominated_from_flexoffers",
    "read_meter_csv",
    "same_day_adjustment",
    "write_meter_csv",
    "x_of_y",
]
