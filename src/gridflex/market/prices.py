"""Real hourly day-ahead electricity prices (EUR/MWh) from SMARD, on UTC time grids.

Source: Bundesnetzagentur | SMARD.de (https://www.smard.de), market data download centre.
Licence: CC BY 4.0 — attribute "Bundesnetzagentur | SMARD.de" wherever these figures are shown.
The files for 2015 and 2018 ship with the package in ``gridflex/data/smard/`` with their licence note.

File format: ``;``-separated, UTF-8 with BOM, columns ``Date;Time of day;<zone>[€/MWh];...``,
dates like ``Jan 1, 2018``, 12-hour times like ``12:00 AM``, ``-`` for "no price". Times are local
(Europe/Berlin): the spring DST day lacks 2 AM, the autumn day has 2 AM twice (first CEST, then CET).
They are converted once, here, to a strictly increasing hourly UTC index.

Public API::

    load_smard_prices(year_or_path=2018, zone="France") -> pd.Series   # hourly, UTC index
    zones(year_or_path=2018) -> list[str]
    available_years() -> list[int]                                      # packaged files
    prices_on_grid(grid, zone="France", year_or_path=None) -> np.ndarray
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import numpy as np
import pandas as pd

from gridflex.errors import DataError, TimeGridError
from gridflex.timegrid import TimeGrid, local_to_utc

__all__ = [
    "SMARD_TZ",
    "ZONE_CODES",
    "available_years",
    "load_smard_prices",
    "prices_on_grid",
    "zones",
]

SMARD_TZ = "Europe/Berlin"
"""Time zone of the wall-clock times in SMARD files."""

ZONE_CODES: dict[str, str] = {
    "FR": "France",
    "DE-LU": "Germany/Luxembourg",
    "DE-AT-LU": "Germany/Austria/Luxembourg",
    "BE": "Belgium",
    "NL": "Netherlands",
    "DK1": "Denmark 1",
    "DK2": "Denmark 2",
    "IT-North": "Northern Italy",
    "IT-NORD": "Northern Italy",
    "NORD": "Northern Italy",
    "PL": "Poland",
    "SE4": "Sweden 4",
    "CH": "Switzerland",
    "SI": "Slovenia",
    "CZ": "Czech Republic",
    "HU": "Hungary",
    "AT": "Austria",
    "NO2": "Norway 2",
}
"""Common bidding-zone codes → SMARD column names (matched case-insensitively, ``-``/``_`` ignored)."""

_DATE, _TIME = "Date", "Time of day"
_UNIT = re.compile(r"^(?P<zone>.+?)\s*\[(?:€|EUR)/MWh\]$")
_FILE = re.compile(r"^Day-ahead_prices_(\d{4})\.csv$")
_MONTH_NAMES = "january february march april may june july august september october november december"
_MONTHS = {
    form: i
    for i, name in enumerate(_MONTH_NAMES.split(), start=1)
    for form in (name, name[:3], name[:4])  # "September", "Sep", "Sept"
}
_HOUR = pd.Timedelta(hours=1)
_FIRST_DATA_LINE = 2  # line 1 is the header


# ── locating files ────────────────────────────────────────────────────────────────────────────


def _packaged_dir() -> Traversable:
    return resources.files("gridflex").joinpath("data", "smard")


def available_years() -> list[int]:
    """Years for which a SMARD price file ships with the package."""
    found = (_FILE.match(entry.name) for entry in _packaged_dir().iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def _as_year(year_or_path: int | str | Path) -> int | None:
    if isinstance(year_or_path, bool):
        raise DataError(f"expected a year or a path to a SMARD price file, got {year_or_path!r}")
    if isinstance(year_or_path, int | np.integer):
        return int(year_or_path)
    if isinstance(year_or_path, str) and year_or_path.strip().isdigit():
        return int(year_or_path)
    return None


def _table(year_or_path: int | str | Path) -> tuple[pd.DataFrame, str]:
    """The parsed (cached) price table of a packaged year or a file path, and where it came from."""
    year = _as_year(year_or_path)
    if year is None:
        return _table_at(Path(str(year_or_path))), str(year_or_path)
    resource = _packaged_dir().joinpath(f"Day-ahead_prices_{year}.csv")
    if not resource.is_file():
        raise DataError(
            f"no packaged SMARD price file for {year}; available years: "
            f"{', '.join(map(str, available_years()))} (or pass the path of a SMARD CSV file)"
        )
    with resources.as_file(resource) as path:
        return _table_at(path), f"SMARD {year} ({path})"


def _table_at(path: Path) -> pd.DataFrame:
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read SMARD price file {path}: {exc.strerror or exc}") from None
    return _parse_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=16)
def _parse_cached(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Parsed file; the key holds mtime and size, so an edited file is read again. Do not mutate."""
    return _parse(Path(path))


