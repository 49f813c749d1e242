"""Sensitivities of every branch loading and bus voltage to active power at flexible connection points.

Per period, at the operating point the power flow found: the Newton-Raphson Jacobian (polar form) of
the network's per-unit admittances, solved for a unit change of active consumption at each connection
point (reactive power held). A change of a branch's current magnitude follows from the voltage changes
at its ends; loading is that of the more loaded end, as in the power flow. Units: percentage points of
loading and pu of voltage per MW of consumption (house sign: positive = more consumption).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix, csc_matrix, csr_matrix
from scipy.sparse.linalg import splu

from gridflex.errors import Problem, ValidationError
from gridflex.grid.distribution.model import BASE_MVA, DistributionNetwork, PerUnitBranches, per_unit_branches
from gridflex.grid.distribution.powerflow import PowerFlowResult


@dataclass
class Sensitivities:
    """``voltage_pu_per_mw[t, bus, c]`` and ``loading_pct_per_mw[t, branch, c]`` for connection ``c``."""

    connection_bus: np.ndarray  # bus index of each flexible connection point
    connection_names: np.ndarray  # its bus name
    voltage_pu_per_mw: np.ndarray  # (periods, buses, connections)
    loading_pct_per_mw: np.ndarray  # (periods, branches, connections); lines then transformers


def flexible_buses(net: DistributionNetwork) -> np.ndarray:
    """Default connection points: every bus with a load, sgen or storage unit (sorted bus indices)."""
    return np.unique(net.element_bus())


def admittance_matrix(net: DistributionNetwork, pu: PerUnitBranches | None = None) -> csr_matrix:
    """Sparse per-unit bus admittance matrix."""
    pu = pu or per_unit_branches(net)
    n = len(net.bus)
    f, t = pu.from_bus, pu.to_bus
    rows = np.concatenate([f, f, t, t])
    cols = np.concatenate([f, t, f, t])
    vals = np.concatenate([pu.yff, pu.yft, pu.ytf, pu.ytt])
    return coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()


class JacobianSystem:
    """The power-flow Jacobians of all periods of a result, factorised once as one block-diagonal system.

    ``forward`` gives the response of every voltage and loading to a change of consumption; ``row``
    (the adjoint) gives the sensitivity of one voltage or loading to consumption at every bus. Both
    solve one column for all periods: SuperLU's per-call overhead dominates these tiny systems, and
    its multi-column solve goes through multithreaded BLAS, 10-50x slower on a busy machine.
    """

    def __init__(self, net: DistributionNetwork, result: PowerFlowResult) -> None:
        if result.angle_rad is None:
            raise ValidationError(
                "sensitivities",
                [Problem("power flow result", "angle_rad", "run the power flow with angles=True")],
            )
        self.net = net
        self.pu = per_unit_branches(net)
        self.rated = _rated_ka(net)
        n_bus = len(net.bus)
        slack = np.zeros(n_bus, bool)
        slack[net.ext_grid.bus.astype(np.int64)] = True
        self.live = np.isfinite(result.voltage_pu[0])
        self.pq = np.flatnonzero(~slack & self.live)
        self.pos = np.full(n_bus, -1)
        self.pos[self.pq] = np.arange(len(self.pq))
        self.n_t, self.n_pq = result.periods, len(self.pq)
        assert result.angle_rad is not None
        self.v = np.where(
            np.isfinite(result.voltage_pu),
            result.voltage_pu * np.exp(1j * np.nan_to_num(result.angle_rad)),
            0,
        )
        pattern, values = _jacobian_values(admittance_matrix(net, self.pu).tocoo(), self.v, self.pos)
        size = 2 * self.n_pq
        offset = (np.arange(self.n_t) * size)[:, None]
        rows = (pattern[0][None, :] + offset).ravel()
        cols = (pattern[1][None, :] + offset).ravel()
        self.lu = splu(csc_matrix((values.ravel(), (rows, cols)), shape=(self.n_t * size, self.n_t * size)))

    def forward(self, consumption_mw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Changes of voltage (pu) and loading (%) for a change of consumption per bus (MW; (buses,) or (periods, buses))."""
        d = np.broadcast_to(np.asarray(consumption_mw, float), (self.n_t, len(self.net.bus)))
        rhs = np.zeros((self.n_t, 2 * self.n_pq))
        rhs[:, : self.n_pq] = -d[:, self.pq] / BASE_MVA  # more consumption = less injection
        x = self.lu.solve(rhs.ravel()).reshape(self.n_t, 2 * self.n_pq)
        d_va = np.zeros((self.n_t, len(self.net.bus)))
        d_vm = np.zeros_like(d_va)
        d_va[:, self.pq], d_vm[:, self.pq] = x[:, : self.n_pq], x[:, self.n_pq :]
        dv = np.where(self.live[None, :], d_vm, np.nan)
        dl = np.stack([_loading_change(self.pu, self.v[t], d_vm[t][:, None], d_va[t][:, None], self.rated)[:, 0]
                       for t in range(self.n_t)])  # fmt: skip
        return dv, dl

    def row(self, quantity: str, index: int) -> np.ndarray:
        """Sensitivity of one bus voltage (``"voltage"``) or branch loading (``"loading"``) to consumption at
        every bus, per period: (periods, buses), pu or % per MW."""
        g = np.zeros((self.n_t, 2 * self.n_pq))
        if quantity == "voltage":
            if self.pos[index] >= 0:
                g[:, self.n_pq + self.pos[index]] = 1.0
        else:
            self._loading_gradient(index, g)
        w = self.lu.solve(g.ravel(), trans="T").reshape(self.n_t, 2 * self.n_pq)
        out = np.zeros((self.n_t, len(self.net.bus)))
        out[:, self.pq] = -w[:, : self.n_pq] / BASE_MVA
        return out

    def _loading_gradient(self, k: int, g: np.ndarray) -> None:
        """d loading / d (angle, magnitude) of branch ``k`` at its more loaded end, into ``g``."""
        pu, v = self.pu, self.v
        f, t = pu.from_bus[k], pu.to_bus[k]
        ends = []
        for ya, yb, base, rated in ((pu.yff[k], pu.yft[k], pu.i_base_from_ka[k], self.rated[0][k]),
                                    (pu.ytf[k], pu.ytt[k], pu.i_base_to_ka[k], self.rated[1][k])):  # fmt: skip
            i = ya * v[:, f] + yb * v[:, t]
            ends.append((i, ya, yb, base / rated * 100))
        use_from = np.abs(ends[0][0]) * ends[0][3] >= np.abs(ends[1][0]) * ends[1][3]
        for (i, ya, yb, scale), mask in ((ends[0], use_from), (ends[1], ~use_from)):
            mag = np.abs(i)
            u = np.divide(np.conj(i), mag, out=np.zeros_like(i), where=mag > 0) * scale
            for bus, y in ((f, ya), (t, yb)):
                p = self.pos[bus]
                if p < 0:
                    continue
                vm = np.abs(v[:, bus])
                g[mask, p] += (u * y * 1j * v[:, bus]).real[mask]
                g[mask, self.n_pq + p] += (
                    u * y * np.divide(v[:, bus], vm, out=np.zeros_like(v[:, bus]), where=vm > 0)
                ).real[mask]


