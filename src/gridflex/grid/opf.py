"""Multi-period DC optimal power flow, built once and re-solved warm per scenario.

The model is the supply–demand-balance OPF of Guo, Li, Deng (Energies 18(12) 3013, 2025, §4.1,
eqs. (3)–(15)) in the compact PTDF form, with priced slacks so that every scenario has a solution
and the *unbalanced* periods can be read off the slacks:

    min  Σ_t Δt · [ Σ_g cost_g(p_gt) + c_shed Σ_b shed_bt + c_spill Σ_b spill_bt ]
    s.t. Σ_g p_gt + Σ_r w_rt + Σ_s (dis_st − ch_st) + Σ_b (shed_bt − spill_bt) = Σ_d load_dt   (4) one row per t
         −rate_l ≤ Σ_b PTDF_lb · inj_bt ≤ rate_l        (5) rated lines only; inj = gen − load + shed − spill
         pmin_g ≤ p_gt ≤ pmax_g                          (6) units committed, as in the paper
         |p_gt − p_g,t−1| ≤ R_g Δt                       (7)
         0 ≤ w_rt ≤ availability_rt                       (8)–(9) renewables curtailable
         0 ≤ ch_st ≤ P_s u_st,  0 ≤ dis_st ≤ P_s (1 − u_st)   (10)–(12)
         soc_st = soc_s,t−1 + (η_c ch_st − dis_st / η_d) Δt,  soc_min ≤ soc ≤ soc_max,  soc_sT = soc_s0   (13)–(15)
         0 ≤ shed_bt ≤ max(load_bt, 0),  spill_bt ≥ 0

**Costs.** The quadratic fuel cost c2 p² + c1 p + c0 of a unit with c2 > 0 is replaced by its
chord interpolation on ``pwl_segments`` = K equal segments of [pmin, pmax] (exact at the K + 1
breakpoints, convex, so the segments fill in order without binaries). The PWL cost over-estimates
the true cost by at most ``c2 · ((pmax − pmin) / K)² / 4`` EUR/h per unit (at a segment's
midpoint), see :meth:`MultiPeriodDCOPF.pwl_error_bound_eur`. Linear units get their c1 directly.
The constant c0 of every unit is counted in every period (units committed).

**Exclusivity.** The binaries u are part of the model but first relaxed (u ∈ [0, 1]: an LP, ch + dis ≤ P).
With losses (η_c η_d < 1) an optimal LP solution only charges and discharges at once when energy
must be burnt, i.e. under forced over-generation; the result is checked, and if some storage
charges and discharges in the same period (both > ``EXCL_TOL_MW``) the model is re-solved as a
MILP with u binary (``OPFResult.used_milp``; ``milp_rel_gap`` and ``milp_time_limit_s`` govern it,
status "time_limit" when the limit stopped it with a feasible schedule). The relaxation is weak
(it is the convex hull per period), so proving MILP optimality can take seconds: on RTS-24 with
24 periods and two storage units in forced over-generation HiGHS finds the optimum at once but
needs 3–8 s to close a 1e-4 gap (0.2 s for 1e-2).

**Warm re-solve.** ``__init__`` builds every row and column once, vectorized (no Python loop over
periods, lines or units). :meth:`MultiPeriodDCOPF.solve` only writes the load into the balance and
line rows' bounds and the shed columns' bounds, the renewable availability into the renewable
columns' upper bounds, and re-solves from the previous basis.

PTDF entries with ``|value| < 1e-10`` are dropped from the line rows (flow error below 1e-10 MW
per MW injected). Ramp rows are created only for units whose ramp can bind within one period
(``R·Δt < pmax − pmin``). A period is in balance when its shed and spill are zero.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from gridflex.errors import Problem, ValidationError
from gridflex.grid.limits import MAX_DT_H, MAX_FACTOR, MAX_VALUE, MIN_EFFICIENCY
from gridflex.grid.network import Network
from gridflex.optimize import ConstrBlock, Model, Solution, VarBlock

EXCL_TOL_MW = 1e-6
"""Charge and discharge both above this (MW) in one period count as simultaneous."""
SLACK_ZERO_MW = 1e-9
"""Shed and spill below this (MW) are reported as exactly 0 (solver noise)."""
_PTDF_EPS = 1e-10


_STORAGE_ARRAYS = ("power_mw", "charge_power_mw", "discharge_power_mw", "energy_mwh", "eta_charge",
                   "eta_discharge", "soc_min", "soc_max", "soc_init")  # fmt: skip


@dataclass(frozen=True)
class Imports:
    """Tie-lines to outside the network: bus positions, exchange limits (T, n) MW (positive = import)
    and the price of importing, EUR/MWh (n,)."""

    bus: np.ndarray
    min_mw: np.ndarray
    max_mw: np.ndarray
    price_eur_per_mwh: np.ndarray

    def __len__(self) -> int:
        return int(np.size(self.bus))


@dataclass(frozen=True)
class Storage:
    """Storage units (arrays of equal length S). SOC fractions of ``energy_mwh``; cyclic: soc_T = soc_init."""

    bus: np.ndarray
    power_mw: np.ndarray
    energy_mwh: np.ndarray
    eta_charge: np.ndarray
    eta_discharge: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    soc_init: np.ndarray
    charge_power_mw: np.ndarray = field(default_factory=lambda: np.empty(0))  # empty: power_mw
    discharge_power_mw: np.ndarray = field(default_factory=lambda: np.empty(0))  # empty: power_mw

    def __post_init__(self) -> None:
        n = np.size(self.bus)
        set_ = object.__setattr__
        set_(self, "bus", np.asarray(self.bus, dtype=np.int64).ravel())
        for f in ("charge_power_mw", "discharge_power_mw"):
            if np.size(getattr(self, f)) == 0:
                set_(self, f, self.power_mw)
        for f in _STORAGE_ARRAYS:
            a = np.asarray(getattr(self, f), dtype=float)
            set_(self, f, np.full(n, float(a)) if a.ndim == 0 else a.ravel().copy())

    def __len__(self) -> int:
        return int(self.bus.size)

    def validate(self, n_buses: int) -> list[Problem]:
        n = len(self)
        p: list[Problem] = []
        for f in _STORAGE_ARRAYS:
            a = getattr(self, f)
            if a.shape != (n,):
                p.append(Problem("storage", f, f"has length {a.size}, expected {n}"))
            elif not np.isfinite(a).all():
                p.append(Problem(f"storage {np.flatnonzero(~np.isfinite(a))[0]}", f, "not finite"))
        if p:
            return p

        def each(mask: np.ndarray, f: str, msg: str) -> None:
            p.extend(Problem(f"storage {i}", f, msg) for i in np.flatnonzero(mask))

        each((self.bus < 0) | (self.bus >= n_buses), "bus", f"bus position outside 0..{n_buses - 1}")
        big = MAX_VALUE * MAX_FACTOR  # a study's largest storage times its largest scale
        for f in ("power_mw", "charge_power_mw", "discharge_power_mw"):
            a = getattr(self, f)
            each((a < 0) | (a > big), f, f"must be in [0, {big:g}]")
        each((self.energy_mwh < 0) | (self.energy_mwh > big), "energy_mwh", f"must be in [0, {big:g}]")
        for f in ("eta_charge", "eta_discharge"):  # Δt/η enters the matrix: η ≥ 1 % keeps it in range
            each(~((getattr(self, f) >= MIN_EFFICIENCY) & (getattr(self, f) <= 1)), f,
                 f"must be in [{MIN_EFFICIENCY:g}, 1]")  # fmt: skip
        each((self.soc_min < 0) | (self.soc_max > 1) | (self.soc_min > self.soc_max), "soc_min",
             "need 0 <= soc_min <= soc_max <= 1")  # fmt: skip
        each((self.soc_init < self.soc_min) | (self.soc_init > self.soc_max), "soc_init",
             "must lie in [soc_min, soc_max]")  # fmt: skip
        return p


@dataclass(frozen=True)
class Renewables:
    """Curtailable renewable plants: bus positions and kind ("wind" / "pv"); availability per solve."""

    bus: np.ndarray
    kind: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "bus", np.asarray(self.bus, dtype=np.int64).ravel())
        object.__setattr__(self, "kind", np.asarray(self.kind, dtype=str).ravel())

    def __len__(self) -> int:
        return int(self.bus.size)


@dataclass
class OPFResult:
    """One solve. Arrays are (periods × elements); costs in EUR over the horizon."""

    status: str
    cost_eur: float
    gen_mw: np.ndarray
    shed_mw: np.ndarray
    spill_mw: np.ndarray
    flow_mw: np.ndarray
    charge_mw: np.ndarray
    discharge_mw: np.ndarray
    soc_mwh: np.ndarray
    curtail_mw: np.ndarray
    renewable_mw: np.ndarray
    time_solver_s: float
    time_build_s: float
    used_milp: bool
    import_mw: np.ndarray | None = None  # (T, n_imports)

    def unbalanced(self, tol_mw: float = 1e-6) -> np.ndarray:
        """(T,) bool: periods with load shed or generation spilled above ``tol_mw``."""
        return np.asarray((self.shed_mw.sum(axis=1) + self.spill_mw.sum(axis=1)) > tol_mw)


def _tile(T: int, rows_per: int, cols_per: int, row: np.ndarray, col: np.ndarray, val: np.ndarray,
          col_start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Repeat one period's triplets for T periods: row t·rows_per + row, col start + t·cols_per + col."""
    t = np.arange(T)[:, None]
    r = (t * rows_per + np.asarray(row)[None, :]).ravel()
    c = (col_start + t * cols_per + np.asarray(col)[None, :]).ravel()
    return r, c, np.broadcast_to(np.asarray(val, dtype=float), (T, np.size(row))).ravel()


