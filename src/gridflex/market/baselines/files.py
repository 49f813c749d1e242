"""Baselines on files: meter CSV in, baseline CSV out, the method in a JSON document.

Meter CSV: a column ``time_utc`` (period starts, ISO 8601 with ``Z`` or an offset, one fixed step)
and one column per meter, average power in kW per period (positive = consumption).

Baseline document (JSON)::

    {"tz": "Europe/Berlin",                      # the site's time zone: local days, like days
     "holidays": ["2016-03-25"],                 # count as weekend days
     "event_days": ["2016-04-12"],               # left out of like-day histories
     "events": [{"start": "2016-04-12T15:00:00Z", "end": "2016-04-12T17:00:00Z",
                 "meters": ["h0-a"]}],           # for MBMA; no "meters" = all meters
     "baseline": {"method": "x_of_y", "x": 4, "y": 5, "variant": "high"}}

``baselines_from_files`` is the function a ``gridflex market baseline`` command calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticError

from gridflex.errors import DataError, Problem, ValidationError
from gridflex.market.baselines.calendar import day_layout
from gridflex.market.baselines.spec import BaselineInputs, BaselineSpec, compute_baseline
from gridflex.timegrid import TimeGrid, to_utc

__all__ = ["BaselineDocument", "MeterData", "baselines_from_files", "read_meter_csv", "write_meter_csv"]


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str
    end: str
    meters: list[str] | None = None


class BaselineDocument(BaseModel):
    """The JSON document of :func:`baselines_from_files`."""

    model_config = ConfigDict(extra="forbid")
    tz: str = "Europe/Berlin"
    holidays: list[date] = []
    event_days: list[date] = []
    events: list[Event] = []
    baseline: BaselineSpec


@dataclass(frozen=True, eq=False)
class MeterData:
    """Meter ids, their grid and values (meters × periods, kW)."""

    meter_ids: list[str]
    grid: TimeGrid
    kw: np.ndarray


def read_meter_csv(path: str | Path | IO[str], name: str | None = None) -> MeterData:
    """Read a meter CSV (see the module docstring), from a file or an open text stream (``name``
    says what it is in messages). Raises :class:`DataError` naming path, line, column."""
    source: Path | IO[str] = Path(path) if isinstance(path, str | Path) else path
    where = name or str(source if isinstance(source, Path) else "meter data")
    try:
        frame = pd.read_csv(source)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read meter file {where}: {exc}") from None
    if "time_utc" not in frame.columns or frame.shape[1] < 2:
        raise DataError(f"{where}, line 1: expected a column 'time_utc' and one column per meter")
    times = pd.to_datetime(frame["time_utc"], utc=True, errors="coerce", format="ISO8601")
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(
            f"{where}, line {row + 2}, column 'time_utc': {frame['time_utc'].iloc[row]!r} is not a time"
        )
    values = frame.drop(columns="time_utc").apply(pd.to_numeric, errors="coerce")
    bad = values.isna().to_numpy() & frame.drop(columns="time_utc").notna().to_numpy()
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(f"{where}, line {row + 2}, column {values.columns[col]!r}: not a number in kW")
    steps = np.diff(times.to_numpy()).astype("m8[s]").astype(np.int64)
    step_s = int(steps[0]) if len(steps) else 900
    off = np.flatnonzero((steps != step_s) | (steps <= 0))
    if len(off):
        row = int(off[0]) + 1
        raise DataError(f"{where}, line {row + 2}, column 'time_utc': periods must follow one fixed step")
    grid = TimeGrid(times.iloc[0], step_s, len(frame))
    return MeterData(meter_ids=[str(c) for c in values.columns], grid=grid, kw=values.to_numpy(float).T)


def write_meter_csv(path: str | Path, meter_ids: list[str], grid: TimeGrid, kw: np.ndarray) -> Path:
    """Write (meters × periods) kW as a meter CSV (NaN as an empty cell); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(np.asarray(kw).T, columns=meter_ids)
    frame.insert(0, "time_utc", grid.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.to_csv(path, index=False, float_format="%.6g")
    return path


def _read_document(path: str | Path | dict) -> BaselineDocument:
    raw: str | dict
    if isinstance(path, dict):
        raw, where = path, "baseline document"
    else:
        where = str(path)
        try:
            raw = Path(path).read_text()
        except OSError as exc:
            raise DataError(f"cannot read baseline document {path}: {exc.strerror or exc}") from None
    try:
        if isinstance(raw, str):
            return BaselineDocument.model_validate_json(raw)
        return BaselineDocument.model_validate(raw)
    except PydanticError as exc:
        problems = [
            Problem("baseline document", ".".join(map(str, e["loc"])) or "(root)", e["msg"])
            for e in exc.errors()
        ]
        raise ValidationError(where, problems) from None


def _event_mask(doc: BaselineDocument, data: MeterData) -> np.ndarray | None:
    if not doc.events:
        return None
    grid, ids = data.grid, {m: i for i, m in enumerate(data.meter_ids)}
    mask = np.zeros((len(ids), grid.n), dtype=bool)
    problems = []
    for k, ev in enumerate(doc.events):
        try:
            lo, hi = (
                int((to_utc(t) - grid.start).total_seconds() // grid.step_s) for t in (ev.start, ev.end)
            )
        except Exception as exc:  # a bad time string: pandas raises several types
            problems.append(Problem(f"events[{k}]", "start/end", str(exc)))
            continue
        unknown = [m for m in ev.meters or [] if m not in ids]
        if unknown:
            problems.append(Problem(f"events[{k}]", "meters", f"unknown meter(s) {unknown}"))
            continue
        rows = [ids[m] for m in ev.meters] if ev.meters else list(ids.values())
        mask[np.ix_(np.asarray(rows, dtype=np.int64), np.arange(max(lo, 0), min(hi, grid.n)))] = True
    if problems:
        raise ValidationError("baseline document", problems)
    return mask


def baselines_from_files(
    metered_csv: str | Path,
    document: str | Path | dict,
    out_csv: str | Path | None = None,
    prognosis_csv: str | Path | None = None,
) -> MeterData:
    """Compute the baseline named in ``document`` for every meter of ``metered_csv``.

    Writes it to ``out_csv`` when given (same layout as the meter CSV; NaN → empty: no baseline).
    ``prognosis_csv`` holds the nominated schedules for ``"method": "nominated"`` (same meters and times).
    """
    doc = _read_document(document)
    data = read_meter_csv(metered_csv)
    layout = day_layout(data.grid, doc.tz, doc.holidays)
    prognosis = None
    if prognosis_csv is not None:
        prog = read_meter_csv(prognosis_csv)
        if prog.meter_ids != data.meter_ids or prog.grid != data.grid:
            raise DataError(f"{prognosis_csv}: meters and times must match {metered_csv}")
        prognosis = prog.kw
    inputs = BaselineInputs(layout, layout.day_mask(doc.event_days), _event_mask(doc, data), prognosis)
    base = compute_baseline(data.kw, doc.baseline, inputs)
    result = MeterData(meter_ids=data.meter_ids, grid=data.grid, kw=base)
    if out_csv is not None:
        write_meter_csv(out_csv, data.meter_ids, data.grid, base)
    return result
