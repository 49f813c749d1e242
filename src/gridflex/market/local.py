"""Local flexibility for the DSO (USEF/UFTP words): FlexRequests answered by FlexOffers, cleared pay-as-bid.

Vocabulary
    A **FlexRequest** asks for ``power_mw`` of flexibility at a congestion point in one ISP, in a
    direction (**up** = more power into the grid: less consumption or more production; **down** =
    less power into the grid), at most ``max_price_eur_per_mwh``. A **FlexOffer** (from an aggregator)
    offers ``power_mw`` in one or several ISPs at a connection point, at ``price_eur_per_mwh`` per MWh
    activated (what the buyer pays; negative when the provider pays, e.g. the buy side of a GOPACS
    pair). An offer is activated with one factor ``a`` for all its ISPs: ``a ∈ {0, 1}`` when not
    divisible, ``a ∈ {0} ∪ [min_activation_factor, 1]`` when divisible. Accepted offers become
    **FlexOrders**.

Selection (least cost, pay as bid)
    minimise Σ price · energy(a) + penalty · unmet, such that every request is covered (or its
    shortfall reported). An LP when all offers are divisible with no minimum; a MILP otherwise, with a
    time limit; the MIP gap reached is reported, never hidden. The MILP is solved LP first: the
    relaxation picks the offers for a small MILP whose optimum starts the whole one
    (:meth:`gridflex.optimize.Model.solve_lp_first`, docs/decisions/0018).

Network-aware (optional :class:`FlexNetwork`)
    ``sensitivity[e, n]``: change of the flow on element ``e`` per MW injected at node ``n`` (e.g. rows
    of the PTDF from :meth:`gridflex.grid.network.Network.ptdf`). A request at congestion point ``e``
    then needs the flow magnitude on ``e`` to fall by ``power_mw`` (relief ``−sign(base) · Δflow``): an
    offer counts through its sensitivity, not by where it sits. Every element stays within
    ``[−limit, limit]`` (or no worse than its base flow where already overloaded): clearing relieves one
    constraint without creating another. ``sensitivity_blocks`` replace the matrix in the ISPs they
    name (per ISP, or per block of ISPs: the AC operating point moves, a flow may reverse). Without a
    network an offer counts one for one towards the requests of its own congestion point, in the
    request's direction.

GOPACS-style pairing (``balanced=True``)
    Per ISP, up-activations equal down-activations, so the system stays balanced: a sell (up) inside
    the congested area is paired with a buy (down) outside. The pairs are listed, and the energy moved
    per participant and ISP is reported for the correction of the BRPs' perimeters.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from gridflex.errors import Problem
from gridflex.market.errors import raise_market_error
from gridflex.market.products import Product, ProductKind, epoch_s
from gridflex.optimize import Model

__all__ = [
    "Direction",
    "FlexNetwork",
    "FlexOffer",
    "FlexOrder",
    "FlexRequest",
    "LocalResult",
    "SensitivityBlock",
    "clear_local",
]

UNMET_PENALTY_EUR_PER_MWH = 1e5  # far above any flexibility price: shortfall only when nothing else helps


class Direction(StrEnum):
    UP = "up"  # more power into the grid (less consumption or more production)
    DOWN = "down"  # less power into the grid


_KEYS = ConfigDict(extra="forbid")


class FlexRequest(BaseModel):
    """A DSO's need at one congestion point in one ISP."""

    model_config = _KEYS

    request_id: str = Field(min_length=1)
    participant: str = Field(min_length=1, description="The DSO.")
    product: str
    congestion_point: str = Field(description="Congestion point (an element of the network when given).")
    isp: int
    direction: Direction
    power_mw: float = Field(gt=0)
    max_price_eur_per_mwh: float


class FlexOffer(BaseModel):
    """An aggregator's offer: one activation factor for all of its ISPs."""

    model_config = _KEYS

    offer_id: str = Field(min_length=1)
    participant: str = Field(min_length=1, description="Aggregator / flexibility service provider.")
    product: str
    congestion_point: str = Field("", description="Where it counts without a network model.")
    node: str = Field("", description="Connection point (a node of the network when given).")
    direction: Direction
    isps: list[int] = Field(min_length=1)
    power_mw: float | list[float] = Field(description="MW in every ISP, or one value per ISP of `isps`.")
    price_eur_per_mwh: float = Field(description="Paid by the buyer per MWh activated (pay as bid).")
    divisible: bool = False
    min_activation_factor: float = Field(1.0, description="Smallest share that may be activated (divisible).")
    submitted_at: AwareDatetime | None = None


