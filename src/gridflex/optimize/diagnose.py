"""Infeasibility diagnosis by an elastic (phase-1) model.

Every finite side of every row and every finite variable bound gets a nonnegative slack; the
original costs are dropped and the total slack is minimised over the LP relaxation. Groups whose
slack is positive cannot be met; groups with a nonzero dual in that phase-1 optimum are the other
side of the same conflict (their combination is the proof of infeasibility), so both are named.
If the relaxation needs no slack but the model has integers, the integer restrictions are to blame.

Example::

    from gridflex.optimize import diagnose_infeasibility

    for v in diagnose_infeasibility(model):
        print(v.describe())   # constraint group 'demand' cannot be met (3 of 96 rows, ...)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.sparse as sp

from gridflex.errors import InfeasibleError, SolverError, UnboundedError
from gridflex.optimize.highs import MS, Arrays, new_highs, pass_arrays

if TYPE_CHECKING:
    from gridflex.optimize.model import Model

_SLACK_TOL = 1e-6  # above HiGHS' primal feasibility tolerance (1e-7): smaller slack is noise
_DUAL_TOL = 1e-7
_INT_TOL = 1e-6


@dataclass(frozen=True)
class GroupViolation:
    """One group that takes part in the infeasibility.

    ``amount`` is the total slack the group needed (0 when the group is only the other side of a
    conflict whose slack was booked elsewhere); for ``integrality`` it is the total distance of the
    relaxed values to the nearest integer.
    """

    group: str
    kind: Literal["rows", "bounds", "integrality"]
    n_violated: int
    n_total: int
    first_index: int
    amount: float

    def describe(self) -> str:
        if self.kind == "integrality":
            return (
                f"the integer restrictions of '{self.group}' cannot be met (the LP relaxation is feasible; "
                f"{self.n_violated} of {self.n_total} integer variables fractional there, "
                f"first local index {self.first_index})"
            )
        if self.kind == "rows":
            what, unit, pos = f"constraint group '{self.group}'", "rows", "first local row"
        else:
            what, unit, pos = f"bounds of '{self.group}'", "variables", "first local index"
        where = f"{self.n_violated} of {self.n_total} {unit}, {pos} {self.first_index}"
        if self.amount > 0:
            return f"{what} cannot be met ({where}, short by {self.amount:.6g})"
        return f"{what} is the other side of that conflict ({where})"


def _unit_cols(rows: np.ndarray, n_rows: int, sign: float) -> sp.csc_matrix:
    k = rows.size
    return sp.csc_matrix((np.full(k, sign), (rows, np.arange(k))), shape=(n_rows, k))


def diagnose_infeasibility(model: Model, time_limit_s: float | None = None) -> list[GroupViolation]:
    """Name the groups that cannot be met together; an empty list means the model is feasible."""
    arr = model.arrays()
    n, m = model.n_vars, model.n_rows
    # Variable bounds become identity rows so that rows and bounds are relaxed the same way.
    bounded = np.flatnonzero(np.isfinite(arr.lb) | np.isfinite(arr.ub))
    eye = sp.csc_matrix((np.ones(bounded.size), (np.arange(bounded.size), bounded)), shape=(bounded.size, n))
    stacked = sp.vstack([arr.a, eye], format="csc")
    lo, hi = np.concatenate([arr.row_lb, arr.lb[bounded]]), np.concatenate([arr.row_ub, arr.ub[bounded]])
    n_all = m + bounded.size
    lo_rows, hi_rows = np.flatnonzero(np.isfinite(lo)), np.flatnonzero(np.isfinite(hi))
    elastic = sp.hstack(
        [stacked, _unit_cols(lo_rows, n_all, 1.0), _unit_cols(hi_rows, n_all, -1.0)], format="csc"
    )
    n_slack = lo_rows.size + hi_rows.size
    cost = np.concatenate([np.zeros(n), np.ones(n_slack)])
    col_lb = np.concatenate([np.full(n, -np.inf), np.zeros(n_slack)])
    col_ub = np.full(n + n_slack, np.inf)
    h = new_highs(model.verbose)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    pass_arrays(h, Arrays(elastic, cost, col_lb, col_ub, lo, hi, np.zeros(n + n_slack, dtype=bool)))
    h.run()
    if h.getModelStatus() != MS.kOptimal:
        name = h.modelStatusToString(h.getModelStatus())
        raise SolverError(
            f"model '{model.name}': the elastic diagnosis model stopped with status '{name}'", name
        )
    sol = h.getSolution()
    values = np.asarray(sol.col_value)
    slack = np.zeros(n_all)
    np.add.at(slack, lo_rows, values[n : n + lo_rows.size])
    np.add.at(slack, hi_rows, values[n + lo_rows.size :])
    slack[slack < _SLACK_TOL] = 0.0
    if slack.any():
        dual = np.asarray(sol.row_dual)
        return _group_rows(model, bounded, slack, np.abs(dual) > _DUAL_TOL)
    if arr.integer.any():
        return _integrality(model, arr, values[:n], time_limit_s)
    return []


def _group_rows(
    model: Model, bounded: np.ndarray, slack: np.ndarray, in_conflict: np.ndarray
) -> list[GroupViolation]:
    # Each stacked row -> (group, local index): constraint rows first, then one row per bounded column.
    groups = [(b.name, "rows", b.start, b.n) for b in model.constr_blocks]
    groups += [(b.name, "bounds", b.start, b.n) for b in model.var_blocks]
    row_starts = np.array([b.start for b in model.constr_blocks], dtype=np.int64)
    col_starts = np.array([b.start for b in model.var_blocks], dtype=np.int64)
    m = model.n_rows
    cols = bounded
    gid = np.concatenate([
        np.searchsorted(row_starts, np.arange(m), side="right") - 1,
        len(row_starts) + np.searchsorted(col_starts, cols, side="right") - 1,
    ])  # fmt: skip
    pos = np.concatenate([np.arange(m), cols])
    involved = np.flatnonzero((slack > 0) | in_conflict)
    counts = np.bincount(gid[involved], minlength=len(groups))
    amounts = np.bincount(gid, weights=slack, minlength=len(groups))
    ids, first = np.unique(gid[involved], return_index=True)
    out = [
        GroupViolation(name, kind, int(counts[g]), n_total, int(pos[involved[f]] - start), float(amounts[g]))
        for g, f in zip(ids, first, strict=True)
        for name, kind, start, n_total in [groups[g]]
    ]
    return sorted(out, key=lambda v: -v.amount)


def _integrality(
    model: Model, arr: Arrays, x_relaxed: np.ndarray, time_limit_s: float | None
) -> list[GroupViolation]:
    # The relaxation is feasible; check whether the MILP itself is (with zero costs, so quickly).
    h = new_highs(model.verbose)
    if time_limit_s is not None:
        h.setOptionValue("time_limit", float(time_limit_s))
    pass_arrays(h, dataclasses.replace(arr, cost=np.zeros(model.n_vars)))
    h.run()
    if h.getModelStatus() == MS.kOptimal:
        return []
    frac = arr.integer & (np.abs(x_relaxed - np.round(x_relaxed)) > _INT_TOL)
    if not frac.any():
        frac = arr.integer  # a relaxed point that happens to be integral: blame all integer groups
    out = []
    for b in model.var_blocks:
        ints, f = arr.integer[b.start : b.start + b.n], frac[b.start : b.start + b.n]
        if f.any():
            dist = np.abs(x_relaxed[b.start : b.start + b.n] - np.round(x_relaxed[b.start : b.start + b.n]))
            out.append(GroupViolation(b.name, "integrality", int(f.sum()), int(ints.sum()),
                                      int(np.flatnonzero(f)[0]), float(dist[f].sum())))  # fmt: skip
    return out


def explain_failure(model: Model, infeasible: bool, unbounded: bool) -> SolverError:
    """The error for a failed solve; an infeasible-or-unbounded status is settled by the diagnosis."""
    unbounded_error = UnboundedError(
        f"model '{model.name}' is unbounded: the objective can decrease without limit; "
        "a cost or a bound is missing"
    )
    if unbounded:
        return unbounded_error
    try:
        violations = diagnose_infeasibility(model)
    except SolverError as e:
        failed = InfeasibleError(f"model '{model.name}' is infeasible; {e}", groups=[])
        failed.__cause__ = e
        return failed
    if not violations:
        if not infeasible:
            return unbounded_error
        return InfeasibleError(
            f"model '{model.name}' is infeasible, but the elastic model finds no violation beyond "
            "tolerance: the model is numerically marginal (check the scaling of its data)",
            groups=[],
        )
    text = "; ".join(v.describe() for v in violations)
    err = InfeasibleError(f"model '{model.name}' is infeasible: {text}", groups=[v.group for v in violations])
    err.violations = violations  # type: ignore[attr-defined]  # structured, for callers that want them
    return err
