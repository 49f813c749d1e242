"""Thin sparse-matrix model layer over HiGHS: build in vectorized groups, solve, re-solve warm, diagnose."""

from gridflex.optimize.diagnose import GroupViolation, diagnose_infeasibility
from gridflex.optimize.model import ConstrBlock, Model, Solution, VarBlock

__all__ = ["ConstrBlock", "GroupViolation", "Model", "Solution", "VarBlock", "diagnose_infeasibility"]
