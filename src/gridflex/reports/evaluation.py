"""Adapter: the outputs of ``gridflex evaluate`` — CSV/JSON files and a self-contained HTML report.

Files written by :func:`write_outputs` (documented in docs/evaluation.md):

* ``z.csv``           one row per (state, scenario): ``state, scenario, t0 … t{T-1}`` (0/1)
* ``summary.json``    scores per period and overall per state, failing periods, timings
* ``capacity.csv``    ``period, source, kind, up_mw, down_mw, load_mw`` (kind: total | available;
  source: generation | load | storage | system)
* ``sensitivity.json`` sweep points and the fit score = β·ln(E) + γ
* ``report.html``     heatmaps of z, score per period, Figure-6 capacity bands, sensitivity curve
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from gridflex.grid.summary import EvaluationResult
from gridflex.reports.html import Section, write_report

OUTPUT_FILES = ("z.csv", "summary.json", "capacity.csv", "sensitivity.json", "report.html")


def z_frame(result: EvaluationResult) -> pd.DataFrame:
    """All states' balance matrices in one table: state, scenario, t0 … t{T-1}."""
    frames = []
    for name, st in result.states.items():
        df = pd.DataFrame(st.z, columns=[f"t{t}" for t in range(st.z.shape[1])])
        df.insert(0, "scenario", np.arange(st.z.shape[0]))
        df.insert(0, "state", name)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def write_outputs(result: EvaluationResult, out_dir: str | Path) -> dict[str, Path]:
    """Write every output file into ``out_dir``; returns their paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in OUTPUT_FILES}
    z_frame(result).to_csv(paths["z.csv"], index=False)
    paths["summary.json"].write_text(json.dumps(result.summary(), indent=1), encoding="utf-8")
    result.capacity.to_frame().to_csv(paths["capacity.csv"], index=False, float_format="%.4f")
    paths["sensitivity.json"].write_text(json.dumps(result.sensitivity_dict(), indent=1), encoding="utf-8")
    write_evaluation_report(result, paths["report.html"])
    return paths


def _periods(n: int) -> list[str]:
    return [f"T{t + 1}" for t in range(n)]


def _heatmap(result: EvaluationResult, state: str) -> go.Figure:
    st = result.states[state]
    shown = st.z[:500]
    fig = go.Figure(
        go.Heatmap(
            z=shown,
            x=_periods(shown.shape[1]),
            colorscale=[[0, "#c0392b"], [1, "#dfeee0"]],
            zmin=0,
            zmax=1,
            showscale=False,
            hovertemplate="scenario %{y}, %{x}: z=%{z}<extra></extra>",
        )
    )
    fig.update_layout(height=320, margin={"t": 20, "b": 40}, yaxis_title="scenario", xaxis_title="period")
    return fig


def _score_figure(result: EvaluationResult) -> go.Figure:
    fig = go.Figure()
    colors = {"simulated": "#7f8c8d", "current": "#c0392b", "future": "#2980b9"}
    for name, st in result.states.items():
        fig.add_scatter(
            x=_periods(len(st.score_per_period)),
            y=st.score_per_period,
            name=f"{name} (score {st.score:.2f})",
            mode="lines+markers",
            line={"color": colors.get(name)},
        )
    fig.update_layout(height=360, yaxis_title="balance score per period (%)", margin={"t": 20})
    return fig


def _improvement_figure(result: EvaluationResult) -> go.Figure:
    """Figure 4: score per period without (grey) and with (red) storage, the gain shaded between."""
    sim, cur = result.states["simulated"], result.states["current"]
    x = _periods(len(sim.score_per_period))
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=sim.score_per_period, line={"color": "#7f8c8d"}, name="without storage (simulated)"
    )
    fig.add_scatter(
        x=x,
        y=np.maximum(cur.score_per_period, sim.score_per_period),
        line={"color": "#c0392b"},
        fill="tonexty",
        fillcolor="rgba(52,152,219,0.35)",
        name="with storage (current); shaded: improvement",
    )
    fig.update_layout(height=360, yaxis_title="balance score per period (%)", margin={"t": 20})
    return fig


def _capacity_figure(result: EvaluationResult) -> go.Figure:
    cap = result.capacity
    x = _periods(len(cap.load_mw))
    load = cap.load_mw
    tot, av = cap.total["system"], cap.available["system"]
    fig = go.Figure()
    fig.add_scatter(x=x, y=load + tot.up_mw, line={"color": "#27ae60", "width": 1}, name="load + total up")
    fig.add_scatter(
        x=x,
        y=load - tot.down_mw,
        line={"color": "#27ae60", "width": 1},
        fill="tonexty",
        fillcolor="rgba(39,174,96,0.15)",
        name="load − total down",
    )
    fig.add_scatter(
        x=x, y=load + av.up_mw, line={"color": "#2c3e9e", "dash": "dashdot"}, name="load + available up"
    )
    fig.add_scatter(
        x=x,
        y=load - av.down_mw,
        line={"color": "#2c3e9e", "dash": "dashdot"},
        fill="tonexty",
        fillcolor="rgba(44,62,158,0.2)",
        name="load − available down",
    )
    fig.add_scatter(x=x, y=load, line={"color": "#c0392b", "width": 3}, name="load")
    fig.update_layout(height=420, yaxis_title="MW", margin={"t": 20})
    return fig


def _sensitivity_figure(result: EvaluationResult) -> go.Figure:
    sens = result.sensitivity
    fig = go.Figure()
    if len(sens.x):
        fig.add_scatter(
            x=sens.x,
            y=sens.score,
            mode="markers",
            marker={"size": 9, "color": np.where(sens.saturated, "#95a5a6", "#c0392b").tolist()},
            name="evaluated (grey: saturated, not fitted)",
        )
        f = sens.fit
        if f.beta is not None and f.gamma is not None:
            xs = np.geomspace(sens.x[sens.x > 0].min(), sens.x.max(), 60)
            fig.add_scatter(
                x=xs,
                y=np.minimum(f.beta * np.log(xs) + f.gamma, 100.0),
                mode="lines",
                name=f"fit {f.beta:.3g}·ln(x) + {f.gamma:.4g}, R²={f.r2:.3f}",
            )
    fig.add_hline(y=result.states["simulated"].score, line_dash="dot", annotation_text="no storage")
    fig.update_layout(
        height=380,
        xaxis_type="log",
        xaxis_title=sens.x_label,
        yaxis_title="balance score (%)",
        margin={"t": 20},
    )
    return fig


def write_evaluation_report(result: EvaluationResult, path: str | Path) -> Path:
    """One offline HTML page with the evaluation's figures."""
    summ = result.summary()
    table = [("scenarios", f"{result.n_scenarios:,} (seed {result.seed})")]
    for name, st in result.states.items():
        failing = ", ".join(f"T{t + 1}" for t in st.failing_periods()) or "none"
        table.append(
            (f"{name} (storage × {st.storage_scale:g})", f"score {st.score:.2f} — failing periods: {failing}")
        )
    f = result.sensitivity.fit
    if f.beta is not None:
        table.append(
            ("fit", f"score = {f.beta:.3f}·ln({result.sensitivity.x_label}) + {f.gamma:.3f} (R² {f.r2:.3f})")
        )
    else:
        table.append(("fit", f"none: {f.reason}"))
    imp = summ["improvement"]["current_over_simulated"]
    table.append(
        (
            "storage improvement (Figure 4)",
            f"{imp['mean_points']:.2f} points on average, area {imp['area_score_h']:.1f} score·h",
        )
    )
    capsum = summ["capacity"]
    table.append(
        (
            "mean available flexibility (Figure 6)",
            f"up {capsum['mean_available_up_mw']:.0f} MW, down {capsum['mean_available_down_mw']:.0f} MW "
            "(up = more power into the grid)",
        )
    )
    for name, st in result.states.items():
        if st.undecided or st.limited.any():
            table.append(
                (
                    f"{name}: time limit",
                    f"{int(st.limited.sum())} solves stopped by the MILP limit, {st.undecided} periods undecided; "
                    f"score between {st.score:.2f} and {st.score_if_undecided_balanced:.2f}",
                )
            )
    eco = summ["economics"]
    if eco["ln"]["beta"] is not None and eco["ln"]["beta_ci95"] is not None:
        lo, hi = eco["ln"]["beta_ci95"]
        table.append(
            (
                "β (ln), 95 % CI",
                f"{eco['ln']['beta']:.3f} [{lo:.3f}, {hi:.3f}]; log10: {eco['log10']['beta']:.3f}",
            )
        )
    mb = eco["marginal_benefit"]
    if mb is None:
        benefit = f"none (no fit: {f.reason or 'no storage'})"
    else:
        per_eur = mb["at_installed_per_eur"]
        benefit = f"{mb['at_installed_per_mwh']:.3g} points per MWh" + (
            "" if per_eur is None else f", {per_eur:.3g} points per EUR"
        )
    table.append(("marginal benefit at the installed storage", benefit))
    table.append(("time", f"{summ['timings_s'].get('total', 0):.1f} s"))
    sections = [
        Section("Summary", summ["z_rule"], table=table),
        Section(
            "Balance score per period",
            "Share of scenarios balanced in each period, per state.",
            _score_figure(result),
        ),
    ]
    sections.append(
        Section(
            "Improvement by storage (Figure 4)",
            "Score per period without and with the installed storage; the shaded area is the improvement.",
            _improvement_figure(result),
        )
    )
    bands = [
        (
            f"{src} {kind}",
            f"up {v['up_mw']['mean']:.0f} MW ({v['up_mw']['min']:.0f}–{v['up_mw']['max']:.0f}), "
            f"down {v['down_mw']['mean']:.0f} MW ({v['down_mw']['min']:.0f}–{v['down_mw']['max']:.0f})",
        )
        for src, kinds in capsum["sources"].items()
        for kind, v in kinds.items()
    ]
    sections.append(Section("Flexible capacity per source (mean, min–max over the day)", "", table=bands))
    for name in result.states:
        sections.append(
            Section(
                f"Balance matrix z — {name}",
                "Rows: scenarios (first 500); red: out of balance.",
                _heatmap(result, name),
            )
        )
    sections.append(
        Section(
            "Flexible capacity (expected-load scenario, installed storage)",
            "Around the load: total (green band) and available (blue band) upward and downward flexibility "
            "of generation, demand response and storage, as in the paper's Figure 6.",
            _capacity_figure(result),
        )
    )
    sections.append(Section("Storage sensitivity", f.rule, _sensitivity_figure(result)))
    return write_report(
        path, f"gridflex evaluation — {result.study.name}", sections, footer="gridflex evaluate"
    )
