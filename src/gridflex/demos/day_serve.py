"""``gridflex demo --serve``: the day of :mod:`gridflex.demos.day` recorded live in a real ``gridflex serve``.

The day runs exactly as ``gridflex demo`` (one code path); :class:`ServiceSink` is its
:class:`~gridflex.demos.day.DaySink` and writes what each actor does through the REST API with
:class:`gridflex.client.Client`, each actor with its own organisation and token:

* the **admin** (the first token the fresh store prints) creates the organisations ``dso``,
  ``aggregator``, ``brp``, ``market-operator`` and a prosumer per site (named as the site, as in the
  day's portfolio settlement), and a token for each;
* the **DSO** creates grid area ``mv-semiurb`` with one congestion point, the feeder (named after its
  most loaded branch); the **aggregator** uploads its sites (the CEMs' site files), registers a
  connection point per site behind the feeder in the BRP's perimeter, naming the site's prosumer, and
  uploads the sites' flex-offers (FlexOffer JSON);
* the DSO posts one FlexRequest (up) over the requested ISPs: per ISP the largest of its branches'
  overloads (the pools' buses have sensitivities of about 1 on them), or the pools' offers together
  where they are more (a pool offer has one activation factor over its ISPs, so the day's clearing
  may buy more than the overload in some ISP); the aggregator answers with one offer per pool at the
  pool's price;
* the DSO accepts the offers the network-aware clearing accepted and closes the request, activates
  each at the cleared kW (the penalty of the day), the aggregator acknowledges naming the pool's sites
  and dispatches each site's part to its prosumer at the site's price (decision 0032);
* the meters are uploaded as simulated time passes, an hour at a time; at the end the DSO settles
  the day with each site's D-prognosis as a fixed baseline (the day's nominated one), and the
  aggregator settles its portfolio (what it pays its prosumers) on the same baselines.

Times: the service checks them against its own clock (offers close before the delivery starts,
activations only for ISPs to come), so the simulated day (2018-01-17) is recorded as the next UTC
day of the service's calendar, shifted by whole days; quarter-hours keep their time of day.
Signs: power positive = consumption; flexibility **up** = more power into the grid.
"""

from __future__ import annotations

import atexit
import os
import queue
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from gridflex.demos.day import (
    AGGREGATOR,
    BRP,
    DSO,
    GRID,
    MAX_PRICE_EUR_PER_MWH,
    PENALTY_EUR_PER_MWH,
    DayConfig,
    DayResult,
    DaySink,
    SiteRun,
)
from gridflex.demos.day_sites import ISP_S, LiveSites, meter, site_document
from gridflex.errors import DataError
from gridflex.flexoffer.from_site import SiteFlexOffers, site_flexoffers_to_json
from gridflex.market.local import FlexOffer, FlexRequest, LocalResult
from gridflex.market.products import Product
from gridflex.timegrid import TimeGrid

__all__ = ["MARKET_OPERATOR", "Served", "ServiceSink", "start_server"]

MARKET_OPERATOR = "market-operator"
ROLES = {DSO: ["dso"], AGGREGATOR: ["aggregator"], BRP: ["brp"], MARKET_OPERATOR: ["market_operator"]}
"""The day's organisations besides its sites' prosumers (one per site, named as the site)."""
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?(\.\d+)?(Z|[+-]\d\d:\d\d)")
UPLOAD_EVERY_S = 3600  # meter readings go up once per simulated hour
STOP_S = 90.0  # at most this for the server's clean stop, then it is killed


