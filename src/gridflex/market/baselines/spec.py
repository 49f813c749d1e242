"""A baseline method named in a document (JSON), and one registry that runs it.

Example (JSON)::

    {"method": "x_of_y", "x": 4, "y": 5, "variant": "high", "rank_window": ["17:00", "20:00"],
     "adjustment": {"kind": "multiplicative", "window": ["13:00", "16:00"], "cap": 0.2}}

Methods: ``nominated`` (needs the prognosis), ``x_of_y``, ``like_days``, ``mbma`` (needs events),
``fixed`` (``reference_kw``). Any history method may carry a same-day ``adjustment``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from gridflex.errors import Problem, ValidationError
from gridflex.market.baselines.adjust import meter_before_meter_after, same_day_adjustment
from gridflex.market.baselines.calendar import DayLayout
from gridflex.market.baselines.history import like_day_average, x_of_y
from gridflex.market.baselines.reference import fixed_reference, nominated

__all__ = ["METHODS", "Adjustment", "BaselineInputs", "BaselineSpec", "compute_baseline"]

Clock = tuple[str, str]


class Adjustment(BaseModel):
    """Same-day adjustment on a local wall-clock window before the event."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["additive", "multiplicative"] = "multiplicative"
    window: Clock
    cap: float | None = Field(0.2, ge=0)


class BaselineSpec(BaseModel):
    """One baseline method and its parameters; fields a method does not use are ignored by it."""

    model_config = ConfigDict(extra="forbid")
    method: Literal["nominated", "x_of_y", "like_days", "mbma", "fixed"]
    x: int = Field(4, ge=1)
    y: int = Field(5, ge=1)
    variant: Literal["high", "mid", "low"] = "high"
    rank_window: Clock | None = None
    days: int = Field(10, ge=1)
    before_periods: int = Field(4, ge=1)
    after_periods: int = Field(0, ge=0)
    reference_kw: float | list[float] | list[list[float]] | None = None
    adjustment: Adjustment | None = None


@dataclass(frozen=True)
class BaselineInputs:
    """What the methods may need besides the metered data."""

    layout: DayLayout
    event_days: np.ndarray  # bool (days,): excluded from like-day histories
    event_mask: np.ndarray | None = None  # bool (n,) or (meters × n): events for MBMA
    prognosis_kw: np.ndarray | None = None  # (meters × n): for ``nominated``


def _need(value: object, spec: BaselineSpec, what: str) -> None:
    if value is None:
        raise ValidationError("baseline", [Problem(spec.method, what, "required by this method")])


def _x_of_y(metered: np.ndarray, spec: BaselineSpec, inp: BaselineInputs) -> np.ndarray:
    rank = None
    if spec.rank_window is not None:  # a slot mask of one day, from the wall-clock window
        lay = inp.layout
        rank = np.zeros(lay.slots_per_day, dtype=bool)
        rank[lay.slot_of_period[lay.slot_mask(spec.rank_window)]] = True
    return x_of_y(metered, inp.layout, spec.x, spec.y, spec.variant, inp.event_days, rank)


def _like_days(metered: np.ndarray, spec: BaselineSpec, inp: BaselineInputs) -> np.ndarray:
    return like_day_average(metered, inp.layout, spec.days, inp.event_days)


def _mbma(metered: np.ndarray, spec: BaselineSpec, inp: BaselineInputs) -> np.ndarray:
    _need(inp.event_mask, spec, "events")
    return meter_before_meter_after(metered, inp.event_mask, spec.before_periods, spec.after_periods)  # type: ignore[arg-type]


def _fixed(metered: np.ndarray, spec: BaselineSpec, inp: BaselineInputs) -> np.ndarray:
    _need(spec.reference_kw, spec, "reference_kw")
    out = fixed_reference(np.asarray(spec.reference_kw), inp.layout)
    return np.broadcast_to(out, metered.shape).copy() if out.shape[0] == 1 else out


def _nominated(metered: np.ndarray, spec: BaselineSpec, inp: BaselineInputs) -> np.ndarray:
    _need(inp.prognosis_kw, spec, "prognosis")
    return nominated(inp.prognosis_kw, inp.layout.grid)  # type: ignore[arg-type]


METHODS: dict[str, Callable[[np.ndarray, BaselineSpec, BaselineInputs], np.ndarray]] = {
    "nominated": _nominated,
    "x_of_y": _x_of_y,
    "like_days": _like_days,
    "mbma": _mbma,
    "fixed": _fixed,
}
"""Method name → function(metered_kw, spec, inputs) → baseline (meters × periods, kW)."""


def compute_baseline(metered_kw: np.ndarray, spec: BaselineSpec, inputs: BaselineInputs) -> np.ndarray:
    """The baseline named by ``spec`` (meters × periods, kW), adjusted the same day when asked."""
    base = METHODS[spec.method](metered_kw, spec, inputs)
    if spec.adjustment is not None:
        a = spec.adjustment
        base = same_day_adjustment(base, metered_kw, inputs.layout, a.window, a.kind, a.cap)
    return base
