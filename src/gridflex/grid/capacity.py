"""Available flexible capacity per period, up and down (paper eqs. 18-37, Figure 6).

Given a schedule (generator outputs, storage charge/discharge/SOC), for each period t:

Generation (conventional units; renewables are not counted, as in the paper)::

    total_up   = Σ_i (pmax_i − p_i)                      total_down = Σ_i (p_i − pmin_i)          (18-19)
    avail_up   = Σ_i min(R_i·Δt, pmax_i − p_i)           avail_down = Σ_i min(R_i·Δt, p_i − pmin_i) (26-27)

Load (demand response; paper eqs. 28-33): resource m at node n has flexible capacity
``P ~ N(μ = q·P_nom, σ = δ·P_nom)``; resources are independent, so per node ``μ_n = Σ μ``,
``σ_n² = Σ σ²``; with ``ω = Φ⁻¹(1 − α/2)``::

    total_up = total_down = Σ P_nom                                                           (20-21)
    avail_up   = Σ_n (μ_n + ω·σ_n)     (the paper's eq. 30, "paper" rule)
    avail_down = Σ_n (μ_n − ω·σ_n)     (the paper's eq. 31)

The paper's rule takes the two ends of the (1−α) interval of the same variable as "up" and "down".
The ``"conservative"`` rule instead guarantees both directions at confidence 1−α
(``avail = Σ_n max(μ_n − z_{1−α}·σ_n, 0)`` up and down). Values are clipped to ``[0, total]``.

Storage (paper eqs. 34-35, with the schedule's operating point): with ``E_start`` the energy at the
start of period t (``soc_init`` for the first period)::

    total_up = Σ (P_max − (d_t − c_t))   total_down = Σ (P_max + (d_t − c_t))                  (22-23)
    avail_up   = Σ max(min(P_max, (E_start − E_min)·η_d/Δt) − (d_t − c_t), 0)
    avail_down = Σ max(min(P_max, (E_max − E_start)/(η_c·Δt)) + (d_t − c_t), 0)

i.e. the deepest discharge (charge) the SOC and the power rating allow in period t, measured from
the scheduled net output ``d_t − c_t`` (stopping a running charge counts as upward flexibility).
Totals are measured from the same operating point (the full swing to ±P_max), so available ≤ total.
For an idle unit (``d = c = 0``) and Δt = 1 h these are exactly the paper's ``P_max`` and
``min(E·(SOC − SOC_min)·η_d, P_max)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import pandas as pd

SOURCES = ("generation", "load", "storage", "system")


@dataclass(frozen=True)
class UpDown:
    """Upward and downward capacity per period (T,), MW."""

    up_mw: np.ndarray
    down_mw: np.ndarray


@dataclass(frozen=True)
class Capacity:
    """Total (technical) and available flexible capacity per source and period."""

    load_mw: np.ndarray  # (T,) the system load of the scheduled scenario
    total: dict[str, UpDown]
    available: dict[str, UpDown]

    def to_frame(self) -> pd.DataFrame:
        """Long table: period, source, kind (total|available), up_mw, down_mw, load_mw."""
        rows = []
        for kind, table in (("total", self.total), ("available", self.available)):
            for src in SOURCES:
                ud = table[src]
                for t in range(len(self.load_mw)):
                    rows.append(
                        (t, src, kind, float(ud.up_mw[t]), float(ud.down_mw[t]), float(self.load_mw[t]))
                    )
        return pd.DataFrame(rows, columns=["period", "source", "kind", "up_mw", "down_mw", "load_mw"])


def generation_capacity(
    gen_mw: np.ndarray,
    pmin_mw: np.ndarray,
    pmax_mw: np.ndarray,
    ramp_mw_per_h: np.ndarray,
    dt_h: float,
    ramp_down_mw_per_h: np.ndarray | None = None,
    availability: np.ndarray | None = None,
) -> tuple[UpDown, UpDown]:
    """(total, available) of conventional units; ``gen_mw`` is (T, G); an infinite ramp never binds.

    ``pmin_mw`` / ``pmax_mw`` are (G,) or per period (T, G); ``ramp_mw_per_h`` is the upward rate and
    ``ramp_down_mw_per_h`` the downward one (default: the same). ``availability`` (G,) is each unit's
    probability of being in service (1 − outage rate): the available capacity is its expectation.
    """
    p = np.asarray(gen_mw, dtype=float)
    head_up = np.maximum(np.asarray(pmax_mw) - p, 0.0)
    head_down = np.maximum(p - np.asarray(pmin_mw), 0.0)
    r_up = np.asarray(ramp_mw_per_h, dtype=float)[None] * dt_h
    down = ramp_mw_per_h if ramp_down_mw_per_h is None else ramp_down_mw_per_h
    r_down = np.asarray(down, dtype=float)[None] * dt_h
    w = np.ones(p.shape[1]) if availability is None else np.asarray(availability, dtype=float)
    total = UpDown(head_up.sum(axis=1), head_down.sum(axis=1))
    avail = UpDown(np.minimum(r_up, head_up) @ w, np.minimum(r_down, head_down) @ w)
    return total, avail


def load_capacity(
    q: np.ndarray,
    delta: np.ndarray,
    nominal_mw: np.ndarray,
    node: np.ndarray,
    alpha: float,
    rule: Literal["paper", "conservative"] = "paper",
) -> tuple[UpDown, UpDown]:
    """(total, available) of demand response; ``nominal_mw`` is (T, M) for M resources at ``node`` (M,)."""
    nom = np.asarray(nominal_mw, dtype=float)
    t = nom.shape[0]
    if nom.shape[1] == 0:
        zero = np.zeros(t)
        return UpDown(zero, zero), UpDown(zero, zero)
    mu = np.asarray(q)[None] * nom
    sd = np.asarray(delta)[None] * nom
    nodes, inv = np.unique(np.asarray(node), return_inverse=True)
    inc = (np.asarray(inv).ravel()[:, None] == np.arange(len(nodes))[None, :]).astype(float)  # (M, N)
    mu_n = mu @ inc  # independent normals: means add, variances add
    sd_n = np.sqrt((sd**2) @ inc)
    tot_n = nom @ inc
    if rule == "paper":
        w = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        up_n, down_n = mu_n + w * sd_n, mu_n - w * sd_n
    else:
        w = NormalDist().inv_cdf(1.0 - alpha)
        up_n = down_n = mu_n - w * sd_n
    up = np.clip(up_n, 0.0, tot_n).sum(axis=1)
    down = np.clip(down_n, 0.0, tot_n).sum(axis=1)
    total = tot_n.sum(axis=1)
    return UpDown(total, total.copy()), UpDown(up, down)


def load_limit_capacity(load_mw: np.ndarray, min_mw: np.ndarray, max_mw: np.ndarray) -> UpDown:
    """Total load-side capacity from each node's load limits after demand response (eqs. 20-21):
    up ``Σ_n (P_n − P_n,min)``, down ``Σ_n (P_n,max − P_n)``; arrays (T, N), negative headroom is 0."""
    p = np.asarray(load_mw, dtype=float)
    up = np.maximum(p - np.asarray(min_mw, dtype=float), 0.0).sum(axis=1)
    down = np.maximum(np.asarray(max_mw, dtype=float) - p, 0.0).sum(axis=1)
    return UpDown(up, down)


def storage_capacity_paper(
    soc_start_mwh: np.ndarray,
    charge_power_mw: np.ndarray,
    discharge_power_mw: np.ndarray,
    eta_charge: np.ndarray,
    eta_discharge: np.ndarray,
    e_min_mwh: np.ndarray,
    e_max_mwh: np.ndarray,
    dt_h: float,
) -> tuple[UpDown, UpDown]:
    """The paper's storage formulas (eqs. 22-23 and 34-35), independent of the schedule's flows:
    totals ``Σ P_d,max`` up and ``Σ P_c,max`` down; available ``Σ min(E(SOC − SOC_min)η_d/Δt, P_d,max)``
    up and ``Σ min(E(SOC_max − SOC)/(η_c Δt), P_c,max)`` down, SOC at the start of the period
    (the paper writes MWh against MW: for its Δt = 1 h the two are the same)."""
    e = np.asarray(soc_start_mwh, dtype=float)
    t = e.shape[0]
    pc, pd_ = np.asarray(charge_power_mw, dtype=float), np.asarray(discharge_power_mw, dtype=float)
    up = np.minimum(np.maximum(e - e_min_mwh, 0.0) * eta_discharge / dt_h, pd_[None]).sum(axis=1)
    down = np.minimum(np.maximum(e_max_mwh - e, 0.0) / (np.asarray(eta_charge) * dt_h), pc[None]).sum(axis=1)
    return UpDown(np.full(t, pd_.sum()), np.full(t, pc.sum())), UpDown(up, down)


def storage_capacity(
    charge_mw: np.ndarray,
    discharge_mw: np.ndarray,
    soc_mwh: np.ndarray,
    power_mw: np.ndarray,
    energy_mwh: np.ndarray,
    eta_charge: np.ndarray,
    eta_discharge: np.ndarray,
    soc_min: np.ndarray,
    soc_max: np.ndarray,
    soc_init: np.ndarray,
    dt_h: float,
    charge_power_mw: np.ndarray | None = None,
    rule: Literal["operating_point", "paper"] = "operating_point",
) -> tuple[UpDown, UpDown]:
    """(total, available) of storage; schedule arrays are (T, S), ``soc_mwh`` at the end of each period.

    ``power_mw`` limits discharging and ``charge_power_mw`` (default the same) charging. ``rule``
    "paper" gives :func:`storage_capacity_paper` instead (from the SOC only)."""
    c = np.asarray(charge_mw, dtype=float)
    d = np.asarray(discharge_mw, dtype=float)
    t = c.shape[0]
    if c.shape[1] == 0:
        zero = np.zeros(t)
        return UpDown(zero, zero), UpDown(zero, zero)
    e = np.asarray(energy_mwh, dtype=float)
    p = np.asarray(power_mw, dtype=float)
    pc = p if charge_power_mw is None else np.asarray(charge_power_mw, dtype=float)
    start = np.vstack([(np.asarray(soc_init) * e)[None], np.asarray(soc_mwh, dtype=float)[:-1]])
    e_min, e_max = np.asarray(soc_min) * e, np.asarray(soc_max) * e
    if rule == "paper":
        return storage_capacity_paper(
            start, pc, p, np.asarray(eta_charge), np.asarray(eta_discharge), e_min, e_max, dt_h
        )
    deepest_discharge = np.minimum(p[None], np.maximum(start - e_min, 0.0) * np.asarray(eta_discharge) / dt_h)
    deepest_charge = np.minimum(pc[None], np.maximum(e_max - start, 0.0) / (np.asarray(eta_charge) * dt_h))
    net = d - c
    up = np.maximum(deepest_discharge - net, 0.0).sum(axis=1)
    down = np.maximum(deepest_charge + net, 0.0).sum(axis=1)
    total_up = np.maximum(p[None] - net, 0.0).sum(axis=1)
    total_down = np.maximum(pc[None] + net, 0.0).sum(axis=1)
    return UpDown(total_up, total_down), UpDown(up, down)


def combine(load_mw: np.ndarray, parts: dict[str, tuple[UpDown, UpDown]]) -> Capacity:
    """Sum the sources into the system rows (paper eqs. 24-25 and 36-37)."""
    total = {k: v[0] for k, v in parts.items()}
    avail = {k: v[1] for k, v in parts.items()}
    for table in (total, avail):
        table["system"] = UpDown(
            sum((table[k].up_mw for k in ("generation", "load", "storage")), np.zeros(len(load_mw))),
            sum((table[k].down_mw for k in ("generation", "load", "storage")), np.zeros(len(load_mw))),
        )
    return Capacity(np.asarray(load_mw, dtype=float), total, avail)
