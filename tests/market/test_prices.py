"""SMARD day-ahead prices: real figures, DST days in local time, zone lookup, bad files, grids.

Expected values come from the file text itself (read here line by line, independently of the loader)
and from the README of the data (Bundesnetzagentur | SMARD.de, CC BY 4.0).
"""

from __future__ import annotations

import os
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridflex.errors import DataError, TimeGridError
from gridflex.market.prices import (
    ZONE_CODES,
    available_years,
    load_smard_prices,
    prices_on_grid,
    zones,
)
from gridflex.timegrid import TimeGrid, local_day_grid

HOUR = pd.Timedelta(hours=1)


def packaged_file(year: int) -> Path:
    return Path(str(resources.files("gridflex") / "data" / "smard" / f"Day-ahead_prices_{year}.csv"))


def file_lines(year: int) -> list[str]:
    return packaged_file(year).read_text(encoding="utf-8-sig").splitlines()


def raw_prices(year: int, day: str, time: str, zone: str = "France") -> list[float]:
    """Prices of every row with this local date and time, in file order, read from the text."""
    lines = file_lines(year)
    col = lines[0].split(";").index(f"{zone}[€/MWh]")
    rows = [line.split(";") for line in lines[1:] if line.startswith(f"{day};{time};")]
    return [float(r[col]) for r in rows]


@pytest.fixture(scope="module")
def fr2018() -> pd.Series:
    return load_smard_prices(2018, "France")


# ── the real figures ──────────────────────────────────────────────────────────────────────────


def test_france_2018_matches_the_readme(fr2018):
    assert fr2018.min() == pytest.approx(-31.82)
    assert fr2018.max() == pytest.approx(259.95)
    assert round(fr2018.mean(), 1) == 50.2
    assert int((fr2018 < 0).sum()) == 11
    assert fr2018.notna().all()
    assert "France" in str(fr2018.name)
    assert "EUR/MWh" in str(fr2018.name)


def test_default_arguments_are_france_2018(fr2018):
    pd.testing.assert_series_equal(load_smard_prices(), fr2018)


@pytest.mark.parametrize("year", [2015, 2018])
def test_every_year_is_8760_consecutive_utc_hours(year):
    s = load_smard_prices(year, "France")
    assert len(s) == 8760
    assert str(s.index.tz) == "UTC"
    steps = s.index[1:] - s.index[:-1]
    assert (steps == HOUR).all()
    # Local (CET) midnight of Jan 1 is 23:00 UTC of Dec 31.
    assert s.index[0] == pd.Timestamp(f"{year - 1}-12-31T23:00Z")
    assert s.index[-1] == pd.Timestamp(f"{year}-12-31T22:00Z")


def test_packaged_years_and_zones():
    assert {2015, 2018} <= set(available_years())
    names = zones(2018)
    assert len(names) == 16
    assert {"France", "Germany/Luxembourg", "Northern Italy", "Norway 2"} <= set(names)
    assert zones() == names
    assert zones(packaged_file(2015)) == zones(2015)


# ── DST days: local wall clock in the file, clean hourly UTC out ──────────────────────────────


@pytest.mark.parametrize(
    ("year", "day", "file_day"), [(2018, "2018-03-25", "Mar 25, 2018"), (2015, "2015-03-29", "Mar 29, 2015")]
)
def test_spring_dst_day_has_23_hours_and_no_utc_gap(year, day, file_day):
    s = load_smard_prices(year, "France")
    local = s.tz_convert("Europe/Berlin")
    assert (local.index.date == date.fromisoformat(day)).sum() == 23
    # Local 1 AM (CET) is 00:00Z, local 3 AM (CEST) is 01:00Z: adjacent, no gap, no 2 AM.
    z0 = pd.Timestamp(f"{day}T00:00Z")
    assert s.index.get_loc(z0 + HOUR) == s.index.get_loc(z0) + 1
    assert raw_prices(year, file_day, "2:00 AM") == []
    assert s[z0] == raw_prices(year, file_day, "1:00 AM")[0]
    assert s[z0 + HOUR] == raw_prices(year, file_day, "3:00 AM")[0]