@dataclass
class Served:
    """A ``gridflex serve`` started by the demo: its process, URL and first admin token."""

    process: subprocess.Popen[str]
    url: str
    admin_token: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                # its clean stop (requests, job runners, their processes, then the store) may take tens
                # of seconds on a loaded machine; a killed server leaves serve.db-wal and -shm behind
                self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(db: str, port: int = 0, host: str = "127.0.0.1", log: Path | None = None) -> Served:
    """``gridflex serve`` on ``db`` (an empty store: its first admin token is how the demo creates
    the actors), without a rate limit (the demo's uploads come in bursts). What the server prints
    goes to ``log`` (default: nowhere), never to the demo's stdout, and never fills a pipe."""
    cmd = [sys.executable, "-m", "gridflex.cli", "serve", "--db", db, "--host", host, "--port", str(port),
           "--rate-limit", "0"]  # fmt: skip
    sink = open(log, "a", encoding="utf-8") if log is not None else open(os.devnull, "w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sink, text=True)
    assert proc.stdout is not None
    printed = ""
    while "serving on" not in printed:
        line = proc.stdout.readline()
        if not line:
            proc.wait()
            sink.close()
            said = log.read_text(encoding="utf-8").strip().splitlines()[-1:] if log is not None else []
            raise DataError(
                f"gridflex serve did not start (exit code {proc.returncode}): {' '.join(said) or 'see its log'}"
            )
        printed += line
    threading.Thread(target=_drain, args=(proc.stdout, sink), daemon=True).start()
    url = re.search(r"serving on (\S+)", printed)
    token = re.search(r"gfx_\S+", printed)
    served = Served(proc, url[1] if url else "", token[0] if token else "")
    if not token:
        served.stop()
        raise DataError(f"--db {db}: the store is not empty (no first admin token): give a new database")
    return served


def _drain(stream: Any, out: Any) -> None:
    """The server's later output into its log (a pipe nobody reads would stop the server when full)."""
    with out:
        for line in stream:
            out.write(line)
            out.flush()


@dataclass(eq=False)
class ServiceSink(DaySink):
    """The day's actors, each through the API with its own token (module doc)."""

    url: str
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)  # actor → secret
    org_ids: dict[str, int] = field(default_factory=dict)
    shift: timedelta = timedelta(0)  # simulated day → the service's day
    counts: dict[str, int] = field(default_factory=dict)  # what went through the API
    _sites: dict[str, SiteRun] = field(default_factory=dict)
    _offer_ids: dict[str, int] = field(default_factory=dict)  # pool offer → service offer
    _request: dict[str, Any] = field(default_factory=dict)
    _need_kw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # the worst overload per ISP
    _branch: str = ""
    _grid_start: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    _first_isp: int = 0  # the request's first ISP in the product
    _k0: int = 0  # the request's first ISP in the window
    _uploaded_to: float = 0.0  # simulated timestamp up to which readings are up
    _queue: queue.Queue[tuple[list[dict[str, Any]], dict[int, Any]] | None] = field(
        default_factory=queue.Queue
    )
    _site_ids: dict[str, int] = field(default_factory=dict)  # site → the service's id
    _dispatched: set[str] = field(default_factory=set)  # sites with a dispatch to their prosumer
    _worker: threading.Thread | None = None
    _failed: list[BaseException] = field(default_factory=list)

    def client(self, actor: str) -> Any:
        from gridflex.client import Client

        return Client(self.url, self.tokens[actor] if actor != "admin" else self.admin_token, timeout_s=60.0)

    def _count(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def at(self, t: datetime) -> str:
        return f"{t + self.shift:%Y-%m-%dT%H:%M:%SZ}"

    # -- the actors and their tokens
    def setup(self, config: DayConfig, today: datetime | None = None) -> None:
        """The organisations and a token each; the service's day is tomorrow (UTC)."""
        now = today or datetime.now(UTC)
        day = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        self.shift = day - config.start
        with self.client("admin") as admin:
            for name, roles in (ROLES | {s.name: ["prosumer"] for s in config.sites}).items():
                org = admin.request("POST", "/v1/participants", json={"name": name, "roles": roles})
                self.org_ids[name] = org["id"]
                tok = admin.request("POST", "/v1/tokens", json={"name": "demo", "org_id": org["id"]})
                self.tokens[name] = tok["secret"]
        self._count("organisations", len(self.org_ids))
        self._worker = threading.Thread(target=self._upload_loop, name="demo-readings", daemon=True)
        self._worker.start()

    # -- the market round (the clock holds)
    def requested(self, config: DayConfig, grid: TimeGrid, product: Product, requests: list[FlexRequest],
                  branch: str, sites: dict[str, SiteRun]) -> None:  # fmt: skip
        self._sites, self._grid_start = sites, grid.start
        k0 = 96 - config.periods
        self._first_isp = min(r.isp for r in requests)
        isps = sorted({r.isp for r in requests})
        need = np.zeros(isps[-1] - isps[0] + 1)
        for r in requests:
            k = r.isp - isps[0]
            need[k] = max(need[k], r.power_mw * 1000.0)
        self._k0 = isps[0] - k0
        self._need_kw, self._branch = need, branch
        with self.client(DSO) as dso:
            area = dso.request("POST", "/v1/grid-areas", json={"name": GRID})
            dso.request("POST", f"/v1/grid-areas/{area['id']}/congestion-points", json={"name": branch})
        with self.client(AGGREGATOR) as agg:
            for name, run in sites.items():
                self._site_ids[name] = agg.request(
                    "POST", "/v1/sites", json=site_document(run.spec, config.start)
                )["id"]
                agg.register_connection_point(
                    name, branch, self.org_ids[BRP], prosumer_org_id=self.org_ids[name]
                )
            self._count("sites", len(sites))

    def offered(self, flexoffers: SiteFlexOffers, offers: list[FlexOffer]) -> None:
        """The flex-offers, the DSO's request and the aggregator's pool offers. The request asks per
        ISP for its worst branch's overload, or for the pools' offers together where they are more:
        a pool offer has one activation factor over all its ISPs, so the day's clearing may buy more
        than the overload in some ISP (decision 0029, 3)."""
        doc = site_flexoffers_to_json(flexoffers) | {"name": "the sites' flex-offers"}
        doc = _shifted(doc, self.shift)
        kw = {o.offer_id: np.floor(self._per_request_isp(o) * 100.0) / 100.0 for o in offers}
        want = np.maximum(
            np.ceil(self._need_kw * 100.0) / 100.0, sum(kw.values(), np.zeros(len(self._need_kw)))
        )
        start = self._grid_start + timedelta(seconds=ISP_S * self._k0)
        with self.client(DSO) as dso:
            self._request = dso.request("POST", "/v1/flex-requests", json={
                "congestion_point": self._branch, "direction": "up", "start": self.at(start), "isp_s": ISP_S,
                "volume_kw": [round(float(x), 2) for x in want], "max_price_eur_per_mwh": MAX_PRICE_EUR_PER_MWH,
            })  # fmt: skip
        self._count("flex requests")
        with self.client(AGGREGATOR) as agg:
            agg.request("POST", "/v1/flex-offers", json=doc)
            for o in offers:
                if not (kw[o.offer_id] > 0).any():
                    continue
                got = agg.request("POST", f"/v1/flex-requests/{self._request['id']}/offers", json={
                    "volume_kw": kw[o.offer_id].tolist(), "price_eur_per_mwh": o.price_eur_per_mwh})  # fmt: skip
                self._offer_ids[o.offer_id] = got["id"]
        self._count("flex-offer documents")
        self._count("offers", len(self._offer_ids))

    def _per_request_isp(self, o: FlexOffer) -> np.ndarray:
        """An offer's kW on the request's ISPs (0 where it offers nothing)."""
        out = np.zeros(len(self._need_kw))
        mw = np.broadcast_to(np.asarray(o.power_mw, dtype=float), (len(o.isps),))
        for isp, v in zip(o.isps, mw, strict=True):
            if 0 <= isp - self._first_isp < len(out):
                out[isp - self._first_isp] = v * 1000.0
        return out

    def cleared(self, cleared: LocalResult, activated_kw: dict[str, np.ndarray]) -> None:
        with self.client(DSO) as dso, self.client(AGGREGATOR) as agg:
            for pool, service_id in self._offer_ids.items():
                node = pool.removeprefix("pool-")
                kw = activated_kw.get(node)
                if cleared.activation.get(pool, 0.0) <= 0 or kw is None:
                    continue
                offered = dso.request("POST", f"/v1/flex-request-offers/{service_id}/accept")
                window = kw[self._k0 : self._k0 + len(offered["volume_kw"])]
                power = np.minimum(np.floor(window * 100.0) / 100.0, offered["volume_kw"])
                act = dso.activate(service_id, power.tolist(), PENALTY_EUR_PER_MWH)
                members = sorted(n for n, s in self._sites.items() if s.bus_name == node)
                agg.acknowledge_activation(act["id"], members)
                self._count("activations")
                self._dispatch(agg, act, members)
            dso.request("POST", f"/v1/flex-requests/{self._request['id']}/close")

    def _dispatch(self, agg: Any, act: dict[str, Any], members: list[str]) -> None:
        """Each member's part of the activation (its baseline minus the schedule the day gave it) to its
        prosumer at the site's price, as the day's portfolio settlement has it; only in the ISPs the
        activation calls (the day's part where the service's order, floored to 0.01 kW, is 0 is < 0.01 kW)."""
        called = np.asarray(act["power_kw"]) > 0
        for name in members:
            s = self._sites[name]
            if s.target_kw is None:
                continue
            part = (s.plan_kw - s.target_kw)[self._k0 : self._k0 + len(called)]
            kw = np.where(called & (part > 1e-6), np.round(part, 6), 0.0)
            if kw.any():
                agg.dispatch(act["id"], name, kw.tolist(), s.price_eur_per_mwh)
                self._dispatched.add(name)
                self._count("dispatches")

    # -- delivery: the meters, an hour of simulated time at a time
    def metered(self, live: LiveSites, grid: TimeGrid) -> None:
        now = live.clock.now().timestamp()
        if now - self._uploaded_to < UPLOAD_EVERY_S and now < grid.end.timestamp():
            return
        self._uploaded_to = now
        self._queue.put((self._readings(live, grid, now), self._devices(live)))

    def _readings(self, live: LiveSites, grid: TimeGrid, upto: float) -> list[dict[str, Any]]:
        """The meters of the ISPs that have ended by ``upto``: the day's own metering (its seed, so a
        reading sent now is the one the day settles on)."""
        done = int((upto - grid.start.timestamp()) // ISP_S)
        if done <= 0 or not self._sites or not all(len(live.samples[n]) >= 2 for n in live.samples):
            return []
        kw = meter(live, grid, np.random.default_rng(live.config.seed), live.config.meter_noise_kw)
        return self._series(kw, grid, min(done, grid.n))

    def _series(self, kw: dict[str, np.ndarray], grid: TimeGrid, n: int) -> list[dict[str, Any]]:
        return [{"connection_point": name, "start": self.at(grid.start), "isp_s": ISP_S,
                 "power_kw": [round(float(x), 3) for x in v[:n]]} for name, v in kw.items()]  # fmt: skip

    def _devices(self, live: LiveSites) -> dict[int, Any]:
        """Each site's S2 devices as its CEM and simulators see them now (the service's site id → the
        body of ``PUT /v1/sites/{id}/s2-devices``): control type, power, fill, the instruction in force."""
        now = live.clock.now()
        at = self.at(now)
        out: dict[int, Any] = {}
        for name, sims in live.sims.items():
            if name not in self._site_ids:  # before the round: the sites are not uploaded yet
                continue
            cem = live.cems[name]
            devices = []
            for sim in sims:
                rid = str(sim.resource_id)
                dev = cem.devices.get(rid)
                power_w, fill = sim.state()
                # the instruction in force: the latest one due by now (the CEM also sends the plan's next ones)
                last = next(
                    (m for m in reversed(sim.received) if getattr(m, "execution_time", now) <= now), None
                )
                since = getattr(last, "execution_time", None)
                devices.append({
                    "resource_id": rid, "name": f"{name} {sim.kind}", "connected": rid in cem.connections,
                    "control_type": dev.control_type.value if dev is not None else "NO_SELECTION",
                    "power_kw": round(float(power_w) / 1000.0, 3),
                    "fill": None if fill is None else round(float(fill), 3), "fill_unit": sim.fill_unit or None,
                    "last_instruction": None if last is None else type(last).__name__,
                    "last_instruction_at": None if since is None else self.at(since),
                    "instructions": len(sim.received),
                })  # fmt: skip
            out[self._site_ids[name]] = {"at": at, "devices": devices}
        return out

    def _upload_loop(self) -> None:
        client = self.client(AGGREGATOR)
        try:
            while (item := self._queue.get()) is not None:
                batch, devices = item
                if self._failed:
                    continue
                try:
                    for site_id, body in devices.items():
                        client.request("PUT", f"/v1/sites/{site_id}/s2-devices", json=body)
                    if batch:
                        client.upload_readings(batch)
                        self._count("meter uploads")
                except BaseException as exc:  # reported by settled(), not lost in the thread
                    self._failed.append(exc)
        finally:
            client.close()

    # -- settlement
    def settled(self, result: DayResult) -> None:
        final = self._series({m: result.metered_kw[i] for i, m in enumerate(result.meter_ids)}, result.grid,
                             result.grid.n)  # fmt: skip
        self._queue.put((final, {}))
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join()
        if self._failed:
            raise self._failed[0]
        start, end = self.at(result.grid.start), self.at(result.grid.start + timedelta(days=1))
        activated = sorted(n for n, s in self._sites.items() if s.target_kw is not None)
        if not activated:
            return
        # the nominated baseline (the day's D-prognosis) as the service's fixed reference, per meter
        reference = [[round(float(x), 6) for x in result.sites[m].plan_kw] for m in activated]
        price = _mean_price(result)
        with self.client(DSO) as dso:
            job = dso.run_settlement(start, end, {"method": "fixed", "reference_kw": reference}, tz="UTC",
                                     history_days=0, transfer_price_eur_per_mwh=price)  # fmt: skip
            _succeeded(dso, job)
        self._count("settlements")
        if not self._dispatched:
            return
        # the aggregator pays its prosumers on the same baselines (the day's portfolio document)
        reference = [[round(float(x), 6) for x in result.sites[m].plan_kw] for m in sorted(self._dispatched)]
        with self.client(AGGREGATOR) as agg:
            job = agg.run_settlement(start, end, {"method": "fixed", "reference_kw": reference}, tz="UTC",
                                     history_days=0, portfolio=True)  # fmt: skip
            _succeeded(agg, job)
        self._count("settlements")

    def close(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=10)


def _succeeded(client: Any, job: dict[str, Any]) -> None:
    """Settlement is a job: the day is settled when it has succeeded, not when it was queued."""
    done = client.wait_job(job["id"], timeout_s=600)
    if done["status"] != "succeeded":
        raise RuntimeError(f"the service's settlement job {job['id']} failed: {done.get('message')}")


def _mean_price(result: DayResult) -> float:
    """The day-ahead price over the activated ISPs: the service settles the BRP correction at one price
    (the day: each ISP's own)."""
    on = np.zeros(result.grid.n, dtype=bool)
    for s in result.sites.values():
        if s.target_kw is not None:
            on |= s.plan_kw - s.target_kw > 1e-6
    prices = np.maximum(result.prices_eur_per_mwh[on], 0.0) if on.any() else np.zeros(1)
    return round(float(prices.mean()), 2)


def _shifted(doc: dict[str, Any], shift: timedelta) -> dict[str, Any]:
    """A FlexOffer document with its times moved by ``shift`` (the service's day)."""

    def move(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: move(x) for k, x in v.items()}
        if isinstance(v, list):
            return [move(x) for x in v]
        if isinstance(v, str) and ISO_TIME.fullmatch(v):
            t = datetime.fromisoformat(v.replace("Z", "+00:00"))
            return f"{(t + shift).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        return v

    out: dict[str, Any] = move(doc)
    return out


def tokens_text(sink: ServiceSink) -> list[tuple[str, str]]:
    """(actor, token) to print: a token per organisation (the sites' prosumers last)."""
    return [(name if name in ROLES else f"{name} (prosumer)", secret) for name, secret in sink.tokens.items()]


def default_db(out: Path) -> str:
    """A fresh SQLite store in the output folder (an old one from an earlier run is replaced)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("serve.db*"):
        old.unlink()
    return f"sqlite:///{out / 'serve.db'}"


def run_served_day(
    config: DayConfig, db: str, port: int = 0, on_step: Any = None, on_ready: Any = None,
    log: Path | None = None, on_clock: Any = None,
) -> tuple[DayResult, ServiceSink, Served]:  # fmt: skip
    """Start ``gridflex serve`` on ``db``, create the actors, and run the day with the service as its
    sink; ``on_ready(sink)`` once the actors and their tokens exist (before the day starts). The
    server keeps running: the caller stops it (``Served.stop``)."""
    from gridflex.demos.day import check_day_config, run_day

    check_day_config(config)
    served = start_server(db, port, log=log)
    atexit.register(served.stop)  # whatever happens after the day, the server does not outlive us
    sink = ServiceSink(served.url, served.admin_token)
    try:
        sink.setup(config)
        if on_ready is not None:
            on_ready(sink)
        result = run_day(config, on_step=on_step, sink=sink, on_clock=on_clock)
    except BaseException:
        sink.close()
        served.stop()
        raise
    return result, sink, served