class SensitivityBlock(BaseModel):
    """The sensitivity of one ISP or block of ISPs (e.g. the power-flow Jacobian at its operating point)."""

    model_config = _KEYS

    isps: list[int] = Field(min_length=1)
    sensitivity: list[list[float]] = Field(description="elements × nodes: flow change per MW injected.")


class FlexNetwork(BaseModel):
    """Sensitivities and limits for network-aware clearing (MW, per MW injected).

    ``sensitivity`` holds in every ISP that no block of ``sensitivity_blocks`` names: one matrix for
    the whole horizon (a PTDF), or per ISP / block of ISPs where flows change direction or the
    operating point moves (AC distribution grids).
    """

    model_config = _KEYS

    nodes: list[str]
    elements: list[str]
    sensitivity: list[list[float]] = Field(description="elements × nodes: flow change per MW injected.")
    sensitivity_blocks: list[SensitivityBlock] = Field(
        default_factory=list, description="Per ISP or block of ISPs: replaces `sensitivity` in those ISPs."
    )
    base_flow_mw: list[list[float]] = Field(description="elements × ISPs of the product: forecast flow.")
    limit_mw: list[float] = Field(description="Rating of every element (MW).")

    def sensitivity_of(self, isp: int) -> np.ndarray:
        """The matrix that holds in ``isp`` (elements × nodes): its block's, else ``sensitivity``."""
        blk = next((b for b in self.sensitivity_blocks if isp in b.isps), None)
        return np.asarray(self.sensitivity if blk is None else blk.sensitivity, dtype=float)


class FlexOrder(BaseModel):
    """An accepted FlexOffer (USEF FlexOrder)."""

    offer_id: str
    participant: str
    activation_factor: float
    energy_mwh: float
    cost_eur: float


@dataclass(eq=False)
class LocalResult:
    """Which offers were activated, what it costs, what each request got, and how sure we are."""

    orders: list[FlexOrder]
    offer_status: dict[str, str]  # offer_id → accepted / not_selected / rejected
    offer_reason: dict[str, str]
    activation: dict[str, float]  # offer_id → factor
    request_delivered_mw: dict[str, float]
    request_unmet_mw: dict[str, float]
    cost_eur: float
    status: str  # optimal / time_limit
    mip_gap: float  # NaN for an LP
    is_mip: bool
    time_solver_s: float
    time_build_s: float
    pairs: list[dict] = field(default_factory=list)
    perimeter_correction_mwh: dict[str, dict[int, float]] = field(default_factory=dict)
    max_loading: dict[str, float] = field(
        default_factory=dict
    )  # element → max |flow|/limit after, ISPs cleared

    def to_json(self) -> dict:
        return {
            "cost_eur": self.cost_eur,
            "status": self.status,
            "is_mip": self.is_mip,
            "mip_gap": None if np.isnan(self.mip_gap) else self.mip_gap,
            "flex_orders": [o.model_dump() for o in self.orders],
            "offers": {
                k: {"status": self.offer_status[k], "reason": self.offer_reason[k]} for k in self.offer_status
            },
            "requests": {
                k: {"delivered_mw": self.request_delivered_mw[k], "unmet_mw": self.request_unmet_mw[k]}
                for k in self.request_delivered_mw
            },
            "pairs": self.pairs,
            "perimeter_correction_mwh": {
                p: {str(t): v for t, v in d.items()} for p, d in self.perimeter_correction_mwh.items()
            },
            "max_loading": self.max_loading,
        }


# ---- screening ------------------------------------------------------------------------------------
def _gate_ok(prod: Product, isps: list[int], submitted: AwareDatetime | None, now_s: int | None) -> bool:
    t = epoch_s(submitted) if submitted is not None else now_s
    return t is None or t <= int(prod.gate_closure_s(np.asarray(isps)).min())


