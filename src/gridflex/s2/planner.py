"""Run the S2 devices of a site through the site optimiser (``gridflex.scheduling``).

:func:`plan_site` is pure and synchronous (the CEM calls it in a worker thread): it appends the
devices' assets (the FRBC fleet, :func:`~gridflex.assets.power_envelope.power_envelope_assets`, the PPBC / OMBC / DDBC
device assets, fixed loads of NOT_CONTROLABLE devices) to the site's own assets (grid connection with its fuse
limit, prices, CO2, other loads and PV), moves the horizon to ``start``, builds the site model,
adds the FRBC fill-level targets as soft bounds and solves. The site file's per-period series
(prices, profiles) are read at the new horizon's timestamps (:func:`~gridflex.scheduling.site_on_horizon`:
a 24 h site file is a daily profile), so a CEM that runs for days plans against the right prices.
The devices are assets of the Asset union like the site's own, so the site with its devices is
validated as any site and compiled once per cold plan (the base site once per CEM, kept in the
:class:`WarmModel`). Only public scheduling/assets API is used.

All FRBC devices enter as one asset (:class:`~gridflex.assets.fill_rate.FillRateFleetAsset`, the lean formulation
of docs/s2.md). A congestion limit (``import_limit_kw`` / ``export_limit_kw``, set by a DSO at run time)
caps the site's net import / export over all its electricity grid connections, softly (each kWh over
costs ``CONGESTION_PENALTY_EUR_PER_KWH``). With ``req.warm`` (a :class:`WarmModel` the CEM keeps),
a request that differs from the previous one only in FRBC data (fill levels, usage, targets, mode
limits) and congestion limits changes bounds and right-hand sides of the kept model and re-solves
from the last basis; anything else (another device, another period start) builds anew.
"""

from __future__ import annotations

import functools
import hashlib
import pickle
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import numpy as np
import pydantic

from gridflex.assets.fill_rate import FillRateFleet, FillRateFleetAsset, fleet_signature
from gridflex.assets.power_envelope import PowerEnvelopeDevice, power_envelope_assets
from gridflex.errors import Problem, ValidationError
from gridflex.s2.control.frbc import FLEET_ASSET, FrbcInputs
from gridflex.scheduling import (
    CompiledSite,
    Site,
    build_site_model,
    compile_site,
    site_on_horizon,
    solve_site_model,
)
from gridflex.scheduling.hub import SiteModel
from gridflex.scheduling.rolling import Commitments, record

GAS_EUR_PER_MWH = 40.0
"""Gas price of the grid connection the CEM adds for gas-using S2 devices when the site has none."""

CONGESTION_PENALTY_EUR_PER_KWH = 100_000.0
"""Cost of each kWh by which the site's import (export) exceeds a congestion limit."""
TIE_BREAK_EUR_PER_MWH = 1e-3
"""Added to the cost of every import and export of the electricity grid connections."""


@dataclass
class WarmModel:
    """The last site model, kept between plans so a data-only change re-solves warm (see module doc)."""

    key: bytes = b""
    base: CompiledSite | None = None  # the base site compiled (once per CEM)
    sm: SiteModel | None = None
    fleet: FillRateFleet | None = None
    congestion: Any = None  # ConstrBlock of the congestion rows (None: no electricity grid connection)
    solution: list[Any] = field(default_factory=list)  # the last Solution, captured by a reader
    warm_solves: int = 0
    cold_builds: int = 0
    # what the plans did in the site file's open windows (EV energy so far, process runs started)
    commitments: Commitments = field(default_factory=Commitments)


