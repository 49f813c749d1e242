"""Model layer: results against independent solvers / enumeration, warm re-solves, input checks."""

from __future__ import annotations

import itertools

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import gridflex.optimize as opt
from gridflex.errors import ModelError, SolverError, UnboundedError
from gridflex.optimize import ConstrBlock, Model, VarBlock

INF = np.inf


def test_public_api() -> None:
    assert sorted(opt.__all__) == sorted(
        ["Model", "VarBlock", "ConstrBlock", "Solution", "diagnose_infeasibility", "GroupViolation"]
    )


def test_blocks_and_counts() -> None:
    m = Model("blocks")
    x = m.add_vars(3, name="x")
    y = m.add_vars(2, name="y")
    c = m.add_constrs("c", row=np.array([0, 1]), col=y.idx, val=1.0, lb=[0, 0], ub=[1, 1])
    assert isinstance(x, VarBlock) and isinstance(c, ConstrBlock)
    assert (y.name, y.start, y.n, len(y)) == ("y", 3, 2, 2)
    assert np.array_equal(y.idx, [3, 4]) and np.array_equal(c.idx, [0, 1])
    assert (m.n_vars, m.n_rows) == (5, 2)


def _vertex_optimum(c: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Brute force for min c@x s.t. a@x <= b in 2-D: best feasible intersection of two constraint lines."""
    best = INF
    for i, j in itertools.combinations(range(len(b)), 2):
        sub = a[[i, j]]
        if abs(np.linalg.det(sub)) < 1e-12:
            continue
        v = np.linalg.solve(sub, b[[i, j]])
        if np.all(a @ v <= b + 1e-9):
            best = min(best, float(c @ v))
    return best


def test_small_lp_against_vertex_enumeration() -> None:
    # max 3x + 2y  s.t. x + y <= 4, x + 3y <= 6, x <= 3.5, x, y >= 0
    m = Model("lp2")
    v = m.add_vars(2, lb=0.0, ub=[3.5, INF], cost=[-3.0, -2.0], name="v")
    rows = m.add_constrs("caps", row=np.array([0, 0, 1, 1]), col=v.idx[[0, 1, 0, 1]],
                         val=[1.0, 1.0, 1.0, 3.0], lb=[-INF, -INF], ub=[4.0, 6.0])  # fmt: skip
    sol = m.solve()
    a = np.array([[1, 1], [1, 3], [1, 0], [-1, 0], [0, -1]], dtype=float)
    b = np.array([4, 6, 3.5, 0, 0], dtype=float)
    assert sol.objective == pytest.approx(_vertex_optimum(np.array([-3.0, -2.0]), a, b), rel=1e-9)
    assert np.allclose(sol.value(v), [3.5, 0.5])
    assert sol.status == "optimal" and not sol.is_mip and np.isnan(sol.mip_gap)
    # Duals: HiGHS' convention, reduced cost = c - A^T y; binding row x + y <= 4 has price -2.
    assert np.allclose(sol.row_dual(rows), [-2.0, 0.0])
    assert np.allclose(sol.col_dual(v), [-1.0, 0.0])
    assert sol.time_solver_s >= 0 and sol.time_build_s >= 0


def test_duplicate_entries_are_summed() -> None:
    m = Model("dup")
    x = m.add_vars(1, lb=0, ub=10, cost=-1.0, name="x")
    both = np.array([x.start, x.start])
    m.add_constrs("c", row=np.array([0, 0]), col=both, val=[1.0, 1.0], lb=-INF, ub=4.0, n_rows=1)
    assert m.solve().value(x)[0] == pytest.approx(2.0)


def _random_lp(seed: int) -> tuple[np.ndarray, ...]:
    """A bounded LP that is feasible by construction: x0 in the box, row bounds around A @ x0."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 9)), int(rng.integers(1, 7))
    a = rng.normal(size=(k, n)) * (rng.random((k, n)) < 0.7)
    lb = -rng.random(n) * 5
    ub = rng.random(n) * 5
    x0 = lb + rng.random(n) * (ub - lb)
    ax0 = a @ x0
    kind = rng.integers(0, 4, size=k)  # 0: equality, 1: <=, 2: >=, 3: range
    rlb = np.where((kind == 0) | (kind == 3), ax0 - (kind == 3) * rng.random(k), -INF)
    rlb = np.where(kind == 2, ax0 - rng.random(k), rlb)
    rub = np.where((kind == 0) | (kind == 3), ax0 + (kind == 3) * rng.random(k), INF)
    rub = np.where(kind == 1, ax0 + rng.random(k), rub)
    cost = rng.normal(size=n)
    return a, lb, ub, rlb, rub, cost


def _build(a: np.ndarray, lb, ub, rlb, rub, cost, integer=False) -> tuple[Model, VarBlock, ConstrBlock]:  # type: ignore[no-untyped-def]
    m = Model("random")
    x = m.add_vars(a.shape[1], lb=lb, ub=ub, cost=cost, integer=integer, name="x")
    r, c = np.nonzero(a)
    rows = m.add_constrs("rows", row=r, col=x.idx[c], val=a[r, c], lb=rlb, ub=rub)
    return m, x, rows


def _linprog_ipm(a, lb, ub, rlb, rub, cost) -> float:  # type: ignore[no-untyped-def]
    """Independent path: interior point (not simplex), rows rewritten as A_ub / A_eq."""
    eq = rlb == rub
    up, lo = np.isfinite(rub) & ~eq, np.isfinite(rlb) & ~eq
    a_ub = np.vstack([a[up], -a[lo]])
    b_ub = np.concatenate([rub[up], -rlb[lo]])
    res = linprog(cost, A_ub=a_ub if len(b_ub) else None, b_ub=b_ub if len(b_ub) else None,
                  A_eq=a[eq] if eq.any() else None, b_eq=rlb[eq] if eq.any() else None,
                  bounds=list(zip(lb, ub, strict=True)), method="highs-ipm")  # fmt: skip
    assert res.status == 0
    return float(res.fun)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_random_feasible_lps_match_interior_point(seed: int) -> None:
    a, lb, ub, rlb, rub, cost = _random_lp(seed)
    m, x, _ = _build(a, lb, ub, rlb, rub, cost)
    sol = m.solve()
    xs = sol.value(x)
    assert sol.objective == pytest.approx(_linprog_ipm(a, lb, ub, rlb, rub, cost), rel=1e-6, abs=1e-6)
    assert np.all(xs >= lb - 1e-7) and np.all(xs <= ub + 1e-7)
    assert np.all(a @ xs >= rlb - 1e-6) and np.all(a @ xs <= rub + 1e-6)
    # Dual feasibility identity of HiGHS' convention: reduced costs = c - A^T y.
    assert np.allclose(sol.col_duals, cost - a.T @ sol.row_duals, atol=1e-7)


def test_knapsack_against_enumeration_and_relaxation_bound() -> None:
    rng = np.random.default_rng(7)
    value, weight = rng.integers(1, 30, 10).astype(float), rng.integers(1, 20, 10).astype(float)
    cap = 0.4 * weight.sum()
    m = Model("knapsack")
    take = m.add_vars(10, lb=0, ub=1, cost=-value, integer=True, name="take")
    m.add_constrs(
        "capacity", row=np.zeros(10, dtype=int), col=take.idx, val=weight, lb=-INF, ub=cap, n_rows=1
    )
    best = max(
        value @ np.array(p) for p in itertools.product((0, 1), repeat=10) if weight @ np.array(p) <= cap
    )
    sol = m.solve(mip_rel_gap=0.0)
    assert sol.is_mip and sol.status == "optimal" and sol.mip_gap <= 1e-9
    assert -sol.objective == pytest.approx(best)
    assert np.allclose(sol.value(take), np.round(sol.value(take)))
    assert np.isnan(sol.row_duals).all() and np.isnan(sol.col_duals).all()
    relaxed = m.solve(relax=True)
    assert not relaxed.is_mip and relaxed.objective <= sol.objective + 1e-9
    assert np.isfinite(relaxed.row_duals).all()
    assert m.solve(mip_rel_gap=0.0).objective == pytest.approx(sol.objective)  # integrality restored


def test_general_integers_against_enumeration() -> None:
    # min c@z, z in {0..3}^4, 2 coupling rows
    c = np.array([-3.0, -2.0, -4.0, -1.0])
    a = np.array([[2.0, 1.0, 3.0, 1.0], [1.0, 2.0, 1.0, 3.0]])
    b = np.array([7.0, 8.0])
    m, _, _ = _build(a, 0, 3, [-INF, -INF], b, c, integer=True)
    best = min(c @ np.array(p) for p in itertools.product(range(4), repeat=4) if np.all(a @ np.array(p) <= b))
    assert m.solve(mip_rel_gap=0.0).objective == pytest.approx(best)


def _fresh_objective(m: Model, relax: bool = False) -> float:
    arr = m.arrays()
    fresh, _, _ = _build(arr.a.toarray(), arr.lb, arr.ub, arr.row_lb, arr.row_ub, arr.cost, arr.integer)
    return fresh.solve(mip_rel_gap=0.0, relax=relax).objective


def test_warm_resolve_matches_fresh_model_after_successive_changes() -> None:
    rng = np.random.default_rng(11)
    a, lb, ub, rlb, rub, cost = _random_lp(3)
    n, k = a.shape[1], a.shape[0]
    m, x, rows = _build(a, lb, ub, rlb, rub, cost)
    m.solve()
    highs = m._highs
    for step in range(6):
        if step % 3 == 0:
            m.set_cost(x, rng.normal(size=n))
        elif step % 3 == 1:
            idx = rng.choice(n, size=max(1, n // 2), replace=False)
            m.set_bounds(x, lb[idx] - rng.random(idx.size), ub[idx] + rng.random(idx.size), index=idx)
        else:
            idx = np.array([0])
            m.set_row_bounds(rows, rlb[idx] - 1.0, rub[idx] + 1.0, index=idx)
            m.set_cost(x, 0.5, index=np.array([n - 1]))
        warm = m.solve()
        assert m._highs is highs  # changed in place, not rebuilt
        assert warm.objective == pytest.approx(_fresh_objective(m), rel=1e-7, abs=1e-9)
    assert k >= 1


def test_warm_resolve_milp_and_lp() -> None:
    m = Model("units")
    on = m.add_vars(3, lb=0, ub=1, cost=[10.0, 12.0, 30.0], integer=True, name="on")
    p = m.add_vars(3, lb=0, ub=INF, cost=[1.0, 2.0, 0.5], name="p")
    # p_i <= cap_i * on_i ; sum p >= demand
    caps = np.array([5.0, 8.0, 20.0])
    m.add_constrs("cap", row=np.r_[0:3, 0:3], col=np.r_[p.idx, on.idx], val=np.r_[np.ones(3), -caps],
                  lb=-INF, ub=0.0, n_rows=3)  # fmt: skip
    demand = m.add_constrs("demand", row=np.zeros(3, dtype=int), col=p.idx, val=1.0, lb=[6.0], ub=[INF])
    for d in (6.0, 12.0, 25.0, 3.0):
        m.set_row_bounds(demand, d, INF)
        m.set_cost(on, [10.0, 12.0, 30.0 - d])
        assert m.solve(mip_rel_gap=0.0).objective == pytest.approx(_fresh_objective(m), rel=1e-7)
        assert m.solve(relax=True).objective == pytest.approx(_fresh_objective(m, relax=True), rel=1e-7)


def test_set_before_solve_and_add_after_solve_rebuilds() -> None:
    m = Model("grow")
    x = m.add_vars(2, lb=0, ub=5, cost=-1.0, name="x")
    m.set_bounds(x, 0, 1, index=[1])
    assert m.solve().objective == pytest.approx(-6.0)
    y = m.add_vars(1, lb=0, ub=2, cost=-3.0, name="y")
    m.add_constrs(
        "sum", row=np.zeros(3, dtype=int), col=np.r_[x.idx, y.idx], val=1.0, lb=-INF, ub=4.0, n_rows=1
    )
    sol = m.solve()
    assert sol.objective == pytest.approx(-3 * 2 - 2) and sol.value(y)[0] == pytest.approx(2.0)


def test_threads_can_change_between_solves_and_verbose_runs(capfd: pytest.CaptureFixture[str]) -> None:
    m = Model("threads", verbose=True)
    x = m.add_vars(2, lb=0, ub=1, cost=-1.0, name="x")
    m.add_constrs("c", row=np.array([0, 0]), col=x.idx, val=1.0, lb=-INF, ub=1.5, n_rows=1)
    assert m.solve(threads=1).objective == pytest.approx(-1.5)
    assert m.solve(threads=2).objective == pytest.approx(-1.5)
    assert Model("other").solve(threads=1).objective == 0.0
    assert "HiGHS" in capfd.readouterr().out


def test_empty_model() -> None:
    sol = Model("empty").solve()
    assert sol.objective == 0.0 and sol.x.size == 0


def test_unbounded_raises() -> None:
    m = Model("greedy")
    x = m.add_vars(2, lb=0, cost=[-1.0, 0.0], name="x")
    m.add_constrs("c", row=np.array([0, 0]), col=x.idx, val=[1.0, -1.0], lb=-INF, ub=1.0, n_rows=1)
    with pytest.raises(UnboundedError, match=r"'greedy'.*cost or a bound is missing"):
        m.solve()
    m.add_vars(1, lb=0, cost=0.0, integer=True, name="k")
    with pytest.raises(UnboundedError):
        m.solve()


def test_time_limit_without_solution_is_solver_error() -> None:
    rng = np.random.default_rng(5)
    n = 60
    m = Model("hard")
    x = m.add_vars(n, lb=0, ub=1, cost=-rng.integers(50, 100, n).astype(float), integer=True, name="x")
    w = rng.integers(50, 100, size=(5, n)).astype(float)
    r, c = np.nonzero(w)
    m.add_constrs("knap", row=r, col=x.idx[c], val=w[r, c], lb=-INF, ub=w.sum(axis=1) / 2)
    try:
        sol = m.solve(time_limit_s=1e-6, mip_rel_gap=0.0)
    except SolverError as e:
        assert "'hard'" in str(e) and e.status
    else:
        assert sol.status in ("time_limit", "optimal") and sol.mip_gap >= 0


def test_time_limit_with_incumbent_returns_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    # Wall-clock limits are not reproducible; a real solve whose status is then reported as a time
    # limit exercises the mapping deterministically (the incumbent is feasible).
    m = Model("limited")
    x = m.add_vars(3, lb=0, ub=4, cost=[-1.0, -2.0, -3.0], integer=True, name="x")
    m.add_constrs("c", row=np.zeros(3, dtype=int), col=x.idx, val=[2.0, 3.0, 4.0], lb=-INF, ub=9.0, n_rows=1)
    exact = m.solve()
    monkeypatch.setattr(m._highs, "getModelStatus", lambda: highspy.HighsModelStatus.kTimeLimit)
    sol = m.solve(time_limit_s=10.0)
    assert sol.status == "time_limit" and sol.objective == pytest.approx(exact.objective)
    assert np.isfinite(sol.mip_gap)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.add_vars(3, lb=[0, np.nan, 0], name="bad"), "'bad'.*lb is NaN.*index 1"),
        (lambda m: m.add_vars(3, cost=[0, 1, np.nan], name="bad"), "'bad'.*cost"),
        (lambda m: m.add_vars(3, lb=[0, 5, 0], ub=[1, 2, 1], name="bad"), r"'bad'.*index 1 \(lb=5, ub=2\)"),
        (lambda m: m.add_vars(3, ub=[1, 2], name="bad"), "'bad'.*ub has shape"),
        (lambda m: m.add_vars(2, lb=np.inf, name="bad"), "'bad'"),
        (lambda m: m.add_vars("3", name="bad"), "'bad'.*n must be"),
        (lambda m: m.add_vars(2, integer=[True], name="bad"), "'bad'.*integer has shape"),
        (lambda m: m.add_vars(2, name="x"), "'x' already exists"),
        (lambda m: m.add_constrs("g", row=[0], col=[7], val=[1.0], lb=[0.0], ub=[1.0]), "'g'.*col index 7"),
        (lambda m: m.add_constrs("g", row=[2], col=[0], val=[1.0], lb=[0.0], ub=[1.0]), "'g'.*row index 2"),
        (lambda m: m.add_constrs("g", row=[0.0], col=[0], val=[1.0], lb=[0.0], ub=[1.0]), "'g'.*row must be"),
        (
            lambda m: m.add_constrs("g", row=[0, 0], col=[0], val=1.0, lb=[0.0], ub=[1.0]),
            "'g'.*col has length",
        ),
        (lambda m: m.add_constrs("g", row=[0], col=[0], val=[np.nan], lb=[0.0], ub=[1.0]), "'g'.*val"),
        (lambda m: m.add_constrs("g", row=[0], col=[0], val=[1.0], lb=[0.0, 0.0], ub=[1.0]), "'g'.*length"),
        (lambda m: m.add_constrs("g", row=[0], col=[0], val=[1.0], lb=0.0, ub=1.0), "'g'.*n_rows"),
        (lambda m: m.add_constrs("g", row=[0], col=[0], val=[1.0], lb=[2.0], ub=[1.0]), "'g'.*lb > ub"),
        (lambda m: m.add_constrs("g", row=[0], col=[0], val=[1.0], lb=[np.nan], ub=[1.0]), "'g'.*lb is NaN"),
        (lambda m: m.set_bounds(m.var_blocks[0], 3.0, 1.0, index=[1]), r"'x'.*index 1 \(lb=3, ub=1\)"),
        (lambda m: m.set_cost(m.var_blocks[0], [1.0, np.nan]), "'x'.*cost"),
        (lambda m: m.set_cost(m.var_blocks[0], 1.0, index=[5]), "'x'.*index index 5"),
        (lambda m: m.set_cost(VarBlock("other", 0, 2), 1.0), "'other' does not belong"),
    ],
)
def test_bad_input_raises_model_error_naming_the_group(call, match) -> None:  # type: ignore[no-untyped-def]
    m = Model("checks")
    m.add_vars(2, name="x")
    with pytest.raises(ModelError, match=match):
        call(m)