def _screen_offer(o: FlexOffer, products: dict[str, Product], net: FlexNetwork | None, now_s) -> str:
    prod = products.get(o.product)
    if prod is None:
        return f"unknown product '{o.product}'"
    if prod.kind is not ProductKind.LOCAL_FLEX:
        return f"product '{o.product}' is a {prod.kind} product, not local flexibility"
    bad = [k for k in o.isps if not 0 <= k < prod.n_isps]
    if bad:
        return f"ISP {bad[0]} is outside the horizon of '{prod.product_id}' (0..{prod.n_isps - 1})"
    if len(set(o.isps)) != len(o.isps):
        return "an ISP appears twice in the offer"
    p = o.power_mw if isinstance(o.power_mw, list) else [o.power_mw]
    if len(p) not in (1, len(o.isps)):
        return f"power_mw has {len(p)} values for {len(o.isps)} ISPs"
    if not all(0 < v < math.inf for v in p):  # scalar checks: one offer is a few values
        return f"power_mw must be > 0 in every ISP, got {min(p):g}"
    if not 0 < o.min_activation_factor <= 1:
        return f"min_activation_factor must be in (0, 1], got {o.min_activation_factor:g}"
    lo, hi = prod.price_min_eur_per_mwh, prod.price_max_eur_per_mwh
    if not lo <= o.price_eur_per_mwh <= hi:
        return f"price {o.price_eur_per_mwh:g} EUR/MWh outside the limits [{lo:g}, {hi:g}]"
    if net is not None and o.node not in net.nodes:
        return f"node '{o.node}' is not in the network"
    if not _gate_ok(prod, o.isps, o.submitted_at, now_s):
        return "submitted after gate closure"
    return ""


def _screen_request(r: FlexRequest, products: dict[str, Product], net: FlexNetwork | None) -> str:
    prod = products.get(r.product)
    if prod is None:
        return f"unknown product '{r.product}'"
    if not 0 <= r.isp < prod.n_isps:
        return f"ISP {r.isp} is outside the horizon of '{prod.product_id}' (0..{prod.n_isps - 1})"
    if net is not None and r.congestion_point not in net.elements:
        return f"congestion point '{r.congestion_point}' is not an element of the network"
    return ""


@dataclass(frozen=True)
class _Sens:
    """Sensitivity matrices stacked (matrices × elements × nodes) and the matrix of every ISP."""

    stack: np.ndarray
    of_isp: np.ndarray

    def coef(self, isp: np.ndarray, node: np.ndarray) -> np.ndarray:
        """(elements × entries): flow change per MW injected of entries at (ISP, node)."""
        return self.stack[self.of_isp[isp], :, node].T

    def at(self, element: int, isp: np.ndarray, node: np.ndarray) -> np.ndarray:
        return self.stack[self.of_isp[isp], element, node]


def _check_network(net: FlexNetwork, n_isps: int) -> _Sens:
    shape = (len(net.elements), len(net.nodes))
    s = np.asarray(net.sensitivity, dtype=float)
    problems = []
    if s.shape != shape:
        problems.append(Problem("network", "sensitivity", f"shape {s.shape}, expected elements × nodes"))
    mats, of_isp = [s], np.zeros(n_isps, dtype=np.int64)
    for k, blk in enumerate(net.sensitivity_blocks):
        m = np.asarray(blk.sensitivity, dtype=float)
        where = f"sensitivity_blocks.{k}"
        if m.shape != shape:
            problems.append(Problem("network", f"{where}.sensitivity", f"shape {m.shape}, expected {shape}"))
        isps = np.asarray(blk.isps, dtype=np.int64)
        if ((isps < 0) | (isps >= n_isps)).any():
            problems.append(Problem("network", f"{where}.isps", f"ISPs outside 0..{n_isps - 1}"))
            continue
        again = isps[of_isp[isps] > 0]
        if len(again) or len(np.unique(isps)) != len(isps):
            bad = int(again[0]) if len(again) else int(isps[0])
            problems.append(Problem("network", f"{where}.isps", f"ISP {bad} has a sensitivity already"))
        of_isp[isps] = len(mats)
        mats.append(m)
    for k, m in enumerate(mats):
        if m.shape == shape and not np.isfinite(m).all():
            where = "sensitivity" if k == 0 else f"sensitivity_blocks.{k - 1}.sensitivity"
            problems.append(Problem("network", where, "not finite everywhere"))
    b = np.asarray(net.base_flow_mw, dtype=float)
    if b.shape != (len(net.elements), n_isps):
        problems.append(
            Problem("network", "base_flow_mw", f"shape {b.shape}, expected ({len(net.elements)}, {n_isps})")
        )
    if len(net.limit_mw) != len(net.elements) or min(net.limit_mw, default=1.0) <= 0:
        problems.append(Problem("network", "limit_mw", "one positive limit per element"))
    raise_market_error("flex network", problems)
    return _Sens(np.stack(mats), of_isp)


