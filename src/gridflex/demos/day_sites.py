"""The live sites of the day (``gridflex demo``): CEMs and S2 device simulators on one held clock.

Each site runs its own CEM on 127.0.0.1 with one ``gridflex rm simulate`` simulator per device over
a real WebSocket; :func:`held_clock` stops simulated time while the day's market round runs. Here
too: a site's baseline and its jointly feasible up flexibility from its CEM's plans, the market's
answer as the CEM's import cap (the S2 instructions follow from its re-plan), and the site's meter.
Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from gridflex.errors import DataError
from gridflex.flexoffer.from_site import SiteFlexibility
from gridflex.s2.clock import Clock
from gridflex.timegrid import TimeGrid

TOKEN = "day-token"
ISP_S = 900
ZONE = "Germany/Austria/Luxembourg"
SITE_MARGIN_EUR_PER_MWH = 40.0
MIN_UP_KW = 0.05  # less up flexibility in an ISP is not offered


def site_document(spec: Any, start: datetime) -> dict[str, Any]:
    """The CEM's site file: its fuse, base load and the SMARD prices of the zone (read by timestamp)."""
    return {
        "name": spec.name, "time": {"start": start.isoformat(), "step_s": ISP_S, "n_periods": 96},
        "prices": {"day_ahead_eur_per_mwh": {"smard": {"zone": ZONE}}},
        "assets": [{"kind": "grid_connection", "name": "meter", "fuse_kw": spec.fuse_kw},
                   {"kind": "load", "name": "base", "profile_kw": spec.base_kw}],
    }  # fmt: skip


def site_file(spec: Any, start: datetime) -> Any:
    """The CEM's site (:func:`site_document`, parsed)."""
    from gridflex.scheduling import parse_site

    return parse_site(site_document(spec, start))


def window_kw(plan: Any, start: datetime, n: int, before: np.ndarray | None = None) -> np.ndarray:
    """A CEM plan's net import on the day's window (``n`` ISPs from ``start``); the ISPs a later plan
    no longer covers (already past when it was made) from ``before``."""
    k0 = int((start - plan.start).total_seconds()) // ISP_S
    kw = np.asarray(plan.net_import_kw, dtype=float)
    if k0 >= 0 and len(kw) >= k0 + n:
        return kw[k0 : k0 + n].copy()
    if k0 < 0 and before is not None and len(kw) >= n + k0:
        return np.concatenate([before[:-k0], kw[: n + k0]])
    raise DataError(f"a plan from {plan.start:%H:%M} does not cover the day's window from {start:%H:%M}")


def energy_cost_eur(plan: Any) -> float:
    """A plan's cost without its penalties (the congestion cap's excess): what its energy costs."""
    return float(sum(v for k, v in plan.costs_eur.items() if k not in ("total", "penalty")))


def held_clock(speed: float, start: datetime) -> Clock:
    """An accelerated clock that starts held and stands still while a CEM plans: connecting the
    devices, the first plans and the market round take no simulated time, so the window starts when
    the day says (:meth:`~gridflex.s2.clock.Clock.release` starts it)."""
    return Clock(speed, start, stops_for_planning=True, held=True)