@pytest.mark.parametrize(
    ("year", "day", "file_day"), [(2018, "2018-10-28", "Oct 28, 2018"), (2015, "2015-10-25", "Oct 25, 2015")]
)
def test_autumn_dst_day_has_25_hours_in_file_order(year, day, file_day):
    s = load_smard_prices(year, "France")
    local = s.tz_convert("Europe/Berlin")
    assert (local.index.date == date.fromisoformat(day)).sum() == 25
    first, second = raw_prices(year, file_day, "2:00 AM")  # CEST, then CET
    assert first != second  # the test could not tell the order apart otherwise
    assert s[pd.Timestamp(f"{day}T00:00Z")] == first
    assert s[pd.Timestamp(f"{day}T01:00Z")] == second
    assert s[pd.Timestamp(f"{day}T02:00Z")] == raw_prices(year, file_day, "3:00 AM")[0]


# ── zones ─────────────────────────────────────────────────────────────────────────────────────


def test_germany_luxembourg_starts_on_2018_10_01():
    s = load_smard_prices(2018, "Germany/Luxembourg")
    start = pd.Timestamp("2018-09-30T22:00Z")  # local midnight of Oct 1 (CEST)
    assert s[s.index < start].isna().all()
    assert s.first_valid_index() == start
    assert (
        s[pd.Timestamp("2018-10-01T04:00Z")]
        == raw_prices(2018, "Oct 1, 2018", "6:00 AM", "Germany/Luxembourg")[0]
    )


def test_prices_on_grid_names_zone_and_first_period_without_price():
    with pytest.raises(TimeGridError) as err:
        prices_on_grid(local_day_grid("2018-09-30", tz="Europe/Berlin"), "DE-LU")
    message = str(err.value)
    assert "Germany/Luxembourg" in message
    assert "2018-09-29 22:00:00+00:00" in message
    # From its first day on the zone has prices.
    assert np.isfinite(prices_on_grid(local_day_grid("2018-10-01", tz="Europe/Berlin"), "DE-LU")).all()


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("FR", "France"),
        ("fr", "France"),
        ("FRANCE", "France"),
        ("DE-LU", "Germany/Luxembourg"),
        ("de_lu", "Germany/Luxembourg"),
        ("DE-AT-LU", "Germany/Austria/Luxembourg"),
        ("IT-North", "Northern Italy"),
        ("NORD", "Northern Italy"),
        ("IT-NORD", "Northern Italy"),
        ("DK1", "Denmark 1"),
        ("dk2", "Denmark 2"),
        ("SE4", "Sweden 4"),
        ("NO2", "Norway 2"),
        ("czech republic", "Czech Republic"),
    ],
)
def test_zone_codes_and_names(code, name):
    by_code = load_smard_prices(2018, code)
    by_name = load_smard_prices(2018, name)
    pd.testing.assert_series_equal(by_code, by_name)
    assert name in str(by_code.name)


def test_every_listed_code_names_a_zone_of_the_files():
    for year in (2015, 2018):
        assert set(ZONE_CODES.values()) <= set(zones(year))
        for code in ZONE_CODES:
            assert len(load_smard_prices(year, code)) == 8760


def test_unknown_zone_lists_the_available_zones():
    with pytest.raises(DataError) as err:
        load_smard_prices(2018, "Atlantis")
    message = str(err.value)
    assert "Atlantis" in message
    for name in zones(2018):
        assert name in message
    with pytest.raises(DataError, match="Atlantis"):
        prices_on_grid(local_day_grid("2018-06-01"), "Atlantis")


def test_year_not_packaged_is_a_data_error():
    with pytest.raises(DataError, match="2015, 2018"):
        load_smard_prices(2019)


# ── files in the SMARD format, good and bad ───────────────────────────────────────────────────

HEADER, *ROWS = file_lines(2018)
COLS = HEADER.split(";")
FR = COLS.index("France[€/MWh]")
N_ROWS = 48  # Jan 1-2, 2018