# ---- clearing -------------------------------------------------------------------------------------
@dataclass
class _Entries:
    """Flat (offer, ISP) entries of the valid offers: signed injection MW per unit activation."""

    offer: np.ndarray
    isp: np.ndarray
    signed_mw: np.ndarray
    node: np.ndarray


def _entries(offers: list[FlexOffer], node_index: dict[str, int]) -> _Entries:
    lens = np.array([len(o.isps) for o in offers], dtype=np.int64)
    offer = np.repeat(np.arange(len(offers)), lens)
    isp = np.array([k for o in offers for k in o.isps], dtype=np.int64)
    power = [o.power_mw for o in offers]
    if all(isinstance(p, float) for p in power):  # one power per offer: repeat it over its ISPs
        mw = np.repeat(np.array(power, dtype=float), lens)
    else:
        mw = np.concatenate(
            [np.broadcast_to(np.asarray(p, float), (n,)) for p, n in zip(power, lens.tolist(), strict=True)]
        )
    sign = np.array([1.0 if o.direction is Direction.UP else -1.0 for o in offers])
    node = np.array([node_index.get(o.node, -1) for o in offers], dtype=np.int64)
    return _Entries(offer, isp, mw * sign[offer] if offers else mw, node[offer] if offers else offer)


def clear_local(
    product: Product,
    requests: list[FlexRequest],
    offers: list[FlexOffer],
    network: FlexNetwork | None = None,
    balanced: bool = False,
    balance_tolerance_mw: float = 0.0,
    now_s: int | None = None,
    time_limit_s: float = 10.0,
    mip_rel_gap: float = 1e-3,
    lp_first: bool = True,
) -> LocalResult:
    """Least-cost, pay-as-bid selection of FlexOffers for the requests; see the module docstring.

    ``balanced``: up = down activations per ISP, within ``balance_tolerance_mw`` (indivisible offers
    rarely sum to exactly zero). ``time_limit_s`` and ``mip_rel_gap`` bound a MILP; the result says
    whether the limit was hit (``status``) and the gap reached. ``lp_first=False`` hands the MILP to
    HiGHS in one solve (the reference the tests compare the staged solve with).
    """
    products = {product.product_id: product}
    h = product.isp_h
    keys = _offer_keys(offers)
    offer_reason = {}
    seen: set[str] = set()
    for key, o in zip(keys, offers, strict=True):
        dup = o.offer_id in seen
        offer_reason[key] = "duplicate offer_id" if dup else _screen_offer(o, products, network, now_s)
        seen.add(o.offer_id)
    req_reason = [_screen_request(r, products, network) for r in requests]
    seen_req: set[tuple[str, int]] = set()
    for k, r in enumerate(requests):  # one need per congestion point and ISP: merge them upstream
        if (r.congestion_point, r.isp) in seen_req and not req_reason[k]:
            req_reason[k] = f"a second request for {r.congestion_point} in ISP {r.isp}"
        seen_req.add((r.congestion_point, r.isp))
    raise_market_error(
        "flex requests",
        [Problem(r.request_id, "request", why) for r, why in zip(requests, req_reason, strict=True) if why],
    )
    nodes = {n: i for i, n in enumerate(network.nodes)} if network else {}
    sens = _check_network(network, product.n_isps) if network else None
    # price cap: an offer priced above every request it could serve is not eligible
    valid = [o for k, o in zip(keys, offers, strict=True) if not offer_reason[k]]
    ent = _entries(valid, nodes)
    n_off = len(valid)
    n_req = len(requests)
    r_mw = np.array([r.power_mw for r in requests])
    rows, cols, vals = _request_coefficients(requests, valid, ent, network, sens)
    contrib = np.bincount(cols, weights=np.maximum(vals, 0.0), minlength=n_off)
    r_cap = np.array([r.max_price_eur_per_mwh for r in requests])
    cap = np.full(n_off, -np.inf)
    pos = vals > 0
    np.maximum.at(cap, cols[pos], r_cap[rows[pos]])
    price = np.array([o.price_eur_per_mwh for o in valid])
    helps = contrib > 0
    too_dear = helps & (price > cap)
    useless = ~helps & (not balanced)
    for j in np.flatnonzero(too_dear).tolist():
        offer_reason[valid[j].offer_id] = (
            f"not eligible: price {price[j]:g} above the max price {cap[j]:g} EUR/MWh of the requests it serves"
        )
    for j in np.flatnonzero(useless).tolist():
        offer_reason[valid[j].offer_id] = "not eligible: relieves no requested congestion point in its ISPs"
    use = ~(too_dear | useless)
    energy = np.bincount(ent.offer, weights=np.abs(ent.signed_mw), minlength=n_off) * h
    m = Model(name="local-flex")
    divisible = np.array([o.divisible for o in valid], dtype=bool)
    maf = np.array([o.min_activation_factor if o.divisible else 1.0 for o in valid])
    semi = divisible & (maf < 1.0) & (maf > 0) & use
    integer = ~divisible
    a = m.add_vars(n_off, ub=use.astype(float), cost=price * energy, integer=integer & use, name="a")
    slack = m.add_vars(n_req, cost=UNMET_PENALTY_EUR_PER_MWH * h, name="unmet")
    if n_req:
        m.add_constrs(
            "requests", row=np.concatenate((rows, np.arange(n_req))), col=np.concatenate((a.start + cols, slack.idx)),
            val=np.concatenate((vals, np.ones(n_req))), lb=r_mw, ub=np.inf,
        )  # fmt: skip
    sk = np.flatnonzero(semi)
    if len(sk):
        y = m.add_vars(len(sk), ub=1.0, integer=True, name="on")
        kk = np.arange(len(sk))
        # maf·y <= a <= y: a divisible offer is off or at least at its minimum activation factor
        m.add_constrs("semi_lo", row=np.concatenate((kk, kk)), col=np.concatenate((a.start + sk, y.idx)),
                      val=np.concatenate((np.ones(len(sk)), -maf[sk])), lb=0.0, ub=np.inf, n_rows=len(sk))  # fmt: skip
        m.add_constrs("semi_hi", row=np.concatenate((kk, kk)), col=np.concatenate((a.start + sk, y.idx)),
                      val=np.concatenate((np.ones(len(sk)), -np.ones(len(sk)))), lb=-np.inf, ub=0.0, n_rows=len(sk))  # fmt: skip
    if network is not None and sens is not None:
        live = use[ent.offer]  # entries of offers that cannot be activated change no flow
        sub = _Entries(ent.offer[live], ent.isp[live], ent.signed_mw[live], ent.node[live])
        _network_rows(m, a, sub, network, sens, product.n_isps)
    if balanced and len(ent.offer):
        isps, inv = np.unique(ent.isp, return_inverse=True)
        m.add_constrs(
            "balance",
            row=inv,
            col=a.start + ent.offer,
            val=ent.signed_mw,
            lb=-balance_tolerance_mw,
            ub=balance_tolerance_mw,
            n_rows=len(isps),
        )
    # no MIP restart: on these covering models the re-presolve after HiGHS' root fixings cost more
    # than it saved (1,000 offers x 96 ISPs on the RTS-24 PTDF: -30 % CPU, docs/decisions/0014);
    # LP first: the relaxation picks the few offers worth a small MILP, whose optimum starts the
    # whole one (-60 % CPU on the same round, docs/decisions/0018)
    # one search worker: a second one costs CPU on these small MILPs and, on a busy machine, wall time
    options = {"mip_allow_restart": False, "parallel": "off"}
    solve = m.solve_lp_first if lp_first else m.solve
    sol = solve(time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap, options=options)
    act = np.clip(sol.value(a), 0.0, 1.0)
    act[act < 1e-9] = 0.0
    # snap what the solver leaves within its tolerances: all-or-nothing to 0/1, a minimum to itself
    act = np.where(integer, np.round(act), act)
    act = np.where(semi & (act > 0), np.maximum(act, maf), act)
    unmet = sol.value(slack)
    delivered = np.bincount(rows, weights=vals * act[cols], minlength=n_req)
    return _result(product, requests, valid, offers, offer_reason, ent, act, energy, price, delivered, unmet, sol,
                   network, sens, balanced)  # fmt: skip


