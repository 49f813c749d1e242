"""The day from device to grid (``gridflex demo``) as one offline HTML page.

Sections: the summary; the congested branch before, as cleared and as delivered; the aggregator's
pools (baseline and the up flexibility offered, the activation); per site its baseline, its
flex-offer's lower bound, the schedule it was given and what its meter read; the S2 instructions its
devices received; who paid whom and why; what each actor gained against doing nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gridflex.reports.html import Section, write_report

FOOTER = (
    "Contains information from SimBench (https://simbench.de), made available under the ODbL v1.0. "
    "Day-ahead prices: Bundesnetzagentur | SMARD.de (CC BY 4.0). Site sizes, margins, meter noise and "
    "the penalty are synthetic. Signs: power + = consumption; flexibility up = more power into the grid."
)


def day_report(result: Any, path: str | Path) -> Path:
    """Write the page of a ``gridflex.demos.day.DayResult`` (reports sit below demos: duck-typed);
    returns its path."""
    times = result.grid.index
    sections = [Section("Summary", "Flexibility up = more power into the grid (less consumption).",
                        table=result.summary())]  # fmt: skip

    loading = go.Figure()
    for label, pct in result.loading_pct.items():
        loading.add_scatter(x=times, y=pct, name=label, mode="lines")
    loading.add_hline(y=100.0, line_dash="dot", annotation_text="rating")
    loading.update_layout(yaxis_title="loading (%)", xaxis_title="time (UTC)", height=360)
    sections.append(Section(
        f"Congestion: branch {result.congestion_branch}",
        "AC power flow of the stressed feeder with the sites' baselines (before), with the schedules "
        "the market gave them (planned) and with what their meters read (delivered).", figure=loading))  # fmt: skip

    pools = go.Figure()
    for d in result.dispatch.values():
        pools.add_scatter(x=times, y=d.planned_kw, name=f"{d.site_id}: baseline", mode="lines")
        pools.add_scatter(x=times, y=d.dispatched_kw, name=f"{d.site_id}: after the activation", mode="lines")
    pools.update_layout(yaxis_title="power (kW, + = consumption)", xaxis_title="time (UTC)", height=360)
    offered = [(o.offer_id, f"{len(o.isps)} ISPs, up to {1000 * float(np.max(o.power_mw)):.1f} kW at "
                f"{o.price_eur_per_mwh:.2f} EUR/MWh: {result.cleared.offer_status.get(o.offer_id, '?')}, "
                f"factor {result.cleared.activation.get(o.offer_id, 0.0):.3f}") for o in result.offers]  # fmt: skip
    sections.append(Section("Aggregator: pools per bus", "Each pool aggregates the flex-offers of the sites "
                            "on one bus; its offer is the room below its summed baseline.", figure=pools))  # fmt: skip
    sections.append(Section("Offers and their clearing", table=offered))

    for name, s in result.sites.items():
        fig = go.Figure()
        fig.add_scatter(x=times, y=s.plan_kw, name="baseline (first plan)", mode="lines")
        fig.add_scatter(x=times, y=s.plan_kw - s.up_kw, name="flex-offer lower bound", mode="lines",
                        line={"dash": "dot"})  # fmt: skip
        if s.target_kw is not None:
            fig.add_scatter(x=times, y=s.target_kw, name="schedule after the activation", mode="lines")
        if s.metered_kw is not None:
            fig.add_scatter(x=times, y=s.metered_kw, name="metered", mode="lines")
        fig.update_layout(yaxis_title="power (kW, + = consumption)", xaxis_title="time (UTC)", height=300)
        devices = ", ".join(f"{d['kind']} {d['instructions_received']}" for d in s.devices)
        sections.append(Section(
            f"{name} on bus {s.bus_name}",
            f"Devices over S2: {', '.join(s.spec.kinds)}; instructions received per device: {devices}; "
            f"{s.instructions_after} after the activation. Price of its up flexibility: "
            f"{s.price_eur_per_mwh:.2f} EUR/MWh.", figure=fig))  # fmt: skip

    payments = [
        (f"{payer} → {payee}", f"{eur:,.2f} EUR: {why}") for payer, payee, eur, why in result.payments()
    ]
    sections.append(Section("Who paid whom, and why", "Money only moves between participants: it sums to zero.",
                            table=payments))  # fmt: skip
    gains = []
    for actor, g in result.gains_eur().items():
        text = f"settlement {g['settlement_eur']:+,.2f} EUR"
        if "eur_per_mwh_removed" in g:
            text += (f", {g['overload_removed_mwh']:.2f} MWh less above the ratings "
                     f"({g['eur_per_mwh_removed']:,.2f} EUR per MWh removed)")  # fmt: skip
        if "energy_cost_eur" in g:
            text += f", energy cost of its flexibility {g['energy_cost_eur']:,.2f} EUR, gain {g['gain_eur']:+,.2f} EUR"
        gains.append((actor, text))
    relief = result.loading_pct["before"] - result.loading_pct["delivered"]
    gains.append(("dso: relief", f"{float(np.max(relief)):.1f} points of loading at most; overloaded ISPs "
                  f"{result.overloaded_isps['before']} → {result.overloaded_isps['delivered']}"))  # fmt: skip
    sections.append(Section("What each actor gained against doing nothing",
                            "A site's energy cost: its energy manager's plan with the activated share "
                            "against its free plan, at day-ahead prices. The BRP's amount pays for energy "
                            "it sourced and its customers did not take.",
                            table=gains))  # fmt: skip
    return write_report(path, "gridflex — the day from device to grid", sections, FOOTER)