def _cat(*parts: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.concatenate([p[i] for p in parts]) if parts else np.empty(0) for i in range(3))  # type: ignore[return-value]


def _incidence(bus: np.ndarray, n_buses: int) -> np.ndarray:
    """(elements × buses) 0/1 matrix: element i sits at bus ``bus[i]``."""
    inc = np.zeros((bus.size, n_buses))
    inc[np.arange(bus.size), bus] = 1.0
    return inc


def _clean(a: np.ndarray) -> np.ndarray:
    """Slack values below ``SLACK_ZERO_MW`` are solver noise: report them as exactly 0."""
    return np.where(a < SLACK_ZERO_MW, 0.0, a)


class MultiPeriodDCOPF:
    """Multi-period DC-OPF of a :class:`Network`; see the module docstring for the model."""

    def __init__(
        self, net: Network, n_periods: int, dt_h: float = 1.0, storage: Storage | None = None,
        renewables: Renewables | None = None, pwl_segments: int = 4, shed_cost_eur_per_mwh: float = 10_000.0,
        spill_cost_eur_per_mwh: float = 10_000.0, enforce_lines: bool = True, ramp: bool = True,
        milp_rel_gap: float = 1e-4, milp_time_limit_s: float | None = None,
        gen_limits_mw: tuple[np.ndarray, np.ndarray] | None = None, ramp_up_mw_per_h: np.ndarray | None = None,
        ramp_down_mw_per_h: np.ndarray | None = None, imports: Imports | None = None,
    ) -> None:  # fmt: skip
        t0 = time.perf_counter()
        self._check_args(net, n_periods, dt_h, storage, renewables, pwl_segments,
                         shed_cost_eur_per_mwh, spill_cost_eur_per_mwh)  # fmt: skip
        self.net, self.T, self.dt_h, self.K = net, int(n_periods), float(dt_h), int(pwl_segments)
        self.storage = storage if storage is not None and len(storage) else None
        self.renewables = renewables if renewables is not None and len(renewables) else None
        self.imports = imports if imports is not None and len(imports) else None
        self.N = len(self.imports) if self.imports is not None else 0
        self._set_unit_data(gen_limits_mw, ramp_up_mw_per_h, ramp_down_mw_per_h)
        self._online = np.ones(net.n_gens, dtype=bool)
        self.S = len(self.storage) if self.storage is not None else 0
        self.R = len(self.renewables) if self.renewables is not None else 0
        self.shed_cost, self.spill_cost = float(shed_cost_eur_per_mwh), float(spill_cost_eur_per_mwh)
        self.milp_rel_gap, self.milp_time_limit_s = float(milp_rel_gap), milp_time_limit_s
        self.m = Model(name=f"dcopf {net.name}")
        self._ptdf = net.ptdf()
        self._rated = np.flatnonzero(np.isfinite(net.line_rate_mw)) if enforce_lines else np.empty(0, int)
        self._ptdf_r = self._ptdf[self._rated]
        self._load_inc = _incidence(net.load_bus, net.n_buses)
        self._add_vars()
        self._add_balance_and_lines()
        self._add_pwl_links()
        if ramp:
            self._add_ramps()
        if self.S:
            self._add_storage_rows()
        self._first = True
        self.time_build_s = time.perf_counter() - t0

    def _set_unit_data(self, limits: tuple[np.ndarray, np.ndarray] | None, up: np.ndarray | None,
                       down: np.ndarray | None) -> None:  # fmt: skip
        """Per-period unit limits (T, G) within the network's [pmin, pmax], and up / down ramp rates."""
        net, T, G = self.net, self.T, self.net.n_gens
        pmin = np.broadcast_to(net.gen_pmin_mw, (T, G)).copy()
        pmax = np.broadcast_to(net.gen_pmax_mw, (T, G)).copy()
        p: list[Problem] = []
        if limits is not None:
            lo, hi = (np.asarray(a, dtype=float) for a in limits)
            if lo.shape != (T, G) or hi.shape != (T, G):
                p.append(
                    Problem("opf", "gen_limits_mw", f"need two ({T}, {G}) arrays, got {lo.shape}, {hi.shape}")
                )
            else:
                # the PWL cost spans the network's [pmin, pmax]: per-period limits stay inside it
                bad = (lo < pmin - 1e-9) | (hi > pmax + 1e-9) | (lo > hi + 1e-9) | ~np.isfinite(lo + hi)
                for g in np.flatnonzero(bad.any(axis=0)):
                    t = int(np.flatnonzero(bad[:, g])[0])
                    p.append(Problem(str(net.gen_name[g]), "gen_limits_mw", (
                        f"period {t}: [{lo[t, g]:g}, {hi[t, g]:g}] MW is not inside the unit's "
                        f"[{pmin[t, g]:g}, {pmax[t, g]:g}] MW")))  # fmt: skip
                pmin, pmax = lo, hi
        ramps = []
        for name, r in (("ramp_up_mw_per_h", up), ("ramp_down_mw_per_h", down)):
            a = net.gen_ramp_mw_per_h if r is None else np.asarray(r, dtype=float)
            if a.shape != (G,) or (a < 0).any() or np.isnan(a).any():
                p.append(Problem("opf", name, f"need {G} values >= 0"))
                a = net.gen_ramp_mw_per_h
            ramps.append(a)
        if p:
            raise ValidationError("MultiPeriodDCOPF arguments", p)
        self._pmin_t, self._pmax_t = pmin, pmax
        self._ramp_up, self._ramp_down = ramps

    def set_online(self, online: np.ndarray | None) -> None:
        """Units in service for the next solves (G,) bool; an outaged unit produces 0 all day."""
        on = (
            np.ones(self.net.n_gens, dtype=bool) if online is None else np.asarray(online, dtype=bool).ravel()
        )
        if on.shape != (self.net.n_gens,):
            raise ValidationError(
                "OPF input", [Problem("solve", "gen_online", f"need {self.net.n_gens} values")]
            )
        if np.array_equal(on, self._online):
            return
        self._online = on.copy()
        T, K, q = self.T, self.K, self._quad
        mask = np.tile(on, T)
        self.m.set_bounds(
            self.p, np.where(mask, self._pmin_t.ravel(), 0.0), np.where(mask, self._pmax_t.ravel(), 0.0)
        )
        if q.size:
            w = (self.net.gen_pmax_mw[q] - self.net.gen_pmin_mw[q]) / K
            self.m.set_bounds(self.seg, 0.0, np.tile(np.repeat(w * on[q], K), T))
            link = np.tile(self.net.gen_pmin_mw[q] * on[q], T)
            self.m.set_row_bounds(self._link, link, link)

    # ---- argument checks ---------------------------------------------------------------------
    @staticmethod
    def _check_args(net: Network, n_periods: int, dt_h: float, storage: Storage | None,
                    renewables: Renewables | None, pwl_segments: int, shed: float, spill: float) -> None:  # fmt: skip
        p: list[Problem] = []
        if not isinstance(n_periods, int | np.integer) or n_periods < 1:
            p.append(Problem("opf", "n_periods", f"must be a positive integer, got {n_periods!r}"))
        if not (np.isfinite(dt_h) and 0 < dt_h <= MAX_DT_H):
            p.append(Problem("opf", "dt_h", f"must be in (0, {MAX_DT_H:g}], got {dt_h!r}"))
        if not isinstance(pwl_segments, int | np.integer) or pwl_segments < 1:
            p.append(Problem("opf", "pwl_segments", f"must be a positive integer, got {pwl_segments!r}"))
        for f, v in (("shed_cost_eur_per_mwh", shed), ("spill_cost_eur_per_mwh", spill)):
            if not (np.isfinite(v) and 0 < v <= MAX_VALUE):
                p.append(Problem("opf", f, f"must be in (0, {MAX_VALUE:g}], got {v!r}"))
        if storage is not None:
            p += storage.validate(net.n_buses)
        if renewables is not None:
            if renewables.kind.shape != renewables.bus.shape:
                p.append(Problem("renewables", "kind", "must have one entry per renewable"))
            bad = np.flatnonzero((renewables.bus < 0) | (renewables.bus >= net.n_buses))
            p += [Problem(f"renewable {i}", "bus", f"bus position outside 0..{net.n_buses - 1}") for i in bad]
        if p:
            raise ValidationError("MultiPeriodDCOPF arguments", p)

    # ---- variables ---------------------------------------------------------------------------
    def _add_vars(self) -> None:
        net, T, dt, m, K = self.net, self.T, self.dt_h, self.m, self.K
        G = net.n_gens
        rng = net.gen_pmax_mw - net.gen_pmin_mw
        self._quad = np.flatnonzero((net.gen_cost_c2 > 0) & (rng > 0))
        lin_cost = np.where(np.isin(np.arange(G), self._quad), 0.0, net.gen_cost_c1)
        self.p = m.add_vars(T * G, lb=self._pmin_t.ravel(), ub=self._pmax_t.ravel(),
                            cost=np.tile(lin_cost * dt, T), name="p")  # fmt: skip
        q = self._quad
        w = rng[q] / K
        lo = net.gen_pmin_mw[q][:, None] + w[:, None] * np.arange(K)[None, :]  # (Gq, K) left breakpoints
        slope = net.gen_cost_c2[q][:, None] * (2 * lo + w[:, None]) + net.gen_cost_c1[q][:, None]
        self.seg = m.add_vars(T * q.size * K, lb=0.0, ub=np.tile(np.repeat(w, K), T),
                              cost=np.tile(slope.ravel() * dt, T), name="seg")  # fmt: skip
        pmin_q = net.gen_pmin_mw[q]
        fixed = (net.gen_cost_c2 > 0) & (rng <= 0)  # quadratic but fixed output: c2·p² is a constant
        const = (net.gen_cost_c0.sum() + (net.gen_cost_c2[q] * pmin_q**2 + net.gen_cost_c1[q] * pmin_q).sum()
                 + (net.gen_cost_c2[fixed] * net.gen_pmin_mw[fixed] ** 2).sum())  # fmt: skip
        self._offset = float(const * dt * T)
        self.w = m.add_vars(T * self.R, lb=0.0, ub=0.0, name="renewable")
        st = self.storage
        S = self.S
        pc = np.tile(st.charge_power_mw, T) if st is not None else np.empty(0)
        pd_ = np.tile(st.discharge_power_mw, T) if st is not None else np.empty(0)
        self.ch = m.add_vars(T * S, lb=0.0, ub=pc, name="charge")
        self.dis = m.add_vars(T * S, lb=0.0, ub=pd_, name="discharge")
        if st is not None:
            e = st.energy_mwh
            soc_lo, soc_hi = np.tile(st.soc_min * e, T), np.tile(st.soc_max * e, T)
            soc_lo[-S:] = soc_hi[-S:] = st.soc_init * e  # cyclic end
        else:
            soc_lo = soc_hi = np.empty(0)
        self.soc = m.add_vars(T * S, lb=soc_lo, ub=soc_hi, name="soc")
        self.u = m.add_vars(T * S, lb=0.0, ub=1.0, integer=True, name="u_charge")
        # shed at buses with load elements, spill at buses with any element
        self._shed_bus = np.unique(net.load_bus)
        parts = [net.load_bus, net.gen_bus]
        parts += [self.renewables.bus] if self.renewables is not None else []
        parts += [st.bus] if st is not None else []
        parts += [self.imports.bus] if self.imports is not None else []
        self._spill_bus = np.unique(np.concatenate(parts))
        imp = self.imports
        self.imp = m.add_vars(
            T * self.N, lb=imp.min_mw.ravel() if imp else 0.0, ub=imp.max_mw.ravel() if imp else 0.0,
            cost=np.tile(imp.price_eur_per_mwh * dt, T) if imp else 0.0, name="import",
        )  # fmt: skip
        self.shed = m.add_vars(T * self._shed_bus.size, lb=0.0, ub=0.0, cost=self.shed_cost * dt, name="shed")
        self.spill = m.add_vars(T * self._spill_bus.size, lb=0.0, cost=self.spill_cost * dt, name="spill")

    def _groups(self) -> list[tuple[VarBlock, np.ndarray, float]]:
        """(variable block, bus of each element in one period, sign of its injection)."""
        net = self.net
        st_bus = self.storage.bus if self.storage is not None else np.empty(0, np.int64)
        re_bus = self.renewables.bus if self.renewables is not None else np.empty(0, np.int64)
        im_bus = self.imports.bus if self.imports is not None else np.empty(0, np.int64)
        return [(self.p, net.gen_bus, 1.0), (self.w, re_bus, 1.0), (self.imp, im_bus, 1.0), (self.dis, st_bus, 1.0),
                (self.ch, st_bus, -1.0), (self.shed, self._shed_bus, 1.0), (self.spill, self._spill_bus, -1.0)]  # fmt: skip

    # ---- rows --------------------------------------------------------------------------------
    def _add_balance_and_lines(self) -> None:
        T, m = self.T, self.m
        bal, lines = [], []
        Lr = self._rated.size
        for block, bus, sign in self._groups():
            n = bus.size
            if n == 0:
                continue
            bal.append(_tile(T, 1, n, np.zeros(n, np.int64), np.arange(n), np.full(n, sign), block.start))
            if Lr:
                sub = self._ptdf_r[:, bus]
                li, di = np.nonzero(np.abs(sub) >= _PTDF_EPS)
                lines.append(_tile(T, Lr, n, li, di, sign * sub[li, di], block.start))
        r, c, v = _cat(*bal)
        self.bal = m.add_constrs("balance", row=r.astype(np.int64), col=c.astype(np.int64), val=v,
                                 lb=0.0, ub=0.0, n_rows=T)  # fmt: skip
        self.lines: ConstrBlock | None = None
        if Lr:
            r, c, v = _cat(*lines)
            rate = np.tile(self.net.line_rate_mw[self._rated], T)
            self.lines = m.add_constrs("lines", row=r.astype(np.int64), col=c.astype(np.int64), val=v,
                                       lb=-rate, ub=rate)  # fmt: skip

    def _add_pwl_links(self) -> None:
        q, K, G, T = self._quad, self.K, self.net.n_gens, self.T
        if not q.size:
            return
        # p_gt − Σ_k seg_gkt = pmin_g
        r1, c1, v1 = _tile(T, q.size, G, np.arange(q.size), q, np.ones(q.size), self.p.start)
        r2, c2, v2 = _tile(T, q.size, q.size * K, np.repeat(np.arange(q.size), K), np.arange(q.size * K),
                           -np.ones(q.size * K), self.seg.start)  # fmt: skip
        pmin = np.tile(self.net.gen_pmin_mw[q], T)
        self._link = self.m.add_constrs("pwl_link", row=np.concatenate([r1, r2]), col=np.concatenate([c1, c2]),
                           val=np.concatenate([v1, v2]), lb=pmin, ub=pmin)  # fmt: skip

    def _add_ramps(self) -> None:
        net, T, G = self.net, self.T, self.net.n_gens
        up, down = self._ramp_up * self.dt_h, self._ramp_down * self.dt_h
        gr = np.flatnonzero(np.minimum(up, down) < net.gen_pmax_mw - net.gen_pmin_mw)
        if T < 2 or not gr.size:
            return
        n = gr.size
        r, c, v = _tile(T - 1, n, G, np.tile(np.arange(n), 2), np.concatenate([gr + G, gr]),
                        np.concatenate([np.ones(n), -np.ones(n)]), self.p.start)  # fmt: skip
        self.m.add_constrs(
            "ramp", row=r, col=c, val=v, lb=-np.tile(down[gr], T - 1), ub=np.tile(up[gr], T - 1)
        )

    def _add_storage_rows(self) -> None:
        st, T, S, dt, m = self.storage, self.T, self.S, self.dt_h, self.m
        assert st is not None
        j = np.arange(S)
        # soc_t − soc_{t−1} − η_c Δt ch_t + Δt/η_d dis_t = 0  (t = 0: = soc_init E)
        parts = [
            _tile(T, S, S, j, j, np.ones(S), self.soc.start),
            _tile(T, S, S, j, j, -st.eta_charge * dt, self.ch.start),
            _tile(T, S, S, j, j, dt / st.eta_discharge, self.dis.start),
        ]
        if T > 1:
            parts.append(_tile(T - 1, S, S, j + S, j, -np.ones(S), self.soc.start))
        r, c, v = _cat(*parts)
        rhs = np.zeros(T * S)
        rhs[:S] = st.soc_init * st.energy_mwh
        self.soc_rows = m.add_constrs("soc", row=r, col=c, val=v, lb=rhs, ub=rhs)
        # ch − P u ≤ 0 ;  dis + P u ≤ P
        pc, pw = st.charge_power_mw, st.discharge_power_mw
        r, c, v = _cat(
            _tile(T, S, S, j, j, np.ones(S), self.ch.start), _tile(T, S, S, j, j, -pc, self.u.start)
        )
        m.add_constrs("excl_charge", row=r, col=c, val=v, lb=-np.inf, ub=0.0, n_rows=T * S)
        r, c, v = _cat(
            _tile(T, S, S, j, j, np.ones(S), self.dis.start), _tile(T, S, S, j, j, pw, self.u.start)
        )
        m.add_constrs("excl_discharge", row=r, col=c, val=v, lb=-np.inf, ub=np.tile(pw, T))

    # ---- solve -------------------------------------------------------------------------------
    def pwl_error_bound_eur(self) -> float:
        """Upper bound on (PWL cost − true quadratic cost) over the horizon, EUR."""
        net, q = self.net, self._quad
        w = (net.gen_pmax_mw[q] - net.gen_pmin_mw[q]) / self.K
        return float((net.gen_cost_c2[q] * w**2 / 4).sum() * self.dt_h * self.T)

    def _check_inputs(
        self, load_mw: np.ndarray, renewable_mw: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        T, D, R = self.T, self.net.n_loads, self.R
        p: list[Problem] = []
        try:
            load = np.asarray(load_mw, dtype=float)
        except (TypeError, ValueError) as e:
            raise ValidationError("OPF input", [Problem("solve", "load_mw", f"not numeric ({e})")]) from None
        if load.shape != (T, D):
            p.append(
                Problem(
                    "solve", "load_mw", f"has shape {load.shape}, expected (n_periods, n_loads) = ({T}, {D})"
                )
            )
        elif not np.isfinite(load).all():
            t, d = np.argwhere(~np.isfinite(load))[0]
            p.append(Problem("solve", "load_mw", f"not finite at period {t}, load {d}"))
        ren = np.zeros((T, R))
        if renewable_mw is None:
            if R:
                p.append(Problem("solve", "renewable_mw", f"required: the model has {R} renewables"))
        else:
            try:
                ren = np.asarray(renewable_mw, dtype=float)
            except (TypeError, ValueError) as e:
                p.append(Problem("solve", "renewable_mw", f"not numeric ({e})"))
                ren = np.zeros((T, R))
            if ren.shape != (T, R):
                p.append(Problem("solve", "renewable_mw", f"has shape {ren.shape}, expected ({T}, {R})"))
            elif not (np.isfinite(ren) & (ren >= 0)).all():
                t, r = np.argwhere(~(np.isfinite(ren) & (ren >= 0)))[0]
                p.append(
                    Problem("solve", "renewable_mw", f"must be finite and >= 0 (period {t}, renewable {r})")
                )
        if p:
            raise ValidationError("OPF input", p)
        return load, ren

    def solve(
        self,
        load_mw: np.ndarray,
        renewable_mw: np.ndarray | None = None,
        gen_online: np.ndarray | None = None,
    ) -> OPFResult:
        """Solve for loads (T, n_loads) MW, renewable availability (T, n_renewables) MW and the units in
        service (G,) bool (default all), warm."""
        t0 = time.perf_counter()
        load, ren = self._check_inputs(load_mw, renewable_mw)
        self.set_online(gen_online)
        m = self.m
        bus_load = load @ self._load_inc  # (T, B)
        m.set_row_bounds(self.bal, load.sum(axis=1), load.sum(axis=1))
        if self.lines is not None:
            base = (bus_load @ self._ptdf_r.T).ravel()
            rate = np.tile(self.net.line_rate_mw[self._rated], self.T)
            m.set_row_bounds(self.lines, base - rate, base + rate)
        m.set_bounds(self.shed, 0.0, np.maximum(bus_load[:, self._shed_bus], 0.0).ravel())
        if self.R:
            m.set_bounds(self.w, 0.0, ren.ravel())
        t_setup = time.perf_counter() - t0
        sol = m.solve(relax=True)
        used_milp = False
        solver_s, extra_s = sol.time_solver_s, sol.time_build_s
        if self.S and self._simultaneous(sol):
            self._start_from_netted(sol)
            sol = m.solve(relax=False, mip_rel_gap=self.milp_rel_gap, time_limit_s=self.milp_time_limit_s)
            used_milp = True
            solver_s += sol.time_solver_s
            extra_s += sol.time_build_s
        t1 = time.perf_counter()
        res = self._result(sol, bus_load, ren, used_milp)
        res.time_solver_s = solver_s
        res.time_build_s = t_setup + extra_s + (time.perf_counter() - t1)
        if self._first:
            res.time_build_s += self.time_build_s
            self._first = False
        return res

    def netted(self, sol: Solution) -> np.ndarray:
        """An exclusive schedule made from a relaxed one: the column values of a feasible MILP start.

        Where a unit charges ``c`` and discharges ``d`` at once, it keeps the same SOC path with one
        flow only (``c' = c − d/(η_c η_d)`` or ``d' = d − η_c η_d c``); the energy it no longer
        burns is spilled at its own bus, so every bus injection, line flow and SOC is unchanged. Its
        spill exceeds the relaxation's by the energy burnt: an upper bound next to the LP's lower one.
        """
        st, T, S = self.storage, self.T, self.S
        assert st is not None
        x = sol.x.copy()
        ch, dis = sol.value(self.ch).reshape(T, S), sol.value(self.dis).reshape(T, S)
        gain = st.eta_charge * ch - dis / st.eta_discharge  # SOC change per hour, kept
        ch2 = np.maximum(gain, 0.0) / st.eta_charge
        dis2 = np.maximum(-gain, 0.0) * st.eta_discharge
        extra = (ch - dis) - (ch2 - dis2)  # absorption lost: spilled where the unit is
        x[self.ch.start : self.ch.start + T * S] = ch2.ravel()
        x[self.dis.start : self.dis.start + T * S] = dis2.ravel()
        x[self.u.start : self.u.start + T * S] = (gain > 0).astype(float).ravel()
        pos = np.searchsorted(self._spill_bus, st.bus)
        spill = x[self.spill.start : self.spill.start + self.spill.n].reshape(T, -1)
        np.add.at(spill.T, pos, np.maximum(extra, 0.0).T)  # two units may share a bus
        x[self.spill.start : self.spill.start + self.spill.n] = spill.ravel()
        return x

    def _start_from_netted(self, sol: Solution) -> None:
        self.m.set_start(self.netted(sol))

    def _simultaneous(self, sol: Solution) -> bool:
        ch, dis = sol.value(self.ch), sol.value(self.dis)
        return bool(((ch > EXCL_TOL_MW) & (dis > EXCL_TOL_MW)).any())

    def _result(self, sol: Solution, bus_load: np.ndarray, ren: np.ndarray, used_milp: bool) -> OPFResult:
        T, S, R, net = self.T, self.S, self.R, self.net
        B = net.n_buses
        gen = sol.value(self.p).reshape(T, net.n_gens)
        shed, spill = np.zeros((T, B)), np.zeros((T, B))
        shed[:, self._shed_bus] = _clean(sol.value(self.shed).reshape(T, -1))
        spill[:, self._spill_bus] = _clean(sol.value(self.spill).reshape(T, -1))
        w = sol.value(self.w).reshape(T, R)
        ch, dis = sol.value(self.ch).reshape(T, S), sol.value(self.dis).reshape(T, S)
        inj = shed - spill - bus_load + gen @ _incidence(net.gen_bus, B)
        if self.renewables is not None:
            inj += w @ _incidence(self.renewables.bus, B)
        if self.storage is not None:
            inj += (dis - ch) @ _incidence(self.storage.bus, B)
        imp = sol.value(self.imp).reshape(T, self.N)
        if self.imports is not None:
            inj += imp @ _incidence(self.imports.bus, B)
        return OPFResult(
            status=sol.status, cost_eur=float(sol.objective) + self._offset, gen_mw=gen, shed_mw=shed,
            spill_mw=spill, flow_mw=inj @ self._ptdf.T, charge_mw=ch, discharge_mw=dis,
            soc_mwh=sol.value(self.soc).reshape(T, S), curtail_mw=np.maximum(ren - w, 0.0), renewable_mw=w,
            time_solver_s=0.0, time_build_s=0.0, used_milp=used_milp, import_mw=imp,
        )  # fmt: skip