def _request_coefficients(requests, valid, ent: _Entries, network, sens):
    """(request row, offer, relief MW per unit activation) of every entry that counts for a request."""
    rows, cols, vals = [], [], []
    by_cp: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        by_cp[r.congestion_point].append(i)
    elements = {e: i for i, e in enumerate(network.elements)} if network else {}
    base = np.asarray(network.base_flow_mw, dtype=float) if network else None
    offer_cp = np.array([o.congestion_point for o in valid], dtype=object)
    for cp, idx in by_cp.items():
        row_of_isp = {requests[i].isp: i for i in idx}
        rr = np.array(
            [row_of_isp.get(t, -1) for t in range(int(ent.isp.max()) + 1 if len(ent.isp) else 0)] or [-1]
        )
        hit = ent.isp < len(rr)
        hit[hit] = rr[ent.isp[hit]] >= 0
        e = np.flatnonzero(hit)
        r = rr[ent.isp[e]]
        if network is not None and sens is not None and base is not None:
            k = elements[cp]
            # relief = fall of |flow|: −sign(base flow) · Δflow
            sign = -np.sign(base[k, ent.isp[e]])
            sign[sign == 0] = -1.0
            v = sign * sens.at(k, ent.isp[e], ent.node[e]) * ent.signed_mw[e]
        else:
            direction = np.array([1.0 if requests[i].direction is Direction.UP else -1.0 for i in r])
            v = np.where(offer_cp[ent.offer[e]] == cp, 1.0, 0.0) * ent.signed_mw[e] * direction
        nz = v != 0
        rows.append(r[nz])
        cols.append(ent.offer[e][nz])
        vals.append(v[nz])
    cat = lambda xs, d: np.concatenate(xs) if xs else np.zeros(0, d)  # noqa: E731
    return cat(rows, np.int64), cat(cols, np.int64), cat(vals, float)