class LiveSites:
    """The CEMs and simulators of the day, with their sampled power (site kW per sample)."""

    def __init__(self, config: Any, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self.cems: dict[str, Any] = {}
        self.sims: dict[str, list[Any]] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.samples: dict[str, list[tuple[float, float]]] = {s.name: [] for s in config.sites}
        self.received_at: dict[str, list[float]] = {s.name: [] for s in config.sites}

    async def start(self) -> None:
        from gridflex.s2.rm.simulators import Simulator
        from gridflex.s2.server import CEM

        end = self.config.start + timedelta(days=1)
        for spec in self.config.sites:
            cem = CEM(site_file(spec, self.config.start), {TOKEN: None}, clock=self.clock, debounce_s=0.05,
                      ping_interval_s=None)  # fmt: skip
            port = await cem.start("127.0.0.1", 0)
            sims = [Simulator(k, f"ws://127.0.0.1:{port}/s2", TOKEN, clock=self.clock, tick_s=0.02,
                              report_every_s=0.2) for k in spec.kinds]  # fmt: skip
            for sim in sims:
                if sim.kind == "ev":  # plugged in from the start, leaves before midnight with its need
                    sim.device.arrival_after_s = 0.0
                    sim.device.departure_after_s = (end - self.config.start).total_seconds() - 600.0
            self.cems[spec.name], self.sims[spec.name] = cem, sims
        duration = (end - self.config.start).total_seconds()
        self.tasks = [
            asyncio.create_task(s.run(duration_s=duration)) for ss in self.sims.values() for s in ss
        ]

    def controlled(self) -> bool:
        return all(s.controlled for ss in self.sims.values() for s in ss)

    def sample(self) -> None:
        now = self.clock.now().timestamp()
        for spec in self.config.sites:
            kw = spec.base_kw + sum(s.state()[0] for s in self.sims[spec.name]) / 1000.0
            self.samples[spec.name].append((now, kw))

    async def stop(self, cancel: bool = False) -> list[Any]:
        """Wait for the simulators to end their day (``cancel``: end them now), then stop the CEMs."""
        if cancel:
            for t in self.tasks:
                t.cancel()
        out = await asyncio.gather(*self.tasks, return_exceptions=True)
        for cem in self.cems.values():
            await cem.stop()
        return list(out)


async def first_plans(live: LiveSites, timeout_s: float = 60.0) -> dict[str, Any]:
    """Each CEM's first plan with all its devices under control (the sites' baselines)."""
    t0 = time.monotonic()
    while True:
        if live.controlled():
            for cem in live.cems.values():
                cem.request_replan("day-ahead")
            break
        if time.monotonic() - t0 > timeout_s or any(t.done() for t in live.tasks):
            raise DataError("the S2 devices did not all come under control of their CEMs")
        await asyncio.sleep(0.02)
    counts = {n: c.plans for n, c in live.cems.items()}
    while any(c.plans <= counts[n] for n, c in live.cems.items()):
        if time.monotonic() - t0 > timeout_s:
            raise DataError("a CEM did not plan its site")
        await asyncio.sleep(0.02)
    return {n: c.last_plan for n, c in live.cems.items()}


def capped_plan(cem: Any, start: datetime, isps: np.ndarray, n: int) -> Any:
    """The site's plan with its import capped at zero over ``isps`` (of the window from ``start``):
    the same devices and needs (the CEM's own snapshot), a model of its own (the CEM's warm one is left)."""
    from gridflex.s2.planner import plan_site

    req = replace(cem.snapshot(), warm=None)
    times = req.start + timedelta(seconds=ISP_S) * np.arange(req.n)
    k = ((np.array([t.timestamp() for t in times]) - start.timestamp()) // ISP_S).astype(int)
    cap = np.where(np.isin(k, isps), 0.0, np.inf)
    req.import_limit_kw = cap if req.import_limit_kw is None else np.minimum(req.import_limit_kw, cap)
    return plan_site(cem.site, req)


def meter(
    live: LiveSites, grid: TimeGrid, rng: np.random.Generator, noise_kw: float
) -> dict[str, np.ndarray]:
    """Each site's sampled power averaged per ISP (time-weighted), plus seeded meter noise."""
    out = {}
    edges = grid.start.timestamp() + ISP_S * np.arange(grid.n + 1)
    for spec in live.config.sites:
        name, samples = spec.name, live.samples[spec.name]
        if len(samples) < 2:
            raise DataError(f"{name}: too few power samples to meter the day")
        t, kw = (np.asarray(x, dtype=float) for x in zip(*samples, strict=True))
        # integrate the sampled power (held until the next sample) over each ISP
        cum = np.concatenate([[0.0], np.cumsum(kw[:-1] * np.diff(t))])
        at = np.interp(edges, t, cum)
        mean = np.diff(at) / ISP_S
        covered = (edges[1:] <= t[-1] + 1e-6) & (edges[:-1] >= t[0] - ISP_S)
        mean = np.where(covered, mean, kw[-1])
        # like sites behave as the live one; their meters' errors are independent
        out[name] = spec.like_sites * mean + rng.normal(0.0, noise_kw * np.sqrt(spec.like_sites), grid.n)
    return out


def site_flexibility(cem: Any, run: Any, start: datetime, isps: np.ndarray, n: int) -> SiteFlexibility:
    """The site's up flexibility in ``isps`` (window indices) and its price (module doc, step 2)."""
    from gridflex.s2.planner import plan_site

    capped = capped_plan(cem, start, isps, n)
    free = plan_site(cem.site, replace(cem.snapshot(), warm=None))  # the same snapshot, uncapped
    run.capped_kw = run.spec.like_sites * window_kw(capped, start, n, run.plan_kw / run.spec.like_sites)
    up = np.zeros(n)
    up[isps] = np.clip(run.plan_kw[isps] - run.capped_kw[isps], 0.0, None)
    up[up < MIN_UP_KW] = 0.0
    run.up_kw = up
    up_mwh = float(up.sum()) * ISP_S / 3600.0 / 1000.0
    extra = max(energy_cost_eur(capped) - energy_cost_eur(free), 0.0) * run.spec.like_sites
    run.flex_cost_eur = extra
    run.price_eur_per_mwh = round((extra / up_mwh if up_mwh > 0 else 0.0) + SITE_MARGIN_EUR_PER_MWH, 2)
    return SiteFlexibility(run.spec.name, run.bus_name, start, run.plan_kw, up, np.zeros(n),
                           price_up_eur_per_mwh=run.price_eur_per_mwh)  # fmt: skip


async def instruct(live: LiveSites, sites: dict[str, Any], grid: TimeGrid, timeout_s: float = 30.0) -> None:
    """Each activated site's new schedule as its CEM's import cap over the activated ISPs (the fuse
    elsewhere in between); waits until every such CEM has re-planned (its instructions are sent)."""
    plans_before = {}
    for name, run in sites.items():
        run.received_before = {s.kind: len(s.received) for s in live.sims[name]}
        run.instructions_before = sum(run.received_before.values())
        if run.target_kw is None:
            continue
        on = np.flatnonzero(run.plan_kw - run.target_kw > 1e-6)
        if not len(on):
            run.target_kw = None
            continue
        cap = [(grid.start + timedelta(seconds=ISP_S * int(k)),
                float(run.target_kw[k]) / run.spec.like_sites if k in on else run.spec.fuse_kw) for k in range(on[0], on[-1] + 1)]  # fmt: skip
        cap.append((grid.start + timedelta(seconds=ISP_S * (int(on[-1]) + 1)), run.spec.fuse_kw))
        plans_before[name] = live.cems[name].plans
        live.cems[name].set_congestion_limit(import_kw=cap)
    t0 = time.monotonic()
    while any(live.cems[n].plans <= p for n, p in plans_before.items()):
        if time.monotonic() - t0 > timeout_s:
            raise DataError("a CEM did not re-plan after its activation")
        await asyncio.sleep(0.02)
