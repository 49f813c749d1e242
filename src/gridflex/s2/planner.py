"""Run the S2 devices of a site through the site optimiser (``gridflex.scheduling``).

:func:`plan_site` is pure and synchronous (the CEM calls it in a worker thread): it appends the
devices' linearised assets (:func:`~gridflex.s2.frbc.frbc_assets`, :func:`~gridflex.s2.pebc.pebc_assets`,
fixed loads of NOT_CONTROLABLE devices) to the site's own assets (grid connection with its fuse
limit, prices, CO2, other loads and PV), moves the horizon to ``start``, builds the site model,
adds the FRBC fill-level targets as soft bounds and solves. Only public scheduling/assets API is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from gridflex.s2.frbc import TARGET_PENALTY_EUR, FrbcInputs, frbc_assets
from gridflex.s2.pebc import PebcInputs, pebc_assets
from gridflex.scheduling import Site, build_site_model, compile_site, parse_site, solve_site_model
from gridflex.scheduling.hub import SiteModel


@dataclass
class PlanRequest:
    """Everything a plan needs, as plain data (a snapshot taken on the event loop)."""

    start: datetime
    step_s: int
    n: int
    frbc: list[FrbcInputs] = field(default_factory=list)
    pebc: list[PebcInputs] = field(default_factory=list)
    loads_kw: dict[str, np.ndarray] = field(default_factory=dict)  # NOT_CONTROLABLE devices, + = load


@dataclass
class Plan:
    start: datetime
    step_s: int
    n: int
    frbc_rate_per_s: dict[str, dict[Any, np.ndarray]]  # device → actuator id → net fill rate (units/s)
    frbc_fill: dict[str, np.ndarray]  # device → planned fill level at the end of each period
    pv_kw: dict[str, np.ndarray]  # PEBC device → planned production (kW >= 0)
    net_import_kw: np.ndarray
    costs_eur: dict[str, float]
    solve_s: float


def site_with_devices(base: Site, req: PlanRequest) -> Site:
    """The base site on the request's horizon with the devices' assets appended."""
    data = base.model_dump(mode="json", exclude_none=True)
    data["time"] = {"start": req.start.isoformat(), "step_s": req.step_s, "n_periods": req.n}
    if base.time.timezone:
        data["time"]["timezone"] = base.time.timezone
    assets = data["assets"]
    if not any(
        a["kind"] == "grid_connection" and a.get("carrier", "electricity") == "electricity" for a in assets
    ):
        assets.append({"kind": "grid_connection", "name": "s2-grid"})
    for spec in req.frbc:
        assets += frbc_assets(spec)
    for pspec in req.pebc:
        assets += pebc_assets(pspec)
    for name, kw in req.loads_kw.items():
        assets.append({"kind": "load", "name": f"{name}/load", "profile_kw": [float(x) for x in kw]})
    return parse_site(data, source="CEM site with S2 devices")


def _add_targets(sm: SiteModel, spec: FrbcInputs) -> None:
    ctx = sm.ctx
    hook = sm.built[f"{spec.name}/store"].hook
    if hook is None or hook.soc is None:  # pragma: no cover - stores always give their soc
        return
    soc = hook.soc.idx
    for side, bound, sign in (("low", spec.target_lo, 1.0), ("high", spec.target_hi, -1.0)):
        k = np.flatnonzero(np.isfinite(bound))
        if k.size == 0:
            continue
        m = k.size
        short = ctx.add_vars(f"s2 target {side} '{spec.name}' shortfall", m, 0.0, np.inf,
                             {"penalty": TARGET_PENALTY_EUR * 1000.0 * sm.ctx.dt_h})  # fmt: skip
        rows = np.concatenate([np.arange(m), np.arange(m)])
        cols = np.concatenate([soc[k], short.idx])
        # low:  soc + s >= lo − fill_min;   high: −soc + s >= −(hi − fill_min)
        vals = np.concatenate([np.full(m, sign), np.ones(m)])
        rhs = sign * (bound[k] - spec.fill_min)
        ctx.relation(f"s2 target {side} '{spec.name}'", rows, cols, vals, rhs, np.inf, m)


def plan_site(base: Site, req: PlanRequest) -> Plan:
    """Schedule the site with its S2 devices; raises a GridflexError subclass if it cannot."""
    t0 = time.perf_counter()
    site = site_with_devices(base, req)
    sm = build_site_model(compile_site(site))
    for spec in req.frbc:
        _add_targets(sm, spec)
    res = solve_site_model(sm)
    rates: dict[str, dict[Any, np.ndarray]] = {}
    fill: dict[str, np.ndarray] = {}
    for spec in req.frbc:
        carrier = f"s2fill_{spec.name}"
        per: dict[Any, np.ndarray] = {}
        for i, act in enumerate(spec.actuators):
            r = np.zeros(req.n)
            ch = res.power_kw.get(f"{spec.name}/a{i}/charge")
            if ch is not None:
                r = r - ch[carrier] / 3600.0  # the converter gives (negative flow) fill units per hour
            dis = res.power_kw.get(f"{spec.name}/a{i}/discharge")
            if dis is not None:
                r = r - dis[carrier] / 3600.0  # it takes (positive flow) fill units per hour
            per[act.actuator_id] = r
        rates[spec.name] = per
        fill[spec.name] = res.soc_kwh[f"{spec.name}/store"] + spec.fill_min
    pv = {p.name: -res.power_kw[f"{p.name}/pv"]["electricity"] for p in req.pebc}
    return Plan(req.start, req.step_s, req.n, rates, fill, pv, res.net_import_kw(),
                dict(res.costs_eur), time.perf_counter() - t0)  # fmt: skip
