"""HTML report of a site schedule (adapter: plotly figures through :func:`gridflex.reports.html.write_report`).

Sections: costs and revenues (table and bar), dispatch per carrier (stacked), state of charge,
prices, services committed (reserves per block, DSO capacity per window), and the strategies
comparison when given (a table from :func:`gridflex.scheduling.strategies.compare_strategies`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridflex.reports.html import Section, write_report
from gridflex.scheduling.result import SiteResult


def _x(result: SiteResult) -> pd.DatetimeIndex:
    return result.grid.index.tz_convert(result.tz)


def _dispatch(result: SiteResult, carrier: str) -> go.Figure:
    fig = go.Figure()
    x = _x(result)
    for name, flows in result.power_kw.items():
        if carrier not in flows or result.kinds[name] == "grid_connection":
            continue
        fig.add_bar(x=x, y=flows[carrier], name=name)
    fig.add_scatter(x=x, y=result.net_import_kw(carrier), name="net import", line={"color": "black"})
    fig.update_layout(barmode="relative", yaxis_title="kW (+ = consumption)", height=380)
    return fig


def _soc(result: SiteResult) -> go.Figure:
    fig = go.Figure()
    for name, e in result.soc_kwh.items():
        fig.add_scatter(x=_x(result), y=e, name=name, line={"shape": "hv"})
    fig.update_layout(yaxis_title="kWh", height=320)
    return fig


def _prices(result: SiteResult, prices: dict[str, np.ndarray] | None) -> go.Figure | None:
    if not prices:
        return None
    fig = go.Figure()
    for name, p in prices.items():
        if np.size(p) == result.grid.n and name != "co2_eur_per_t":
            fig.add_scatter(x=_x(result), y=p, name=name, line={"shape": "hv"})
    fig.update_layout(yaxis_title="EUR/MWh", height=300)
    return fig


def _services(result: SiteResult) -> go.Figure:
    fig = go.Figure()
    for name, kw in result.service_kw.items():
        info = result.service_info.get(name, {})
        fig.add_scatter(
            x=_x(result), y=kw, name=f"{name} ({info.get('kind', '')}, {info.get('direction', '')})",
            line={"shape": "hv"}, fill="tozeroy",
        )  # fmt: skip
    fig.update_layout(yaxis_title="committed kW", height=320)
    return fig


def _revenue(result: SiteResult) -> go.Figure:
    items = {k: -v for k, v in result.costs_eur.items() if k != "total" and abs(v) > 1e-9}
    fig = go.Figure(
        go.Bar(
            x=list(items),
            y=list(items.values()),
            marker_color=["#2a9d8f" if v > 0 else "#e76f51" for v in items.values()],
        )
    )
    fig.update_layout(yaxis_title="EUR (+ = revenue, − = cost)", height=320)
    return fig


def _strategies(table: pd.DataFrame) -> go.Figure:
    rows = [r for r in table.index if r.startswith("cost_") and table.loc[r].abs().max() > 1e-9]
    fig = go.Figure()
    for r in rows:
        fig.add_bar(
            x=list(table.columns),
            y=-table.loc[r].to_numpy(float),
            name=r.removeprefix("cost_").removesuffix("_eur"),
        )
    fig.add_scatter(x=list(table.columns), y=table.loc["value_eur"].to_numpy(float), name="value", mode="markers+text",
                    text=[f"{v:.2f}" for v in table.loc["value_eur"]], textposition="top center")  # fmt: skip
    fig.update_layout(barmode="relative", yaxis_title="EUR (+ = revenue)", height=380)
    return fig


def write_site_report(
    result: SiteResult, path: str | Path, prices: dict[str, np.ndarray] | None = None,
    strategies: pd.DataFrame | None = None, title: str | None = None,
) -> Path:  # fmt: skip
    """Write the report; ``prices`` (e.g. ``compile_site(site).prices``) and ``strategies`` optional."""
    costs = [(k, f"{v:.2f} EUR") for k, v in result.costs_eur.items() if abs(v) > 1e-9 or k == "total"]
    sections = [
        Section("Costs and revenues", "Negative costs are revenues.", _revenue(result), costs),
    ]
    carriers = sorted({c for flows in result.power_kw.values() for c in flows})
    for c in carriers:
        sections.append(
            Section(
                f"Dispatch: {c}", "Stacked flows per asset; the line is the net import.", _dispatch(result, c)
            )
        )
    if result.soc_kwh:
        sections.append(Section("State of charge", "Energy stored at the end of each period.", _soc(result)))
    fig = _prices(result, prices)
    if fig is not None:
        sections.append(Section("Prices", "", fig))
    if result.service_kw:
        blocks = [
            (f"{name} {b['start']} → {b['end']}", f"{b['kw']:.1f} kW")
            for name, bl in result.service_blocks.items()
            for b in bl
        ]
        sections.append(Section(f"Services committed ({result.strategy or 'cooptimised'})",
                                "Reserve blocks and DSO windows: capacity kept available.", _services(result), blocks))  # fmt: skip
    if strategies is not None:
        table = [(str(c), f"value {strategies.loc['value_eur', c]:.2f} EUR") for c in strategies.columns]
        sections.append(
            Section("Strategies compared", "Same site and prices.", _strategies(strategies), table)
        )
    footer = "Prices: Bundesnetzagentur | SMARD.de (CC BY 4.0) where the site reads them from SMARD."
    return write_report(path, title or f"Site schedule: {result.site}", sections, footer)
