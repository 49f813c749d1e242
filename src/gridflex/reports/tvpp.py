"""The congestion forecast as one offline HTML page: loading heat strip, voltage band, congested places, needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go

from gridflex.grid.distribution.congestion import CongestionForecast
from gridflex.grid.distribution.requests import SIGN_CONVENTION
from gridflex.reports.html import Section, write_report

MAX_STRIP_BRANCHES = 40  # the most loaded ones; a 150-row heat strip is unreadable


def forecast_report(
    fc: CongestionForecast, path: str | Path, timings_s: dict[str, float] | None = None
) -> Path:
    net, res, lim = fc.network, fc.result, fc.limits
    times = res.times()
    loading = res.branch_loading_pct
    names = net.branch_names()
    v = res.voltage_pu
    summary = [
        ("network", f"{net.name} ({net.source})"),
        ("size", ", ".join(f"{n} {k}" for k, n in net.summary().items() if n)),
        ("horizon", f"{times[0]:%Y-%m-%d %H:%M} UTC, {res.periods} periods of {res.step_min} min"),
        ("scenario", "; ".join(fc.series.notes) or "profiles as shipped"),
        ("limits", f"loading ≤ {lim.loading_pct:g} %, voltage {lim.voltage_min_pu:g}–{lim.voltage_max_pu:g} pu (EN 50160)"),
        ("highest loading", f"{np.nanmax(loading):.1f} % ({names[int(np.nanargmax(loading.max(axis=0)))]})"),
        ("voltage range", f"{np.nanmin(v):.4f} – {np.nanmax(v):.4f} pu"),
        ("violations", f"{len(fc.violations)} places in {len(fc.congested_periods)} periods"),
        ("congestion points", str(len(fc.points))),
    ]  # fmt: skip
    for k, s in (timings_s or fc.timings_s).items():
        summary.append((f"time: {k}", f"{s:.3f} s"))
    sections = [Section("Summary", table=summary)]

    order = np.argsort(-np.nanmax(loading, axis=0))[:MAX_STRIP_BRANCHES]
    strip = go.Figure(
        go.Heatmap(
            z=loading[:, order].T, x=times, y=[str(names[k]) for k in order], zmin=0,
            zmax=max(120.0, float(np.nanmax(loading))), colorscale=_loading_scale(lim.loading_pct, max(120.0, float(np.nanmax(loading)))),
            colorbar={"title": "loading %"}, hovertemplate="%{y}<br>%{x}<br>%{z:.1f} %<extra></extra>",
        )
    )  # fmt: skip
    strip.update_layout(height=260 + 14 * len(order), margin={"l": 160}, yaxis={"autorange": "reversed"})
    sections.append(
        Section(
            "Loading per branch",
            f"The {len(order)} most loaded branches; red above {lim.loading_pct:g} %.",
            strip,
        )
    )

    band = go.Figure()
    band.add_scatter(x=times, y=np.nanmax(v, axis=1), name="highest bus voltage", line={"color": "#c0392b"})
    band.add_scatter(
        x=times, y=np.nanmin(v, axis=1), name="lowest bus voltage", line={"color": "#2471a3"}, fill="tonexty"
    )
    for y in (lim.voltage_min_pu, lim.voltage_max_pu):
        band.add_hline(y=y, line={"dash": "dash", "color": "#555"})
    band.update_layout(height=340, yaxis={"title": "voltage (pu)"})
    sections.append(
        Section("Voltage band", "Range of all bus voltages per period against the EN 50160 band.", band)
    )

    rows = [
        (f"{x.name} ({x.quantity})", f"worst {x.worst:.4g} vs limit {x.limit:g}, {len(x.periods)} periods")
        for x in fc.violations
    ]
    sections.append(
        Section(
            "Congested places", "" if rows else "None: every period is within limits.", table=rows or None
        )
    )
    for cp in fc.points:
        need = cp.requested_mw
        fig = go.Figure()
        fig.add_bar(x=times, y=np.where(need > 0, need, 0), name="requested up (MW)", marker_color="#27ae60")
        fig.add_bar(
            x=times, y=np.where(need < 0, need, 0), name="requested down (MW)", marker_color="#8e44ad"
        )
        free_up = np.where(need == 0, np.clip(-cp.min_change_mw, 0, None), np.nan)
        free_down = np.where(need == 0, np.clip(cp.max_change_mw, 0, None), np.nan)
        cap = 3 * max(1.0, float(np.abs(need).max()))
        fig.add_scatter(
            x=times,
            y=np.minimum(free_down, cap),
            name="free capacity: more consumption (MW)",
            line={"dash": "dot"},
        )
        fig.add_scatter(
            x=times,
            y=-np.minimum(free_up, cap),
            name="free capacity: less consumption (MW)",
            line={"dash": "dot"},
        )
        fig.update_layout(barmode="relative", height=320, yaxis={"title": "MW"})
        text = (
            f"{len(cp.connection_buses)} connection points ({', '.join(cp.connection_names[:6])}"
            f"{', …' if len(cp.connection_names) > 6 else ''}); causes: {', '.join(x.name for x in cp.violations)}. "
            f"Up {need.clip(0).sum() * res.step_min / 60:.2f} MWh, down {(-need).clip(0).sum() * res.step_min / 60:.2f} MWh"
            + (
                f"; {len(cp.conflicting)} periods where no change meets every limit."
                if len(cp.conflicting)
                else "."
            )
        )
        sections.append(Section(f"Needs of {cp.name}", text, fig))
    footer = SIGN_CONVENTION + ". " + str(net.meta.get("attribution", ""))
    return write_report(path, f"Congestion forecast — {net.name}", sections, footer=footer)


def _loading_scale(limit: float, top: float) -> list[list[float | str]]:
    """Green to yellow up to the limit, red above it."""
    k = min(limit / top, 1.0)
    return [
        [0.0, "#f4f9f4"],
        [k * 0.6, "#a9dfbf"],
        [k * 0.97, "#f7dc6f"],
        [k, "#e67e22"],
        [min(k + 1e-3, 1.0), "#e74c3c"],
        [1.0, "#922b21"],
    ]
