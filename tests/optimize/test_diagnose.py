"""Infeasibility diagnosis: the right groups are named, with counts, first index and amount."""

from __future__ import annotations

import numpy as np
import pytest

from gridflex.errors import InfeasibleError, UnboundedError
from gridflex.optimize import GroupViolation, Model, diagnose_infeasibility

INF = np.inf


def _site(demand_kw: np.ndarray, fuse_kw: np.ndarray) -> Model:
    """Two generators per period cover demand, their sum stays under a fuse; plus an unrelated store."""
    t = demand_kw.size
    m = Model("portfolio")
    g1 = m.add_vars(t, lb=0.0, ub=INF, cost=1.0, name="g1")
    g2 = m.add_vars(t, lb=0.0, ub=INF, cost=2.0, name="g2")
    s = m.add_vars(t, lb=0.0, ub=10.0, cost=-0.1, name="store")
    rows = np.r_[np.arange(t), np.arange(t)]
    cols = np.r_[g1.idx, g2.idx]
    m.add_constrs("demand", row=rows, col=cols, val=1.0, lb=demand_kw, ub=np.full(t, INF))
    m.add_constrs("fuse", row=rows, col=cols, val=1.0, lb=np.full(t, -INF), ub=fuse_kw)
    m.add_constrs("store_limit", row=np.arange(t), col=s.idx, val=1.0, lb=np.zeros(t), ub=np.full(t, 5.0))
    return m


def test_demand_exceeding_fuse_names_both_groups_and_not_the_unrelated_one() -> None:
    demand = np.full(96, 3.0)
    demand[[17, 40, 41]] = [8.0, 6.5, 9.0]
    fuse = np.full(96, 5.0)
    m = _site(demand, fuse)
    with pytest.raises(InfeasibleError) as info:
        m.solve()
    err = info.value
    assert set(err.groups) == {"demand", "fuse"}
    assert str(err).startswith("model 'portfolio' is infeasible: constraint group ")
    assert "store" not in str(err)
    violations = {v.group: v for v in diagnose_infeasibility(m)}
    assert set(violations) == {"demand", "fuse"}
    for v in violations.values():
        assert (v.kind, v.n_violated, v.n_total, v.first_index) == ("rows", 3, 96, 17)
    assert sum(v.amount for v in violations.values()) == pytest.approx(3.0 + 1.5 + 4.0)
    short = max(violations.values(), key=lambda v: v.amount)
    assert f"(3 of 96 rows, first local row 17, short by {short.amount:g})" in str(err)
    # Lifting the fuse where needed (in place) makes the same model feasible.
    m.set_row_bounds(m.constr_blocks[1], -INF, 10.0, index=np.array([17, 40, 41]))
    assert diagnose_infeasibility(m) == []
    assert m.solve().objective == pytest.approx(demand.sum() - 0.1 * 5.0 * 96)


def test_bound_conflict_names_the_variable_group() -> None:
    m = Model("bounds")
    x = m.add_vars(4, lb=0.0, ub=[3.0, 3.0, 3.0, 10.0], cost=1.0, name="x")
    y = m.add_vars(2, lb=0.0, ub=1.0, name="y")
    m.add_constrs("need", row=np.zeros(2, dtype=int), col=x.idx[1:3], val=1.0, lb=[10.0], ub=[INF])
    m.add_constrs("free", row=np.zeros(2, dtype=int), col=y.idx, val=1.0, lb=[0.5], ub=[1.5])
    violations = {(v.group, v.kind): v for v in diagnose_infeasibility(m)}
    assert set(violations) == {("need", "rows"), ("x", "bounds")}
    b = violations[("x", "bounds")]
    assert (b.n_violated, b.n_total, b.first_index) == (2, 4, 1)
    assert sum(v.amount for v in violations.values()) == pytest.approx(4.0)
    with pytest.raises(InfeasibleError, match="bounds of 'x'") as info:
        m.solve()
    assert set(info.value.groups) == {"need", "x"}


def test_fixed_variable_against_row() -> None:
    m = Model("fixed")
    x = m.add_vars(3, lb=[0.0, 5.0, 0.0], ub=[1.0, 5.0, 1.0], name="x")
    m.add_constrs("cap", row=np.array([0]), col=x.idx[[1]], val=[1.0], lb=[-INF], ub=[2.0])
    v = {(v.group, v.kind): v for v in diagnose_infeasibility(m)}
    assert set(v) == {("cap", "rows"), ("x", "bounds")}
    assert v[("x", "bounds")].first_index == 1
    assert sum(g.amount for g in v.values()) == pytest.approx(3.0)


def test_integer_only_infeasibility() -> None:
    m = Model("parity")
    x = m.add_vars(1, lb=-10, ub=10, integer=True, name="x")
    m.add_vars(2, lb=0, ub=1, integer=True, name="other")
    m.add_constrs("half", row=np.array([0]), col=x.idx, val=[2.0], lb=[1.0], ub=[1.0])
    (v,) = diagnose_infeasibility(m)
    assert v == GroupViolation("x", "integrality", 1, 1, 0, pytest.approx(0.5))
    with pytest.raises(InfeasibleError, match="integer restrictions of 'x' cannot be met") as info:
        m.solve()
    assert info.value.groups == ["x"]
    assert m.solve(relax=True).value(x)[0] == pytest.approx(0.5)  # the relaxation itself is fine


def test_milp_with_infeasible_relaxation_names_rows_not_integrality() -> None:
    m = Model("units")
    on = m.add_vars(3, lb=0, ub=1, integer=True, name="on")
    m.add_constrs("at_least", row=np.zeros(3, dtype=int), col=on.idx, val=1.0, lb=[4.0], ub=[INF])
    kinds = {v.kind for v in diagnose_infeasibility(m)}
    assert "integrality" not in kinds
    with pytest.raises(InfeasibleError) as info:
        m.solve()
    assert set(info.value.groups) == {"at_least", "on"}


def test_rows_without_columns() -> None:
    m = Model("norows")
    m.add_constrs("impossible", row=np.zeros(0, dtype=int), col=np.zeros(0, dtype=int), val=1.0, lb=[1.0],
                  ub=[2.0])  # fmt: skip
    with pytest.raises(InfeasibleError, match="constraint group 'impossible' cannot be met"):
        m.solve()


def test_infeasible_with_unbounded_direction_is_infeasible_not_unbounded() -> None:
    m = Model("both")
    x = m.add_vars(2, lb=-INF, ub=INF, cost=[-1.0, -1.0], name="x")
    m.add_constrs("a", row=np.array([0, 0]), col=x.idx, val=[1.0, -1.0], lb=[1.0], ub=[INF])
    m.add_constrs("b", row=np.array([0, 0]), col=x.idx, val=[1.0, -1.0], lb=[-INF], ub=[0.0])
    with pytest.raises(InfeasibleError) as info:
        m.solve()
    assert not isinstance(info.value, UnboundedError)
    assert set(info.value.groups) == {"a", "b"}


def test_feasible_model_has_no_violations() -> None:
    m = _site(np.full(4, 3.0), np.full(4, 5.0))
    assert diagnose_infeasibility(m) == []