@dataclass
class PlanRequest:
    """Everything a plan needs, as plain data (a snapshot taken on the event loop)."""

    start: datetime
    step_s: int
    n: int
    frbc: list[FrbcInputs] = field(default_factory=list)
    pebc: list[PowerEnvelopeDevice] = field(default_factory=list)
    loads_kw: dict[str, np.ndarray] = field(default_factory=dict)  # NOT_CONTROLABLE devices, + = load
    import_limit_kw: np.ndarray | None = None  # congestion: net import cap per period (inf: none)
    export_limit_kw: np.ndarray | None = None  # congestion: net export cap per period (inf: none)
    warm: WarmModel | None = None  # kept by the CEM; not part of the request's data
    extra: list[Any] = field(default_factory=list)  # PPBC / OMBC / DDBC device assets (power_sequence, ...)
    time_limit_s: float | None = None  # HiGHS' time limit per solve (None: none); the best plan found
    mip_rel_gap: float = 1e-6  # by then is used (Plan.status "time_limit")

    def devices(self) -> list[str]:
        """The device names in the request (``s2-<resource id>``), each once, in order."""
        names = [f.name for f in self.frbc] + [p.name for p in self.pebc] + list(self.loads_kw)
        names += [a.name.split("/")[0] for a in self.extra]
        return list(dict.fromkeys(names))

    def without(self, name: str) -> PlanRequest:
        """The same request without device ``name`` (its FRBC, PEBC, load or PPBC/OMBC/DDBC part)."""
        return replace(
            self, frbc=[f for f in self.frbc if f.name != name], pebc=[p for p in self.pebc if p.name != name],
            loads_kw={k: v for k, v in self.loads_kw.items() if k != name},
            extra=[a for a in self.extra if a.name.split("/")[0] != name],
        )  # fmt: skip

    @functools.cached_property
    def by_name(self) -> dict[str, Any]:
        """The FRBC and PEBC device inputs by device name (taken once the request is complete)."""
        return {**{f.name: f for f in self.frbc}, **{p.name: p for p in self.pebc}}


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
    frbc_power_kw: dict[str, np.ndarray] = field(default_factory=dict)  # FRBC device → planned kW
    warm: bool = False  # re-solved in place from the last basis
    extra: dict[str, Any] = field(default_factory=dict)  # asset name → the solved PPBC/OMBC/DDBC asset
    status: str = "optimal"  # or "time_limit": the best plan found within req.time_limit_s


def site_with_devices(
    base: Site,
    req: PlanRequest,
    compiled: CompiledSite | None = None,
    devices: Sequence[Any] = (),
    commitments: Commitments | None = None,
) -> Site:
    """The base site on the request's horizon with the devices' assets appended: a grid connection
    (and a gas one for gas-using devices) when the site has none, the NOT_CONTROLABLE devices' loads,
    then ``devices``. Validated as any site (every asset a member of the Asset union), never through
    a dict; ``compiled``: the base site compiled already, so it is not compiled again."""
    moved = site_on_horizon(base, req.start, req.n, req.step_s, compiled=compiled, commitments=commitments)
    assets: list[Any] = list(moved.assets)

    def connected(carrier: str) -> bool:  # the S2 devices are on node "site"
        return any(
            a.kind == "grid_connection" and a.carrier == carrier and a.node == "site" for a in moved.assets
        )

    if not connected("electricity"):
        assets.append({"kind": "grid_connection", "name": "s2-grid"})
    gas_devices = [*req.extra, *devices]
    if any("gas" in getattr(a, "carriers", ()) for a in gas_devices) and not connected("gas"):
        assets.append({"kind": "grid_connection", "name": "s2-gas", "carrier": "gas", "export_max_kw": 0.0,
                       "import_price_eur_per_mwh": GAS_EUR_PER_MWH})  # fmt: skip
    for name, kw in req.loads_kw.items():
        assets.append({"kind": "load", "name": f"{name}/load", "profile_kw": [float(x) for x in kw]})
    assets += devices
    data = {name: getattr(moved, name) for name in Site.model_fields if name != "assets"}
    try:
        return Site.model_validate({**data, "assets": assets})
    except pydantic.ValidationError as exc:
        problems = [Problem("site", ".".join(map(str, e["loc"])), e["msg"]) for e in exc.errors()]
        raise ValidationError("CEM site with S2 devices", problems) from None