def _network_rows(m: Model, a, ent: _Entries, net: FlexNetwork, sens: _Sens, n_isps: int) -> None:
    """Every element within its limit (or no worse than its base flow), only rows that could bind."""
    base = np.asarray(net.base_flow_mw, dtype=float)
    limit = np.asarray(net.limit_mw, dtype=float)[:, None]
    lo = np.minimum(-limit, base) - base  # allowed change of flow
    hi = np.maximum(limit, base) - base
    n_el = len(net.elements)
    coef = sens.coef(ent.isp, ent.node) * ent.signed_mw  # elements × entries
    row = np.arange(n_el)[:, None] * n_isps + ent.isp[None, :]
    up = np.bincount(row.ravel(), weights=np.maximum(coef, 0).ravel(), minlength=n_el * n_isps)
    down = np.bincount(row.ravel(), weights=np.minimum(coef, 0).ravel(), minlength=n_el * n_isps)
    risky = (up > hi.ravel() + 1e-9) | (down < lo.ravel() - 1e-9)  # the others cannot bind
    keep = risky[row] & (coef != 0)
    ids = np.flatnonzero(risky)
    local = np.full(n_el * n_isps, -1)
    local[ids] = np.arange(len(ids))
    m.add_constrs("network", row=local[row[keep]], col=a.start + np.broadcast_to(ent.offer, coef.shape)[keep],
                  val=coef[keep], lb=lo.ravel()[ids], ub=hi.ravel()[ids], n_rows=len(ids))  # fmt: skip