def test_restart_from_a_fixed_basis_makes_results_independent_of_history():
    # A degenerate LP (two equally cheap columns): the vertex found may depend on the warm state.
    def build() -> tuple[Model, VarBlock]:
        m = Model("degenerate")
        x = m.add_vars(2, lb=0.0, ub=1.0, cost=[1.0, 1.0], name="x")
        m.add_constrs(name="demand", row=[0, 0], col=x.idx, val=[1.0, 1.0], lb=1.0, ub=np.inf, n_rows=1)
        return m, x

    m, x = build()
    assert m.basis() is None
    m.solve()
    basis = m.basis()
    m.set_cost(x, [1.0, 2.0])
    m.solve()
    m.set_cost(x, [1.0, 1.0])
    m.restart_from(basis)
    again = m.solve().value(x)
    fresh_m, fresh_x = build()
    np.testing.assert_allclose(again, fresh_m.solve().value(fresh_x))


def test_solver_options_apply_and_a_bad_one_names_itself() -> None:
    m = Model(name="opts")
    x = m.add_vars(3, ub=1.0, cost=[-3.0, -2.0, -2.0], integer=True, name="x")
    m.add_constrs(
        "cap", row=np.zeros(3, dtype=int), col=x.idx, val=[2.0, 1.0, 1.0], lb=-INF, ub=2.0, n_rows=1
    )
    sol = m.solve(options={"mip_allow_restart": False})
    assert sol.objective == pytest.approx(-4.0) and sol.value(x).round().tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ModelError, match="option no_such_option=1 is unknown"):
        m.solve(options={"no_such_option": 1})
    with pytest.raises(ModelError, match="mip_allow_restart='yes'"):
        m.solve(options={"mip_allow_restart": "yes"})