def sensitivities(
    net: DistributionNetwork, result: PowerFlowResult, buses: np.ndarray | None = None
) -> Sensitivities:
    """Sensitivities per period of ``result`` (which must carry voltage angles: ``run(..., angles=True)``)."""
    system = JacobianSystem(net, result)
    conn = flexible_buses(net) if buses is None else np.asarray(buses, dtype=np.int64)
    n_t, n_c = result.periods, len(conn)
    dv = np.empty((n_t, len(net.bus), n_c))
    dl = np.empty((n_t, len(system.pu.from_bus), n_c))
    for c, bus in enumerate(conn):
        unit = np.zeros(len(net.bus))
        unit[bus] = 1.0
        dv[:, :, c], dl[:, :, c] = system.forward(unit)
    return Sensitivities(conn, net.bus.name[conn], dv, dl)


def _jacobian_values(
    y: coo_matrix, v: np.ndarray, pos: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The polar Jacobian d(P, Q)/d(angle, magnitude) of every period, on one sparsity pattern.

    MATPOWER's dSbus_dV written per admittance entry, so that all periods are computed at once:
    dS/dVa = j V conj(I) on the diagonal - j V_r conj(Y_rc V_c) everywhere;
    dS/dVm = conj(I) V/|V| on the diagonal + V_r conj(Y_rc V_c/|V_c|) everywhere.
    """
    r, c, yv = y.row, y.col, y.data
    i_bus = np.zeros(v.shape, dtype=complex)
    np.add.at(i_bus.T, r, (yv[None, :] * v[:, c]).T)  # I = Y V per period
    vm = np.abs(v)
    vn = np.divide(v, vm, out=np.zeros_like(v), where=vm > 0)
    n = v.shape[1]
    diag = np.arange(n)
    rows = np.concatenate([r, diag])
    cols = np.concatenate([c, diag])
    dva = np.concatenate([-1j * v[:, r] * np.conj(yv[None, :] * v[:, c]), 1j * v * np.conj(i_bus)], axis=1)
    dvm = np.concatenate([v[:, r] * np.conj(yv[None, :] * vn[:, c]), np.conj(i_bus) * vn], axis=1)
    keep = (pos[rows] >= 0) & (pos[cols] >= 0)
    pr, pc = pos[rows[keep]], pos[cols[keep]]
    n_pq = int(pos.max()) + 1
    a, m = dva[:, keep], dvm[:, keep]
    pattern = (np.concatenate([pr, pr, pr + n_pq, pr + n_pq]), np.concatenate([pc, pc + n_pq, pc, pc + n_pq]))
    values = np.concatenate([a.real, m.real, a.imag, m.imag], axis=1)
    return pattern, values


def _rated_ka(net: DistributionNetwork) -> tuple[np.ndarray, np.ndarray]:
    """Rated current at the from and to end of every branch (kA), as the power flow's loadings use."""
    t = net.trafo
    from_ka = np.concatenate([net.line.max_i_ka, t.rating_mva / (np.sqrt(3) * t.vn_hv_kv)])
    to_ka = np.concatenate([net.line.max_i_ka, t.rating_mva / (np.sqrt(3) * t.vn_lv_kv)])
    return from_ka, to_ka


def branch_loading_pct(
    pu: PerUnitBranches, v: np.ndarray, rated: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Loading of every branch from complex bus voltages (used to check the admittances against the flow)."""
    i_f = pu.yff * v[pu.from_bus] + pu.yft * v[pu.to_bus]
    i_t = pu.ytf * v[pu.from_bus] + pu.ytt * v[pu.to_bus]
    return (
        np.maximum(np.abs(i_f) * pu.i_base_from_ka / rated[0], np.abs(i_t) * pu.i_base_to_ka / rated[1]) * 100
    )


def _loading_change(
    pu: PerUnitBranches,
    v: np.ndarray,
    d_vm: np.ndarray,
    d_va: np.ndarray,
    rated: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    vm = np.abs(v)
    rel = np.divide(1.0, vm, out=np.zeros_like(vm), where=vm > 0)
    dv = v[:, None] * (d_vm * rel[:, None] + 1j * d_va)  # complex voltage change per MW
    f, t = pu.from_bus, pu.to_bus
    out = []
    for ya, yb, base, r in (
        (pu.yff, pu.yft, pu.i_base_from_ka, rated[0]),
        (pu.ytf, pu.ytt, pu.i_base_to_ka, rated[1]),
    ):
        i = ya * v[f] + yb * v[t]
        di = ya[:, None] * dv[f] + yb[:, None] * dv[t]
        mag = np.abs(i)
        d_mag = np.divide(
            (np.conj(i)[:, None] * di).real, mag[:, None], out=np.zeros(di.shape), where=mag[:, None] > 0
        )
        scale = base / r * 100
        out.append((mag * scale, d_mag * scale[:, None]))
    (lf, dlf), (lt, dlt) = out
    return np.where((lf >= lt)[:, None], dlf, dlt)
