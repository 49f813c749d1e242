"""Dense time series, downsampled on the server: a chart asks for as many points as it has pixels.

The series are the real year (2016, 35,136 quarter-hours, SimBench, ODbL) of a shipped distribution
grid (:mod:`gridflex.grid.distribution.gridfile`): per profile, the power of every element that
follows it, in kW (positive = consumption, so PV is negative). ``min-max`` downsampling keeps, for each
of ``points`` buckets, the smallest and the largest value in the order they occur: every peak and
trough survives, which is what a DSO looks for in a load curve (an average would flatten them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from gridflex.api.deps import Caller
from gridflex.errors import Problem, ValidationError
from gridflex.grid.distribution.gridfile import SHIPPED, load_grid

__all__ = ["GridSeries", "SeriesInfo", "SeriesValues", "minmax_downsample", "router"]

router = APIRouter(prefix="/v1/series", tags=["series"])

MAX_POINTS = 10_000


def minmax_downsample(t_s: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """``t_s`` (n,) increasing times, ``y`` (n, m) values → at most ``2 * buckets`` points per series.

    Each bucket of ``ceil(n / buckets)`` consecutive samples gives two points, at its first and its
    middle sample time: its minimum and maximum per series, in the order they occur (NaN-free input).
    With ``n <= 2 * buckets`` the samples are returned as they are.
    """
    n = len(t_s)
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    if n <= 2 * buckets:
        return t_s.copy(), y.copy()
    size = -(-n // buckets)
    nb = -(-n // size)
    pad = nb * size - n
    # pad with the last sample: it changes neither the min nor the max of the last bucket
    yy = np.concatenate([y, np.repeat(y[-1:], pad, axis=0)]).reshape(nb, size, -1)
    lo_i, hi_i = yy.argmin(axis=1), yy.argmax(axis=1)  # (nb, m)
    lo = np.take_along_axis(yy, lo_i[:, None, :], axis=1)[:, 0, :]
    hi = np.take_along_axis(yy, hi_i[:, None, :], axis=1)[:, 0, :]
    first = np.where(lo_i <= hi_i, lo, hi)
    second = np.where(lo_i <= hi_i, hi, lo)
    out = np.empty((2 * nb, y.shape[1]))
    out[0::2], out[1::2] = first, second
    starts = np.arange(nb) * size
    mids = np.minimum(starts + np.maximum(size // 2, 1), n - 1)
    t = np.empty(2 * nb, dtype=t_s.dtype)
    t[0::2], t[1::2] = t_s[starts], t_s[mids]
    if t[-1] == t[-2]:  # a last bucket of one sample: keep one point
        t, out = t[:-1], out[:-1]
    return t, out


class GridSeries:
    """A shipped grid's profiles as kW per profile over its year (house sign)."""

    def __init__(self, network: str) -> None:
        case = load_grid(network)
        net, prof = case.network, case.profiles
        names, cols, scale = [], [], []
        for j, col in enumerate(prof.names):
            quantity, profile = col.split(":", 1)
            kind = {"load_p": "load", "sgen": "sgen", "storage": "storage"}.get(quantity)
            if kind is None:  # reactive power: not a kW series
                continue
            table = net.tables[kind]
            p_kw = float(table.p_mw[table.profile == profile].sum()) * 1000
            if p_kw == 0:
                continue
            names.append(f"{kind} {profile}")
            cols.append(j)
            scale.append(p_kw * (-1.0 if kind == "sgen" else 1.0))
        self.network = network
        self.names = names
        self.values_kw = prof.values[:, cols] * np.array(scale)
        start = prof.start.replace(tzinfo=UTC)
        self.start = start
        self.step_s = prof.step_min * 60
        self.t_s = int(start.timestamp()) + self.step_s * np.arange(prof.periods, dtype=np.int64)


@lru_cache(maxsize=4)
def grid_series(network: str) -> GridSeries:
    return GridSeries(network)


class SeriesInfo(BaseModel):
    network: str
    start: datetime
    end: datetime
    step_s: int
    unit: str = "kW"
    sign: str = "positive = consumption, negative = production"
    names: list[str]
    attribution: str = "SimBench (https://simbench.de), ODbL v1.0"


class SeriesValues(BaseModel):
    network: str
    unit: str = "kW"
    method: str = Field(description="min-max: each bucket's extremes, in time order; raw: no downsampling.")
    n_samples: int = Field(description="Samples in the range before downsampling.")
    t_s: list[int] = Field(description="UNIX seconds (UTC).")
    names: list[str]
    values_kw: list[list[float]] = Field(description="One list per name, aligned with t_s.")


def _grid(network: str) -> GridSeries:
    if network not in SHIPPED:
        raise ValidationError(
            "series", [Problem("series", "network", f"unknown grid {network!r}: one of {', '.join(SHIPPED)}")]
        )
    return grid_series(network)


@router.get("/grids/{network}", response_model=SeriesInfo)
def series_info(network: str, _p: Caller) -> SeriesInfo:
    g = _grid(network)
    end = g.start + timedelta(seconds=g.step_s * len(g.t_s))
    return SeriesInfo(network=network, start=g.start, end=end, step_s=g.step_s, names=g.names)


@router.get("/grids/{network}/values", response_model=SeriesValues)
def series_values(
    network: str,
    _p: Caller,
    names: Annotated[list[str] | None, Query(max_length=50, description="Default: the first 10.")] = None,
    start: Annotated[AwareDatetime | None, Query()] = None,
    end: Annotated[AwareDatetime | None, Query()] = None,
    points: Annotated[
        int, Query(ge=2, le=MAX_POINTS, description="Buckets: about the chart's width in px.")
    ] = 1000,
) -> SeriesValues:
    g = _grid(network)
    chosen = names or g.names[:10]
    unknown = [n for n in chosen if n not in g.names]
    if unknown:
        raise ValidationError(
            "series", [Problem("series", "names", f"unknown series {', '.join(map(repr, unknown))}")]
        )
    i0 = 0 if start is None else int(np.searchsorted(g.t_s, start.timestamp(), side="left"))
    i1 = len(g.t_s) if end is None else int(np.searchsorted(g.t_s, end.timestamp(), side="right"))
    if i1 - i0 < 1:
        raise ValidationError("series", [Problem("series", "end", "the range holds no sample")])
    cols = [g.names.index(n) for n in chosen]
    t, y = minmax_downsample(g.t_s[i0:i1], g.values_kw[i0:i1, cols], points // 2)
    return SeriesValues(
        network=network, method="min-max" if len(t) < i1 - i0 else "raw", n_samples=i1 - i0,
        t_s=t.tolist(), names=chosen, values_kw=np.round(y.T, 3).tolist(),
    )  # fmt: skip