def _result(product, requests, valid, offers, offer_reason, ent, act, energy, price, delivered, unmet, sol,
            network, sens, balanced) -> LocalResult:  # fmt: skip
    h = product.isp_h
    orders, status = [], {}
    reason = {}
    k = -1
    for key, o in zip(offer_reason, offers, strict=True):  # keyed in the order of the offers
        why = offer_reason[key]
        if why and not why.startswith("not eligible"):
            status[key], reason[key] = "rejected", f"rejected: {why}"
            continue
        k += 1  # valid offers keep their order
        if why:
            status[key], reason[key] = "not_selected", why
        elif act[k] > 0:
            cost = float(price[k] * energy[k] * act[k])
            orders.append(FlexOrder(offer_id=o.offer_id, participant=o.participant, activation_factor=float(act[k]),
                                    energy_mwh=float(energy[k] * act[k]), cost_eur=cost))  # fmt: skip
            status[key] = "accepted"
            reason[key] = f"accepted: activation factor {act[k]:.4g}, pay as bid {price[k]:g} EUR/MWh"
        else:
            status[key] = "not_selected"
            reason[key] = (
                f"not selected: the least-cost selection covers the requests without it (price {price[k]:g} EUR/MWh"
                f"{', all or nothing' if not o.divisible else ''})"
            )
    signed = ent.signed_mw * act[ent.offer]
    pairs = _pairs(valid, ent, signed) if balanced else []
    perimeter: dict[str, dict[int, float]] = defaultdict(dict)
    for e in np.flatnonzero(signed != 0):
        who, t = valid[ent.offer[e]].participant, int(ent.isp[e])
        # the DSO moved this energy: the BRP's perimeter is corrected by it (injection positive)
        perimeter[who][t] = perimeter[who].get(t, 0.0) + float(signed[e] * h)
    loading = {}
    if network is not None:
        flow = np.asarray(network.base_flow_mw, dtype=float).copy()
        on = np.flatnonzero(signed)  # only activated entries move a flow
        np.add.at(flow.T, ent.isp[on], (sens.coef(ent.isp[on], ent.node[on]) * signed[on]).T)
        lim = np.asarray(network.limit_mw, dtype=float)
        seen = np.unique(np.concatenate(([r.isp for r in requests], ent.isp[signed != 0]))).astype(np.int64)
        loading = {
            e: float(np.abs(flow[i, seen]).max(initial=0.0) / lim[i]) for i, e in enumerate(network.elements)
        }
    return LocalResult(
        orders=orders, offer_status=status, offer_reason=reason, activation={o.offer_id: float(act[k]) for k, o in enumerate(valid)},
        request_delivered_mw={r.request_id: float(delivered[i]) for i, r in enumerate(requests)},
        request_unmet_mw={r.request_id: float(max(unmet[i], 0.0)) for i, r in enumerate(requests)},
        cost_eur=float(sum(o.cost_eur for o in orders)), status=sol.status, mip_gap=sol.mip_gap, is_mip=sol.is_mip,
        time_solver_s=sol.time_solver_s, time_build_s=sol.time_build_s, pairs=pairs,
        perimeter_correction_mwh=dict(perimeter), max_loading=loading,
    )  # fmt: skip


def _offer_keys(offers: list[FlexOffer]) -> list[str]:
    """offer_id, or ``offer_id#n`` for the n-th repeat of an id (rejected as a duplicate)."""
    count: dict[str, int] = defaultdict(int)
    out = []
    for o in offers:
        count[o.offer_id] += 1
        out.append(o.offer_id if count[o.offer_id] == 1 else f"{o.offer_id}#{count[o.offer_id]}")
    return out


def _pairs(valid, ent: _Entries, signed: np.ndarray) -> list[dict]:
    """Per ISP, match up-activations with down-activations volume for volume (GOPACS pairs)."""
    out = []
    for t in np.unique(ent.isp[signed != 0]).tolist():
        sel = np.flatnonzero((ent.isp == t) & (signed != 0))
        ups = [[valid[ent.offer[e]].offer_id, signed[e]] for e in sel if signed[e] > 0]
        downs = [[valid[ent.offer[e]].offer_id, -signed[e]] for e in sel if signed[e] < 0]
        i = j = 0
        while i < len(ups) and j < len(downs):
            mw = min(ups[i][1], downs[j][1])
            if mw > 1e-9:
                out.append({"isp": t, "up_offer": ups[i][0], "down_offer": downs[j][0], "mw": float(mw)})
            ups[i][1] -= mw
            downs[j][1] -= mw
            i += ups[i][1] <= 1e-9
            j += downs[j][1] <= 1e-9
    return out
