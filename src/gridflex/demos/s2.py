"""``gridflex demo s2``: a household and an office run live over real sockets on 127.0.0.1.

Each site has its own CEM (ephemeral port, bearer token) and one simulated RM per simulator kind
(:data:`gridflex.s2.rm.simulators.KINDS`: battery, pv, heatpump, ev and, when present, washing-machine,
chp, hybrid-heatpump), all on one accelerated :class:`~gridflex.s2.clock.Clock` that stands still while a CEM plans. A short simulated day
(``hours``, default 12 from 06:00 UTC on 2018-06-12) runs at ``speed``; half-way, a DSO caps the
office's import (``CEM.set_congestion_limit``). Real French day-ahead prices of that day
(Bundesnetzagentur | SMARD.de, CC BY 4.0). The office also needs 8 kW of heat, from a gas boiler or
its CHP, so the CHP runs when its heat and electricity together beat boiler gas and grid power. The offline HTML report (plotly embedded) shows per site
its power against the fuse and congestion limits, and per device its power, its state (fill level)
and the instructions it received.

Outcomes are measured in execution, on the simulators (``outcomes`` per site in the summary and
the report): each EV's energy at departure against its need, each heat-pump buffer's range against
its comfort band, PV curtailed at a positive price (and how much of it while the site's export was
at its limit); a shortfall is reported with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.s2.clock import Clock
from gridflex.s2.planner import GAS_EUR_PER_MWH
from gridflex.s2.rm.simulators import KINDS, Simulator
from gridflex.s2.server import CEM
from gridflex.scheduling import Site, compile_site, parse_site

TOKEN = "demo-token"
DEMO_START = datetime(2018, 6, 12, 6, 0, tzinfo=UTC)
HOUSEHOLD = ("battery", "pv", "heatpump", "ev", "washing-machine", "hybrid-heatpump")
OFFICE = ("battery", "pv", "heatpump", "ev", "chp")


def _site(name: str, fuse_kw: float, base_kw: float, start: datetime, heat_kw: float = 0.0) -> Site:
    """A site file of one day from ``start``: SMARD prices (read by timestamp as the CEM moves on),
    the fuse, a base load and, with ``heat_kw``, a heat load served by a gas boiler (92 %)."""
    assets: list[dict[str, Any]] = [
        {"kind": "grid_connection", "name": "meter", "fuse_kw": fuse_kw},
        {"kind": "load", "name": "base", "profile_kw": base_kw},
    ]
    if heat_kw:
        assets += [
            {"kind": "grid_connection", "name": "gas", "carrier": "gas", "export_max_kw": 0.0,
             "import_price_eur_per_mwh": GAS_EUR_PER_MWH},
            {"kind": "converter", "name": "boiler", "input_carrier": "gas", "outputs": {"heat": 0.92},
             "input_max_kw": 3 * heat_kw},
            {"kind": "load", "name": "hot-water", "carrier": "heat", "profile_kw": heat_kw},
        ]  # fmt: skip
    return parse_site({
        "name": name, "time": {"start": start.isoformat(), "step_s": 900, "n_periods": 96},
        "prices": {"day_ahead_eur_per_mwh": {"smard": {"zone": "France"}}}, "assets": assets,
    })  # fmt: skip


async def _run(speed: float, hours: float, sample_s: float) -> dict[str, Any]:
    clock = Clock(speed, start=DEMO_START, stops_for_planning=True)
    sites = {
        "household": (_site("household", 17.0, 0.4, DEMO_START), [k for k in HOUSEHOLD if k in KINDS]),
        "office": (_site("office", 60.0, 15.0, DEMO_START, heat_kw=8.0), [k for k in OFFICE if k in KINDS]),
    }
    extra = [k for k in KINDS if k not in HOUSEHOLD + OFFICE]
    sites["office"][1].extend(extra)
    out: dict[str, Any] = {}
    cems: dict[str, CEM] = {}
    sims: dict[str, list[Simulator]] = {}
    frames: dict[str, list[tuple[datetime, str, dict[str, Any]]]] = {}
    for name, (site, kinds) in sites.items():
        cem = CEM(site, {TOKEN: None}, clock=clock, debounce_s=0.05, ping_interval_s=None)
        log: list[tuple[datetime, str, dict[str, Any]]] = []

        def tap(rid: str, frame: str, log: list[tuple[datetime, str, dict[str, Any]]] = log) -> None:
            if '"Instruction"' in frame or "Instruction" in frame[:80]:
                m = json.loads(frame)
                if str(m.get("message_type", "")).endswith("Instruction"):
                    log.append((clock.now(), rid, m))

        cem.frame_tap = tap
        port = await cem.start("127.0.0.1", 0)
        cems[name], frames[name] = cem, log
        sims[name] = [Simulator(k, f"ws://127.0.0.1:{port}/s2", TOKEN, clock=clock, tick_s=0.02,
                                report_every_s=0.2) for k in kinds]  # fmt: skip
    duration = hours * 3600.0
    tasks = [asyncio.create_task(s.run(duration_s=duration)) for ss in sims.values() for s in ss]
    samples: dict[str, list[tuple[datetime, list[tuple[float, float | None]]]]] = {n: [] for n in sites}
    congestion_at = DEMO_START + timedelta(seconds=duration / 2)
    office_limit_kw = 25.0
    congested = False
    end = DEMO_START + timedelta(seconds=duration)
    try:
        while True:
            now = clock.now()
            # checked before the end, so the DSO's signal is sent even when a loaded machine let
            # the simulated hours pass between two samples
            if not congested and now >= congestion_at:
                cems["office"].set_congestion_limit(import_kw=office_limit_kw)  # the DSO's signal
                congested = True
            if now >= end or all(t.done() for t in tasks):
                break
            for name, ss in sims.items():
                samples[name].append((now, [s.state() for s in ss]))
            await asyncio.sleep(sample_s)
        summaries = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for cem in cems.values():
            await cem.stop()
    i = 0
    for name, (_site_model, kinds) in sites.items():
        base_kw = 0.4 if name == "household" else 15.0
        fuse = 17.0 if name == "household" else 60.0
        times = [t for t, _ in samples[name]]
        power = np.array([[p for p, _ in row] for _, row in samples[name]]).reshape(len(times), len(kinds))
        site_kw = base_kw + power.sum(axis=1) / 1000.0
        limit = np.full(len(times), fuse)
        if name == "office":
            limit = np.where([t >= congestion_at for t in times], min(fuse, office_limit_kw), fuse)
        # 15-min slots in which the site exported at its limit: curtailment there is the limit's
        export_bound = {t.replace(minute=t.minute // 15 * 15, second=0, microsecond=0)
                        for t, kw, lim in zip(times, site_kw, limit, strict=True) if kw <= -lim + 0.5}  # fmt: skip
        devs = []
        prices = compile_site(_site_model).prices["day_ahead"]
        outcomes: dict[str, Any] = {}
        for sim in sims[name]:
            summ = summaries[i]
            i += 1
            devs.append({"kind": sim.kind, "resource_id": str(sim.resource_id),
                         "instructions": sum(1 for _, rid, _ in frames[name] if rid == str(sim.resource_id)),
                         "summary": summ if isinstance(summ, dict) else {"error": repr(summ)}})  # fmt: skip
            oc = _outcomes(sim, np.asarray(prices, float), min(clock.now(), end), export_bound)
            if oc is not None:
                outcomes[sim.kind] = oc
        cem = cems[name]
        out[name] = {
            "kinds": list(kinds),
            "plans": cem.plans,
            "replans": dict(cem.replans),
            "last_error": None if cem.last_error is None else str(cem.last_error),
            "fuse_kw": fuse,
            "congestion_limit_kw": office_limit_kw if name == "office" else None,
            "max_site_kw": round(float(site_kw.max(initial=0.0)), 2),
            "max_over_limit_kw": round(float(np.maximum(site_kw - limit, 0.0).max(initial=0.0)), 2),
            "imported_kwh": round(float(np.maximum(site_kw, 0).mean() * hours), 2) if times else 0.0,
            "devices": devs,
            "outcomes": outcomes,
            "_units": [s.fill_unit for s in sims[name]],
            "_series": (times, power, site_kw, limit, [_states(samples[name], j) for j in range(len(kinds))]),
        }
    out["_frames"] = frames
    return out


EV_NEED_TOL = 0.005
"""An EV's need counts as met at departure from (1 − this) × need (0.5 %: execution lags of seconds)."""
BAND_TOL_C = 0.1
"""A heat pump's buffer counts as inside its band within this many K (the thermostat's hysteresis)."""


