"""The site report: the data its charts and tables show, not only that it is written.

One convention checked throughout: costs positive and revenues negative in table and chart alike,
kW with + = consumption, CO2 on its own axis, every time in the site's local zone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridflex.reports.site import site_report_sections, write_site_report
from gridflex.scheduling import compare_strategies, compile_site, parse_site, schedule_site
from tests.scheduling.test_services import RESERVES, _site


@pytest.fixture(scope="module")
def office():
    data = _site(RESERVES)
    data["prices"]["co2_kg_per_mwh"] = [300.0] * 12 + [100.0] * 12
    data["assets"] += [
        {"kind": "heat_pump", "name": "hp", "electric_power_kw": 5, "cop": 3.0},
        {"kind": "thermal_storage", "name": "tank", "capacity_kwh": 20, "charge_power_kw": 10},
        {"kind": "load", "name": "heat", "carrier": "heat", "profile_kw": 6.0},
    ]
    compiled = compile_site(parse_site(data))
    result = schedule_site(compiled)
    sections = {s.title.split(" (")[0]: s for s in site_report_sections(result, compiled.prices)}
    return compiled, result, sections


def test_co2_intensity_has_its_own_axis_and_unit(office) -> None:
    compiled, _, sections = office
    fig = sections["Prices"].figure
    on_right = [t for t in fig.data if t.yaxis == "y2"]
    assert [t.name for t in on_right] == ["CO2 intensity of imports"]
    assert list(on_right[0].y) == pytest.approx(compiled.prices["co2_kg_per_mwh"])
    assert (
        fig.layout.yaxis.title.text == "EUR/MWh" and fig.layout.yaxis2.title.text == "CO2 intensity, kg/MWh"
    )
    assert all("co2" not in (t.name or "").lower() for t in fig.data if t.yaxis != "y2")


def test_cost_chart_and_table_share_one_sign(office) -> None:
    _, result, sections = office
    sec = sections["Costs and revenues"]
    bars = dict(zip(sec.figure.data[0].x, sec.figure.data[0].y, strict=True))
    table = {k.split(":")[0]: float(v.removesuffix(" EUR")) for k, v in sec.table}
    assert result.costs_eur["reserve_availability"] < 0  # revenue: negative in the result ...
    for k, v in bars.items():
        assert v == pytest.approx(table[k], abs=0.006) == pytest.approx(result.costs_eur[k], abs=0.006)
    assert bars["reserve_availability"] < 0  # ... in the chart and in the table
    assert list(table)[-1] == "total" and "+ = cost" in sec.figure.layout.yaxis.title.text


def test_every_cost_term_is_explained(office) -> None:
    from gridflex.reports.site import COST_TEXT
    from gridflex.scheduling.result import COST_TERMS

    assert set(COST_TERMS) <= set(COST_TEXT)
    for label, _ in office[2]["Costs and revenues"].table:
        term, _, text = label.partition(": ")
        assert text == COST_TEXT[term]


def test_services_table_is_in_the_charts_time_zone(office) -> None:
    _, result, sections = office
    sec = sections["Services committed"]
    first = result.service_blocks["fcr"][0]
    local = pd.Timestamp(first["start"]).tz_convert("Europe/Paris").strftime("%a %d %b %H:%M")
    assert sec.table[0][0].startswith(f"fcr {local} → ") and local.endswith("00:00")  # local midnight
    assert str(sec.figure.data[0].x[0].tz) == "Europe/Paris" and "Europe/Paris" in sec.text


def test_heat_dispatch_speaks_of_no_net_import(office) -> None:
    _, _, sections = office
    heat, elec = sections["Dispatch: heat"], sections["Dispatch: electricity"]
    assert "import" not in heat.text and all("import" not in t.name for t in heat.figure.data)
    assert "net import" in elec.text and any("net import" in t.name for t in elec.figure.data)


def test_every_chart_has_one_unit_per_axis_and_local_time(office) -> None:
    _, _, sections = office
    units = ("kW", "kWh", "EUR", "EUR/MWh")
    for title, sec in sections.items():
        fig = sec.figure
        assert fig is not None and sec.text, title
        y = fig.layout.yaxis.title.text
        assert any(u in y for u in units), (title, y)
        if title != "Costs and revenues":
            assert fig.layout.xaxis.title.text == "local time (Europe/Paris)", title


def test_strategies_chart_matches_the_table_sign(office, tmp_path: Path) -> None:
    compiled, result, _ = office
    table = compare_strategies(compiled)
    sections = {s.title: s for s in site_report_sections(result, compiled.prices, table)}
    fig = sections["Strategies compared"].figure
    for tr in fig.data:
        if tr.type == "bar":
            assert np.asarray(tr.y) == pytest.approx(table.loc[f"cost_{tr.name}_eur"].to_numpy(float))
    marker = next(tr for tr in fig.data if tr.type == "scatter")
    assert np.asarray(marker.y) == pytest.approx(table.loc["total_cost_eur"].to_numpy(float))
    html = write_site_report(result, tmp_path / "r.html", compiled.prices, table).read_text()
    assert "costs positive, revenues negative" in html and "kg/MWh" in html
