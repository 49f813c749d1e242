"""A thin, vectorized sparse-matrix model over HiGHS.

Variables and constraints are added in *groups* (blocks) of arrays; at the first solve all groups
are assembled into one CSC matrix and passed to HiGHS in one call. Data-only changes (costs, bounds,
row bounds) after a solve go straight to the kept ``Highs`` instance, so the re-solve is warm.

Example::

    import numpy as np
    from gridflex.optimize import Model

    m = Model(name="portfolio")
    p = m.add_vars(24, lb=0.0, ub=5.0, cost=prices_eur_per_mwh, name="p")
    m.add_constrs(name="energy", row=np.zeros(24, dtype=int), col=p.idx, val=1.0,
                  lb=40.0, ub=40.0, n_rows=1)
    sol = m.solve()
    schedule = sol.value(p)
    m.set_cost(p, new_prices)       # in place; the next solve starts from the last basis
    sol = m.solve()
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from gridflex.errors import ModelError, SolverError
from gridflex.optimize.diagnose import explain_failure
from gridflex.optimize.highs import (
    ERROR,
    INF,
    MS,
    Arrays,
    Highs,
    feasible_solution,
    new_highs,
    pass_arrays,
    set_start,
    use_threads,
)


@dataclass(frozen=True)
class _Block:
    name: str
    start: int
    n: int

    @property
    def idx(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.n)

    def __len__(self) -> int:
        return self.n


class VarBlock(_Block):
    """A group of ``n`` consecutive columns starting at global column ``start``."""


class ConstrBlock(_Block):
    """A group of ``n`` consecutive rows starting at global row ``start``."""


@dataclass(frozen=True, eq=False)
class Solution:
    """Result of :meth:`Model.solve`. Duals are NaN for a MILP."""

    x: np.ndarray
    objective: float
    status: str  # "optimal" | "time_limit"
    mip_gap: float
    is_mip: bool
    time_solver_s: float
    time_build_s: float
    row_duals: np.ndarray = field(repr=False)
    col_duals: np.ndarray = field(repr=False)

    def value(self, block: VarBlock) -> np.ndarray:
        return self.x[block.start : block.start + block.n]

    def row_dual(self, block: ConstrBlock) -> np.ndarray:
        return self.row_duals[block.start : block.start + block.n]

    def col_dual(self, block: VarBlock) -> np.ndarray:
        return self.col_duals[block.start : block.start + block.n]


_HEURISTICS = (  # HiGHS' primal heuristics, off once a good incumbent is given (solve_lp_first)
    "mip_heuristic_run_feasibility_jump",
    "mip_heuristic_run_rins",
    "mip_heuristic_run_rens",
    "mip_heuristic_run_root_reduced_cost",
)


def _option(h: Highs, name: str) -> Any:
    value = h.getOptionValue(name)
    return value[1] if isinstance(value, tuple) else value  # (status, value) in recent highspy


class _Chunks:
    """Appends are O(1); the first full read concatenates once and keeps one writable array."""

    def __init__(self, dtype: Any) -> None:
        self._parts: list[np.ndarray] = []
        self._dtype = dtype

    def append(self, a: np.ndarray) -> None:
        self._parts.append(a)

    def flat(self) -> np.ndarray:
        if len(self._parts) != 1:
            self._parts = [np.concatenate(self._parts) if self._parts else np.empty(0, self._dtype)]
        return self._parts[0]


def _vec(group: str, fld: str, value: Any, n: int, finite: bool = False) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise ModelError(f"group '{group}': {fld} is not numeric ({e})") from None
    if a.ndim == 0:
        a = np.full(n, float(a))
    elif a.shape != (n,):
        raise ModelError(f"group '{group}': {fld} has shape {a.shape}, expected ({n},)")
    else:
        a = a.copy()  # never alias the caller's array: set_* writes in place
    bad = np.flatnonzero(~np.isfinite(a) if finite else np.isnan(a))
    if bad.size:
        what = "not finite" if finite else "NaN"
        raise ModelError(
            f"group '{group}': {fld} is {what} at {bad.size} entries, first local index {bad[0]}"
        )
    return a


def _bounds(group: str, lb: Any, ub: Any, n: int, index: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    lb, ub = _vec(group, "lb", lb, n), _vec(group, "ub", ub, n)
    bad = np.flatnonzero((lb > ub) | (lb == np.inf) | (ub == -np.inf))
    if bad.size:
        i = bad[0]
        local = i if index is None else index[i]
        raise ModelError(
            f"group '{group}': lb > ub (or an infinite bound on the wrong side) at {bad.size} entries, "
            f"first local index {local} (lb={lb[i]:g}, ub={ub[i]:g})"
        )
    return lb, ub


def _indices(group: str, fld: str, value: Any, size: int, limit: int) -> np.ndarray:
    a = np.asarray(value)
    if a.size == 0:
        a = a.astype(np.int64)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise ModelError(f"group '{group}': {fld} must be a 1-d integer array, got {a.dtype} {a.shape}")
    if a.size != size:
        raise ModelError(f"group '{group}': {fld} has length {a.size}, expected {size}")
    bad = np.flatnonzero((a < 0) | (a >= limit))
    if bad.size:
        raise ModelError(
            f"group '{group}': {fld} index {a[bad[0]]} at position {bad[0]} is outside 0..{limit - 1}"
        )
    return a.astype(np.int64)


class Model:
    """Groups of variables and constraints, solved by HiGHS. See the module docstring."""

    def __init__(self, name: str = "model", verbose: bool = False) -> None:
        self.name = name
        self.verbose = verbose
        self._vars: dict[str, VarBlock] = {}
        self._constrs: dict[str, ConstrBlock] = {}
        self._lb, self._ub, self._cost = _Chunks(float), _Chunks(float), _Chunks(float)
        self._integer, self._row_lb, self._row_ub = _Chunks(bool), _Chunks(float), _Chunks(float)
        self._tri_row, self._tri_col, self._tri_val = _Chunks(np.int64), _Chunks(np.int64), _Chunks(float)
        self._col_chunks = (self._lb, self._ub, self._cost, self._integer)
        self._row_chunks = (self._row_lb, self._row_ub, self._tri_row, self._tri_col, self._tri_val)
        self.n_vars, self.n_rows = 0, 0
        self._highs: Highs | None = None
        self._relaxed = False  # integrality currently switched off inside the kept Highs

    @property
    def var_blocks(self) -> tuple[VarBlock, ...]:
        return tuple(self._vars.values())

    @property
    def constr_blocks(self) -> tuple[ConstrBlock, ...]:
        return tuple(self._constrs.values())

    def add_vars(
        self, n: int, lb: Any = 0.0, ub: Any = np.inf, cost: Any = 0.0, integer: Any = False, name: str = "x"
    ) -> VarBlock:
        """Add ``n`` columns; every argument is a scalar or an array of length ``n``."""
        if name in self._vars:
            raise ModelError(f"model '{self.name}': variable group '{name}' already exists")
        if not isinstance(n, int | np.integer) or n < 0:
            raise ModelError(f"group '{name}': n must be a non-negative integer, got {n!r}")
        n = int(n)
        lb_a, ub_a = _bounds(name, lb, ub, n)
        cost_a = _vec(name, "cost", cost, n, finite=True)
        integer_a = np.asarray(integer, dtype=bool)
        integer_a = np.full(n, bool(integer_a)) if integer_a.ndim == 0 else integer_a.copy()
        if integer_a.shape != (n,):
            raise ModelError(f"group '{name}': integer has shape {integer_a.shape}, expected ({n},)")
        block = VarBlock(name, self.n_vars, n)
        for chunks, a in zip(self._col_chunks, (lb_a, ub_a, cost_a, integer_a), strict=True):
            chunks.append(a)
        self._vars[name] = block
        self.n_vars += n
        self._highs = None  # structure changed: rebuild on the next solve
        return block

    def add_constrs(
        self, name: str, row: Any, col: Any, val: Any, lb: Any, ub: Any, n_rows: int | None = None
    ) -> ConstrBlock:
        """Add rows ``lb <= A x <= ub`` given as triplets; ``row`` is local, ``col`` global.

        The number of rows is ``n_rows`` if given, else the length of the array ``lb`` or ``ub``.
        Duplicate (row, col) entries are summed.
        """
        if name in self._constrs:
            raise ModelError(f"model '{self.name}': constraint group '{name}' already exists")
        if n_rows is None:
            sizes = {np.size(b) for b in (lb, ub) if np.ndim(b) > 0}
            if not sizes:
                raise ModelError(f"group '{name}': lb and ub are scalars; give n_rows=")
            n_rows = sizes.pop()
            if sizes:
                raise ModelError(
                    f"group '{name}': lb has length {np.size(lb)} but ub has length {np.size(ub)}"
                )
        lb_a, ub_a = _bounds(name, lb, ub, n_rows)
        row_a = np.asarray(row)
        val_a = _vec(name, "val", val, row_a.size, finite=True)
        row_a = _indices(name, "row", row_a, row_a.size, n_rows)
        col_a = _indices(name, "col", col, row_a.size, self.n_vars)
        block = ConstrBlock(name, self.n_rows, n_rows)
        for chunks, a in zip(self._row_chunks, (lb_a, ub_a, row_a + block.start, col_a, val_a), strict=True):
            chunks.append(a)
        self._constrs[name] = block
        self.n_rows += n_rows
        self._highs = None
        return block

    def arrays(self) -> Arrays:
        """Assemble all groups into one CSC matrix (duplicates summed) plus the bound vectors."""
        shape = (self.n_rows, self.n_vars)
        a = sp.csc_matrix((self._tri_val.flat(), (self._tri_row.flat(), self._tri_col.flat())), shape=shape)
        a.eliminate_zeros()
        return Arrays(a, self._cost.flat(), self._lb.flat(), self._ub.flat(),
                      self._row_lb.flat(), self._row_ub.flat(), self._integer.flat())  # fmt: skip

    # ---- in-place data changes -------------------------------------------------------------
    def _target(self, block: _Block, index: Any) -> np.ndarray:
        known = self._vars if isinstance(block, VarBlock) else self._constrs
        if known.get(block.name) != block:
            raise ModelError(f"model '{self.name}': group '{block.name}' does not belong to this model")
        if index is None:
            return np.arange(block.n)
        return _indices(block.name, "index", index, np.size(index), block.n)

    def set_cost(self, block: VarBlock, values: Any, index: Any = None) -> None:
        local = self._target(block, index)
        cost = _vec(block.name, "cost", values, local.size, finite=True)
        glob = local + block.start
        self._cost.flat()[glob] = cost
        if self._highs is not None:
            self._highs.changeColsCost(glob.size, glob.astype(np.int32), cost)

    def set_bounds(self, block: VarBlock, lb: Any, ub: Any, index: Any = None) -> None:
        glob, lb_a, ub_a = self._new_bounds(block, lb, ub, index)
        self._lb.flat()[glob], self._ub.flat()[glob] = lb_a, ub_a
        if self._highs is not None:
            self._highs.changeColsBounds(glob.size, glob.astype(np.int32), lb_a, ub_a)

    def set_row_bounds(self, block: ConstrBlock, lb: Any, ub: Any, index: Any = None) -> None:
        glob, lb_a, ub_a = self._new_bounds(block, lb, ub, index)
        self._row_lb.flat()[glob], self._row_ub.flat()[glob] = lb_a, ub_a
        if self._highs is not None:
            # missing from highspy 1.15's stub, present in the binding
            self._highs.changeRowsBounds(glob.size, glob.astype(np.int32), lb_a, ub_a)  # type: ignore[attr-defined]

    def basis(self) -> Any:
        """The simplex basis of the last solve (None before any): hand it to :meth:`restart_from`."""
        return None if self._highs is None else self._highs.getBasis()

    def restart_from(self, basis: Any) -> None:
        """Forget the warm state of the last solve and start the next one from ``basis``.

        A degenerate model can have several optimal vertices; a re-solve warm-started from whatever
        was solved before may land on another one. Restarting every re-solve from one fixed basis
        makes each result depend on its data only (e.g. the same whatever the number of workers).
        """
        if self._highs is None:
            return
        self._highs.clearSolver()  # setBasis alone keeps other warm state
        if basis is not None:
            self._highs.setBasis(basis)

    def _new_bounds(self, block: _Block, lb: Any, ub: Any, index: Any) -> tuple[np.ndarray, ...]:
        local = self._target(block, index)
        return (local + block.start, *_bounds(block.name, lb, ub, local.size, local))

    # ---- solve -----------------------------------------------------------------------------
    def _build(self) -> Highs:
        arr = self.arrays()
        if arr.a.nnz >= 2**31 - 1:
            raise ModelError(f"model '{self.name}': {arr.a.nnz} nonzeros exceed HiGHS' 32-bit indices")
        h = new_highs(self.verbose)
        if pass_arrays(h, arr) == ERROR:
            raise ModelError(f"model '{self.name}': HiGHS rejected the model (passModel returned kError)")
        self._relaxed = False
        return h

    def set_start(self, x: np.ndarray) -> None:
        """A starting point (one value per column) for the next MIP solve, e.g. a feasible schedule
        built from the relaxation: HiGHS starts from it instead of searching for a first one."""
        if self._highs is None:
            self._highs = self._build()
        self._set_relaxed(False)  # now, so that going back to the MILP does not clear the start
        set_start(self._highs, x)

    def solve_lp_first(
        self, time_limit_s: float | None = None, mip_rel_gap: float = 1e-4, near_share: float = 0.03,
        options: dict[str, Any] | None = None,
    ) -> Solution:  # fmt: skip
        """Solve a MILP in three steps, for models whose relaxation is weak but points the right way
        (covering models: docs/decisions/0018-lp-first-local-clearing.md).

        1. The LP relaxation; when it is integral already, it is the optimum.
        2. The MILP over the integer columns the relaxation uses or nearly would (reduced cost at most
           ``near_share`` of the LP objective), the others held at their lower bound: a small MILP whose
           optimum is a good incumbent. Meant for models that stay feasible so (slack columns); when
           this one is not, the step is skipped. When it would keep more than half of the integer
           columns, the MILP is solved once, as by :meth:`solve`.
        3. The whole MILP from that incumbent, without HiGHS' primal heuristics: the search is done,
           the proof of the gap remains. Its status and gap are the result's.

        ``time_limit_s`` bounds the three together; times in the result are their sums.
        """
        t0 = time.perf_counter()
        integer = np.flatnonzero(self._integer.flat())
        if not integer.size:
            return self.solve(time_limit_s, mip_rel_gap, options=options)

        def left() -> float | None:
            return None if time_limit_s is None else max(time_limit_s - (time.perf_counter() - t0), 0.0)

        lp = self.solve(left(), relax=True, options=options)
        x, solver_s = lp.x, lp.time_solver_s
        whole = np.round(x[integer])
        if lp.status == "optimal" and np.abs(x[integer] - whole).max() <= 1e-9:
            x = x.copy()
            x[integer] = whole
            return self._staged(x, lp.objective, "optimal", 0.0, solver_s, t0)
        lb, ub = self._lb.flat(), self._ub.flat()
        near = (x > lb + 1e-9) | (lp.col_duals <= near_share * max(abs(lp.objective), 1e-9))
        hold = integer[~near[integer]].astype(np.int32)
        h = self._highs
        assert h is not None  # built by the relaxation
        start = None
        if 2 * hold.size < integer.size:  # most columns look useful (e.g. a penalty-dominated objective):
            sol = self.solve(left(), mip_rel_gap, options=options)  # a restriction would repeat the MILP
            return self._staged(
                sol.x, sol.objective, sol.status, sol.mip_gap, solver_s + sol.time_solver_s, t0
            )
        h.changeColsBounds(hold.size, hold, lb[hold], lb[hold])
        try:
            sub = self.solve(left(), mip_rel_gap, options=options)
            start, solver_s = sub.x, solver_s + sub.time_solver_s
        except SolverError:  # the restricted model has no solution: search the whole one
            pass
        finally:
            h.changeColsBounds(hold.size, hold, lb[hold], ub[hold])
        search = dict.fromkeys(_HEURISTICS, False) if start is not None else {}
        before = {k: _option(h, k) for k in search}
        if start is not None:
            self.set_start(start)
        try:
            sol = self.solve(left(), mip_rel_gap, options={**(options or {}), **search})
        finally:
            for k, v in before.items():
                h.setOptionValue(k, v)
        return self._staged(sol.x, sol.objective, sol.status, sol.mip_gap, solver_s + sol.time_solver_s, t0)

    def _set_relaxed(self, relax: bool) -> bool:
        """Integer columns continuous (relax) or integer again; whether the model has any."""
        h = self._highs
        assert h is not None
        integer = self._integer.flat()
        has_int = bool(integer.any())
        if has_int and relax != self._relaxed:
            cols = np.flatnonzero(integer).astype(np.int32)
            kind = np.full(cols.size, 0 if relax else 1, dtype=np.uint8)
            h.changeColsIntegrality(cols.size, cols, kind)
            if not relax:  # else HiGHS may report the MILP's optimum with another solution's columns
                h.clearSolver()  # (after the relaxation, tests/market/test_local.py seed 956)
            self._relaxed = relax
        return has_int

    def _staged(
        self, x: np.ndarray, objective: float, status: str, gap: float, solver_s: float, t0: float
    ) -> Solution:
        nan_rows, nan_cols = np.full(self.n_rows, np.nan), np.full(self.n_vars, np.nan)
        total = time.perf_counter() - t0
        return Solution(x=x, objective=objective, status=status, mip_gap=gap, is_mip=True, time_solver_s=solver_s,
                        time_build_s=total - solver_s, row_duals=nan_rows, col_duals=nan_cols)  # fmt: skip

    def solve(
        self, time_limit_s: float | None = None, mip_rel_gap: float = 1e-4, relax: bool = False,
        threads: int | None = None, options: dict[str, Any] | None = None,
    ) -> Solution:  # fmt: skip
        """Solve, warm if only data changed since the last solve; raise a SolverError if no solution.

        ``options``: further HiGHS options (name → value), kept by this model for its later solves."""
        t0 = time.perf_counter()
        if self._highs is None:
            self._highs = self._build()
        h = self._highs
        h.setOptionValue("time_limit", INF if time_limit_s is None else float(time_limit_s))
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
        if threads is not None:
            use_threads(h, int(threads))
        for key, value in (options or {}).items():
            if h.setOptionValue(key, value) == ERROR:
                raise ModelError(
                    f"model '{self.name}': HiGHS option {key}={value!r} is unknown or of the wrong type"
                )
        has_int = self._set_relaxed(relax)
        t1 = time.perf_counter()
        h.run()
        t2 = time.perf_counter()
        status = h.getModelStatus()
        info = h.getInfo()
        is_mip = has_int and not relax
        if status == MS.kModelEmpty:  # no columns: HiGHS does not check the rows itself
            arr = self.arrays()
            if (arr.row_lb > 1e-9).any() or (arr.row_ub < -1e-9).any():
                status = MS.kInfeasible
        if status in (MS.kInfeasible, MS.kUnboundedOrInfeasible, MS.kUnbounded):
            raise explain_failure(self, status == MS.kInfeasible, status == MS.kUnbounded)
        feasible = feasible_solution(info)
        if status == MS.kTimeLimit and feasible:
            status_name = "time_limit"
        elif status in (MS.kOptimal, MS.kModelEmpty):
            status_name = "optimal"
        else:
            name = h.modelStatusToString(status)
            raise SolverError(f"model '{self.name}': HiGHS stopped with status '{name}'", status=name)
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        if is_mip or not sol.dual_valid:
            row_duals, col_duals = np.full(self.n_rows, np.nan), np.full(self.n_vars, np.nan)
        else:
            row_duals, col_duals = np.asarray(sol.row_dual, float), np.asarray(sol.col_dual, float)
        objective = float(info.objective_function_value) if self.n_vars else 0.0
        return Solution(
            x=x, objective=objective, status=status_name, mip_gap=float(info.mip_gap) if is_mip else np.nan,
            is_mip=is_mip, time_solver_s=t2 - t1, time_build_s=(t1 - t0) + (time.perf_counter() - t2),
            row_duals=row_duals, col_duals=col_duals,
        )  # fmt: skip