def _structure_key(base: Site, req: PlanRequest) -> bytes:
    """Everything but the data a warm re-solve can change in place (FRBC data, congestion limits)."""
    h = hashlib.sha256()
    h.update(repr((id(base), fleet_signature(req.frbc))).encode())
    for f in fields(req):
        if f.name not in (
            "frbc",
            "import_limit_kw",
            "export_limit_kw",
            "warm",
            "time_limit_s",
            "mip_rel_gap",
        ):
            h.update(f.name.encode())
            h.update(pickle.dumps(getattr(req, f.name)))
    return h.digest()


def _add_congestion(sm: SiteModel) -> Any:
    """Rows ``import − over ≤ import cap`` and ``export − over ≤ export cap`` per period over all
    electricity grid connections (rows 0..n−1 import, n..2n−1 export; free until a limit is set).
    On imports and exports separately, so importing and exporting at once never loosens a limit."""
    ctx, n = sm.ctx, sm.ctx.n
    t = np.arange(n)
    hooks = [b.hook for b in sm.built.values()
             if b.hook is not None and b.hook.is_grid and b.hook.bus.startswith("electricity@")]  # fmt: skip
    if not hooks:
        return None
    pen = CONGESTION_PENALTY_EUR_PER_KWH * ctx.dt_h  # per kW over during one period
    over = ctx.add_vars("s2 congestion excess", 2 * n, 0.0, np.inf, {"penalty": pen})
    rows = [np.arange(2 * n)]
    cols = [over.idx]
    vals = [np.full(2 * n, -1.0)]
    for hook in hooks:
        for block, coef in hook.terms:
            rows.append(t if coef > 0 else t + n)
            cols.append(block.idx)
            vals.append(np.full(n, abs(coef)))
            # A tie-breaker: importing and exporting at once (a degenerate vertex when both have one
            # price) would otherwise need the MILP exactness fallback.
            cost = sum((c for _, b, c in ctx.costs if b == block), np.zeros(n))
            sm.model.set_cost(block, cost + TIE_BREAK_EUR_PER_MWH * ctx.dt_h / 1000.0)
    return ctx.model.add_constrs("s2 congestion limit", np.concatenate(rows), np.concatenate(cols),
                                 np.concatenate(vals), -np.inf, np.inf, 2 * n)  # fmt: skip


def _set_congestion(sm: SiteModel, block: Any, req: PlanRequest) -> None:
    if block is None:
        return
    imp = np.full(req.n, np.inf) if req.import_limit_kw is None else np.asarray(req.import_limit_kw, float)
    exp = np.full(req.n, np.inf) if req.export_limit_kw is None else np.asarray(req.export_limit_kw, float)
    sm.model.set_row_bounds(block, -np.inf, np.concatenate([imp, exp]))


def _build(base: Site, req: PlanRequest, warm: WarmModel) -> None:
    if warm.base is None or warm.base.site is not base:  # once per base site (per CEM)
        warm.base = compile_site(base)
    fleet_asset = FillRateFleetAsset(name=FLEET_ASSET, node="site", specs=list(req.frbc))
    added: list[Any] = [fleet_asset] if req.frbc else []
    added += [a for pspec in req.pebc for a in power_envelope_assets(pspec)]  # PEBC: production + energy rows
    # one compile per cold plan: of the site with every device in it
    compiled = compile_site(site_with_devices(base, req, warm.base, [*added, *req.extra], warm.commitments))
    sm = build_site_model(compiled)
    warm.sm = sm
    warm.fleet = fleet_asset.fleet if req.frbc else None
    warm.congestion = _add_congestion(sm)
    warm.solution = []

    def capture(sol: Any, _res: Any) -> None:
        warm.solution[:] = [sol]

    sm.readers.append(capture)
    warm.cold_builds += 1