def write(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "prices.csv") -> Path:
    path = tmp_path / name
    path.write_text("\ufeff" + "\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def with_cell(row: str, col: int, value: str) -> str:
    cells = row.split(";")
    cells[col] = value
    return ";".join(cells)


def test_a_file_path_in_the_format_loads(tmp_path):
    path = write(tmp_path, ROWS[:N_ROWS])
    s = load_smard_prices(path, "FR")
    assert len(s) == N_ROWS
    assert s.iloc[0] == float(ROWS[0].split(";")[FR])
    pd.testing.assert_series_equal(s, load_smard_prices(2018, "FR").iloc[:N_ROWS], check_freq=False)
    assert load_smard_prices(str(path), "FR").equals(s)
    assert zones(path) == zones(2018)


def test_thousands_separator_is_read(tmp_path):
    rows = ROWS[:N_ROWS]
    rows[3] = with_cell(rows[3], FR, "1,234.5")
    assert load_smard_prices(write(tmp_path, rows), "FR").iloc[3] == 1234.5


def idx_of(prefix: str) -> int:
    return next(k for k, line in enumerate(ROWS) if line.startswith(prefix))


def bad_number(rows):
    rows[5] = with_cell(rows[5], FR, "12.3x")
    return rows, 7, "France"


def decimal_comma(rows):
    rows[6] = with_cell(rows[6], FR, "6,74")
    return rows, 8, "France"


def empty_price(rows):
    rows[9] = with_cell(rows[9], FR, "")
    return rows, 11, "France"


def bad_date(rows):
    rows[30] = rows[30].replace("Jan 2, 2018", "Jan 32, 2018")
    return rows, 32, "Date"


def iso_date(rows):
    rows[2] = rows[2].replace("Jan 1, 2018", "2018-01-01")
    return rows, 4, "Date"


def bad_time(rows):
    rows[13] = rows[13].replace("1:00 PM", "13:00 PM")
    return rows, 15, "Time of day"


def duplicate_hour(rows):
    rows[11] = rows[10]
    return rows, 13, "Time of day"


def missing_hour(rows):
    del rows[20]
    return rows, 22, "Time of day"


def blank_line(rows):
    rows.insert(4, "")
    return rows, 6, "Date"


BAD_CELLS = [
    bad_number,
    decimal_comma,
    empty_price,
    bad_date,
    iso_date,
    bad_time,
    duplicate_hour,
    missing_hour,
    blank_line,
]


@pytest.mark.parametrize("spoil", BAD_CELLS, ids=[f.__name__ for f in BAD_CELLS])
def test_bad_value_names_path_line_and_column(tmp_path, spoil):
    rows, line, column = spoil(list(ROWS[:N_ROWS]))
    path = write(tmp_path, rows)
    with pytest.raises(DataError) as err:
        load_smard_prices(path, "France")
    message = str(err.value)
    assert str(path) in message
    assert f"line {line}," in message
    assert column in message


def test_only_the_first_bad_value_is_named(tmp_path):
    rows = list(ROWS[:N_ROWS])
    rows[20] = with_cell(rows[20], FR, "??")
    rows[10] = with_cell(rows[10], FR + 1, "!!")
    with pytest.raises(DataError, match="line 12,"):
        load_smard_prices(write(tmp_path, rows), "France")


def test_missing_column_names_path_and_header_line(tmp_path):
    drop = COLS.index("Time of day")
    header = ";".join(c for k, c in enumerate(COLS) if k != drop)
    rows = [";".join(c for k, c in enumerate(r.split(";")) if k != drop) for r in ROWS[:N_ROWS]]
    path = write(tmp_path, rows, header)
    with pytest.raises(DataError) as err:
        load_smard_prices(path)
    assert str(path) in str(err.value)
    assert "line 1" in str(err.value)
    assert "Time of day" in str(err.value)


def test_extra_field_names_the_line(tmp_path):
    rows = list(ROWS[:N_ROWS])
    rows[7] += ";1.0"
    path = write(tmp_path, rows)
    with pytest.raises(DataError) as err:
        load_smard_prices(path)
    assert str(path) in str(err.value)
    assert "line 9" in str(err.value)


def test_spring_2am_that_does_not_exist_is_refused(tmp_path):
    k = idx_of("Mar 25, 2018;1:00 AM")
    rows = ROWS[k - 2 : k + 3]
    rows.insert(3, rows[2].replace("1:00 AM", "2:00 AM"))
    with pytest.raises(DataError, match=r"line 5,.*Time of day"):
        load_smard_prices(write(tmp_path, rows))


def test_autumn_2am_must_appear_twice(tmp_path):
    k = idx_of("Oct 28, 2018;2:00 AM")
    rows = ROWS[k - 2 : k + 4]
    assert len(load_smard_prices(write(tmp_path, rows, name="ok.csv"))) == 6
    del rows[3]  # keep only the first (CEST) 2 AM
    with pytest.raises(DataError, match=r"line 4,.*Time of day"):
        load_smard_prices(write(tmp_path, rows))


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (HEADER.encode() + b"\n", "no data"), (b"\xff\xfe\x00garbage", "UTF-8")],
)
def test_unreadable_files(tmp_path, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        load_smard_prices(path)
    assert str(path) in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv"):
        load_smard_prices(tmp_path / "nope.csv")


def test_cached_file_is_read_again_when_it_changes(tmp_path):
    path = write(tmp_path, ROWS[:N_ROWS])
    first = load_smard_prices(path, "FR")
    first.iloc[0] = -999.0  # callers get their own copy
    assert load_smard_prices(path, "FR").iloc[0] == float(ROWS[0].split(";")[FR])
    rows = list(ROWS[:N_ROWS])
    rows[0] = with_cell(rows[0], FR, "99.5")
    write(tmp_path, rows)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_smard_prices(path, "FR").iloc[0] == 99.5


# ── prices on time grids ──────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("day", ["2018-06-01", "2018-03-25", "2018-10-28", "2015-10-25"])
def test_quarter_hour_grid_repeats_each_hourly_price_four_times(day):
    grid = local_day_grid(day)
    hourly = load_smard_prices(int(day[:4]), "France")
    hourly = hourly[(hourly.index >= grid.start) & (hourly.index < grid.end)]
    got = prices_on_grid(grid, "France")
    assert got.shape == (grid.n,)
    np.testing.assert_array_equal(got, np.repeat(hourly.to_numpy(), 4))


def test_prices_on_grid_with_explicit_year_or_path(tmp_path):
    grid = TimeGrid("2018-01-01T00:00Z", 3600, 5)
    expected = load_smard_prices(2018, "NL").iloc[1:6].to_numpy()
    np.testing.assert_array_equal(prices_on_grid(grid, "NL", 2018), expected)
    path = write(tmp_path, ROWS[:N_ROWS])
    np.testing.assert_array_equal(prices_on_grid(grid, "NL", path), expected)


def test_grid_into_a_year_not_packaged_names_zone_and_first_missing_period():
    grid = local_day_grid("2018-12-31", hours=48)
    with pytest.raises(TimeGridError) as err:
        prices_on_grid(grid, "France")
    message = str(err.value)
    assert "France" in message
    assert "2018-12-31 23:00:00+00:00" in message
    assert "2019" in message


def test_grid_spanning_two_packaged_years_is_not_possible_but_each_year_is():
    np.testing.assert_array_equal(
        prices_on_grid(local_day_grid("2015-12-31")), np.repeat(load_smard_prices(2015).iloc[-24:], 4)
    )
    assert prices_on_grid(TimeGrid("2018-01-01T00:00Z", 900, 0)).shape == (0,)


# ── local day grids ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("day", "n"),
    [("2018-03-25", 92), ("2018-10-28", 100), ("2018-06-01", 96), ("2015-03-29", 92), ("2015-10-25", 100)],
)
def test_local_day_grid_has_the_length_of_the_local_day(day, n):
    grid = local_day_grid(day)
    assert grid.n == n
    assert grid.step_s == 900
    assert grid.start == pd.Timestamp(day).tz_localize("Europe/Paris")
    assert grid.end == (pd.Timestamp(day) + pd.Timedelta(days=1)).tz_localize("Europe/Paris")


def test_local_day_grid_options():
    assert local_day_grid(date(2018, 3, 25), step_s=3600).n == 23
    assert local_day_grid("2018-03-25", hours=24).n == 96
    assert local_day_grid("2018-01-01", tz="UTC").start == pd.Timestamp("2018-01-01T00:00Z")
    helsinki = local_day_grid("2018-01-01", tz="Europe/Helsinki")
    assert helsinki.start == pd.Timestamp("2017-12-31T22:00Z")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"day": "2018-03-25 13:00"},
        {"day": "not a day"},
        {"day": "2018-03-25", "tz": "Mars/Olympus"},
        {"day": "2018-03-25", "step_s": 7 * 60},
        {"day": "2018-03-25", "hours": -1},
    ],
)
def test_local_day_grid_refuses_bad_input(kwargs):
    with pytest.raises(TimeGridError):
        local_day_grid(**kwargs)
