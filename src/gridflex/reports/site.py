"""HTML report of a site schedule (adapter: plotly figures through :func:`gridflex.reports.html.write_report`).

Sections: costs and revenues (table and bar), dispatch per carrier (stacked), state of charge,
prices (EUR/MWh) and CO2 intensity (kg/MWh, its own axis), services committed (reserves per block,
DSO capacity per window), and the strategies comparison when given (a table from
:func:`gridflex.scheduling.strategies.compare_strategies`).

One convention for the whole report, said where it matters:

* money: **costs positive, revenues negative** (EUR over the horizon), as in ``SiteResult.costs_eur``,
  the result files and the console; tables and charts show the same numbers with the same sign;
* power: kW taken from a bus, **+ = consumption, − = production**; a network connection's line is
  the site's net import (+ = drawn from the network);
* time: every chart axis and table in the site's local time zone (named on the axis);
* flexibility: **up = more power into the grid** (less consumption or more production), **down =
  less power into the grid**, as TSOs and DSOs use the words (``SiteResult.flex_up_kw``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridflex.reports.html import Section, write_report
from gridflex.scheduling.result import SiteResult

COST_SIGN = "costs positive, revenues negative (EUR over the horizon)"

_PRICE_NAMES = {
    "day_ahead": "day-ahead price",
    "intraday": "intraday price",
    "tou": "time-of-use network tariff",
    "feed_in": "feed-in tariff",
}
_CO2 = "co2_kg_per_mwh"

COST_TEXT = {
    "energy": "imports at the energy price",
    "intraday": "intraday purchases less sales",
    "tariff": "time-of-use network tariff on imports",
    "co2": "CO2 of imports at the CO2 price",
    "peak": "capacity charge on the highest import",
    "degradation": "storage wear per MWh of throughput",
    "penalty": "kWh missed on soft targets and EV needs",
    "self_consumption": "weight against exporting own production",
    "feed_in": "exports paid at the feed-in tariff",
    "reserve_availability": "reserve capacity paid per MW and hour",
    "reserve_activation": "expected reserve activation energy",
    "dso_availability": "DSO contract capacity payment",
    "dso_activation": "expected DSO activation payment",
    "capacity_availability": "capacity mechanism: certified capacity paid per MW",
    "commitment_shortfall": "service commitments not kept (MPC)",
    "service_undelivered": "applied service allocations an asset could not hold (MPC realised run)",
    "total": "sum of the terms above",
}
"""What each cost term of ``SiteResult.costs_eur`` measures (the report's cost table)."""


def _x(result: SiteResult) -> pd.DatetimeIndex:
    return result.grid.index.tz_convert(result.tz)


def _time_axis(result: SiteResult) -> str:
    return f"local time ({result.tz})"


def _local(result: SiteResult, iso: str) -> str:
    return pd.Timestamp(iso).tz_convert(result.tz).strftime("%a %d %b %H:%M")


def _has_network(result: SiteResult, carrier: str) -> bool:
    return any(
        result.kinds[n] == "grid_connection" and carrier in flows for n, flows in result.power_kw.items()
    )


def _dispatch(result: SiteResult, carrier: str) -> go.Figure:
    fig = go.Figure()
    x = _x(result)
    for name, flows in result.power_kw.items():
        if carrier not in flows or result.kinds[name] == "grid_connection":
            continue
        fig.add_bar(x=x, y=flows[carrier], name=name)
    if _has_network(result, carrier):
        fig.add_scatter(
            x=x, y=result.net_import_kw(carrier), name="net import from the network", line={"color": "black"}
        )
    fig.update_layout(
        barmode="relative", yaxis_title="kW (+ = consumption, − = production)",
        xaxis_title=_time_axis(result), height=380,
    )  # fmt: skip
    return fig


def _dispatch_text(result: SiteResult, carrier: str) -> str:
    base = "Power each asset takes from the bus, kW per period (+ = consumption, − = production)."
    if _has_network(result, carrier):
        return base + " The black line is the site's net import from the network (+ = drawn, − = fed in)."
    return base + f" No network supplies {carrier} here: the assets' flows sum to zero in every period."


def _soc(result: SiteResult) -> go.Figure:
    fig = go.Figure()
    for name, e in result.soc_kwh.items():
        fig.add_scatter(x=_x(result), y=e, name=name, line={"shape": "hv"})
    fig.update_layout(yaxis_title="energy stored, kWh", xaxis_title=_time_axis(result), height=320)
    return fig


def _prices(result: SiteResult, prices: dict[str, np.ndarray] | None) -> go.Figure | None:
    if not prices:
        return None
    fig = go.Figure()
    x = _x(result)
    for name, p in prices.items():
        if np.size(p) == result.grid.n and name in _PRICE_NAMES:
            fig.add_scatter(x=x, y=p, name=_PRICE_NAMES[name], line={"shape": "hv"})
    co2 = prices.get(_CO2)
    has_co2 = co2 is not None and np.size(co2) == result.grid.n and bool(np.any(co2))
    if has_co2:
        fig.add_scatter(
            x=x, y=co2, name="CO2 intensity of imports", yaxis="y2", line={"shape": "hv", "dash": "dot"}
        )
        fig.update_layout(
            yaxis2={"title": "CO2 intensity, kg/MWh", "overlaying": "y", "side": "right", "showgrid": False}
        )
    fig.update_layout(yaxis_title="EUR/MWh", xaxis_title=_time_axis(result), height=300)
    return fig


def _services(result: SiteResult) -> go.Figure:
    fig = go.Figure()
    for name, kw in result.service_kw.items():
        info = result.service_info.get(name, {})
        fig.add_scatter(
            x=_x(result), y=kw, name=f"{name} ({info.get('kind', '')}, {info.get('direction', '')})",
            line={"shape": "hv"}, fill="tozeroy",
        )  # fmt: skip
    fig.update_layout(yaxis_title="capacity committed, kW", xaxis_title=_time_axis(result), height=320)
    return fig


FLEX_TEXT = (
    "Available flexibility per period, one period at a time, the rest of the schedule unchanged: "
    "up = more power into the grid (less consumption or more production), drawn above zero; down = "
    "less power into the grid, drawn below. The site's value is capped by its grid connection; the "
    "table gives each asset's mean on its own, kW."
)


def _flexibility(result: SiteResult) -> go.Figure:
    fig = go.Figure()
    x = _x(result)
    fig.add_scatter(x=x, y=result.flex_up_kw, name="site up", line={"shape": "hv", "color": "#2a9d8f"})
    fig.add_scatter(x=x, y=-result.flex_down_kw, name="site down", line={"shape": "hv", "color": "#e76f51"})
    fig.update_layout(
        yaxis_title="kW (+ = up: more into the grid, − = down)", xaxis_title=_time_axis(result), height=320
    )
    return fig


def _costs(result: SiteResult) -> go.Figure:
    items = {k: v for k, v in result.costs_eur.items() if k != "total" and abs(v) > 1e-9}
    fig = go.Figure(
        go.Bar(
            x=list(items),
            y=list(items.values()),
            marker_color=["#e76f51" if v > 0 else "#2a9d8f" for v in items.values()],
        )
    )
    fig.update_layout(yaxis_title="EUR (+ = cost, − = revenue)", height=320)
    return fig


def _strategies(table: pd.DataFrame) -> go.Figure:
    rows = [r for r in table.index if r.startswith("cost_") and table.loc[r].abs().max() > 1e-9]
    fig = go.Figure()
    for r in rows:
        fig.add_bar(
            x=list(table.columns),
            y=table.loc[r].to_numpy(float),
            name=r.removeprefix("cost_").removesuffix("_eur"),
        )
    total = table.loc["total_cost_eur"].to_numpy(float)
    fig.add_scatter(x=list(table.columns), y=total, name="total cost", mode="markers+text",
                    text=[f"{v:.2f}" for v in total], textposition="top center")  # fmt: skip
    fig.update_layout(barmode="relative", yaxis_title="EUR (+ = cost, − = revenue)", height=380)
    return fig


def site_report_sections(
    result: SiteResult, prices: dict[str, np.ndarray] | None = None, strategies: pd.DataFrame | None = None
) -> list[Section]:
    """The report's sections (figures and tables), before they are written as HTML."""
    costs = [
        (f"{k}: {COST_TEXT.get(k, k.replace('_', ' '))}", f"{v:.2f} EUR")
        for k, v in result.costs_eur.items()
        if abs(v) > 1e-9 or k == "total"
    ]
    sections = [
        Section("Costs and revenues", f"Cost terms: {COST_SIGN}; the total last.", _costs(result), costs)
    ]
    carriers = sorted({c for flows in result.power_kw.values() for c in flows})
    for c in carriers:
        sections.append(Section(f"Dispatch: {c}", _dispatch_text(result, c), _dispatch(result, c)))
    if result.soc_kwh:
        sections.append(
            Section("State of charge", "Energy stored at the end of each period, kWh.", _soc(result))
        )
    flex_rows = [
        (name, f"up {float(np.mean(ud['up'])):.1f} kW, down {float(np.mean(ud['down'])):.1f} kW")
        for name, ud in result.flex_by_asset_kw.items()
    ]
    sections.append(Section("Available flexibility", FLEX_TEXT, _flexibility(result), flex_rows))
    fig = _prices(result, prices)
    if fig is not None:
        text = "Prices and tariffs per period, EUR/MWh (left axis)."
        if any(tr.yaxis == "y2" for tr in fig.data):
            text += " CO2 intensity of imported electricity, kg/MWh (right axis, dotted)."
        sections.append(Section("Prices", text, fig))
    if result.service_kw:
        blocks = [
            (f"{name} {_local(result, b['start'])} → {_local(result, b['end'])}", f"{b['kw']:.1f} kW")
            for name, bl in result.service_blocks.items()
            for b in bl
        ]
        text = (
            f"Reserve blocks and DSO windows: capacity kept available, kW; times in {result.tz}, "
            "as on the charts."
        )
        sections.append(Section(f"Services committed ({result.strategy or 'cooptimised'})", text,
                                _services(result), blocks))  # fmt: skip
    if result.second_loop:
        sl = result.second_loop
        text = (
            f"Strategy two_loop: the day-ahead position bought on forecasts ({sl['forecast_error']:g} "
            "relative error of loads and PV), then re-dispatched on the day and traded intraday; its value "
            "is the cost of the day-ahead plan applied alone (the error settled intraday) less this schedule's."
        )
        rows = [("value of the second loop", f"{sl['value_eur']:.2f} EUR"),
                ("cost of the day-ahead plan applied alone", f"{sl['single_loop_cost_eur']:.2f} EUR"),
                ("traded intraday", f"{sl['traded_intraday_kwh']:.1f} kWh")]  # fmt: skip
        sections.append(Section("Intraday second loop", text, None, rows))
    if strategies is not None:
        table = [
            (str(c), f"total cost {strategies.loc['total_cost_eur', c]:.2f} EUR") for c in strategies.columns
        ]
        text = f"Same site and prices; cost terms per strategy, {COST_SIGN}; the marker is the total."
        sections.append(Section("Strategies compared", text, _strategies(strategies), table))
    return sections


def write_site_report(
    result: SiteResult, path: str | Path, prices: dict[str, np.ndarray] | None = None,
    strategies: pd.DataFrame | None = None, title: str | None = None,
) -> Path:  # fmt: skip
    """Write the report; ``prices`` (e.g. ``compile_site(site).prices``) and ``strategies`` optional."""
    sections = site_report_sections(result, prices, strategies)
    footer = "Prices: Bundesnetzagentur | SMARD.de (CC BY 4.0) where the site reads them from SMARD."
    return write_report(path, title or f"Site schedule: {result.site}", sections, footer)