def _first_period_boost(
    base: Site, req: PlanRequest, fleet: FillRateFleet, sol: Any, net_import_kw: np.ndarray
) -> np.ndarray:
    """Per FRBC device, how much of its period-0 raise (its fill is due in the part of the running
    period still ahead: :meth:`FillRateFleet.rates_per_s`) fits under the site's limits. The model
    limits the period's average import; running faster in the rest of it raises the import there,
    so where the fuse or a congestion limit leaves no room the raise is scaled down (that device
    then runs short of its plan until the next re-plan catches up)."""
    avg = fleet.device_energy_kw(sol)[:, 0]
    extra = fleet.device_power_kw(sol)[:, 0] - avg  # + more import, − more export
    fuses = [float(f) for a in base.assets if a.kind == "grid_connection" and getattr(a, "carrier", "") == "electricity"
             and a.node == "site" and (f := getattr(a, "fuse_kw", None)) is not None]  # fmt: skip
    fuse = min(fuses, default=float(np.inf))
    imp = min(fuse, np.inf if req.import_limit_kw is None else float(req.import_limit_kw[0]))
    exp = min(fuse, np.inf if req.export_limit_kw is None else float(req.export_limit_kw[0]))
    now0 = float(net_import_kw[0]) if len(net_import_kw) else 0.0
    boost = np.ones(len(avg))
    for mask, room in ((extra > 1e-9, imp - now0), (extra < -1e-9, exp + now0)):
        need = float(np.abs(extra[mask]).sum())
        if need > 1e-12 and need > room:  # no device raises: nothing to scale (a cap below the import)
            boost[mask] = max(room, 0.0) / need
    return boost


def plan_site(base: Site, req: PlanRequest) -> Plan:
    """Schedule the site with its S2 devices; raises a GridflexError subclass if it cannot."""
    t0 = time.perf_counter()
    warm = req.warm if req.warm is not None else WarmModel()
    key = _structure_key(base, req)
    # PPBC / OMBC / DDBC assets keep solved state of their own: always build them anew
    reused = warm.sm is not None and warm.key == key and not req.extra
    if reused and warm.fleet is not None:
        warm.fleet.update(warm.sm.model, list(req.frbc))  # type: ignore[union-attr]
        warm.warm_solves += 1
    elif not reused:
        warm.key = b""  # a failed build must not be reused
        _build(base, req, warm)
        warm.key = key
    sm = warm.sm
    assert sm is not None
    _set_congestion(sm, warm.congestion, req)
    try:
        res = solve_site_model(sm, time_limit_s=req.time_limit_s, mip_rel_gap=req.mip_rel_gap)
    except Exception:
        warm.key = b""  # never re-solve a model whose last solve failed
        raise
    if sm.binaries:  # the exactness check made it a MILP: start the next plan from the LP again
        warm.key = b""
    sol = warm.solution[-1]
    rates: dict[str, dict[Any, np.ndarray]] = {}
    fill: dict[str, np.ndarray] = {}
    power: dict[str, np.ndarray] = {}
    if warm.fleet is not None:
        fl = warm.fleet
        boost = _first_period_boost(base, req, fl, sol, res.net_import_kw())
        for spec, r, f, p in zip(
            fl.specs, fl.rates_per_s(sol, boost), fl.fill(sol), fl.device_power_kw(sol, boost), strict=True
        ):
            rates[spec.name], fill[spec.name], power[spec.name] = r, f, p
    pv = {p.name: -res.power_kw[f"{p.name}/pv"]["electricity"] for p in req.pebc}
    own = {a.name: a for a in base.assets}
    record(
        warm.commitments,
        own,
        [a for a in sm.compiled.site.assets if a.name in own],
        res.power_kw,
        sm.compiled.grid,
    )
    mine = {a.name for a in req.extra}
    extra = {a.name: a for a in sm.compiled.site.assets if a.name in mine}
    return Plan(req.start, req.step_s, req.n, rates, fill, pv, res.net_import_kw(),
                dict(res.costs_eur), time.perf_counter() - t0, power, reused, extra, res.status)  # fmt: skip