def _outcomes(
    sim: Simulator, prices: np.ndarray, end: datetime, export_bound: set[datetime] | None = None
) -> dict[str, Any] | None:
    """What a device achieved in execution (not in the plan), with the reason of any shortfall:
    an EV's energy at departure against its need, a heat pump's buffer against its band, PV
    curtailed at a positive price (by 15-min slot, ``prices`` per slot from the demo's start); such
    curtailment is explained only in the slots of ``export_bound`` (the site's export at its limit)."""
    dev: Any = sim.device
    if sim.pv is not None:
        pos = {t: kwh for t, kwh in sim.pv.curtailed_by_slot.items()
               if (k := int((t - DEMO_START).total_seconds() // 900)) < len(prices) and prices[k] > 0}  # fmt: skip
        bound = {t: kwh for t, kwh in pos.items() if t in (export_bound or set())}
        free = sum(pos.values()) - sum(bound.values())
        why = (
            f"{sum(bound.values()):.3f} kWh while the site's export was at its limit (fuse / DSO)"
            if bound
            else ""
        )
        if free >= 0.01:
            why = f"{free:.3f} kWh curtailed at a positive price with no limit binding" + (
                f"; {why}" if why else ""
            )
        return {"curtailed_kwh": round(sim.pv.curtailed_kwh, 3),
                "curtailed_at_positive_price_kwh": round(sum(pos.values()), 3),
                "curtailed_with_a_limit_binding_kwh": round(sum(bound.values()), 3),
                "ok": free < 0.01, "why": why}  # fmt: skip
    if sim.kind == "ev" and dev is not None:
        got, need = dev.charged_at_departure_kwh, dev.need_kwh
        out = {"need_kwh": need, "charged_at_departure_kwh": None if got is None else round(got, 3)}
        if got is None:  # the run ended first: met only if the need can still be charged in time
            left_h = max(((dev.departure or end) - end).total_seconds(), 0.0) / 3600.0
            reachable = dev.charged_kwh + dev.p_max_w * dev.eta / 1000.0 * left_h >= need * (1 - EV_NEED_TOL)
            return {**out, "ok": reachable, "why": "the run ended before departure" + (
                "" if reachable else "; the need can no longer be charged in time")}  # fmt: skip
        ok = got >= need * (1 - EV_NEED_TOL)
        return {**out, "ok": ok, "why": "" if ok else f"{need - got:.2f} kWh short at departure"}
    if sim.kind == "heatpump" and dev is not None:
        temps = [f for _, f, _ in dev.history] or [dev.temp_c]
        lo, hi = dev.band_c
        t_min, t_max = min(temps), max(temps)
        ok = t_min >= lo - BAND_TOL_C and t_max <= hi + BAND_TOL_C
        why = "" if ok else f"buffer {t_min:.2f}..{t_max:.2f} °C outside its band {lo:g}..{hi:g} °C"
        return {"band_c": [lo, hi], "temp_min_c": round(t_min, 2), "temp_max_c": round(t_max, 2),
                "ok": ok, "why": why}  # fmt: skip
    return None


def _states(rows: list[tuple[datetime, list[tuple[float, float | None]]]], j: int) -> list[float | None]:
    return [row[j][1] for _, row in rows]


def _report(path: str | Path, result: dict[str, Any], hours: float, speed: float) -> Path:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from gridflex.reports.html import Section, write_report

    sections = [Section("About", text=(
        f"{hours:g} simulated hours from {DEMO_START:%Y-%m-%d %H:%M} UTC at {speed:g}x over real WebSocket "
        "connections on 127.0.0.1 (s2-ws-json, S2 0.0.2-beta). Half-way a DSO caps the office's import. "
        "Prices: Bundesnetzagentur | SMARD.de (CC BY 4.0), France day-ahead."))]  # fmt: skip
    for name in ("household", "office"):
        site = result[name]
        times, power, site_kw, limit, states = site["_series"]
        fig = go.Figure()
        fig.add_scatter(x=times, y=site_kw, name="site power (kW, + = import)")
        fig.add_scatter(x=times, y=limit, name="limit (fuse / congestion, kW)", line={"dash": "dash"})
        fig.update_layout(height=320, margin={"t": 30, "b": 30})
        rows = [("plans", str(site["plans"])), ("max site power", f"{site['max_site_kw']} kW"),
                ("max over the limit", f"{site['max_over_limit_kw']} kW"),
                ("re-plans by reason", json.dumps(site["replans"]))]  # fmt: skip
        for kind, oc in site.get("outcomes", {}).items():  # needs and bands as executed, with any shortfall
            rows.append((f"{kind} outcome", ("met" if oc["ok"] else "NOT met") + (f": {oc['why']}" if oc["why"] else "")
                         + " (" + ", ".join(f"{k}={v}" for k, v in oc.items() if k not in ("ok", "why")) + ")"))  # fmt: skip
        sections.append(Section(f"{name}: site power against its limit", figure=fig))
        sections.append(Section(f"{name}: figures", table=rows))
        instr = result["_frames"][name]
        for j, dev in enumerate(site["devices"]):
            f2 = make_subplots(specs=[[{"secondary_y": True}]])
            f2.add_scatter(x=times, y=power[:, j] / 1000.0, name="power (kW)")
            f2.update_yaxes(title_text="power (kW, + = consumption)", secondary_y=False)
            st = states[j]
            if any(v is not None for v in st):
                unit = site["_units"][j]
                f2.add_scatter(x=times, y=st, name=f"fill level ({unit})", secondary_y=True)
                f2.update_yaxes(title_text=f"fill level ({unit})", secondary_y=True)
            marks = [t for t, rid, _ in instr if rid == dev["resource_id"]]
            if marks:
                f2.add_scatter(x=marks, y=[0.0] * len(marks), mode="markers", name="instruction sent",
                               marker={"symbol": "triangle-up", "size": 8})  # fmt: skip
            f2.update_layout(height=280, margin={"t": 30, "b": 30})
            text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in dev["summary"].items() if k not in ("resource_id", "kind"))  # fmt: skip
            sections.append(Section(f"{name}: {dev['kind']} ({dev['instructions']} instructions)", text=text,
                                    figure=f2))  # fmt: skip
    return write_report(path, "gridflex S2 demo: a household and an office", sections)


MAX_WALL_S = 60.0
"""The demo keeps its wall-clock run under this."""
MAX_SPEED = 100_000.0
"""Faster, the devices' clock outruns the CEM's planning (and 1e300× overflows the clock)."""


def check_s2_demo_options(speed: float, hours: float) -> None:
    """Refuse options the demo cannot run (checked up front): raises ValidationError naming the option."""

    def bad(name: str, why: str) -> ValidationError:
        return ValidationError("demo s2 options", [Problem("demo s2", name, why)])

    # `not x > 0` also catches NaN, which compares false with everything
    if not (math.isfinite(speed) and 0 < speed <= MAX_SPEED):
        raise bad("speed", f"must be a number > 0 and at most {MAX_SPEED:g} (simulated seconds per real "
                           f"second), got {speed:g}")  # fmt: skip
    if not (math.isfinite(hours) and hours > 0):
        raise bad("hours", f"must be a finite number > 0, got {hours:g}")
    if hours * 3600.0 / speed > MAX_WALL_S:
        raise bad("hours", f"{hours:g} h at {speed:g}x would take {hours * 3600 / speed:.0f} s; the demo "
                           f"keeps under {MAX_WALL_S:.0f} s (raise --speed or lower --hours)")  # fmt: skip


def run_s2_demo(report_path: str | Path, speed: float = 1080.0, hours: float = 12.0) -> dict[str, Any]:
    """Run the demo (``hours`` simulated at ``speed``: 12 h at 1080× take 40 s) and write the report.

    Returns a summary: per site the plans, re-plans by reason, the largest site power and excess over
    its limit, and per device its kind, the instructions it received and its simulator summary.
    """
    check_s2_demo_options(speed, hours)
    t0 = time.perf_counter()
    result = asyncio.run(_run(speed, hours, sample_s=0.05))
    path = _report(report_path, result, hours, speed)
    summary: dict[str, Any] = {"report": str(path), "hours": hours, "speed": speed}
    for name in ("household", "office"):
        summary[name] = {k: v for k, v in result[name].items() if not k.startswith("_")}
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    with contextlib.suppress(Exception):
        json.dumps(summary, default=str)
    return summary