def _cover(seed: int, n: int = 14, rows: int = 4) -> tuple[Model, VarBlock]:
    """A covering MILP with mixed-sign rows and slack columns, like a DSO request round."""
    rng = np.random.default_rng(seed)
    m = Model("cover")
    x = m.add_vars(n, ub=1.0, cost=rng.integers(1, 40, n).astype(float), integer=True, name="x")
    slack = m.add_vars(rows, cost=100.0, name="slack")
    a = np.round(rng.uniform(-0.5, 2.0, (rows, n)) * (rng.random((rows, n)) < 0.6), 2)
    r, c = np.nonzero(a)
    m.add_constrs("need", row=np.r_[r, np.arange(rows)], col=np.r_[x.start + c, slack.idx],
                  val=np.r_[a[r, c], np.ones(rows)], lb=rng.uniform(0.5, 3.0, rows), ub=INF)  # fmt: skip
    return m, x


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([0.0, 0.03, 1.0]))
def test_lp_first_reaches_the_optimum_of_one_solve(seed: int, share: float) -> None:
    staged = _cover(seed)[0].solve_lp_first(mip_rel_gap=0.0, near_share=share)  # 1.0: one solve
    direct = _cover(seed)[0].solve(mip_rel_gap=0.0)
    assert staged.is_mip and staged.status == "optimal"
    assert staged.objective == pytest.approx(direct.objective, rel=1e-7, abs=1e-5)  # HiGHS tolerances
    m, x = _cover(seed)
    arr = m.arrays()
    assert (arr.a @ staged.x >= arr.row_lb - 1e-6).all()  # the staged point itself is feasible
    assert np.allclose(staged.value(x), np.round(staged.value(x)), atol=1e-6)  # HiGHS' integrality tolerance