# ── parsing ───────────────────────────────────────────────────────────────────────────────────


def _read_raw(path: Path) -> pd.DataFrame:
    """All cells as stripped strings, one row per data line (blank lines kept so line numbers hold)."""
    try:
        raw = pd.read_csv(
            path,
            sep=";",
            encoding="utf-8-sig",
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise DataError(f"cannot read SMARD price file {path}: {str(exc).strip()}") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    raw = raw.apply(lambda col: col.str.strip())
    # Drop trailing blank lines only; a blank line inside the data is an error reported by line.
    filled = (raw != "").any(axis=1).to_numpy()
    last = len(filled) - int(np.argmax(filled[::-1])) if filled.any() else 0
    return raw.iloc[:last]


def _zone_columns(raw: pd.DataFrame, path: Path) -> dict[str, str]:
    """Map zone name → raw column name; checks the header (line 1)."""
    for needed in (_DATE, _TIME):
        if needed not in raw.columns:
            raise DataError(f"{path}, line 1: missing column {needed!r} (columns: {', '.join(raw.columns)})")
    out: dict[str, str] = {}
    for col in raw.columns:
        if col in (_DATE, _TIME):
            continue
        m = _UNIT.match(col)
        if not m:
            raise DataError(f"{path}, line 1, column {col!r}: expected '<zone>[€/MWh]'")
        out[m.group("zone")] = col
    if not out:
        raise DataError(f"{path}, line 1: no price column '<zone>[€/MWh]'")
    return out


def _local_times(raw: pd.DataFrame) -> tuple[pd.Series, dict[str, np.ndarray]]:
    """Naive local times (NaT where unreadable) and the masks of unreadable Date/Time cells."""
    d = raw[_DATE].str.extract(r"^([A-Za-z]+)\.? (\d{1,2}), (\d{4})$")
    month = d[0].str.lower().map(_MONTHS)
    date_ok = month.notna() & d[1].notna()
    t = raw[_TIME].str.extract(r"^(\d{1,2}):(\d{2})(?::00)?\s*([AaPp][Mm])?$")
    hour = pd.to_numeric(t[0], errors="coerce")
    ampm = t[2].str.upper()
    twelve = ampm.notna()
    time_ok = hour.notna() & ((twelve & hour.between(1, 12)) | (~twelve & hour.between(0, 23)))
    hour24 = hour.where(~twelve, hour % 12 + np.where(ampm == "PM", 12, 0))
    text = (
        d[2]
        + "-"
        + month.astype("Int64").astype(str).str.zfill(2)
        + "-"
        + d[1].str.zfill(2)
        + " "
        + hour24.astype("Int64").astype(str).str.zfill(2)
        + ":"
        + t[1]
    )
    ok = (date_ok & time_ok).to_numpy()
    local = pd.to_datetime(text.where(ok), format="%Y-%m-%d %H:%M", errors="coerce")
    # A well-formed but impossible date (Feb 30, minute 75) is unreadable too.
    invalid = local.isna().to_numpy() & ok
    minute_bad = (pd.to_numeric(t[1], errors="coerce") > 59).to_numpy()
    bad_date = ~date_ok.to_numpy() | (invalid & ~minute_bad)
    bad_time = ~time_ok.to_numpy() | (invalid & minute_bad)
    return local, {_DATE: bad_date, _TIME: bad_time}


def _numbers(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values (NaN for '-') and the mask of cells that are neither a finite number nor '-'."""
    dash = col.eq("-").to_numpy()
    thousands = col.str.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?", na=False)
    text = col.where(~thousands, col.str.replace(",", "", regex=False))
    values = pd.to_numeric(text.where(~dash), errors="coerce").to_numpy(dtype=float)
    bad = ~dash & ~np.isfinite(values)
    return values, bad


def _raise_first_bad(path: Path, raw: pd.DataFrame, masks: dict[str, np.ndarray], what: dict[str, str]):
    """Raise DataError for the first bad cell in file order (line, then column), if any."""
    names = list(masks)
    grid = np.column_stack([masks[c] for c in names])
    rows = grid.any(axis=1)
    if not rows.any():
        return
    r = int(np.argmax(rows))
    col = names[int(np.argmax(grid[r]))]
    value = raw[col].iloc[r]
    shown = repr(value) if value != "" else "an empty value"
    raise DataError(f"{path}, line {r + _FIRST_DATA_LINE}, column {col!r}: {shown} is not {what[col]}")


def _to_utc(local: pd.Series, raw: pd.DataFrame, path: Path) -> pd.DatetimeIndex:
    """Local wall-clock times → UTC, checking they form one unbroken hourly sequence."""
    idx = pd.DatetimeIndex(local)
    try:
        utc = local_to_utc(idx, SMARD_TZ)
    except TimeGridError:
        r, why = _dst_problem(idx)
        raise DataError(
            f"{path}, line {r + _FIRST_DATA_LINE}, column {_TIME!r}: local time {idx[r]} in {SMARD_TZ} {why}"
        ) from None
    bad = np.flatnonzero(np.asarray(utc[1:] - utc[:-1]) != np.timedelta64(1, "h"))
    if len(bad):
        r = int(bad[0]) + 1
        hours = (utc[r] - utc[r - 1]) / _HOUR
        prev = r - 1 + _FIRST_DATA_LINE
        if hours == 0:
            kind = f"is the same hour as line {prev} (duplicate row)"
        elif hours < 0:
            kind = f"is {-hours:g} h before line {prev} (rows out of order)"
        else:
            kind = f"is {hours:g} h after line {prev} (missing hour)"
        raise DataError(
            f"{path}, line {r + _FIRST_DATA_LINE}, column {_TIME!r}: {raw[_DATE].iloc[r]} "
            f"{raw[_TIME].iloc[r]} {kind}; rows must be consecutive hours"
        )
    return pd.DatetimeIndex(utc, freq="h", name="time_utc")


def _dst_problem(idx: pd.DatetimeIndex) -> tuple[int, str]:
    """Row and reason why local times cannot be placed in SMARD_TZ."""
    summer = np.ones(len(idx), dtype=bool)
    gone = idx.tz_localize(SMARD_TZ, ambiguous=summer, nonexistent="NaT").isna()
    if gone.any():
        return int(np.argmax(gone)), "does not exist (the clocks jump forward over it)"
    unclear = idx.tz_localize(SMARD_TZ, ambiguous="NaT", nonexistent="shift_forward").isna()
    r = int(np.argmax(unclear)) if unclear.any() else 0
    return r, "is repeated on the DST day but does not appear twice in order (first CEST, then CET)"


def _parse(path: Path) -> pd.DataFrame:
    raw = _read_raw(path)
    columns = _zone_columns(raw, path)
    if raw.empty:
        raise DataError(f"{path}: no data rows after the header")
    local, masks = _local_times(raw)
    what = {_DATE: "a date like 'Jan 1, 2018'", _TIME: "a time of day like '12:00 AM'"}
    values: dict[str, np.ndarray] = {}
    for zone, col in columns.items():
        values[zone], masks[col] = _numbers(raw[col])
        what[col] = "a price in EUR/MWh or '-'"
    _raise_first_bad(path, raw, masks, what)
    return pd.DataFrame(values, index=_to_utc(local, raw, path))


# ── zones ─────────────────────────────────────────────────────────────────────────────────────


def _key(name: str) -> str:
    return re.sub(r"[\s/_\-.]", "", name).casefold()


_CODE_TO_ZONE = {_key(code): zone for code, zone in ZONE_CODES.items()}


def _resolve_zone(zone: str, available: list[str], source: str) -> str:
    """The column name for ``zone``: an exact name (any case) or a common bidding-zone code."""
    by_key = {_key(name): name for name in available}
    key = _key(str(zone))
    name = by_key.get(key) or by_key.get(_key(_CODE_TO_ZONE.get(key, "")))
    if name is None:
        codes = {z: c for c, z in reversed(ZONE_CODES.items())}  # first code listed wins
        listed = ", ".join(f"{z} ({codes[z]})" if z in codes else z for z in available)
        raise DataError(f"unknown zone {zone!r} in {source}; available zones: {listed}")
    return name


def zones(year_or_path: int | str | Path = 2018) -> list[str]:
    """Zone names (column names without the unit) of a packaged year or a SMARD price file."""
    frame, _ = _table(year_or_path)
    return list(frame.columns)


# ── public API ────────────────────────────────────────────────────────────────────────────────


def load_smard_prices(year_or_path: int | str | Path = 2018, zone: str = "France") -> pd.Series:
    """Hourly day-ahead prices in EUR/MWh of one zone, indexed by period start in UTC.

    ``year_or_path`` is a packaged year (an int or a digit string; see :func:`available_years`)
    or the path of a SMARD CSV file in the same format. ``zone`` is a column name without its unit
    (any case) or a code such as ``FR``, ``DE-LU``, ``NORD``. Hours without a price (``-`` in the
    file) are NaN. The index is strictly increasing, hourly and gap-free in UTC (8760 rows a year).

    Raises :class:`DataError` for an unknown zone (listing the available ones) or a file that cannot
    be read (naming the path, the line and the column of the first bad value).
    Attribution when shown: "Bundesnetzagentur | SMARD.de" (CC BY 4.0).
    """
    frame, source = _table(year_or_path)
    name = _resolve_zone(zone, list(frame.columns), source)
    return frame[name].copy().rename(f"{name} [EUR/MWh]")


def _grid_years(grid: TimeGrid) -> range:
    """Local (SMARD) calendar years touched by the periods of ``grid``."""
    first = grid.start.tz_convert(SMARD_TZ).year
    last = (grid.end - pd.Timedelta(1, "ns")).tz_convert(SMARD_TZ).year
    return range(first, last + 1)


def prices_on_grid(
    grid: TimeGrid, zone: str = "France", year_or_path: int | str | Path | None = None
) -> np.ndarray:
    """Day-ahead price in EUR/MWh for each period of ``grid`` (hourly prices repeated, e.g. 4× on 15 min).

    Without ``year_or_path`` the packaged files of the local years the grid touches are used.
    Raises :class:`TimeGridError` naming the zone and the first period without a price (a year that
    is not packaged, or hours where the zone had none), :class:`DataError` for an unknown zone.
    """
    if year_or_path is not None:
        series = load_smard_prices(year_or_path, zone)
        missing_years: list[int] = []
    else:
        have = available_years()
        years = list(_grid_years(grid)) if grid.n else []
        missing_years = [y for y in years if y not in have]
        parts = [load_smard_prices(y, zone) for y in years if y in have]
        if parts:
            series = pd.concat(parts) if len(parts) > 1 else parts[0]
        else:  # still check the zone name, against the newest packaged file
            name = _resolve_zone(zone, zones(have[-1]), f"SMARD {have[-1]}")
            empty = pd.DatetimeIndex([], tz="UTC", name="time_utc")
            series = pd.Series([], index=empty, dtype=float, name=f"{name} [EUR/MWh]")
    label = str(series.name).removesuffix(" [EUR/MWh]")
    try:
        return grid.align(series, name=f"SMARD day-ahead price of {label}")
    except TimeGridError as exc:
        if missing_years:
            hint = (
                f"no SMARD price file for {', '.join(map(str, missing_years))} "
                f"(packaged: {', '.join(map(str, available_years()))}; pass year_or_path=<file>)"
            )
        else:
            hint = "'-' in the SMARD file: the zone had no day-ahead price for those hours"
        raise TimeGridError(f"{exc} ({hint})") from None