def test_lp_first_cases_integral_relaxation_restricted_infeasible_and_options_kept() -> None:
    m = Model("integral")  # a totally unimodular row: the relaxation is the answer
    x = m.add_vars(3, ub=1.0, cost=[3.0, 1.0, 2.0], integer=True, name="x")
    m.add_constrs("two", row=np.zeros(3, dtype=int), col=x.idx, val=1.0, lb=2.0, ub=INF, n_rows=1)
    sol = m.solve_lp_first()
    assert sol.status == "optimal" and sol.mip_gap == 0.0 and sol.value(x).tolist() == [0.0, 1.0, 1.0]
    # the relaxation takes x0 = 1, x1 = 0.5; held at 0, the costly x2 leaves no integer point
    m = Model("restricted infeasible")
    x = m.add_vars(3, ub=1.0, cost=[1.0, 1.0, 10.0], integer=True, name="x")
    m.add_constrs("eq", row=np.zeros(3, dtype=int), col=x.idx, val=[2.0, 2.0, 3.0], lb=3.0, ub=3.0, n_rows=1)
    sol = m.solve_lp_first(mip_rel_gap=0.0)
    assert sol.objective == pytest.approx(10.0) and sol.value(x).round().tolist() == [0.0, 0.0, 1.0]
    m, _ = _cover(3)
    m.solve_lp_first()
    assert m._highs is not None and m._highs.getOptionValue("mip_heuristic_run_rins")[1] is True
    with pytest.raises(SolverError, match="Time limit"):  # no time even for the relaxation: as solve()
        m.solve_lp_first(time_limit_s=0.0)
    assert Model("lp").solve_lp_first().objective == 0.0  # no integer columns: one solve
